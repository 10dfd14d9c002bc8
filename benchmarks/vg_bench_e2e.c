/*
 * vg_bench_e2e - the two measuring instruments of the side by side
 * benchmark (benchmarks/run.sh, benchmarks/harness/sidebyside.py) that are
 * written in C, each run as a process of its own (STYLE.md rule 12):
 *
 *   vg_bench_e2e passthrough --bootstrap B --events-topic T --out-topic O
 *                --group G --expect N
 *
 *     The I/O floor of a 1:1 transform, through the same Kafka adapter as
 *     the worker: with a fresh group, from the earliest offset, poll a batch
 *     (500 records, 50 ms: the worker's defaults), produce one small record
 *     per input record, flush, commit the batch's offsets. No decode, no
 *     Redis, no scoring. Stops once N records are consumed and committed;
 *     prints the peers' line (benchmarks/peers/python/README.md):
 *       PEER name=passthrough mode=at_least_once events=N seconds=S eps=E triggers=N
 *     (seconds: from the first record polled to the last commit).
 *
 *   vg_bench_e2e latency --bootstrap B --events-topic E --triggers-topic T
 *                --rate R --events N [--warmup-ms W] [--seed S] [--customers C]
 *                [--trouble-rate X] [--samples FILE] [--drain-ms D] [--timeout-s S]
 *
 *     Event-to-trigger latency of whatever consumes E and publishes
 *     InterventionTriggers to T (Vigil or a peer; the harness starts it).
 *     A conversation on stdin/stdout, one line each way at a time:
 *       1. a read_committed reader joins T; when it owns partitions this
 *          prints "READY";
 *       2. on "GO" (stdin) it produces N generated events (vg_gen, trouble
 *          rate 0.5 by default so that many triggers fire) to E, paced at
 *          R events/s, and prints "PRODUCED n=<n> eps=<achieved>";
 *       3. on "DONE" (stdin: the contestant has consumed and committed
 *          every event; EOF counts too) the reader goes on until it has seen
 *          nothing new for D ms (default 1000), then the CreateTime of every
 *          event is read back from E and this prints
 *       LAT rate=R achieved=A events=n triggers=t samples=s absence=a
 *           missing=m repeats=r p50_ms=.. p90_ms=.. p99_ms=.. p999_ms=.. max_ms=..
 *     latency = wall clock (CLOCK_REALTIME) when the reader gets the trigger
 *     - CreateTime of its source event, found through the trigger's lineage
 *     (source_partition, source_offset). CreateTime is the wall clock
 *     librdkafka stamped when this process produced the event (linger.ms 0,
 *     so the instrument adds no batching of its own): both ends read the
 *     same clock of the same machine, so there is no skew. It includes the
 *     event's trip through the broker, the contestant's batching and, in a
 *     transactional contestant, the transaction's commit: what a consumer
 *     of triggers sees. Events produced in the first W ms (default 3000) are
 *     not sampled; absence triggers (intervention retention_offer with a
 *     reason checkout_abandoned: decided by a deadline, not by an event)
 *     are counted and left out, as in benchmarks/peers/compare.py. With
 *     --samples, every sampled latency (ms) is written to FILE, one a line.
 *
 * Details (progress, the worst latency per second of production) go to
 * stderr. Exit status 0, 1 on a failure (its reason on stderr), 2 on usage.
 */
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_gen.h"
#include "vg_kafka_consumer.h"
#include "vg_kafka_producer.h"
#include "vg_log.h"
#include "vg_time.h"
#include "vigil/v1/trigger.pb-c.h"

#define VG_BENCH_PARTITIONS_MAX 64
#define VG_BENCH_BATCH 500  /* batch.max_events default */
#define VG_BENCH_WAIT_MS 50 /* batch.max_wait_ms default */

typedef struct vg_bench_s {
    const char *bootstrap, *events_topic, *out_topic, *triggers_topic, *group, *samples_path;
    vg_kafka_props_t props;
    vg_log_t *log;
    uint64_t expect;   /* passthrough: records to consume */
    uint64_t events;   /* latency: records to produce */
    double rate;       /* latency: events/s */
    int warmup_ms;     /* latency: not sampled */
    int drain_ms;      /* latency: reader quiet this long after DONE */
    int timeout_s;     /* either: give up after this long */
    uint32_t customers;
    uint64_t seed;
    double trouble_rate;
    char sfx[64];
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

/* --- passthrough: consume, produce 1:1, flush, commit --------------------- */

static int vg_bench_passthrough(vg_bench_t *b) {
    vg_kafka_consumer_t *c;
    vg_kafka_producer_t *p;
    vg_kafka_msg_t *msgs = calloc(VG_BENCH_BATCH, sizeof(*msgs));
    char err[512];
    uint64_t total = 0, batches = 0, t_first = 0, t_end, deadline;
    double secs;

    c = vg_kafka_consumer_new(&b->props, b->group, b->events_topic, b->log, NULL, NULL, err,
                              sizeof(err));
    if (!c)
        vg_bench_die("passthrough consumer", err);
    p = vg_kafka_producer_new(&b->props, NULL, b->log, err, sizeof(err));
    if (!p || !msgs)
        vg_bench_die("passthrough producer", err);

    deadline = vg_bench_now_us() + (uint64_t)b->timeout_s * 1000000u;
    while (total < b->expect) {
        vg_kafka_offset_t commit[VG_BENCH_PARTITIONS_MAX];
        size_t n_commit = 0, n;

        if (vg_bench_now_us() > deadline)
            vg_bench_die("passthrough", "did not consume every record in time");
        n = vg_kafka_consumer_poll_batch(c, msgs, VG_BENCH_BATCH, VG_BENCH_WAIT_MS);
        if (n == 0)
            continue;
        if (!t_first)
            t_first = vg_bench_now_us();
        for (size_t i = 0; i < n; i++) {
            /* One small record per input: where it came from. */
            uint8_t val[12];
            size_t k;
            memcpy(val, &msgs[i].partition, 4);
            memcpy(val + 4, &msgs[i].offset, 8);
            if (vg_kafka_producer_send(p, b->out_topic, msgs[i].key, msgs[i].key_len, val,
                                       sizeof(val), NULL, 0))
                vg_bench_die("passthrough produce", b->out_topic);
            for (k = 0; k < n_commit; k++)
                if (commit[k].partition == msgs[i].partition)
                    break;
            if (k == n_commit) {
                if (n_commit == VG_BENCH_PARTITIONS_MAX)
                    vg_bench_die("passthrough", "too many partitions");
                commit[n_commit++] = (vg_kafka_offset_t){msgs[i].topic, msgs[i].partition, 0};
            }
            if (msgs[i].offset + 1 > commit[k].offset)
                commit[k].offset = msgs[i].offset + 1;
        }
        if (vg_kafka_producer_flush(p, 60000, NULL, err, sizeof(err)))
            vg_bench_die("passthrough flush", err);
        if (vg_kafka_consumer_commit(c, commit, n_commit, err, sizeof(err)))
            vg_bench_die("passthrough commit", err);
        vg_kafka_consumer_release(c, msgs, n);
        total += n;
        batches++;
    }
    t_end = vg_bench_now_us();
    secs = (double)(t_end - t_first) / 1e6;
    fprintf(stderr, "# passthrough: %" PRIu64 " records in %.3f s, %" PRIu64 " batches (%.0f/batch)\n",
            total, secs, batches, (double)total / (double)(batches ? batches : 1));
    vg_kafka_consumer_close(c);
    vg_kafka_consumer_destroy(c);
    vg_kafka_producer_destroy(p);
    free(msgs);
    printf("PEER name=passthrough mode=at_least_once events=%" PRIu64
           " seconds=%.3f eps=%.0f triggers=%" PRIu64 "\n",
           total, secs, (double)total / secs, total);
    fflush(stdout);
    return 0;
}

/* --- latency: the trigger reader ----------------------------------------- */

typedef struct vg_bench_sample_s {
    int32_t partition;
    int64_t offset;
    int64_t recv_us; /* wall clock */
} vg_bench_sample_t;

typedef struct vg_bench_reader_s {
    const vg_bench_t *b;
    _Atomic bool stop;
    _Atomic bool assigned;
    _Atomic uint64_t received;     /* every record, absence triggers included */
    _Atomic uint64_t last_recv_us; /* monotonic time of the latest record */
    /* Owned by the reader thread until it is joined. */
    vg_bench_sample_t *samples;
    size_t n, cap;
    uint64_t undecodable, absence;
} vg_bench_reader_t;

/* An absence trigger: decided by a deadline, not by the event its lineage
 * names (the rule of benchmarks/peers/compare.py). */
static bool vg_bench_is_absence(const Vigil__V1__InterventionTrigger *tr) {
    if (!tr->intervention || strcmp(tr->intervention, "retention_offer"))
        return false;
    for (size_t i = 0; i < tr->n_reasons; i++)
        if (tr->reasons[i]->code && !strcmp(tr->reasons[i]->code, "checkout_abandoned"))
            return true;
    return false;
}

/* A read_committed consumer (the adapter's default) polling one record at
 * a time, so that a record is stamped as soon as librdkafka hands it over
 * rather than when a batch fills or times out. */
static void *vg_bench_reader_main(void *arg) {
    vg_bench_reader_t *r = arg;
    vg_kafka_consumer_t *c;
    vg_kafka_props_t props = r->b->props;
    vg_kafka_msg_t msg;
    char err[512], group[256];

    /* The broker answers a fetch as soon as it has a record; this only
     * bounds how long an empty fetch waits (the adapter's default is 50). */
    vg_kafka_props_add(&props, "fetch.wait.max.ms", "10");
    snprintf(group, sizeof(group), "bench.lat-reader.%s", r->b->sfx);
    c = vg_kafka_consumer_new(&props, group, r->b->triggers_topic, r->b->log, NULL, NULL, err,
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
        atomic_store(&r->last_recv_us, vg_bench_now_us());
        tr = vigil__v1__intervention_trigger__unpack(NULL, msg.len, msg.payload);
        if (!tr || !tr->lineage) {
            r->undecodable++;
        } else if (vg_bench_is_absence(tr)) {
            r->absence++;
        } else {
            if (r->n == r->cap) {
                r->cap = r->cap ? r->cap * 2 : 4096;
                r->samples = vg_bench_xrealloc(r->samples, r->cap * sizeof(*r->samples));
            }
            r->samples[r->n++] = (vg_bench_sample_t){tr->lineage->source_partition,
                                                     tr->lineage->source_offset, now};
        }
        atomic_fetch_add(&r->received, 1);
        if (tr)
            vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
        vg_kafka_consumer_release(c, &msg, n);
    }
    vg_kafka_consumer_close(c);
    vg_kafka_consumer_destroy(c);
    return NULL;
}

/* --- latency: the events' CreateTime ------------------------------------- */

/* CreateTime of every record of the events topic, per partition, indexed
 * by offset; -1 where no record was read. */
typedef struct vg_bench_ts_s {
    int64_t *ts[VG_BENCH_PARTITIONS_MAX];
    size_t len[VG_BENCH_PARTITIONS_MAX];
} vg_bench_ts_t;

static void vg_bench_read_timestamps(const vg_bench_t *b, uint64_t want, vg_bench_ts_t *out) {
    vg_kafka_consumer_t *c;
    vg_kafka_msg_t *msgs = calloc(VG_BENCH_BATCH, sizeof(*msgs));
    char err[512], group[256];
    uint64_t got = 0, deadline = vg_bench_now_us() + 60000000u;

    memset(out, 0, sizeof(*out));
    snprintf(group, sizeof(group), "bench.ts-reader.%s", b->sfx);
    c = vg_kafka_consumer_new(&b->props, group, b->events_topic, b->log, NULL, NULL, err,
                              sizeof(err));
    if (!c || !msgs)
        vg_bench_die("timestamp reader", err);
    while (got < want && vg_bench_now_us() < deadline) {
        size_t n = vg_kafka_consumer_poll_batch(c, msgs, VG_BENCH_BATCH, 100);
        for (size_t i = 0; i < n; i++) {
            int32_t pt = msgs[i].partition;
            size_t off = (size_t)msgs[i].offset;
            if (pt < 0 || pt >= VG_BENCH_PARTITIONS_MAX || msgs[i].offset < 0)
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

/* CreateTime (ms) of the source event of a sample, or -1 when unknown. */
static int64_t vg_bench_source_ms(const vg_bench_ts_t *ts, const vg_bench_sample_t *sm) {
    if (sm->partition < 0 || sm->partition >= VG_BENCH_PARTITIONS_MAX || sm->offset < 0 ||
        (size_t)sm->offset >= ts->len[sm->partition])
        return -1;
    return ts->ts[sm->partition][sm->offset];
}

/* --- latency: the conversation with the harness -------------------------- */

/* Wait up to timeout_s for a line on stdin; true if it starts with want
 * (EOF counts as want when eof_ok). */
static bool vg_bench_await(const char *want, bool eof_ok, int timeout_s) {
    char line[128];
    uint64_t deadline = vg_bench_now_us() + (uint64_t)timeout_s * 1000000u;

    for (;;) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN};
        uint64_t now = vg_bench_now_us();
        int rc;

        if (now >= deadline)
            return false;
        rc = poll(&pfd, 1, (int)((deadline - now) / 1000u) + 1);
        if (rc < 0)
            continue;
        if (rc == 0)
            return false;
        if (!fgets(line, sizeof(line), stdin))
            return eof_ok;
        if (!strncmp(line, want, strlen(want)))
            return true;
    }
}

/* Produce b->events generated events to the events topic at b->rate.
 * Returns how many were sent; *achieved is the rate reached. */
static uint64_t vg_bench_produce_paced(vg_bench_t *b, int64_t *wall0_ms, double *achieved) {
    vg_gen_conf_t gc;
    vg_gen_t *gen;
    vg_gen_record_t rec;
    vg_kafka_producer_t *prod;
    char err[512];
    uint64_t sent = 0, t0;

    vg_gen_conf_init(&gc);
    gc.start_ms = (int64_t)time(NULL) * 1000; /* not stale: see vg_score's stale cut-off */
    gc.seed = b->seed;
    gc.customers = b->customers;
    gc.events = b->events;
    gc.trouble_rate = b->trouble_rate;
    gen = vg_gen_new(&gc, err, sizeof(err));
    if (!gen)
        vg_bench_die("vg_gen_new", err);
    {
        /* CreateTime is stamped when produce is called: a linger would add
         * the instrument's own batching (up to its 5 ms) to every sample. */
        vg_kafka_props_t props = b->props;
        vg_kafka_props_add(&props, "linger.ms", "0");
        prod = vg_kafka_producer_new(&props, NULL, b->log, err, sizeof(err));
    }
    if (!prod)
        vg_bench_die("latency producer", err);

    /* At each tick, send what is due by now. */
    t0 = vg_bench_now_us();
    *wall0_ms = vg_bench_wall_us() / 1000;
    while (sent < b->events) {
        uint64_t due = (uint64_t)((double)(vg_bench_now_us() - t0) * b->rate / 1e6);
        if (due > b->events)
            due = b->events;
        while (sent < due && vg_gen_next(gen, &rec)) {
            if (vg_kafka_producer_send(prod, b->events_topic, rec.key, rec.key_len, rec.payload,
                                       rec.len, NULL, 0))
                vg_bench_die("latency produce", b->events_topic);
            sent++;
        }
        if (sent < due) /* the generator ran dry */
            break;
        vg_bench_sleep_us(1000);
    }
    *achieved = (double)sent / ((double)(vg_bench_now_us() - t0) / 1e6);
    if (vg_kafka_producer_flush(prod, 60000, NULL, err, sizeof(err)))
        vg_bench_die("latency flush", err);
    vg_kafka_producer_destroy(prod);
    vg_gen_destroy(gen);
    return sent;
}

/* The worst latency per second of production (stderr), to tell a steady
 * state from a backlog that builds or drains. */
static void vg_bench_worst_per_second(const vg_bench_reader_t *r, const vg_bench_ts_t *ts,
                                      int64_t wall0_ms, int secs) {
    double worst[120] = {0};
    int shown = secs < 120 ? secs : 120;

    for (size_t i = 0; i < r->n; i++) {
        int64_t ev_ms = vg_bench_source_ms(ts, &r->samples[i]);
        if (ev_ms >= wall0_ms && (ev_ms - wall0_ms) / 1000 < shown) {
            double l = (double)r->samples[i].recv_us / 1000.0 - (double)ev_ms;
            int sec = (int)((ev_ms - wall0_ms) / 1000);
            if (l > worst[sec])
                worst[sec] = l;
        }
    }
    fprintf(stderr, "# latency: worst ms per second of production (warm-up first):");
    for (int i = 0; i < shown; i++)
        fprintf(stderr, " %.0f", worst[i]);
    fprintf(stderr, "\n");
}

static int vg_bench_latency(vg_bench_t *b) {
    vg_bench_reader_t reader = {.b = b};
    pthread_t t_reader;
    vg_bench_ts_t ts;
    uint64_t sent, deadline;
    int64_t wall0_ms, sample_from_ms;
    double *lat, achieved;
    size_t n_lat = 0, dups = 0, missing = 0;
    FILE *out = NULL;

    if (pthread_create(&t_reader, NULL, vg_bench_reader_main, &reader))
        vg_bench_die("pthread_create", "failed");
    /* The reader must own its partitions before the clock matters, or the
     * first samples would measure its group join. */
    deadline = vg_bench_now_us() + 60000000u;
    while (!atomic_load(&reader.assigned)) {
        if (vg_bench_now_us() > deadline)
            vg_bench_die("latency", "the trigger reader got no partitions");
        vg_bench_sleep_us(10000);
    }
    printf("READY\n");
    fflush(stdout);
    if (!vg_bench_await("GO", false, b->timeout_s))
        vg_bench_die("latency", "no GO on stdin");

    sent = vg_bench_produce_paced(b, &wall0_ms, &achieved);
    sample_from_ms = wall0_ms + b->warmup_ms;
    fprintf(stderr, "# latency: produced %" PRIu64 " events to %s at %.0f/s (target %.0f/s)\n",
            sent, b->events_topic, achieved, b->rate);
    printf("PRODUCED n=%" PRIu64 " eps=%.0f\n", sent, achieved);
    fflush(stdout);
    if (!vg_bench_await("DONE", true, b->timeout_s))
        fprintf(stderr, "# latency: no DONE on stdin within %d s; reading what came\n",
                b->timeout_s);

    /* Every trigger the contestant committed is readable now: wait until
     * nothing new came for drain_ms. */
    {
        uint64_t t_done = vg_bench_now_us();
        for (;;) {
            uint64_t last = atomic_load(&reader.last_recv_us), now = vg_bench_now_us();
            uint64_t quiet_since = last > t_done ? last : t_done;
            if (now - quiet_since >= (uint64_t)b->drain_ms * 1000u)
                break;
            vg_bench_sleep_us(20000);
        }
    }
    atomic_store(&reader.stop, true);
    pthread_join(t_reader, NULL);

    /* Join the samples with the source events' CreateTime. The first
     * reception of a (partition, offset) counts; a repeat (at_least_once
     * may send one) is counted and left out. */
    vg_bench_read_timestamps(b, sent, &ts);
    vg_bench_worst_per_second(&reader, &ts, wall0_ms,
                              (int)((double)sent / b->rate) + 1);
    lat = calloc(reader.n ? reader.n : 1, sizeof(*lat));
    if (!lat)
        vg_bench_die("latency", "out of memory");
    for (size_t i = 0; i < reader.n; i++) {
        const vg_bench_sample_t *sm = &reader.samples[i];
        int64_t ev_ms = vg_bench_source_ms(&ts, sm);
        if (ev_ms == -1) {
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
    qsort(lat, n_lat, sizeof(*lat), vg_bench_cmp_double);
    if (b->samples_path) {
        out = fopen(b->samples_path, "w");
        if (!out)
            vg_bench_die("samples file", b->samples_path);
        for (size_t i = 0; i < n_lat; i++)
            fprintf(out, "%.3f\n", lat[i]);
        fclose(out);
    }
    fprintf(stderr,
            "# latency: %zu samples after a %d ms warm-up; %" PRIu64 " triggers read, %" PRIu64
            " absence, %zu without a source event, %zu repeats, %" PRIu64 " undecodable\n",
            n_lat, b->warmup_ms, atomic_load(&reader.received), reader.absence, missing, dups,
            reader.undecodable);
    printf("LAT rate=%.0f achieved=%.0f events=%" PRIu64 " triggers=%" PRIu64
           " samples=%zu absence=%" PRIu64 " missing=%zu repeats=%zu p50_ms=%.2f p90_ms=%.2f"
           " p99_ms=%.2f p999_ms=%.2f max_ms=%.2f\n",
           b->rate, achieved, sent, atomic_load(&reader.received), n_lat, reader.absence, missing,
           dups, vg_bench_pct(lat, n_lat, 0.50), vg_bench_pct(lat, n_lat, 0.90),
           vg_bench_pct(lat, n_lat, 0.99), vg_bench_pct(lat, n_lat, 0.999),
           n_lat ? lat[n_lat - 1] : 0.0);
    fflush(stdout);
    for (int pt = 0; pt < VG_BENCH_PARTITIONS_MAX; pt++)
        free(ts.ts[pt]);
    free(lat);
    free(reader.samples);
    return 0;
}

/* --- main --------------------------------------------------------------------- */

static void vg_bench_usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s passthrough --bootstrap B --events-topic T --out-topic O --group G\n"
            "                      --expect N [--timeout-s S]\n"
            "       %s latency --bootstrap B --events-topic E --triggers-topic T --rate R\n"
            "                  --events N [--warmup-ms W] [--seed S] [--customers C]\n"
            "                  [--trouble-rate X] [--samples FILE] [--drain-ms D] [--timeout-s S]\n"
            "(benchmarks/vg_bench_e2e.c's header says what they measure)\n",
            argv0, argv0);
    exit(2);
}

static double vg_bench_num(int argc, char **argv, int *i, double min) {
    char *end;
    double v;

    if (*i + 1 >= argc)
        vg_bench_usage(argv[0]);
    v = strtod(argv[*i + 1], &end);
    if (*end || !(v >= min)) {
        fprintf(stderr, "vg_bench_e2e: %s: expected a number >= %g, got '%s'\n", argv[*i], min,
                argv[*i + 1]);
        exit(2);
    }
    ++*i;
    return v;
}

static const char *vg_bench_str(int argc, char **argv, int *i) {
    if (*i + 1 >= argc)
        vg_bench_usage(argv[0]);
    return argv[++*i];
}

int main(int argc, char **argv) {
    static vg_bench_t b;
    bool latency;
    int rc;

    if (argc < 2 || (strcmp(argv[1], "passthrough") && strcmp(argv[1], "latency")))
        vg_bench_usage(argv[0]);
    latency = !strcmp(argv[1], "latency");
    b.customers = 10000;
    b.seed = 7;
    b.trouble_rate = 0.5;
    /* The first seconds of a fresh contestant are slow (connections, the
     * transactional producer, the first fetches, a JIT): seen up to ~3 s. */
    b.warmup_ms = 3000;
    b.drain_ms = 1000;
    b.timeout_s = 600;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--bootstrap"))
            b.bootstrap = vg_bench_str(argc, argv, &i);
        else if (!strcmp(a, "--events-topic"))
            b.events_topic = vg_bench_str(argc, argv, &i);
        else if (!strcmp(a, "--out-topic"))
            b.out_topic = vg_bench_str(argc, argv, &i);
        else if (!strcmp(a, "--triggers-topic"))
            b.triggers_topic = vg_bench_str(argc, argv, &i);
        else if (!strcmp(a, "--group"))
            b.group = vg_bench_str(argc, argv, &i);
        else if (!strcmp(a, "--samples"))
            b.samples_path = vg_bench_str(argc, argv, &i);
        else if (!strcmp(a, "--expect"))
            b.expect = (uint64_t)vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--events"))
            b.events = (uint64_t)vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--rate"))
            b.rate = vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--warmup-ms"))
            b.warmup_ms = (int)vg_bench_num(argc, argv, &i, 0);
        else if (!strcmp(a, "--drain-ms"))
            b.drain_ms = (int)vg_bench_num(argc, argv, &i, 100);
        else if (!strcmp(a, "--timeout-s"))
            b.timeout_s = (int)vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--seed"))
            b.seed = (uint64_t)vg_bench_num(argc, argv, &i, 0);
        else if (!strcmp(a, "--customers"))
            b.customers = (uint32_t)vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--trouble-rate"))
            b.trouble_rate = vg_bench_num(argc, argv, &i, 0);
        else
            vg_bench_usage(argv[0]);
    }
    if (!b.bootstrap || !b.events_topic ||
        (latency ? !b.triggers_topic || !b.events || b.rate <= 0
                 : !b.out_topic || !b.group || !b.expect))
        vg_bench_usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);
    /* Errors only: the generated stream holds malformed records on purpose. */
    b.log = vg_log_new("bench", VG_LOG_ERROR);
    vg_kafka_props_add(&b.props, "bootstrap.servers", b.bootstrap);
    snprintf(b.sfx, sizeof(b.sfx), "%d-%lld", (int)getpid(), (long long)time(NULL));
    fprintf(stderr, "# vg_bench_e2e %s (%s build): kafka %s, events %s\n", argv[1],
            VG_BENCH_BUILD_TYPE, b.bootstrap, b.events_topic);
    rc = latency ? vg_bench_latency(&b) : vg_bench_passthrough(&b);
    vg_log_destroy(b.log);
    return rc;
}
