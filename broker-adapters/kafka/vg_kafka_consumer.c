#include "vg_kafka_consumer.h"
#include "vg_kafka_diag.h"
#include "vg_kafka_int.h"
#include "vg_time.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vg_kafka_consumer_s {
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    vg_log_t *log;
    vg_kafka_rebalance_cb_t *cb;
    void *opaque;
    char topic[256];
    bool closed;
    bool abandoned; /* closed without leaving the group (time ran out) */
    const _Atomic int64_t *deadline_ms; /* the drain deadline, or NULL */
    vg_kafka_health_t *health;          /* the caller's, or NULL */
    _Atomic bool down;
    rd_kafka_message_t *rkmsgs[4096];
    /* Partitions revoked while vg_kafka_consumer_poll_batch() collects a
     * batch, each with (in its offset field) how many messages had been
     * collected then: those of them must not be processed. */
    rd_kafka_topic_partition_list_t *revoked;
    size_t collected;
    /* Commits sent by vg_kafka_consumer_commit_async() and not yet
     * answered: their outcomes arrive on commit_q. */
    rd_kafka_queue_t *commit_q;
    int commits_pending;
    rd_kafka_resp_err_t commit_failed; /* the last failure, until reported */
};

vg_err_t vg_kafka_props_add(vg_kafka_props_t *p, const char *key, const char *val) {
    if (p->n == VG_KAFKA_PROPS_MAX)
        return VG_ERR_OVERFLOW;
    p->keys[p->n] = key;
    p->vals[p->n] = val;
    p->n++;
    return VG_OK;
}

/* Take the answers to asynchronous commits, waiting up to timeout_ms
 * (0: only those already in) for every pending one. A failed commit is
 * logged, marked in the health and kept in commit_failed until
 * vg_kafka_consumer_commit_failure() reports it. */
static void vg_kafka_consumer_reap(vg_kafka_consumer_t *c, int timeout_ms) {
    int64_t until = (int64_t)(vg_time_mono_us() / 1000) + (timeout_ms > 0 ? timeout_ms : 0);

    while (c->commit_q && c->commits_pending > 0) {
        int64_t left = until - (int64_t)(vg_time_mono_us() / 1000);
        /* In slices: a drain deadline set while it waits ends it. */
        int slice = vg_kafka_clamp(c->deadline_ms, left <= 0 ? 0 : left > 250 ? 250 : (int)left);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(c->commit_q, slice);
        rd_kafka_resp_err_t err;
        const rd_kafka_topic_partition_list_t *done;

        if (!ev) {
            if (slice > 0 && left > slice)
                continue;
            break;
        }
        if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_OFFSET_COMMIT) {
            rd_kafka_event_destroy(ev);
            continue;
        }
        c->commits_pending--;
        err = rd_kafka_event_error(ev);
        done = rd_kafka_event_topic_partition_list(ev);
        for (int i = 0; !err && done && i < done->cnt; i++)
            err = done->elems[i].err;
        rd_kafka_event_destroy(ev);
        if (err) {
            c->commit_failed = err;
            vg_kafka_health_fail(c->health, vg_kafka_problem_of(err), vg_time_wall_ms());
            VG_WARN(c->log, "kafka", "offset commit failed: %s", rd_kafka_err2str(err));
        }
    }
}

/* Report (once) a failure that vg_kafka_consumer_reap() kept: VG_ERR_KAFKA
 * with errstr set, or VG_OK when there is none. */
static vg_err_t vg_kafka_consumer_commit_failure(vg_kafka_consumer_t *c, char *errstr,
                                                 size_t errstr_size) {
    rd_kafka_resp_err_t err = c->commit_failed;

    if (!err)
        return VG_OK;
    c->commit_failed = RD_KAFKA_RESP_ERR_NO_ERROR;
    vg_errstr_set(errstr, errstr_size, "an earlier offset commit failed: %s",
                  rd_kafka_err2str(err));
    return VG_ERR_KAFKA;
}

/* Hand a partition list to the user callback in Vigil's own types. */
static void vg_kafka_consumer_notify(vg_kafka_consumer_t *c, bool assigned, bool lost,
                                     const rd_kafka_topic_partition_list_t *parts) {
    vg_kafka_offset_t offs[256];
    size_t n = 0;

    if (!c->cb)
        return;
    for (int i = 0; i < parts->cnt && n < 256; i++, n++) {
        offs[n].topic = parts->elems[i].topic;
        offs[n].partition = parts->elems[i].partition;
        offs[n].offset = parts->elems[i].offset;
    }
    c->cb(c->opaque, assigned, lost, offs, n);
}

/* Cooperative-sticky: incremental assign/unassign, so a rebalance moves only
 * the partitions that change owner and the others keep flowing. The eager
 * protocol is still handled in case a user overrides the assignor. */
static void vg_kafka_consumer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                        rd_kafka_topic_partition_list_t *parts, void *opaque) {
    vg_kafka_consumer_t *c = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        VG_INFO(c->log, "kafka", "assigned %d partition(s) (%s)", parts->cnt,
                cooperative ? "incremental" : "eager");
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, parts);
        vg_kafka_consumer_notify(c, true, false, parts);
    } else {
        bool lost = rd_kafka_assignment_lost(rk);
        VG_INFO(c->log, "kafka", "%s %d partition(s)", lost ? "lost" : "revoked", parts->cnt);
        /* The next owner starts from the committed offsets: let the
         * commits already sent be answered first. */
        if (!lost)
            vg_kafka_consumer_reap(c, vg_kafka_clamp(c->deadline_ms, 5000));
        /* The pipeline commits every batch before it polls again, so a
         * revocation finds nothing uncommitted; the callback lets it drop
         * cached state of the partitions that leave. */
        vg_kafka_consumer_notify(c, false, lost, parts);
        if (c->revoked) {
            for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_find(
                    c->revoked, parts->elems[i].topic, parts->elems[i].partition);
                if (!t)
                    t = rd_kafka_topic_partition_list_add(c->revoked, parts->elems[i].topic,
                                                          parts->elems[i].partition);
                t->offset = (int64_t)c->collected;
            }
        }
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        VG_ERROR(c->log, "kafka", "rebalance (incremental) failed: %s",
                 rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (rerr) {
        VG_ERROR(c->log, "kafka", "rebalance failed: %s", rd_kafka_err2str(rerr));
    }
}

static void vg_kafka_consumer_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                                     const char *buf) {
    vg_kafka_consumer_t *c = rd_kafka_opaque(rk);

    if (c)
        VG_LOG(c->log, level <= 3 ? VG_LOG_ERROR : level <= 5 ? VG_LOG_WARN : VG_LOG_DEBUG,
               "librdkafka", "%s: %s", fac, buf);
}

/* librdkafka retries by itself; Vigil only needs to know when nothing
 * works, for readiness. */
static void vg_kafka_consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    vg_kafka_consumer_t *c = opaque;
    char diag[512];

    (void)rk;
    /* A refused login, an untrusted certificate, a missing ACL: named in
     * Vigil's settings, since retrying will not fix them. */
    if (vg_kafka_diag(err, reason, NULL, diag, sizeof(diag)))
        VG_ERROR(c->log, "kafka", "%s", diag);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__FATAL ||
        err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        atomic_store(&c->down, true);
        VG_WARN(c->log, "kafka", "%s: %s", rd_kafka_err2name(err), reason);
    } else {
        VG_DBG(c->log, "kafka", "%s: %s", rd_kafka_err2name(err), reason);
    }
}

bool vg_kafka_consumer_down(vg_kafka_consumer_t *c) { return atomic_load(&c->down); }

vg_err_t vg_kafka_consumer_probe(vg_kafka_consumer_t *c, int timeout_ms) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(c->rk, 0, NULL, &md, vg_kafka_clamp(c->deadline_ms, timeout_ms));

    if (md)
        rd_kafka_metadata_destroy(md);
    if (err)
        return VG_ERR_KAFKA;
    atomic_store(&c->down, false);
    return VG_OK;
}

vg_kafka_consumer_t *vg_kafka_consumer_new(const vg_kafka_props_t *props, const char *group_id,
                                           const char *topic, vg_log_t *log,
                                           vg_kafka_rebalance_cb_t *cb, void *opaque,
                                           char *errstr, size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"partition.assignment.strategy", "cooperative-sticky"},
        /* Offsets are committed by the pipeline after the triggers of a
         * batch are delivered (or inside the transaction). */
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        /* Never see triggers of aborted transactions, and never events
         * of an aborted upstream transaction either. */
        {"isolation.level", "read_committed"},
        {"enable.partition.eof", "false"},
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "1000"},
        {"fetch.wait.max.ms", "50"},
        /* Small requests go out at once: with Nagle's algorithm a fetch
         * or offset commit request waits for the previous one's ACK
         * (docs/decisions.md, "No Nagle for the consumer"; the producer
         * turns it off too). */
        {"socket.nagle.disable", "true"},
        /* librdkafka's prefetch queue and fetch responses, not the batch,
         * are most of a worker's memory while it catches up on a backlog
         * (64 MB and 50 MB by default; a worker peaked at 70-80 MB). 4 MB
         * and 1 MB kept 200,000 events at the same speed with a 41 MB
         * high-water mark (docs/decisions.md). */
        {"queued.max.messages.kbytes", "4096"},
        {"fetch.max.bytes", "1048576"},
        /* A partition whose prefetch is over that bound is fetched again
         * after this long (librdkafka >= 2.1; 1000 ms by default). 4 MB
         * last a worker ~0.1 s at full speed: a 1 s pause would leave it
         * idle most of the time while it catches up. */
        {"fetch.queue.backoff.ms", "20"},
    };
    vg_kafka_consumer_t *c;
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *sub;
    rd_kafka_resp_err_t err;

    c = calloc(1, sizeof(*c));
    if (!c) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    c->log = log;
    c->cb = cb;
    c->opaque = opaque;
    snprintf(c->topic, sizeof(c->topic), "%s", topic);
    conf = rd_kafka_conf_new();
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], NULL, 0);
    if (rd_kafka_conf_set(conf, "group.id", group_id, errstr, errstr_size) != RD_KAFKA_CONF_OK)
        goto fail_conf;
    for (size_t i = 0; props && i < props->n; i++) {
        char why[256];
        if (rd_kafka_conf_set(conf, props->keys[i], props->vals[i], why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
            vg_errstr_set(errstr, errstr_size, "kafka.%s: %s", props->keys[i], why);
            goto fail_conf;
        }
    }
    rd_kafka_conf_set_rebalance_cb(conf, vg_kafka_consumer_rebalance);
    rd_kafka_conf_set_log_cb(conf, vg_kafka_consumer_log_cb);
    rd_kafka_conf_set_error_cb(conf, vg_kafka_consumer_error_cb);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!c->rk)
        goto fail_conf;
    rd_kafka_poll_set_consumer(c->rk);
    c->q = rd_kafka_queue_get_consumer(c->rk);
    c->commit_q = rd_kafka_queue_new(c->rk);

    sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(c->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        vg_errstr_set(errstr, errstr_size, "subscribe to %s: %s", topic, rd_kafka_err2str(err));
        vg_kafka_consumer_destroy(c);
        return NULL;
    }
    return c;

fail_conf:
    rd_kafka_conf_destroy(conf);
    free(c);
    return NULL;
}

static long long vg_kafka_now_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One message at a time with rd_kafka_consumer_poll(), not
 * rd_kafka_consume_batch_queue(): in librdkafka 2.0.x the batch API
 * skipped or misrouted messages when a rebalance, seek, pause or resume
 * happened during the call, and 2.1 to 2.8 still say it is not safe then
 * ("Poor Consumer batch API messaging guarantees"). Vigil seeks (rewind)
 * and rebalances routinely. A message held in the batch of a partition
 * revoked meanwhile is dropped: its new owner starts from the committed
 * offset. */
size_t vg_kafka_consumer_poll_batch(vg_kafka_consumer_t *c, vg_kafka_msg_t *msgs, size_t max,
                                    int timeout_ms) {
    long long deadline = vg_kafka_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    size_t got = 0, n = 0;

    if (max > sizeof(c->rkmsgs) / sizeof(c->rkmsgs[0]))
        max = sizeof(c->rkmsgs) / sizeof(c->rkmsgs[0]);
    c->revoked = rd_kafka_topic_partition_list_new(8);
    c->collected = 0;
    /* Wait up to timeout_ms for the first record only, then take what has
     * already arrived: a batch grows with the load and shrinks to one
     * record when idle, and no record waits for others to fill it. */
    while (got < max) {
        long long left = got ? 0 : deadline - vg_kafka_now_ms();
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left > 0 ? (int)left : 0);
        if (!m) {
            if (left <= 0)
                break;
            continue;
        }
        c->rkmsgs[got++] = m;
        c->collected = got;
    }
    for (size_t i = 0; i < got; i++) {
        rd_kafka_message_t *m = c->rkmsgs[i];
        if (m->err) {
            /* Errors arrive as messages: report and skip. A fatal error
             * shows again on every poll and in readiness. */
            char diag[512], group[256] = "";
            size_t gsize = sizeof(group);
            const char *about = NULL;
            VG_WARN(c->log, "kafka", "consume: %s", rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED && m->rkt)
                about = rd_kafka_topic_name(m->rkt);
            else if (m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED &&
                     rd_kafka_conf_get(rd_kafka_conf(c->rk), "group.id", group, &gsize) ==
                         RD_KAFKA_CONF_OK)
                about = group;
            if (vg_kafka_diag(m->err, rd_kafka_message_errstr(m), about, diag, sizeof(diag)))
                VG_ERROR(c->log, "kafka", "%s", diag);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (c->revoked->cnt) {
            /* Held from before its partition was revoked: its new owner
             * starts from the committed offset. A message collected after
             * the revocation is of a new assignment (librdkafka filters
             * outdated ones) and is kept. */
            const rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_find(
                c->revoked, rd_kafka_topic_name(m->rkt), m->partition);
            if (t && (int64_t)i < t->offset) {
                rd_kafka_message_destroy(m);
                continue;
            }
        }
        msgs[n].key = m->key;
        msgs[n].key_len = m->key_len;
        msgs[n].payload = m->payload;
        msgs[n].len = m->len;
        msgs[n].topic = rd_kafka_topic_name(m->rkt);
        msgs[n].partition = m->partition;
        msgs[n].offset = m->offset;
        msgs[n].timestamp_ms = rd_kafka_message_timestamp(m, NULL);
        msgs[n]._rkmsg = m;
        n++;
    }
    rd_kafka_topic_partition_list_destroy(c->revoked);
    c->revoked = NULL;
    return n;
}

vg_err_t vg_kafka_msg_header(const vg_kafka_msg_t *msg, const char *name, const void **val,
                             size_t *len) {
    rd_kafka_headers_t *hdrs = NULL;

    if (rd_kafka_message_headers(msg->_rkmsg, &hdrs) || !hdrs)
        return VG_ERR_NOT_FOUND;
    if (rd_kafka_header_get_last(hdrs, name, val, len))
        return VG_ERR_NOT_FOUND;
    return VG_OK;
}

void vg_kafka_consumer_release(vg_kafka_consumer_t *c, vg_kafka_msg_t *msgs, size_t n) {
    (void)c;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(msgs[i]._rkmsg);
        msgs[i]._rkmsg = NULL;
    }
}

rd_kafka_resp_err_t vg_kafka_read_within(const _Atomic int64_t *deadline_ms, int timeout_ms,
                                         vg_kafka_read_fn *fn, void *arg) {
    int64_t until = (int64_t)(vg_time_mono_us() / 1000) + (timeout_ms > 0 ? timeout_ms : 0);
    rd_kafka_resp_err_t err;

    for (;;) {
        int64_t start = (int64_t)(vg_time_mono_us() / 1000), left = until - start;
        int slice = vg_kafka_clamp(deadline_ms, left < VG_KAFKA_READ_SLICE_MS
                                                    ? (left > 0 ? (int)left : 0)
                                                    : VG_KAFKA_READ_SLICE_MS);

        err = fn(arg, slice);
        if (err != RD_KAFKA_RESP_ERR__TIMED_OUT && err != RD_KAFKA_RESP_ERR__TRANSPORT)
            return err;
        /* An early "no broker" is an answer, not a wait to repeat. */
        if ((int64_t)(vg_time_mono_us() / 1000) - start < slice - 10)
            return err;
        if (vg_kafka_clamp(deadline_ms, 1) == 0 || (int64_t)(vg_time_mono_us() / 1000) >= until)
            return err;
    }
}

typedef struct vg_kafka_committed_read_s {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *list;
} vg_kafka_committed_read_t;

static rd_kafka_resp_err_t vg_kafka_committed_try(void *arg, int timeout_ms) {
    vg_kafka_committed_read_t *r = arg;
    return rd_kafka_committed(r->rk, r->list, timeout_ms);
}

/* rd_kafka_committed() of l, ended by the drain deadline within a slice. */
static rd_kafka_resp_err_t vg_kafka_consumer_committed_within(vg_kafka_consumer_t *c,
                                                              rd_kafka_topic_partition_list_t *l,
                                                              int timeout_ms) {
    vg_kafka_committed_read_t r = {c->rk, l};
    return vg_kafka_read_within(c->deadline_ms, timeout_ms, vg_kafka_committed_try, &r);
}

rd_kafka_topic_partition_list_t *vg_kafka_list_md(const vg_kafka_offset_t *offs,
                                                  const char *const *metadata, size_t n) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);

    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *t =
            rd_kafka_topic_partition_list_add(l, offs[i].topic, offs[i].partition);
        t->offset = offs[i].offset;
        if (metadata && metadata[i]) {
            /* Freed by the list's destroy. */
            t->metadata_size = strlen(metadata[i]);
            t->metadata = strdup(metadata[i]);
            if (!t->metadata)
                t->metadata_size = 0;
        }
    }
    return l;
}

static rd_kafka_topic_partition_list_t *vg_kafka_list(const vg_kafka_offset_t *offs, size_t n) {
    return vg_kafka_list_md(offs, NULL, n);
}

vg_err_t vg_kafka_consumer_commit(vg_kafka_consumer_t *c, const vg_kafka_offset_t *offs,
                                  size_t n, char *errstr, size_t errstr_size) {
    return vg_kafka_consumer_commit_md(c, offs, NULL, n, errstr, errstr_size);
}

vg_err_t vg_kafka_consumer_committed_md(vg_kafka_consumer_t *c, const char *topic,
                                        int32_t partition, int timeout_ms, int64_t *offset,
                                        char *metadata, size_t metadata_size) {
    vg_kafka_offset_t o = {topic, partition, RD_KAFKA_OFFSET_INVALID};
    rd_kafka_topic_partition_list_t *l = vg_kafka_list(&o, 1);
    rd_kafka_resp_err_t err = vg_kafka_consumer_committed_within(c, l, timeout_ms);

    if (!err)
        err = l->elems[0].err;
    if (!err) {
        size_t len = l->elems[0].metadata ? l->elems[0].metadata_size : 0;
        *offset = l->elems[0].offset;
        if (metadata_size) {
            if (len >= metadata_size)
                len = metadata_size - 1;
            if (len)
                memcpy(metadata, l->elems[0].metadata, len);
            metadata[len] = '\0';
        }
    } else {
        VG_WARN(c->log, "kafka", "committed offset of %s [%d]: %s", topic, partition,
                rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(l);
    return err ? VG_ERR_KAFKA : VG_OK;
}

vg_err_t vg_kafka_consumer_commit_md(vg_kafka_consumer_t *c, const vg_kafka_offset_t *offs,
                                     const char *const *metadata, size_t n, char *errstr,
                                     size_t errstr_size) {
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t err;

    if (n == 0)
        return VG_OK;
    l = vg_kafka_list_md(offs, metadata, n);
    /* A synchronous rd_kafka_commit() waits for the coordinator with no
     * timeout; through a queue of our own the wait is in slices and ends
     * at the drain deadline (the commit's outcome, if it ever comes, goes
     * to the queue, which librdkafka keeps alive until then). */
    {
        rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
        rd_kafka_event_t *ev = NULL;

        err = q ? rd_kafka_commit_queue(c->rk, l, q, NULL, NULL) : RD_KAFKA_RESP_ERR__FAIL;
        while (!err && !ev) {
            int slice = vg_kafka_clamp(c->deadline_ms, 250);
            if (slice == 0) {
                err = RD_KAFKA_RESP_ERR__TIMED_OUT;
                break;
            }
            ev = rd_kafka_queue_poll(q, slice);
            if (ev && rd_kafka_event_type(ev) != RD_KAFKA_EVENT_OFFSET_COMMIT) {
                rd_kafka_event_destroy(ev);
                ev = NULL;
            }
        }
        if (ev) {
            const rd_kafka_topic_partition_list_t *done = rd_kafka_event_topic_partition_list(ev);
            err = rd_kafka_event_error(ev);
            for (int i = 0; !err && done && i < done->cnt; i++)
                err = done->elems[i].err;
            rd_kafka_event_destroy(ev);
        }
        if (q)
            rd_kafka_queue_destroy(q);
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        vg_kafka_health_fail(c->health, vg_kafka_problem_of(err), vg_time_wall_ms());
        vg_errstr_set(errstr, errstr_size, "commit: %s%s", rd_kafka_err2str(err),
                      err == RD_KAFKA_RESP_ERR__TIMED_OUT ? " (the drain deadline passed)" : "");
        return VG_ERR_KAFKA;
    }
    return VG_OK;
}

vg_err_t vg_kafka_consumer_commit_async(vg_kafka_consumer_t *c, const vg_kafka_offset_t *offs,
                                        const char *const *metadata, size_t n, char *errstr,
                                        size_t errstr_size) {
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t err;

    vg_kafka_consumer_reap(c, 0);
    if (vg_kafka_consumer_commit_failure(c, errstr, errstr_size))
        return VG_ERR_KAFKA;
    if (n == 0)
        return VG_OK;
    if (!c->commit_q)
        return vg_kafka_consumer_commit_md(c, offs, metadata, n, errstr, errstr_size);
    l = vg_kafka_list_md(offs, metadata, n);
    err = rd_kafka_commit_queue(c->rk, l, c->commit_q, NULL, NULL);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        vg_errstr_set(errstr, errstr_size, "commit: %s", rd_kafka_err2str(err));
        return VG_ERR_KAFKA;
    }
    c->commits_pending++;
    return VG_OK;
}

vg_err_t vg_kafka_consumer_commit_wait(vg_kafka_consumer_t *c, int timeout_ms, char *errstr,
                                       size_t errstr_size) {
    vg_kafka_consumer_reap(c, timeout_ms);
    if (vg_kafka_consumer_commit_failure(c, errstr, errstr_size))
        return VG_ERR_KAFKA;
    if (c->commits_pending > 0) {
        vg_errstr_set(errstr, errstr_size, "commit: %d not answered in %d ms",
                      c->commits_pending, timeout_ms);
        return VG_ERR_TIMEOUT;
    }
    return VG_OK;
}

vg_err_t vg_kafka_consumer_seek(vg_kafka_consumer_t *c, const char *topic, int32_t partition,
                                int64_t offset) {
    vg_kafka_offset_t o = {topic, partition, offset};
    rd_kafka_topic_partition_list_t *l = vg_kafka_list(&o, 1);
    rd_kafka_error_t *error =
        rd_kafka_seek_partitions(c->rk, l, vg_kafka_clamp(c->deadline_ms, 5000));
    vg_err_t ret = VG_OK;

    if (error) {
        VG_WARN(c->log, "kafka", "seek %s [%d] to %lld: %s", topic, partition, (long long)offset,
                rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        ret = VG_ERR_KAFKA;
    } else if (l->elems[0].err) {
        ret = VG_ERR_KAFKA;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return ret;
}

typedef struct vg_kafka_time_read_s {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *list; /* one partition */
    int64_t ts_ms;
    const char *topic;
    int32_t partition;
    int64_t *low, *high;
} vg_kafka_time_read_t;

static rd_kafka_resp_err_t vg_kafka_offsets_for_times_try(void *arg, int timeout_ms) {
    vg_kafka_time_read_t *r = arg;
    r->list->elems[0].offset = r->ts_ms; /* answered in place */
    return rd_kafka_offsets_for_times(r->rk, r->list, timeout_ms);
}

static rd_kafka_resp_err_t vg_kafka_watermarks_try(void *arg, int timeout_ms) {
    vg_kafka_time_read_t *r = arg;
    return rd_kafka_query_watermark_offsets(r->rk, r->topic, r->partition, r->low, r->high,
                                            timeout_ms);
}

vg_err_t vg_kafka_consumer_offset_for_time(vg_kafka_consumer_t *c, const char *topic,
                                           int32_t partition, int64_t ts_ms, int64_t *offset,
                                           int64_t *low) {
    vg_kafka_offset_t o = {topic, partition, ts_ms};
    int64_t hi = -1;
    vg_kafka_time_read_t r = {c->rk, vg_kafka_list(&o, 1), ts_ms, topic, partition, low, &hi};
    rd_kafka_resp_err_t err =
        vg_kafka_read_within(c->deadline_ms, 10000, vg_kafka_offsets_for_times_try, &r);

    *offset = r.list->elems[0].offset;
    if (!err)
        err = r.list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(r.list);
    if (!err)
        err = vg_kafka_read_within(c->deadline_ms, 10000, vg_kafka_watermarks_try, &r);
    if (err) {
        VG_WARN(c->log, "kafka", "offset for time %lld of %s [%d]: %s", (long long)ts_ms, topic,
                partition, rd_kafka_err2str(err));
        return VG_ERR_KAFKA;
    }
    /* No record at or after ts_ms: the end (-1 from the broker). */
    if (*offset < 0)
        *offset = hi;
    return VG_OK;
}

vg_err_t vg_kafka_consumer_rewind_to_committed(vg_kafka_consumer_t *c, const char *topic,
                                               int32_t partition) {
    vg_kafka_offset_t o = {topic, partition, RD_KAFKA_OFFSET_INVALID};
    rd_kafka_topic_partition_list_t *l = vg_kafka_list(&o, 1);
    rd_kafka_resp_err_t err = vg_kafka_consumer_committed_within(c, l, 10000);
    int64_t off = l->elems[0].offset;

    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return VG_ERR_KAFKA;
    /* Nothing committed yet: start of the partition, as auto.offset.reset. */
    if (off < 0)
        off = RD_KAFKA_OFFSET_BEGINNING;
    return vg_kafka_consumer_seek(c, topic, partition, off);
}

vg_err_t vg_kafka_consumer_rewind_all(vg_kafka_consumer_t *c) {
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_error_t *error;
    rd_kafka_resp_err_t err;

    /* Rewind to what the coordinator holds once it has answered the
     * commits already sent. */
    vg_kafka_consumer_reap(c, vg_kafka_clamp(c->deadline_ms, 5000));
    if ((err = rd_kafka_assignment(c->rk, &l)))
        return VG_ERR_KAFKA;
    if (l->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return VG_OK;
    }
    err = vg_kafka_consumer_committed_within(c, l, 10000);
    if (err) {
        VG_WARN(c->log, "kafka", "committed offsets: %s", rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(l);
        return VG_ERR_KAFKA;
    }
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset < 0)
            l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    error = rd_kafka_seek_partitions(c->rk, l, vg_kafka_clamp(c->deadline_ms, 10000));
    rd_kafka_topic_partition_list_destroy(l);
    if (error) {
        VG_WARN(c->log, "kafka", "rewind: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return VG_ERR_KAFKA;
    }
    return VG_OK;
}

vg_err_t vg_kafka_consumer_pause(vg_kafka_consumer_t *c, bool pause) {
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t err;

    if ((err = rd_kafka_assignment(c->rk, &l)))
        return VG_ERR_KAFKA;
    err = pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return err ? VG_ERR_KAFKA : VG_OK;
}

vg_err_t vg_kafka_consumer_pause_partition(vg_kafka_consumer_t *c, const char *topic,
                                           int32_t partition, bool pause) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err;

    rd_kafka_topic_partition_list_add(l, topic, partition);
    err = pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    if (!err && l->elems[0].err)
        err = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    return err ? VG_ERR_KAFKA : VG_OK;
}

size_t vg_kafka_consumer_assigned(vg_kafka_consumer_t *c) {
    rd_kafka_topic_partition_list_t *l = NULL;
    size_t n = 0;

    if (rd_kafka_assignment(c->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
        n = (size_t)l->cnt;
        rd_kafka_topic_partition_list_destroy(l);
    }
    return n;
}

size_t vg_kafka_consumer_lag(vg_kafka_consumer_t *c, vg_kafka_offset_t *out, size_t max) {
    rd_kafka_topic_partition_list_t *l = NULL;
    size_t n = 0;

    if (rd_kafka_assignment(c->rk, &l) || !l)
        return 0;
    rd_kafka_position(c->rk, l);
    for (int i = 0; i < l->cnt && n < max; i++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_get_watermark_offsets(c->rk, l->elems[i].topic, l->elems[i].partition, &lo,
                                           &hi))
            continue;
        out[n].topic = c->topic;
        out[n].partition = l->elems[i].partition;
        out[n].offset = l->elems[i].offset >= 0 ? hi - l->elems[i].offset : hi - lo;
        if (out[n].offset < 0)
            out[n].offset = 0;
        n++;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return n;
}

void *vg_kafka_consumer_group_metadata(vg_kafka_consumer_t *c) {
    return rd_kafka_consumer_group_metadata(c->rk);
}

vg_err_t vg_kafka_consumer_close(vg_kafka_consumer_t *c) {
    rd_kafka_resp_err_t err;

    if (c->closed)
        return VG_OK;
    c->closed = true;
    vg_kafka_consumer_reap(c, vg_kafka_clamp(c->deadline_ms, 5000));
    err = rd_kafka_consumer_close(c->rk);
    return err ? VG_ERR_KAFKA : VG_OK;
}

void vg_kafka_consumer_set_deadline(vg_kafka_consumer_t *c, const _Atomic int64_t *deadline_ms) {
    c->deadline_ms = deadline_ms;
}

void vg_kafka_consumer_set_health(vg_kafka_consumer_t *c, vg_kafka_health_t *health) {
    c->health = health;
}

vg_err_t vg_kafka_consumer_close_within(vg_kafka_consumer_t *c, int timeout_ms) {
    int64_t until = (int64_t)(vg_time_mono_us() / 1000) + (timeout_ms > 0 ? timeout_ms : 0);
    rd_kafka_queue_t *q;
    rd_kafka_error_t *error;
    bool closed;

    if (c->closed)
        return VG_OK;
    c->closed = true;
    vg_kafka_consumer_reap(c, timeout_ms < 5000 ? timeout_ms : 5000);
    if (timeout_ms <= 0 || !(q = rd_kafka_queue_new(c->rk))) {
        c->abandoned = true;
        return VG_ERR_TIMEOUT;
    }
    /* The close runs in the background; its rebalance (the revoke) comes
     * through q as an event, handed here to our rebalance callback, as a
     * poll would (rd_kafka_queue_poll_callback asserts on such ops in
     * 2.0.2). */
    if ((error = rd_kafka_consumer_close_queue(c->rk, q))) {
        rd_kafka_error_destroy(error);
        rd_kafka_queue_destroy(q);
        c->abandoned = true;
        return VG_ERR_KAFKA;
    }
    while (!(closed = rd_kafka_consumer_closed(c->rk)) &&
           (int64_t)(vg_time_mono_us() / 1000) < until) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            vg_kafka_consumer_rebalance(c->rk, rd_kafka_event_error(ev),
                                        (rd_kafka_topic_partition_list_t *)
                                            rd_kafka_event_topic_partition_list(ev),
                                        c);
        if (ev)
            rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    if (!closed) {
        c->abandoned = true;
        return VG_ERR_TIMEOUT;
    }
    return VG_OK;
}

void vg_kafka_consumer_destroy(vg_kafka_consumer_t *c) {
    if (!c)
        return;
    if (c->rk) {
        vg_kafka_consumer_close(c);
        if (c->q)
            rd_kafka_queue_destroy(c->q);
        if (c->commit_q)
            rd_kafka_queue_destroy(c->commit_q);
        /* A close that did not finish in time (Kafka unreachable) is not
         * waited for again: the group notices at its session timeout. */
        rd_kafka_destroy_flags(c->rk, c->abandoned ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
    }
    free(c);
}

vg_err_t vg_kafka_read_at(const vg_kafka_props_t *props, const char *topic, int32_t partition,
                          int64_t offset, int timeout_ms, void *buf, size_t cap, size_t *len,
                          int64_t *timestamp_ms, char *errstr, size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        /* An offset outside the log is an answer, not a jump elsewhere. */
        {"auto.offset.reset", "error"},
        {"isolation.level", "read_committed"},
        {"enable.partition.eof", "true"},
        /* librdkafka's assign needs a group; an assigned consumer never
         * joins it and commits nothing to it. */
        {"group.id", "vigil-read-at"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_t *rk = NULL;
    int64_t until = (int64_t)(vg_time_mono_us() / 1000) + timeout_ms;
    vg_err_t err = VG_ERR_TIMEOUT;
    rd_kafka_resp_err_t kerr;
    char why[512];

    vg_errstr_set(errstr, errstr_size, "%s [%d] @%lld: no answer from Kafka within %d ms", topic,
                  (int)partition, (long long)offset, timeout_ms);
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], NULL, 0);
    for (size_t i = 0; props && i < props->n; i++) {
        if (rd_kafka_conf_set(conf, props->keys[i], props->vals[i], why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
            vg_errstr_set(errstr, errstr_size, "kafka.%s: %s", props->keys[i], why);
            rd_kafka_conf_destroy(conf);
            return VG_ERR_CONFIG;
        }
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
        vg_errstr_set(errstr, errstr_size, "consumer: %s", why);
        rd_kafka_conf_destroy(conf);
        return VG_ERR_KAFKA;
    }
    rd_kafka_poll_set_consumer(rk);
    parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = offset;
    if ((kerr = rd_kafka_assign(rk, parts))) {
        vg_errstr_set(errstr, errstr_size, "%s [%d]: assign: %s", topic, (int)partition,
                      rd_kafka_err2str(kerr));
        err = VG_ERR_KAFKA;
        goto done;
    }
    while ((int64_t)(vg_time_mono_us() / 1000) < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
            m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
            m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
            (!m->err && m->offset != offset)) {
            vg_errstr_set(errstr, errstr_size,
                          "%s [%d] @%lld is not in the log (%s): past its retention, "
                          "compacted, in an aborted transaction, or not yet written",
                          topic, (int)partition, (long long)offset,
                          m->err ? rd_kafka_message_errstr(m) : "the next record is later");
            err = VG_ERR_NOT_FOUND;
        } else if (m->err) {
            const char *d = vg_kafka_diag(m->err, rd_kafka_message_errstr(m), topic, why,
                                          sizeof(why));
            vg_errstr_set(errstr, errstr_size, "%s [%d] @%lld: %s", topic, (int)partition,
                          (long long)offset, d ? d : rd_kafka_message_errstr(m));
            err = VG_ERR_KAFKA;
            if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                /* Passing: keep trying until the deadline. */
                rd_kafka_message_destroy(m);
                continue;
            }
        } else if (m->len > cap) {
            vg_errstr_set(errstr, errstr_size, "%s [%d] @%lld: %zu bytes, more than %zu", topic,
                          (int)partition, (long long)offset, m->len, cap);
            err = VG_ERR_OVERFLOW;
        } else {
            memcpy(buf, m->payload, m->len);
            *len = m->len;
            *timestamp_ms = rd_kafka_message_timestamp(m, NULL);
            err = VG_OK;
        }
        rd_kafka_message_destroy(m);
        break;
    }
done:
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return err;
}
