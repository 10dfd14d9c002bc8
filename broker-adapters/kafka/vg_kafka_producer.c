#include "vg_kafka_producer.h"
#include "vg_kafka_diag.h"
#include "vg_kafka_health.h"
#include "vg_kafka_int.h"
#include "vg_time.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VG_KAFKA_WAIT_NOTE_MS 1000  /* a blocking call this slow counts as trouble */
#define VG_KAFKA_DIAG_EVERY_MS 5000 /* metadata asked at most this often while stalled */

struct vg_kafka_producer_s {
    rd_kafka_t *rk;
    vg_log_t *log;
    bool transactional;
    bool in_txn;
    bool fatal;               /* unusable, but not fenced: make a new one */
    /* A call that ignores its timeout was left running at the drain
     * deadline: the handle is busy for good; every later call fails, and
     * destroy leaves it to the process exit. */
    bool wedged;
    /* Delivery outcome since the last flush; written by the delivery
     * report callback, which runs in the owning thread (inside poll or
     * flush), so no lock is needed. */
    size_t failed;
    char first_error[256];
    /* Topics with a failed delivery, and the tags of failed tagged
     * records, since vg_kafka_producer_clear_failed(). */
    char failed_topics[4][256];
    size_t n_failed_topics;
    uint64_t failed_tags[64];
    size_t n_failed_tags;
    /* The drain deadline (monotonic ms, 0: none), owned by the caller:
     * blocking calls wait in slices and give up when it passes. */
    const _Atomic int64_t *deadline_ms;
    /* commit_transaction() timed out and goes on in the background:
     * librdkafka refuses every other transactional call ("Conflicting
     * commit_transaction API call is already in progress") until the
     * commit is called again and returns its outcome. */
    bool commit_pending;
    /* When the open transaction began (monotonic ms) and Kafka's
     * transaction.timeout.ms: the coordinator aborts a transaction open
     * longer and fences its producer epoch. expired: that happened. */
    int64_t txn_begin_ms, txn_timeout_ms;
    bool expired;
    /* Health (vg_kafka_health.h), owned by the caller; NULL: not kept. */
    vg_kafka_health_t *health;
    int report_ms;                       /* one diagnosis log line per this */
    vg_kafka_problem_t err_problem;      /* what the errors of this stall said */
    vg_kafka_problem_t reported;         /* in the last log line */
    int64_t diag_at_ms, reported_at_ms;  /* monotonic */
};

void vg_kafka_producer_set_deadline(vg_kafka_producer_t *p, const _Atomic int64_t *deadline_ms) {
    p->deadline_ms = deadline_ms;
}

/* The next wait of a blocking call that may last until `until`
 * (monotonic ms): at most 250 ms, never past the drain deadline. 0: stop
 * waiting (time is up). */
static int vg_kafka_producer_slice(const vg_kafka_producer_t *p, int64_t until) {
    int64_t left = until - (int64_t)(vg_time_mono_us() / 1000);

    return vg_kafka_clamp(p->deadline_ms, left <= 0 ? 0 : left > 250 ? 250 : (int)left);
}

static bool vg_kafka_producer_past_deadline(const vg_kafka_producer_t *p) {
    int64_t d = p->deadline_ms ? atomic_load(p->deadline_ms) : 0;

    return d > 0 && (int64_t)(vg_time_mono_us() / 1000) >= d;
}

/* A write failed (err: an rd_kafka_resp_err_t) or waited past its usual
 * time (err 0): start the stall clock of the caller's health and keep
 * what the error says, for when the metadata finds no cause. */
static void vg_kafka_producer_trouble(vg_kafka_producer_t *p, int err) {
    vg_kafka_problem_t pr = vg_kafka_problem_of(err);

    if (!p->health)
        return;
    if (!atomic_load(&p->health->failing_since_ms)) /* a new stall */
        p->err_problem = VG_KAFKA_PROBLEM_NONE;
    if (pr > p->err_problem)
        p->err_problem = pr;
    vg_kafka_health_fail(p->health, pr, vg_time_wall_ms());
}

/* Called on every slice of a blocking call that began at started_ms
 * (monotonic): past VG_KAFKA_WAIT_NOTE_MS it is trouble, and the cluster
 * is asked why. */
static void vg_kafka_producer_waiting(vg_kafka_producer_t *p, int64_t started_ms) {
    if (!p->health || (int64_t)(vg_time_mono_us() / 1000) - started_ms < VG_KAFKA_WAIT_NOTE_MS)
        return;
    vg_kafka_producer_trouble(p, 0);
    vg_kafka_producer_diagnose(p);
}

/* A transactional call returned err: worth calling again? Not when it
 * conflicts with another call in progress: that answer comes at once,
 * and calling again would only spin. */
static bool vg_kafka_producer_again(const rd_kafka_error_t *error) {
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);

    return rd_kafka_error_is_retriable(error) && code != RD_KAFKA_RESP_ERR__CONFLICT &&
           code != RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS;
}

/* rd_kafka_flush() in slices (see vg_kafka_producer_slice). */
static rd_kafka_resp_err_t vg_kafka_producer_flush_sliced(vg_kafka_producer_t *p,
                                                          int timeout_ms) {
    int64_t start = (int64_t)(vg_time_mono_us() / 1000), until = start + timeout_ms;
    rd_kafka_resp_err_t err;
    int slice;

    do {
        slice = vg_kafka_producer_slice(p, until);
        err = rd_kafka_flush(p->rk, slice);
        if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
            vg_kafka_producer_waiting(p, start);
    } while (err == RD_KAFKA_RESP_ERR__TIMED_OUT && slice > 0);
    return err;
}

static void vg_kafka_producer_note_failed(vg_kafka_producer_t *p, const char *topic) {
    for (size_t i = 0; i < p->n_failed_topics; i++)
        if (strcmp(p->failed_topics[i], topic) == 0)
            return;
    if (p->n_failed_topics < 4)
        snprintf(p->failed_topics[p->n_failed_topics++], sizeof(p->failed_topics[0]), "%s", topic);
}

static void vg_kafka_producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    vg_kafka_producer_t *p = opaque;

    (void)rk;
    if (!m->err)
        return;
    vg_kafka_producer_trouble(p, m->err);
    vg_kafka_producer_note_failed(p, rd_kafka_topic_name(m->rkt));
    if (m->_private && p->n_failed_tags < sizeof(p->failed_tags) / sizeof(p->failed_tags[0]))
        p->failed_tags[p->n_failed_tags++] = (uint64_t)(uintptr_t)m->_private;
    if (p->failed++ == 0) {
        char diag[512];
        snprintf(p->first_error, sizeof(p->first_error), "%s [%d]: %s",
                 rd_kafka_topic_name(m->rkt), m->partition, rd_kafka_err2str(m->err));
        if (vg_kafka_diag(m->err, rd_kafka_err2str(m->err), rd_kafka_topic_name(m->rkt), diag,
                          sizeof(diag)))
            VG_ERROR(p->log, "kafka", "%s", diag);
    }
}

static void vg_kafka_producer_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                                     const char *buf) {
    vg_kafka_producer_t *p = rd_kafka_opaque(rk);

    char diag[512];

    if (!p)
        return;
    VG_LOG(p->log, level <= 3 ? VG_LOG_ERROR : level <= 5 ? VG_LOG_WARN : VG_LOG_DEBUG,
           "librdkafka", "%s: %s", fac, buf);
    /* The producer has no error callback, and in exactly_once it waits in
     * init_transactions first: a refused login or an untrusted broker
     * certificate shows only as this line, so it is explained here. */
    if (level <= 4 && vg_kafka_diag(0, buf, NULL, diag, sizeof(diag)))
        VG_ERROR(p->log, "kafka", "%s", diag);
}

/* Map a transactional API error; fatal and fencing errors end the producer. */
static vg_err_t vg_kafka_producer_txn_err(vg_kafka_producer_t *p, rd_kafka_error_t *error,
                                          const char *what, char *errstr, size_t errstr_size) {
    vg_err_t ret = VG_ERR_KAFKA;
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    bool fenced = code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;

    /* Fenced, but not by a newer instance: the transaction was open longer
     * than transaction.timeout.ms (writes stalled that long: min.insync.
     * replicas not met, a coordinator unable to write its log), so the
     * coordinator aborted it and bumped the producer epoch. Nothing of it
     * is visible; a new instance with the same id goes on (the batch
     * replays), as after any fatal error. A newer instance fences a
     * young transaction, and that still stops the worker. */
    if (fenced && (p->expired || (p->txn_begin_ms && (int64_t)(vg_time_mono_us() / 1000) -
                                                             p->txn_begin_ms >=
                                                         p->txn_timeout_ms))) {
        p->expired = true;
        fenced = false;
    }
    vg_errstr_set(errstr, errstr_size, "%s: %s%s%s%s", what, rd_kafka_error_string(error),
                  rd_kafka_error_is_fatal(error) ? " (fatal)" : "",
                  p->expired ? " (the transaction outlived transaction.timeout.ms and Kafka "
                               "aborted it; a new producer instance takes over)"
                             : "",
                  vg_kafka_producer_past_deadline(p) ? " (gave up: the drain deadline passed)"
                                                     : "");
    if (code != RD_KAFKA_RESP_ERR__CONFLICT && code != RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS)
        vg_kafka_producer_trouble(p, code);
    if (fenced)
        ret = VG_ERR_FENCED; /* a newer instance owns the transactional id */
    else if (rd_kafka_error_is_fatal(error) || p->expired)
        p->fatal = true;     /* this instance is dead; a new one may go on */
    VG_WARN(p->log, "kafka", "%s: %s", what, rd_kafka_error_string(error));
    {
        char diag[512];
        if (vg_kafka_diag(rd_kafka_error_code(error), rd_kafka_error_string(error), NULL, diag,
                          sizeof(diag)))
            VG_ERROR(p->log, "kafka", "%s: %s", what, diag);
    }
    rd_kafka_error_destroy(error);
    return ret;
}

vg_kafka_producer_t *vg_kafka_producer_new(const vg_kafka_props_t *props,
                                           const char *transactional_id, vg_log_t *log,
                                           char *errstr, size_t errstr_size) {
    static const char *const defaults[][2] = {
        /* Idempotence: broker-side retries never duplicate a record. */
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        /* A small request (a produce, an EndTxn) goes out at once instead
         * of waiting for the previous one's ACK, as in Kafka's own
         * clients (docs/decisions.md, "No Nagle"). */
        {"socket.nagle.disable", "true"},
        {"compression.type", "lz4"},
        {"message.timeout.ms", "60000"},
        /* Triggers in flight are one batch's: 32 MB is ample (default 1 GB). */
        {"queue.buffering.max.kbytes", "32768"},
    };
    vg_kafka_producer_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf;

    if (!p) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->log = log;
    conf = rd_kafka_conf_new();
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], NULL, 0);
    for (size_t i = 0; props && i < props->n; i++) {
        char why[256];
        /* Consumer-only properties are skipped so one kafka.* set serves both. */
        if (strcmp(props->keys[i], "group.id") == 0 ||
            strcmp(props->keys[i], "auto.offset.reset") == 0 ||
            strcmp(props->keys[i], "isolation.level") == 0 ||
            strcmp(props->keys[i], "partition.assignment.strategy") == 0 ||
            strcmp(props->keys[i], "session.timeout.ms") == 0)
            continue;
        if (rd_kafka_conf_set(conf, props->keys[i], props->vals[i], why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
            vg_errstr_set(errstr, errstr_size, "kafka.%s: %s", props->keys[i], why);
            rd_kafka_conf_destroy(conf);
            free(p);
            return NULL;
        }
    }
    if (transactional_id) {
        if (rd_kafka_conf_set(conf, "transactional.id", transactional_id, errstr, errstr_size) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            free(p);
            return NULL;
        }
        p->transactional = true;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, vg_kafka_producer_dr);
    rd_kafka_conf_set_log_cb(conf, vg_kafka_producer_log_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
    }
    {
        char buf[32];
        size_t size = sizeof(buf);
        p->txn_timeout_ms = 60000; /* librdkafka's default */
        if (rd_kafka_conf_get(rd_kafka_conf(p->rk), "transaction.timeout.ms", buf, &size) ==
                RD_KAFKA_CONF_OK &&
            atoll(buf) > 0)
            p->txn_timeout_ms = atoll(buf);
    }
    if (transactional_id) {
        /* Fences any older producer with the same id (a zombie worker). */
        rd_kafka_error_t *error = rd_kafka_init_transactions(p->rk, 60000);
        if (error) {
            vg_kafka_producer_txn_err(p, error, "init_transactions", errstr, errstr_size);
            vg_kafka_producer_destroy(p);
            return NULL;
        }
    }
    return p;
}

vg_err_t vg_kafka_producer_send(vg_kafka_producer_t *p, const char *topic, const void *key,
                                size_t key_len, const void *value, size_t len,
                                const vg_kafka_header_t *headers, size_t n_headers) {
    return vg_kafka_producer_send_to(p, topic, VG_KAFKA_PARTITION_ANY, 0, key, key_len, value, len,
                                     headers, n_headers);
}

static vg_err_t vg_kafka_producer_produce(vg_kafka_producer_t *p, const char *topic,
                                          int32_t partition, int64_t timestamp_ms,
                                          const void *key, size_t key_len, const void *value,
                                          size_t len, const vg_kafka_header_t *headers,
                                          size_t n_headers, uint64_t tag) {
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_resp_err_t err;

    if (n_headers) {
        hdrs = rd_kafka_headers_new(n_headers);
        for (size_t i = 0; i < n_headers; i++)
            rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value,
                                (ssize_t)headers[i].len);
    }
    for (;;) {
        err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA
                                                                   : partition),
                                RD_KAFKA_V_TIMESTAMP(timestamp_ms > 0 ? timestamp_ms : 0),
                                RD_KAFKA_V_KEY((void *)key, key_len),
                                RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_OPAQUE((void *)(uintptr_t)tag),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || vg_kafka_producer_past_deadline(p))
            break;
        /* Backpressure: serve delivery reports until there is room. */
        rd_kafka_poll(p->rk, 100);
    }
    if (err) {
        /* On failure the headers were not taken over. */
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        VG_WARN(p->log, "kafka", "produce to %s: %s", topic, rd_kafka_err2str(err));
        return VG_ERR_KAFKA;
    }
    rd_kafka_poll(p->rk, 0);
    return VG_OK;
}

vg_err_t vg_kafka_producer_send_to(vg_kafka_producer_t *p, const char *topic, int32_t partition,
                                   int64_t timestamp_ms, const void *key, size_t key_len,
                                   const void *value, size_t len,
                                   const vg_kafka_header_t *headers, size_t n_headers) {
    return vg_kafka_producer_produce(p, topic, partition, timestamp_ms, key, key_len, value, len,
                                     headers, n_headers, 0);
}

vg_err_t vg_kafka_producer_send_tagged(vg_kafka_producer_t *p, const char *topic, const void *key,
                                       size_t key_len, const void *value, size_t len,
                                       const vg_kafka_header_t *headers, size_t n_headers,
                                       uint64_t tag) {
    return vg_kafka_producer_produce(p, topic, VG_KAFKA_PARTITION_ANY, 0, key, key_len, value,
                                     len, headers, n_headers, tag);
}

size_t vg_kafka_producer_failed_tags(vg_kafka_producer_t *p, uint64_t *out, size_t max) {
    size_t n = 0;

    rd_kafka_poll(p->rk, 0); /* reports already in */
    for (; n < p->n_failed_tags && n < max; n++)
        out[n] = p->failed_tags[n];
    return n;
}

vg_err_t vg_kafka_producer_flush(vg_kafka_producer_t *p, int timeout_ms, size_t *failed,
                                 char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t err = vg_kafka_producer_flush_sliced(p, timeout_ms);
    vg_err_t ret = VG_OK;

    if (err) {
        vg_errstr_set(errstr, errstr_size, "flush: %s (%d still queued)", rd_kafka_err2str(err),
                      rd_kafka_outq_len(p->rk));
        vg_kafka_producer_trouble(p, err);
        ret = VG_ERR_TIMEOUT;
    } else if (p->failed) {
        vg_errstr_set(errstr, errstr_size, "%zu record(s) not delivered, first: %s", p->failed,
                      p->first_error);
        ret = VG_ERR_KAFKA;
    }
    if (failed)
        *failed = p->failed;
    p->failed = 0; /* the topics stay until vg_kafka_producer_clear_failed() */
    p->first_error[0] = '\0';
    return ret;
}

vg_err_t vg_kafka_producer_begin(vg_kafka_producer_t *p, char *errstr, size_t errstr_size) {
    rd_kafka_error_t *error = rd_kafka_begin_transaction(p->rk);

    if (error)
        return vg_kafka_producer_txn_err(p, error, "begin_transaction", errstr, errstr_size);
    p->in_txn = true;
    p->txn_begin_ms = (int64_t)(vg_time_mono_us() / 1000);
    return VG_OK;
}

vg_err_t vg_kafka_producer_commit(vg_kafka_producer_t *p, const vg_kafka_offset_t *offs, size_t n,
                                  void *group_metadata, int timeout_ms, char *errstr,
                                  size_t errstr_size) {
    return vg_kafka_producer_commit_md(p, offs, NULL, n, group_metadata, timeout_ms, errstr,
                                       errstr_size);
}

/* rd_kafka_send_offsets_to_transaction() ignores its timeout while the
 * group coordinator is unreachable and can block until Kafka is back
 * (librdkafka#5456, open in 2.14 too). It runs on a thread of its own so
 * that the caller can stop waiting at the drain deadline; a call given up
 * on owns its arguments and frees them when it returns. */
typedef struct vg_offsets_call_s {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_consumer_group_metadata_t *cgmd;
    int timeout_ms;
    rd_kafka_error_t *error;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done, abandoned;
} vg_offsets_call_t;

static void vg_offsets_call_free(vg_offsets_call_t *call) {
    if (call->error)
        rd_kafka_error_destroy(call->error);
    rd_kafka_topic_partition_list_destroy(call->list);
    if (call->cgmd)
        rd_kafka_consumer_group_metadata_destroy(call->cgmd);
    pthread_mutex_destroy(&call->lock);
    pthread_cond_destroy(&call->cond);
    free(call);
}

static void *vg_offsets_call_run(void *arg) {
    vg_offsets_call_t *call = arg;
    rd_kafka_error_t *error =
        rd_kafka_send_offsets_to_transaction(call->rk, call->list, call->cgmd, call->timeout_ms);
    bool abandoned;

    pthread_mutex_lock(&call->lock);
    call->error = error;
    call->done = true;
    abandoned = call->abandoned;
    pthread_cond_signal(&call->cond);
    pthread_mutex_unlock(&call->lock);
    if (abandoned)
        vg_offsets_call_free(call);
    return NULL;
}

/* Run the call; wait for it while the drain deadline allows. Returns the
 * call's error (NULL: done), or sets *gave_up. Takes list and cgmd. */
static rd_kafka_error_t *vg_kafka_producer_offsets_call(vg_kafka_producer_t *p,
                                                        rd_kafka_topic_partition_list_t *list,
                                                        rd_kafka_consumer_group_metadata_t *cgmd,
                                                        int timeout_ms, bool *gave_up) {
    vg_offsets_call_t *call = calloc(1, sizeof(*call));
    rd_kafka_error_t *error = NULL;
    pthread_attr_t attr;
    pthread_t t;
    bool running;
    int64_t started = (int64_t)(vg_time_mono_us() / 1000);

    *gave_up = false;
    if (!call) {
        rd_kafka_topic_partition_list_destroy(list);
        if (cgmd)
            rd_kafka_consumer_group_metadata_destroy(cgmd);
        return rd_kafka_error_new(RD_KAFKA_RESP_ERR__FAIL, "out of memory");
    }
    *call = (vg_offsets_call_t){.rk = p->rk, .list = list, .cgmd = cgmd, .timeout_ms = timeout_ms};
    pthread_mutex_init(&call->lock, NULL);
    pthread_cond_init(&call->cond, NULL);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    running = pthread_create(&t, &attr, vg_offsets_call_run, call) == 0;
    pthread_attr_destroy(&attr);
    if (!running) {
        vg_offsets_call_run(call); /* no thread: on this one, as before */
    }
    pthread_mutex_lock(&call->lock);
    while (!call->done) {
        struct timespec ts;
        int slice = vg_kafka_clamp(p->deadline_ms, 250);
        if (slice == 0) {
            call->abandoned = true;
            *gave_up = true;
            break;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)slice * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&call->cond, &call->lock, &ts);
        if (!call->done) {
            /* Not under the lock: a diagnosis asks the cluster. */
            pthread_mutex_unlock(&call->lock);
            vg_kafka_producer_waiting(p, started);
            pthread_mutex_lock(&call->lock);
        }
    }
    pthread_mutex_unlock(&call->lock);
    if (*gave_up)
        return NULL;
    error = call->error;
    call->error = NULL;
    vg_offsets_call_free(call);
    return error;
}

vg_err_t vg_kafka_producer_send_offsets_md(vg_kafka_producer_t *p, const vg_kafka_offset_t *offs,
                                           const char *const *metadata, size_t n,
                                           void *group_metadata, int timeout_ms, char *errstr,
                                           size_t errstr_size) {
    rd_kafka_consumer_group_metadata_t *cgmd = group_metadata;
    rd_kafka_error_t *error = NULL;

    if (p->wedged) {
        if (cgmd)
            rd_kafka_consumer_group_metadata_destroy(cgmd);
        vg_errstr_set(errstr, errstr_size, "send_offsets_to_transaction: the producer is still "
                                           "inside a call given up on at the drain deadline");
        return VG_ERR_TIMEOUT;
    }
    if (n) {
        int64_t until = (int64_t)(vg_time_mono_us() / 1000) + timeout_ms;
        bool gave_up = false;
        for (;;) {
            /* The call takes its list and a copy of the group metadata. */
            rd_kafka_consumer_group_metadata_t *copy = NULL;
            if (cgmd) {
                void *buf = NULL;
                size_t size = 0;
                rd_kafka_error_t *e = rd_kafka_consumer_group_metadata_write(cgmd, &buf, &size);
                if (e)
                    rd_kafka_error_destroy(e);
                else if ((e = rd_kafka_consumer_group_metadata_read(&copy, buf, size)))
                    rd_kafka_error_destroy(e), copy = NULL;
                free(buf);
            }
            int64_t left = until - (int64_t)(vg_time_mono_us() / 1000);
            error = vg_kafka_producer_offsets_call(p, vg_kafka_list_md(offs, metadata, n), copy,
                                                   left > 0 ? (int)left : 0, &gave_up);
            if (gave_up || !error || !vg_kafka_producer_again(error) ||
                vg_kafka_producer_slice(p, until) == 0)
                break;
            rd_kafka_error_destroy(error);
        }
        if (gave_up) {
            p->wedged = true;
            if (cgmd)
                rd_kafka_consumer_group_metadata_destroy(cgmd);
            vg_errstr_set(errstr, errstr_size,
                          "send_offsets_to_transaction: no answer by the drain deadline (group "
                          "coordinator unreachable; librdkafka#5456): the transaction is left "
                          "open, uncommitted");
            VG_WARN(p->log, "kafka", "%s", errstr);
            return VG_ERR_TIMEOUT;
        }
    }
    if (cgmd)
        rd_kafka_consumer_group_metadata_destroy(cgmd);
    if (error)
        return vg_kafka_producer_txn_err(p, error, "send_offsets_to_transaction", errstr,
                                         errstr_size);
    return VG_OK;
}

/* rd_kafka_commit_transaction() in slices until timeout_ms (or the drain
 * deadline); a new commit or the resumption of one that timed out.
 * Returns NULL when committed. Still retriable at the end: the commit
 * goes on in the background and commit_pending says so. */
static rd_kafka_error_t *vg_kafka_producer_commit_call(vg_kafka_producer_t *p, int timeout_ms) {
    int64_t start = (int64_t)(vg_time_mono_us() / 1000), until = start + timeout_ms;
    rd_kafka_error_t *error;

    for (;;) {
        error = rd_kafka_commit_transaction(p->rk, vg_kafka_producer_slice(p, until));
        if (!error || !vg_kafka_producer_again(error) || vg_kafka_producer_slice(p, until) == 0)
            break;
        rd_kafka_error_destroy(error);
        vg_kafka_producer_waiting(p, start);
    }
    p->commit_pending = error && vg_kafka_producer_again(error);
    if (!error) {
        p->in_txn = false;
        p->failed = 0;
        p->txn_begin_ms = 0;
    }
    return error;
}

vg_err_t vg_kafka_producer_commit_md(vg_kafka_producer_t *p, const vg_kafka_offset_t *offs,
                                     const char *const *metadata, size_t n, void *group_metadata,
                                     int timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_error_t *error = NULL;
    vg_err_t err;

    if ((err = vg_kafka_producer_send_offsets_md(p, offs, metadata, n, group_metadata, timeout_ms,
                                                 errstr, errstr_size)))
        return err;
    if (p->wedged)
        return VG_ERR_TIMEOUT;
    /* In slices: a retriable error (a timeout among them) resumes the
     * same commit; it ends at timeout_ms or the drain deadline. Anything
     * else is aborted by the caller, which then rewinds to the committed
     * offsets. */
    if ((error = vg_kafka_producer_commit_call(p, timeout_ms)))
        return vg_kafka_producer_txn_err(p, error, "commit_transaction", errstr, errstr_size);
    return VG_OK;
}

vg_err_t vg_kafka_producer_abort(vg_kafka_producer_t *p, int timeout_ms, char *errstr,
                                 size_t errstr_size) {
    rd_kafka_error_t *error;

    /* librdkafka#4849 (open; 2.0.2 has it): an abort right after the
     * transaction's first produce can send EndTxn before the coordinator has
     * processed AddPartitionsToTxn; EndTxn against an Empty transaction
     * fails with INVALID_TXN_STATE, a fatal error that kills the producer.
     * A delivered record proves its partition is registered, so wait for
     * the outstanding deliveries first (they are aborted with the rest). */
    int64_t until;

    if (p->wedged) {
        vg_errstr_set(errstr, errstr_size, "abort_transaction: the producer is still inside a "
                                           "call given up on at the drain deadline");
        return VG_ERR_TIMEOUT;
    }
    if (p->commit_pending) {
        /* A commit that timed out is still under way: until it is called
         * again and returns, librdkafka refuses the abort. Its outcome
         * first; if it went through after all, there is nothing to abort
         * (the caller's rewind finds its offsets committed). */
        error = vg_kafka_producer_commit_call(p, timeout_ms);
        if (!error) {
            VG_INFO(p->log, "kafka", "the commit that timed out went through after all");
            return VG_OK;
        }
        if (p->commit_pending) {
            vg_errstr_set(errstr, errstr_size, "abort_transaction: the commit that timed out is "
                                               "still in progress: %s",
                          rd_kafka_error_string(error));
            vg_kafka_producer_trouble(p, rd_kafka_error_code(error));
            rd_kafka_error_destroy(error);
            return VG_ERR_TIMEOUT;
        }
        if (!rd_kafka_error_txn_requires_abort(error))
            return vg_kafka_producer_txn_err(p, error, "commit_transaction (resumed)", errstr,
                                             errstr_size);
        rd_kafka_error_destroy(error);
    }
    vg_kafka_producer_flush_sliced(p, timeout_ms);
    until = (int64_t)(vg_time_mono_us() / 1000) + timeout_ms;
    {
        int64_t start = (int64_t)(vg_time_mono_us() / 1000);
        for (;;) {
            error = rd_kafka_abort_transaction(p->rk, vg_kafka_producer_slice(p, until));
            if (!error || !vg_kafka_producer_again(error) ||
                vg_kafka_producer_slice(p, until) == 0)
                break;
            rd_kafka_error_destroy(error);
            vg_kafka_producer_waiting(p, start);
        }
    }

    p->failed = 0;
    if (error)
        return vg_kafka_producer_txn_err(p, error, "abort_transaction", errstr, errstr_size);
    p->in_txn = false;
    p->txn_begin_ms = 0;
    return VG_OK;
}

bool vg_kafka_producer_fatal(const vg_kafka_producer_t *p) {
    rd_kafka_resp_err_t code;

    if (p->fatal)
        return true;
    /* A fatal error raised in the background (an idempotent producer's
     * sequence gap, a transaction aborted by its timeout while no call was
     * made) shows on the next call; fencing by a newer instance is left
     * to that call, which then stops the worker (VG_ERR_FENCED). */
    code = rd_kafka_fatal_error(p->rk, NULL, 0);
    return code && code != RD_KAFKA_RESP_ERR__FENCED &&
           code != RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
}

vg_err_t vg_kafka_producer_warm(vg_kafka_producer_t *p, const char *topic, int timeout_ms) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;

    if (!rkt)
        return VG_ERR_KAFKA;
    /* The partitions and their leaders, known before the first record:
     * otherwise the first trigger waits for this lookup. */
    err = rd_kafka_metadata(p->rk, 0, rkt, &md, timeout_ms);
    if (!err && md && md->topic_cnt == 1 &&
        md->topics[0].err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        /* Said at start, before the first record fails on it. */
        char diag[512];
        err = md->topics[0].err;
        if (vg_kafka_diag(err, NULL, topic, diag, sizeof(diag)))
            VG_ERROR(p->log, "kafka", "%s", diag);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (err)
        VG_WARN(p->log, "kafka", "metadata of %s: %s", topic, rd_kafka_err2str(err));
    return err ? VG_ERR_KAFKA : VG_OK;
}

bool vg_kafka_producer_in_transaction(const vg_kafka_producer_t *p) { return p->in_txn; }

void vg_kafka_producer_clear_failed(vg_kafka_producer_t *p) {
    p->n_failed_topics = 0;
    p->n_failed_tags = 0;
}

bool vg_kafka_producer_failed_to(vg_kafka_producer_t *p, const char *topic) {
    /* Serve the delivery reports already in: a failed transaction commit
     * names the refused records, but their reports wait for a poll. */
    rd_kafka_poll(p->rk, 0);
    for (size_t i = 0; i < p->n_failed_topics; i++)
        if (strcmp(p->failed_topics[i], topic) == 0)
            return true;
    return false;
}

size_t vg_kafka_producer_max_message_bytes(vg_kafka_producer_t *p) {
    char buf[32];
    size_t size = sizeof(buf);
    long long v;

    if (rd_kafka_conf_get(rd_kafka_conf(p->rk), "message.max.bytes", buf, &size) !=
            RD_KAFKA_CONF_OK ||
        (v = atoll(buf)) <= 0)
        return 1000000; /* librdkafka's default */
    return (size_t)v;
}

void vg_kafka_producer_set_health(vg_kafka_producer_t *p, vg_kafka_health_t *health,
                                  int report_ms) {
    p->health = health;
    p->report_ms = report_ms > 0 ? report_ms : 10000;
}

/* What one topic's metadata says about writing to it: the worst problem
 * of its partitions (vg_kafka_problem_of_partition), and a phrase for the
 * log appended to detail ("vigil.triggers: 8 of 8 partitions with 1
 * in-sync replica(s) of 3"). */
static vg_kafka_problem_t vg_kafka_producer_topic_health(const rd_kafka_metadata_topic_t *t,
                                                         char *detail, size_t size) {
    vg_kafka_problem_t worst = VG_KAFKA_PROBLEM_NONE;
    int bad = 0, isr = 0, replicas = 0;
    size_t len = strlen(detail);

    for (int i = 0; i < t->partition_cnt; i++) {
        const rd_kafka_metadata_partition_t *mp = &t->partitions[i];
        vg_kafka_problem_t pr =
            vg_kafka_problem_of_partition(mp->leader, mp->replica_cnt, mp->isr_cnt);
        if (pr == VG_KAFKA_PROBLEM_NONE)
            continue;
        bad++;
        if (pr > worst)
            worst = pr;
        isr = mp->isr_cnt;
        replicas = mp->replica_cnt;
    }
    if (bad && worst == VG_KAFKA_PROBLEM_NO_LEADER)
        snprintf(detail + len, size - len, "%s%s: %d of %d partitions without a leader",
                 len ? "; " : "", t->topic, bad, t->partition_cnt);
    else if (bad)
        snprintf(detail + len, size - len, "%s%s: %d of %d partitions with %d in-sync "
                 "replica(s) of %d", len ? "; " : "", t->topic, bad, t->partition_cnt, isr,
                 replicas);
    return worst;
}

typedef struct vg_kafka_metadata_read_s {
    rd_kafka_t *rk;
    const struct rd_kafka_metadata **md;
} vg_kafka_metadata_read_t;

static rd_kafka_resp_err_t vg_kafka_metadata_try(void *arg, int timeout_ms) {
    vg_kafka_metadata_read_t *r = arg;
    return rd_kafka_metadata(r->rk, 0, NULL, r->md, timeout_ms);
}

void vg_kafka_producer_diagnose(vg_kafka_producer_t *p) {
    int64_t now = (int64_t)(vg_time_mono_us() / 1000), since, wall = vg_time_wall_ms();
    vg_kafka_problem_t found = VG_KAFKA_PROBLEM_NONE, pr;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *internal[2] = {NULL, NULL};
    rd_kafka_resp_err_t err;
    char detail[768] = "";
    bool read = false;

    if (!p->health || !(since = atomic_load(&p->health->failing_since_ms)) ||
        (p->diag_at_ms && now - p->diag_at_ms < VG_KAFKA_DIAG_EVERY_MS))
        return;
    p->diag_at_ms = now;
    /* What the worker writes (the topics this producer knows), and the
     * logs its commits write through: offsets (__consumer_offsets) and,
     * in exactly_once, the transaction log. Each has its own
     * min.insync.replicas; below it the coordinator answers only
     * "Coordinator not available". Their handles make them locally known
     * for this one request, which asks for all known topics at once: one
     * round trip, one timeout, even when a broker is slow. */
    internal[0] = rd_kafka_topic_new(p->rk, "__consumer_offsets", NULL);
    if (p->transactional)
        internal[1] = rd_kafka_topic_new(p->rk, "__transaction_state", NULL);
    {
        /* In slices: a SIGTERM during this read of a dead broker ends it. */
        vg_kafka_metadata_read_t r = {p->rk, &md};
        err = vg_kafka_read_within(p->deadline_ms, 5000, vg_kafka_metadata_try, &r);
    }
    for (int i = 0; !err && md && i < md->topic_cnt; i++) {
        /* A topic it may not describe (an internal one, with ACLs) or
         * that does not exist says nothing. */
        if (md->topics[i].err)
            continue;
        read = true;
        if ((pr = vg_kafka_producer_topic_health(&md->topics[i], detail, sizeof(detail))) > found)
            found = pr;
    }
    if (err) {
        /* Asked again in a second, not five: the request may have queued
         * behind produce requests the broker holds. */
        snprintf(detail, sizeof(detail), "metadata unreadable: %s", rd_kafka_err2str(err));
        p->diag_at_ms = now - VG_KAFKA_DIAG_EVERY_MS + 1000;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    for (int i = 0; i < 2; i++)
        if (internal[i])
            rd_kafka_topic_destroy(internal[i]);
    /* What the metadata found; if it was read and found nothing, the
     * cause it named before is gone (or this is a new producer instance
     * that never saw it), and the errors say what is left. */
    if (found)
        vg_kafka_health_set(p->health, found, wall);
    else if (read)
        vg_kafka_health_set(p->health, p->err_problem, wall);
    pr = (vg_kafka_problem_t)atomic_load(&p->health->problem);
    /* Once the stall counts (VG_KAFKA_STALL_MS: a slow commit is not
     * worth a line), then when the problem changes, and once per report
     * interval. */
    if (wall - since >= VG_KAFKA_STALL_MS &&
        (pr != p->reported || now - p->reported_at_ms >= p->report_ms)) {
        p->reported = pr;
        p->reported_at_ms = now;
        VG_WARN(p->log, "kafka",
                "writes stalled for %lld s: %s (%s)%s%s; nothing is committed until they are "
                "acknowledged (docs/runbook.md, \"Kafka writes stalled\")",
                (long long)((wall - since) / 1000), vg_kafka_problem_text(pr),
                vg_kafka_problem_name(pr), detail[0] ? ": " : "", detail);
    }
}

void vg_kafka_producer_destroy(vg_kafka_producer_t *p) {
    if (!p)
        return;
    if (p->rk && p->wedged) {
        /* A thread is still inside librdkafka with this handle: destroying
         * it would pull the handle from under that call. The process is
         * exiting (only a drain gives up on a call); it is freed there. */
        VG_WARN(p->log, "kafka", "producer left to the process exit: a call is still blocked");
        return;
    }
    if (p->rk) {
        /* What is not delivered by then (Kafka unreachable, the drain
         * deadline passed) is purged: it was never committed, so its
         * records are processed again by their partitions' next owner. */
        if (vg_kafka_producer_flush_sliced(p, 10000))
            rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(p->rk);
    }
    free(p);
}
