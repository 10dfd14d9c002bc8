/* Decoding and validation: every kind of bad input gives an error naming
 * the field at fault, never a crash. */
#include <criterion/criterion.h>
#include <string.h>

#include "vg_event.h"
#include "vg_test_events.h"

static size_t pack(Vigil__V1__InteractionEvent *ev, uint8_t *buf) {
    return vigil__v1__interaction_event__pack(ev, buf);
}

typedef struct bad_s {
    const char *name;
    void (*mutate)(Vigil__V1__InteractionEvent *ev);
    const char *want; /* substring of the error */
} bad_t;

static void no_event_id(Vigil__V1__InteractionEvent *ev) { ev->event_id = ""; }
static void no_customer(Vigil__V1__InteractionEvent *ev) { ev->customer_id = ""; }
static void no_tenant(Vigil__V1__InteractionEvent *ev) { ev->tenant = ""; }
static void no_type(Vigil__V1__InteractionEvent *ev) { ev->event_type = ""; }
static void zero_time(Vigil__V1__InteractionEvent *ev) { ev->event_time_ms = 0; }
static void neg_time(Vigil__V1__InteractionEvent *ev) { ev->event_time_ms = -5; }
static void seconds_time(Vigil__V1__InteractionEvent *ev) { ev->event_time_ms = 1767225600; }
static void bad_channel(Vigil__V1__InteractionEvent *ev) { ev->channel = 99; }
static void bad_outcome(Vigil__V1__InteractionEvent *ev) { ev->outcome = 42; }
static void ctrl_id(Vigil__V1__InteractionEvent *ev) { ev->customer_id = "c\n1"; }
static void churn_high(Vigil__V1__InteractionEvent *ev) { ev->descriptive->churn_risk = 1.5; }
static void weight_neg(Vigil__V1__InteractionEvent *ev) { ev->descriptive->revenue_weight = -1; }
static char long_id[300];
static void too_long(Vigil__V1__InteractionEvent *ev) {
    memset(long_id, 'x', sizeof(long_id) - 1);
    ev->event_id = long_id;
}

static const bad_t bads[] = {
    {"missing event_id", no_event_id, "\"event_id\": required"},
    {"missing customer_id", no_customer, "\"customer_id\": required"},
    {"missing tenant", no_tenant, "\"tenant\": required"},
    {"missing event_type", no_type, "\"event_type\": required"},
    {"zero event time", zero_time, "\"event_time_ms\""},
    {"negative event time", neg_time, "\"event_time_ms\""},
    {"event time in seconds", seconds_time, "\"event_time_ms\""},
    {"unknown channel", bad_channel, "\"channel\""},
    {"unknown outcome", bad_outcome, "\"outcome\""},
    {"control character in id", ctrl_id, "control character"},
    {"churn risk above 1", churn_high, "churn_risk"},
    {"negative revenue weight", weight_neg, "revenue_weight"},
    {"id too long", too_long, "longer than"},
};

Test(event, good_decodes) {
    vg_tev_t t;
    uint8_t buf[1024];
    size_t len = pack(vg_tev(&t, 1, 0, "payment", FAIL, FRUST, "service", GOLD, 0.3), buf);
    vg_event_t *ev = NULL;
    char err[256] = "";

    cr_assert_eq(vg_event_decode(buf, len, "c1", 2, NULL, &ev, err, sizeof(err)), VG_OK, "%s", err);
    cr_expect_str_eq(ev->event_id, "ev-1");
    cr_expect(vg_event_has_signal(ev, VIGIL__V1__SIGNAL__SIGNAL_FRUSTRATION));
    cr_expect(!vg_event_has_signal(ev, VIGIL__V1__SIGNAL__SIGNAL_ANGER));
    cr_expect(vg_event_has_consent(ev, "service"));
    cr_expect(!vg_event_has_consent(ev, "marketing"));
    vg_event_free(ev, NULL);
}

Test(event, bad_fields_table) {
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        vg_tev_t t;
        uint8_t buf[2048];
        Vigil__V1__InteractionEvent *e = vg_tev(&t, 1, 0, "payment", FAIL, NOSIG, NULL, GOLD, 0.3);
        vg_event_t *ev = (vg_event_t *)0x1;
        char err[256] = "";
        size_t len;

        bads[i].mutate(e);
        len = pack(e, buf);
        cr_expect_neq(vg_event_decode(buf, len, NULL, 0, NULL, &ev, err, sizeof(err)), VG_OK, "%s",
                      bads[i].name);
        cr_expect_null(ev, "%s", bads[i].name);
        cr_expect(strstr(err, bads[i].want) != NULL, "%s: error \"%s\" lacks \"%s\"", bads[i].name,
                  err, bads[i].want);
    }
}

Test(event, garbage_and_truncation) {
    vg_tev_t t;
    uint8_t buf[1024];
    size_t len = pack(vg_tev(&t, 1, 0, "payment", FAIL, NOSIG, NULL, GOLD, 0.3), buf);
    vg_event_t *ev;
    char err[256];
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12};

    cr_expect_eq(vg_event_decode(garbage, sizeof(garbage), NULL, 0, NULL, &ev, err, sizeof(err)),
                 VG_ERR_DECODE);
    cr_expect_eq(vg_event_decode(buf, 0, NULL, 0, NULL, &ev, err, sizeof(err)), VG_ERR_DECODE);
    /* Every truncation either fails to decode or fails validation. */
    for (size_t cut = 1; cut < len; cut++) {
        vg_err_t e = vg_event_decode(buf, cut, NULL, 0, NULL, &ev, err, sizeof(err));
        if (e == VG_OK)
            vg_event_free(ev, NULL);
        cr_expect(e == VG_OK || e == VG_ERR_DECODE || e == VG_ERR_INVALID);
    }
}

Test(event, key_must_match_customer) {
    vg_tev_t t;
    uint8_t buf[1024];
    size_t len = pack(vg_tev(&t, 1, 0, "payment", FAIL, NOSIG, NULL, GOLD, 0.3), buf);
    vg_event_t *ev;
    char err[256] = "";

    cr_expect_eq(vg_event_decode(buf, len, "c2", 2, NULL, &ev, err, sizeof(err)), VG_ERR_INVALID);
    cr_expect(strstr(err, "key") != NULL, "%s", err);
}
