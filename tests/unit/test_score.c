/*
 * Scoring of the first rule set, table-driven. Every expected number is
 * computed by hand from the model (vg_model_default):
 *   z = -4 + 1.5*level + 1.6*[emotion with open problem]
 *       + 2.2*[detractor] + 1.0*churn + 0.4*[gold or platinum]
 *   p = 1 / (1 + exp(-z)); priority = p * tier weight (bronze 1, silver
 *   1.2, gold 1.5) * revenue weight (1 when unset).
 */
#include <criterion/criterion.h>
#include <math.h>

#include "vg_score.h"
#include "vg_step.h"
#include "vg_test_events.h"

typedef struct step_s {
    double at_min;
    const char *type;
    Vigil__V1__Outcome outcome;
    Vigil__V1__Signal signal;
    const char *consent;
    Vigil__V1__ValueTier tier;
    double churn;
} step_t;

typedef struct case_s {
    const char *name;
    step_t steps[6];
    int n;
    /* after the last step */
    double z;
    uint32_t level;
    bool fire;
    const char *intervention; /* or NULL */
    const char *suppressed;   /* or NULL */
    const char *top_reason;
    double priority;
} case_t;

static const case_t cases[] = {
    {"one payment failure is a coincidence: no trigger",
     {{0, "payment", FAIL, NOSIG, "service", SILVER, 0.2}}, 1,
     -4 + 1.5 + 0.2, 1, false, NULL, NULL, "payment_failure_coincidence", 0},
    {"two payment failures are a pattern: below threshold",
     {{0, "payment", FAIL, NOSIG, "service", SILVER, 0.2},
      {5, "payment", FAIL, NOSIG, "service", SILVER, 0.2}}, 2,
     -4 + 3.0 + 0.2, 2, false, NULL, NULL, "payment_failure_pattern", 0},
    {"three payment failures are a trend: proactive callback",
     {{0, "payment", FAIL, NOSIG, "service", SILVER, 0.2},
      {5, "payment", FAIL, NOSIG, "service", SILVER, 0.2},
      {9, "payment", FAIL, NOSIG, "service", SILVER, 0.2}}, 3,
     -4 + 4.5 + 0.2, 3, true, "proactive_callback", NULL, "payment_failure_trend",
     1.2 / (1 + 0.49658530379140947) /* exp(-0.7) */},
    {"failures outside the 30 min window do not add up",
     {{0, "payment", FAIL, NOSIG, "service", SILVER, 0.2},
      {31, "payment", FAIL, NOSIG, "service", SILVER, 0.2},
      {62, "payment", FAIL, NOSIG, "service", SILVER, 0.2}}, 3,
     -4 + 1.5 + 0.2, 1, false, NULL, NULL, "payment_failure_coincidence", 0},
    {"different kinds do not add up",
     {{0, "payment", FAIL, NOSIG, "service", SILVER, 0.2},
      {1, "login", FAIL, NOSIG, "service", SILVER, 0.2},
      {2, "order", FAIL, NOSIG, "service", SILVER, 0.2}}, 3,
     -4 + 1.5 + 0.2, 1, false, NULL, NULL, NULL, 0},
    {"pattern plus frustration escalates to a senior agent",
     {{0, "login", FAIL, NOSIG, "service", GOLD, 0.5},
      {3, "login", FAIL, NOSIG, "service", GOLD, 0.5},
      {4, "chat", OK_, FRUST, "service", GOLD, 0.5}}, 3,
     -4 + 3.0 + 1.6 + 0.5 + 0.4, 2, true, "escalate_to_senior_agent", NULL,
     "login_failure_pattern", 1.5 / (1 + 0.22313016014842982) /* exp(-1.5) */},
    {"trend without consent is suppressed",
     {{0, "payment", FAIL, NOSIG, NULL, BRONZE, 0.0},
      {1, "payment", FAIL, NOSIG, NULL, BRONZE, 0.0},
      {2, "payment", FAIL, NOSIG, NULL, BRONZE, 0.0}}, 3,
     -4 + 4.5, 3, false, "proactive_callback", "no_consent", "payment_failure_trend", 0},
    {"a fourth failure inside the cooldown is suppressed",
     {{0, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {1, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {2, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {3, "payment", FAIL, NOSIG, "service", BRONZE, 0.0}}, 4,
     -4 + 4.5, 3, false, "proactive_callback", "cooldown", "payment_failure_trend", 0},
    {"after the cooldown the trend fires again",
     {{0, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {1, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {2, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {63, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {64, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {65, "payment", FAIL, NOSIG, "service", BRONZE, 0.0}}, 6,
     -4 + 4.5, 3, true, "proactive_callback", NULL, "payment_failure_trend",
     1.0 / (1 + 0.60653065971263342) /* exp(-0.5) */},
    {"detractor with a payment pattern fires the route intervention",
     {{0, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {2, "payment", FAIL, NOSIG, "service", BRONZE, 0.0},
      {3, "survey", OK_, DETRACT, "service", BRONZE, 0.0}}, 3,
     -4 + 3.0 + 2.2, 2, true, "proactive_callback", NULL, "payment_failure_pattern",
     1.0 / (1 + 0.30119421191220214) /* exp(-1.2) */},
    {"a success event never decides, even during a trend",
     {{0, "payment", FAIL, NOSIG, NULL, BRONZE, 0.9},
      {1, "payment", FAIL, NOSIG, NULL, BRONZE, 0.9},
      {2, "payment", FAIL, NOSIG, NULL, BRONZE, 0.9},
      {3, "browse", OK_, NOSIG, "service", BRONZE, 0.9}}, 4,
     -4 + 4.5 + 0.9, 3, false, NULL, NULL, "payment_failure_trend", 0},
};

Test(score, table) {
    vg_model_t m;

    vg_model_default(&m);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const case_t *k = &cases[c];
        vg_state_t *st = malloc(sizeof(*st));
        vg_step_result_t *r = malloc(sizeof(*r));
        vg_step_ctx_t ctx = {"w", "events", "triggers", 0, 0};

        vg_state_init(st);
        for (int i = 0; i < k->n; i++) {
            vg_tev_t t;
            const step_t *s = &k->steps[i];
            Vigil__V1__InteractionEvent *ev =
                vg_tev(&t, i, s->at_min, s->type, s->outcome, s->signal, s->consent, s->tier,
                       s->churn);
            ctx.offset = i;
            cr_assert_eq(vg_step_apply(st, ev, &m, &ctx, r), VG_OK, "%s", k->name);
        }
        cr_expect(fabs(r->score.z - k->z) < 1e-9, "%s: z %.12f want %.12f", k->name, r->score.z,
                  k->z);
        cr_expect(fabs(r->score.propensity - 1.0 / (1.0 + exp(-k->z))) < 1e-9, "%s: p", k->name);
        cr_expect_eq(r->score.level, k->level, "%s: level %u want %u", k->name, r->score.level,
                     k->level);
        cr_expect_eq(r->fired, k->fire, "%s: fired %d", k->name, r->fired);
        if (k->intervention)
            cr_expect_str_eq(r->score.intervention, k->intervention, "%s", k->name);
        else
            cr_expect_null(r->score.intervention, "%s: %s", k->name, r->score.intervention);
        if (k->suppressed)
            cr_expect_str_eq(r->score.suppressed, k->suppressed, "%s", k->name);
        else
            cr_expect_null(r->score.suppressed, "%s", k->name);
        if (k->top_reason) {
            cr_assert_gt(r->score.n_reasons, 0, "%s", k->name);
            cr_expect_str_eq(r->score.reasons[0].code, k->top_reason, "%s", k->name);
        }
        if (k->fire)
            cr_expect(fabs(r->score.priority_score - k->priority) < 1e-9,
                      "%s: priority %.12f want %.12f", k->name, r->score.priority_score,
                      k->priority);
        free(st);
        free(r);
    }
}

/* Reasons are sorted by contribution, most first. */
Test(score, reasons_sorted) {
    vg_model_t m;
    vg_state_t *st = malloc(sizeof(*st));
    vg_step_result_t *r = malloc(sizeof(*r));
    vg_step_ctx_t ctx = {"w", "events", "triggers", 0, 0};
    vg_tev_t t;

    vg_model_default(&m);
    vg_state_init(st);
    for (int i = 0; i < 3; i++) {
        ctx.offset = i;
        vg_step_apply(st, vg_tev(&t, i, i, "payment", FAIL, i == 2 ? FRUST : NOSIG, "service", GOLD, 0.7),
                      &m, &ctx, r);
    }
    cr_assert(r->fired);
    for (uint32_t i = 1; i < r->score.n_reasons; i++)
        cr_expect_geq(r->score.reasons[i - 1].contribution, r->score.reasons[i].contribution);
    free(st);
    free(r);
}

/* Property: adding a trouble signal never lowers the propensity. */
Test(score, monotone_in_trouble) {
    vg_model_t m;
    vg_state_t *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    vg_step_result_t *ra = malloc(sizeof(*ra)), *rb = malloc(sizeof(*rb));
    unsigned seed = 7;

    vg_model_default(&m);
    for (int trial = 0; trial < 500; trial++) {
        vg_step_ctx_t ctx = {"w", "e", "t", 0, 0};
        vg_tev_t t;
        int n = 1 + rand_r(&seed) % 5;
        double at = 0;

        vg_state_init(a);
        vg_state_init(b);
        for (int i = 0; i < n; i++) {
            const char *types[] = {"payment", "login", "order"};
            const char *type = types[rand_r(&seed) % 3];
            at += (rand_r(&seed) % 20);
            ctx.offset = i;
            vg_step_apply(a, vg_tev(&t, i, at, type, (rand_r(&seed) % 2) ? FAIL : OK_, NOSIG,
                                    "service", BRONZE, 0.3),
                          &m, &ctx, ra);
            *b = *a;
        }
        /* Same next event, once neutral and once with frustration. */
        ctx.offset = n;
        vg_step_apply(a, vg_tev(&t, n, at + 1, "chat", OK_, NOSIG, "service", BRONZE, 0.3), &m,
                      &ctx, ra);
        vg_step_apply(b, vg_tev(&t, n, at + 1, "chat", OK_, FRUST, "service", BRONZE, 0.3), &m,
                      &ctx, rb);
        cr_assert_geq(rb->score.propensity, ra->score.propensity, "trial %d", trial);
    }
    free(a);
    free(b);
    free(ra);
    free(rb);
}
