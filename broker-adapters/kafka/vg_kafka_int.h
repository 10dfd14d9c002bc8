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

/* One try of a blocking read that may be asked again (metadata, committed
 * offsets, offsets for times), waiting at most timeout_ms. */
typedef rd_kafka_resp_err_t vg_kafka_read_fn(void *arg, int timeout_ms);

/* The longest single wait of vg_kafka_read_within(). */
#define VG_KAFKA_READ_SLICE_MS 1000

/* fn, in tries of at most VG_KAFKA_READ_SLICE_MS, asked again while a try
 * times out (or finds no broker) after its whole slice, until timeout_ms
 * or the drain deadline passes. vg_kafka_clamp() alone sees only a
 * deadline set before the call; a SIGTERM that arrives during a 10 s read
 * of a dead broker must end it within one slice. */
rd_kafka_resp_err_t vg_kafka_read_within(const _Atomic int64_t *deadline_ms, int timeout_ms,
                                         vg_kafka_read_fn *fn, void *arg);

/* A partition list of offs, each with its commit metadata (metadata may be
 * NULL, or have NULL entries). Caller destroys it. */
rd_kafka_topic_partition_list_t *vg_kafka_list_md(const vg_kafka_offset_t *offs,
                                                  const char *const *metadata, size_t n);

#endif
