/*
 * test_gen.c - vg_gen: deterministic synthetic traffic.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_gen.h"

static vg_gen_t *make(const vg_gen_conf_t *conf) {
    char err[256] = "";
    vg_gen_t *g = vg_gen_new(conf, err, sizeof(err));

    cr_assert_not_null(g, "vg_gen_new: %s", err);
    return g;
}

static uint32_t cust_index(const char *id) {
    char *end;
    unsigned long v;

    cr_assert_eq(strncmp(id, "cust-", 5), 0, "customer id %s", id);
    v = strtoul(id + 5, &end, 10);
    cr_assert_eq(*end, '\0', "customer id %s", id);
    return (uint32_t)v;
}

/* ---- configuration ---------------------------------------------------- */

Test(gen_conf, defaults) {
    vg_gen_conf_t c;

    memset(&c, 0xAB, sizeof(c));
    vg_gen_conf_init(&c);
    cr_expect_eq(c.seed, 1);
    cr_expect_eq(c.customers, 10000);
    cr_expect_eq(c.events, 1000000);
    cr_expect_eq(c.trouble_rate, 0.05);
    cr_expect_eq(c.malformed_rate, 0.001);
    cr_expect_eq(c.start_ms, 1700000000000LL);
    cr_expect_eq(c.step_ms, 20);
    cr_expect_str_eq(c.tenant, "acme");
}

Test(gen_conf, rejects_bad_values_table) {
    static char long_tenant[1100];
    struct {
        const char *what;
        vg_gen_conf_t conf;
        const char *errstr;
    } cases[10];
    size_t n = 0, i;

    memset(long_tenant, 't', sizeof(long_tenant) - 1);
    for (i = 0; i < 10; i++)
        vg_gen_conf_init(&cases[i].conf);
#define CASE(field, value, msg)                                               \
    do {                                                                      \
        cases[n].what = #field "=" #value;                                    \
        cases[n].conf.field = value;                                          \
        cases[n].errstr = msg;                                                \
        n++;                                                                  \
    } while (0)
    CASE(customers, 0, "customers must be at least 1");
    CASE(trouble_rate, -0.1, "trouble_rate must be between 0 and 1, got -0.1");
    CASE(trouble_rate, 1.5, "trouble_rate must be between 0 and 1, got 1.5");
    CASE(trouble_rate, NAN, "trouble_rate must be between 0 and 1, got nan");
    CASE(malformed_rate, 2.0, "malformed_rate must be between 0 and 1, got 2");
    CASE(start_ms, 0, "start_ms must be positive, got 0");
    CASE(step_ms, -1, "step_ms must be between 0 and 2147483647, got -1");
    CASE(tenant, NULL, "tenant must not be empty");
    CASE(tenant, "", "tenant must not be empty");
    CASE(tenant, long_tenant, "tenant is 1099 bytes long (at most 1024)");
#undef CASE
    for (i = 0; i < n; i++) {
        char err[256] = "";

        cr_expect_null(vg_gen_new(&cases[i].conf, err, sizeof(err)), "%s",
                       cases[i].what);
        cr_expect_str_eq(err, cases[i].errstr, "%s", cases[i].what);
    }
    cr_expect_null(vg_gen_new(NULL, NULL, 0));
}

Test(gen_conf, edges) {
    vg_gen_conf_t c;
    vg_gen_record_t rec;
    vg_gen_stats_t st;
    vg_gen_t *g;
    char tenant[] = "t1";

    vg_gen_destroy(NULL);
    cr_expect_not(vg_gen_next(NULL, &rec));
    vg_gen_conf_init(&c);
    c.events = 0;
    c.tenant = tenant;
    g = make(&c);
    tenant[0] = 'X'; /* the generator keeps its own copy */
    cr_expect_not(vg_gen_next(g, &rec));
    vg_gen_stats(g, &st);
    cr_expect_eq(st.records, 0);
    vg_gen_destroy(g);

    c.events = 3;
    c.tenant = "t1";
    g = make(&c);
    tenant[0] = 't';
    while (vg_gen_next(g, &rec))
        if (!rec.malformed)
            cr_expect_str_eq(rec.event->tenant, "t1");
    cr_expect_not(vg_gen_next(g, &rec)); /* stays finished */
    vg_gen_destroy(g);
}

Test(gen_conf, names) {
    static const char *const troubles[] = {"none", "payment_repeat",
                                           "login_repeat", "channel_hop",
                                           "checkout_abandon", "detractor"};
    static const char *const kinds[] = {
        "none",    "truncated",           "garbage",         "empty",
        "missing_customer_id", "missing_event_id", "bad_event_time"};
    int i;

    for (i = 0; i < VG_GEN_TROUBLE__COUNT; i++)
        cr_expect_str_eq(vg_gen_trouble_name(i), troubles[i]);
    for (i = 0; i < VG_GEN_MALFORMED__COUNT; i++)
        cr_expect_str_eq(vg_gen_malformed_name(i), kinds[i]);
    cr_expect_null(vg_gen_trouble_name(VG_GEN_TROUBLE__COUNT));
    cr_expect_null(vg_gen_malformed_name(-1));
}

/* ---- determinism ------------------------------------------------------ */

Test(gen_determinism, same_seed_same_bytes) {
    vg_gen_conf_t c;
    vg_gen_record_t a, b;
    vg_gen_t *ga, *gb;
    uint64_t n = 0;

    vg_gen_conf_init(&c);
    c.seed = 0xDEADBEEF;
    c.customers = 3000;
    c.events = 200000;
    c.malformed_rate = 0.01;
    ga = make(&c);
    gb = make(&c);
    while (vg_gen_next(ga, &a)) {
        cr_assert(vg_gen_next(gb, &b));
        cr_assert_eq(a.len, b.len, "record %llu", (unsigned long long)n);
        cr_assert_eq(memcmp(a.payload, b.payload, a.len), 0, "record %llu",
                     (unsigned long long)n);
        cr_assert_eq(a.key_len, b.key_len);
        cr_assert_eq(memcmp(a.key, b.key, a.key_len), 0);
        cr_assert_eq(a.malformed, b.malformed);
        cr_assert_eq(a.malformed_id, b.malformed_id);
        cr_assert_eq(a.trouble, b.trouble);
        cr_assert_eq(a.journey, b.journey);
        cr_assert_eq(a.seq, n);
        n++;
    }
    cr_expect_not(vg_gen_next(gb, &b));
    cr_expect_eq(n, c.events);
    vg_gen_destroy(ga);
    vg_gen_destroy(gb);
}

Test(gen_determinism, different_seeds_differ) {
    vg_gen_conf_t c;
    vg_gen_record_t a, b;
    vg_gen_t *ga, *gb;
    uint64_t same_key = 0, n = 0;

    vg_gen_conf_init(&c);
    c.events = 20000;
    c.seed = 1;
    ga = make(&c);
    c.seed = 2;
    gb = make(&c);
    while (vg_gen_next(ga, &a) && vg_gen_next(gb, &b)) {
        /* Event ids embed the seed, so payloads always differ; the
         * customer sequence is the real test of a different stream. */
        cr_assert(a.len != b.len || memcmp(a.payload, b.payload, a.len));
        same_key += a.key_len == b.key_len && !memcmp(a.key, b.key, a.key_len);
        n++;
    }
    cr_expect_lt(same_key, n / 100, "%llu of %llu keys equal",
                 (unsigned long long)same_key, (unsigned long long)n);
    vg_gen_destroy(ga);
    vg_gen_destroy(gb);
}

/* ---- well-formed events ----------------------------------------------- */

Test(gen_events, every_good_payload_decodes_with_required_fields) {
    vg_gen_conf_t c;
    vg_gen_record_t rec;
    vg_gen_t *g;
    uint8_t *buf = malloc(4096);
    unsigned channels = 0, signals = 0;
    char want_id[64];
    uint64_t good = 0;

    vg_gen_conf_init(&c);
    c.seed = 7;
    c.customers = 2000;
    c.events = 100000;
    c.malformed_rate = 0.01;
    c.trouble_rate = 0.2;
    c.tenant = "tenant-x";
    g = make(&c);
    while (vg_gen_next(g, &rec)) {
        Vigil__V1__InteractionEvent *ev;
        size_t n;

        cr_assert_eq(strlen(rec.key), rec.key_len);
        if (rec.malformed) {
            cr_assert_null(rec.event);
            continue;
        }
        cr_assert_not_null(rec.event);
        cr_assert_null(rec.malformed_kind);
        ev = vigil__v1__interaction_event__unpack(NULL, rec.len,
                                                  rec.payload);
        cr_assert_not_null(ev, "record %llu does not decode",
                           (unsigned long long)rec.seq);
        snprintf(want_id, sizeof(want_id), "ev-7-%llu",
                 (unsigned long long)rec.seq);
        cr_assert_str_eq(ev->event_id, want_id);
        cr_assert_str_eq(ev->customer_id, rec.key);
        cr_assert_str_eq(ev->tenant, "tenant-x");
        cr_assert_gt(ev->event_time_ms, 0);
        cr_assert_neq(ev->event_type[0], '\0');
        cr_assert_neq(ev->channel, VIGIL__V1__CHANNEL__CHANNEL_UNSPECIFIED);
        cr_assert_neq(ev->outcome, VIGIL__V1__OUTCOME__OUTCOME_UNSPECIFIED);
        cr_assert_not_null(ev->descriptive);
        cr_assert_neq(ev->descriptive->value_tier,
                      VIGIL__V1__VALUE_TIER__VALUE_TIER_UNSPECIFIED);
        cr_assert((ev->outcome == VIGIL__V1__OUTCOME__OUTCOME_FAILURE) ==
                      (ev->error_code[0] != '\0'),
                  "error code iff failure: %s", ev->error_code);
        channels |= 1u << ev->channel;
        if (ev->n_signals)
            signals |= 1u << ev->signals[0];
        /* The decoded event re-encodes to the same bytes, and so does the
         * borrowed rec.event: they are the same message. */
        n = vigil__v1__interaction_event__pack(ev, buf);
        cr_assert_eq(n, rec.len);
        cr_assert_eq(memcmp(buf, rec.payload, n), 0);
        cr_assert_eq(vigil__v1__interaction_event__get_packed_size(rec.event),
                     rec.len);
        n = vigil__v1__interaction_event__pack(rec.event, buf);
        cr_assert_eq(memcmp(buf, rec.payload, n), 0);
        vigil__v1__interaction_event__free_unpacked(ev, NULL);
        good++;
    }
    /* every channel 1..7, and frustration, anger, confusion, detractor */
    cr_expect_eq(channels, 0xFEu, "channels seen: %#x", channels);
    cr_expect_eq(signals & 0x2Eu, 0x2Eu, "signals seen: %#x", signals);
    cr_expect_gt(good, 98000);
    vg_gen_destroy(g);
    free(buf);
}

/* Per-customer event time strictly increases, across journeys, in any
 * population size and pace. */
Test(gen_events, per_customer_time_strictly_increases_table) {
    static const struct {
        uint32_t customers;
        int64_t step_ms;
    } cases[] = {{1, 20}, {3, 0}, {50, 1}, {2000, 20}, {10000, 20},
                 {100000, 5}, {500, 1000}};
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vg_gen_conf_t c;
        vg_gen_record_t rec;
        vg_gen_t *g;
        int64_t *last;
        uint64_t good = 0;

        vg_gen_conf_init(&c);
        c.seed = 1000 + i;
        c.customers = cases[i].customers;
        c.step_ms = cases[i].step_ms;
        c.events = 60000;
        c.trouble_rate = 0.2;
        c.malformed_rate = 0.01;
        last = calloc(c.customers, sizeof(*last));
        g = make(&c);
        while (vg_gen_next(g, &rec)) {
            uint32_t k = cust_index(rec.key);

            cr_assert_lt(k, c.customers);
            if (rec.malformed)
                continue;
            cr_assert_gt(rec.event->event_time_ms, last[k],
                         "case %zu, record %llu, %s", i,
                         (unsigned long long)rec.seq, rec.key);
            last[k] = rec.event->event_time_ms;
            good++;
        }
        cr_expect_gt(good, 0);
        vg_gen_destroy(g);
        free(last);
    }
}

/* Event time advances by about step_ms per record, as long as the
 * population is large enough for that pace (see vg_gen.h). */
Test(gen_events, global_pace_follows_step) {
    static const struct {
        int64_t step_ms;
        uint32_t customers;
    } cases[] = {{1, 100000}, {5, 10000}, {20, 10000}, {100, 1000}};
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vg_gen_conf_t c;
        vg_gen_record_t rec;
        vg_gen_t *g;
        int64_t first = 0, last = 0, behind = 0, step = cases[i].step_ms;
        double pace;

        vg_gen_conf_init(&c);
        c.step_ms = step;
        c.customers = cases[i].customers;
        c.events = 200000;
        c.malformed_rate = 0;
        g = make(&c);
        while (vg_gen_next(g, &rec)) {
            int64_t t = rec.event->event_time_ms;

            if (rec.seq == 0)
                first = t;
            /* Records come in event-time order up to 2 x step_ms. */
            if (last - t > behind)
                behind = last - t;
            if (t > last)
                last = t;
        }
        pace = (double)(last - first) / (double)(c.events - 1);
        cr_expect_eq(first, c.start_ms);
        cr_expect(pace > 0.9 * step && pace < 1.1 * step,
                  "step %lld: pace %.2f ms/record", (long long)step, pace);
        cr_expect_leq(behind, 2 * step, "step %lld: an event %lld ms behind",
                      (long long)step, (long long)behind);
        cr_expect_gt(behind, 0, "step %lld: no disorder at all",
                     (long long)step);
        vg_gen_destroy(g);
    }
}

Test(gen_events, customers_keep_their_profile) {
    vg_gen_conf_t c;
    vg_gen_record_t rec;
    vg_gen_t *g;
    uint8_t(*profile)[64];
    size_t *plen;
    uint32_t k, seen = 0, tiers[5] = {0}, service = 0, marketing = 0;

    vg_gen_conf_init(&c);
    c.customers = 3000;
    c.events = 100000;
    profile = calloc(c.customers, sizeof(*profile));
    plen = calloc(c.customers, sizeof(*plen));
    g = make(&c);
    while (vg_gen_next(g, &rec)) {
        const Vigil__V1__InteractionEvent *ev = rec.event;
        uint8_t buf[64];
        size_t n, i;

        if (rec.malformed)
            continue;
        k = cust_index(ev->customer_id);
        n = vigil__v1__descriptive__pack(ev->descriptive, buf);
        cr_assert_lt(n + 4, sizeof(buf));
        /* consents as a bit mask after the descriptive bytes */
        buf[n] = 0;
        for (i = 0; i < ev->n_consents; i++)
            buf[n] |= (uint8_t)(strcmp(ev->consents[i], "service") == 0 ? 1
                                : strcmp(ev->consents[i], "marketing") == 0
                                    ? 2
                                    : 4);
        n++;
        if (plen[k] == 0) {
            memcpy(profile[k], buf, n);
            plen[k] = n;
            seen++;
            tiers[ev->descriptive->value_tier]++;
            service += (buf[n - 1] & 1) != 0;
            marketing += (buf[n - 1] & 2) != 0;
            cr_expect(ev->descriptive->churn_risk >= 0 &&
                      ev->descriptive->churn_risk < 1);
            cr_expect_gt(ev->descriptive->revenue_weight, 0);
        } else {
            cr_assert_eq(plen[k], n, "%s changed profile", ev->customer_id);
            cr_assert_eq(memcmp(profile[k], buf, n), 0, "%s changed profile",
                         ev->customer_id);
        }
    }
    cr_assert_gt(seen, 2900);
    /* skewed to the low tiers; most grant service, fewer marketing */
    cr_expect_gt(tiers[1] + tiers[2], seen * 7 / 10);
    cr_expect_gt(tiers[1], tiers[2]);
    cr_expect_gt(tiers[2], tiers[3]);
    cr_expect_gt(tiers[3], tiers[4]);
    cr_expect_gt(tiers[4], 0);
    cr_expect_gt(service, seen * 85 / 100);
    cr_expect_lt(marketing, service / 2);
    cr_expect_gt(marketing, 0);
    vg_gen_destroy(g);
    free(profile);
    free(plen);
}

/* ---- malformed records ------------------------------------------------ */

Test(gen_malformed, share_and_kinds) {
    static const double rates[] = {0.0, 0.001, 0.01, 0.2, 1.0};
    size_t r;

    for (r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        vg_gen_conf_t c;
        vg_gen_record_t rec;
        vg_gen_stats_t st;
        vg_gen_t *g;
        uint64_t kinds[VG_GEN_MALFORMED__COUNT] = {0}, bad = 0;
        double expect;
        int k;

        vg_gen_conf_init(&c);
        c.seed = 31 + r;
        c.events = 200000;
        c.malformed_rate = rates[r];
        g = make(&c);
        while (vg_gen_next(g, &rec)) {
            if (!rec.malformed)
                continue;
            bad++;
            cr_assert_str_eq(rec.malformed_kind,
                             vg_gen_malformed_name(rec.malformed_id));
            kinds[rec.malformed_id]++;
        }
        vg_gen_stats(g, &st);
        cr_expect_eq(st.records, c.events);
        cr_expect_eq(st.malformed, bad);
        cr_expect_eq(st.events + st.malformed, st.records);
        for (k = 0; k < VG_GEN_MALFORMED__COUNT; k++)
            cr_expect_eq(st.malformed_by_kind[k], kinds[k]);
        /* within 5 binomial standard deviations (and 1 record) */
        expect = rates[r] * (double)c.events;
        cr_expect_leq(fabs((double)bad - expect),
                      5 * sqrt(expect * (1 - rates[r])) + 1,
                      "rate %g: %llu malformed, expected %.0f", rates[r],
                      (unsigned long long)bad, expect);
        if (rates[r] >= 0.01) {
            cr_expect_eq(kinds[VG_GEN_MALFORMED_NONE], 0);
            for (k = 1; k < VG_GEN_MALFORMED__COUNT; k++)
                cr_expect_gt(kinds[k], bad / 12, "rate %g kind %s",
                             rates[r], vg_gen_malformed_name(k));
        }
        vg_gen_destroy(g);
    }
}

/* Each kind fails in the way its name says, and in no other way. */
Test(gen_malformed, each_kind_is_what_it_says) {
    vg_gen_conf_t c;
    vg_gen_record_t rec;
    vg_gen_t *g;
    uint64_t n = 0;

    vg_gen_conf_init(&c);
    c.events = 50000;
    c.malformed_rate = 0.3;
    g = make(&c);
    while (vg_gen_next(g, &rec)) {
        Vigil__V1__InteractionEvent *ev;

        if (!rec.malformed)
            continue;
        n++;
        cr_assert_eq(rec.journey, 0);
        cr_assert_eq(rec.trouble, VG_GEN_TROUBLE_NONE);
        cust_index(rec.key);
        ev = vigil__v1__interaction_event__unpack(NULL, rec.len, rec.payload);
        switch (rec.malformed_id) {
        case VG_GEN_MALFORMED_TRUNCATED:
        case VG_GEN_MALFORMED_GARBAGE:
            cr_assert_null(ev, "%s record %llu decoded", rec.malformed_kind,
                           (unsigned long long)rec.seq);
            cr_assert_gt(rec.len, 0);
            break;
        case VG_GEN_MALFORMED_EMPTY:
            cr_assert_eq(rec.len, 0);
            cr_assert_not_null(ev);
            cr_assert_str_eq(ev->event_id, "");
            break;
        case VG_GEN_MALFORMED_MISSING_CUSTOMER_ID:
            cr_assert_not_null(ev);
            cr_assert_str_eq(ev->customer_id, "");
            cr_assert_neq(ev->event_id[0], '\0');
            cr_assert_gt(ev->event_time_ms, 0);
            break;
        case VG_GEN_MALFORMED_MISSING_EVENT_ID:
            cr_assert_not_null(ev);
            cr_assert_str_eq(ev->event_id, "");
            cr_assert_str_eq(ev->customer_id, rec.key);
            cr_assert_gt(ev->event_time_ms, 0);
            break;
        case VG_GEN_MALFORMED_BAD_EVENT_TIME:
            cr_assert_not_null(ev);
            cr_assert_leq(ev->event_time_ms, 0);
            cr_assert_str_eq(ev->customer_id, rec.key);
            cr_assert_neq(ev->event_id[0], '\0');
            break;
        default:
            cr_assert_fail("unexpected kind %d", rec.malformed_id);
        }
        if (ev)
            vigil__v1__interaction_event__free_unpacked(ev, NULL);
    }
    cr_expect_gt(n, 14000);
    vg_gen_destroy(g);
}

/* ---- planted trouble -------------------------------------------------- */

#define MAX_STEPS 12

typedef struct step_s {
    int64_t t;
    uint8_t channel, outcome, signal, type;
    char code[32];
} step_t;

typedef struct journey_s {
    uint32_t cust;
    uint8_t trouble, n;
    step_t s[MAX_STEPS];
} journey_t;

static const char *const types[] = {
    "?", "page_view", "login", "checkout", "payment", "chat", "call",
    "survey", "account_update", "purchase", "email_open",
    "order_confirmation", "order_status"};

enum { T_PAGE = 1, T_LOGIN, T_CHECKOUT, T_PAYMENT, T_CHAT, T_CALL, T_SURVEY };

static uint8_t type_id(const char *s) {
    uint8_t i;

    for (i = 1; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(s, types[i]) == 0)
            return i;
    cr_assert_fail("unknown event type %s", s);
    return 0;
}

#define FAIL VIGIL__V1__OUTCOME__OUTCOME_FAILURE
#define MIN_MS (60 * 1000)

/* Check journey j against the definition of its trouble; true when the
 * defining events are all there (a journey cut off by the end of the run
 * may be an incomplete but valid prefix). */
static bool check_journey(const journey_t *j, uint64_t id) {
    const step_t *s = j->s;
    int i, fails = 0, first = -1, lastf = -1;

    switch (j->trouble) {
    case VG_GEN_TROUBLE_NONE: {
        /* Ordinary noise is a coincidence, never a pattern: at most one
         * failure of any one event type (a login and a payment failure in
         * the same purchase are two coincidences). */
        unsigned failed_types = 0;

        for (i = 0; i < j->n; i++) {
            cr_assert(s[i].signal != VIGIL__V1__SIGNAL__SIGNAL_FRUSTRATION &&
                          s[i].signal != VIGIL__V1__SIGNAL__SIGNAL_DETRACTOR &&
                          s[i].outcome !=
                              VIGIL__V1__OUTCOME__OUTCOME_ABANDONED,
                      "ordinary journey %llu looks like trouble",
                      (unsigned long long)id);
            if (s[i].outcome != FAIL)
                continue;
            cr_assert_not(failed_types & (1u << s[i].type),
                          "ordinary journey %llu: repeated %s failure",
                          (unsigned long long)id, types[s[i].type]);
            failed_types |= 1u << s[i].type;
        }
        return false;
    }
    case VG_GEN_TROUBLE_PAYMENT_REPEAT:
        for (i = 0; i < j->n; i++) {
            if (s[i].type != T_PAYMENT)
                continue;
            cr_assert_eq(s[i].outcome, FAIL);
            cr_assert_str_eq(s[i].code, s[first < 0 ? i : first].code);
            if (first < 0)
                first = i;
            lastf = i;
            fails++;
        }
        cr_assert_leq(fails, 3);
        if (first >= 0)
            cr_assert_leq(s[lastf].t - s[first].t, 7 * MIN_MS);
        if (j->n > 0 && s[j->n - 1].type == T_CHAT) {
            cr_assert_geq(fails, 2);
            cr_assert_eq(s[j->n - 1].signal,
                         VIGIL__V1__SIGNAL__SIGNAL_FRUSTRATION);
            cr_assert_leq(s[j->n - 1].t - s[lastf].t, 4 * MIN_MS);
        }
        return fails >= 2;
    case VG_GEN_TROUBLE_LOGIN_REPEAT:
        for (i = 0; i < j->n; i++) {
            cr_assert_eq(s[i].type, T_LOGIN);
            cr_assert_eq(s[i].outcome, FAIL);
            cr_assert_str_eq(s[i].code, s[0].code);
        }
        cr_assert_leq(j->n, 5);
        if (j->n)
            cr_assert_leq(s[j->n - 1].t - s[0].t, 5 * MIN_MS);
        return j->n >= 3;
    case VG_GEN_TROUBLE_CHANNEL_HOP: {
        static const uint8_t hop[] = {VIGIL__V1__CHANNEL__CHANNEL_WEB,
                                      VIGIL__V1__CHANNEL__CHANNEL_CHAT,
                                      VIGIL__V1__CHANNEL__CHANNEL_PHONE};

        cr_assert_leq(j->n, 3);
        for (i = 0; i < j->n; i++) {
            cr_assert_eq(s[i].channel, hop[i]);
            cr_assert_eq(s[i].outcome, FAIL);
        }
        if (j->n)
            cr_assert_leq(s[j->n - 1].t - s[0].t, 30 * MIN_MS);
        return j->n == 3;
    }
    case VG_GEN_TROUBLE_CHECKOUT_ABANDON:
        for (i = 0; i < j->n; i++)
            cr_assert_neq(s[i].type, T_PAYMENT);
        if (j->n < 3)
            return false;
        cr_assert_eq(s[1].type, T_CHECKOUT);
        cr_assert_eq(s[1].outcome, VIGIL__V1__OUTCOME__OUTCOME_PENDING);
        cr_assert_eq(s[2].type, T_CHECKOUT);
        cr_assert_eq(s[2].outcome, VIGIL__V1__OUTCOME__OUTCOME_ABANDONED);
        cr_assert_gt(s[2].t - s[1].t, 10 * MIN_MS);
        cr_assert_leq(s[2].t - s[1].t, 30 * MIN_MS);
        return true;
    case VG_GEN_TROUBLE_DETRACTOR:
        if (j->n == 0 || s[j->n - 1].type != T_SURVEY)
            return false;
        cr_assert_eq(s[j->n - 1].signal, VIGIL__V1__SIGNAL__SIGNAL_DETRACTOR);
        return true;
    default:
        cr_assert_fail("bad trouble %d", j->trouble);
    }
    return false;
}

Test(gen_trouble, planted_patterns_are_present_and_well_formed) {
    vg_gen_conf_t c;
    vg_gen_record_t rec;
    vg_gen_stats_t st;
    vg_gen_t *g;
    journey_t *js;
    uint64_t labelled[VG_GEN_TROUBLE__COUNT] = {0};
    uint64_t complete[VG_GEN_TROUBLE__COUNT] = {0};
    uint64_t frustrated = 0, isolated = 0, id, max_id = 0;
    int k;

    vg_gen_conf_init(&c);
    c.seed = 5;
    c.customers = 3000;
    c.events = 150000;
    c.trouble_rate = 0.2;
    c.malformed_rate = 0.005;
    js = calloc(c.events + 1, sizeof(*js));
    cr_assert_not_null(js);
    g = make(&c);
    while (vg_gen_next(g, &rec)) {
        const Vigil__V1__InteractionEvent *ev = rec.event;
        journey_t *j;
        step_t *s;

        if (rec.malformed)
            continue;
        cr_assert_gt(rec.journey, 0);
        cr_assert_leq(rec.journey, c.events);
        j = &js[rec.journey];
        if (rec.journey > max_id)
            max_id = rec.journey;
        if (j->n == 0) {
            j->cust = cust_index(rec.key);
            j->trouble = (uint8_t)rec.trouble;
            labelled[rec.trouble]++;
        }
        /* a journey is one customer, one label */
        cr_assert_eq(j->cust, cust_index(rec.key));
        cr_assert_eq(j->trouble, rec.trouble);
        cr_assert_lt(j->n, MAX_STEPS);
        s = &j->s[j->n++];
        s->t = ev->event_time_ms;
        s->channel = (uint8_t)ev->channel;
        s->outcome = (uint8_t)ev->outcome;
        s->signal = ev->n_signals ? (uint8_t)ev->signals[0] : 0;
        s->type = type_id(ev->event_type);
        snprintf(s->code, sizeof(s->code), "%s", ev->error_code);
        if (s->signal == VIGIL__V1__SIGNAL__SIGNAL_FRUSTRATION)
            frustrated++;
        if (rec.trouble == VG_GEN_TROUBLE_NONE && s->outcome == FAIL)
            isolated++;
    }
    vg_gen_stats(g, &st);
    cr_expect_eq(st.journeys, max_id);
    for (id = 1; id <= max_id; id++)
        if (js[id].n && check_journey(&js[id], id))
            complete[js[id].trouble]++;

    cr_expect_eq(st.frustration_followups, frustrated);
    cr_expect_eq(st.isolated_failures, isolated);
    cr_expect_gt(isolated, 100, "ordinary one-off failures are the noise");
    cr_expect_eq(st.troubles[VG_GEN_TROUBLE_NONE], 0);
    for (k = 1; k < VG_GEN_TROUBLE__COUNT; k++) {
        /* Every journey the generator counts shows the full pattern; a few
         * more show it without being counted (a 3-failure journey cut off
         * after its second failure), and labelled ones cut off by the end
         * of the run (50 minutes of event time here, against troubles up
         * to 30 minutes long) may not have completed. */
        cr_expect_gt(st.troubles[k], 100, "%s", vg_gen_trouble_name(k));
        cr_expect_geq(complete[k], st.troubles[k], "%s",
                      vg_gen_trouble_name(k));
        cr_expect_leq(complete[k], labelled[k], "%s",
                      vg_gen_trouble_name(k));
        cr_expect_gt(st.troubles[k], labelled[k] / 2, "%s",
                     vg_gen_trouble_name(k));
    }
    /* about trouble_rate of journeys carry a planted trouble */
    {
        uint64_t troubled = 0;

        for (k = 1; k < VG_GEN_TROUBLE__COUNT; k++)
            troubled += labelled[k];
        cr_expect(fabs((double)troubled / (double)st.journeys - 0.2) < 0.02,
                  "%llu of %llu journeys troubled",
                  (unsigned long long)troubled,
                  (unsigned long long)st.journeys);
    }
    cr_expect_gt(st.frustration_followups, 0);
    cr_expect_lt(st.frustration_followups,
                 st.troubles[VG_GEN_TROUBLE_PAYMENT_REPEAT]);
    vg_gen_destroy(g);
    free(js);
}

Test(gen_trouble, none_when_rate_is_zero) {
    vg_gen_conf_t c;
    vg_gen_record_t rec;
    vg_gen_stats_t st;
    vg_gen_t *g;
    int k;

    vg_gen_conf_init(&c);
    c.events = 50000;
    c.trouble_rate = 0;
    g = make(&c);
    while (vg_gen_next(g, &rec))
        cr_assert_eq(rec.trouble, VG_GEN_TROUBLE_NONE);
    vg_gen_stats(g, &st);
    for (k = 0; k < VG_GEN_TROUBLE__COUNT; k++)
        cr_expect_eq(st.troubles[k], 0);
    cr_expect_eq(st.frustration_followups, 0);
    vg_gen_destroy(g);
}
