#include "vg_kafka_mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

struct vg_kafka_mock_s {
    rd_kafka_t *rk; /* hosts the mock cluster's threads */
    rd_kafka_mock_cluster_t *mcluster;
};

vg_kafka_mock_t *vg_kafka_mock_new(int brokers, char *errstr, size_t errstr_size) {
    vg_kafka_mock_t *m = calloc(1, sizeof(*m));
    rd_kafka_conf_t *conf;

    if (!m) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!m->rk) {
        rd_kafka_conf_destroy(conf);
        free(m);
        return NULL;
    }
    m->mcluster = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mcluster) {
        vg_errstr_set(errstr, errstr_size, "could not start the mock cluster");
        rd_kafka_destroy(m->rk);
        free(m);
        return NULL;
    }
    return m;
}

const char *vg_kafka_mock_bootstrap(const vg_kafka_mock_t *m) {
    return rd_kafka_mock_cluster_bootstraps(m->mcluster);
}

vg_err_t vg_kafka_mock_create_topic(vg_kafka_mock_t *m, const char *topic, int partitions,
                                    int replication_factor) {
    return rd_kafka_mock_topic_create(m->mcluster, topic, partitions, replication_factor)
               ? VG_ERR_KAFKA
               : VG_OK;
}

void vg_kafka_mock_fail_requests(vg_kafka_mock_t *m, int api_key, size_t cnt, int err) {
    for (size_t i = 0; i < cnt; i++)
        rd_kafka_mock_push_request_errors(m->mcluster, (int16_t)api_key, 1,
                                          (rd_kafka_resp_err_t)err);
}

void vg_kafka_mock_set_rtt(vg_kafka_mock_t *m, int32_t broker_id, int rtt_ms) {
    rd_kafka_mock_broker_set_rtt(m->mcluster, broker_id, rtt_ms);
}

void vg_kafka_mock_destroy(vg_kafka_mock_t *m) {
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->mcluster);
    rd_kafka_destroy(m->rk);
    free(m);
}
