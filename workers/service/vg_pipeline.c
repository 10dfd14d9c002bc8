#include "vg_pipeline.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_arena.h"
#include "vg_sign.h"
#include "vg_batch.h"
#include "vg_event.h"
#include "vg_hash.h"
#include "vg_kafka_consumer.h"
#include "vg_kafka_producer.h"
#include "vg_keys.h"
#include "vg_pseudo.h"
#include "vg_cache.h"
#include "vg_redis.h"
#include "vg_step.h"
#include "vg_str.h"
#include "vg_time.h"

#define VG_TIMER_GROUPS_MAX 256   /* customers woken by deadlines per batch */
_Static_assert(VG_CONFIG_BATCH_MAX + VG_TIMER_GROUPS_MAX <= VG_REDIS_PIPE_MAX,
               "a batch's keys fit one Redis round trip");
#define VG_WM_CACHE_MAX 1024      /* committed watermarks of assigned partitions */
#define VG_STOPPED_MAX 64         /* partitions stopped on an unsendable dead letter */
#define VG_DL_PREFIX_MAX 65536    /* bytes of a too-large record kept in its dead letter */
#define VG_DL_KEY_MAX 4096        /* bytes of a record key kept in its dead letter */
#define VG_DL_OVERHEAD 16384      /* headers and record framing, generously */

#define VG_TXN_PARTS_MAX 1024     /* partitions one open transaction spans */

/* A partition in the open transaction: from where (floor: the committed
 * position when the transaction began), to where, and its watermark. */
typedef struct vg_txn_part_s {
    char topic[256];
    int32_t partition;
    int64_t floor, next;
    int64_t wm;
} vg_txn_part_t;

/* A record whose dead letter failed, and how often in a row. */
typedef struct vg_poison_s {
    char topic[128];
    int32_t partition;
    int64_t offset;
    int64_t failures;
    bool stopped;
} vg_poison_t;


/* The committed watermark of a partition, as last committed or read back
 * from its offset's commit metadata. */
typedef struct vg_wm_s {
    char topic[128];
    int32_t partition;
    int64_t wm;
} vg_wm_t;

/* State healing of one assigned partition (docs/guarantees.md, "State
 * that heals itself"): the applied marker Redis must hold at least, and a
 * rebuild under way. */
typedef struct vg_heal_s {
    char topic[128];
    int32_t partition;
    int64_t stored;           /* Redis' marker must be at least this; -1: anything */
    int64_t until;            /* rebuilding: quiet below this offset (the committed one); 0: not */
    int64_t pos, wm;          /* rebuilding: the next offset to apply, the watermark there */
    int64_t from, start_ms;   /* rebuilding: where and when it began */
    uint64_t events;
} vg_heal_t;

typedef struct vg_pipeline_sink_s {
    struct vg_pipeline_s *p;
    int32_t g;                /* the group vg_step_customer() works on */
} vg_pipeline_sink_t;


struct vg_pipeline_s {
    vg_config_t cfg;
    vg_log_t *log;
    vg_kafka_props_t props;
    vg_kafka_consumer_t *consumer;
    vg_kafka_producer_t *producer;
    vg_redis_t *redis;
    vg_cache_t *cache;        /* the owned partitions' states (NULL: state.cache_mb 0) */
    vg_pseudo_t *pseudo;
    vg_pseudo_memo_t *pseudo_memo; /* this thread's recent pseudonyms (NULL: none) */
    _Atomic bool stop;
    /* Set with stop: when the drain must be done by (monotonic ms; 0 not
     * stopping). Every Kafka wait gives up at it (vg_kafka_producer_set_deadline). */
    _Atomic int64_t drain_deadline_ms;
    vg_batch_t *b;            /* the batch in hand (vg_batch.h) */
    /* exactly_once: the open transaction, which may span the batches of
     * delivery.commit_interval_ms; what it will commit, per partition. */
    vg_txn_part_t txn[VG_TXN_PARTS_MAX];
    size_t n_txn;
    uint64_t txn_start_us;
    uint64_t commit_us; /* how long a commit takes: a moving average */
    bool txn_open, rewind_needed;
    int64_t kafka_stall_ms, kafka_reported_ms; /* a Kafka outage: since, last report */

    pthread_mutex_t model_lock;
    vg_model_t model;
    vg_model_t pending_model;
    bool model_pending;
    /* Trigger and dead-letter signatures (NULL: unsigned); a new set
     * waits in pending_signer, under model_lock, for the next batch. */
    vg_sign_keys_t *signer, *pending_signer;
    bool signer_pending;

    vg_wm_t wms[VG_WM_CACHE_MAX];
    size_t n_wms;
    vg_heal_t heals[VG_WM_CACHE_MAX];
    size_t n_heals;
    vg_redis_mark_t marks[VG_BATCH_PARTS_MAX]; /* the batch's, one per part */
    size_t behind;            /* the part whose marker was behind (VG_ERR_BEHIND) */
    vg_step_result_t step;
    struct {                  /* this batch's outcomes, added to stats at commit */
        uint64_t dead[3];
        uint64_t decoded;
        uint64_t suppressed[VG_V__COUNT];
        uint64_t absences;
        uint64_t by_iv[VG_STATS_INTERVENTIONS];
    } bc;
    int backoff_ms;
    uint64_t last_probe_us, last_redis_probe_us;
    size_t dl_budget;         /* largest dead-letter value sent whole */
    vg_poison_t poison[VG_STOPPED_MAX];
    size_t n_poison;

    vg_pipeline_stats_t stats;
};

/* --- histograms ----------------------------------------------------- */

void vg_hist_observe(vg_hist_t *h, uint64_t us) {
    int b = 0;

    while (b < VG_HIST_BUCKETS - 1 && us > (1ULL << b))
        b++;
    atomic_fetch_add(&h->buckets[b], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_us, us);
}

double vg_hist_quantile(const vg_hist_t *h, double q) {
    uint64_t total = atomic_load(&h->count), seen = 0;

    if (!total)
        return 0.0;
    for (int b = 0; b < VG_HIST_BUCKETS; b++) {
        uint64_t n = atomic_load(&h->buckets[b]);
        if (n && (double)(seen + n) >= q * (double)total) {
            /* Interpolate inside the bucket (lo, hi]. */
            double lo = b ? (double)(1ULL << (b - 1)) : 0.0, hi = (double)(1ULL << b);
            return lo + (hi - lo) * ((q * (double)total - (double)seen) / (double)n);
        }
        seen += n;
    }
    return (double)(1ULL << (VG_HIST_BUCKETS - 1));
}

#define vg_now_us vg_time_mono_us
#define vg_wall_ms vg_time_wall_ms
#define vg_sleep_ms(ms) vg_time_sleep_us((long)(ms) * 1000L)

/* --- setup ------------------------------------------------------------ */

static void vg_pipeline_register_model(vg_pipeline_t *p);

/* The producer, transactional in exactly_once with the worker slot's
 * stable id <prefix>-<worker.id>: a restarted worker fences its zombie. */
static vg_kafka_producer_t *vg_pipeline_producer(vg_pipeline_t *p, char *errstr,
                                                 size_t errstr_size) {
    char txn_id[300];

    vg_kafka_producer_t *prod;

    snprintf(txn_id, sizeof(txn_id), "%s-%s", p->cfg.transactional_id_prefix, p->cfg.worker_id);
    prod = vg_kafka_producer_new(&p->props,
                                 p->cfg.delivery == VG_DELIVERY_EXACTLY_ONCE ? txn_id : NULL,
                                 p->log, errstr, errstr_size);
    if (prod) {
        vg_kafka_producer_set_deadline(prod, &p->drain_deadline_ms);
        vg_kafka_producer_set_health(prod, &p->stats.kafka_health,
                                     (int)p->cfg.stall_report_interval_ms);
    }
    return prod;
}

static vg_err_t vg_pipeline_commit_txn(vg_pipeline_t *p, char *errstr, size_t errstr_size);

/* The healing entry of (topic, partition), created if asked and room;
 * NULL otherwise. */
static vg_heal_t *vg_pipeline_heal(vg_pipeline_t *p, const char *topic, int32_t partition,
                                   bool create) {
    vg_heal_t *h;

    for (size_t i = 0; i < p->n_heals; i++)
        if (p->heals[i].partition == partition && strcmp(p->heals[i].topic, topic) == 0)
            return &p->heals[i];
    if (!create || p->n_heals == VG_WM_CACHE_MAX)
        return NULL;
    h = &p->heals[p->n_heals++];
    memset(h, 0, sizeof(*h));
    snprintf(h->topic, sizeof(h->topic), "%s", topic);
    h->partition = partition;
    h->stored = -1;
    return h;
}

/* Rewind every partition to its committed offset, and each one whose
 * state is being rebuilt to where its rebuild has come. */
static vg_err_t vg_pipeline_rewind(vg_pipeline_t *p) {
    vg_err_t err = vg_kafka_consumer_rewind_all(p->consumer);

    for (size_t i = 0; !err && i < p->n_heals; i++)
        if (p->heals[i].until)
            err = vg_kafka_consumer_seek(p->consumer, p->heals[i].topic, p->heals[i].partition,
                                         p->heals[i].pos);
    return err;
}

static void vg_pipeline_on_rebalance(void *opaque, bool assigned, bool lost,
                                     const vg_kafka_offset_t *parts, size_t n) {
    vg_pipeline_t *p = opaque;

    atomic_fetch_add(&p->stats.rebalances, 1);
    /* Partitions leave: the open transaction (whole batches only, since
     * this runs inside the poll between batches) commits while they are
     * still ours. If it cannot, it is aborted and the next batch rewinds. */
    if (!assigned && p->txn_open) {
        char why[512];
        if (lost || vg_pipeline_commit_txn(p, why, sizeof(why))) {
            if (vg_kafka_producer_abort(p->producer, (int)p->cfg.txn_timeout_ms, why, sizeof(why)))
                VG_ERROR(p->log, "pipeline", "abort at a rebalance: %s", why);
            atomic_fetch_add(&p->stats.txn_aborted, 1);
            p->txn_open = false;
            p->n_txn = 0;
            p->rewind_needed = true;
        }
    }
    /* A revoked partition's watermark is its next owner's to read back
     * from the commit metadata; an assigned one is read on first use. */
    for (size_t i = 0; i < n; i++) {
        for (size_t w = 0; w < p->n_wms; w++) {
            if (p->wms[w].partition == parts[i].partition &&
                strcmp(p->wms[w].topic, parts[i].topic) == 0) {
                p->wms[w] = p->wms[--p->n_wms];
                break;
            }
        }
    }
    /* A partition that moves starts its healing afresh: its next owner
     * compares Redis' marker with the committed offset again. Its cached
     * states may be written by another worker from now on (or were, while
     * it was not ours). */
    for (size_t i = 0; i < n; i++) {
        vg_cache_drop_partition(p->cache, parts[i].topic, parts[i].partition);
        vg_heal_t *h = vg_pipeline_heal(p, parts[i].topic, parts[i].partition, false);
        if (h) {
            if (h->until)
                atomic_fetch_sub(&p->stats.partitions_rebuilding, 1);
            *h = p->heals[--p->n_heals];
        }
    }
    /* A revoked partition is its next owner's: forget why we stopped it. */
    for (size_t i = 0; !assigned && i < n; i++) {
        for (size_t k = 0; k < p->n_poison; k++) {
            vg_poison_t *q = &p->poison[k];
            if (q->partition == parts[i].partition && strcmp(q->topic, parts[i].topic) == 0) {
                if (q->stopped)
                    atomic_fetch_sub(&p->stats.partitions_stopped, 1);
                p->poison[k] = p->poison[--p->n_poison];
                break;
            }
        }
    }
    /* No per-partition cache is kept across batches, so a revocation only
     * changes the count; the batch was committed before this poll. */
    if (assigned)
        atomic_fetch_add(&p->stats.assigned_partitions, n);
    else
        atomic_fetch_sub(&p->stats.assigned_partitions,
                         n <= atomic_load(&p->stats.assigned_partitions)
                             ? n
                             : atomic_load(&p->stats.assigned_partitions));
}

vg_pipeline_t *vg_pipeline_new(const vg_config_t *cfg, const vg_model_t *model, vg_log_t *log,
                               char *errstr, size_t errstr_size) {
    vg_pipeline_t *p = calloc(1, sizeof(*p));
    vg_redis_conf_t rc = {0};
    char txn_id[300];

    if (!p) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    p->log = log;
    pthread_mutex_init(&p->model_lock, NULL);
    if (model)
        p->model = *model;
    else
        vg_model_default(&p->model);
    p->stats.started_ms = vg_wall_ms();
    vg_pipeline_register_model(p);
    vg_config_derive_worker_id(&p->cfg);
    for (int i = 0; i < p->cfg.n_kafka; i++)
        vg_kafka_props_add(&p->props, p->cfg.kafka_keys[i], p->cfg.kafka_vals[i]);

    p->b = vg_batch_new((size_t)p->cfg.batch_max_events,
                        (size_t)p->cfg.batch_max_events + VG_TIMER_GROUPS_MAX);
    if (!p->b) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        goto fail;
    }

    if (p->cfg.state_cache_mb > 0 &&
        !(p->cache = vg_cache_new((size_t)p->cfg.state_cache_mb << 20))) {
        vg_errstr_set(errstr, errstr_size, "out of memory (state.cache_mb)");
        goto fail;
    }
    p->pseudo = p->cfg.pseudonym_key[0]
                    ? vg_pseudo_new(p->cfg.pseudonym_key, strlen(p->cfg.pseudonym_key), errstr,
                                    errstr_size)
                    : vg_pseudo_new(VG_PSEUDO_DEV_KEY, strlen(VG_PSEUDO_DEV_KEY), errstr,
                                    errstr_size);
    if (!p->pseudo)
        goto fail;
    p->pseudo_memo = vg_pseudo_memo_new(); /* without it, every record pays the HMAC */
    if (!p->cfg.pseudonym_key[0])
        VG_WARN(log, "config", "pseudonym.key not set: using the development key; "
                               "pseudonyms are not secret");
    if (p->cfg.signing_keys_file[0]) {
        char why[512];
        if (!(p->signer = vg_sign_keys_load(p->cfg.signing_keys_file, why, sizeof(why)))) {
            vg_errstr_set(errstr, errstr_size, "signing.keys_file: %s", why);
            goto fail;
        }
        VG_INFO(log, "config", "signing triggers with key %s (%zu key(s) loaded)",
                vg_sign_keys_active(p->signer), vg_sign_keys_count(p->signer));
    } else {
        VG_WARN(log, "config", "signing.keys_file not set: triggers and dead letters go "
                               "unsigned (docs/triggers.md, \"Signatures\")");
    }

    vg_config_redis(&p->cfg, &rc);
    /* Redis down at start is the same as Redis down later: consume
     * nothing, report not ready, retry with backoff (the first batch finds
     * out and waits). Crash-looping would only add restarts. */
    p->redis = vg_redis_new_lazy(&rc, log, errstr, errstr_size);
    if (!p->redis)
        goto fail;
    atomic_store(&p->stats.redis_ok, vg_redis_connected(p->redis));

    (void)txn_id;
    if (!(p->producer = vg_pipeline_producer(p, errstr, errstr_size)))
        goto fail;
    /* Not fatal if it fails: the first record looks the topic up again. */
    vg_kafka_producer_warm(p->producer, p->cfg.topic_triggers, 5000);
    vg_kafka_producer_warm(p->producer, p->cfg.topic_dead_letter, 5000);
    /* The largest record the producer sends, and the broker's default
     * max.message.bytes (vigilctl topics sets it on the dead-letter topic):
     * a record copied whole must fit both (docs/triggers.md). */
    {
        size_t mmb = vg_kafka_producer_max_message_bytes(p->producer);
        if (mmb > 1048588)
            mmb = 1048588;
        p->dl_budget = mmb > 2 * VG_DL_OVERHEAD ? mmb - VG_DL_OVERHEAD : mmb / 2;
    }
    p->consumer = vg_kafka_consumer_new(&p->props, p->cfg.group_id, p->cfg.topic_events, log,
                                        vg_pipeline_on_rebalance, p, errstr, errstr_size);
    if (!p->consumer)
        goto fail;
    vg_kafka_consumer_set_deadline(p->consumer, &p->drain_deadline_ms);
    vg_kafka_consumer_set_health(p->consumer, &p->stats.kafka_health);
    atomic_store(&p->stats.kafka_ok, true);
    VG_INFO(log, "pipeline", "worker %s: %s mode, group %s, events %s -> triggers %s",
            p->cfg.worker_id,
            p->cfg.delivery == VG_DELIVERY_EXACTLY_ONCE ? "exactly_once" : "at_least_once",
            p->cfg.group_id, p->cfg.topic_events, p->cfg.topic_triggers);
    return p;

fail:
    vg_pipeline_destroy(p);
    return NULL;
}

void vg_pipeline_destroy(vg_pipeline_t *p) {
    if (!p)
        return;
    if (p->consumer) {
        vg_kafka_consumer_close(p->consumer);
        vg_kafka_consumer_destroy(p->consumer);
    }
    vg_kafka_producer_destroy(p->producer);
    vg_redis_destroy(p->redis);
    vg_pseudo_destroy(p->pseudo);
    vg_pseudo_memo_destroy(p->pseudo_memo);
    vg_cache_destroy(p->cache);
    vg_sign_keys_destroy(p->signer);
    if (p->signer_pending)
        vg_sign_keys_destroy(p->pending_signer);
    vg_batch_destroy(p->b);
    pthread_mutex_destroy(&p->model_lock);
    free(p);
}

/* Async-signal-safe (atomic stores, clock_gettime): the SIGTERM handler
 * calls it. 70% of shutdown.drain_timeout_ms go to the batch in flight,
 * the last commit and leaving the group; the rest to closing the clients
 * (librdkafka's threads) and the exit. */
void vg_pipeline_stop(vg_pipeline_t *p) {
    int64_t deadline = (int64_t)(vg_now_us() / 1000) + p->cfg.drain_timeout_ms * 7 / 10;
    int64_t none = 0;

    atomic_compare_exchange_strong(&p->drain_deadline_ms, &none, deadline);
    atomic_store(&p->stop, true);
}

/* Milliseconds left before the drain deadline (INT_MAX: not draining). */
static int vg_pipeline_drain_left(const vg_pipeline_t *p) {
    int64_t d = atomic_load(&p->drain_deadline_ms), left;

    if (d == 0)
        return INT_MAX;
    left = d - (int64_t)(vg_now_us() / 1000);
    return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

void vg_pipeline_set_signer(vg_pipeline_t *p, vg_sign_keys_t *keys) {
    pthread_mutex_lock(&p->model_lock);
    if (p->signer_pending)
        vg_sign_keys_destroy(p->pending_signer);
    p->pending_signer = keys;
    p->signer_pending = true;
    pthread_mutex_unlock(&p->model_lock);
}

void vg_pipeline_set_model(vg_pipeline_t *p, const vg_model_t *model) {
    pthread_mutex_lock(&p->model_lock);
    p->pending_model = *model;
    p->model_pending = true;
    pthread_mutex_unlock(&p->model_lock);
}

vg_pipeline_stats_t *vg_pipeline_stats(vg_pipeline_t *p) { return &p->stats; }

size_t vg_pipeline_lag(vg_pipeline_t *p, vg_kafka_offset_t *out, size_t max) {
    return vg_kafka_consumer_lag(p->consumer, out, max);
}

uint64_t vg_pipeline_redis_round_trips(vg_pipeline_t *p) {
    return atomic_load(&p->stats.redis_round_trips);
}

void vg_pipeline_model_info(vg_pipeline_t *p, char *id, size_t id_size, char *version,
                            size_t version_size) {
    pthread_mutex_lock(&p->model_lock);
    snprintf(id, id_size, "%s", p->model.id);
    snprintf(version, version_size, "%s", p->model.version);
    pthread_mutex_unlock(&p->model_lock);
}

bool vg_pipeline_ready(vg_pipeline_t *p) {
    return atomic_load(&p->stats.redis_ok) && atomic_load(&p->stats.kafka_ok) &&
           atomic_load(&p->stats.partitions_stopped) == 0 &&
           !vg_kafka_health_stalled(&p->stats.kafka_health, vg_wall_ms(), NULL);
}

/* A commit worked: Kafka takes the worker's writes again. */
static void vg_pipeline_kafka_ok(vg_pipeline_t *p) {
    vg_kafka_problem_t pr;
    int64_t stalled;

    if (!atomic_load(&p->stats.kafka_health.failing_since_ms))
        return;
    stalled = vg_kafka_health_stalled(&p->stats.kafka_health, vg_wall_ms(), &pr);
    vg_kafka_health_ok(&p->stats.kafka_health);
    if (stalled)
        VG_INFO(p->log, "pipeline", "kafka takes writes again after %lld s (last seen: %s); "
                                    "resuming",
                (long long)(stalled / 1000), vg_kafka_problem_name(pr));
}

/* Idle with nothing uncommitted (no transaction open, every assigned
 * partition read to its end): a write that failed before has nothing
 * left to hold up, so it no longer makes the worker unready (it may
 * have lost its partitions right after a failed commit). */
static void vg_pipeline_kafka_idle(vg_pipeline_t *p) {
    vg_kafka_offset_t lag[256];
    size_t n;

    if (!atomic_load(&p->stats.kafka_health.failing_since_ms) || p->txn_open || p->rewind_needed)
        return;
    n = vg_kafka_consumer_lag(p->consumer, lag, sizeof(lag) / sizeof(lag[0]));
    for (size_t i = 0; i < n; i++)
        if (lag[i].offset > 0)
            return;
    vg_pipeline_kafka_ok(p);
}

static vg_poison_t *vg_pipeline_poison(vg_pipeline_t *p, const char *topic, int32_t partition) {
    for (size_t k = 0; k < p->n_poison; k++)
        if (p->poison[k].partition == partition && strcmp(p->poison[k].topic, topic) == 0)
            return &p->poison[k];
    return NULL;
}

/* True when records of (topic, partition) must be left alone: the
 * partition is stopped on a record that cannot be dead-lettered. */
static bool vg_pipeline_stopped(vg_pipeline_t *p, const char *topic, int32_t partition) {
    const vg_poison_t *q = p->n_poison ? vg_pipeline_poison(p, topic, partition) : NULL;

    return q && q->stopped;
}

/* Pause the stopped partitions again (after a resume of everything). */
static void vg_pipeline_repause_stopped(vg_pipeline_t *p) {
    for (size_t k = 0; k < p->n_poison; k++)
        if (p->poison[k].stopped)
            vg_kafka_consumer_pause_partition(p->consumer, p->poison[k].topic,
                                              p->poison[k].partition, true);
}

/* The dead letter of the record at (topic, partition, offset) could not be
 * sent. Count it against the record; after dead_letter.max_retries
 * attempts in a row, stop its partition so that the others keep moving
 * (docs/runbook.md). */
static void vg_pipeline_dead_letter_failed(vg_pipeline_t *p, const char *topic, int32_t partition,
                                           int64_t offset, const char *why) {
    vg_poison_t *q = vg_pipeline_poison(p, topic, partition);

    atomic_fetch_add(&p->stats.dead_letter_errors, 1);
    if (!q) {
        if (p->n_poison == VG_STOPPED_MAX)
            return;
        q = &p->poison[p->n_poison++];
        memset(q, 0, sizeof(*q));
        snprintf(q->topic, sizeof(q->topic), "%s", topic);
        q->partition = partition;
        q->offset = -1;
    }
    if (q->offset != offset) {
        q->offset = offset;
        q->failures = 0;
    }
    if (++q->failures < p->cfg.dead_letter_max_retries || q->stopped)
        return;
    q->stopped = true;
    atomic_fetch_add(&p->stats.partitions_stopped, 1);
    vg_kafka_consumer_pause_partition(p->consumer, topic, partition, true);
    VG_ERROR(p->log, "pipeline",
             "partition %s [%" PRId32 "] STOPPED at offset %" PRId64 ": its dead letter failed %" PRId64
             " times (%s); the other partitions go on. See docs/runbook.md, "
             "\"VigilPartitionStopped\"",
             topic, partition, offset, q->failures, why);
}

/* A dead letter's delivery tag: its record's (partition, offset). */
#define VG_DL_TAG(m) (((uint64_t)(uint32_t)((m)->partition + 1) << 48) | (uint64_t)(m)->offset)

/* The batch failed to deliver: each dead letter the broker refused
 * (asynchronously: too large for its max.message.bytes, no permission)
 * counts against its own record, known by its delivery tag. */
static void vg_pipeline_dead_letters_undelivered(vg_pipeline_t *p, const char *why) {
    uint64_t tags[64];
    size_t n = vg_kafka_producer_failed_tags(p->producer, tags, 64);

    for (size_t k = 0; k < n; k++)
        vg_pipeline_dead_letter_failed(p, p->cfg.topic_events, (int32_t)(tags[k] >> 48) - 1,
                                       (int64_t)(tags[k] & ((1ULL << 48) - 1)), why);
}

/* --- one batch ---------------------------------------------------------- */

/* Every eligible intervention that did not fire, by why (metrics). */
static void vg_pipeline_count_verdicts(vg_pipeline_t *p, const vg_score_t *sc) {
    for (uint32_t i = 0; i < p->model.n_interventions; i++) {
        vg_verdict_t v = sc->verdicts[i];
        if (v != VG_V_NOT_ELIGIBLE && v != VG_V_FIRE)
            p->bc.suppressed[v]++;
    }
}

/* The metrics slot of an intervention name, registered if new (-1 when
 * the table is full). Only the pipeline thread writes. */
static int vg_pipeline_iv_slot(vg_pipeline_t *p, const char *name) {
    uint32_t n = atomic_load_explicit(&p->stats.n_intervention_names, memory_order_relaxed);

    for (uint32_t i = 0; i < n; i++)
        if (strcmp(p->stats.intervention_names[i], name) == 0)
            return (int)i;
    if (n == VG_STATS_INTERVENTIONS)
        return -1;
    {
        size_t len = strnlen(name, sizeof(p->stats.intervention_names[n]) - 1);
        memcpy(p->stats.intervention_names[n], name, len);
        p->stats.intervention_names[n][len] = '\0';
    }
    atomic_store_explicit(&p->stats.n_intervention_names, n + 1, memory_order_release);
    return (int)n;
}

/* Every intervention of the model has its series from the start, at 0. */
static void vg_pipeline_register_model(vg_pipeline_t *p) {
    for (uint32_t i = 0; i < p->model.n_interventions; i++)
        vg_pipeline_iv_slot(p, p->model.interventions[i].name);
}

static void vg_pipeline_count_intervention(vg_pipeline_t *p, const char *name) {
    int i = vg_pipeline_iv_slot(p, name);

    if (i >= 0)
        p->bc.by_iv[i]++;
}

/* The batch committed: its outcomes count. */
static void vg_pipeline_count_commit(vg_pipeline_t *p) {
    uint64_t dead = 0;

    for (int k = 0; k < 3; k++) {
        atomic_fetch_add(&p->stats.dead_lettered_by_kind[k], p->bc.dead[k]);
        dead += p->bc.dead[k];
    }
    atomic_fetch_add(&p->stats.events_dead_lettered, dead);
    atomic_fetch_add(&p->stats.events_decoded, p->bc.decoded);
    for (int v = 0; v < VG_V__COUNT; v++)
        if (p->bc.suppressed[v])
            atomic_fetch_add(&p->stats.suppressed[v], p->bc.suppressed[v]);
    for (int i = 0; i < VG_STATS_INTERVENTIONS; i++)
        if (p->bc.by_iv[i])
            atomic_fetch_add(&p->stats.triggers_by_intervention[i], p->bc.by_iv[i]);
    atomic_fetch_add(&p->stats.absences_fired, p->bc.absences);
    atomic_store(&p->stats.last_commit_ms, vg_wall_ms());
    memset(&p->bc, 0, sizeof(p->bc));
}

/* Send the record to the dead-letter topic with the reason in headers.
 * A record too large to copy whole (its key, value and headers would not
 * fit the producer's or the broker's limit) goes with a bounded prefix of
 * its value and key, and headers that say so: a dead letter can always be
 * written. */
static vg_err_t vg_pipeline_dead_letter(vg_pipeline_t *p, const vg_kafka_msg_t *m,
                                        const char *kind, const char *reason) {
    char part[16], off[24], plen[24], klen[24], sha[65];
    const char *hex = "0123456789abcdef";
    vg_kafka_header_t h[11];
    char sig[VG_SIGN_VALUE_MAX];
    size_t nh = 6, len = m->len, key_len = m->key_len, i = (size_t)(m - p->b->msgs);
    vg_err_t err;

    /* A record re-read to rebuild lost state was dead-lettered when it
     * was first processed. */
    if (i < p->b->n && p->b->msg_part[i] >= 0 &&
        m->offset < p->b->parts[p->b->msg_part[i]].quiet_below) {
        atomic_fetch_add(&p->stats.state_rebuild_quiet, 1);
        return VG_OK;
    }

    snprintf(part, sizeof(part), "%" PRId32, m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    h[0] = (vg_kafka_header_t){"vigil.error", reason, strlen(reason)};
    h[1] = (vg_kafka_header_t){"vigil.error.kind", kind, strlen(kind)};
    h[2] = (vg_kafka_header_t){"vigil.source.topic", m->topic, strlen(m->topic)};
    h[3] = (vg_kafka_header_t){"vigil.source.partition", part, strlen(part)};
    h[4] = (vg_kafka_header_t){"vigil.source.offset", off, strlen(off)};
    h[5] = (vg_kafka_header_t){"vigil.worker", p->cfg.worker_id, strlen(p->cfg.worker_id)};
    if (key_len > VG_DL_KEY_MAX || len + key_len > p->dl_budget) {
        unsigned char md[32];
        vg_pseudo_sha256(m->payload, m->len, md);
        for (size_t i = 0; i < 32; i++) {
            sha[2 * i] = hex[md[i] >> 4];
            sha[2 * i + 1] = hex[md[i] & 15];
        }
        sha[64] = '\0';
        if (key_len > VG_DL_KEY_MAX)
            key_len = VG_DL_KEY_MAX;
        if (len + key_len > p->dl_budget)
            len = len < VG_DL_PREFIX_MAX ? len : VG_DL_PREFIX_MAX;
        snprintf(plen, sizeof(plen), "%zu", m->len);
        snprintf(klen, sizeof(klen), "%zu", m->key_len);
        h[nh++] = (vg_kafka_header_t){"vigil.truncated", "true", 4};
        h[nh++] = (vg_kafka_header_t){"vigil.payload.bytes", plen, strlen(plen)};
        h[nh++] = (vg_kafka_header_t){"vigil.payload.sha256", sha, 64};
        h[nh++] = (vg_kafka_header_t){"vigil.key.bytes", klen, strlen(klen)};
        atomic_fetch_add(&p->stats.dead_letters_truncated, 1);
    }
    /* Signed as a trigger is: over the key and value as sent. */
    if (p->signer)
        h[nh++] = (vg_kafka_header_t){VG_SIGN_HEADER, sig,
                                      vg_sign(p->signer, m->key, key_len, m->payload, len, sig)};
    VG_WARN(p->log, "pipeline", "dead-letter %s [%" PRId32 "] @%" PRId64 ": %s: %s%s", m->topic,
            m->partition, m->offset, kind, reason, len < m->len ? " (value truncated)" : "");
    p->bc.dead[strcmp(kind, "decode") == 0 ? 0 : strcmp(kind, "validate") == 0 ? 1 : 2]++;
    err = vg_kafka_producer_send_tagged(p->producer, p->cfg.topic_dead_letter, m->key, key_len,
                                        m->payload, len, h, nh, VG_DL_TAG(m));
    if (err)
        vg_pipeline_dead_letter_failed(p, m->topic, m->partition, m->offset, vg_err_str(err));
    return err;
}

/* Forget everything of the batch but keep the buffers. */
static void vg_pipeline_reset_batch(vg_pipeline_t *p, size_t n) {
    vg_kafka_consumer_release(p->consumer, p->b->msgs, n);
    /* Delivery failures belong to what is not committed yet: the batch,
     * or the open transaction (which a later batch may still abort). */
    if (!p->txn_open)
        vg_kafka_producer_clear_failed(p->producer);
    p->b->n = n;
    vg_batch_reset(p->b);
    memset(&p->bc, 0, sizeof(p->bc));
}

/* Abandon the batch: abort the transaction, rewind to the committed
 * offsets. The records come again and replay through vg_step. */
static void vg_pipeline_abort(vg_pipeline_t *p, size_t n, const char *why) {
    char errstr[512];

    VG_WARN(p->log, "pipeline", "batch of %zu abandoned, will retry: %s", n, why);
    atomic_fetch_add(&p->stats.batch_retries, 1);
    /* Everything since the last commit comes again: the open transaction
     * (all its batches), and the watermarks it moved. */
    p->txn_open = false;
    p->n_txn = 0;
    p->n_wms = 0;
    if (vg_kafka_producer_in_transaction(p->producer)) {
        if (vg_kafka_producer_abort(p->producer, (int)p->cfg.txn_timeout_ms, errstr,
                                    sizeof(errstr)))
            VG_ERROR(p->log, "pipeline", "abort: %s", errstr);
        atomic_fetch_add(&p->stats.txn_aborted, 1);
    } else {
        /* Let pending deliveries finish so they do not count against the
         * next batch; their records are at-least-once anyway. */
        vg_kafka_producer_flush(p->producer, 10000, NULL, NULL, 0);
    }
    vg_pipeline_reset_batch(p, n);
    /* Until the rewind succeeds (Kafka back), nothing is processed: the
     * consumer is past the abandoned records, and a later commit would
     * skip them. */
    if (vg_pipeline_rewind(p)) {
        atomic_fetch_add(&p->stats.kafka_errors, 1);
        p->rewind_needed = true;
    }
    if (vg_kafka_producer_fatal(p->producer)) {
        /* Dead but not fenced: a new instance with the same transactional
         * id aborts what the old one left open and goes on. */
        vg_kafka_producer_t *np = vg_pipeline_producer(p, errstr, sizeof(errstr));
        if (np) {
            VG_WARN(p->log, "pipeline", "producer failed fatally; replaced by a new instance");
            vg_kafka_producer_destroy(p->producer);
            p->producer = np;
        } else {
            VG_ERROR(p->log, "pipeline", "producer failed fatally and cannot be replaced: %s",
                     errstr);
        }
    }
}

/* Redis is unreachable: stop fetching (backpressure), keep the group
 * membership alive by polling, and probe Redis with exponential backoff. */
static void vg_pipeline_wait_redis(vg_pipeline_t *p, const char *why) {
    char errstr[512];
    int backoff = 100;
    int64_t start = vg_wall_ms(), last_report = start;
    vg_redis_problem_t problem = vg_redis_problem(p->redis);

    /* Whatever happened to Redis meanwhile (a restart, a failover), what
     * it holds now is the truth: read it again. */
    vg_cache_clear(p->cache);
    atomic_store(&p->stats.redis_ok, false);
    atomic_store(&p->stats.stall_start_ms, start);
    atomic_store(&p->stats.redis_problem, (int)problem);
    /* The first line says what is wrong, by name (docs/runbook.md, "Redis
     * problems"); then at most one line per stall.report_interval_ms. */
    VG_WARN(p->log, "pipeline", "redis unavailable (%s): %s; waiting, consuming nothing",
            vg_redis_problem_name(problem), why);
    vg_kafka_consumer_pause(p->consumer, true);
    while (!atomic_load(&p->stop)) {
        int64_t now;
        /* Keep the group membership alive, in slices so that a SIGTERM is
         * seen within a quarter of a second. Paused partitions deliver
         * nothing new; anything already fetched is given back and fetched
         * again after the rewind. */
        for (int waited = 0; waited < backoff && !atomic_load(&p->stop); waited += 250) {
            size_t n = vg_kafka_consumer_poll_batch(p->consumer, p->b->msgs, p->b->max,
                                                    backoff - waited < 250 ? backoff - waited
                                                                           : 250);
            vg_kafka_consumer_release(p->consumer, p->b->msgs, n);
        }
        if (atomic_load(&p->stop))
            break;
        if (vg_redis_ping(p->redis, errstr, sizeof(errstr)) == VG_OK)
            break;
        problem = vg_redis_problem(p->redis);
        atomic_store(&p->stats.redis_problem, (int)problem);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        now = vg_wall_ms();
        if (now - last_report >= p->cfg.stall_report_interval_ms) {
            last_report = now;
            VG_WARN(p->log, "pipeline",
                    "stalled for %lld s: redis unavailable (%s): %s; next: reconnect in %d ms",
                    (long long)((now - start) / 1000), vg_redis_problem_name(problem), errstr,
                    backoff);
        }
    }
    if (vg_pipeline_rewind(p))
        p->rewind_needed = true;
    if (atomic_load(&p->stop))
        return; /* stopping: nothing was done, nothing is committed */
    vg_kafka_consumer_pause(p->consumer, false);
    vg_pipeline_repause_stopped(p);
    atomic_store(&p->stats.redis_ok, true);
    atomic_store(&p->stats.stall_start_ms, 0);
    atomic_store(&p->stats.redis_problem, 0);
    VG_INFO(p->log, "pipeline", "redis is back after %lld s; resuming",
            (long long)((vg_wall_ms() - start) / 1000));
}

/* --- deadlines ------------------------------------------------------------ */

/* Start part's watermark from the committed one: cached after our own
 * commits, otherwise read from the commit metadata ("wm=<ms>") of the
 * partition's committed offset, where the previous owner left it. */
static vg_err_t vg_pipeline_wm_start(vg_pipeline_t *p, vg_part_t *part, char *errstr,
                                     size_t errstr_size) {
    vg_heal_t *h = vg_pipeline_heal(p, part->topic, part->partition, false);
    char md[64] = "";
    int64_t off = -1;

    if (h && h->until) {
        /* Rebuilding: the watermark is the one the re-read events made. */
        part->wm = h->wm;
        part->quiet_below = h->until;
        return VG_OK;
    }
    for (size_t w = 0; w < p->n_wms; w++) {
        if (p->wms[w].partition == part->partition && strcmp(p->wms[w].topic, part->topic) == 0) {
            part->wm = p->wms[w].wm;
            return VG_OK;
        }
    }
    if (vg_kafka_consumer_committed_md(p->consumer, part->topic, part->partition, 10000, &off, md,
                                       sizeof(md))) {
        vg_errstr_set(errstr, errstr_size, "cannot read the committed watermark of %s [%" PRId32
                      "]", part->topic, part->partition);
        return VG_ERR_KAFKA;
    }
    part->wm = vg_keys_parse_commit_metadata(md);
    /* Redis must hold what Kafka counts as done: its applied marker at
     * least the committed offset (checked by the first store). */
    if (!h && (h = vg_pipeline_heal(p, part->topic, part->partition, true)))
        h->stored = off >= 0 ? off : -1;
    VG_INFO(p->log, "pipeline", "%s [%" PRId32 "]: committed offset %" PRId64 ", watermark %" PRId64,
            part->topic, part->partition, off, part->wm);
    return VG_OK;
}

static void vg_pipeline_wm_committed(vg_pipeline_t *p, const vg_part_t *part) {
    size_t w;

    for (w = 0; w < p->n_wms; w++)
        if (p->wms[w].partition == part->partition && strcmp(p->wms[w].topic, part->topic) == 0)
            break;
    if (w == p->n_wms) {
        if (p->n_wms == VG_WM_CACHE_MAX)
            return; /* read back from Kafka next time */
        p->n_wms++;
        snprintf(p->wms[w].topic, sizeof(p->wms[w].topic), "%s", part->topic);
        p->wms[w].partition = part->partition;
    }
    p->wms[w].wm = part->wm;
}

/* Who the group is: from its first event, or, for a customer woken by a
 * deadline alone, from the identity sealed in its state. Returns nonzero
 * when there is nothing to do for the group. */
static int vg_pipeline_identify(vg_pipeline_t *p, vg_group_t *grp, vg_state_t *st) {
    char errstr[256];

    if (grp->first >= 0) {
        const vg_event_t *ev = p->b->events[grp->first];
        vg_str_copy(grp->tenant, sizeof(grp->tenant), ev->tenant);
        vg_str_copy(grp->customer, sizeof(grp->customer), ev->customer_id);
        return 0;
    }
    if (!p->b->loaded[grp - p->b->groups].found) {
        /* The state expired (TTL) with a deadline pending: forget it. */
        if (vg_redis_unindex(p->redis, p->b->parts[grp->part].due_key, grp->key, errstr,
                             sizeof(errstr)))
            VG_WARN(p->log, "pipeline", "deadline index of %s: %s", grp->key, errstr);
        return 1;
    }
    if (!st->sealed_len ||
        vg_pseudo_open(p->pseudo, st->sealed_identity, st->sealed_len, grp->tenant,
                       sizeof(grp->tenant), grp->customer, sizeof(grp->customer))) {
        /* Sealed under another pseudonym key (rotated) or never sealed:
         * the deadlines cannot name their customer. Drop them, loudly. */
        VG_ERROR(p->log, "pipeline", "state %s: identity cannot be unsealed; dropping %" PRIu32
                 " pending deadline(s)", grp->key, st->n_absences);
        atomic_fetch_add(&p->stats.state_decode_errors, 1);
        st->n_absences = 0;
        grp->dirty = true;
        grp->tenant[0] = grp->customer[0] = '\0';
    }
    return 0;
}

/* What vg_step_customer() decided for group g: count it, publish it,
 * dead-letter it. */
static vg_err_t vg_pipeline_sink(void *opaque, vg_step_what_t what, const vg_step_record_t *rec,
                                 const vg_step_result_t *res, vg_err_t err) {
    vg_pipeline_sink_t *sk = opaque;
    vg_pipeline_t *p = sk->p;
    const vg_group_t *grp = &p->b->groups[sk->g];
    int32_t msg = rec ? rec->ref : -1;
    int64_t quiet = p->b->parts[grp->part].quiet_below;

    if (res->ring_evicted)
        atomic_fetch_add(&p->stats.ring_evictions, 1);
    /* Rebuilding lost state: what was decided below the committed offset
     * was published when it was first decided. The state takes it in;
     * nothing goes out again. */
    if (quiet && rec && rec->offset < quiet) {
        if (what == VG_STEP_EVENT || what == VG_STEP_DEADLINE || what == VG_STEP_TIMER_REPLAY)
            if (res->fired)
                atomic_fetch_add(&p->stats.state_rebuild_quiet, 1);
        return VG_OK;
    }
    switch (what) {
    case VG_STEP_TIMER_REPLAY:
        atomic_fetch_add(&p->stats.triggers_reemitted, 1);
        return vg_batch_emit(p->b, sk->g, -1, res->trigger, res->len);
    case VG_STEP_DEADLINE_DROPPED:
        VG_ERROR(p->log, "pipeline", "deadline of %s: %s; dropped", grp->key, vg_err_str(err));
        return VG_OK;
    case VG_STEP_DEADLINE:
        vg_pipeline_count_verdicts(p, &res->score);
        VG_DBG(p->log, "pipeline",
               "deadline of %s fired at [%" PRId32 "] @%" PRId64 " (watermark %" PRId64
               ", %" PRId64 " ms after it by the wall clock)%s",
               grp->key, p->b->msgs[msg].partition, rec->offset, rec->wm, vg_wall_ms() - rec->wm,
               res->fired ? "" : "; nothing to publish");
        if (!res->fired)
            return VG_OK;
        p->bc.absences++;
        vg_pipeline_count_intervention(p, res->score.intervention);
        return vg_batch_emit(p->b, sk->g, msg, res->trigger, res->len);
    case VG_STEP_EVENT_FAILED:
        return vg_pipeline_dead_letter(p, &p->b->msgs[msg], "score", vg_err_str(err)) ? VG_ERR_KAFKA
                                                                                  : VG_OK;
    case VG_STEP_EVENT:
        break;
    }
    if (res->replayed) {
        atomic_fetch_add(&p->stats.events_replayed, 1);
        if (res->dead &&
            vg_pipeline_dead_letter(p, &p->b->msgs[msg], "score", "its decision cannot be encoded"))
            return VG_ERR_KAFKA;
    } else if (res->duplicate) {
        atomic_fetch_add(&p->stats.events_duplicate, 1);
    } else {
        atomic_fetch_add(&p->stats.events_applied, 1);
        vg_pipeline_count_verdicts(p, &res->score);
    }
    if (!res->fired)
        return VG_OK;
    if (res->replayed)
        atomic_fetch_add(&p->stats.triggers_reemitted, 1);
    else
        vg_pipeline_count_intervention(p, res->score.intervention);
    return vg_batch_emit(p->b, sk->g, msg, res->trigger, res->len);
}

/* --- the stages of a batch (docs/internals.md, "A batch") ---------------
 *
 * Each stage returns VG_OK or an error with its reason in p->b->errstr; one
 * function, vg_pipeline_recover(), decides what an error means. */

/* A reloaded model takes effect between batches, never inside one. */
static void vg_pipeline_swap_model(vg_pipeline_t *p) {
    pthread_mutex_lock(&p->model_lock);
    if (p->signer_pending) {
        vg_sign_keys_destroy(p->signer);
        p->signer = p->pending_signer;
        p->pending_signer = NULL;
        p->signer_pending = false;
        if (p->signer)
            VG_INFO(p->log, "pipeline", "signing with key %s (%zu key(s) loaded)",
                    vg_sign_keys_active(p->signer), vg_sign_keys_count(p->signer));
        else
            VG_WARN(p->log, "pipeline", "signing.keys_file not set: triggers go unsigned");
    }
    if (p->model_pending) {
        p->model = p->pending_model;
        p->model_pending = false;
        vg_pipeline_register_model(p);
        VG_INFO(p->log, "pipeline", "model %s version %s in effect", p->model.id,
                p->model.version);
    }
    pthread_mutex_unlock(&p->model_lock);
}

/* Readiness follows real round trips: Kafka at most every 2 s while the
 * consumer says it is down, Redis every 1 s until it is first reached. */
static void vg_pipeline_probe(vg_pipeline_t *p) {
    uint64_t now = vg_now_us();

    if (vg_kafka_consumer_down(p->consumer)) {
        int64_t wall = vg_wall_ms();
        atomic_store(&p->stats.kafka_ok, false);
        if (!p->kafka_stall_ms) {
            /* A stall reports itself: once now, then once per interval. */
            p->kafka_stall_ms = p->kafka_reported_ms = wall;
            atomic_store(&p->stats.stall_start_ms, wall);
            VG_WARN(p->log, "pipeline", "kafka unavailable (no broker answers); probing every 2 s");
        } else if (wall - p->kafka_reported_ms >= p->cfg.stall_report_interval_ms) {
            p->kafka_reported_ms = wall;
            VG_WARN(p->log, "pipeline",
                    "stalled for %lld s: kafka unavailable (no broker answers); next: probe in 2 s",
                    (long long)((wall - p->kafka_stall_ms) / 1000));
        }
        if (now - p->last_probe_us > 2000000) {
            p->last_probe_us = now;
            if (vg_kafka_consumer_probe(p->consumer, 1000) == VG_OK) {
                atomic_store(&p->stats.kafka_ok, true);
                atomic_store(&p->stats.stall_start_ms, 0);
                VG_INFO(p->log, "pipeline", "kafka reachable again after %lld s",
                        (long long)((wall - p->kafka_stall_ms) / 1000));
                p->kafka_stall_ms = 0;
            }
        }
    }
    if (!atomic_load(&p->stats.redis_ok) && now - p->last_redis_probe_us > 1000000) {
        p->last_redis_probe_us = now;
        if (vg_redis_ping(p->redis, p->b->errstr, sizeof(p->b->errstr)) == VG_OK) {
            atomic_store(&p->stats.redis_ok, true);
            VG_INFO(p->log, "pipeline", "redis reachable");
        }
    }
}

static vg_err_t vg_pipeline_stage_begin(vg_pipeline_t *p) {
    vg_err_t err;

    if (p->cfg.delivery != VG_DELIVERY_EXACTLY_ONCE || p->txn_open)
        return VG_OK; /* at_least_once, or the open transaction goes on */
    if ((err = vg_kafka_producer_begin(p->producer, p->b->errstr, sizeof(p->b->errstr))))
        return err;
    p->txn_open = true;
    p->txn_start_us = vg_now_us();
    p->n_txn = 0;
    return VG_OK;
}

/* The open transaction's entry of (topic, partition), or NULL. */
static vg_txn_part_t *vg_pipeline_txn_part(vg_pipeline_t *p, const char *topic, int32_t partition) {
    for (size_t k = 0; k < p->n_txn; k++)
        if (p->txn[k].partition == partition && strcmp(p->txn[k].topic, topic) == 0)
            return &p->txn[k];
    return NULL;
}

/* Group record i under the customer whose Redis key it maps to. */
static void vg_pipeline_add_to_group(vg_pipeline_t *p, size_t i) {
    const vg_part_t *part = &p->b->parts[p->b->msg_part[i]];
    char key[VG_KEYS_MAX], pseudo[VG_PSEUDO_LEN];
    int32_t g;

    vg_pseudo_id_memo(p->pseudo, p->pseudo_memo, p->b->events[i]->tenant,
                      p->b->events[i]->customer_id, pseudo);
    /* vg_keys_state, with the partition's part made once per batch. */
    if (part->state_head_len && part->state_head_len + VG_PSEUDO_LEN <= sizeof(key)) {
        memcpy(key, part->state_head, part->state_head_len);
        memcpy(key + part->state_head_len, pseudo, VG_PSEUDO_LEN);
    } else {
        vg_keys_state(key, sizeof(key), p->cfg.redis_key_prefix, part->topic, part->partition,
                      pseudo);
    }
    g = vg_batch_group(p->b, key);
    if (p->b->groups[g].last >= 0) {
        p->b->next[p->b->groups[g].last] = (int32_t)i;
    } else {
        p->b->groups[g].first = (int32_t)i;
        p->b->groups[g].part = p->b->msg_part[i];
    }
    p->b->groups[g].last = (int32_t)i;
}

/* Decode and validate; dead-letter what is bad; group the good records by
 * customer, in order; follow each partition's event-time watermark record
 * by record (valid events only move it). */
static vg_err_t vg_pipeline_stage_decode(vg_pipeline_t *p) {
    ProtobufCAllocator *alloc = vg_arena_allocator(p->b->arena);
    char why[512];
    vg_err_t err;

    for (size_t i = 0; i < p->b->n; i++) {
        const vg_kafka_msg_t *m = &p->b->msgs[i];
        vg_part_t *part;
        int64_t not_after;

        p->b->next[i] = -1;
        p->b->events[i] = NULL;
        p->b->msg_part[i] = -1;
        if (p->n_poison && vg_pipeline_stopped(p, m->topic, m->partition))
            continue; /* fetched before the pause: left for after the restart */
        if (!(part = vg_batch_part(p->b, m, p->cfg.redis_key_prefix))) {
            vg_errstr_set(p->b->errstr, sizeof(p->b->errstr), "more than %d partitions in one batch",
                          VG_BATCH_PARTS_MAX);
            return VG_ERR_OVERFLOW;
        }
        if (part->wm < 0 && (err = vg_pipeline_wm_start(p, part, p->b->errstr, sizeof(p->b->errstr))))
            return err;
        if (m->offset < part->min_offset)
            part->min_offset = m->offset;
        if (m->offset > part->max_offset)
            part->max_offset = m->offset;
        p->b->msg_part[i] = (int32_t)(part - p->b->parts);
        part->n_recs++;
        /* An event far ahead of its record would drag the partition's
         * watermark forward and fire (or drop) every deadline early. */
        not_after = m->timestamp_ms > 0 ? m->timestamp_ms + p->cfg.event_max_future_ms : 0;
        err = vg_event_decode(m->payload, m->len, m->key, m->key_len, not_after, alloc,
                              &p->b->events[i], why, sizeof(why));
        if (err == VG_ERR_NOMEM) {
            /* Not the record's fault: the batch fails and is read again. */
            vg_errstr_set(p->b->errstr, sizeof(p->b->errstr), "%s", why);
            return err;
        }
        if (err) {
            p->b->wm_at[i] = part->wm;
            if (vg_pipeline_dead_letter(p, m, err == VG_ERR_DECODE ? "decode" : "validate", why)) {
                vg_errstr_set(p->b->errstr, sizeof(p->b->errstr), "dead-letter produce failed");
                return VG_ERR_KAFKA;
            }
            continue;
        }
        p->bc.decoded++;
        if (p->b->events[i]->event_time_ms > part->wm)
            part->wm = p->b->events[i]->event_time_ms;
        p->b->wm_at[i] = part->wm;
        vg_pipeline_add_to_group(p, i);
    }
    return VG_OK;
}

/* Customers whose deadlines the watermarks passed, with or without an
 * event here: from each partition's deadline index, in one round trip. */
static vg_err_t vg_pipeline_stage_due(vg_pipeline_t *p) {
    const char *ik[VG_BATCH_PARTS_MAX];
    int64_t upto[VG_BATCH_PARTS_MAX];
    vg_redis_due_t due[VG_BATCH_PARTS_MAX];

    if (!p->model.n_absences || !p->b->n_parts)
        return VG_OK;
    for (size_t k = 0; k < p->b->n_parts; k++) {
        ik[k] = p->b->parts[k].due_key;
        upto[k] = p->b->parts[k].wm;
    }
    if (vg_redis_due(p->redis, ik, upto, p->b->n_parts, VG_TIMER_GROUPS_MAX, due, p->b->errstr,
                     sizeof(p->b->errstr)))
        return VG_ERR_REDIS;
    atomic_fetch_add(&p->stats.redis_round_trips, 1);
    for (size_t k = 0; k < p->b->n_parts; k++) {
        for (size_t j = 0; j < due[k].n && p->b->n_groups < p->b->max_groups; j++) {
            char key[VG_KEYS_MAX];
            size_t len = 0;
            const char *mem = vg_redis_due_member(&due[k], j, &len);
            int32_t g;
            if (!mem || len >= sizeof(key))
                continue;
            memcpy(key, mem, len);
            key[len] = '\0';
            g = vg_batch_group(p->b, key);
            if (p->b->groups[g].first < 0)
                p->b->groups[g].part = (int32_t)k;
        }
    }
    return VG_OK;
}

/* How many lookups ahead the cache's memory is asked for
 * (vg_cache_prefetch_bucket; the entry at half of it). */
#define VG_PREFETCH_AHEAD 8

/* Load every customer's state in one round trip. */
static vg_err_t vg_pipeline_stage_load(vg_pipeline_t *p) {
    const vg_group_t *groups = p->b->groups;
    size_t n_miss = 0, n = p->b->n_groups;

    for (size_t g = 0; g < n && g < VG_PREFETCH_AHEAD; g++)
        vg_cache_prefetch_bucket(p->cache, groups[g].hash);
    for (size_t g = 0; g < n; g++) {
        vg_redis_state_t *l = &p->b->loaded[g];
        if (g + VG_PREFETCH_AHEAD < n)
            vg_cache_prefetch_bucket(p->cache, groups[g + VG_PREFETCH_AHEAD].hash);
        if (g + VG_PREFETCH_AHEAD / 2 < n)
            vg_cache_prefetch_entry(p->cache, groups[g + VG_PREFETCH_AHEAD / 2].hash);
        memset(l, 0, sizeof(*l));
        if (vg_cache_get_h(p->cache, groups[g].key, groups[g].hash, &l->version, &l->data,
                           &l->len)) {
            l->found = true;
            continue;
        }
        p->b->keys[n_miss] = p->b->groups[g].key;
        p->b->miss[n_miss++] = (uint32_t)g;
    }
    if (!n_miss)
        return VG_OK;
    if (vg_redis_load(p->redis, p->b->keys, n_miss, p->b->loaded_miss, p->b->errstr,
                      sizeof(p->b->errstr)))
        return VG_ERR_REDIS;
    for (size_t i = 0; i < n_miss; i++)
        p->b->loaded[p->b->miss[i]] = p->b->loaded_miss[i];
    atomic_fetch_add(&p->stats.redis_round_trips, 1);
    return VG_OK;
}

/* The loaded state of group g, decoded into the batch's state; an
 * unreadable one starts afresh. */
static void vg_pipeline_decode_state(vg_pipeline_t *p, size_t g) {
    vg_state_t *st = p->b->state;
    char why[256];

    /* Unknown (-1) unless a stored state says: its index entry may be
     * stale (a state expired with a deadline pending), so write it. */
    p->b->loaded_due[g] = -1;
    if (!p->b->loaded[g].found) {
        vg_state_init(st);
        return;
    }
    if (vg_state_decode(st, p->b->loaded[g].data, p->b->loaded[g].len, why, sizeof(why))) {
        /* Unreadable state would stop this customer forever: start afresh,
         * keep the version for the CAS, and say so. */
        VG_ERROR(p->log, "pipeline", "state %s unreadable, reset: %s", p->b->groups[g].key, why);
        atomic_fetch_add(&p->stats.state_decode_errors, 1);
        vg_state_init(st);
        p->b->groups[g].dirty = true;
        st->version = p->b->loaded[g].version;
        return;
    }
    /* Sealed triggers of the decision ring, opened for a replay. One that
     * does not open (another pseudonym key, or altered) cannot be
     * re-published: dropped, loudly (its trigger was published when it
     * was decided). */
    for (uint32_t i = 0; i < st->n_decisions; i++) {
        vg_state_decision_t *d = &st->decisions[i];
        uint8_t plain[sizeof(d->trigger)];
        size_t pl = 0;
        if (!d->sealed)
            continue;
        if (vg_pseudo_open_bytes(p->pseudo, d->trigger, d->len, plain, sizeof(plain), &pl)) {
            VG_ERROR(p->log, "pipeline", "state %s: a kept trigger cannot be unsealed (another "
                     "pseudonym.key?); dropped from the replay ring", p->b->groups[g].key);
            atomic_fetch_add(&p->stats.state_decode_errors, 1);
            memmove(d, d + 1, sizeof(*d) * (st->n_decisions - i - 1));
            st->n_decisions--;
            i--;
            p->b->groups[g].dirty = true;
            continue;
        }
        memcpy(d->trigger, plain, pl);
        d->len = pl;
        d->sealed = false;
    }
    st->version = p->b->loaded[g].version;
    p->b->loaded_due[g] = vg_state_index_due(st); /* the script keeps them equal */
}

static vg_err_t vg_pipeline_encode_state(vg_pipeline_t *p, size_t g, size_t w, size_t *used);

/* Apply each customer's events and deadlines in order (vg_step_customer,
 * the same code the oracle runs); collect triggers; encode each changed
 * state for the store at once, while it is still in the CPU's cache. */
static vg_err_t vg_pipeline_stage_apply(vg_pipeline_t *p) {
    vg_err_t err;

    vg_batch_index_records(p->b);
    for (size_t g = 0; g < p->b->n_groups; g++) {
        vg_group_t *grp = &p->b->groups[g];
        const vg_part_t *gp = &p->b->parts[grp->part];
        const vg_txn_part_t *tp = p->txn_open ? vg_pipeline_txn_part(p, gp->topic, gp->partition)
                                              : NULL;
        vg_step_batch_t sb = {gp->topic,        gp->partition,          p->b->recs + gp->first_rec,
                              gp->n_recs,       p->cfg.worker_id,       p->cfg.topic_triggers,
                              tp != NULL,       tp ? tp->floor : 0};
        vg_pipeline_sink_t sink = {p, (int32_t)g};
        size_t n_mine = 0;
        bool changed = false;

        if (g + 1 < p->b->n_groups && p->b->loaded[g + 1].found) {
            /* The next customer's stored state, most often in the cache
             * and not in the CPU's: on its way while this one is applied. */
            const char *next = p->b->loaded[g + 1].data;
            for (size_t off = 0; off < p->b->loaded[g + 1].len; off += 64)
                __builtin_prefetch(next + off);
        }
        vg_pipeline_decode_state(p, g);
        if (vg_pipeline_identify(p, grp, p->b->state))
            continue;
        for (int32_t i = grp->first; i >= 0; i = p->b->next[i])
            p->b->mine[n_mine++] = p->b->rec_of[i];
        err = vg_step_customer(p->b->state, grp->tenant, grp->customer, &sb, p->b->mine, n_mine,
                               &p->model, &p->step, vg_pipeline_sink, &sink, &changed);
        grp->dirty |= changed;
        if (err) {
            vg_errstr_set(p->b->errstr, sizeof(p->b->errstr), "%s",
                          err == VG_ERR_NOMEM ? "out of memory" : "dead-letter produce failed");
            return err;
        }
        if (grp->dirty &&
            (err = vg_pipeline_encode_state(p, g, p->b->n_writes++, &p->b->enc_used)))
            return err;
    }
    return VG_OK;
}

/* The batch's states are stored: Redis holds each partition's marker up
 * to here now; a rebuild that reached the committed offset is done. */
static void vg_pipeline_healed(vg_pipeline_t *p) {
    for (size_t k = 0; k < p->b->n_parts; k++) {
        const vg_part_t *bp = &p->b->parts[k];
        vg_heal_t *h = vg_pipeline_heal(p, bp->topic, bp->partition, false);
        int64_t next = bp->max_offset + 1;
        if (!h)
            continue;
        if (!h->until) {
            if (next > h->stored)
                h->stored = next;
            continue;
        }
        h->pos = next;
        h->wm = bp->wm;
        h->events += bp->n_recs;
        atomic_fetch_add(&p->stats.state_rebuild_events, bp->n_recs);
        if (next < h->until)
            continue;
        VG_INFO(p->log, "pipeline",
                "%s [%" PRId32 "]: state rebuilt: %" PRIu64 " records from offset %" PRId64
                " re-applied in %.1f s without publishing; from offset %" PRId64 " on, as usual",
                h->topic, h->partition, h->events, h->from,
                (double)(vg_wall_ms() - h->start_ms) / 1000.0, h->until);
        h->until = 0;
        h->stored = next;
        atomic_fetch_sub(&p->stats.partitions_rebuilding, 1);
    }
}

/* Redis' applied marker of a partition is below what it held: it lost
 * acknowledged writes (a flush, a failover to a replica that lagged, a
 * restart without persistence). If Kafka's committed offset is within
 * what Redis still holds, only uncommitted work was lost: the rewind
 * redoes it. Otherwise the states are behind the log: rebuild them from
 * the events, from as far back as the model looks (docs/guarantees.md). */
static void vg_pipeline_behind(vg_pipeline_t *p) {
    const vg_part_t *bp = &p->b->parts[p->behind];
    const vg_redis_mark_t *mk = &p->marks[p->behind];
    vg_heal_t *h = vg_pipeline_heal(p, bp->topic, bp->partition, true);
    int64_t committed = -1, from = 0, low = 0, wm, horizon = vg_model_horizon_ms(&p->model);
    char md[64] = "";

    if (!h || vg_kafka_consumer_committed_md(p->consumer, bp->topic, bp->partition, 10000,
                                             &committed, md, sizeof(md))) {
        VG_WARN(p->log, "pipeline", "%s [%" PRId32 "]: %s; cannot read the committed offset, "
                "will check again", bp->topic, bp->partition, p->b->errstr);
        return;
    }
    if (mk->found >= committed) {
        atomic_fetch_add(&p->stats.state_lost_writes, 1);
        VG_WARN(p->log, "pipeline",
                "%s [%" PRId32 "]: Redis lost state writes not yet committed (applied marker %"
                PRId64 ", %" PRId64 " expected, committed offset %" PRId64
                "): redone from the committed offset",
                bp->topic, bp->partition, mk->found, mk->expect, committed);
        h->stored = mk->found;
        return;
    }
    wm = vg_keys_parse_commit_metadata(md);
    if (vg_kafka_consumer_offset_for_time(p->consumer, bp->topic, bp->partition,
                                          wm > horizon ? wm - horizon : 0, &from, &low)) {
        from = 0; /* the start of what is kept (auto.offset.reset) */
        low = 0;
    }
    if (from > committed)
        from = committed;
    vg_cache_drop_partition(p->cache, bp->topic, bp->partition);
    if (h->until == 0)
        atomic_fetch_add(&p->stats.partitions_rebuilding, 1);
    atomic_fetch_add(&p->stats.state_rebuilds, 1);
    *h = (vg_heal_t){.partition = h->partition, .stored = -1, .until = committed, .pos = from,
                     .wm = 0, .from = from, .start_ms = vg_wall_ms()};
    snprintf(h->topic, sizeof(h->topic), "%s", bp->topic);
    VG_ERROR(p->log, "pipeline",
             "%s [%" PRId32 "]: state behind the log: Redis' applied marker is %" PRId64
             " (-1: none), Kafka's committed offset %" PRId64 " (Redis lost acknowledged "
             "writes: a flush, a failover to a lagging replica, a restart without "
             "persistence); rebuilding: re-reading from offset %" PRId64
             " (the model looks back %" PRId64 " s from watermark %" PRId64
             ") to %" PRId64 " without publishing, then resuming",
             bp->topic, bp->partition, mk->found, committed, from, horizon / 1000, wm,
             committed);
    if (low > 0 && from <= low) {
        atomic_fetch_add(&p->stats.state_rebuild_short, 1);
        VG_WARN(p->log, "pipeline",
                "%s [%" PRId32 "]: the log starts at offset %" PRId64 " (retention): events the "
                "model's %" PRId64 " s look-back needs may be gone, and the rebuilt states start "
                "from there; keep retention.ms above it (docs/runbook.md, \"State behind the "
                "log\")", bp->topic, bp->partition, low, horizon / 1000);
    }
}

/* Encode group g's state (the batch's state, just applied) into
 * p->b->writes[w] (its CAS and index entry). */
static vg_err_t vg_pipeline_encode_state(vg_pipeline_t *p, size_t g, size_t w, size_t *used) {
    vg_state_t *st = p->b->state;
    vg_redis_write_t *wr = &p->b->writes[w];
    size_t len = 0;
    vg_err_t err;

    if (vg_batch_reserve(&p->b->enc_buf, &p->b->enc_cap, *used + vg_state_encoded_max())) {
        vg_errstr_set(p->b->errstr, sizeof(p->b->errstr), "out of memory");
        return VG_ERR_NOMEM;
    }
    wr->due_ms = vg_state_index_due(st);
    /* Most customers have no deadline before or after: no index call. */
    wr->due_unchanged = wr->due_ms == p->b->loaded_due[g];
    /* The sealed id stays only while a deadline may need it. */
    if (!wr->due_ms) {
        st->sealed_len = 0;
    } else if (!st->sealed_len) {
        size_t sl = 0;
        if (vg_pseudo_seal(p->pseudo, p->b->groups[g].tenant, p->b->groups[g].customer,
                           st->sealed_identity, sizeof(st->sealed_identity), &sl) == VG_OK)
            st->sealed_len = (uint32_t)sl;
    }
    /* The triggers kept for a replay hold the customer id: sealed before
     * they reach Redis, opened when loaded (vg_pipeline_decode_state). */
    for (uint32_t i = 0; i < st->n_decisions; i++) {
        vg_state_decision_t *d = &st->decisions[i];
        uint8_t sealed[sizeof(d->trigger)];
        size_t sl = 0;
        if (d->sealed || !d->len)
            continue;
        if (vg_pseudo_seal_bytes(p->pseudo, d->trigger, d->len, sealed, sizeof(sealed), &sl)) {
            vg_errstr_set(p->b->errstr, sizeof(p->b->errstr), "state of %s: sealing a trigger",
                          p->b->groups[g].key);
            return VG_ERR_NOMEM;
        }
        memcpy(d->trigger, sealed, sl);
        d->len = sl;
        d->sealed = true;
    }
    /* The latest event's bytes come only from states of older workers
     * (this one keeps where the event is in Kafka instead): any still in
     * clear are sealed before they reach Redis again; too large to seal
     * in place, they are dropped. */
    if (st->last_event_len && !st->last_event_sealed) {
        uint8_t sealed[VG_STATE_LAST_EVENT_MAX];
        size_t sl = 0;
        if (vg_pseudo_seal_bytes(p->pseudo, st->last_event, st->last_event_len, sealed,
                                 sizeof(sealed), &sl) == VG_OK) {
            memcpy(st->last_event, sealed, sl);
            st->last_event_len = (uint32_t)sl;
            st->last_event_sealed = true;
        } else {
            st->last_event_len = 0;
        }
    }
    if ((err = vg_state_encode(st, p->b->enc_buf + *used, p->b->enc_cap - *used, &len))) {
        vg_errstr_set(p->b->errstr, sizeof(p->b->errstr), "state of %s: %s", p->b->groups[g].key,
                      vg_err_str(err));
        return err;
    }
    p->b->enc_off[w] = *used;
    p->b->write_group[w] = (uint32_t)g;
    wr->key = p->b->groups[g].key;
    wr->expect_version = st->version;
    wr->len = len;
    wr->due_key = p->b->parts[p->b->groups[g].part].due_key;
    *used += len;
    return VG_OK;
}

/* Store the changed states, each with its version CAS and its entry in the
 * partition's deadline index, before the Kafka commit (DESIGN rule 3). */
static vg_err_t vg_pipeline_stage_store(vg_pipeline_t *p) {
    size_t n_writes = p->b->n_writes, conflict = 0;
    vg_err_t err;

    for (size_t w = 0; w < n_writes; w++)
        p->b->writes[w].data = p->b->enc_buf + p->b->enc_off[w];
    /* Every partition's applied marker, in the same call as its states:
     * Redis must still hold what it held (else it lost writes). */
    for (size_t k = 0; k < p->b->n_parts; k++) {
        const vg_part_t *bp = &p->b->parts[k];
        const vg_heal_t *h = vg_pipeline_heal(p, bp->topic, bp->partition, false);
        p->marks[k] = (vg_redis_mark_t){bp->mark_key, bp->max_offset + 1,
                                        h && !h->until ? h->stored : -1, -1};
    }
    err = vg_redis_store(p->redis, p->b->writes, n_writes, p->marks, p->b->n_parts,
                         p->cfg.state_ttl_s * 1000, &conflict, &p->behind, p->b->errstr,
                         sizeof(p->b->errstr));
    /* What Redis holds now: the batch's states if stored; else unknown,
     * for every customer of the batch (the writes among them). */
    if (err)
        for (size_t g = 0; g < p->b->n_groups; g++)
            vg_cache_drop(p->cache, p->b->groups[g].key);
    else
        for (size_t w = 0; w < n_writes; w++) {
            const vg_group_t *grp = &p->b->groups[p->b->write_group[w]];
            if (w + VG_PREFETCH_AHEAD / 2 < n_writes)
                vg_cache_prefetch_entry(
                    p->cache, p->b->groups[p->b->write_group[w + VG_PREFETCH_AHEAD / 2]].hash);
            vg_cache_put_h(p->cache, grp->key, grp->key_len, grp->hash,
                           p->b->writes[w].expect_version + 1, p->b->writes[w].data,
                           p->b->writes[w].len);
        }
    if (err == VG_ERR_BEHIND)
        return err;
    if (err == VG_ERR_CONFLICT) {
        /* Someone else wrote this customer since we loaded it: another
         * worker owns the partition now, or we are a zombie. Nothing of
         * this batch was written, and nothing may be published; the
         * rewind reloads. */
        vg_errstr_set(p->b->errstr, sizeof(p->b->errstr), "version conflict on %s",
                      p->b->writes[conflict].key);
        return VG_ERR_CONFLICT;
    }
    if (err)
        return err == VG_ERR_NOMEM ? err : VG_ERR_REDIS;
    atomic_fetch_add(&p->stats.redis_round_trips, 1);
    vg_pipeline_healed(p);
    return VG_OK;
}

/* Produce the triggers, keyed by customer. */
static vg_err_t vg_pipeline_stage_publish(vg_pipeline_t *p) {
    for (size_t k = 0; k < p->b->n_outs; k++) {
        const vg_group_t *grp = &p->b->groups[p->b->outs[k].group];
        const uint8_t *value = p->b->out_buf + p->b->outs[k].off;
        size_t key_len = strlen(grp->customer), value_len = p->b->outs[k].len;
        char sig[VG_SIGN_VALUE_MAX];
        vg_kafka_header_t h = {VG_SIGN_HEADER, sig, 0};
        if (p->signer)
            h.len = vg_sign(p->signer, grp->customer, key_len, value, value_len, sig);
        if (vg_kafka_producer_send(p->producer, p->cfg.topic_triggers, grp->customer, key_len,
                                   value, value_len, &h, p->signer ? 1 : 0)) {
            atomic_fetch_add(&p->stats.kafka_errors, 1);
            vg_errstr_set(p->b->errstr, sizeof(p->b->errstr), "trigger produce failed");
            return VG_ERR_KAFKA;
        }
    }
    return VG_OK;
}

/* The offsets and watermarks of parts (n of them) to commit. */
static void vg_pipeline_positions(const vg_txn_part_t *parts, size_t n, vg_kafka_offset_t *offs,
                                  char (*md)[32], const char **mdp) {
    for (size_t i = 0; i < n; i++) {
        offs[i] = (vg_kafka_offset_t){parts[i].topic, parts[i].partition, parts[i].next};
        vg_keys_commit_metadata(md[i], sizeof(md[i]), parts[i].wm);
        mdp[i] = md[i];
    }
}

/* Remember the batch's positions in the open transaction (exactly_once). */
static vg_err_t vg_pipeline_note_positions(vg_pipeline_t *p) {
    for (size_t i = 0; i < p->b->n_parts; i++) {
        const vg_part_t *bp = &p->b->parts[i];
        vg_txn_part_t *tp;
        if (bp->max_offset + 1 < bp->quiet_below)
            continue; /* rebuilding below the committed offset: it stays */
        tp = vg_pipeline_txn_part(p, bp->topic, bp->partition);
        if (!tp) {
            if (p->n_txn == VG_TXN_PARTS_MAX) {
                vg_errstr_set(p->b->errstr, sizeof(p->b->errstr),
                              "more than %d partitions in one transaction", VG_TXN_PARTS_MAX);
                return VG_ERR_OVERFLOW;
            }
            tp = &p->txn[p->n_txn++];
            snprintf(tp->topic, sizeof(tp->topic), "%s", bp->topic);
            tp->partition = bp->partition;
            tp->floor = bp->min_offset;
        }
        tp->next = bp->max_offset + 1;
        tp->wm = bp->wm;
        /* The next batch of the transaction starts from this watermark. */
        vg_pipeline_wm_committed(p, bp);
    }
    return VG_OK;
}

/* Commit the open transaction: its positions, each with its partition's
 * watermark in the commit metadata ("wm=<ms>"), atomically with it. */
static vg_err_t vg_pipeline_commit_txn(vg_pipeline_t *p, char *errstr, size_t errstr_size) {
    vg_kafka_offset_t offs[VG_TXN_PARTS_MAX];
    static char md[VG_TXN_PARTS_MAX][32];
    const char *mdp[VG_TXN_PARTS_MAX];
    uint64_t started, took;
    vg_err_t err;

    if (!p->txn_open)
        return VG_OK;
    started = vg_now_us();
    vg_pipeline_positions(p->txn, p->n_txn, offs, md, mdp);
    err = vg_kafka_producer_commit_md(p->producer, offs, mdp, p->n_txn,
                                      vg_kafka_consumer_group_metadata(p->consumer),
                                      (int)p->cfg.txn_timeout_ms, errstr, errstr_size);
    if (err) {
        atomic_fetch_add(&p->stats.kafka_errors, 1);
        return err;
    }
    atomic_fetch_add(&p->stats.txn_committed, 1);
    took = vg_now_us() - started;
    p->commit_us = p->commit_us ? (3 * p->commit_us + took) / 4 : took;
    p->txn_open = false;
    p->n_txn = 0;
    vg_pipeline_kafka_ok(p);
    return VG_OK;
}

/* exactly_once: whether the open transaction commits after this batch.
 * It does when it has been open delivery.commit_interval_ms. It does
 * sooner when the worker keeps up, its batch having taken every record
 * that had arrived: then the time a commit blocks the pipeline is time it
 * would have waited for records anyway, and a trigger need not wait out
 * the interval to become visible. Never before
 * delivery.commit_min_interval_ms, nor before twice the recent commits'
 * duration, so that at most a third of the time goes to commits; under a
 * backlog (full batches) the interval alone decides. */
static bool vg_pipeline_txn_due(const vg_pipeline_t *p) {
    uint64_t open_us = vg_now_us() - p->txn_start_us;
    uint64_t early_us = (uint64_t)p->cfg.commit_min_interval_ms * 1000u;

    if (open_us >= (uint64_t)p->cfg.commit_interval_ms * 1000u)
        return true;
    if (p->b->n >= p->b->max)
        return false; /* more is waiting: the interval decides */
    if (early_us < 2 * p->commit_us)
        early_us = 2 * p->commit_us;
    return open_us >= early_us;
}

/* Commit the positions: in exactly_once, the transaction when it is due
 * (vg_pipeline_txn_due; the next batches join it otherwise); in
 * at_least_once, after a flush, batch by batch, without waiting for the
 * coordinator's answer. */
static vg_err_t vg_pipeline_stage_commit(vg_pipeline_t *p) {
    vg_kafka_offset_t offs[VG_BATCH_PARTS_MAX];
    char md[VG_BATCH_PARTS_MAX][32];
    const char *mdp[VG_BATCH_PARTS_MAX];
    size_t n = 0;
    vg_err_t err;

    if (p->cfg.delivery == VG_DELIVERY_EXACTLY_ONCE) {
        if ((err = vg_pipeline_note_positions(p)))
            return err;
        if (!vg_pipeline_txn_due(p))
            return VG_OK;
        return vg_pipeline_commit_txn(p, p->b->errstr, sizeof(p->b->errstr));
    }
    for (size_t i = 0; i < p->b->n_parts; i++) {
        const vg_part_t *bp = &p->b->parts[i];
        if (bp->max_offset + 1 < bp->quiet_below)
            continue; /* rebuilding below the committed offset: it stays */
        offs[n] = (vg_kafka_offset_t){bp->topic, bp->partition, bp->max_offset + 1};
        vg_keys_commit_metadata(md[n], sizeof(md[n]), bp->wm);
        mdp[n] = md[n];
        n++;
        vg_pipeline_wm_committed(p, bp); /* an abort forgets it again */
    }
    /* The triggers are delivered before their positions are committed;
     * the commit itself is not waited for. A commit that fails is reported
     * by the next one (or at the next idle poll), which then rewinds: the
     * records since the last good commit come again and replay. */
    if (!(err = vg_kafka_producer_flush(p->producer, 60000, NULL, p->b->errstr,
                                        sizeof(p->b->errstr))) && n)
        err = vg_kafka_consumer_commit_async(p->consumer, offs, mdp, n, p->b->errstr,
                                             sizeof(p->b->errstr));
    if (err)
        atomic_fetch_add(&p->stats.kafka_errors, 1);
    else
        vg_pipeline_kafka_ok(p);
    return err;
}

/* The batch is committed: count it, then forget it. */
static void vg_pipeline_account(vg_pipeline_t *p) {
    int64_t now = vg_wall_ms();
    vg_cache_stats_t cs;

    atomic_fetch_add(&p->stats.triggers_emitted, p->b->n_outs);
    vg_pipeline_count_commit(p);
    vg_cache_stats(p->cache, &cs);
    atomic_store(&p->stats.cache_hits, cs.hits);
    atomic_store(&p->stats.cache_misses, cs.misses);
    atomic_store(&p->stats.cache_evictions, cs.evictions);
    atomic_store(&p->stats.cache_entries, cs.entries);
    atomic_store(&p->stats.cache_bytes, cs.bytes);
    for (size_t k = 0; k < p->b->n_outs; k++) {
        int64_t ts = p->b->outs[k].msg >= 0 ? p->b->msgs[p->b->outs[k].msg].timestamp_ms : -1;
        if (ts > 0 && now >= ts)
            vg_hist_observe(&p->stats.lat_e2e, (uint64_t)(now - ts) * 1000u);
    }
    atomic_fetch_add(&p->stats.batches, 1);
    vg_pipeline_reset_batch(p, p->b->n);
}

/* What a failed stage means. Fenced: another instance owns our
 * transactional id; stop (drain). Redis down: abandon the batch and wait
 * for it. A version conflict: abandon, back off, reload. Anything else:
 * abandon the batch and rewind; the replay rule makes the retry exact. */
static vg_err_t vg_pipeline_recover(vg_pipeline_t *p, vg_err_t err) {
    switch (err) {
    case VG_ERR_FENCED:
        VG_ERROR(p->log, "pipeline", "fenced: %s", p->b->errstr);
        p->txn_open = false;
        vg_pipeline_reset_batch(p, p->b->n);
        return err;
    case VG_ERR_REDIS: {
        char why[sizeof(p->b->errstr)];
        atomic_fetch_add(&p->stats.redis_errors, 1);
        memcpy(why, p->b->errstr, sizeof(why)); /* the abort forgets the batch */
        vg_pipeline_abort(p, p->b->n, why);
        vg_pipeline_wait_redis(p, why);
        return VG_OK;
    }
    case VG_ERR_BEHIND:
        atomic_fetch_add(&p->stats.redis_errors, 1);
        vg_pipeline_behind(p);
        vg_pipeline_abort(p, p->b->n, p->b->errstr);
        return VG_OK;
    case VG_ERR_CONFLICT:
        atomic_fetch_add(&p->stats.cas_conflicts, 1);
        vg_pipeline_abort(p, p->b->n, p->b->errstr);
        vg_sleep_ms(100);
        return VG_OK;
    default:
        /* Whatever failed first, a dead letter the broker refused
         * (asynchronously) counts against its record, so that a record
         * that can never be dead-lettered stops its partition. */
        vg_pipeline_dead_letters_undelivered(p, p->b->errstr);
        vg_pipeline_abort(p, p->b->n, p->b->errstr);
        /* An offset commit or a transaction call failed: name the cause
         * (at most every 5 s; /readyz and vigil_kafka_problem show it). */
        if (err == VG_ERR_KAFKA || err == VG_ERR_TIMEOUT)
            vg_kafka_producer_diagnose(p->producer);
        return VG_OK;
    }
}

/* Run stage s, timed into histogram h (NULL: untimed). */
#define VG_STAGE(p, s, h)                                                                         \
    do {                                                                                          \
        uint64_t t_ = vg_now_us();                                                                \
        vg_err_t e_ = (s)(p);                                                                     \
        if ((h) != NULL)                                                                          \
            vg_hist_observe((h), vg_now_us() - t_);                                               \
        if (e_)                                                                                   \
            return vg_pipeline_recover((p), e_);                                                  \
    } while (0)

vg_err_t vg_pipeline_run_once(vg_pipeline_t *p) {
    vg_pipeline_stats_t *s = &p->stats;

    vg_pipeline_swap_model(p);
    p->b->n = vg_kafka_consumer_poll_batch(p->consumer, p->b->msgs, p->b->max,
                                              (int)p->cfg.batch_max_wait_ms);
    vg_pipeline_probe(p);
    if (p->rewind_needed) {
        /* A transaction failed inside a rebalance, or an earlier rewind
         * did not reach Kafka: everything since the last commit comes
         * again. */
        p->rewind_needed = false;
        vg_pipeline_abort(p, p->b->n, "rewinding to the committed offsets");
        return VG_OK;
    }
    if (p->b->n == 0) {
        /* Nothing waiting: commit the open transaction now rather than at
         * the end of its interval (a trigger is visible at commit). */
        if (p->txn_open && vg_pipeline_commit_txn(p, p->b->errstr, sizeof(p->b->errstr)))
            return vg_pipeline_recover(p, VG_ERR_KAFKA);
        /* at_least_once: an offset commit that failed after it was sent
         * (a rebalance under way) is not covered by a next batch when no
         * record comes: rewind, and the records since come again. */
        if (vg_kafka_consumer_commit_wait(p->consumer, 0, p->b->errstr, sizeof(p->b->errstr)) ==
            VG_ERR_KAFKA)
            return vg_pipeline_recover(p, VG_ERR_KAFKA);
        vg_pipeline_kafka_idle(p);
        return VG_OK;
    }
    atomic_fetch_add(&s->events_consumed, p->b->n);
    vg_hist_observe(&s->batch_size, p->b->n);
    p->b->errstr[0] = '\0';

    VG_STAGE(p, vg_pipeline_stage_begin, (vg_hist_t *)NULL);
    VG_STAGE(p, vg_pipeline_stage_decode, &s->lat_decode);
    VG_STAGE(p, vg_pipeline_stage_due, &s->lat_redis_load);
    VG_STAGE(p, vg_pipeline_stage_load, &s->lat_redis_load);
    VG_STAGE(p, vg_pipeline_stage_apply, &s->lat_score);
    VG_STAGE(p, vg_pipeline_stage_store, &s->lat_redis_store);
    VG_STAGE(p, vg_pipeline_stage_publish, &s->lat_commit);
    VG_STAGE(p, vg_pipeline_stage_commit, &s->lat_commit);
    vg_pipeline_account(p);
    return VG_OK;
}

vg_err_t vg_pipeline_run(vg_pipeline_t *p, vg_pipeline_between_cb_t *between, void *opaque) {
    vg_err_t err = VG_OK;

    while (!atomic_load(&p->stop)) {
        if ((err = vg_pipeline_run_once(p)) == VG_ERR_FENCED)
            break;
        if (between)
            between(p, opaque);
    }
    /* The last batches are committed; leaving the group now hands the
     * partitions over at once instead of after the session timeout. Both
     * end at the drain deadline: with Kafka unreachable, the open
     * transaction is left open (the coordinator aborts it at
     * transaction.timeout.ms, or this worker.id's next start fences and
     * aborts it) and nothing of it is ever visible; its records are
     * processed again by their partitions' next owner. */
    if (err != VG_ERR_FENCED && p->txn_open &&
        vg_pipeline_commit_txn(p, p->b->errstr, sizeof(p->b->errstr))) {
        if (vg_pipeline_drain_left(p) > 0) {
            vg_pipeline_abort(p, 0, p->b->errstr);
        } else {
            VG_WARN(p->log, "pipeline",
                    "stopping: the last transaction did not commit by the drain deadline "
                    "(%s); left open, it is aborted by Kafka, and its records are processed "
                    "again by their next owner", p->b->errstr);
            p->txn_open = false;
        }
    }
    VG_INFO(p->log, "pipeline", "stopping: leaving the group");
    if (vg_kafka_consumer_close_within(p->consumer,
                                       vg_pipeline_drain_left(p) == INT_MAX
                                           ? (int)p->cfg.drain_timeout_ms
                                           : vg_pipeline_drain_left(p)) == VG_ERR_TIMEOUT)
        VG_WARN(p->log, "pipeline",
                "stopping: could not leave the group by the drain deadline (Kafka "
                "unreachable?); the group reassigns the partitions at its session timeout");
    return err;
}
