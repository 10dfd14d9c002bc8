/*
 * vg_kafka_health.h - what is wrong with a worker's Kafka writes, by name.
 *
 * librdkafka retries most broker errors in its own threads: a record that
 * cannot be acknowledged because its partition has fewer in-sync replicas
 * than min.insync.replicas, a partition without a leader, a transaction
 * or group coordinator that cannot write its log: the caller sees none
 * of these, only a flush, a commit or a transaction call that waits and
 * then times out (or, for the coordinators, "Coordinator not available").
 * The adapters note such a wait or failure here as it happens, and the
 * producer asks the cluster why (vg_kafka_producer_diagnose(): the
 * leaders and in-sync replicas of what the worker writes). The worker
 * reports the result in /readyz, vigil_kafka_problem{problem} and
 * vigil_stall_seconds (docs/runbook.md, "Kafka writes stalled").
 *
 * The caller owns a vg_kafka_health_t (zeroed: healthy), passes it to the
 * producer and the consumer, and clears it when a commit succeeds. Any
 * thread may read it; the adapters write it from the thread that owns
 * them (their delivery and log callbacks included).
 */
#ifndef VG_KAFKA_HEALTH_H
#define VG_KAFKA_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* In increasing order of how much they say: a later one replaces an
 * earlier one while the trouble lasts (vg_kafka_health_fail()). */
typedef enum vg_kafka_problem_e {
    VG_KAFKA_PROBLEM_NONE = 0,
    VG_KAFKA_PROBLEM_TIMEOUT,             /* writes not acknowledged in time, cause unknown */
    VG_KAFKA_PROBLEM_OTHER,               /* a broker error; the log line names it */
    VG_KAFKA_PROBLEM_COORDINATOR,         /* transaction or group coordinator not available */
    VG_KAFKA_PROBLEM_NO_LEADER,           /* a partition the worker writes has no leader */
    VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS, /* fewer in-sync replicas than min.insync.replicas */
    VG_KAFKA_PROBLEM__COUNT
} vg_kafka_problem_t;

/* A write failing (or waiting) for this long makes the worker not ready:
 * long enough that a leader election after a broker crash (a few
 * seconds) does not flap readiness on every commit, short enough that an
 * outage shows at once. */
#define VG_KAFKA_STALL_MS 5000

typedef struct vg_kafka_health_s {
    /* Wall clock of the first failed or waiting write since the last
     * commit that worked; 0: none. */
    _Atomic int64_t failing_since_ms;
    _Atomic int problem; /* vg_kafka_problem_t, while failing_since_ms is set */
} vg_kafka_health_t;

/* "not_enough_replicas", ... (the metric label); "none" for NONE. */
const char *vg_kafka_problem_name(vg_kafka_problem_t pr);

/* One line for a person: "not enough in-sync replicas", ... */
const char *vg_kafka_problem_text(vg_kafka_problem_t pr);

/* The problem a librdkafka error code (rd_kafka_resp_err_t) stands for;
 * NONE for 0. Pure. */
vg_kafka_problem_t vg_kafka_problem_of(int err);

/* What one partition's metadata says about writing to it: NO_LEADER when
 * it has none (leader < 0), NOT_ENOUGH_REPLICAS when it is replicated and
 * at most one replica is in sync (acks=all then fails under any
 * min.insync.replicas above 1, the recommended 2 among them), else NONE.
 * Pure. */
vg_kafka_problem_t vg_kafka_problem_of_partition(int32_t leader, int replicas, int in_sync);

/* A write failed, or has waited past its usual time: start the stall
 * clock (if not running) and raise the problem to pr if pr says more. */
void vg_kafka_health_fail(vg_kafka_health_t *h, vg_kafka_problem_t pr, int64_t now_ms);

/* Replace the problem (a diagnosis from metadata knows best, and a cause
 * that went away must not linger); starts the stall clock too. NONE is
 * taken as TIMEOUT: something is failing, cause unknown. */
void vg_kafka_health_set(vg_kafka_health_t *h, vg_kafka_problem_t pr, int64_t now_ms);

/* A commit worked: healthy again. */
void vg_kafka_health_ok(vg_kafka_health_t *h);

/* How long writes have been stalled (ms) once that is at least
 * VG_KAFKA_STALL_MS, else 0. *pr (if not NULL) gets the problem (NONE
 * when not stalled). Any thread. */
int64_t vg_kafka_health_stalled(const vg_kafka_health_t *h, int64_t now_ms,
                                vg_kafka_problem_t *pr);

#endif
