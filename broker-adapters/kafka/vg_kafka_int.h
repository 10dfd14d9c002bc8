/*
 * vg_kafka_int.h - shared by the Kafka adapter's own files only.
 */
#ifndef VG_KAFKA_INT_H
#define VG_KAFKA_INT_H

#include <librdkafka/rdkafka.h>

#include "vg_kafka.h"

/* A partition list of offs, each with its commit metadata (metadata may be
 * NULL, or have NULL entries). Caller destroys it. */
rd_kafka_topic_partition_list_t *vg_kafka_list_md(const vg_kafka_offset_t *offs,
                                                  const char *const *metadata, size_t n);

#endif
