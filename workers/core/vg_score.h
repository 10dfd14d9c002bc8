/*
 * vg_score.h - the scoring engine: runs a declarative model (vg_model.h)
 * over a customer's state, as pure functions.
 *
 *   vg_score_transition()  state' = apply(state, event): windows,
 *                          sequences, absences, consents, descriptive data
 *   vg_score_compute()     propensity, reason codes, and the decision:
 *                          which intervention fires, and why each of the
 *                          others did not
 *
 * No I/O, no clock, no allocation: the same sequence of events gives the
 * same decisions in the worker, the oracle, vigilctl explain and the
 * benchmarks. Time is event time (and, for deadlines, the partition's
 * event-time watermark), never the wall clock.
 */
#ifndef VG_SCORE_H
#define VG_SCORE_H

#include <stdbool.h>
#include <stdint.h>

#include "vg_event.h"
#include "vg_model.h"
#include "vg_state.h"

#define VG_REASONS_MAX 8

/* What one event changed, for the decision that follows it. */
typedef struct vg_transition_s {
    uint32_t window_hit;    /* bit per model window: this event was counted */
    uint32_t seq_done;      /* bit per model sequence: completed by this event */
    uint32_t absence_fired; /* bit per model absence: deadline passed (expire) */
    bool late;              /* older than the model's lateness: not counted */
    /* Which model signals the event matched (bit per signal), for the
     * decision that follows: valid for the signals in signals_known, all
     * of them after vg_score_transition() (unless late). In a zeroed
     * struct none are known, and vg_score_compute() matches them itself. */
    uint32_t signals_known, signals_hit;
} vg_transition_t;

typedef struct vg_reason_s {
    char code[VG_MODEL_NAME_MAX + 32];  /* a term's reason + "_coincidence" etc. */
    double contribution;
    char detail[96];
    int term;                            /* the model term it comes from */
} vg_reason_t;

/* Why an intervention did or did not fire, for explain and metrics. */
typedef enum vg_verdict_e {
    VG_V_NOT_ELIGIBLE = 0,
    VG_V_FIRE,
    VG_V_BELOW_THRESHOLD,
    VG_V_STALE,
    VG_V_NO_CONSENT,
    VG_V_COOLDOWN,
    VG_V_CHANNEL_COOLDOWN,
    VG_V_CAP,
    VG_V_LOWER_PRIORITY,
    VG_V__COUNT
} vg_verdict_t;

const char *vg_verdict_str(vg_verdict_t v);

typedef struct vg_score_s {
    int64_t now_ms;                 /* the decision's time */
    double z, propensity, value_weight;
    uint32_t levels[VG_MODEL_MAX_WINDOWS];
    uint32_t counts[VG_MODEL_MAX_WINDOWS];
    double term_values[VG_MODEL_MAX_TERMS];
    uint32_t level;                 /* worst ladder level */
    const vg_state_window_t *worst; /* its window entries (lineage), or NULL */
    uint32_t n_reasons;
    vg_reason_t reasons[VG_REASONS_MAX]; /* most contributing first */
    vg_verdict_t verdicts[VG_MODEL_MAX_INTERVENTIONS];
    double priorities[VG_MODEL_MAX_INTERVENTIONS];
    /* The decision */
    bool fire;
    int winner;                     /* intervention index, -1 if none */
    const char *intervention;       /* its name (in the model), or NULL */
    int32_t channel;                /* the channel it should use */
    double priority_score;          /* propensity x value x context */
    const char *suppressed;         /* first reason an eligible one did not fire */
} vg_score_t;

/* Apply ev to st (the state transition). tr says what it changed. */
void vg_score_transition(vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                         vg_transition_t *tr);

/* Score st and decide. ev is the deciding event, or NULL for a deadline
 * (then tr->absence_fired says which). now_ms: the decision's event time;
 * record_ms: when the event reached Kafka (stale cut-off; 0 = unknown).
 * st is not modified. */
void vg_score_compute(const vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                      const vg_transition_t *tr, int64_t now_ms, int64_t record_ms,
                      vg_score_t *out);

/* Render the reasons' codes and details (done by vg_score_compute when it
 * fires; call it to read them otherwise, e.g. to explain). */
void vg_score_describe(vg_score_t *s, const vg_state_t *st, const vg_model_t *m);

/* Record that intervention fired on channel at t (cooldowns and caps). */
void vg_score_record_fire(vg_state_t *st, const char *intervention, int32_t channel, int64_t t);

#endif
