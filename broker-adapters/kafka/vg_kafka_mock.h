/*
 * vg_kafka_mock.h - librdkafka's in-process mock cluster, for the
 * zero-setup demo and for fault injection. Never the only test of a Kafka
 * behaviour (it does not hide aborted transactions in librdkafka 2.0.2).
 */
#ifndef VG_KAFKA_MOCK_H
#define VG_KAFKA_MOCK_H

#include "vg_kafka.h"

typedef struct vg_kafka_mock_s vg_kafka_mock_t;

/* Start a mock cluster of brokers in this process. Caller frees with
 * vg_kafka_mock_destroy(). */
vg_kafka_mock_t *vg_kafka_mock_new(int brokers, char *errstr, size_t errstr_size);

/* Its bootstrap.servers string; borrowed, valid until destroy. */
const char *vg_kafka_mock_bootstrap(const vg_kafka_mock_t *m);

vg_err_t vg_kafka_mock_create_topic(vg_kafka_mock_t *m, const char *topic, int partitions,
                                    int replication_factor);

/* Fault injection: the next cnt requests of Kafka API api_key (e.g. 8,
 * OffsetCommit) that reach the cluster are answered with error err (a
 * Kafka protocol error code). */
void vg_kafka_mock_fail_requests(vg_kafka_mock_t *m, int api_key, size_t cnt, int err);

/* Fault injection: every answer of broker broker_id (1..brokers) comes
 * rtt_ms late (0: on time again). A slow broker, as seen by a client. */
void vg_kafka_mock_set_rtt(vg_kafka_mock_t *m, int32_t broker_id, int rtt_ms);

void vg_kafka_mock_destroy(vg_kafka_mock_t *m);

#endif
