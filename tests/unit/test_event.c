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

    cr_assert_eq(vg_event_decode(buf, len, "c1", 2, 0, NULL, &ev, err, sizeof(err)), VG_OK, "%s", err);
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
        cr_expect_neq(vg_event_decode(buf, len, NULL, 0, 0, NULL, &ev, err, sizeof(err)), VG_OK, "%s",
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

    cr_expect_eq(vg_event_decode(garbage, sizeof(garbage), NULL, 0, 0, NULL, &ev, err, sizeof(err)),
                 VG_ERR_DECODE);
    cr_expect_eq(vg_event_decode(buf, 0, NULL, 0, 0, NULL, &ev, err, sizeof(err)), VG_ERR_DECODE);
    /* Every truncation either fails to decode or fails validation. */
    for (size_t cut = 1; cut < len; cut++) {
        vg_err_t e = vg_event_decode(buf, cut, NULL, 0, 0, NULL, &ev, err, sizeof(err));
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

    cr_expect_eq(vg_event_decode(buf, len, "c2", 2, 0, NULL, &ev, err, sizeof(err)), VG_ERR_INVALID);
    cr_expect(strstr(err, "key") != NULL, "%s", err);
}

/* --- hostile input (issue 8): bytes the project's generator never writes -- */

/* Append the tag and length of a length-delimited field to an encoding. */
static size_t append_tag(uint8_t *buf, size_t len, unsigned field, size_t n) {
    buf[len++] = (uint8_t)(field << 3 | 2);
    while (n >= 0x80) {
        buf[len++] = (uint8_t)(n | 0x80);
        n >>= 7;
    }
    buf[len++] = (uint8_t)n;
    return len;
}

static size_t append_str(uint8_t *buf, size_t len, unsigned field, const void *data, size_t n) {
    len = append_tag(buf, len, field, n);
    memcpy(buf + len, data, n);
    return len + n;
}

static vg_err_t decode_raw(const uint8_t *buf, size_t len, int64_t not_after, char *err,
                           size_t errsz, vg_event_t **evp) {
    *evp = NULL;
    return vg_event_decode(buf, len, NULL, 0, not_after, NULL, evp, err, errsz);
}

typedef struct raw_bad_s {
    unsigned field;
    const char *bytes;
    size_t n;
    const char *want;
} raw_bad_t;

Test(event, invalid_text_in_every_string_field) {
    static const raw_bad_t cases[] = {
        {1, "ev\xc3", 3, "\"event_id\": invalid UTF-8 at byte 2"},
        {2, "nul\0 1", 6, "\"customer_id\": NUL byte at byte 3"},
        {3, "t\xed\xa0\x80", 4, "\"tenant\": invalid UTF-8"},        /* a surrogate */
        {6, "\xc0\xaf", 2, "\"event_type\": invalid UTF-8"},          /* overlong '/' */
        {8, "x\xc2\x85y", 4, "\"error_code\": control character"},   /* C1 NEL */
        {10, "serv\xffice", 9, "\"consents[1]\": invalid UTF-8"},
        {1, "a\x7f", 2, "\"event_id\": control character"},
        {1, "\xf4\x90\x80\x80", 4, "\"event_id\": invalid UTF-8"},     /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vg_tev_t t;
        uint8_t buf[1024];
        char err[256] = "";
        vg_event_t *ev;
        size_t len = pack(vg_tev(&t, 1, 0, "payment", FAIL, NOSIG, "service", GOLD, 0.3), buf);

        len = append_str(buf, len, cases[i].field, cases[i].bytes, cases[i].n);
        cr_expect_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_ERR_INVALID, "case %zu",
                     i);
        cr_expect_null(ev);
        cr_expect(strstr(err, cases[i].want) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err,
                  cases[i].want);
    }
}

Test(event, attribute_and_segment_text) {
    vg_tev_t t;
    uint8_t buf[1024], sub[64];
    char err[256] = "";
    vg_event_t *ev;
    size_t len = pack(vg_tev(&t, 1, 0, "payment", FAIL, NOSIG, NULL, GOLD, 0.3), buf);
    size_t sl = append_str(sub, 0, 1, "k", 1);

    sl = append_str(sub, sl, 2, "v\x01", 2);
    len = append_str(buf, len, 12, sub, sl);
    cr_expect_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_ERR_INVALID);
    cr_expect(strstr(err, "\"attributes[0].value\": control character") != NULL, "%s", err);
}

Test(event, ids_at_the_limit_and_above) {
    vg_tev_t t;
    uint8_t buf[2048];
    char id[VG_EVENT_ID_MAX + 8], err[256] = "";
    vg_event_t *ev;
    size_t len;

    /* 64 two-byte characters: exactly 128 bytes, accepted whole. */
    for (int i = 0; i < 64; i++)
        memcpy(id + 2 * i, "\xc3\xa9", 2);
    id[128] = '\0';
    vg_tev(&t, 1, 0, "payment", FAIL, NOSIG, NULL, GOLD, 0.3);
    t.ev.event_id = id;
    len = pack(&t.ev, buf);
    cr_assert_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_OK, "%s", err);
    cr_expect_eq(strlen(ev->event_id), 128);
    vg_event_free(ev, NULL);
    /* One more byte is refused, with the field named. */
    strcpy(id + 128, "x");
    len = pack(&t.ev, buf);
    cr_expect_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_ERR_INVALID);
    cr_expect(strstr(err, "\"event_id\": 129 bytes, longer than 128") != NULL, "%s", err);
}

Test(event, consents_limits) {
    vg_tev_t t;
    uint8_t buf[4096];
    char *cons[VG_EVENT_MAX_CONSENTS + 1], long_p[VG_EVENT_PURPOSE_MAX + 2], err[256] = "";
    vg_event_t *ev;
    size_t len;

    memset(long_p, 'p', VG_EVENT_PURPOSE_MAX);
    long_p[VG_EVENT_PURPOSE_MAX] = '\0';
    for (int i = 0; i <= VG_EVENT_MAX_CONSENTS; i++)
        cons[i] = i == VG_EVENT_MAX_CONSENTS - 1 ? "service" : long_p;
    vg_tev(&t, 1, 0, "payment", FAIL, NOSIG, NULL, GOLD, 0.3);
    t.ev.consents = cons;
    t.ev.n_consents = VG_EVENT_MAX_CONSENTS; /* 16, "service" last, others 48 bytes */
    len = pack(&t.ev, buf);
    cr_assert_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_OK, "%s", err);
    cr_expect(vg_event_has_consent(ev, "service"));
    vg_event_free(ev, NULL);

    t.ev.n_consents = VG_EVENT_MAX_CONSENTS + 1;
    len = pack(&t.ev, buf);
    cr_expect_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_ERR_INVALID);
    cr_expect(strstr(err, "\"consents\": more than 16") != NULL, "%s", err);

    strcat(long_p, "q"); /* 49 bytes */
    t.ev.n_consents = 1;
    len = pack(&t.ev, buf);
    cr_expect_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_ERR_INVALID);
    cr_expect(strstr(err, "\"consents[0]\": 49 bytes") != NULL, "%s", err);
}

Test(event, future_limit_is_relative_to_the_record) {
    vg_tev_t t;
    uint8_t buf[1024];
    char err[256] = "";
    vg_event_t *ev;
    size_t len = pack(vg_tev(&t, 1, 2 * 24 * 60, "payment", FAIL, NOSIG, NULL, GOLD, 0.3), buf);
    int64_t record_ms = VG_T0, day = 86400000;

    /* Two days ahead of its record: refused, and the field is named. */
    cr_expect_eq(decode_raw(buf, len, record_ms + day, err, sizeof(err), &ev), VG_ERR_INVALID);
    cr_expect(strstr(err, "\"event_time_ms\"") != NULL, "%s", err);
    /* Within a day of its record: accepted. */
    cr_expect_eq(decode_raw(buf, len, record_ms + 3 * day, err, sizeof(err), &ev), VG_OK, "%s",
                 err);
    vg_event_free(ev, NULL);
}

Test(event, unknown_enums_become_unspecified) {
    vg_tev_t t;
    uint8_t buf[1024];
    char err[256] = "";
    vg_event_t *ev;
    size_t len;

    vg_tev(&t, 1, 0, "payment", FAIL, FRUST, NULL, GOLD, 0.3);
    t.ev.channel = 99;
    t.ev.outcome = 42;
    t.desc.value_tier = 9;
    t.signals[0] = 77;
    len = pack(&t.ev, buf);
    cr_assert_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_OK, "%s", err);
    cr_expect_eq(ev->channel, VIGIL__V1__CHANNEL__CHANNEL_UNSPECIFIED);
    cr_expect_eq(ev->outcome, VIGIL__V1__OUTCOME__OUTCOME_UNSPECIFIED);
    cr_expect_eq(ev->descriptive->value_tier, VIGIL__V1__VALUE_TIER__VALUE_TIER_UNSPECIFIED);
    cr_expect_eq(ev->signals[0], VIGIL__V1__SIGNAL__SIGNAL_UNSPECIFIED);
    vg_event_free(ev, NULL);
}

Test(event, oversized_record) {
    static uint8_t buf[VG_EVENT_MAX_BYTES + 1024];
    static char big[VG_EVENT_MAX_BYTES];
    vg_tev_t t;
    char err[256] = "";
    vg_event_t *ev;
    size_t len = pack(vg_tev(&t, 1, 0, "payment", FAIL, NOSIG, NULL, GOLD, 0.3), buf);

    memset(big, 'a', sizeof(big));
    len = append_str(buf, len, 1, big, sizeof(big));
    cr_expect_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_ERR_INVALID);
    cr_expect(strstr(err, "larger than 65536") != NULL, "%s", err);
}

Test(event, attribute_key_required) {
    vg_tev_t t;
    uint8_t buf[1024], sub[64];
    char err[256] = "";
    vg_event_t *ev;
    size_t len = pack(vg_tev(&t, 1, 0, "payment", FAIL, NOSIG, NULL, GOLD, 0.3), buf);
    size_t sl = append_str(sub, 0, 2, "v", 1); /* a value, no key */

    len = append_str(buf, len, 12, sub, sl);
    cr_expect_eq(decode_raw(buf, len, 0, err, sizeof(err), &ev), VG_ERR_INVALID);
    cr_expect(strstr(err, "\"attributes[0].key\": required but empty") != NULL, "%s", err);
}

/* --- the decoder by hand against protobuf-c (vg_event_wire.c) ------------ */

#include "vg_gen.h"

static unsigned same_accepted, same_refused;

/* protobuf-c keeps unknown fields and writes them back; the decoder by
 * hand skips them. Packed without them, or with them again (keep). */
static void unknown_fields(vg_event_t *ev, size_t *keep, bool hide) {
    size_t k = 0;

    if (hide)
        keep[k] = ev->base.n_unknown_fields, ev->base.n_unknown_fields = 0;
    else
        ev->base.n_unknown_fields = keep[k];
    k++;
    if (ev->descriptive) {
        if (hide)
            keep[k] = ev->descriptive->base.n_unknown_fields, ev->descriptive->base.n_unknown_fields = 0;
        else
            ev->descriptive->base.n_unknown_fields = keep[k];
    }
    k++;
    for (size_t i = 0; i < ev->n_attributes; i++, k++) {
        if (hide)
            keep[k] = ev->attributes[i]->base.n_unknown_fields, ev->attributes[i]->base.n_unknown_fields = 0;
        else
            ev->attributes[i]->base.n_unknown_fields = keep[k];
    }
}

/* Both decoders on the same bytes: the same verdict, the same error text,
 * and for an accepted record the same event (protobuf-c's encoding of
 * each, unknown fields left out). */
static void same_decode(const uint8_t *buf, size_t len, const char *key, int64_t not_after) {
    char e1[512] = "", e2[512] = "";
    vg_event_t *a = NULL, *b = NULL;
    size_t kl = key ? strlen(key) : 0;
    vg_err_t ra = vg_event_decode(buf, len, key, kl, not_after, NULL, &a, e1, sizeof(e1));
    vg_err_t rb = vg_event_decode_pb(buf, len, key, kl, not_after, NULL, &b, e2, sizeof(e2));

    cr_assert_eq(ra, rb, "verdicts differ on %zu bytes: by hand %d (%s), protobuf-c %d (%s)", len,
                 ra, e1, rb, e2);
    if (ra) {
        cr_assert_str_eq(e1, e2, "errors differ on %zu bytes", len);
        same_refused++;
        return;
    }
    static uint8_t pa[VG_EVENT_MAX_BYTES * 2], pb[VG_EVENT_MAX_BYTES * 2];
    size_t keep[2 + VG_EVENT_MAX_ATTRIBUTES];
    cr_assert_eq(a->base.n_unknown_fields, 0);
    unknown_fields(b, keep, true);
    size_t na = vigil__v1__interaction_event__get_packed_size(a);
    size_t nb = vigil__v1__interaction_event__get_packed_size(b);
    cr_assert_eq(na, nb, "decoded events differ in size on %zu bytes", len);
    vigil__v1__interaction_event__pack(a, pa);
    vigil__v1__interaction_event__pack(b, pb);
    unknown_fields(b, keep, false);
    cr_assert(memcmp(pa, pb, na) == 0, "decoded events differ on %zu bytes", len);
    same_accepted++;
    vg_event_free(a, NULL);
    vg_event_free_pb(b, NULL);
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The generator's stream (malformed records included), each record as it
 * is and mutated: bytes flipped, cut, a field of every wire type appended,
 * the record twice (protobuf's concatenation: the last scalar wins,
 * repeated fields add up, a message is merged). */
Test(event, decoder_by_hand_matches_protobuf_c) {
    vg_gen_conf_t conf;
    vg_gen_record_t rec;
    char err[256];
    static uint8_t buf[2 * VG_EVENT_MAX_BYTES];
    uint64_t rng = 0x9e3779b97f4a7c15ULL;

    vg_gen_conf_init(&conf);
    conf.events = 20000;
    conf.malformed_rate = 0.02;
    vg_gen_t *g = vg_gen_new(&conf, err, sizeof(err));
    cr_assert_not_null(g, "%s", err);
    same_accepted = same_refused = 0;
    while (vg_gen_next(g, &rec)) {
        size_t len = rec.len < VG_EVENT_MAX_BYTES ? rec.len : VG_EVENT_MAX_BYTES;
        int64_t not_after = (rng_next(&rng) & 7) == 0 ? 1700000000000LL : 0;

        same_decode(rec.payload, rec.len, rec.key, not_after);
        same_decode(rec.payload, rec.len, NULL, 0);
        if (!len)
            continue;
        /* flipped */
        memcpy(buf, rec.payload, len);
        for (int k = 1 + (int)(rng_next(&rng) % 3); k > 0; k--)
            buf[rng_next(&rng) % len] ^= (uint8_t)(1u << (rng_next(&rng) % 8));
        same_decode(buf, len, NULL, 0);
        /* cut */
        same_decode(rec.payload, rng_next(&rng) % len, NULL, 0);
        /* twice */
        memcpy(buf, rec.payload, len);
        memcpy(buf + len, rec.payload, len);
        same_decode(buf, 2 * len, rec.key, 0);
        /* a field of any number 1..13 and wire type 0..7 appended */
        memcpy(buf, rec.payload, len);
        {
            size_t n = len;
            unsigned field = 1 + (unsigned)(rng_next(&rng) % 13), wire = (unsigned)(rng_next(&rng) % 8);
            buf[n++] = (uint8_t)(field << 3 | wire);
            for (int k = (int)(rng_next(&rng) % 12); k > 0; k--)
                buf[n++] = (uint8_t)rng_next(&rng);
            same_decode(buf, n, NULL, 0);
        }
    }
    vg_gen_destroy(g);
    cr_expect_gt(same_accepted, 20000u, "accepted %u", same_accepted);
    cr_expect_gt(same_refused, 20000u, "refused %u", same_refused);
}

/* What the generator never writes, one case each. */
Test(event, decoder_by_hand_matches_protobuf_c_on_the_edges) {
    vg_tev_t t;
    uint8_t base[1024], buf[4096], sub[256];
    size_t bl = pack(vg_tev(&t, 1, 0, "payment", FAIL, FRUST, "service", GOLD, 0.3), base), n, sl;
    static const uint8_t tails[][16] = {
        {2, 0x4a, 0x01},                               /* signals packed: 1 */
        {3, 0x4a, 0x01, 0x80},                         /* packed, unfinished */
        {12, 0x4a, 0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
        {2, 0x49, 0x01},                               /* signals, wire 1: short */
        {9, 0x49, 1, 2, 3, 4, 5, 6, 7, 8},             /* signals, wire 1 */
        {5, 0x4d, 1, 2, 3, 4},                         /* signals, wire 5 */
        {2, 0x20, 0x05},                               /* event time 5 */
        {3, 0x22, 0x01, 0x05},                         /* event time, wire 2 */
        {2, 0x0a, 0x00},                               /* event_id empty, last */
        {2, 0x08, 0x01},                               /* event_id, wire 0 */
        {2, 0x28, 0x7f},                               /* channel 127 */
        {11, 0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, /* channel -1 */
        {2, 0x2a, 0x00},                               /* channel, wire 2 */
        {2, 0x5a, 0x00},                               /* descriptive, empty */
        {2, 0x58, 0x00},                               /* descriptive, wire 0 */
        {2, 0x62, 0x00},                               /* attribute, empty */
        {2, 0x52, 0x00},                               /* consent, empty */
        {2, 0x50, 0x00},                               /* consent, wire 0 */
        {2, 0x03, 0x00},                               /* field 0 wire 3 */
        {3, 0x80, 0x00, 0x00},                         /* tag 0 in two bytes */
        {6, 0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00},       /* tag in 5 bytes */
        {7, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, /* tag in 6 bytes */
        {2, 0x6b, 0x00},                               /* field 13, group start */
        {2, 0x6c, 0x00},                               /* field 13, group end */
        {2, 0x6e, 0x00},                               /* wire 6 */
        {3, 0x6a, 0x05, 0x00},                         /* length past the end */
        {7, 0x6a, 0xff, 0xff, 0xff, 0xff, 0x0f},       /* length of 4 GiB */
        {6, 0x6a, 0x80, 0x80, 0x80, 0x80, 0x80},       /* length unfinished */
    };

    same_accepted = same_refused = 0;
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        memcpy(buf, base, bl);
        memcpy(buf + bl, tails[i] + 1, tails[i][0]);
        same_decode(buf, bl + tails[i][0], "c1", 0);
        same_decode(tails[i] + 1, tails[i][0], NULL, 0);
    }
    /* A Descriptive twice: the second's scalars, the first's segment
     * unless the second has one. */
    memcpy(buf, base, bl);
    sl = append_str(sub, 0, 3, "gold-seg", 8);
    n = append_str(buf, bl, 11, sub, sl);
    sub[0] = 0x08, sub[1] = 0x02; /* value tier 2, no segment */
    n = append_str(buf, n, 11, sub, 2);
    same_decode(buf, n, "c1", 0);
    sl = append_str(sub, 0, 3, "", 0);
    n = append_str(buf, n, 11, sub, sl); /* an empty segment is a segment */
    same_decode(buf, n, "c1", 0);
    /* An attribute's key, then an empty one: the last is decoded. */
    sl = append_str(sub, 0, 1, "k", 1);
    sl = append_str(sub, sl, 1, "", 0);
    n = append_str(buf, bl, 12, sub, sl);
    same_decode(buf, n, "c1", 0);
    /* The counts, one above each limit. */
    n = bl;
    for (int i = 0; i < 17; i++)
        n = append_str(buf, n, 10, "p", 1);
    same_decode(buf, n, "c1", 0);
    n = bl;
    sl = append_str(sub, 0, 1, "k", 1);
    for (int i = 0; i < 33; i++)
        n = append_str(buf, n, 12, sub, sl);
    same_decode(buf, n, "c1", 0);
    n = append_tag(buf, bl, 9, 17);
    memset(buf + n, 1, 17);
    same_decode(buf, n + 17, "c1", 0);
    cr_expect_gt(same_accepted, 5u);
    cr_expect_gt(same_refused, 20u);
}

/* The text rules, byte by byte as written in docs/triggers.md: the
 * reference the eight-bytes-at-a-time path of vg_event_text_ok must
 * match (both decoders share it, so their comparison cannot see it). */
static int text_reference(const uint8_t *s, size_t n, size_t *bad) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len;
        *bad = i;
        if (s[i] < 0x80)
            cp = s[i], len = 1;
        else if (s[i] >= 0xc2 && s[i] <= 0xdf)
            cp = s[i] & 0x1f, len = 2;
        else if (s[i] >= 0xe0 && s[i] <= 0xef)
            cp = s[i] & 0x0f, len = 3;
        else if (s[i] >= 0xf0 && s[i] <= 0xf4)
            cp = s[i] & 0x07, len = 4;
        else
            return 0;
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return 0;
        i += len;
    }
    return 1;
}

Test(event, text_rules_match_the_byte_by_byte_reference) {
    static const uint8_t alphabet[] = {'a', 'Z', '0', ' ', '~', 0x7f, 0x1f, 0x00, 0x0a, 0xc2,
                                       0x80, 0x9f, 0xa0, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xed,
                                       0xa0, 0xf0, 0x9f, 0x98, 0x80, 0xf4, 0x90, 0xff, 0xc0};
    uint8_t s[48];
    uint64_t rng = 42;
    unsigned ok = 0;

    for (int t = 0; t < 200000; t++) {
        size_t n = rng_next(&rng) % sizeof(s), b1 = 0, b2 = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng_next(&rng);
            /* Mostly printable ASCII, so the fast path runs and stops
             * at the odd byte anywhere in a word. */
            s[i] = (r & 7) ? (uint8_t)(0x20 + (r >> 8) % 95) : alphabet[(r >> 8) % sizeof(alphabet)];
        }
        int want = text_reference(s, n, &b1), got = vg_event_text_ok(s, n, &b2);
        cr_assert_eq(got, want, "case %d (%zu bytes)", t, n);
        if (!want)
            cr_assert_eq(b2, b1, "case %d: bad byte at %zu, not %zu", t, b2, b1);
        ok += (unsigned)want;
    }
    cr_expect_gt(ok, 10000u);
}
