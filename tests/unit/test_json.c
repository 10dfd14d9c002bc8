/*
 * test_json.c - vg_json: JSON <-> protobuf for vigilctl.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vg_gen.h"
#include "vg_json.h"

/* The canonical rendering of a fully populated event: parsing it and
 * printing it again must give exactly these bytes. */
static const char golden_event[] =
    "{\"event_id\":\"ev-1\",\"customer_id\":\"cust-000042\",\"tenant\":"
    "\"acme\",\"event_time_ms\":1700000000123,\"channel\":\"payment\","
    "\"event_type\":\"payment\",\"outcome\":\"failure\",\"error_code\":"
    "\"card_declined\",\"signals\":[\"frustration\",\"urgency\"],"
    "\"consents\":[\"service\",\"marketing\"],\"descriptive\":{"
    "\"value_tier\":\"gold\",\"tenure_months\":24,\"segment\":\"smb\","
    "\"revenue_weight\":2.5,\"churn_risk\":0.12},\"attributes\":{"
    "\"amount_cents\":\"4599\",\"method\":\"card\"}}";

/* Serialise ev so two events compare as protobuf bytes. Caller frees. */
static uint8_t *pack_event(const Vigil__V1__InteractionEvent *ev,
                           size_t *len) {
    uint8_t *buf;

    *len = vigil__v1__interaction_event__get_packed_size(ev);
    buf = malloc(*len ? *len : 1);
    cr_assert_not_null(buf);
    cr_assert_eq(vigil__v1__interaction_event__pack(ev, buf), *len);
    return buf;
}

static void assert_same_event(const Vigil__V1__InteractionEvent *a,
                              const Vigil__V1__InteractionEvent *b,
                              const char *what) {
    size_t la, lb;
    uint8_t *pa = pack_event(a, &la), *pb = pack_event(b, &lb);

    cr_assert_eq(la, lb, "%s: %zu vs %zu bytes", what, la, lb);
    cr_assert_eq(memcmp(pa, pb, la), 0, "%s: bytes differ", what);
    free(pa);
    free(pb);
}

static Vigil__V1__InteractionEvent *parse_ok(const char *text) {
    Vigil__V1__InteractionEvent *ev = NULL;
    char err[256] = "";
    vg_err_t rc = vg_json_to_event(text, strlen(text), &ev, err, sizeof(err));

    cr_assert_eq(rc, VG_OK, "parse of %s failed: %s", text, err);
    cr_assert_not_null(ev);
    return ev;
}

/* ---- parsing good input ----------------------------------------------- */

Test(json_parse, full_event_fields) {
    Vigil__V1__InteractionEvent *ev = parse_ok(golden_event);

    cr_expect_str_eq(ev->event_id, "ev-1");
    cr_expect_str_eq(ev->customer_id, "cust-000042");
    cr_expect_str_eq(ev->tenant, "acme");
    cr_expect_eq(ev->event_time_ms, 1700000000123LL);
    cr_expect_eq(ev->channel, VIGIL__V1__CHANNEL__CHANNEL_PAYMENT);
    cr_expect_str_eq(ev->event_type, "payment");
    cr_expect_eq(ev->outcome, VIGIL__V1__OUTCOME__OUTCOME_FAILURE);
    cr_expect_str_eq(ev->error_code, "card_declined");
    cr_assert_eq(ev->n_signals, 2);
    cr_expect_eq(ev->signals[0], VIGIL__V1__SIGNAL__SIGNAL_FRUSTRATION);
    cr_expect_eq(ev->signals[1], VIGIL__V1__SIGNAL__SIGNAL_URGENCY);
    cr_assert_eq(ev->n_consents, 2);
    cr_expect_str_eq(ev->consents[0], "service");
    cr_expect_str_eq(ev->consents[1], "marketing");
    cr_assert_not_null(ev->descriptive);
    cr_expect_eq(ev->descriptive->value_tier,
                 VIGIL__V1__VALUE_TIER__VALUE_TIER_GOLD);
    cr_expect_eq(ev->descriptive->tenure_months, 24);
    cr_expect_str_eq(ev->descriptive->segment, "smb");
    cr_expect_eq(ev->descriptive->revenue_weight, 2.5);
    cr_expect_eq(ev->descriptive->churn_risk, 0.12);
    cr_assert_eq(ev->n_attributes, 2);
    cr_expect_str_eq(ev->attributes[0]->key, "amount_cents");
    cr_expect_str_eq(ev->attributes[0]->value, "4599");
    cr_expect_str_eq(ev->attributes[1]->key, "method");
    cr_expect_str_eq(ev->attributes[1]->value, "card");
    vg_json_event_free(ev);
}

Test(json_parse, golden_prints_back_identically) {
    Vigil__V1__InteractionEvent *ev = parse_ok(golden_event);
    char *s = vg_json_from_event(ev);

    cr_assert_not_null(s);
    cr_expect_str_eq(s, golden_event);
    free(s);
    vg_json_event_free(ev);
}

Test(json_parse, empty_object_keeps_defaults) {
    Vigil__V1__InteractionEvent *ev = parse_ok("{}");
    Vigil__V1__InteractionEvent def = VIGIL__V1__INTERACTION_EVENT__INIT;

    cr_expect_null(ev->descriptive);
    cr_expect_eq(ev->n_signals, 0);
    cr_expect_eq(ev->n_consents, 0);
    cr_expect_eq(ev->n_attributes, 0);
    cr_expect_str_eq(ev->event_id, "");
    assert_same_event(ev, &def, "empty object");
    vg_json_event_free(ev);
}

/* Inputs that must be accepted, with what they must mean. */
Test(json_parse, lenient_forms_table) {
    static const struct {
        const char *json;
        int64_t time_ms;
        int channel;
        uint32_t tenure;
        double revenue; /* checked when the descriptive is present */
    } cases[] = {
        /* null is "absent" for every field */
        {"{\"event_id\":null,\"channel\":null,\"signals\":null,"
         "\"consents\":null,\"descriptive\":null,\"attributes\":null,"
         "\"event_time_ms\":null}",
         0, 0, 0, NAN},
        /* int64 as a decimal string, as proto3 JSON writes it */
        {"{\"event_time_ms\":\"1700000000000\"}", 1700000000000LL, 0, 0, NAN},
        {"{\"event_time_ms\":\"-5\"}", -5, 0, 0, NAN},
        /* enums by number, including values from a newer schema */
        {"{\"channel\":3}", 0, VIGIL__V1__CHANNEL__CHANNEL_CHAT, 0, NAN},
        {"{\"channel\":42}", 0, 42, 0, NAN},
        {"{\"channel\":\"unspecified\"}", 0, 0, 0, NAN},
        /* integers for doubles, strings for integers */
        {"{\"descriptive\":{\"revenue_weight\":3,\"tenure_months\":\"7\"}}",
         0, 0, 7, 3.0},
        {"{\"descriptive\":{\"tenure_months\":4294967295}}", 0, 0,
         4294967295u, 0.0},
        {"{\"descriptive\":{}}", 0, 0, 0, 0.0},
        /* surrounding whitespace */
        {" \n {\"event_time_ms\": 1 } \n", 1, 0, 0, NAN},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Vigil__V1__InteractionEvent *ev = parse_ok(cases[i].json);

        cr_expect_eq(ev->event_time_ms, cases[i].time_ms, "case %zu", i);
        cr_expect_eq((int)ev->channel, cases[i].channel, "case %zu", i);
        if (isnan(cases[i].revenue)) {
            cr_expect_null(ev->descriptive, "case %zu", i);
        } else {
            cr_assert_not_null(ev->descriptive, "case %zu", i);
            cr_expect_eq(ev->descriptive->tenure_months, cases[i].tenure,
                         "case %zu", i);
            cr_expect_eq(ev->descriptive->revenue_weight, cases[i].revenue,
                         "case %zu", i);
        }
        vg_json_event_free(ev);
    }
}

Test(json_parse, non_finite_doubles) {
    Vigil__V1__InteractionEvent *ev = parse_ok(
        "{\"descriptive\":{\"revenue_weight\":\"NaN\","
        "\"churn_risk\":\"-Infinity\"}}");

    cr_expect(isnan(ev->descriptive->revenue_weight));
    cr_expect(isinf(ev->descriptive->churn_risk) &&
              ev->descriptive->churn_risk < 0);
    vg_json_event_free(ev);
}

Test(json_parse, length_bounds_the_input) {
    /* The text need not be NUL-terminated: only len bytes count. */
    static const char buf[] = "{\"event_id\":\"x\"}{garbage";
    Vigil__V1__InteractionEvent *ev = NULL;
    char err[128];

    cr_assert_eq(vg_json_to_event(buf, 16, &ev, err, sizeof(err)), VG_OK,
                 "%s", err);
    cr_expect_str_eq(ev->event_id, "x");
    vg_json_event_free(ev);
}

/* ---- bad input -------------------------------------------------------- */

Test(json_parse, bad_input_table) {
    static const struct {
        const char *json;
        const char *errstr; /* exact */
    } cases[] = {
        /* syntax: jansson's line and column */
        {"{\"event_id\":\"a\",}",
         "invalid JSON at line 1, column 17: string or '}' expected near "
         "'}'"},
        {"{\"event_id\":\"a\"\n\"tenant\":\"t\"}",
         "invalid JSON at line 2, column 8: '}' expected near '\"tenant\"'"},
        {"", "invalid JSON at line 1, column 0: unexpected token near end of "
             "file"},
        {"{} {}",
         "invalid JSON at line 1, column 4: end of file expected near '{'"},
        {"{\"event_id\":\"a\",\"event_id\":\"b\"}",
         "invalid JSON at line 1, column 26: duplicate object key near "
         "'\"event_id\"'"},
        {"{\"event_time_ms\":99999999999999999999}",
         "invalid JSON at line 1, column 37: too big integer near "
         "'99999999999999999999'"},
        /* top level */
        {"[1,2]", "expected a JSON object at top level, got array"},
        {"\"event\"", "expected a JSON object at top level, got string"},
        {"42", "expected a JSON object at top level, got integer"},
        {"null", "expected a JSON object at top level, got null"},
        /* unknown fields */
        {"{\"fax\":1}",
         "field \"fax\": unknown field (not in vigil.v1.InteractionEvent)"},
        {"{\"descriptive\":{\"colour\":\"red\"}}",
         "field \"descriptive.colour\": unknown field (expected value_tier, "
         "tenure_months, segment, revenue_weight, churn_risk)"},
        /* wrong types */
        {"{\"event_id\":5}",
         "field \"event_id\": expected a string, got integer"},
        {"{\"tenant\":[\"a\"]}",
         "field \"tenant\": expected a string, got array"},
        {"{\"event_time_ms\":1.5}",
         "field \"event_time_ms\": expected an integer, got real number"},
        {"{\"event_time_ms\":true}",
         "field \"event_time_ms\": expected an integer, got boolean"},
        {"{\"event_time_ms\":\"soon\"}",
         "field \"event_time_ms\": \"soon\" is not a decimal integer"},
        {"{\"event_time_ms\":\" 12\"}",
         "field \"event_time_ms\": \" 12\" is not a decimal integer"},
        {"{\"channel\":{}}",
         "field \"channel\": expected a string, got object"},
        {"{\"signals\":\"anger\"}",
         "field \"signals\": expected an array, got string"},
        {"{\"signals\":[null]}",
         "field \"signals[0]\": expected a string, got null"},
        {"{\"consents\":[\"service\",3]}",
         "field \"consents[1]\": expected a string, got integer"},
        {"{\"descriptive\":[]}",
         "field \"descriptive\": expected an object, got array"},
        {"{\"descriptive\":{\"tenure_months\":1.5}}",
         "field \"descriptive.tenure_months\": expected an integer, got real "
         "number"},
        {"{\"descriptive\":{\"revenue_weight\":\"high\"}}",
         "field \"descriptive.revenue_weight\": expected a number, got "
         "string"},
        {"{\"attributes\":[\"a\"]}",
         "field \"attributes\": expected an object, got array"},
        {"{\"attributes\":{\"device\":1}}",
         "field \"attributes.device\": expected a string, got integer"},
        {"{\"attributes\":{\"device\":null}}",
         "field \"attributes.device\": expected a string, got null"},
        /* out of range */
        {"{\"descriptive\":{\"tenure_months\":-1}}",
         "field \"descriptive.tenure_months\": -1 out of range "
         "(0..4294967295)"},
        {"{\"descriptive\":{\"tenure_months\":4294967296}}",
         "field \"descriptive.tenure_months\": 4294967296 out of range "
         "(0..4294967295)"},
        {"{\"channel\":-1}",
         "field \"channel\": -1 out of range (0..2147483647)"},
        /* unknown enum strings */
        {"{\"channel\":\"fax\"}",
         "field \"channel\": unknown value \"fax\" (expected one of web, "
         "app, chat, phone, payment, email, store)"},
        {"{\"channel\":\"Web\"}",
         "field \"channel\": unknown value \"Web\" (expected one of web, "
         "app, chat, phone, payment, email, store)"},
        {"{\"outcome\":\"lost\"}",
         "field \"outcome\": unknown value \"lost\" (expected one of "
         "success, failure, abandoned, pending, timeout)"},
        {"{\"signals\":[\"frustration\",\"bored\"]}",
         "field \"signals[1]\": unknown value \"bored\" (expected one of "
         "frustration, anger, confusion, urgency, detractor)"},
        {"{\"descriptive\":{\"value_tier\":\"diamond\"}}",
         "field \"descriptive.value_tier\": unknown value \"diamond\" "
         "(expected one of bronze, silver, gold, platinum)"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Vigil__V1__InteractionEvent *ev = (void *)&ev; /* must be reset */
        char err[256] = "";
        vg_err_t rc = vg_json_to_event(cases[i].json, strlen(cases[i].json),
                                       &ev, err, sizeof(err));

        cr_expect_eq(rc, VG_ERR_INVALID, "case %zu (%s): rc %d", i,
                     cases[i].json, rc);
        cr_expect_null(ev, "case %zu: out not reset", i);
        cr_expect_str_eq(err, cases[i].errstr, "case %zu (%s)", i,
                         cases[i].json);
    }
}

Test(json_parse, error_after_partial_build_does_not_leak) {
    /* Each of these fails after some fields were already allocated; the
     * valgrind run is what proves the partial event is released. */
    static const char *const cases[] = {
        "{\"event_id\":\"a\",\"consents\":[\"x\",\"y\",5]}",
        "{\"event_id\":\"a\",\"descriptive\":{\"segment\":\"s\","
        "\"value_tier\":\"tin\"}}",
        "{\"attributes\":{\"a\":\"1\",\"b\":\"2\",\"c\":3}}",
        "{\"signals\":[\"anger\",\"x\"],\"tenant\":\"t\"}",
        "{\"tenant\":\"t\",\"signals\":[\"anger\",\"x\"]}",
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Vigil__V1__InteractionEvent *ev = NULL;
        char err[256];

        cr_expect_eq(vg_json_to_event(cases[i], strlen(cases[i]), &ev, err,
                                      sizeof(err)),
                     VG_ERR_INVALID, "case %zu", i);
        cr_expect_null(ev);
    }
}

Test(json_parse, null_arguments) {
    Vigil__V1__InteractionEvent *ev = NULL;
    char err[64] = "";

    cr_expect_eq(vg_json_to_event(NULL, 0, &ev, err, sizeof(err)),
                 VG_ERR_INVALID);
    cr_expect_null(ev);
    cr_expect_eq(vg_json_to_event("{}", 2, NULL, err, sizeof(err)),
                 VG_ERR_INVALID);
    /* errstr is optional */
    cr_expect_eq(vg_json_to_event("[", 1, &ev, NULL, 0), VG_ERR_INVALID);
    vg_json_event_free(NULL);
    cr_expect_null(vg_json_from_event(NULL));
    cr_expect_null(vg_json_from_trigger(NULL));
    cr_expect_null(vg_json_from_state(NULL));
}

/* ---- round trips ------------------------------------------------------ */

Test(json_roundtrip, generated_events) {
    vg_gen_conf_t conf;
    vg_gen_record_t rec;
    vg_gen_t *g;
    char err[256];
    uint64_t checked = 0;

    vg_gen_conf_init(&conf);
    conf.seed = 99;
    conf.customers = 500;
    conf.events = 20000;
    conf.trouble_rate = 0.3; /* plenty of signals and failures */
    conf.malformed_rate = 0;
    g = vg_gen_new(&conf, err, sizeof(err));
    cr_assert_not_null(g, "%s", err);
    while (vg_gen_next(g, &rec)) {
        Vigil__V1__InteractionEvent *back = NULL;
        char *s = vg_json_from_event(rec.event), *s2;

        cr_assert_not_null(s);
        cr_assert_eq(vg_json_to_event(s, strlen(s), &back, err, sizeof(err)),
                     VG_OK, "record %llu: %s: %s",
                     (unsigned long long)rec.seq, err, s);
        assert_same_event(rec.event, back, s);
        s2 = vg_json_from_event(back);
        cr_assert_str_eq(s2, s);
        free(s2);
        free(s);
        vg_json_event_free(back);
        checked++;
    }
    cr_expect_eq(checked, conf.events);
    vg_gen_destroy(g);
}

Test(json_roundtrip, awkward_values) {
    /* Values the generator never makes: every double needs its own digit
     * count, strings need escaping, an enum is from a newer schema. */
    static const double doubles[] = {
        0.1 + 0.2, 1e-300, -0.0, 5e-324, 1.7976931348623157e308,
        0.1, 1.0 / 3.0, 123456789.125, 2.5, NAN, INFINITY, -INFINITY};
    Vigil__V1__InteractionEvent ev = VIGIL__V1__INTERACTION_EVENT__INIT;
    Vigil__V1__Descriptive d = VIGIL__V1__DESCRIPTIVE__INIT;
    Vigil__V1__Attribute a1 = VIGIL__V1__ATTRIBUTE__INIT,
                         a2 = VIGIL__V1__ATTRIBUTE__INIT;
    Vigil__V1__Attribute *attrs[] = {&a1, &a2};
    Vigil__V1__Signal sigs[] = {VIGIL__V1__SIGNAL__SIGNAL_ANGER, 77};
    char *consents[] = {"service", ""};
    size_t i;

    ev.event_id = "quote\" backslash\\ tab\t nl\n";
    ev.customer_id = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"; /* UTF-8 */
    ev.tenant = "\x01\x1f";
    ev.event_time_ms = INT64_MIN;
    ev.channel = 42;
    ev.outcome = VIGIL__V1__OUTCOME__OUTCOME_TIMEOUT;
    ev.n_signals = 2;
    ev.signals = sigs;
    ev.n_consents = 2;
    ev.consents = consents;
    ev.descriptive = &d;
    d.tenure_months = UINT32_MAX;
    a1.key = "";
    a1.value = "empty key";
    a2.key = "k";
    a2.value = "";
    ev.n_attributes = 2;
    ev.attributes = attrs;
    for (i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++) {
        Vigil__V1__InteractionEvent *back = NULL;
        char err[256];
        char *s;

        d.revenue_weight = doubles[i];
        d.churn_risk = doubles[(i + 1) % 12];
        s = vg_json_from_event(&ev);
        cr_assert_not_null(s, "double %zu", i);
        cr_assert_eq(vg_json_to_event(s, strlen(s), &back, err, sizeof(err)),
                     VG_OK, "%s: %s", err, s);
        assert_same_event(&ev, back, s);
        free(s);
        vg_json_event_free(back);
    }
}

Test(json_render, short_doubles_stay_short) {
    Vigil__V1__InteractionEvent ev = VIGIL__V1__INTERACTION_EVENT__INIT;
    Vigil__V1__Descriptive d = VIGIL__V1__DESCRIPTIVE__INIT;
    char *s;

    ev.descriptive = &d;
    d.revenue_weight = 0.73;
    d.churn_risk = 0.1;
    s = vg_json_from_event(&ev);
    cr_expect(strstr(s, "\"revenue_weight\":0.73,") != NULL, "%s", s);
    cr_expect(strstr(s, "\"churn_risk\":0.1}") != NULL, "%s", s);
    free(s);
    /* One value needing 17 digits raises the precision for the whole
     * document: exactness beats brevity. */
    d.churn_risk = 0.1 + 0.2;
    s = vg_json_from_event(&ev);
    cr_expect(strstr(s, "\"churn_risk\":0.30000000000000004}") != NULL, "%s",
              s);
    free(s);
}

Test(json_render, invalid_utf8_is_repaired) {
    Vigil__V1__InteractionEvent ev = VIGIL__V1__INTERACTION_EVENT__INIT;
    Vigil__V1__Attribute a = VIGIL__V1__ATTRIBUTE__INIT;
    Vigil__V1__Attribute *attrs[] = {&a};
    json_error_t jerr;
    json_t *root;
    char *s;

    ev.event_id = "ok\xff\xfe" "end";   /* stray bytes */
    ev.customer_id = "\xc0\xaf";        /* overlong '/' */
    ev.tenant = "\xed\xa0\x80";         /* a UTF-16 surrogate */
    ev.event_type = "cut\xe2\x82";      /* truncated sequence */
    a.key = "k\x80";
    a.value = "v";
    ev.n_attributes = 1;
    ev.attributes = attrs;
    s = vg_json_from_event(&ev);
    cr_assert_not_null(s);
    root = json_loads(s, 0, &jerr);
    cr_assert_not_null(root, "output is not valid JSON: %s", jerr.text);
    cr_expect_str_eq(json_string_value(json_object_get(root, "event_id")),
                     "ok\xef\xbf\xbd\xef\xbf\xbd" "end");
    cr_expect_str_eq(json_string_value(json_object_get(root, "customer_id")),
                     "\xef\xbf\xbd\xef\xbf\xbd");
    cr_expect_str_eq(json_string_value(json_object_get(root, "event_type")),
                     "cut\xef\xbf\xbd\xef\xbf\xbd");
    cr_expect_str_eq(
        json_string_value(json_object_get(
            json_object_get(root, "attributes"), "k\xef\xbf\xbd")),
        "v");
    json_decref(root);
    free(s);
}

/* ---- triggers and state ----------------------------------------------- */

typedef struct trigger_fixture_s {
    Vigil__V1__InterventionTrigger t;
    Vigil__V1__ReasonCode r1, r2;
    Vigil__V1__ReasonCode *reasons[2];
    Vigil__V1__Lineage l;
    char *ids[3];
    Vigil__V1__Channel chans[3];
} trigger_fixture_t;

static void trigger_fixture(trigger_fixture_t *f) {
    vigil__v1__intervention_trigger__init(&f->t);
    vigil__v1__reason_code__init(&f->r1);
    vigil__v1__reason_code__init(&f->r2);
    vigil__v1__lineage__init(&f->l);
    f->t.trigger_id = "trg-abc";
    f->t.customer_id = "cust-000042";
    f->t.tenant = "acme";
    f->t.intervention = "proactive_callback";
    f->t.score = 0.87;
    f->t.priority_score = 2.61;
    f->t.priority = VIGIL__V1__PRIORITY__PRIORITY_HIGH;
    f->t.valid_until_ms = 1700000900000LL;
    f->r1.code = "payment_failure_trend";
    f->r1.contribution = 0.6;
    f->r1.detail = "3 payment failures (card_declined) in 7 min";
    f->r2.code = "frustration_detected";
    f->r2.contribution = 0.4;
    f->r2.detail = "frustration on chat";
    f->reasons[0] = &f->r1;
    f->reasons[1] = &f->r2;
    f->t.n_reasons = 2;
    f->t.reasons = f->reasons;
    f->ids[0] = "ev-1";
    f->ids[1] = "ev-2";
    f->ids[2] = "ev-3";
    f->chans[0] = VIGIL__V1__CHANNEL__CHANNEL_PAYMENT;
    f->chans[1] = VIGIL__V1__CHANNEL__CHANNEL_PAYMENT;
    f->chans[2] = VIGIL__V1__CHANNEL__CHANNEL_CHAT;
    f->l.n_source_event_ids = 3;
    f->l.source_event_ids = f->ids;
    f->l.n_channels = 3;
    f->l.channels = f->chans;
    f->l.purpose = "service";
    f->l.model_id = "default";
    f->l.model_version = "3";
    f->l.worker_id = "w-1";
    f->l.destination = "callback_scheduler";
    f->l.source_topic = "vigil.events";
    f->l.source_partition = 7;
    f->l.source_offset = 123456;
    f->t.lineage = &f->l;
    f->t.created_ms = 1700000000000LL;
    f->t.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
    f->t.escalation_level = 3;
}

static json_t *load(const char *s) {
    json_error_t jerr;
    json_t *root;

    cr_assert_not_null(s);
    cr_assert_null(strchr(s, '\n'), "not one line: %s", s);
    root = json_loads(s, 0, &jerr);
    cr_assert_not_null(root, "invalid JSON (%s): %s", jerr.text, s);
    return root;
}

static void assert_trigger_json(const json_t *o) {
    static const char *const keys[] = {
        "trigger_id", "customer_id", "tenant",  "intervention",
        "score",      "priority_score", "priority", "valid_until_ms",
        "reasons",    "lineage",     "created_ms", "channel",
        "escalation_level"};
    const json_t *r, *l;
    size_t i;

    cr_assert(json_is_object(o));
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        cr_expect_not_null(json_object_get(o, keys[i]), "missing %s",
                           keys[i]);
    cr_expect_eq(json_object_size(o), sizeof(keys) / sizeof(keys[0]));
    cr_expect_str_eq(json_string_value(json_object_get(o, "trigger_id")),
                     "trg-abc");
    cr_expect_str_eq(json_string_value(json_object_get(o, "priority")),
                     "high");
    cr_expect_str_eq(json_string_value(json_object_get(o, "channel")),
                     "phone");
    cr_expect_eq(json_real_value(json_object_get(o, "score")), 0.87);
    cr_expect_eq(json_integer_value(json_object_get(o, "escalation_level")),
                 3);
    cr_expect_eq(json_integer_value(json_object_get(o, "valid_until_ms")),
                 1700000900000LL);
    r = json_object_get(o, "reasons");
    cr_assert_eq(json_array_size(r), 2);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(r, 0),
                                                       "code")),
                     "payment_failure_trend");
    cr_expect_eq(json_real_value(json_object_get(json_array_get(r, 1),
                                                 "contribution")),
                 0.4);
    cr_expect_not_null(json_object_get(json_array_get(r, 1), "detail"));
    l = json_object_get(o, "lineage");
    cr_assert(json_is_object(l));
    cr_expect_eq(json_array_size(json_object_get(l, "source_event_ids")), 3);
    cr_expect_str_eq(json_string_value(json_array_get(
                         json_object_get(l, "channels"), 2)),
                     "chat");
    cr_expect_str_eq(json_string_value(json_object_get(l, "purpose")),
                     "service");
    cr_expect_str_eq(json_string_value(json_object_get(l, "destination")),
                     "callback_scheduler");
    cr_expect_eq(json_integer_value(json_object_get(l, "source_partition")),
                 7);
    cr_expect_eq(json_integer_value(json_object_get(l, "source_offset")),
                 123456);
    cr_expect_not_null(json_object_get(l, "model_version"));
    cr_expect_not_null(json_object_get(l, "worker_id"));
    cr_expect_not_null(json_object_get(l, "source_topic"));
    cr_expect_not_null(json_object_get(l, "model_id"));
}

Test(json_render, trigger_has_every_field) {
    trigger_fixture_t f;
    char *s;
    json_t *root;

    trigger_fixture(&f);
    s = vg_json_from_trigger(&f.t);
    root = load(s);
    assert_trigger_json(root);
    json_decref(root);
    free(s);
}

Test(json_render, trigger_without_lineage_and_priorities) {
    static const struct {
        int priority;
        const char *name;
    } cases[] = {{0, "unspecified"}, {1, "low"},      {2, "medium"},
                 {3, "high"},        {4, "critical"}, {9, NULL}};
    trigger_fixture_t f;
    size_t i;

    trigger_fixture(&f);
    f.t.lineage = NULL;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s;
        json_t *root, *p;

        f.t.priority = cases[i].priority;
        s = vg_json_from_trigger(&f.t);
        root = load(s);
        cr_expect(json_is_null(json_object_get(root, "lineage")), "%s", s);
        p = json_object_get(root, "priority");
        if (cases[i].name)
            cr_expect_str_eq(json_string_value(p), cases[i].name);
        else /* a value from a newer schema prints as its number */
            cr_expect_eq(json_integer_value(p), cases[i].priority);
        json_decref(root);
        free(s);
    }
}

Test(json_render, state_decodes_decision_triggers) {
    trigger_fixture_t f;
    Vigil__V1__CustomerState st = VIGIL__V1__CUSTOMER_STATE__INIT;
    Vigil__V1__AppliedOffset ap = VIGIL__V1__APPLIED_OFFSET__INIT;
    Vigil__V1__AppliedOffset *aps[] = {&ap};
    Vigil__V1__TroubleWindow tw = VIGIL__V1__TROUBLE_WINDOW__INIT;
    Vigil__V1__TroubleWindow *tws[] = {&tw};
    Vigil__V1__FireLedger fl = VIGIL__V1__FIRE_LEDGER__INIT;
    Vigil__V1__FireLedger *fls[] = {&fl};
    Vigil__V1__Decision dec = VIGIL__V1__DECISION__INIT;
    Vigil__V1__Decision *decs[] = {&dec};
    Vigil__V1__Descriptive d = VIGIL__V1__DESCRIPTIVE__INIT;
    ProtobufCBinaryData trig[2];
    int64_t times[] = {1700000000000LL, 1700000100000LL};
    Vigil__V1__Channel chans[] = {VIGIL__V1__CHANNEL__CHANNEL_PAYMENT,
                                  VIGIL__V1__CHANNEL__CHANNEL_WEB};
    char *ids[] = {"ev-1", "ev-2"};
    int64_t fired[] = {1699999000000LL};
    /* Wire type 7 does not exist: these bytes never decode. */
    uint8_t junk[] = {0x0f, 0x01, 0x02};
    static const char *const keys[] = {
        "version",  "applied",       "troubles",       "last_signal_ms",
        "ledgers",  "decisions",     "last_event_ms",  "events_applied",
        "descriptive"};
    json_t *root, *ts, *tr;
    size_t i;
    char *s;

    trigger_fixture(&f);
    trig[0].len = vigil__v1__intervention_trigger__get_packed_size(&f.t);
    trig[0].data = malloc(trig[0].len);
    vigil__v1__intervention_trigger__pack(&f.t, trig[0].data);
    trig[1].len = sizeof(junk);
    trig[1].data = junk;

    st.version = UINT64_MAX; /* past json_int_t: printed as a string */
    ap.partition = 3;
    ap.offset = 99;
    st.n_applied = 1;
    st.applied = aps;
    tw.kind = "payment:failure";
    tw.n_times_ms = 2;
    tw.times_ms = times;
    tw.n_channels = 2;
    tw.channels = chans;
    tw.n_event_ids = 2;
    tw.event_ids = ids;
    st.n_troubles = 1;
    st.troubles = tws;
    st.last_signal_ms = 1700000050000LL;
    fl.intervention = "proactive_callback";
    fl.channel = VIGIL__V1__CHANNEL__CHANNEL_PHONE;
    fl.n_fired_ms = 1;
    fl.fired_ms = fired;
    st.n_ledgers = 1;
    st.ledgers = fls;
    dec.partition = 3;
    dec.offset = 98;
    dec.n_triggers = 2;
    dec.triggers = trig;
    st.n_decisions = 1;
    st.decisions = decs;
    st.last_event_ms = 1700000100000LL;
    st.events_applied = 12;
    d.value_tier = VIGIL__V1__VALUE_TIER__VALUE_TIER_PLATINUM;
    st.descriptive = &d;

    s = vg_json_from_state(&st);
    root = load(s);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        cr_expect_not_null(json_object_get(root, keys[i]), "missing %s",
                           keys[i]);
    cr_expect_str_eq(json_string_value(json_object_get(root, "version")),
                     "18446744073709551615");
    cr_expect_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(root, "applied"), 0),
                     "offset")),
                 99);
    tr = json_array_get(json_object_get(root, "troubles"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(tr, "kind")),
                     "payment:failure");
    cr_expect_eq(json_integer_value(json_array_get(
                     json_object_get(tr, "times_ms"), 1)),
                 1700000100000LL);
    cr_expect_str_eq(json_string_value(json_array_get(
                         json_object_get(tr, "channels"), 0)),
                     "payment");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(root, "ledgers"), 0),
                         "channel")),
                     "phone");
    ts = json_object_get(
        json_array_get(json_object_get(root, "decisions"), 0), "triggers");
    cr_assert_eq(json_array_size(ts), 2);
    assert_trigger_json(json_array_get(ts, 0));
    cr_expect_str_eq(json_string_value(json_array_get(ts, 1)), "DwEC");
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(root, "descriptive"), "value_tier")),
                     "platinum");
    cr_expect_eq(json_integer_value(json_object_get(root, "events_applied")),
                 12);
    json_decref(root);
    free(s);
    free(trig[0].data);
}

Test(json_render, base64_padding_table) {
    /* Undecodable decision bytes print as base64: all three padding
     * cases. Each input starts with 0x0f, a tag with the non-existent
     * wire type 7, so it never decodes as a trigger. */
    static const struct {
        const char *bytes;
        size_t len;
        const char *b64;
    } cases[] = {
        {"\x0f", 1, "Dw=="},
        {"\x0f" "f", 2, "D2Y="},
        {"\x0f" "fo", 3, "D2Zv"},
        {"\x0f" "foo", 4, "D2Zvbw=="},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Vigil__V1__CustomerState st = VIGIL__V1__CUSTOMER_STATE__INIT;
        Vigil__V1__Decision dec = VIGIL__V1__DECISION__INIT;
        Vigil__V1__Decision *decs[] = {&dec};
        ProtobufCBinaryData b;
        json_t *root;
        char *s;

        b.data = (uint8_t *)cases[i].bytes;
        b.len = cases[i].len;
        dec.n_triggers = 1;
        dec.triggers = &b;
        st.n_decisions = 1;
        st.decisions = decs;
        s = vg_json_from_state(&st);
        root = load(s);
        cr_expect_str_eq(
            json_string_value(json_array_get(
                json_object_get(json_array_get(json_object_get(root,
                                                               "decisions"),
                                               0),
                                "triggers"),
                0)),
            cases[i].b64, "case %zu: %s", i, s);
        cr_expect(json_is_null(json_object_get(root, "descriptive")));
        json_decref(root);
        free(s);
    }
}
