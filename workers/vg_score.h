/*
 * vg_score.h - the scoring model and its decision, pure functions.
 *
 * This is the first rule set of the walking skeleton, expressed as data
 * (vg_model_t) so that the declarative model file of a later issue fills
 * the same structure:
 *
 *   - trouble: an event whose outcome is failure, timeout or abandoned
 *     counts in a per-kind window over event time; the count inside the
 *     window climbs the ladder coincidence (1), pattern (2), trend (3);
 *   - an emotion detection (frustration, anger, confusion) while a problem
 *     is open raises the score;
 *   - propensity = logistic(bias + sum of weighted inputs);
 *   - an intervention fires on a trend or when the propensity reaches the
 *     threshold, if the customer consented to its purpose and it is not in
 *     cooldown; priority = propensity x value x context.
 *
 * No I/O, no clock, no allocation: the same event sequence gives the same
 * decisions in the worker, the oracle, the backtest and the benchmarks.
 */
#ifndef VG_SCORE_H
#define VG_SCORE_H

#include <stdbool.h>
#include <stdint.h>

#include "vg_event.h"
#include "vg_state.h"

#define VG_MODEL_MAX_KINDS 8
#define VG_REASONS_MAX 6

/* Maps a trouble kind (event_type) to the intervention it calls for. */
typedef struct vg_model_route_s {
    char event_type[VG_STATE_NAME_MAX];
    char intervention[VG_STATE_NAME_MAX];
    char reason_prefix[VG_STATE_NAME_MAX];
} vg_model_route_t;

typedef struct vg_model_s {
    char id[64];
    char version[32];
    int64_t window_ms;             /* trouble window over event time */
    uint32_t pattern_at, trend_at; /* ladder thresholds (counts) */
    int64_t signal_window_ms;      /* an emotion counts while a problem is this fresh */
    double bias;                   /* logistic intercept */
    double w_level;                /* per ladder level of the worst trouble */
    double w_emotion;              /* emotion detected with an open problem */
    double w_churn;                /* times churn_risk (0..1) */
    double w_high_value;           /* value tier gold or platinum */
    double w_detractor;            /* detractor survey answer */
    double fire_threshold;         /* propensity that fires without a trend */
    int64_t cooldown_ms;           /* per customer and intervention */
    int64_t valid_for_ms;          /* trigger validity after the event */
    char purpose[32];              /* consent purpose interventions need */
    char emotion_intervention[VG_STATE_NAME_MAX];
    char default_intervention[VG_STATE_NAME_MAX];
    uint32_t n_routes;
    vg_model_route_t routes[VG_MODEL_MAX_KINDS];
} vg_model_t;

/* Fill m with the built-in first rule set. */
void vg_model_default(vg_model_t *m);

typedef struct vg_reason_s {
    char code[VG_STATE_NAME_MAX + 16];
    double contribution;
    char detail[96];           /* for an agent: what was seen */
} vg_reason_t;

/* Everything one scoring computed, for the trigger and for explain. */
typedef struct vg_score_s {
    double z;                      /* logistic input */
    double propensity;             /* 0..1 */
    double value_weight;
    double priority_score;         /* propensity x value x context */
    uint32_t level;                /* worst ladder level among open troubles */
    const vg_state_window_t *worst;/* the trouble window at that level, or NULL */
    bool emotion_open;             /* emotion with an open problem */
    uint32_t n_reasons;
    vg_reason_t reasons[VG_REASONS_MAX]; /* most contributing first */
    /* Decision */
    bool fire;
    const char *intervention;      /* points into the model */
    const char *suppressed;        /* why it did not fire, or NULL */
} vg_score_t;

/* Update st with ev (windows, signals, descriptive data) - the state
 * transition, without the offset bookkeeping of vg_step. */
void vg_score_transition(vg_state_t *st, const vg_event_t *ev, const vg_model_t *m);

/* Score st after ev and decide; st is not modified. */
void vg_score_compute(const vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                      vg_score_t *out);

/* Record that intervention fired at t (cooldown ledger). */
void vg_score_record_fire(vg_state_t *st, const char *intervention, int64_t t);

#endif
