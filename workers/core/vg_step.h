/*
 * vg_step.h - the unit of the delivery protocol (DESIGN.md, "Delivery
 * guarantee"), as pure functions over one customer's state.
 *
 * vg_step_apply(): one event at (partition, offset).
 *   - offset <= last applied offset of its partition: applied before (a
 *     replay after a crash or an aborted transaction). Nothing changes; the
 *     trigger stored for that offset, if any, is handed back byte for byte.
 *   - an event id among the customer's VG_STATE_RECENT_MAX latest: a
 *     duplicate. Only the offset moves on; nothing fires (the first copy's
 *     trigger, same id, was published).
 *   - otherwise: transition, score, decide; a fired trigger is encoded,
 *     recorded in the state's decision ring and handed back.
 *
 * vg_step_expire(): the partition's event-time watermark passed some of
 * the customer's absence deadlines ("checkout started, no payment within
 * 10 minutes"): every absence due at or before the watermark is resolved
 * and scored as one decision, recorded in the ring as a timer decision at
 * ctx->offset (the record whose event time moved the watermark past the
 * deadline).
 *
 * vg_step_timer_replays(): the timer decisions of a partition between two
 * offsets, for a replay of those offsets (they fired before a crash or an
 * aborted transaction and are handed back byte for byte).
 */
#ifndef VG_STEP_H
#define VG_STEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_score.h"

typedef struct vg_step_ctx_s {
    const char *worker_id;     /* lineage */
    const char *source_topic;  /* lineage */
    const char *destination;   /* lineage: where the trigger goes */
    int32_t partition;
    int64_t offset;            /* the event's; for expire, the batch's last on partition */
    int64_t record_ms;         /* the record's Kafka timestamp (stale cut-off); 0 = unknown */
} vg_step_ctx_t;

typedef struct vg_step_result_s {
    bool replayed;             /* handed back a stored decision, or skipped a replay */
    bool fired;                /* a trigger is in trigger[0..len) */
    bool ring_evicted;         /* an uncommitted decision was dropped */
    bool dead;                 /* replay of an event whose decision failed: dead-letter it */
    bool duplicate;            /* an event id applied before: not applied again */
    size_t len;
    uint8_t trigger[VG_TRIGGER_MAX_BYTES];
    char trigger_id[33];
    vg_transition_t tr;        /* valid when !replayed */
    vg_score_t score;          /* valid when !replayed */
} vg_step_result_t;

/* Apply ev at ctx->(partition, offset) to st under model m. */
vg_err_t vg_step_apply(vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                       const vg_step_ctx_t *ctx, vg_step_result_t *out);

/* Resolve absences of (tenant, customer_id) due at or before watermark_ms.
 * out->fired when a trigger is handed back. */
vg_err_t vg_step_expire(vg_state_t *st, const char *tenant, const char *customer_id,
                        int64_t watermark_ms, const vg_model_t *m, const vg_step_ctx_t *ctx,
                        vg_step_result_t *out);

/* Up to max timer decisions of partition with from <= offset <= to, into
 * out (borrowed from st); returns the count. */
size_t vg_step_timer_replays(const vg_state_t *st, int32_t partition, int64_t from, int64_t to,
                             const vg_state_decision_t **out, size_t max);

/* The deterministic trigger id (docs/triggers.md, byte by byte): the
 * first 16 bytes of SHA-256("vigil.trigger.v1" NUL tenant NUL customer id
 * NUL intervention NUL cause NUL) in lowercase hex, where cause is the
 * deciding event's id, or "absence:<name>:<starting event id>" for a
 * deadline. */
void vg_step_trigger_id(const char *tenant, const char *customer_id, const char *intervention,
                        const char *cause, char out[33]);

#endif
