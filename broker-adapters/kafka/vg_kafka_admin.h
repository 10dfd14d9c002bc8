/*
 * vg_kafka_admin.h - topic administration for vigilctl, tests and the demo.
 */
#ifndef VG_KAFKA_ADMIN_H
#define VG_KAFKA_ADMIN_H

#include "vg_kafka.h"

/* Create topic with partitions and replication_factor on the cluster
 * described by props (bootstrap.servers at least). An existing topic is
 * success. extra_conf: NULL or NULL-terminated key, value pairs of topic
 * configuration (e.g. "min.insync.replicas", "2"). */
vg_err_t vg_kafka_admin_create_topic(const vg_kafka_props_t *props, const char *topic,
                                     int partitions, int replication_factor,
                                     const char *const *extra_conf, int timeout_ms,
                                     char *errstr, size_t errstr_size);

/* Sum of the high watermarks of topic (records ever written, for a topic
 * without deletion); -1 on error. */
int64_t vg_kafka_admin_topic_end(const vg_kafka_props_t *props, const char *topic,
                                 int timeout_ms, char *errstr, size_t errstr_size);

/* Sum over topic's partitions of group's committed offsets (partitions
 * without a commit count 0); -1 on error. Does not join the group. */
int64_t vg_kafka_admin_group_committed(const vg_kafka_props_t *props, const char *group,
                                       const char *topic, int timeout_ms, char *errstr,
                                       size_t errstr_size);

/* The number of partitions of topic; -1 on error. */
int vg_kafka_admin_partitions(const vg_kafka_props_t *props, const char *topic, int timeout_ms,
                              char *errstr, size_t errstr_size);

#endif
