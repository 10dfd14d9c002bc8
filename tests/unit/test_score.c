/*
 * The scoring engine under the default model (workers/models/default.yaml),
 * table-driven. Every expected number is computed by hand from the model:
 *
 *   z = -4 + 1.5*L(payment) + 1.5*L(login) + 1.2*L(order)
 *       + 1.6*[emotion while a problem is open] + 2.2*[detractor survey]
 *       + 3.2*[channel hopping completed] + 4.2*[checkout abandoned]
 *       + 1.0*churn + 0.4*[gold or platinum]
 *   L = ladder level: 1 coincidence, 2 pattern, 3 trend
 *   p = 1 / (1 + exp(-z))
 *   priority = p * tier weight (bronze 1, silver 1.2, gold 1.5)
 *                * revenue weight (1 when unset) * context weight
 *   context weights: escalate 1.3, callback 1.2, fix 1.0, status 0.8,
 *   retention 1.0
 */
#include <criterion/criterion.h>
#include <math.h>

#include "vg_score.h"
#include "vg_step.h"
#include "vg_test_events.h"

#define WEB VIGIL__V1__CHANNEL__CHANNEL_WEB
#define CHAT VIGIL__V1__CHANNEL__CHANNEL_CHAT
#define PHONE VIGIL__V1__CHANNEL__CHANNEL_PHONE
#define PENDING VIGIL__V1__OUTCOME__OUTCOME_PENDING

typedef struct step_s {
    double at_min;
    const char *type;
    Vigil__V1__Outcome outcome;
    Vigil__V1__Signal signal;
    const char *consent;
    Vigil__V1__ValueTier tier;
    double churn;
    Vigil__V1__Channel channel; /* 0: web */
} step_t;

typedef struct case_s {
    const char *name;
    step_t steps[6];
    int n;
    /* after the last step */
    double z;
    uint32_t level;
    bool fire;
    const char *intervention; /* the winner, or the first eligible; NULL if none */
    const char *suppressed;   /* or NULL */
    const char *top_reason;   /* or NULL: no reason at all */
    double priority;          /* when fire */
    Vigil__V1__Channel channel; /* when fire */
    const char *also;         /* another intervention ... */
    vg_verdict_t also_verdict; /* ... and its verdict */
} case_t;

static double sig(double z) {
    return 1.0 / (1.0 + exp(-z));
}

#define PAYF(t, c, tier, ch) {t, "payment", FAIL, NOSIG, c, tier, ch, 0}

static const case_t cases[] = {
    {"one payment failure is a coincidence: nothing eligible",
     {PAYF(0, "service", SILVER, 0.2)}, 1,
     -4 + 1.5 + 0.2, 1, false, NULL, NULL, "payment_failure_coincidence", 0, 0, NULL, 0},
    {"two payment failures are a pattern: status update below its threshold",
     {PAYF(0, "service", SILVER, 0.2), PAYF(5, "service", SILVER, 0.2)}, 2,
     -4 + 3.0 + 0.2, 2, false, "status_update", "below_threshold", "payment_failure_pattern", 0,
     0, "status_update", VG_V_BELOW_THRESHOLD},
    {"three payment failures are a trend: callback by phone wins over status update",
     {PAYF(0, "service", SILVER, 0.2), PAYF(5, "service", SILVER, 0.2),
      PAYF(9, "service", SILVER, 0.2)}, 3,
     -4 + 4.5 + 0.2, 3, true, "proactive_callback", NULL, "payment_failure_trend",
     0.0 /* 1.2*1.2*p(0.7), below */, PHONE, "status_update", VG_V_LOWER_PRIORITY},
    {"failures outside the 30 min window do not add up",
     {PAYF(0, "service", SILVER, 0.2), PAYF(31, "service", SILVER, 0.2),
      PAYF(62, "service", SILVER, 0.2)}, 3,
     -4 + 1.5 + 0.2, 1, false, NULL, NULL, "payment_failure_coincidence", 0, 0, NULL, 0},
    {"different kinds each count on their own ladder",
     {PAYF(0, "service", SILVER, 0.2), {1, "login", FAIL, NOSIG, "service", SILVER, 0.2, 0},
      {2, "order", FAIL, NOSIG, "service", SILVER, 0.2, 0}}, 3,
     -4 + 1.5 + 1.5 + 1.2 + 0.2, 1, false, NULL, NULL, "payment_failure_coincidence", 0, 0, NULL,
     0},
    {"login pattern plus frustration escalates to a senior agent",
     {{0, "login", FAIL, NOSIG, "service", GOLD, 0.5, 0},
      {3, "login", FAIL, NOSIG, "service", GOLD, 0.5, 0},
      {4, "chat", OK_, FRUST, "service", GOLD, 0.5, CHAT}}, 3,
     -4 + 3.0 + 1.6 + 0.5 + 0.4, 2, true, "escalate_to_senior_agent", NULL,
     "login_failure_pattern", 0.0 /* 1.5*1.3*p(1.5) */, CHAT, NULL, 0},
    {"frustration with no open problem is not a reason",
     {{0, "chat", OK_, FRUST, "service", BRONZE, 0.0, CHAT}}, 1,
     -4, 0, false, NULL, NULL, NULL, 0, 0, NULL, 0},
    {"trend without consent is suppressed for every eligible intervention",
     {PAYF(0, NULL, BRONZE, 0.0), PAYF(1, NULL, BRONZE, 0.0), PAYF(2, NULL, BRONZE, 0.0)}, 3,
     -4 + 4.5, 3, false, "proactive_callback", "no_consent", "payment_failure_trend", 0, 0,
     "status_update", VG_V_NO_CONSENT},
    {"inside the callback's cooldown, the next eligible intervention fires",
     {PAYF(0, "service", BRONZE, 0.0), PAYF(1, "service", BRONZE, 0.0),
      PAYF(2, "service", BRONZE, 0.0), PAYF(3, "service", BRONZE, 0.0)}, 4,
     -4 + 4.5, 3, true, "status_update", NULL, "payment_failure_trend",
     0.0 /* 0.8*p(0.5) */, WEB, "proactive_callback", VG_V_COOLDOWN},
    {"after the cooldown the trend fires the callback again",
     {PAYF(0, "service", BRONZE, 0.0), PAYF(1, "service", BRONZE, 0.0),
      PAYF(2, "service", BRONZE, 0.0), PAYF(63, "service", BRONZE, 0.0),
      PAYF(64, "service", BRONZE, 0.0), PAYF(65, "service", BRONZE, 0.0)}, 6,
     -4 + 4.5, 3, true, "proactive_callback", NULL, "payment_failure_trend",
     0.0 /* 1.2*p(0.5) */, PHONE, NULL, 0},
    {"detractor answer with marketing consent: retention offer on the event's channel",
     {PAYF(0, "marketing", BRONZE, 0.0), PAYF(2, "marketing", BRONZE, 0.0),
      {3, "survey", OK_, DETRACT, "marketing", BRONZE, 0.0, 0}}, 3,
     -4 + 3.0 + 2.2, 2, true, "retention_offer", NULL, "payment_failure_pattern",
     0.0 /* 1.0*p(1.2) */, WEB, NULL, 0},
    {"a detractor answer alone stays below the retention threshold",
     {{0, "survey", OK_, DETRACT, "service", BRONZE, 0.0, 0}}, 1,
     -4 + 2.2, 0, false, "retention_offer", "below_threshold", "detractor_survey", 0, 0,
     "retention_offer", VG_V_BELOW_THRESHOLD},
    {"a success event never decides, even during a trend",
     {PAYF(0, NULL, BRONZE, 0.9), PAYF(1, NULL, BRONZE, 0.9), PAYF(2, NULL, BRONZE, 0.9),
      {3, "browse", OK_, NOSIG, "service", BRONZE, 0.9, 0}}, 4,
     -4 + 4.5 + 0.9, 3, false, NULL, NULL, "payment_failure_trend", 0, 0, NULL, 0},
    {"web, then chat, then phone inside 30 minutes is channel hopping",
     {{0, "browse", OK_, NOSIG, "service", GOLD, 0.9, WEB},
      {5, "support", OK_, NOSIG, "service", GOLD, 0.9, CHAT},
      {10, "support", OK_, NOSIG, "service", GOLD, 0.9, PHONE}}, 3,
     -4 + 3.2 + 0.9 + 0.4, 0, true, "proactive_callback", NULL, "channel_hopping",
     0.0 /* 1.5*1.2*p(0.5) */, PHONE, NULL, 0},
    {"channel hopping too slow is not channel hopping",
     {{0, "browse", OK_, NOSIG, "service", GOLD, 0.9, WEB},
      {20, "support", OK_, NOSIG, "service", GOLD, 0.9, CHAT},
      {35, "support", OK_, NOSIG, "service", GOLD, 0.9, PHONE}}, 3,
     -4 + 0.9 + 0.4, 0, false, NULL, NULL, "churn_risk", 0, 0, NULL, 0},
    {"an out-of-order failure inside the lateness still counts",
     {PAYF(10, "service", BRONZE, 0.0), PAYF(11, "service", BRONZE, 0.0),
      PAYF(9.5, "service", BRONZE, 0.0)}, 3,
     -4 + 4.5, 3, true, "proactive_callback", NULL, "payment_failure_trend", 0.0 /* 1.2*p(.5) */,
     PHONE, NULL, 0},
    {"a failure later than the lateness is not counted and decides nothing",
     {PAYF(10, "service", BRONZE, 0.0), PAYF(11, "service", BRONZE, 0.0),
      PAYF(5, "service", BRONZE, 0.0)}, 3,
     -4 + 3.0, 2, false, NULL, NULL, "payment_failure_pattern", 0, 0, NULL, 0},
};

/* The priorities, by hand: p(z) * tier * revenue * context. */
static double expected_priority(size_t c) {
    switch (c) {
    case 2: return sig(0.7) * 1.2 * 1.2;
    case 5: return sig(1.5) * 1.5 * 1.3;
    case 8: return sig(0.5) * 1.0 * 0.8;
    case 9: return sig(0.5) * 1.0 * 1.2;
    case 10: return sig(1.2) * 1.0 * 1.0;
    case 13: return sig(0.5) * 1.5 * 1.2;
    case 15: return sig(0.5) * 1.0 * 1.2;
    default: return 0.0;
    }
}

static int iv_index(const vg_model_t *m, const char *name) {
    for (uint32_t i = 0; i < m->n_interventions; i++)
        if (strcmp(m->interventions[i].name, name) == 0)
            return (int)i;
    return -1;
}

Test(score, table) {
    vg_model_t *m = malloc(sizeof(*m));

    vg_model_default(m);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const case_t *k = &cases[c];
        vg_state_t *st = malloc(sizeof(*st));
        vg_step_result_t *r = malloc(sizeof(*r));
        vg_step_ctx_t ctx = {"w", "events", "triggers", 0, 0, 0};

        vg_state_init(st);
        for (int i = 0; i < k->n; i++) {
            vg_tev_t t;
            const step_t *s = &k->steps[i];
            Vigil__V1__InteractionEvent *ev =
                vg_tev(&t, i, s->at_min, s->type, s->outcome, s->signal, s->consent, s->tier,
                       s->churn);
            if (s->channel)
                ev->channel = s->channel;
            ctx.offset = i;
            cr_assert_eq(vg_step_apply(st, ev, m, &ctx, r), VG_OK, "%s", k->name);
        }
        cr_expect(fabs(r->score.z - k->z) < 1e-9, "%s: z %.12f want %.12f", k->name, r->score.z,
                  k->z);
        cr_expect(fabs(r->score.propensity - sig(k->z)) < 1e-9, "%s: p", k->name);
        cr_expect_eq(r->score.level, k->level, "%s: level %u want %u", k->name, r->score.level,
                     k->level);
        cr_expect_eq(r->fired, k->fire, "%s: fired %d", k->name, r->fired);
        if (k->intervention)
            cr_expect(r->score.intervention && strcmp(r->score.intervention, k->intervention) == 0,
                      "%s: intervention %s", k->name, r->score.intervention);
        else
            cr_expect_null(r->score.intervention, "%s: %s", k->name, r->score.intervention);
        if (k->suppressed)
            cr_expect(r->score.suppressed && strcmp(r->score.suppressed, k->suppressed) == 0,
                      "%s: suppressed %s", k->name, r->score.suppressed);
        else
            cr_expect_null(r->score.suppressed, "%s: %s", k->name, r->score.suppressed);
        vg_score_describe(&r->score, st, m);
        if (k->top_reason) {
            cr_assert_gt(r->score.n_reasons, 0, "%s", k->name);
            cr_expect_str_eq(r->score.reasons[0].code, k->top_reason, "%s", k->name);
        } else {
            cr_expect_eq(r->score.n_reasons, 0, "%s: %u reasons", k->name, r->score.n_reasons);
        }
        if (k->fire) {
            double want = expected_priority(c);
            cr_expect(want > 0.0, "%s: table has no priority", k->name);
            cr_expect(fabs(r->score.priority_score - want) < 1e-9,
                      "%s: priority %.12f want %.12f", k->name, r->score.priority_score, want);
            cr_expect_eq(r->score.channel, (int32_t)k->channel, "%s: channel %d", k->name,
                         r->score.channel);
        }
        if (k->also) {
            int i = iv_index(m, k->also);
            cr_assert_geq(i, 0, "%s", k->name);
            cr_expect_eq(r->score.verdicts[i], k->also_verdict, "%s: %s is %s", k->name, k->also,
                         vg_verdict_str(r->score.verdicts[i]));
        }
        free(st);
        free(r);
    }
    free(m);
}

/* Reasons are sorted by contribution, most first, and sum with the bias
 * to z. */
Test(score, reasons_sorted_and_sum_to_z) {
    vg_model_t *m = malloc(sizeof(*m));
    vg_state_t *st = malloc(sizeof(*st));
    vg_step_result_t *r = malloc(sizeof(*r));
    vg_step_ctx_t ctx = {"w", "events", "triggers", 0, 0, 0};
    vg_tev_t t;
    double sum;

    vg_model_default(m);
    vg_state_init(st);
    for (int i = 0; i < 3; i++) {
        ctx.offset = i;
        vg_step_apply(st,
                      vg_tev(&t, i, i, "payment", FAIL, i == 2 ? FRUST : NOSIG, "service", GOLD, 0.7),
                      m, &ctx, r);
    }
    cr_assert(r->fired);
    sum = m->bias;
    for (uint32_t i = 0; i < r->score.n_reasons; i++) {
        sum += r->score.reasons[i].contribution;
        if (i)
            cr_expect_geq(r->score.reasons[i - 1].contribution, r->score.reasons[i].contribution);
    }
    cr_expect(fabs(sum - r->score.z) < 1e-9, "reasons sum %.12f, z %.12f", sum, r->score.z);
    free(m);
    free(st);
    free(r);
}

/* A stale event (reached Kafka long after it happened) never fires. */
Test(score, stale_event_never_fires) {
    vg_model_t *m = malloc(sizeof(*m));
    vg_state_t *st = malloc(sizeof(*st));
    vg_step_result_t *r = malloc(sizeof(*r));
    vg_step_ctx_t ctx = {"w", "events", "triggers", 0, 0, 0};
    vg_tev_t t;

    vg_model_default(m);
    vg_state_init(st);
    for (int i = 0; i < 3; i++) {
        ctx.offset = i;
        /* stale_after: callback 15m, status update 30m; the record is 31 min late */
        ctx.record_ms = VG_T0 + (int64_t)(i + 31) * VG_MIN;
        vg_step_apply(st, vg_tev(&t, i, i, "payment", FAIL, NOSIG, "service", BRONZE, 0.0), m,
                      &ctx, r);
    }
    cr_expect_not(r->fired);
    cr_expect_eq(r->score.verdicts[iv_index(m, "proactive_callback")], VG_V_STALE);
    cr_expect_eq(r->score.verdicts[iv_index(m, "status_update")], VG_V_STALE);
    free(m);
    free(st);
    free(r);
}

/* Absence: checkout started, no payment within 10 minutes. */
Test(score, checkout_abandoned_fires_at_the_deadline) {
    vg_model_t *m = malloc(sizeof(*m));
    vg_state_t *st = malloc(sizeof(*st));
    vg_step_result_t *r = malloc(sizeof(*r));
    vg_step_ctx_t ctx = {"w", "events", "triggers", 0, 0, 0};
    vg_tev_t t;
    char id[33];

    vg_model_default(m);
    vg_state_init(st);
    cr_assert_eq(vg_step_apply(st, vg_tev(&t, 0, 0, "checkout", PENDING, NOSIG, "marketing",
                                          BRONZE, 0.0),
                               m, &ctx, r),
                 VG_OK);
    cr_expect_not(r->fired);
    cr_expect_eq(vg_state_next_due(st), VG_T0 + 10 * VG_MIN);
    ctx.offset = 1;
    cr_assert_eq(vg_step_expire(st, "acme", "c1", VG_T0 + 10 * VG_MIN - 1, m, &ctx, r), VG_OK);
    cr_expect_not(r->fired, "not before its due time");
    cr_assert_eq(vg_step_expire(st, "acme", "c1", VG_T0 + 10 * VG_MIN, m, &ctx, r), VG_OK);
    cr_assert(r->fired, "at its due time");
    cr_expect_str_eq(r->score.intervention, "retention_offer");
    cr_expect(fabs(r->score.z - (-4 + 4.2)) < 1e-9, "z %.12f", r->score.z);
    cr_expect(fabs(r->score.priority_score - sig(0.2)) < 1e-9);
    cr_expect_str_eq(r->score.reasons[0].code, "checkout_abandoned");
    vg_step_trigger_id("acme", "c1", "retention_offer", "absence:checkout_abandoned:ev-0", id);
    cr_expect_str_eq(r->trigger_id, id, "the trigger id names the deadline's cause");
    cr_expect_eq(vg_state_next_due(st), 0, "nothing pending");
    /* The decision sits in the ring at the firing record's offset, with
     * its deadline, for a replay of that offset; nothing fires twice. */
    {
        const vg_state_decision_t *d[4];
        cr_assert_eq(vg_step_timer_replays(st, 0, 0, 1, d, 4), 1);
        cr_expect_eq(d[0]->offset, 1);
        cr_expect_eq(d[0]->due_ms, VG_T0 + 10 * VG_MIN);
        cr_expect_eq(d[0]->len, r->len);
        cr_expect_eq(memcmp(d[0]->trigger, r->trigger, r->len), 0);
        cr_expect_eq(vg_step_timer_replays(st, 0, 2, 9, d, 4), 0, "not outside the range");
        cr_expect_eq(vg_state_index_due(st), VG_T0 + 10 * VG_MIN,
                     "indexed until committed, so a replay finds it");
        ctx.offset = 2;
        cr_assert_eq(vg_step_expire(st, "acme", "c1", VG_T0 + 11 * VG_MIN, m, &ctx, r), VG_OK);
        cr_expect_not(r->fired, "fires once");
        vg_state_trim_decisions(st, 0, 2);
        cr_expect_eq(vg_state_index_due(st), 0, "committed: out of the index");
    }
    free(m);
    free(st);
    free(r);
}

Test(score, checkout_completed_cancels_the_deadline) {
    vg_model_t *m = malloc(sizeof(*m));
    vg_state_t *st = malloc(sizeof(*st));
    vg_step_result_t *r = malloc(sizeof(*r));
    vg_step_ctx_t ctx = {"w", "events", "triggers", 0, 0, 0};
    vg_tev_t t;

    vg_model_default(m);
    vg_state_init(st);
    vg_step_apply(st, vg_tev(&t, 0, 0, "checkout", PENDING, NOSIG, "marketing", BRONZE, 0.0), m,
                  &ctx, r);
    ctx.offset = 1;
    vg_step_apply(st, vg_tev(&t, 1, 4, "payment", OK_, NOSIG, "marketing", BRONZE, 0.0), m, &ctx,
                  r);
    cr_expect_eq(vg_state_next_due(st), 0);
    ctx.offset = 2;
    cr_assert_eq(vg_step_expire(st, "acme", "c1", VG_T0 + 60 * VG_MIN, m, &ctx, r), VG_OK);
    cr_expect_not(r->fired);
    free(m);
    free(st);
    free(r);
}

/* Property: adding a trouble signal never lowers the propensity. */
Test(score, monotone_in_trouble) {
    vg_model_t *m = malloc(sizeof(*m));
    vg_state_t *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    vg_step_result_t *ra = malloc(sizeof(*ra)), *rb = malloc(sizeof(*rb));
    unsigned seed = 7;

    vg_model_default(m);
    for (int trial = 0; trial < 500; trial++) {
        vg_step_ctx_t ctx = {"w", "e", "t", 0, 0, 0};
        vg_tev_t t;
        int n = 1 + rand_r(&seed) % 5;
        double at = 0;
        const Vigil__V1__Signal sigs[] = {FRUST, VIGIL__V1__SIGNAL__SIGNAL_ANGER,
                                          VIGIL__V1__SIGNAL__SIGNAL_CONFUSION, DETRACT};
        const char *types[] = {"payment", "login", "order", "survey"};

        vg_state_init(a);
        for (int i = 0; i < n; i++) {
            const char *type = types[rand_r(&seed) % 3];
            at += (rand_r(&seed) % 20);
            ctx.offset = i;
            vg_step_apply(a, vg_tev(&t, i, at, type, (rand_r(&seed) % 2) ? FAIL : OK_, NOSIG,
                                    "service", BRONZE, 0.3),
                          m, &ctx, ra);
        }
        *b = *a;
        /* Same next event, once neutral and once with a detected signal or
         * a failure. */
        {
            const char *type = types[rand_r(&seed) % 4];
            Vigil__V1__Signal s = sigs[rand_r(&seed) % 4];
            bool fail = rand_r(&seed) % 2;
            ctx.offset = n;
            vg_step_apply(a, vg_tev(&t, n, at + 1, type, OK_, NOSIG, "service", BRONZE, 0.3), m,
                          &ctx, ra);
            vg_step_apply(b, vg_tev(&t, n, at + 1, type, fail ? FAIL : OK_, s, "service", BRONZE,
                                    0.3),
                          m, &ctx, rb);
        }
        cr_assert_geq(rb->score.propensity, ra->score.propensity, "trial %d", trial);
    }
    free(m);
    free(a);
    free(b);
    free(ra);
    free(rb);
}

/* Property: a cooldown never lets two triggers of the same intervention
 * through inside its window; a customer without the purpose's consent
 * never gets the intervention. Random traffic, many customers. */
Test(score, cooldown_and_consent_hold_on_random_traffic) {
    vg_model_t *m = malloc(sizeof(*m));
    vg_state_t *st = malloc(sizeof(*st));
    vg_step_result_t *r = malloc(sizeof(*r));
    unsigned seed = 11;
    uint64_t fires = 0;

    vg_model_default(m);
    for (int cust = 0; cust < 300; cust++) {
        int64_t last[VG_MODEL_MAX_INTERVENTIONS];
        vg_step_ctx_t ctx = {"w", "e", "t", 0, 0, 0};
        double at = 0;
        const char *consent = (cust % 3 == 0) ? NULL : (cust % 3 == 1) ? "service" : "marketing";

        for (int i = 0; i < VG_MODEL_MAX_INTERVENTIONS; i++)
            last[i] = INT64_MIN / 2;
        vg_state_init(st);
        for (int i = 0; i < 60; i++) {
            vg_tev_t t;
            const char *types[] = {"payment", "login", "order", "survey", "chat", "checkout"};
            Vigil__V1__InteractionEvent *ev;
            at += rand_r(&seed) % 7;
            ev = vg_tev(&t, i, at, types[rand_r(&seed) % 6], (rand_r(&seed) % 3) ? FAIL : OK_,
                        (rand_r(&seed) % 4) ? NOSIG : (rand_r(&seed) % 2 ? FRUST : DETRACT),
                        consent, GOLD, 0.8);
            ev->channel = (Vigil__V1__Channel)(1 + rand_r(&seed) % 4);
            ctx.offset = i;
            cr_assert_eq(vg_step_apply(st, ev, m, &ctx, r), VG_OK);
            if (!r->fired)
                continue;
            fires++;
            {
                int iv = r->score.winner;
                const vg_model_intervention_t *mi = &m->interventions[iv];
                int64_t now = r->score.now_ms;
                cr_assert(consent && strcmp(consent, mi->purpose) == 0,
                          "customer %d got %s (purpose %s) with consent %s", cust, mi->name,
                          mi->purpose, consent ? consent : "none");
                cr_assert_geq(now - last[iv], mi->cooldown_ms, "customer %d: %s twice in %lld ms",
                              cust, mi->name, (long long)(now - last[iv]));
                last[iv] = now;
            }
        }
    }
    cr_expect_gt(fires, 20, "the traffic must fire something to prove anything (%llu)",
                 (unsigned long long)fires);
    free(m);
    free(st);
    free(r);
}
