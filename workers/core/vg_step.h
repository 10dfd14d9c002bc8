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

/* --- one customer's part of a batch ------------------------------------- */

/* One record of a partition in a batch, as vg_step_customer() sees it. */
typedef struct vg_step_record_s {
    const vg_event_t *ev;      /* the decoded event; NULL when dead-lettered */
    const void *payload;       /* its bytes (kept in the state for explain) */
    size_t len;
    int64_t offset;
    int64_t record_ms;         /* its Kafka timestamp (stale cut-off); 0 = unknown */
    int64_t wm;                /* the partition's event-time watermark after it */
    int32_t ref;               /* the caller's own index of the record */
} vg_step_record_t;

/* Every record of one partition in a batch, valid or not, in offset
 * order, and what the lineage names. */
typedef struct vg_step_batch_s {
    const char *topic;
    int32_t partition;
    const vg_step_record_t *recs;
    size_t n;
    const char *worker_id;
    const char *destination;
    /* Decisions of the partition below floor are known committed (DESIGN
     * rule 4) and trimmed; without has_floor, the first record's offset
     * (the batch follows a commit). A transaction that spans batches
     * passes its own start. */
    bool has_floor;
    int64_t floor;
} vg_step_batch_t;

typedef enum vg_step_what_e {
    VG_STEP_TIMER_REPLAY,      /* a deadline decision stored in the ring, re-emitted */
    VG_STEP_DEADLINE,          /* deadlines came due at rec (res says if it fired) */
    VG_STEP_DEADLINE_DROPPED,  /* they could not be decided (err): dropped */
    VG_STEP_EVENT,             /* the customer's record rec (applied, replayed or duplicate) */
    VG_STEP_EVENT_FAILED       /* its decision cannot be encoded (err): dead-letter it */
} vg_step_what_t;

/* Called for every outcome, in order. rec is NULL for a timer replay. A
 * nonzero return stops vg_step_customer(), which returns it. */
typedef vg_err_t(vg_step_sink_t)(void *opaque, vg_step_what_t what, const vg_step_record_t *rec,
                                 const vg_step_result_t *res, vg_err_t err);

/* Apply one customer's records of a batch to st, in the protocol's order
 * (docs/internals.md, "A batch"): the ring is trimmed below the batch
 * (DESIGN rule 4); deadline decisions stored for the batch's offsets are
 * re-emitted; then for each of the customer's records (mine: indexes into
 * b->recs, in order): the deadlines its watermark passed, the record, a
 * deadline it set that is already due; then the deadlines the rest of the
 * batch passed. A deadline fires at the first record whose watermark
 * reaches it, with that record's offset, so a replay, another worker and
 * the oracle fire it at the same place. res is scratch space handed to
 * sink. *changed says whether st must be stored. */
vg_err_t vg_step_customer(vg_state_t *st, const char *tenant, const char *customer_id,
                          const vg_step_batch_t *b, const uint32_t *mine, size_t n_mine,
                          const vg_model_t *m, vg_step_result_t *res, vg_step_sink_t *sink,
                          void *opaque, bool *changed);

/* The deterministic trigger id (docs/triggers.md, byte by byte): the
 * first 16 bytes of SHA-256("vigil.trigger.v1" NUL tenant NUL customer id
 * NUL intervention NUL cause NUL) in lowercase hex, where cause is the
 * deciding event's id, or "absence:<name>:<starting event id>" for a
 * deadline. */
void vg_step_trigger_id(const char *tenant, const char *customer_id, const char *intervention,
                        const char *cause, char out[33]);

#endif
