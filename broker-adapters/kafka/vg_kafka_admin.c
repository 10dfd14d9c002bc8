#include "vg_kafka_admin.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

static rd_kafka_t *vg_kafka_admin_client(const vg_kafka_props_t *props, char *errstr,
                                         size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    for (size_t i = 0; props && i < props->n; i++) {
        /* Consumer-only keys are irrelevant to an admin client. */
        if (strcmp(props->keys[i], "group.id") == 0 ||
            strcmp(props->keys[i], "isolation.level") == 0 ||
            strcmp(props->keys[i], "auto.offset.reset") == 0 ||
            strcmp(props->keys[i], "partition.assignment.strategy") == 0)
            continue;
        if (rd_kafka_conf_set(conf, props->keys[i], props->vals[i], errstr, errstr_size) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

vg_err_t vg_kafka_admin_create_topic(const vg_kafka_props_t *props, const char *topic,
                                     int partitions, int replication_factor,
                                     const char *const *extra_conf, int timeout_ms,
                                     char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = vg_kafka_admin_client(props, errstr, errstr_size);
    rd_kafka_NewTopic_t *nt;
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev;
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **tres;
    size_t ntres = 0;
    vg_err_t ret = VG_OK;
    char why[256];

    if (!rk)
        return VG_ERR_CONFIG;
    nt = rd_kafka_NewTopic_new(topic, partitions, replication_factor, why, sizeof(why));
    if (!nt) {
        vg_errstr_set(errstr, errstr_size, "topic %s: %s", topic, why);
        rd_kafka_destroy(rk);
        return VG_ERR_INVALID;
    }
    for (size_t i = 0; extra_conf && extra_conf[i] && extra_conf[i + 1]; i += 2)
        rd_kafka_NewTopic_set_config(nt, extra_conf[i], extra_conf[i + 1]);
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, timeout_ms);
    if (!ev) {
        vg_errstr_set(errstr, errstr_size, "create topic %s: timed out", topic);
        ret = VG_ERR_TIMEOUT;
    } else if (rd_kafka_event_error(ev)) {
        vg_errstr_set(errstr, errstr_size, "create topic %s: %s", topic,
                      rd_kafka_event_error_string(ev));
        ret = VG_ERR_KAFKA;
    } else {
        res = rd_kafka_event_CreateTopics_result(ev);
        tres = rd_kafka_CreateTopics_result_topics(res, &ntres);
        for (size_t i = 0; i < ntres; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tres[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                vg_errstr_set(errstr, errstr_size, "create topic %s: %s", topic,
                              rd_kafka_topic_result_error_string(tres[i]));
                ret = VG_ERR_KAFKA;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return ret;
}

int64_t vg_kafka_admin_topic_end(const vg_kafka_props_t *props, const char *topic,
                                 int timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = vg_kafka_admin_client(props, errstr, errstr_size);
    rd_kafka_topic_t *rkt;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    int64_t total = 0;

    if (!rk)
        return -1;
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        vg_errstr_set(errstr, errstr_size, "metadata of %s: %s", topic,
                      rd_kafka_err2str(err ? err : md->topics[0].err));
        total = -1;
    } else {
        for (int i = 0; i < md->topics[0].partition_cnt; i++) {
            int64_t lo = 0, hi = 0;
            err = rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[i].id, &lo,
                                                   &hi, timeout_ms);
            if (err) {
                vg_errstr_set(errstr, errstr_size, "watermarks of %s: %s", topic,
                              rd_kafka_err2str(err));
                total = -1;
                break;
            }
            total += hi;
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return total;
}

int64_t vg_kafka_admin_group_committed(const vg_kafka_props_t *props, const char *group,
                                       const char *topic, int timeout_ms, char *errstr,
                                       size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t err;
    int64_t total = -1;

    for (size_t i = 0; props && i < props->n; i++)
        if (strcmp(props->keys[i], "group.id") && strcmp(props->keys[i], "isolation.level"))
            rd_kafka_conf_set(conf, props->keys[i], props->vals[i], NULL, 0);
    if (rd_kafka_conf_set(conf, "group.id", group, errstr, errstr_size) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* A consumer handle that never subscribes: it only asks the group
     * coordinator for committed offsets, without joining the group. */
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        vg_errstr_set(errstr, errstr_size, "metadata of %s: %s", topic,
                      rd_kafka_err2str(err ? err : md->topics[0].err));
        goto done;
    }
    l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id);
    err = rd_kafka_committed(rk, l, timeout_ms);
    if (err) {
        vg_errstr_set(errstr, errstr_size, "committed offsets of %s: %s", group,
                      rd_kafka_err2str(err));
        goto done;
    }
    total = 0;
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset > 0)
            total += l->elems[i].offset;
done:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return total;
}

int vg_kafka_admin_partitions(const vg_kafka_props_t *props, const char *topic, int timeout_ms,
                              char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = vg_kafka_admin_client(props, errstr, errstr_size);
    rd_kafka_topic_t *rkt;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    int n = -1;

    if (!rk)
        return -1;
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (err || md->topic_cnt != 1 || md->topics[0].err)
        vg_errstr_set(errstr, errstr_size, "metadata of %s: %s", topic,
                      rd_kafka_err2str(err ? err : md->topics[0].err));
    else
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return n;
}
