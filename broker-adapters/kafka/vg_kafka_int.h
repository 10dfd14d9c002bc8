/*
 * vg_kafka_int.h - shared by the Kafka adapter's own files only.
 */
#ifndef VG_KAFKA_INT_H
#define VG_KAFKA_INT_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdint.h>

#include "vg_kafka.h"
#include "vg_time.h"

/* timeout_ms cut to what is left before *deadline_ms (monotonic ms; NULL
 * or 0: no deadline), never below 0. Every blocking librdkafka call of
 * the adapter goes through it, so a drain deadline bounds them all. */
static inline int vg_kafka_clamp(const _Atomic int64_t *deadline_ms, int timeout_ms) {
    int64_t d = deadline_ms ? atomic_load(deadline_ms) : 0, left;

    if (d <= 0)
        return timeout_ms;
    left = d - (int64_t)(vg_time_mono_us() / 1000);
    return left <= 0 ? 0 : left < timeout_ms ? (int)left : timeout_ms;
}

/* A partition list of offs, each with its commit metadata (metadata may be
 * NULL, or have NULL entries). Caller destroys it. */
rd_kafka_topic_partition_list_t *vg_kafka_list_md(const vg_kafka_offset_t *offs,
                                                  const char *const *metadata, size_t n);

#endif
