/*
 * vg_kafka.h - types shared by Vigil's Kafka adapter (consumer, producer,
 * admin, mock). No librdkafka type appears in these headers: the worker
 * core talks to Kafka only through them (STYLE.md rule 3).
 */
#ifndef VG_KAFKA_H
#define VG_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "vg_err.h"
#include "vg_log.h"

#define VG_KAFKA_PROPS_MAX 64

/* librdkafka configuration properties, passed through verbatim (the
 * "kafka.*" config keys with the prefix removed). Strings are borrowed:
 * they must outlive the call they are passed to. */
typedef struct vg_kafka_props_s {
    size_t n;
    const char *keys[VG_KAFKA_PROPS_MAX];
    const char *vals[VG_KAFKA_PROPS_MAX];
} vg_kafka_props_t;

/* Append (key, val); VG_ERR_OVERFLOW when full. A later key overrides an
 * earlier one, as librdkafka applies them in order. */
vg_err_t vg_kafka_props_add(vg_kafka_props_t *p, const char *key, const char *val);

/* One consumed record. All pointers are borrowed, valid until the batch is
 * released with vg_kafka_consumer_release(). */
typedef struct vg_kafka_msg_s {
    const void *key;
    size_t key_len;
    const void *payload;
    size_t len;
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;   /* record timestamp (CreateTime), -1 if none */
    void *_rkmsg;           /* adapter-private */
} vg_kafka_msg_t;

/* A position to commit: the offset of the next record to read. */
typedef struct vg_kafka_offset_s {
    const char *topic;
    int32_t partition;
    int64_t offset;
} vg_kafka_offset_t;

typedef struct vg_kafka_header_s {
    const char *name;
    const void *value;
    size_t len;
} vg_kafka_header_t;

#endif
