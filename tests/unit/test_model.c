/*
 * The model language: the default model loads; a bad model is refused at
 * load with the file, the line at fault and why; vigilctl explain re-runs
 * the worker's computation.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "vg_explain.h"
#include "vg_model.h"
#include "vg_step.h"
#include "vg_test_events.h"

/* A small valid model; each case below breaks one line of it. */
static const char *const good[] = {
    "id: t",                                                          /* 1 */
    "version: \"1\"",                                                 /* 2 */
    "signals:",                                                       /* 3 */
    "  pay_fail: { event_type: payment, outcome: failure }",          /* 4 */
    "  start: { event_type: checkout, outcome: pending }",            /* 5 */
    "  done: { event_type: payment, outcome: success }",              /* 6 */
    "windows:",                                                       /* 7 */
    "  pay: { signal: pay_fail, within: 30m, pattern: 2, trend: 3 }", /* 8 */
    "absences:",                                                      /* 9 */
    "  abandon: { start: start, expect: done, within: 10m }",         /* 10 */
    "score:",                                                         /* 11 */
    "  bias: -2",                                                     /* 12 */
    "  terms:",                                                       /* 13 */
    "    - { level: pay, weight: 1.0, reason: pay }",                 /* 14 */
    "    - { absence: abandon, weight: 2.5, reason: abandon }",       /* 15 */
    "interventions:",                                                 /* 16 */
    "  - name: callback",                                             /* 17 */
    "    purpose: service",                                           /* 18 */
    "    channels: [phone]",                                          /* 19 */
    "    eligible:",                                                  /* 20 */
    "      - { level: pay, min: trend }",                             /* 21 */
    "      - { absence: abandon }",                                   /* 22 */
    "    threshold: 0.5",                                             /* 23 */
    "    cooldown: 1h",                                               /* 24 */
    NULL};

static char *with_line(int line, const char *text) {
    static char buf[4096];
    size_t o = 0;

    for (int i = 0; good[i]; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\n", i + 1 == line ? text : good[i]);
    return buf;
}

Test(model, default_model_loads_and_has_the_brief) {
    vg_model_t *m = malloc(sizeof(*m));
    char err[512];

    cr_assert_eq(vg_model_parse(m, vg_model_default_text(), strlen(vg_model_default_text()),
                                "default.yaml", err, sizeof(err)),
                 VG_OK, "%s", err);
    cr_expect_eq(m->n_windows, 3, "payment, login and order ladders");
    cr_expect_eq(m->n_sequences, 1, "channel hopping");
    cr_expect_eq(m->n_absences, 1, "checkout abandonment");
    cr_expect_eq(m->n_interventions, 5);
    free(m);
}

Test(model, the_small_model_is_valid) {
    vg_model_t *m = malloc(sizeof(*m));
    char err[512];
    const char *t = with_line(0, NULL);

    cr_assert_eq(vg_model_parse(m, t, strlen(t), "t.yaml", err, sizeof(err)), VG_OK, "%s", err);
    cr_expect_eq(m->absences[0].within_ms, 600000);
    cr_expect_eq(m->interventions[0].cooldown_ms, 3600000);
    cr_expect(fabs(m->bias + 2.0) < 1e-12);
    free(m);
}

typedef struct bad_s {
    int line;           /* the line replaced */
    const char *text;   /* with this */
    const char *want;   /* the error starts with "t.yaml:<line>:" and contains this */
} bad_t;

static const bad_t bads[] = {
    {4, "  pay_fail: { event_type: payment, outcome: broken }", "unknown value \"broken\""},
    {4, "  pay_fail: { event_typ: payment }", "unknown key \"event_typ\""},
    {8, "  pay: { signal: nope, within: 30m }", "nope"},
    {8, "  pay: { signal: pay_fail, within: 30 parsecs }", "the unit must be ms, s, m, h or d"},
    {8, "  pay: { signal: pay_fail, within: 30m, pattern: 3, trend: 2 }", "trend: 2 is out of range"},
    {10, "  abandon: { start: start, expect: start, within: 10m }", "must differ"},
    {12, "  bias: lots", "\"lots\" is not a number"},
    {14, "    - { level: pay, weight: 1.0 }", "reason is required"},
    {14, "    - { level: pay, reason: pay }", "weight is required"},
    {18, "    purpos: service", "unknown key"},
    {21, "      - { level: pay, min: catastrophe }", "coincidence, pattern or trend"},
    {23, "    threshold: 1.5", "out of range"},
};

Test(model, a_bad_model_is_refused_with_its_line) {
    vg_model_t *m = malloc(sizeof(*m));

    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        char err[512] = "", prefix[32];
        const char *t = with_line(bads[i].line, bads[i].text);
        cr_expect_neq(vg_model_parse(m, t, strlen(t), "t.yaml", err, sizeof(err)), VG_OK,
                      "case %zu accepted: %s", i, bads[i].text);
        snprintf(prefix, sizeof(prefix), "t.yaml:%d:", bads[i].line);
        cr_expect(strncmp(err, prefix, strlen(prefix)) == 0, "case %zu: want %s..., got %s", i,
                  prefix, err);
        cr_expect(strstr(err, bads[i].want) != NULL, "case %zu: want \"%s\" in %s", i,
                  bads[i].want, err);
    }
    free(m);
}

Test(model, yaml_syntax_error_has_line_and_column) {
    vg_model_t *m = malloc(sizeof(*m));
    char err[512];
    const char *t = with_line(4, "  pay_fail: { event_type: [payment }");

    cr_expect_neq(vg_model_parse(m, t, strlen(t), "t.yaml", err, sizeof(err)), VG_OK);
    cr_expect(strncmp(err, "t.yaml:4:", 9) == 0, "%s", err);
    free(m);
}

Test(model, missing_file_is_refused) {
    vg_model_t *m = malloc(sizeof(*m));
    char err[512];

    cr_expect_neq(vg_model_load(m, "/nonexistent/model.yaml", err, sizeof(err)), VG_OK);
    cr_expect(strstr(err, "/nonexistent/model.yaml") != NULL, "%s", err);
    free(m);
}

/* explain re-runs the worker's computation on the stored state: the same
 * propensity, the same verdicts, the fire it caused taken back out. */
Test(model, explain_shows_the_workers_decision) {
    vg_model_t *m = malloc(sizeof(*m));
    vg_state_t *st = malloc(sizeof(*st));
    vg_step_result_t *r = malloc(sizeof(*r));
    vg_step_ctx_t ctx = {"w", "e", "t", 0, 0, 0};
    char *buf = NULL;
    size_t len = 0;
    FILE *out;

    vg_model_default(m);
    vg_state_init(st);
    for (int i = 0; i < 3; i++) {
        vg_tev_t t;
        Vigil__V1__InteractionEvent *ev =
            vg_tev(&t, i, i, "payment", FAIL, NOSIG, "service", BRONZE, 0.0);
        ctx.offset = i;
        cr_assert_eq(vg_step_apply(st, ev, m, &ctx, r), VG_OK);
        st->last_event_len = (uint32_t)vigil__v1__interaction_event__pack(ev, st->last_event);
    }
    cr_assert(r->fired);
    out = open_memstream(&buf, &len);
    cr_assert_eq(vg_explain(st, m, out), VG_OK);
    fclose(out);
    cr_expect(strstr(buf, "z = 0.5000") != NULL, "%s", buf);
    cr_expect(strstr(buf, "propensity = 1/(1+exp(-z)) = 0.6225") != NULL, "%s", buf);
    cr_expect(strstr(buf, "payment_trouble          3 within 30 min -> trend") != NULL, "%s", buf);
    cr_expect(strstr(buf, "proactive_callback") && strstr(buf, "-> FIRED"), "%s", buf);
    cr_expect(strstr(buf, "status_update") && strstr(buf, "-> lower_priority"), "%s", buf);
    cr_expect(strstr(buf, "decision   proactive_callback on phone") != NULL, "%s", buf);
    free(buf);
    st->last_event_len = 0;
    out = open_memstream(&buf, &len);
    cr_expect_eq(vg_explain(st, m, out), VG_ERR_NOT_FOUND);
    fclose(out);
    free(buf);
    free(m);
    free(st);
    free(r);
}

/* The pseudonym is HMAC-SHA-256 (RFC 2104), whatever the key length; the
 * seal opens only under the same key. */
#include <openssl/hmac.h>

#include "vg_pseudo.h"

Test(pseudo, hmac_matches_openssl_and_seal_round_trips) {
    const char *keys[] = {"0123456789abcdef",
                          "a much longer key than one SHA-256 block of sixty-four bytes, "
                          "to take the hashed-key path of RFC 2104"};
    char err[256];

    for (size_t k = 0; k < 2; k++) {
        vg_pseudo_t *p = vg_pseudo_new(keys[k], strlen(keys[k]), err, sizeof(err));
        unsigned char mac[32], msg[64];
        unsigned int n = 0;
        char got[VG_PSEUDO_LEN], want[VG_PSEUDO_LEN], tenant[130], cust[130];
        uint8_t sealed[400];
        size_t len = 0;

        cr_assert_not_null(p, "%s", err);
        memcpy(msg, "acme\0customer-42", 16);
        HMAC(EVP_sha256(), keys[k], (int)strlen(keys[k]), msg, 16, mac, &n);
        for (int i = 0; i < 16; i++)
            snprintf(want + 2 * i, 3, "%02x", mac[i]);
        vg_pseudo_id(p, "acme", "customer-42", got);
        cr_expect_str_eq(got, want, "key %zu", k);

        cr_assert_eq(vg_pseudo_seal(p, "acme", "customer-42", sealed, sizeof(sealed), &len), VG_OK);
        cr_assert_eq(vg_pseudo_open(p, sealed, len, tenant, sizeof(tenant), cust, sizeof(cust)),
                     VG_OK);
        cr_expect_str_eq(tenant, "acme");
        cr_expect_str_eq(cust, "customer-42");
        cr_expect(memmem(sealed, len, "customer-42", 11) == NULL, "not in clear");
        sealed[len - 1] ^= 1;
        cr_expect_neq(vg_pseudo_open(p, sealed, len, tenant, sizeof(tenant), cust, sizeof(cust)),
                      VG_OK, "an altered seal is refused");
        {
            /* Any bytes (a kept trigger, the latest event): round trip,
             * deterministic, nothing in clear, tampering refused. */
            static const char plain[] = "\x0a\x0b" "customer-42 bought \x00 something";
            uint8_t s1[128], s2[128], back[128];
            size_t l1 = 0, l2 = 0, bl = 0;
            cr_assert_eq(vg_pseudo_seal_bytes(p, plain, sizeof(plain), s1, sizeof(s1), &l1), VG_OK);
            cr_expect_eq(l1, sizeof(plain) + VG_SEAL_OVERHEAD);
            cr_assert_eq(vg_pseudo_seal_bytes(p, plain, sizeof(plain), s2, sizeof(s2), &l2), VG_OK);
            cr_expect(l1 == l2 && memcmp(s1, s2, l1) == 0, "deterministic");
            cr_expect(memmem(s1, l1, "customer-42", 11) == NULL, "not in clear");
            cr_assert_eq(vg_pseudo_open_bytes(p, s1, l1, back, sizeof(back), &bl), VG_OK);
            cr_expect(bl == sizeof(plain) && memcmp(back, plain, bl) == 0);
            cr_expect_eq(vg_pseudo_seal_bytes(p, plain, sizeof(plain), s2, 20, &l2),
                         VG_ERR_OVERFLOW);
            s1[5] ^= 0x40;
            cr_expect_eq(vg_pseudo_open_bytes(p, s1, l1, back, sizeof(back), &bl), VG_ERR_INVALID);
        }
        vg_pseudo_destroy(p);
    }
}

/* The memo answers what vg_pseudo_id answers: for pairs met again, for
 * pairs that share a slot (more pairs than slots), for ("ab","c") against
 * ("a","bc"), and for a pair too long to be kept. */
Test(pseudo, memo_answers_as_the_hmac_does) {
    char err[256], got[VG_PSEUDO_LEN], want[VG_PSEUDO_LEN], cust[200];
    vg_pseudo_t *p = vg_pseudo_new("0123456789abcdef", 16, err, sizeof(err));
    vg_pseudo_memo_t *m = vg_pseudo_memo_new();

    cr_assert_not_null(p, "%s", err);
    cr_assert_not_null(m);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < VG_PSEUDO_MEMO_SLOTS + 5000; i += 7) {
            snprintf(cust, sizeof(cust), "customer-%d", i);
            vg_pseudo_id_memo(p, m, i % 3 ? "acme" : "", cust, got);
            vg_pseudo_id(p, i % 3 ? "acme" : "", cust, want);
            cr_assert_str_eq(got, want, "round %d, customer %d", round, i);
        }
    }
    vg_pseudo_id_memo(p, m, "ab", "c", got);
    vg_pseudo_id_memo(p, m, "a", "bc", want);
    cr_expect_str_neq(got, want);
    vg_pseudo_id(p, "a", "bc", got);
    cr_expect_str_eq(got, want);
    memset(cust, 'x', sizeof(cust) - 1);
    cust[sizeof(cust) - 1] = '\0';
    for (int round = 0; round < 2; round++) {
        vg_pseudo_id_memo(p, m, "acme", cust, got);
        vg_pseudo_id(p, "acme", cust, want);
        cr_expect_str_eq(got, want, "a pair longer than a slot");
    }
    vg_pseudo_id_memo(p, NULL, "acme", "customer-1", got);
    vg_pseudo_id(p, "acme", "customer-1", want);
    cr_expect_str_eq(got, want, "no memo");
    vg_pseudo_memo_destroy(m);
    vg_pseudo_destroy(p);
}
