#include "vg_kafka_health.h"

#include <librdkafka/rdkafka.h>

static const char *const vg_kafka_problem_names[VG_KAFKA_PROBLEM__COUNT] = {
    "none", "timeout", "other", "coordinator", "no_leader", "not_enough_replicas",
};

static const char *const vg_kafka_problem_texts[VG_KAFKA_PROBLEM__COUNT] = {
    "none",
    "writes not acknowledged in time",
    "broker error",
    "transaction or group coordinator not available",
    "partitions without a leader",
    "not enough in-sync replicas",
};

const char *vg_kafka_problem_name(vg_kafka_problem_t pr) {
    return pr >= 0 && pr < VG_KAFKA_PROBLEM__COUNT ? vg_kafka_problem_names[pr] : "other";
}

const char *vg_kafka_problem_text(vg_kafka_problem_t pr) {
    return pr >= 0 && pr < VG_KAFKA_PROBLEM__COUNT ? vg_kafka_problem_texts[pr] : "broker error";
}

vg_kafka_problem_t vg_kafka_problem_of(int err) {
    switch ((rd_kafka_resp_err_t)err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return VG_KAFKA_PROBLEM_NONE;
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
        return VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS;
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
        return VG_KAFKA_PROBLEM_NO_LEADER;
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
        return VG_KAFKA_PROBLEM_COORDINATOR;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return VG_KAFKA_PROBLEM_TIMEOUT;
    default:
        return VG_KAFKA_PROBLEM_OTHER;
    }
}

vg_kafka_problem_t vg_kafka_problem_of_partition(int32_t leader, int replicas, int in_sync) {
    if (leader < 0)
        return VG_KAFKA_PROBLEM_NO_LEADER;
    /* A replication factor of 1 never had a second replica to lose. */
    if (replicas >= 2 && in_sync < 2)
        return VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS;
    return VG_KAFKA_PROBLEM_NONE;
}

static void vg_kafka_health_start(vg_kafka_health_t *h, int64_t now_ms) {
    int64_t none = 0;

    atomic_compare_exchange_strong(&h->failing_since_ms, &none, now_ms > 0 ? now_ms : 1);
}

void vg_kafka_health_fail(vg_kafka_health_t *h, vg_kafka_problem_t pr, int64_t now_ms) {
    int cur;

    if (!h)
        return;
    if (pr == VG_KAFKA_PROBLEM_NONE)
        pr = VG_KAFKA_PROBLEM_TIMEOUT; /* a wait with no error yet */
    vg_kafka_health_start(h, now_ms);
    /* Only the adapters' owning threads write, one at a time in practice;
     * the loop keeps the larger value if two ever race. */
    cur = atomic_load(&h->problem);
    while (cur < (int)pr && !atomic_compare_exchange_weak(&h->problem, &cur, (int)pr))
        ;
}

void vg_kafka_health_set(vg_kafka_health_t *h, vg_kafka_problem_t pr, int64_t now_ms) {
    if (!h)
        return;
    vg_kafka_health_start(h, now_ms);
    atomic_store(&h->problem, (int)(pr == VG_KAFKA_PROBLEM_NONE ? VG_KAFKA_PROBLEM_TIMEOUT : pr));
}

void vg_kafka_health_ok(vg_kafka_health_t *h) {
    if (!h)
        return;
    atomic_store(&h->failing_since_ms, 0);
    atomic_store(&h->problem, VG_KAFKA_PROBLEM_NONE);
}

int64_t vg_kafka_health_stalled(const vg_kafka_health_t *h, int64_t now_ms,
                                vg_kafka_problem_t *pr) {
    int64_t since = h ? atomic_load(&h->failing_since_ms) : 0;
    int p;

    if (pr)
        *pr = VG_KAFKA_PROBLEM_NONE;
    if (!since || now_ms - since < VG_KAFKA_STALL_MS)
        return 0;
    p = atomic_load(&h->problem);
    if (pr)
        *pr = p > VG_KAFKA_PROBLEM_NONE && p < VG_KAFKA_PROBLEM__COUNT ? (vg_kafka_problem_t)p
                                                                       : VG_KAFKA_PROBLEM_TIMEOUT;
    return now_ms - since;
}
