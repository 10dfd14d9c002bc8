/*
 * vg_bench_e2e - one worker end to end against the real stack (Apache
 * Kafka + redis-server, ops/stack/up.sh), STYLE.md rule 12.
 *
 * Throughput is reported as a ratio against a baseline measured in the
 * same run, on the same topic, through the same Kafka adapter:
 *
 *   0. Pre-produce N generated events (vg_gen: seed 7, 10000 customers,
 *      default trouble and malformed rates) to a fresh 4-partition topic.
 *   a. baseline: a passthrough loop with a fresh group - poll a batch
 *      (500 records, 50 ms, the worker's defaults), produce one small
 *      record per input record, flush, commit the batch's offsets. No
 *      Redis, no decode, no scoring: the I/O floor of a 1:1 transform.
 *   b. the Vigil pipeline (vg_pipeline_run_once() in a loop) in
 *      at_least_once mode, fresh group, fresh redis.key_prefix;
 *   c. the same in exactly_once mode.
 *   a, b and c run in rounds (default 3), each phase with a fresh group and
 *   fresh states; the line gives the median events/s of each phase and the
 *   median of the per-round ratios, so that a slow spell of a shared
 *   machine skews one round rather than the result.
 *
 *   Each phase is timed from the end of a warm-up of a tenth of the events
 *   (so joining the group, connecting and the first fetches are not
 *   counted) to the end of the call after which N records were consumed
 *   (and committed).
 *
 *   d. Latency, once per mode (at_least_once, then exactly_once): a
 *      pipeline runs in a thread while the benchmark produces paced
 *      traffic (default 2000 events/s, a bounded rate well under either
 *      mode's throughput, for 3 s of warm-up + 10 s, trouble_rate 0.5 so
 *      that many triggers fire) to a fresh topic, and a read_committed
 *      consumer in another thread reads the triggers topic.
 *
 *      event-to-trigger latency = wall clock (CLOCK_REALTIME) when the
 *      trigger is returned to the reader - CreateTime of the source event.
 *      The source event is found through the trigger's lineage
 *      (source_partition, source_offset); its CreateTime is the record
 *      timestamp librdkafka set from the wall clock when this process
 *      called produce, read back from the events topic after the run.
 *      Both ends use the same clock of the same machine, so there is no
 *      skew; the measurement includes the producer's linger and the
 *      batching of the worker (batch.max_wait_ms) and the visibility delay
 *      of the transaction (exactly_once), which is what a consumer of
 *      triggers sees.
 *      Events produced during the warm-up are not sampled.
 *
 * Output, on stdout, exactly one line:
 *   BENCH e2e events=... baseline_eps=... alo_eps=... eos_eps=...
 *       alo_ratio=... eos_ratio=... lat_rate=... alo_p50_ms=...
 *       alo_p99_ms=... alo_lat_samples=... eos_p50_ms=... eos_p99_ms=...
 *       eos_lat_samples=...
 * (eps: events/s; ratio: pipeline eps / baseline eps, same run.)
 * Progress and a per-stage breakdown of each pipeline run go to stderr.
 *
 *   vg_bench_e2e [--stack-env FILE] [--events N] [--rounds R] [--customers C] [--seed S]
 *                [--lat-rate R] [--lat-seconds S] [--lat-warmup-ms W]
 * The stack file defaults to $VIGIL_STACK_ENV.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_config.h"
#include "vg_gen.h"
#include "vg_kafka_admin.h"
#include "vg_kafka_consumer.h"
#include "vg_kafka_producer.h"
#include "vg_log.h"
#include "vg_pipeline.h"
#include "vg_time.h"
#include "vigil/v1/trigger.pb-c.h"

#define VG_BENCH_PARTITIONS 4
#define VG_BENCH_BATCH 500       /* batch.max_events default */
#define VG_BENCH_WAIT_MS 50      /* batch.max_wait_ms default */
#define VG_BENCH_PHASE_MS 180000 /* a phase that takes longer is a failure */
#define VG_BENCH_ROUNDS_MAX 9

typedef struct vg_bench_s {
    char stack_env[1024];
    char bootstrap[512];
    char redis_host[256];
    int redis_port;
    char sfx[96];
    vg_kafka_props_t props;
    vg_log_t *log;
    uint64_t events;
    int rounds;      /* of the three throughput phases */
    uint64_t warmup; /* events processed before the clock starts */
    uint32_t customers;
    uint64_t seed;
    double lat_rate;
    int lat_seconds, lat_warmup_ms;
    char t_events[192], t_out[192], t_dlq[192], t_trig_alo[192], t_trig_eos[192];
    /* Latency topics, [0] at_least_once, [1] exactly_once. */
    char t_lat_events[2][192], t_lat_trig[2][192];
} vg_bench_t;

/* --- small helpers ------------------------------------------------------- */

#define vg_bench_now_us vg_time_mono_us
#define vg_bench_wall_us vg_time_wall_us
#define vg_bench_sleep_us vg_time_sleep_us

static void vg_bench_die(const char *what, const char *why) {
    fprintf(stderr, "vg_bench_e2e: FAIL: %s: %s\n", what, why ? why : "");
    exit(1);
}

static void *vg_bench_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);

    if (!q)
        vg_bench_die("realloc", "out of memory");
    return q;
}

/* Read VIGIL_KAFKA_BOOTSTRAP and VIGIL_REDIS_ADDR from the stack's env
 * file (ops/stack/up.sh writes KEY=VALUE lines). */
static void vg_bench_read_stack(vg_bench_t *b) {
    FILE *f = fopen(b->stack_env, "r");
    char line[1024];

    if (!f)
        vg_bench_die("stack env (--stack-env or VIGIL_STACK_ENV)",
                     b->stack_env[0] ? b->stack_env : "not given");
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        eq[1 + strcspn(eq + 1, "\r\n")] = '\0';
        if (!strcmp(line, "VIGIL_KAFKA_BOOTSTRAP")) {
            snprintf(b->bootstrap, sizeof(b->bootstrap), "%s", eq + 1);
        } else if (!strcmp(line, "VIGIL_REDIS_ADDR")) {
            char *colon = strrchr(eq + 1, ':');
            if (colon) {
                *colon = '\0';
                snprintf(b->redis_host, sizeof(b->redis_host), "%s", eq + 1);
                b->redis_port = (int)strtol(colon + 1, NULL, 10);
            }
        }
    }
    fclose(f);
    if (!b->bootstrap[0] || b->redis_port <= 0)
        vg_bench_die(b->stack_env, "lacks VIGIL_KAFKA_BOOTSTRAP or VIGIL_REDIS_ADDR");
}

static void vg_bench_create_topic(vg_bench_t *b, const char *topic) {
    char err[512];

    if (vg_kafka_admin_create_topic(&b->props, topic, VG_BENCH_PARTITIONS, 1, NULL, 30000, err,
                                    sizeof(err)))
        vg_bench_die("create topic", err);
}

static vg_gen_t *vg_bench_gen(const vg_bench_t *b, uint64_t events, double trouble_rate) {
    vg_gen_conf_t gc;
    vg_gen_t *gen;
    char err[256];

    vg_gen_conf_init(&gc);
    gc.start_ms = (int64_t)time(NULL) * 1000; /* not stale: see vg_score stale cut-off */
    gc.seed = b->seed;
    gc.customers = b->customers;
    gc.events = events;
    if (trouble_rate >= 0.0)
        gc.trouble_rate = trouble_rate;
    gen = vg_gen_new(&gc, err, sizeof(err));
    if (!gen)
        vg_bench_die("vg_gen_new", err);
    return gen;
}

/* --- 0. pre-produce -------------------------------------------------------- */

static void vg_bench_preproduce(vg_bench_t *b) {
    vg_gen_t *gen = vg_bench_gen(b, b->events, -1.0);
    vg_kafka_producer_t *p;
    vg_gen_record_t rec;
    char err[512];
    uint64_t n = 0, t0 = vg_bench_now_us();

    p = vg_kafka_producer_new(&b->props, NULL, b->log, err, sizeof(err));
    if (!p)
        vg_bench_die("producer", err);
    while (vg_gen_next(gen, &rec)) {
        if (vg_kafka_producer_send(p, b->t_events, rec.key, rec.key_len, rec.payload, rec.len,
                                   NULL, 0))
            vg_bench_die("produce", b->t_events);
        n++;
    }
    if (vg_kafka_producer_flush(p, 120000, NULL, err, sizeof(err)))
        vg_bench_die("produce flush", err);
    vg_kafka_producer_destroy(p);
    vg_gen_destroy(gen);
    if (n != b->events)
        vg_bench_die("pre-produce", "the generator stopped early");
    fprintf(stderr, "# pre-produced %" PRIu64 " events to %s in %.1f s\n", n, b->t_events,
            (double)(vg_bench_now_us() - t0) / 1e6);
}

/* --- a. baseline: consume, produce 1:1, flush, commit ---------------------- */

static double vg_bench_baseline(vg_bench_t *b, const char *tag) {
    vg_kafka_consumer_t *c;
    vg_kafka_producer_t *p;
    vg_kafka_msg_t *msgs = calloc(VG_BENCH_BATCH, sizeof(*msgs));
    char err[512], group[256];
    uint64_t total = 0, batches = 0, batches_at_start = 0, t_first = 0, t_start = 0,
             at_start = 0, t_end, deadline;
    double eps;

    snprintf(group, sizeof(group), "bench.%s.%s", tag, b->sfx);
    c = vg_kafka_consumer_new(&b->props, group, b->t_events, b->log, NULL, NULL, err, sizeof(err));
    if (!c)
        vg_bench_die("baseline consumer", err);
    p = vg_kafka_producer_new(&b->props, NULL, b->log, err, sizeof(err));
    if (!p || !msgs)
        vg_bench_die("baseline producer", err);

    deadline = vg_bench_now_us() + (uint64_t)VG_BENCH_PHASE_MS * 1000u;
    while (total < b->events) {
        vg_kafka_offset_t commit[VG_BENCH_PARTITIONS * 4];
        size_t n_commit = 0;
        uint64_t t = vg_bench_now_us();
        size_t n;

        if (t > deadline)
            vg_bench_die("baseline", "did not consume every event in time");
        n = vg_kafka_consumer_poll_batch(c, msgs, VG_BENCH_BATCH, VG_BENCH_WAIT_MS);
        if (n == 0)
            continue;
        if (!t_first)
            t_first = t;
        for (size_t i = 0; i < n; i++) {
            /* One small record per input: where it came from. */
            uint8_t val[12];
            size_t k;
            memcpy(val, &msgs[i].partition, 4);
            memcpy(val + 4, &msgs[i].offset, 8);
            if (vg_kafka_producer_send(p, b->t_out, msgs[i].key, msgs[i].key_len, val,
                                       sizeof(val), NULL, 0))
                vg_bench_die("baseline produce", b->t_out);
            for (k = 0; k < n_commit; k++)
                if (commit[k].partition == msgs[i].partition)
                    break;
            if (k == n_commit) {
                if (n_commit == sizeof(commit) / sizeof(commit[0]))
                    vg_bench_die("baseline", "too many partitions");
                commit[n_commit++] = (vg_kafka_offset_t){msgs[i].topic, msgs[i].partition, 0};
            }
            if (msgs[i].offset + 1 > commit[k].offset)
                commit[k].offset = msgs[i].offset + 1;
        }
        if (vg_kafka_producer_flush(p, 60000, NULL, err, sizeof(err)))
            vg_bench_die("baseline flush", err);
        if (vg_kafka_consumer_commit(c, commit, n_commit, err, sizeof(err)))
            vg_bench_die("baseline commit", err);
        vg_kafka_consumer_release(c, msgs, n);
        total += n;
        batches++;
        if (!t_start && total >= b->warmup) { /* the warm-up is over: start the clock */
            t_start = vg_bench_now_us();
            at_start = total;
            batches_at_start = batches;
        }
    }
    t_end = vg_bench_now_us();
    if (total == at_start)
        vg_bench_die("baseline", "every event came during the warm-up; raise --events");
    eps = (double)(total - at_start) / ((double)(t_end - t_start) / 1e6);
    fprintf(stderr,
            "# %s: warm-up %" PRIu64 " events in %.0f ms; then %" PRIu64
            " events in %.2f s, %" PRIu64 " batches (%.0f/batch): %.0f events/s\n",
            tag, at_start, (double)(t_start - t_first) / 1e3, total - at_start,
            (double)(t_end - t_start) / 1e6, batches - batches_at_start,
            (double)(total - at_start) / (double)(batches - batches_at_start), eps);
    vg_kafka_consumer_destroy(c);
    vg_kafka_producer_destroy(p);
    free(msgs);
    return eps;
}

/* --- b, c. the pipeline ----------------------------------------------------- */

static vg_pipeline_t *vg_bench_pipeline_new(vg_bench_t *b, const char *mode, const char *tag,
                                            const char *events_topic,
                                            const char *triggers_topic) {
    vg_config_t cfg;
    vg_pipeline_t *p;
    char err[512], group[256], prefix[160], worker[160], port[16];
    const char *sets[][2] = {
        {"kafka.bootstrap.servers", b->bootstrap},
        {"topic.events", events_topic},
        {"topic.triggers", triggers_topic},
        {"topic.dead_letter", b->t_dlq},
        {"group.id", group},
        {"redis.host", b->redis_host},
        {"redis.port", port},
        {"redis.key_prefix", prefix},
        /* The benchmark's states need not outlive it on a shared stack. */
        {"state.ttl_s", "300"},
        {"worker.id", worker},
        {"pseudonym.key", "benchmark-pseudonym-key-0123456789"},
        {"delivery.mode", mode},
    };

    snprintf(group, sizeof(group), "bench.%s.%s", tag, b->sfx);
    snprintf(prefix, sizeof(prefix), "vigil-bench:%s:%s", tag, b->sfx);
    snprintf(worker, sizeof(worker), "bench-%s-%s", tag, b->sfx);
    snprintf(port, sizeof(port), "%d", b->redis_port);
    vg_config_defaults(&cfg);
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        if (vg_config_set(&cfg, sets[i][0], sets[i][1], "bench", err, sizeof(err)))
            vg_bench_die("config", err);
    if (vg_config_validate(&cfg, err, sizeof(err)))
        vg_bench_die("config", err);
    p = vg_pipeline_new(&cfg, NULL, b->log, err, sizeof(err));
    if (!p)
        vg_bench_die("vg_pipeline_new", err);
    return p;
}

/* The pipeline's own stage timings (vg_hist_t sums of microseconds), so a
 * run can be broken down into where its wall time went. */
#define VG_BENCH_STAGES 5

typedef struct vg_bench_stages_s {
    uint64_t sum_us[VG_BENCH_STAGES];
    uint64_t batches;
} vg_bench_stages_t;

static const char *const vg_bench_stage_names[VG_BENCH_STAGES] = {
    "decode+group", "redis_load", "score", "redis_store", "produce+commit"};

static void vg_bench_stages(const vg_pipeline_stats_t *s, vg_bench_stages_t *out) {
    const vg_hist_t *h[VG_BENCH_STAGES] = {&s->lat_decode, &s->lat_redis_load, &s->lat_score,
                                           &s->lat_redis_store, &s->lat_commit};

    for (int i = 0; i < VG_BENCH_STAGES; i++)
        out->sum_us[i] = atomic_load(&h[i]->sum_us);
    out->batches = atomic_load(&s->batches);
}

/* Print the stages between two snapshots: mean ms per batch and share of
 * the wall time; the rest is polling (waiting for a batch) and overhead. */
static void vg_bench_breakdown(const char *tag, const vg_bench_stages_t *from,
                               const vg_bench_stages_t *to, double wall_s) {
    uint64_t nb = to->batches - from->batches;
    double staged = 0.0;

    fprintf(stderr, "#   %s: per batch (ms, share of wall):", tag);
    for (int i = 0; i < VG_BENCH_STAGES; i++) {
        double sum_s = (double)(to->sum_us[i] - from->sum_us[i]) / 1e6;
        staged += sum_s;
        fprintf(stderr, " %s %.2f (%.0f%%)", vg_bench_stage_names[i],
                nb ? sum_s * 1e3 / (double)nb : 0.0, 100.0 * sum_s / wall_s);
    }
    fprintf(stderr, ", poll+rest %.2f (%.0f%%)\n",
            nb ? (wall_s - staged) * 1e3 / (double)nb : 0.0, 100.0 * (wall_s - staged) / wall_s);
}

static double vg_bench_pipeline(vg_bench_t *b, const char *mode, const char *tag,
                                const char *triggers_topic) {
    vg_pipeline_t *p = vg_bench_pipeline_new(b, mode, tag, b->t_events, triggers_topic);
    vg_pipeline_stats_t *s = vg_pipeline_stats(p);
    vg_bench_stages_t st0, st1;
    uint64_t t_first = 0, t_start = 0, t_end, at_start = 0, consumed;
    uint64_t deadline = vg_bench_now_us() + (uint64_t)VG_BENCH_PHASE_MS * 1000u;
    double eps, wall_s;

    while ((consumed = atomic_load(&s->events_consumed)) < b->events) {
        uint64_t t = vg_bench_now_us();
        if (t > deadline)
            vg_bench_die(tag, "the pipeline did not consume every event in time");
        if (vg_pipeline_run_once(p) == VG_ERR_FENCED)
            vg_bench_die(tag, "fenced");
        if (!t_first && atomic_load(&s->events_consumed) > 0)
            t_first = t;
        if (!t_start && atomic_load(&s->events_consumed) >= b->warmup) {
            t_start = vg_bench_now_us();
            at_start = atomic_load(&s->events_consumed);
            vg_bench_stages(s, &st0);
        }
    }
    t_end = vg_bench_now_us();
    vg_bench_stages(s, &st1);
    if (consumed == at_start)
        vg_bench_die(tag, "every event came during the warm-up; raise --events");
    wall_s = (double)(t_end - t_start) / 1e6;
    eps = (double)(consumed - at_start) / wall_s;
    fprintf(stderr,
            "# %s: warm-up %" PRIu64 " events in %.0f ms; then %" PRIu64 " events in %.2f s, %" PRIu64
            " batches (%.0f/batch): %.0f events/s; in all: applied %" PRIu64
            ", dead-lettered %" PRIu64 ", triggers %" PRIu64 ", retries %" PRIu64
            ", cas conflicts %" PRIu64 ", txn aborted %" PRIu64 "\n",
            tag, at_start, (double)(t_start - t_first) / 1e3, consumed - at_start, wall_s,
            st1.batches - st0.batches,
            (double)(consumed - at_start) /
                (double)(st1.batches > st0.batches ? st1.batches - st0.batches : 1),
            eps, atomic_load(&s->events_applied), atomic_load(&s->events_dead_lettered),
            atomic_load(&s->triggers_emitted), atomic_load(&s->batch_retries),
            atomic_load(&s->cas_conflicts), atomic_load(&s->txn_aborted));
    vg_bench_breakdown(tag, &st0, &st1, wall_s);
    vg_pipeline_destroy(p);
    return eps;
}

/* --- d. latency ------------------------------------------------------------- */

typedef struct vg_bench_sample_s {
    int32_t partition;
    int64_t offset;
    int64_t recv_us; /* wall clock */
} vg_bench_sample_t;

typedef struct vg_bench_reader_s {
    const vg_bench_t *b;
    const char *topic, *tag;
    _Atomic bool stop;
    _Atomic bool assigned;
    _Atomic uint64_t received;
    /* Owned by the reader thread until it is joined. */
    vg_bench_sample_t *samples;
    size_t n, cap;
    uint64_t undecodable;
} vg_bench_reader_t;

/* The trigger reader: a read_committed consumer (the adapter's default)
 * polling one record at a time, so that a record is stamped as soon as
 * librdkafka hands it over rather than when a batch fills or times out. */
static void *vg_bench_reader_main(void *arg) {
    vg_bench_reader_t *r = arg;
    vg_kafka_consumer_t *c;
    vg_kafka_msg_t msg;
    char err[512], group[256];

    snprintf(group, sizeof(group), "bench.lat-reader-%s.%s", r->tag, r->b->sfx);
    c = vg_kafka_consumer_new(&r->b->props, group, r->topic, r->b->log, NULL, NULL, err,
                              sizeof(err));
    if (!c)
        vg_bench_die("trigger reader", err);
    while (!atomic_load(&r->stop)) {
        size_t n = vg_kafka_consumer_poll_batch(c, &msg, 1, 100);
        int64_t now = vg_bench_wall_us();
        Vigil__V1__InterventionTrigger *tr;

        if (!atomic_load(&r->assigned) && vg_kafka_consumer_assigned(c) > 0)
            atomic_store(&r->assigned, true);
        if (n == 0)
            continue;
        tr = vigil__v1__intervention_trigger__unpack(NULL, msg.len, msg.payload);
        if (!tr || !tr->lineage) {
            r->undecodable++;
        } else {
            if (r->n == r->cap) {
                r->cap = r->cap ? r->cap * 2 : 4096;
                r->samples = vg_bench_xrealloc(r->samples, r->cap * sizeof(*r->samples));
            }
            r->samples[r->n++] = (vg_bench_sample_t){tr->lineage->source_partition,
                                                     tr->lineage->source_offset, now};
            atomic_fetch_add(&r->received, 1);
        }
        if (tr)
            vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
        vg_kafka_consumer_release(c, &msg, n);
    }
    vg_kafka_consumer_destroy(c);
    return NULL;
}

typedef struct vg_bench_runner_s {
    vg_pipeline_t *p;
    vg_err_t err;
} vg_bench_runner_t;

static void *vg_bench_runner_main(void *arg) {
    vg_bench_runner_t *r = arg;

    r->err = vg_pipeline_run(r->p, NULL, NULL);
    return NULL;
}

/* CreateTime of every record of topic, per partition, indexed by offset. */
typedef struct vg_bench_ts_s {
    int64_t *ts[VG_BENCH_PARTITIONS];
    size_t len[VG_BENCH_PARTITIONS];
} vg_bench_ts_t;

static void vg_bench_read_timestamps(const vg_bench_t *b, const char *topic, const char *tag,
                                     uint64_t want, vg_bench_ts_t *out) {
    vg_kafka_consumer_t *c;
    vg_kafka_msg_t *msgs = calloc(VG_BENCH_BATCH, sizeof(*msgs));
    char err[512], group[256];
    uint64_t got = 0, deadline = vg_bench_now_us() + 60000000u;

    memset(out, 0, sizeof(*out));
    snprintf(group, sizeof(group), "bench.ts-reader-%s.%s", tag, b->sfx);
    c = vg_kafka_consumer_new(&b->props, group, topic, b->log, NULL, NULL, err, sizeof(err));
    if (!c || !msgs)
        vg_bench_die("timestamp reader", err);
    while (got < want && vg_bench_now_us() < deadline) {
        size_t n = vg_kafka_consumer_poll_batch(c, msgs, VG_BENCH_BATCH, 100);
        for (size_t i = 0; i < n; i++) {
            int32_t pt = msgs[i].partition;
            size_t off = (size_t)msgs[i].offset;
            if (pt < 0 || pt >= VG_BENCH_PARTITIONS || msgs[i].offset < 0)
                continue;
            if (off >= out->len[pt]) {
                size_t nl = out->len[pt] ? out->len[pt] : 16384;
                while (nl <= off)
                    nl *= 2;
                out->ts[pt] = vg_bench_xrealloc(out->ts[pt], nl * sizeof(int64_t));
                for (size_t k = out->len[pt]; k < nl; k++)
                    out->ts[pt][k] = -1;
                out->len[pt] = nl;
            }
            out->ts[pt][off] = msgs[i].timestamp_ms;
            got++;
        }
        vg_kafka_consumer_release(c, msgs, n);
    }
    if (got < want)
        vg_bench_die("timestamp reader", "could not read back every event");
    vg_kafka_consumer_destroy(c);
    free(msgs);
}

static int vg_bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double vg_bench_pct(const double *v, size_t n, double q) {
    size_t rank = (size_t)ceil(q * (double)n);

    if (n == 0)
        return 0.0;
    return v[rank ? rank - 1 : 0];
}

typedef struct vg_bench_lat_s {
    double p50_ms, p99_ms;
    size_t samples;
} vg_bench_lat_t;

/* One latency run in mode (0 at_least_once, 1 exactly_once). */
static void vg_bench_latency(vg_bench_t *b, int eos, vg_bench_lat_t *out) {
    const char *tag = eos ? "lat-eos" : "lat-alo";
    vg_bench_reader_t reader = {.b = b, .topic = b->t_lat_trig[eos], .tag = tag};
    vg_bench_runner_t runner = {0};
    pthread_t t_reader, t_runner;
    vg_pipeline_stats_t *s;
    vg_kafka_producer_t *prod;
    vg_gen_t *gen;
    vg_gen_record_t rec;
    vg_bench_ts_t ts;
    vg_bench_stages_t st0, st1;
    char err[512];
    uint64_t total = (uint64_t)(b->lat_rate * (b->lat_seconds + b->lat_warmup_ms / 1000.0));
    uint64_t sent = 0, t0, deadline, idle_since = 0;
    int64_t wall0_ms, sample_from_ms;
    double *lat, achieved;
    size_t n_lat = 0, dups = 0, missing = 0;

    runner.p = vg_bench_pipeline_new(b, eos ? "exactly_once" : "at_least_once", tag,
                                     b->t_lat_events[eos], b->t_lat_trig[eos]);
    s = vg_pipeline_stats(runner.p);
    prod = vg_kafka_producer_new(&b->props, NULL, b->log, err, sizeof(err));
    if (!prod)
        vg_bench_die("latency producer", err);
    gen = vg_bench_gen(b, total, 0.5);
    if (pthread_create(&t_runner, NULL, vg_bench_runner_main, &runner) ||
        pthread_create(&t_reader, NULL, vg_bench_reader_main, &reader))
        vg_bench_die("pthread_create", "failed");

    /* Both consumers must own their partitions before the clock matters,
     * or the first samples would measure a group join. */
    deadline = vg_bench_now_us() + 60000000u;
    while (atomic_load(&s->assigned_partitions) < VG_BENCH_PARTITIONS ||
           !atomic_load(&reader.assigned)) {
        if (vg_bench_now_us() > deadline)
            vg_bench_die("latency", "the worker or the reader got no partitions");
        vg_bench_sleep_us(20000);
    }

    /* Paced production: at each tick, send what is due by now. */
    vg_bench_stages(s, &st0);
    t0 = vg_bench_now_us();
    wall0_ms = vg_bench_wall_us() / 1000;
    sample_from_ms = wall0_ms + b->lat_warmup_ms;
    while (sent < total) {
        uint64_t due = (uint64_t)((double)(vg_bench_now_us() - t0) * b->lat_rate / 1e6);
        if (due > total)
            due = total;
        while (sent < due && vg_gen_next(gen, &rec)) {
            if (vg_kafka_producer_send(prod, b->t_lat_events[eos], rec.key, rec.key_len,
                                       rec.payload, rec.len, NULL, 0))
                vg_bench_die("latency produce", b->t_lat_events[eos]);
            sent++;
        }
        if (sent < due) /* the generator ran dry */
            break;
        vg_bench_sleep_us(1000);
    }
    achieved = (double)sent / ((double)(vg_bench_now_us() - t0) / 1e6);
    if (vg_kafka_producer_flush(prod, 60000, NULL, err, sizeof(err)))
        vg_bench_die("latency flush", err);

    /* Drain: every event consumed and every committed trigger read, then
     * half a second of quiet. */
    deadline = vg_bench_now_us() + 60000000u;
    for (;;) {
        bool done = atomic_load(&s->events_consumed) >= sent &&
                    atomic_load(&reader.received) >= atomic_load(&s->triggers_emitted);
        uint64_t now = vg_bench_now_us();
        if (now > deadline) {
            fprintf(stderr, "# %s: drain timed out (consumed %" PRIu64 "/%" PRIu64
                            ", read %" PRIu64 "/%" PRIu64 " triggers)\n",
                    tag, atomic_load(&s->events_consumed), sent, atomic_load(&reader.received),
                    atomic_load(&s->triggers_emitted));
            break;
        }
        if (!done)
            idle_since = 0;
        else if (!idle_since)
            idle_since = now;
        else if (now - idle_since > 500000)
            break;
        vg_bench_sleep_us(20000);
    }
    atomic_store(&reader.stop, true);
    pthread_join(t_reader, NULL);
    vg_pipeline_stop(runner.p);
    pthread_join(t_runner, NULL);
    if (runner.err)
        vg_bench_die("latency pipeline", vg_err_str(runner.err));
    fprintf(stderr,
            "# %s: produced %" PRIu64 " events at %.0f/s (target %.0f/s), worker emitted %" PRIu64
            " triggers in %" PRIu64 " transactions (%" PRIu64
            " aborted), reader got %zu; worker's own histogram e2e p50 %.1f ms p99 %.1f ms\n",
            tag, sent, achieved, b->lat_rate, atomic_load(&s->triggers_emitted),
            atomic_load(&s->txn_committed), atomic_load(&s->txn_aborted), reader.n,
            vg_hist_quantile(&s->lat_e2e, 0.5) / 1000.0,
            vg_hist_quantile(&s->lat_e2e, 0.99) / 1000.0);
    vg_bench_stages(s, &st1);
    vg_bench_breakdown(tag, &st0, &st1, (double)(vg_bench_now_us() - t0) / 1e6);
    vg_pipeline_destroy(runner.p);
    vg_kafka_producer_destroy(prod);
    vg_gen_destroy(gen);

    /* Join the samples with the source events' CreateTime. The first
     * reception of a (partition, offset) counts; exactly_once should never
     * deliver a second one, so repeats are counted and reported. */
    vg_bench_read_timestamps(b, b->t_lat_events[eos], tag, sent, &ts);
    lat = calloc(reader.n ? reader.n : 1, sizeof(*lat));
    if (!lat)
        vg_bench_die("latency", "out of memory");
    for (size_t i = 0; i < reader.n; i++) {
        const vg_bench_sample_t *sm = &reader.samples[i];
        int64_t ev_ms;
        if (sm->partition < 0 || sm->partition >= VG_BENCH_PARTITIONS || sm->offset < 0 ||
            (size_t)sm->offset >= ts.len[sm->partition] ||
            (ev_ms = ts.ts[sm->partition][sm->offset]) == -1) {
            missing++;
            continue;
        }
        if (ev_ms <= -2) { /* marked by an earlier reception */
            dups++;
            continue;
        }
        ts.ts[sm->partition][sm->offset] = -2 - ev_ms;
        if (ev_ms < sample_from_ms)
            continue;
        lat[n_lat++] = (double)sm->recv_us / 1000.0 - (double)ev_ms;
    }
    /* The worst latency per second of production, to tell a steady state
     * from a backlog that builds or drains. */
    {
        double worst[64] = {0};
        int secs = b->lat_seconds + b->lat_warmup_ms / 1000 + 1, shown = secs < 64 ? secs : 64;
        for (size_t i = 0; i < reader.n; i++) {
            const vg_bench_sample_t *sm = &reader.samples[i];
            int64_t ev_ms;
            if (sm->partition < 0 || sm->partition >= VG_BENCH_PARTITIONS || sm->offset < 0 ||
                (size_t)sm->offset >= ts.len[sm->partition])
                continue;
            ev_ms = ts.ts[sm->partition][sm->offset];
            if (ev_ms <= -2)
                ev_ms = -2 - ev_ms; /* undo the mark */
            if (ev_ms >= wall0_ms && (ev_ms - wall0_ms) / 1000 < shown) {
                double l = (double)sm->recv_us / 1000.0 - (double)ev_ms;
                int sec = (int)((ev_ms - wall0_ms) / 1000);
                if (l > worst[sec])
                    worst[sec] = l;
            }
        }
        fprintf(stderr, "# %s: worst ms per second of production (warm-up first):", tag);
        for (int i = 0; i < shown; i++)
            fprintf(stderr, " %.0f", worst[i]);
        fprintf(stderr, "\n");
    }
    qsort(lat, n_lat, sizeof(*lat), vg_bench_cmp_double);
    out->p50_ms = vg_bench_pct(lat, n_lat, 0.50);
    out->p99_ms = vg_bench_pct(lat, n_lat, 0.99);
    out->samples = n_lat;
    fprintf(stderr,
            "# %s: %zu samples after %d ms warm-up (%zu triggers without a source event, "
            "%zu repeats, %" PRIu64 " undecodable): min %.1f p50 %.1f p90 %.1f p99 %.1f max %.1f "
            "ms\n",
            tag, n_lat, b->lat_warmup_ms, missing, dups, reader.undecodable, n_lat ? lat[0] : 0.0,
            out->p50_ms, vg_bench_pct(lat, n_lat, 0.90), out->p99_ms,
            n_lat ? lat[n_lat - 1] : 0.0);
    for (int pt = 0; pt < VG_BENCH_PARTITIONS; pt++)
        free(ts.ts[pt]);
    free(lat);
    free(reader.samples);
}

/* Median of v[0..n), n >= 1 (sorts a copy). */
static double vg_bench_median(const double *v, int n) {
    double tmp[VG_BENCH_ROUNDS_MAX];

    memcpy(tmp, v, (size_t)n * sizeof(*v));
    qsort(tmp, (size_t)n, sizeof(*tmp), vg_bench_cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
}

/* --- main --------------------------------------------------------------------- */

static uint64_t vg_bench_arg(int argc, char **argv, int *i) {
    char *end;
    unsigned long long v;

    if (*i + 1 >= argc)
        vg_bench_die(argv[*i], "needs a value");
    v = strtoull(argv[*i + 1], &end, 10);
    if (*end || v == 0)
        vg_bench_die(argv[*i], "must be a positive integer");
    ++*i;
    return (uint64_t)v;
}

int main(int argc, char **argv) {
    static vg_bench_t b;
    const char *env = getenv("VIGIL_STACK_ENV");
    double base_eps, alo_eps, eos_eps, alo_ratio, eos_ratio;
    double r_base[VG_BENCH_ROUNDS_MAX], r_alo[VG_BENCH_ROUNDS_MAX], r_eos[VG_BENCH_ROUNDS_MAX],
        r_alo_ratio[VG_BENCH_ROUNDS_MAX], r_eos_ratio[VG_BENCH_ROUNDS_MAX];
    vg_bench_lat_t lat[2]; /* at_least_once, exactly_once */
    uint64_t t0 = vg_bench_now_us();

    b.events = 200000;
    b.rounds = 3;
    b.customers = 10000;
    b.seed = 7;
    b.lat_rate = 2000;
    b.lat_seconds = 10;
    /* The first seconds of a fresh worker are slow (connections, the
     * transactional producer, the first fetches): seen up to ~3 s. */
    b.lat_warmup_ms = 3000;
    snprintf(b.stack_env, sizeof(b.stack_env), "%s", env ? env : "");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stack-env") && i + 1 < argc)
            snprintf(b.stack_env, sizeof(b.stack_env), "%s", argv[++i]);
        else if (!strcmp(argv[i], "--events"))
            b.events = vg_bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--rounds"))
            b.rounds = (int)vg_bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--customers"))
            b.customers = (uint32_t)vg_bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--seed"))
            b.seed = vg_bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--lat-rate"))
            b.lat_rate = (double)vg_bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--lat-seconds"))
            b.lat_seconds = (int)vg_bench_arg(argc, argv, &i);
        else if (!strcmp(argv[i], "--lat-warmup-ms"))
            b.lat_warmup_ms = (int)vg_bench_arg(argc, argv, &i);
        else {
            fprintf(stderr,
                    "usage: %s [--stack-env FILE] [--events N] [--rounds R] [--customers C]\n"
                    "          [--seed S]\n"
                    "          [--lat-rate R] [--lat-seconds S] [--lat-warmup-ms W]\n"
                    "The stack file defaults to $VIGIL_STACK_ENV (ops/stack/up.sh writes it).\n",
                    argv[0]);
            return 2;
        }
    }
    if (b.rounds > VG_BENCH_ROUNDS_MAX)
        b.rounds = VG_BENCH_ROUNDS_MAX;
    b.warmup = b.events / 10;
    signal(SIGPIPE, SIG_IGN); /* a dropped Redis connection must not kill us */
    vg_bench_read_stack(&b);
    /* Errors only: the generated stream holds malformed records on purpose
     * and every dead letter would be a warning; they are counted below. */
    b.log = vg_log_new("bench", VG_LOG_ERROR);
    vg_kafka_props_add(&b.props, "bootstrap.servers", b.bootstrap);
    snprintf(b.sfx, sizeof(b.sfx), "%d-%lld", (int)getpid(), (long long)time(NULL));
    snprintf(b.t_events, sizeof(b.t_events), "bench.events.%s", b.sfx);
    snprintf(b.t_out, sizeof(b.t_out), "bench.passthrough.%s", b.sfx);
    snprintf(b.t_dlq, sizeof(b.t_dlq), "bench.dlq.%s", b.sfx);
    snprintf(b.t_trig_alo, sizeof(b.t_trig_alo), "bench.triggers-alo.%s", b.sfx);
    snprintf(b.t_trig_eos, sizeof(b.t_trig_eos), "bench.triggers-eos.%s", b.sfx);
    for (int m = 0; m < 2; m++) {
        snprintf(b.t_lat_events[m], sizeof(b.t_lat_events[m]), "bench.lat-events-%s.%s",
                 m ? "eos" : "alo", b.sfx);
        snprintf(b.t_lat_trig[m], sizeof(b.t_lat_trig[m]), "bench.lat-triggers-%s.%s",
                 m ? "eos" : "alo", b.sfx);
    }
    fprintf(stderr, "# vg_bench_e2e (%s build): kafka %s, redis %s:%d, topics bench.*.%s\n",
            VG_BENCH_BUILD_TYPE, b.bootstrap, b.redis_host, b.redis_port, b.sfx);
    {
        const char *topics[] = {b.t_events,     b.t_out,        b.t_dlq,     b.t_trig_alo,
                                b.t_trig_eos,   b.t_lat_events[0], b.t_lat_trig[0],
                                b.t_lat_events[1], b.t_lat_trig[1]};
        for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
            vg_bench_create_topic(&b, topics[i]);
    }

    vg_bench_preproduce(&b);
    /* Rounds of (baseline, at_least_once, exactly_once), each phase with a
     * fresh group (and fresh states) reading the same pre-produced topic:
     * a slow spell of the shared machine then hits one round, and the
     * ratios of the round it hits, rather than the median. */
    for (int r = 0; r < b.rounds; r++) {
        char tag[3][32];
        snprintf(tag[0], sizeof(tag[0]), "baseline.%d", r + 1);
        snprintf(tag[1], sizeof(tag[1]), "alo.%d", r + 1);
        snprintf(tag[2], sizeof(tag[2]), "eos.%d", r + 1);
        r_base[r] = vg_bench_baseline(&b, tag[0]);
        r_alo[r] = vg_bench_pipeline(&b, "at_least_once", tag[1], b.t_trig_alo);
        r_eos[r] = vg_bench_pipeline(&b, "exactly_once", tag[2], b.t_trig_eos);
        r_alo_ratio[r] = r_alo[r] / r_base[r];
        r_eos_ratio[r] = r_eos[r] / r_base[r];
    }
    base_eps = vg_bench_median(r_base, b.rounds);
    alo_eps = vg_bench_median(r_alo, b.rounds);
    eos_eps = vg_bench_median(r_eos, b.rounds);
    alo_ratio = vg_bench_median(r_alo_ratio, b.rounds);
    eos_ratio = vg_bench_median(r_eos_ratio, b.rounds);
    fprintf(stderr, "# throughput: median of %d rounds: baseline %.0f, alo %.0f (ratio %.3f), eos %.0f "
                    "(ratio %.3f) events/s\n",
            b.rounds, base_eps, alo_eps, alo_ratio, eos_eps, eos_ratio);
    vg_bench_latency(&b, 0, &lat[0]);
    vg_bench_latency(&b, 1, &lat[1]);
    fprintf(stderr, "# total %.1f s\n", (double)(vg_bench_now_us() - t0) / 1e6);

    printf("BENCH e2e events=%" PRIu64 " rounds=%d baseline_eps=%.0f alo_eps=%.0f eos_eps=%.0f "
           "alo_ratio=%.3f eos_ratio=%.3f lat_rate=%.0f alo_p50_ms=%.1f alo_p99_ms=%.1f "
           "alo_lat_samples=%zu eos_p50_ms=%.1f eos_p99_ms=%.1f eos_lat_samples=%zu\n",
           b.events, b.rounds, base_eps, alo_eps, eos_eps, alo_ratio, eos_ratio,
           b.lat_rate, lat[0].p50_ms, lat[0].p99_ms, lat[0].samples, lat[1].p50_ms,
           lat[1].p99_ms, lat[1].samples);
    fflush(stdout);
    vg_log_destroy(b.log);
    return 0;
}
