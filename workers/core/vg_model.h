/*
 * vg_model.h - the declarative scoring model: what analysts write (a YAML
 * file, docs/model.md), loaded and validated into a flat, bounded struct
 * that the pure scoring engine (vg_score) reads without allocating.
 *
 * The parts, each referring to earlier ones by name:
 *   signals        predicates over one event (type, outcome, channel,
 *                  error code, detections, attributes)
 *   windows        count of a signal per customer in a sliding event-time
 *                  window, with the ladder coincidence/pattern/trend
 *   sequences      signals in order within a time ("web, then chat, then
 *                  phone within 30 minutes")
 *   absences       "A not followed by B within T", fired by a deadline
 *   score          logistic propensity = sigmoid(bias + sum of terms)
 *   value          priority = propensity x value weight x context weight
 *   interventions  the catalogue: eligibility, consent purpose, channels,
 *                  threshold, cooldowns, caps, validity, stale cut-off
 */
#ifndef VG_MODEL_H
#define VG_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vg_err.h"

#define VG_MODEL_NAME_MAX 48
#define VG_MODEL_MAX_SIGNALS 32
#define VG_MODEL_MAX_WINDOWS 12
#define VG_MODEL_MAX_SEQUENCES 4
#define VG_MODEL_MAX_SEQ_STEPS 4
#define VG_MODEL_MAX_ABSENCES 4
#define VG_MODEL_MAX_TERMS 24
#define VG_MODEL_MAX_INTERVENTIONS 12
#define VG_MODEL_MAX_ELIGIBLE 6
#define VG_MODEL_MATCH_MAX 4     /* alternatives per matched field */

/* A predicate over one event: every field given must match (AND); a field
 * with several values matches any of them (OR). */
typedef struct vg_match_s {
    uint32_t n_event_types;
    char event_types[VG_MODEL_MATCH_MAX][VG_MODEL_NAME_MAX];
    uint32_t outcome_mask;       /* bit per Outcome value; 0 = any */
    uint32_t channel_mask;       /* bit per Channel value; 0 = any */
    uint32_t detected_mask;      /* bit per Signal value: any present; 0 = no condition */
    uint32_t n_error_codes;
    char error_codes[VG_MODEL_MATCH_MAX][VG_MODEL_NAME_MAX];
    uint32_t n_attrs;            /* attribute key = value, all must hold */
    char attr_keys[2][VG_MODEL_NAME_MAX];
    char attr_vals[2][VG_MODEL_NAME_MAX];
} vg_match_t;

typedef struct vg_model_signal_s {
    char name[VG_MODEL_NAME_MAX];
    vg_match_t match;
} vg_model_signal_t;

typedef struct vg_model_window_s {
    char name[VG_MODEL_NAME_MAX];
    int signal;                  /* index into signals */
    int64_t within_ms;
    uint32_t pattern_at, trend_at;
} vg_model_window_t;

typedef struct vg_model_sequence_s {
    char name[VG_MODEL_NAME_MAX];
    uint32_t n_steps;
    int steps[VG_MODEL_MAX_SEQ_STEPS];
    int64_t within_ms;
} vg_model_sequence_t;

typedef struct vg_model_absence_s {
    char name[VG_MODEL_NAME_MAX];
    int start, expect;           /* signal indexes */
    int64_t within_ms;
} vg_model_absence_t;

typedef enum vg_term_kind_e {
    VG_TERM_LEVEL,       /* ladder level (0..3) of a window */
    VG_TERM_COUNT,       /* count in a window */
    VG_TERM_CHANNELS,    /* distinct channels in a window */
    VG_TERM_SIGNAL,      /* 1 if this event matches the signal */
    VG_TERM_SEQUENCE,    /* 1 if this event completes the sequence */
    VG_TERM_ABSENCE,     /* 1 when the absence's deadline passed */
    VG_TERM_CHURN,       /* churn_risk 0..1 */
    VG_TERM_HIGH_VALUE,  /* 1 if value tier >= gold */
    VG_TERM_TENURE_YEARS /* tenure in years */
} vg_term_kind_t;

typedef struct vg_model_term_s {
    vg_term_kind_t kind;
    int ref;                     /* window, signal, sequence or absence index */
    int64_t open_ms;             /* SIGNAL: only while a window in open_mask has an entry this fresh */
    uint32_t open_mask;          /* bit per window index; 0 = no condition */
    double weight;
    char reason[VG_MODEL_NAME_MAX + 16]; /* reason code; LEVEL appends _coincidence... */
    char detail[96];             /* for an agent */
} vg_model_term_t;

/* One eligibility rule: every part given must hold, and at least one of
 * them must be caused by the event (or deadline) being decided, so a trend
 * fires on the event that made it a trend, not on every later click. */
typedef struct vg_model_elig_s {
    int signal;                  /* this event matches it; -1 = no part */
    uint32_t level_mask;         /* some window here is at min_level or above */
    uint32_t min_level;          /* 1 coincidence, 2 pattern, 3 trend */
    int sequence;                /* this event completes it; -1 = no part */
    int absence;                 /* its deadline passed now; -1 = no part */
} vg_model_elig_t;

typedef struct vg_model_intervention_s {
    char name[VG_MODEL_NAME_MAX];
    char purpose[32];            /* consent purpose needed */
    uint32_t channel_mask;       /* channels it may use; the event's if allowed */
    int32_t default_channel;
    uint32_t n_eligible;         /* any of these makes it eligible */
    vg_model_elig_t eligible[VG_MODEL_MAX_ELIGIBLE];
    double threshold;            /* propensity needed */
    int64_t cooldown_ms;         /* per customer */
    int64_t channel_cooldown_ms; /* per customer and channel */
    uint32_t cap_count;          /* at most cap_count fires ... */
    int64_t cap_window_ms;       /* ... per rolling window (0: no cap) */
    int64_t valid_for_ms;
    int64_t stale_after_ms;      /* record time - event time above this: never fires */
    double context_weight;
    char destination[64];
} vg_model_intervention_t;

typedef struct vg_model_s {
    char id[64];
    char version[32];
    int64_t lateness_ms;         /* events older than newest - lateness are late */
    uint32_t n_signals, n_windows, n_sequences, n_absences, n_terms, n_interventions;
    vg_model_signal_t signals[VG_MODEL_MAX_SIGNALS];
    vg_model_window_t windows[VG_MODEL_MAX_WINDOWS];
    vg_model_sequence_t sequences[VG_MODEL_MAX_SEQUENCES];
    vg_model_absence_t absences[VG_MODEL_MAX_ABSENCES];
    double bias;
    vg_model_term_t terms[VG_MODEL_MAX_TERMS];
    double tier_weight[5];       /* by ValueTier (0 = unspecified) */
    bool use_revenue_weight;
    vg_model_intervention_t interventions[VG_MODEL_MAX_INTERVENTIONS];
} vg_model_t;

/* Parse and validate a model from YAML text. name is used in errors
 * ("name:LINE: ..."). On error m is unspecified. */
vg_err_t vg_model_parse(vg_model_t *m, const char *text, size_t len, const char *name,
                        char *errstr, size_t errstr_size);

/* Load from a file. */
vg_err_t vg_model_load(vg_model_t *m, const char *path, char *errstr, size_t errstr_size);

/* vg_model_load(path), or the default model when path is NULL or empty:
 * what model.file means. */
vg_err_t vg_model_load_or_default(vg_model_t *m, const char *path, char *errstr,
                                  size_t errstr_size);

/* The default model shipped in workers/models/default.yaml (compiled in). */
void vg_model_default(vg_model_t *m);

/* Its YAML text. */
const char *vg_model_default_text(void);

/* How far back in event time a customer's decisions can look: the longest
 * window, sequence, absence, signal freshness, cooldown or cap window, and
 * the lateness allowance. A state rebuilt from the events of this span
 * before a point decides as the full history would from there on. */
int64_t vg_model_horizon_ms(const vg_model_t *m);

/* Print a human summary (vigilctl model check). */
void vg_model_summary(const vg_model_t *m, FILE *out);

/* True if ev matches the predicate. ev is a vg_event_t (opaque here to keep
 * this header free of protobuf). */
bool vg_match_event(const vg_match_t *match, const void *ev);

#endif
