/*
 * vg_step.h - apply one event to one customer's state: the unit of the
 * delivery protocol (DESIGN.md, "Delivery guarantee"), as a pure function.
 *
 *   - offset <= last applied offset of its partition: the event was
 *     applied before (a replay after a crash or an aborted transaction).
 *     Nothing changes; the trigger stored for that offset, if any, is
 *     handed back byte for byte, so the trigger id is the same.
 *   - otherwise: transition, score, decide; a fired trigger is encoded,
 *     recorded in the state's decision ring and handed back.
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
    int64_t offset;
} vg_step_ctx_t;

typedef struct vg_step_result_s {
    bool replayed;             /* offset was applied before */
    bool fired;                /* a trigger is in trigger[0..len) */
    bool ring_evicted;         /* an uncommitted decision was dropped */
    size_t len;
    uint8_t trigger[VG_TRIGGER_MAX_BYTES];
    char trigger_id[33];
    vg_score_t score;          /* valid when !replayed */
} vg_step_result_t;

/* Apply ev at ctx->(partition, offset) to st under model m. */
vg_err_t vg_step_apply(vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                       const vg_step_ctx_t *ctx, vg_step_result_t *out);

/* The deterministic trigger id: hex SHA-256 of (tenant, customer id,
 * intervention, event id), 32 characters. Same decision, same id. */
void vg_step_trigger_id(const char *tenant, const char *customer_id, const char *intervention,
                        const char *event_id, char out[33]);

#endif
