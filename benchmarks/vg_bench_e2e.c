/*
 * vg_bench_e2e - the measuring instruments of the side by side benchmark
 * (benchmarks/run.sh, benchmarks/harness/sidebyside.py) and of the soak
 * (benchmarks/soak.sh, benchmarks/harness/soak.py) that are written in C,
 * each run as a process of its own (STYLE.md rule 12):
 *
 *   vg_bench_e2e passthrough --bootstrap B --events-topic T --out-topic O
 *                --group G --expect N
 *
 *     The I/O floor of a 1:1 transform, through the same Kafka adapter as
 *     the worker: with a fresh group, from the earliest offset, poll a batch
 *     (500 records, 50 ms: the worker's defaults), produce one small record
 *     per input record, flush, commit the batch's offsets without waiting
 *     for the answer (as the worker in at_least_once). No decode, no
 *     Redis, no scoring. Stops once N records are consumed and committed;
 *     prints the peers' line (benchmarks/peers/python/README.md):
 *       PEER name=passthrough mode=at_least_once events=N seconds=S eps=E triggers=N
 *     (seconds: from the first record polled to the answer to the last
 *     commit). With --lineage each record produced is an
 *     InterventionTrigger whose lineage names its input record: the I/O
 *     floor of event-to-trigger latency, timed by the latency reader below
 *     like any contestant.
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
 *   vg_bench_e2e soak --bootstrap B --events-topic E --triggers-topic T
 *                --partitions P --rate R --seconds S [--window-ms W] [--seed S]
 *                [--customers C] [--trouble-rate X] [--drain-ms D] [--timeout-s S]
 *
 *     The instrument of benchmarks/soak.sh: the latency conversation
 *     above (READY, GO, PRODUCED, DONE), for a long run with the figures
 *     coming while it runs. It produces R x S events of the generator's
 *     default mix (vg_gen_conf_init: trouble rate 0.05, malformed rate
 *     0.001, 20 ms of event time per record) over C customers, paced at
 *     R events/s, each to an explicit partition (FNV-1a of the key,
 *     modulo P) with CreateTime set to the wall clock of the send. Being
 *     the topic's only producer, it knows the offset of every record it
 *     sends (the n-th to a partition of a fresh topic is offset n), so it
 *     keeps the monotonic time of each send (100 us units, 4 bytes an
 *     event) and times a trigger the moment the read_committed reader gets
 *     it, with no read-back: latency = reception - send of the source event
 *     (lineage source_partition/source_offset). Every W ms (10000) after
 *     GO it prints
 *       WIN t_s=.. produced=n triggers=t absence=a samples=s p50_ms=..
 *           p99_ms=.. max_ms=.. repeats=r unknown=u
 *     (the triggers read in that window; samples leave out absence
 *     triggers and repeats of an event already timed), and at the end
 *       SOAK events=n achieved=.. triggers=.. absence=.. samples=..
 *           repeats=.. unknown=.. p50_ms=.. p99_ms=.. p999_ms=.. max_ms=..
 *
 *   vg_bench_e2e audit --bootstrap B --events-topic E --triggers-topic T
 *                [--events N] [--drain-ms D] [--timeout-s S]
 *
 *     The trigger set against the oracle (workers/tools/vg_oracle.h): reads
 *     E from the earliest offset (N records; default: the topic's end),
 *     feeds each record to vg_oracle in its partition's order (the default
 *     model), then reads T read_committed to its end and compares the
 *     trigger ids. Prints
 *       AUDIT events=.. malformed=.. customers=.. expected=.. deadline=..
 *           got=.. distinct=.. duplicates=.. missing=.. extra=..
 *           absence_got=.. gaps=.. oracle_mb=.. seconds=..
 *     and exits 1 when a trigger is missing or extra (duplicates are
 *     at_least_once's right and are only counted). Absence triggers are
 *     in the comparison: the worker and the oracle both fire a deadline
 *     when a later record of the customer's partition moves that
 *     partition's event-time watermark past it, never on a wall clock, so
 *     at the end of a run both leave the same tail of deadlines pending.
 *     The oracle keeps every customer's state in memory (~16 KB resident
 *     each) and scans its partition's pending deadlines at every record,
 *     so its time grows with the records times the pending absences.
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
#include "vg_hash.h"
#include "vg_kafka_admin.h"
#include "vg_kafka_consumer.h"
#include "vg_kafka_producer.h"
#include "vg_log.h"
#include "vg_model.h"
#include "vg_oracle.h"
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
    bool lineage;      /* passthrough: each output a trigger naming its record */
    uint64_t events;   /* latency: records to produce */
    double rate;       /* latency: events/s */
    int warmup_ms;     /* latency: not sampled */
    int drain_ms;      /* latency: reader quiet this long after DONE */
    int timeout_s;     /* any mode: give up after this long */
    int partitions;    /* soak: of the events topic */
    int seconds;       /* soak: of production */
    int window_ms;     /* soak: one WIN line per window */
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
            /* One small record per input: where it came from (with
             * --lineage, as the trigger the latency reader times). */
            uint8_t val[64];
            size_t k, len = 12;
            if (b->lineage) {
                Vigil__V1__InterventionTrigger tr = VIGIL__V1__INTERVENTION_TRIGGER__INIT;
                Vigil__V1__Lineage lin = VIGIL__V1__LINEAGE__INIT;
                lin.source_partition = msgs[i].partition;
                lin.source_offset = msgs[i].offset;
                tr.lineage = &lin;
                tr.intervention = "passthrough";
                len = vigil__v1__intervention_trigger__pack(&tr, val);
            } else {
                memcpy(val, &msgs[i].partition, 4);
                memcpy(val + 4, &msgs[i].offset, 8);
            }
            if (vg_kafka_producer_send(p, b->out_topic, msgs[i].key, msgs[i].key_len, val,
                                       len, NULL, 0))
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
        /* As the worker in at_least_once: the commit is sent, not
         * waited for; a failure shows at the next one. */
        if (vg_kafka_consumer_commit_async(c, commit, NULL, n_commit, err, sizeof(err)))
            vg_bench_die("passthrough commit", err);
        vg_kafka_consumer_release(c, msgs, n);
        total += n;
        batches++;
    }
    if (vg_kafka_consumer_commit_wait(c, 60000, err, sizeof(err)))
        vg_bench_die("passthrough commit", err);
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

/* What a triggers reader thread shares with its owner. */
typedef struct vg_bench_rx_s {
    _Atomic bool stop;
    _Atomic bool assigned;
    _Atomic uint64_t last_recv_us; /* monotonic time of the latest record */
} vg_bench_rx_t;

/* Called by vg_bench_read_triggers() for each record: tr is NULL when it
 * does not decode as an InterventionTrigger with a lineage; mono_us and
 * wall_us were stamped as the poll returned it. */
typedef void(vg_bench_take_cb_t)(void *opaque, const Vigil__V1__InterventionTrigger *tr,
                                  uint64_t mono_us, int64_t wall_us);

typedef struct vg_bench_sample_s {
    int32_t partition;
    int64_t offset;
    int64_t recv_us; /* wall clock */
} vg_bench_sample_t;

typedef struct vg_bench_reader_s {
    const vg_bench_t *b;
    vg_bench_rx_t rx;
    _Atomic uint64_t received; /* every record, absence triggers included */
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

/* The triggers reader of latency and soak: a read_committed consumer
 * (the adapter's default) of b's triggers topic in a group of its own
 * ("bench.<kind>.<sfx>"), meant to poll one record at a time, so that a
 * record is stamped as soon as librdkafka hands it over rather than when
 * a batch fills or times out. Dies on failure. */
static vg_kafka_consumer_t *vg_bench_reader_open(const vg_bench_t *b, const char *kind) {
    vg_kafka_props_t props = b->props;
    vg_kafka_consumer_t *c;
    char err[512], group[256];

    /* The broker answers a fetch as soon as it has a record; this only
     * bounds how long an empty fetch waits (the adapter's default is 50). */
    vg_kafka_props_add(&props, "fetch.wait.max.ms", "10");
    snprintf(group, sizeof(group), "bench.%s.%s", kind, b->sfx);
    c = vg_kafka_consumer_new(&props, group, b->triggers_topic, b->log, NULL, NULL, err,
                              sizeof(err));
    if (!c)
        vg_bench_die(kind, err);
    return c;
}

/* The loop of a triggers reader thread: polls one record at a time until
 * rx->stop, handing each to take. */
static void vg_bench_read_triggers(const vg_bench_t *b, const char *kind, vg_bench_rx_t *rx,
                                   vg_bench_take_cb_t *take, void *opaque) {
    vg_kafka_consumer_t *c = vg_bench_reader_open(b, kind);
    vg_kafka_msg_t msg;

    while (!atomic_load(&rx->stop)) {
        size_t n = vg_kafka_consumer_poll_batch(c, &msg, 1, 100);
        uint64_t mono = vg_bench_now_us();
        int64_t wall = vg_bench_wall_us();
        Vigil__V1__InterventionTrigger *tr;

        if (!atomic_load(&rx->assigned) && vg_kafka_consumer_assigned(c) > 0)
            atomic_store(&rx->assigned, true);
        if (n == 0)
            continue;
        atomic_store(&rx->last_recv_us, mono);
        tr = vigil__v1__intervention_trigger__unpack(NULL, msg.len, msg.payload);
        take(opaque, tr && tr->lineage ? tr : NULL, mono, wall);
        if (tr)
            vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
        vg_kafka_consumer_release(c, &msg, n);
    }
    vg_kafka_consumer_close(c);
    vg_kafka_consumer_destroy(c);
}

static void vg_bench_reader_take(void *opaque, const Vigil__V1__InterventionTrigger *tr,
                                 uint64_t mono_us, int64_t wall_us) {
    vg_bench_reader_t *r = opaque;

    (void)mono_us;
    if (!tr) {
        r->undecodable++;
    } else if (vg_bench_is_absence(tr)) {
        r->absence++;
    } else {
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 4096;
            r->samples = vg_bench_xrealloc(r->samples, r->cap * sizeof(*r->samples));
        }
        r->samples[r->n++] = (vg_bench_sample_t){tr->lineage->source_partition,
                                                 tr->lineage->source_offset, wall_us};
    }
    atomic_fetch_add(&r->received, 1);
}

static void *vg_bench_reader_main(void *arg) {
    vg_bench_reader_t *r = arg;

    vg_bench_read_triggers(r->b, "lat-reader", &r->rx, vg_bench_reader_take, r);
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
/* The generator of b's events (seed, customers, count, trouble rate),
 * its event time starting at start_ms. Dies on failure. */
static vg_gen_t *vg_bench_gen_new(const vg_bench_t *b, int64_t start_ms) {
    vg_gen_conf_t gc;
    vg_gen_t *gen;
    char err[512];

    vg_gen_conf_init(&gc);
    gc.start_ms = start_ms;
    gc.seed = b->seed;
    gc.customers = b->customers;
    gc.events = b->events;
    gc.trouble_rate = b->trouble_rate;
    gen = vg_gen_new(&gc, err, sizeof(err));
    if (!gen)
        vg_bench_die("vg_gen_new", err);
    return gen;
}

/* The paced instrument's producer. CreateTime is stamped when produce is
 * called: a linger would add the instrument's own batching (up to its
 * 5 ms) to every sample, so there is none. Dies on failure. */
static vg_kafka_producer_t *vg_bench_paced_producer(const vg_bench_t *b, const char *what) {
    vg_kafka_props_t props = b->props;
    vg_kafka_producer_t *prod;
    char err[512];

    vg_kafka_props_add(&props, "linger.ms", "0");
    prod = vg_kafka_producer_new(&props, NULL, b->log, err, sizeof(err));
    if (!prod)
        vg_bench_die(what, err);
    return prod;
}

static uint64_t vg_bench_produce_paced(vg_bench_t *b, int64_t *wall0_ms, double *achieved) {
    /* Event time from now: not stale (see vg_score's stale cut-off). */
    vg_gen_t *gen = vg_bench_gen_new(b, (int64_t)time(NULL) * 1000);
    vg_kafka_producer_t *prod = vg_bench_paced_producer(b, "latency producer");
    vg_gen_record_t rec;
    char err[512];
    uint64_t sent = 0, t0;

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
    while (!atomic_load(&reader.rx.assigned)) {
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
            uint64_t last = atomic_load(&reader.rx.last_recv_us), now = vg_bench_now_us();
            uint64_t quiet_since = last > t_done ? last : t_done;
            if (now - quiet_since >= (uint64_t)b->drain_ms * 1000u)
                break;
            vg_bench_sleep_us(20000);
        }
    }
    atomic_store(&reader.rx.stop, true);
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

/* --- soak: a long paced run, figures per window --------------------------- */

/* Send times, per partition and offset, in chunks that never move: the
 * producer thread appends, the reader thread reads what was published
 * (parts[p].sent, stored after the entry) and marks an event whose trigger
 * it timed. */
#define VG_SOAK_CHUNK_BITS 16
#define VG_SOAK_CHUNK ((size_t)1 << VG_SOAK_CHUNK_BITS)
#define VG_SOAK_TICK_US 100u         /* send times in units of 100 us */
#define VG_SOAK_SEEN 0x80000000u     /* a trigger of this event was timed */

typedef struct vg_soak_part_s {
    uint32_t **chunks; /* n_chunks pointers, each NULL or VG_SOAK_CHUNK entries */
    size_t n_chunks;
    _Atomic uint64_t sent; /* entries published */
} vg_soak_part_t;

typedef struct vg_soak_s {
    vg_bench_t *b;
    vg_soak_part_t parts[VG_BENCH_PARTITIONS_MAX];
    uint64_t t0_us; /* monotonic, at GO: send times count from here */
    _Atomic uint64_t produced;
    _Atomic bool produced_all;
    double achieved;
    /* The reader's side. */
    vg_bench_rx_t rx;
    pthread_mutex_t mu; /* guards everything below */
    double *win;        /* latencies (ms) read in the current window */
    size_t n_win, cap_win;
    uint64_t win_triggers, win_absence, win_repeats, win_unknown;
    uint64_t triggers, absence, repeats, unknown, undecodable;
    float *all; /* every latency, for the run's percentiles */
    size_t n_all, cap_all;
} vg_soak_t;

/* Record the send of the next event of partition part at now_us. */
static void vg_soak_stamp(vg_soak_t *s, int32_t part, uint64_t now_us) {
    vg_soak_part_t *pp = &s->parts[part];
    uint64_t idx = atomic_load_explicit(&pp->sent, memory_order_relaxed);
    size_t ci = (size_t)(idx >> VG_SOAK_CHUNK_BITS);

    if (ci >= pp->n_chunks)
        vg_bench_die("soak", "more events than the send-time table was sized for");
    if (!pp->chunks[ci]) {
        pp->chunks[ci] = malloc(VG_SOAK_CHUNK * sizeof(uint32_t));
        if (!pp->chunks[ci])
            vg_bench_die("soak", "out of memory");
    }
    pp->chunks[ci][idx & (VG_SOAK_CHUNK - 1)] = (uint32_t)((now_us - s->t0_us) / VG_SOAK_TICK_US);
    atomic_store_explicit(&pp->sent, idx + 1, memory_order_release);
}

/* The send-time entry of (partition, offset), or NULL when this process
 * did not send it (yet). Reader thread only. */
static uint32_t *vg_soak_entry(vg_soak_t *s, int32_t part, int64_t offset) {
    vg_soak_part_t *pp;

    if (part < 0 || part >= s->b->partitions || offset < 0)
        return NULL;
    pp = &s->parts[part];
    if ((uint64_t)offset >= atomic_load_explicit(&pp->sent, memory_order_acquire))
        return NULL;
    return &pp->chunks[(size_t)offset >> VG_SOAK_CHUNK_BITS][offset & (VG_SOAK_CHUNK - 1)];
}

/* The producer thread: R x S generated events, paced, to explicit
 * partitions, each stamped before it is handed to librdkafka. */
static void *vg_soak_producer_main(void *arg) {
    vg_soak_t *s = arg;
    vg_bench_t *b = s->b;
    vg_gen_t *gen = vg_bench_gen_new(b, vg_bench_wall_us() / 1000);
    vg_kafka_producer_t *prod = vg_bench_paced_producer(b, "soak producer");
    vg_gen_record_t rec;
    char err[512];
    uint64_t sent = 0;

    if (vg_kafka_producer_warm(prod, b->events_topic, 10000))
        vg_bench_die("soak producer", "no metadata for the events topic");

    while (sent < b->events) {
        uint64_t now = vg_bench_now_us();
        uint64_t due = (uint64_t)((double)(now - s->t0_us) * b->rate / 1e6);

        if (due > b->events)
            due = b->events;
        while (sent < due && vg_gen_next(gen, &rec)) {
            int32_t part = (int32_t)(vg_hash_str(rec.key) % (uint64_t)b->partitions);

            vg_soak_stamp(s, part, vg_bench_now_us());
            if (vg_kafka_producer_send_to(prod, b->events_topic, part, vg_bench_wall_us() / 1000,
                                          rec.key, rec.key_len, rec.payload, rec.len, NULL, 0))
                vg_bench_die("soak produce", b->events_topic);
            sent++;
            atomic_store(&s->produced, sent);
        }
        if (sent < due) /* the generator ran dry */
            break;
        vg_bench_sleep_us(1000);
    }
    s->achieved = (double)sent / ((double)(vg_bench_now_us() - s->t0_us) / 1e6);
    /* A record the broker never took would shift every later offset of
     * its partition: the table, and the figures, would be wrong. */
    {
        size_t failed = 0;
        if (vg_kafka_producer_flush(prod, 120000, &failed, err, sizeof(err)))
            vg_bench_die("soak flush (the send-time table no longer matches the offsets)", err);
    }
    vg_kafka_producer_destroy(prod);
    vg_gen_destroy(gen);
    atomic_store(&s->produced_all, true);
    return NULL;
}

static void vg_soak_push(double **v, size_t *n, size_t *cap, double x) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *v = vg_bench_xrealloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = x;
}

/* Time one trigger read at now_us (monotonic). Caller holds s->mu. */
static void vg_soak_take(vg_soak_t *s, const Vigil__V1__InterventionTrigger *tr, uint64_t now_us) {
    uint32_t *e;
    double ms;

    s->triggers++;
    s->win_triggers++;
    if (vg_bench_is_absence(tr)) {
        s->absence++;
        s->win_absence++;
        return;
    }
    e = vg_soak_entry(s, tr->lineage->source_partition, tr->lineage->source_offset);
    if (!e) {
        s->unknown++;
        s->win_unknown++;
        return;
    }
    if (*e & VG_SOAK_SEEN) {
        s->repeats++;
        s->win_repeats++;
        return;
    }
    ms = ((double)(now_us - s->t0_us) - (double)*e * VG_SOAK_TICK_US) / 1000.0;
    *e |= VG_SOAK_SEEN;
    vg_soak_push(&s->win, &s->n_win, &s->cap_win, ms);
    if (s->n_all == s->cap_all) {
        s->cap_all = s->cap_all ? s->cap_all * 2 : 65536;
        s->all = vg_bench_xrealloc(s->all, s->cap_all * sizeof(*s->all));
    }
    s->all[s->n_all++] = (float)ms;
}

static void vg_soak_reader_take(void *opaque, const Vigil__V1__InterventionTrigger *tr,
                                uint64_t mono_us, int64_t wall_us) {
    vg_soak_t *s = opaque;

    (void)wall_us;
    pthread_mutex_lock(&s->mu);
    if (!tr)
        s->undecodable++;
    else
        vg_soak_take(s, tr, mono_us);
    pthread_mutex_unlock(&s->mu);
}

/* The reader thread: read_committed, one record at a time (as latency). */
static void *vg_soak_reader_main(void *arg) {
    vg_soak_t *s = arg;

    vg_bench_read_triggers(s->b, "soak-reader", &s->rx, vg_soak_reader_take, s);
    return NULL;
}

/* Print the WIN line of the window ending now and start the next. */
static void vg_soak_window(vg_soak_t *s) {
    double *w;
    size_t n;
    uint64_t trig, abs_, rep, unk;

    pthread_mutex_lock(&s->mu);
    w = s->win;
    n = s->n_win;
    trig = s->win_triggers;
    abs_ = s->win_absence;
    rep = s->win_repeats;
    unk = s->win_unknown;
    s->win = NULL;
    s->n_win = s->cap_win = 0;
    s->win_triggers = s->win_absence = s->win_repeats = s->win_unknown = 0;
    pthread_mutex_unlock(&s->mu);

    if (n)
        qsort(w, n, sizeof(*w), vg_bench_cmp_double);
    printf("WIN t_s=%.1f produced=%" PRIu64 " triggers=%" PRIu64 " absence=%" PRIu64
           " samples=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f repeats=%" PRIu64
           " unknown=%" PRIu64 "\n",
           (double)(vg_bench_now_us() - s->t0_us) / 1e6, atomic_load(&s->produced), trig, abs_, n,
           vg_bench_pct(w, n, 0.50), vg_bench_pct(w, n, 0.99), n ? w[n - 1] : 0.0, rep, unk);
    fflush(stdout);
    free(w);
}

/* Has a line starting with want come on stdin? Waits up to wait_ms. */
static bool vg_soak_heard(const char *want, int wait_ms, bool *eof) {
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    char line[128];

    if (*eof) {
        vg_bench_sleep_us((long)wait_ms * 1000);
        return false;
    }
    if (poll(&pfd, 1, wait_ms) <= 0)
        return false;
    if (!fgets(line, sizeof(line), stdin)) {
        *eof = true; /* the harness went away: treated as DONE */
        return true;
    }
    return !strncmp(line, want, strlen(want));
}

/* Print the run's figures over every window. */
static void vg_soak_summary(vg_soak_t *s) {
    double *v = calloc(s->n_all ? s->n_all : 1, sizeof(*v));

    if (!v)
        vg_bench_die("soak", "out of memory");
    for (size_t i = 0; i < s->n_all; i++)
        v[i] = s->all[i];
    qsort(v, s->n_all, sizeof(*v), vg_bench_cmp_double);
    fprintf(stderr,
            "# soak: %" PRIu64 " triggers read, %" PRIu64 " absence, %zu timed, %" PRIu64
            " repeats, %" PRIu64 " without a source event, %" PRIu64 " undecodable\n",
            s->triggers, s->absence, s->n_all, s->repeats, s->unknown, s->undecodable);
    printf("SOAK events=%" PRIu64 " achieved=%.0f triggers=%" PRIu64 " absence=%" PRIu64
           " samples=%zu repeats=%" PRIu64 " unknown=%" PRIu64 " p50_ms=%.2f p99_ms=%.2f"
           " p999_ms=%.2f max_ms=%.2f\n",
           atomic_load(&s->produced), s->achieved, s->triggers, s->absence, s->n_all, s->repeats,
           s->unknown, vg_bench_pct(v, s->n_all, 0.50), vg_bench_pct(v, s->n_all, 0.99),
           vg_bench_pct(v, s->n_all, 0.999), s->n_all ? v[s->n_all - 1] : 0.0);
    fflush(stdout);
    free(v);
}

static int vg_bench_soak(vg_bench_t *b) {
    vg_soak_t *s = calloc(1, sizeof(*s));
    pthread_t t_prod, t_reader;
    uint64_t deadline, next_win, done_at = 0;
    bool done = false, eof = false, said_produced = false;

    if (!s)
        vg_bench_die("soak", "out of memory");
    s->b = b;
    pthread_mutex_init(&s->mu, NULL);
    b->events = (uint64_t)(b->rate * b->seconds);
    for (int p = 0; p < b->partitions; p++) {
        /* Room for every event in one partition: a few pointers each. */
        s->parts[p].n_chunks = (size_t)(b->events >> VG_SOAK_CHUNK_BITS) + 1;
        s->parts[p].chunks = calloc(s->parts[p].n_chunks, sizeof(uint32_t *));
        if (!s->parts[p].chunks)
            vg_bench_die("soak", "out of memory");
    }
    if (pthread_create(&t_reader, NULL, vg_soak_reader_main, s))
        vg_bench_die("pthread_create", "failed");
    deadline = vg_bench_now_us() + 60000000u;
    while (!atomic_load(&s->rx.assigned)) {
        if (vg_bench_now_us() > deadline)
            vg_bench_die("soak", "the trigger reader got no partitions");
        vg_bench_sleep_us(10000);
    }
    printf("READY\n");
    fflush(stdout);
    if (!vg_bench_await("GO", false, b->timeout_s))
        vg_bench_die("soak", "no GO on stdin");

    s->t0_us = vg_bench_now_us();
    if (pthread_create(&t_prod, NULL, vg_soak_producer_main, s))
        vg_bench_die("pthread_create", "failed");
    next_win = s->t0_us + (uint64_t)b->window_ms * 1000u;
    deadline = s->t0_us + ((uint64_t)b->seconds + (uint64_t)b->timeout_s) * 1000000u;
    /* Windows until the harness says DONE (the worker has committed every
     * event) and the reader has then been quiet for drain_ms. */
    for (;;) {
        uint64_t now = vg_bench_now_us();
        int wait_ms = next_win > now ? (int)((next_win - now) / 1000u) + 1 : 0;

        if (wait_ms > 100)
            wait_ms = 100;
        if (!done && vg_soak_heard("DONE", wait_ms, &eof)) {
            done = true;
            done_at = vg_bench_now_us();
        } else if (done) {
            vg_bench_sleep_us((long)wait_ms * 1000);
        }
        now = vg_bench_now_us();
        if (!said_produced && atomic_load(&s->produced_all)) {
            said_produced = true;
            pthread_join(t_prod, NULL);
            fprintf(stderr, "# soak: produced %" PRIu64 " events to %s at %.0f/s (target %.0f/s):",
                    atomic_load(&s->produced), b->events_topic, s->achieved, b->rate);
            for (int p = 0; p < b->partitions; p++)
                fprintf(stderr, " [%d] %" PRIu64, p, atomic_load(&s->parts[p].sent));
            fprintf(stderr, "\n");
            printf("PRODUCED n=%" PRIu64 " eps=%.0f\n", atomic_load(&s->produced), s->achieved);
            fflush(stdout);
        }
        if (now >= next_win) {
            vg_soak_window(s);
            next_win += (uint64_t)b->window_ms * 1000u;
        }
        if (done && said_produced) {
            uint64_t last = atomic_load(&s->rx.last_recv_us);
            uint64_t quiet_since = last > done_at ? last : done_at;
            if (now - quiet_since >= (uint64_t)b->drain_ms * 1000u)
                break;
        }
        if (now > deadline)
            vg_bench_die("soak", "no DONE on stdin in time");
    }
    atomic_store(&s->rx.stop, true);
    pthread_join(t_reader, NULL);
    vg_soak_window(s); /* the last, partial window */
    vg_soak_summary(s);
    for (int p = 0; p < b->partitions; p++) {
        for (size_t c = 0; c < s->parts[p].n_chunks; c++)
            free(s->parts[p].chunks[c]);
        free(s->parts[p].chunks);
    }
    free(s->win);
    free(s->all);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return 0;
}

/* --- audit: the trigger set against the oracle ----------------------------- */

typedef struct vg_audit_ids_s {
    char (*id)[33];
    size_t n, cap;
} vg_audit_ids_t;

static void vg_audit_add(vg_audit_ids_t *s, const char *id) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->id = vg_bench_xrealloc(s->id, s->cap * sizeof(*s->id));
    }
    snprintf(s->id[s->n++], 33, "%s", id);
}

static int vg_audit_cmp(const void *a, const void *b) { return strcmp(a, b); }

/* Sort and drop repeats; returns how many were dropped. */
static size_t vg_audit_dedupe(vg_audit_ids_t *s) {
    size_t w = 0;

    qsort(s->id, s->n, sizeof(*s->id), vg_audit_cmp);
    for (size_t i = 0; i < s->n; i++)
        if (w == 0 || strcmp(s->id[w - 1], s->id[i]))
            memmove(s->id[w++], s->id[i], 33);
    w = s->n - w;
    s->n -= w;
    return w;
}

static long vg_audit_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;

    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* Feed every record of the events topic, partition by partition in Kafka's
 * order, to the oracle; the expected trigger ids into *expected. Returns
 * the records whose offsets did not follow their predecessor's (the oracle
 * numbers a partition's records from 0). */
static uint64_t vg_audit_feed(const vg_bench_t *b, vg_oracle_t *o, vg_audit_ids_t *expected) {
    vg_kafka_consumer_t *c;
    vg_kafka_msg_t *msgs = calloc(VG_BENCH_BATCH, sizeof(*msgs));
    int64_t next[VG_BENCH_PARTITIONS_MAX] = {0};
    char err[512], group[256], id[33];
    uint64_t got = 0, gaps = 0, t0 = vg_bench_now_us(), t_log = t0;
    uint64_t deadline = t0 + (uint64_t)b->timeout_s * 1000000u;
    bool fired;

    snprintf(group, sizeof(group), "bench.audit-events.%s", b->sfx);
    c = vg_kafka_consumer_new(&b->props, group, b->events_topic, b->log, NULL, NULL, err,
                              sizeof(err));
    if (!c || !msgs)
        vg_bench_die("audit events reader", err);
    while (got < b->events) {
        size_t n = vg_kafka_consumer_poll_batch(c, msgs, VG_BENCH_BATCH, 200);
        uint64_t now = vg_bench_now_us();

        if (now > deadline)
            vg_bench_die("audit", "could not read every event in time");
        for (size_t i = 0; i < n; i++) {
            int32_t pt = msgs[i].partition;
            if (pt < 0 || pt >= VG_BENCH_PARTITIONS_MAX)
                vg_bench_die("audit", "too many partitions");
            if (msgs[i].offset != next[pt])
                gaps++;
            next[pt] = msgs[i].offset + 1;
            vg_oracle_feed_at(o, pt, msgs[i].key, msgs[i].key_len, msgs[i].payload, msgs[i].len,
                              &fired, id);
        }
        vg_kafka_consumer_release(c, msgs, n);
        got += n;
        if (now - t_log >= 10000000u) {
            t_log = now;
            fprintf(stderr, "# audit: %" PRIu64 "/%" PRIu64 " events fed (%.0f/s), %zu customers\n",
                    got, b->events, (double)got / ((double)(now - t0) / 1e6),
                    vg_oracle_customers(o));
        }
    }
    vg_kafka_consumer_close(c);
    vg_kafka_consumer_destroy(c);
    free(msgs);
    for (size_t k = 0; k < vg_oracle_fired_count(o); k++)
        vg_audit_add(expected, vg_oracle_fired_id(o, k));
    return gaps;
}

/* Every trigger id of the triggers topic, read_committed, to its end:
 * nothing new for drain_ms and no lag left on any assigned partition. */
static void vg_audit_read_triggers(const vg_bench_t *b, vg_audit_ids_t *got, uint64_t *absence) {
    vg_kafka_consumer_t *c;
    vg_kafka_msg_t *msgs = calloc(VG_BENCH_BATCH, sizeof(*msgs));
    vg_kafka_offset_t lag[VG_BENCH_PARTITIONS_MAX];
    char err[512], group[256];
    uint64_t last = vg_bench_now_us(), deadline = last + (uint64_t)b->timeout_s * 1000000u;

    snprintf(group, sizeof(group), "bench.audit-triggers.%s", b->sfx);
    c = vg_kafka_consumer_new(&b->props, group, b->triggers_topic, b->log, NULL, NULL, err,
                              sizeof(err));
    if (!c || !msgs)
        vg_bench_die("audit trigger reader", err);
    for (;;) {
        size_t n = vg_kafka_consumer_poll_batch(c, msgs, VG_BENCH_BATCH, 200);
        uint64_t now = vg_bench_now_us();

        for (size_t i = 0; i < n; i++) {
            Vigil__V1__InterventionTrigger *tr =
                vigil__v1__intervention_trigger__unpack(NULL, msgs[i].len, msgs[i].payload);
            if (!tr || !tr->trigger_id || !tr->trigger_id[0]) {
                vg_audit_add(got, "(undecodable)");
            } else {
                vg_audit_add(got, tr->trigger_id);
                if (vg_bench_is_absence(tr))
                    ++*absence;
            }
            if (tr)
                vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
        }
        vg_kafka_consumer_release(c, msgs, n);
        if (n) {
            last = now;
        } else if (vg_kafka_consumer_assigned(c) > 0 &&
                   now - last >= (uint64_t)b->drain_ms * 1000u) {
            size_t nl = vg_kafka_consumer_lag(c, lag, VG_BENCH_PARTITIONS_MAX);
            int64_t left = 0;
            for (size_t k = 0; k < nl; k++)
                left += lag[k].offset > 0 ? lag[k].offset : 0;
            if (left == 0)
                break;
        }
        if (now > deadline)
            vg_bench_die("audit", "could not read the triggers topic to its end in time");
    }
    vg_kafka_consumer_close(c);
    vg_kafka_consumer_destroy(c);
    free(msgs);
}

/* Count the ids of a (sorted, distinct) not in b (sorted, distinct); name
 * the first few on stderr. */
static size_t vg_audit_diff(const vg_audit_ids_t *a, const vg_audit_ids_t *b, const char *what) {
    size_t i = 0, j = 0, n = 0;

    while (i < a->n) {
        int c = j < b->n ? strcmp(a->id[i], b->id[j]) : -1;
        if (c == 0) {
            i++;
            j++;
        } else if (c < 0) {
            if (n++ < 5)
                fprintf(stderr, "# audit: %s %s\n", what, a->id[i]);
            i++;
        } else {
            j++;
        }
    }
    return n;
}

static int vg_bench_audit(vg_bench_t *b) {
    vg_model_t model;
    vg_oracle_t *o;
    vg_audit_ids_t expected = {0}, got = {0};
    uint64_t gaps, absence = 0, t0 = vg_bench_now_us();
    size_t got_records, dups, missing, extra, deadline_triggers;
    char err[512];

    if (!b->events) {
        int64_t end = vg_kafka_admin_topic_end(&b->props, b->events_topic, 30000, err, sizeof(err));
        if (end < 0)
            vg_bench_die("audit: the end of the events topic", err);
        b->events = (uint64_t)end;
    }
    vg_model_default(&model);
    o = vg_oracle_new(&model);
    if (!o)
        vg_bench_die("audit", "out of memory");
    gaps = vg_audit_feed(b, o, &expected);
    deadline_triggers = vg_oracle_deadline_triggers(o);
    fprintf(stderr, "# audit: %" PRIu64 " events fed in %.1f s; the oracle fired %zu (%zu by a"
                    " deadline) over %zu customers, %zu malformed\n",
            b->events, (double)(vg_bench_now_us() - t0) / 1e6, vg_oracle_fired_count(o),
            deadline_triggers, vg_oracle_customers(o), vg_oracle_dead(o));
    vg_audit_read_triggers(b, &got, &absence);
    got_records = got.n;
    vg_audit_dedupe(&expected);
    dups = vg_audit_dedupe(&got);
    missing = vg_audit_diff(&expected, &got, "missing");
    extra = vg_audit_diff(&got, &expected, "extra");
    printf("AUDIT events=%" PRIu64 " malformed=%zu customers=%zu expected=%zu deadline=%zu"
           " got=%zu distinct=%zu duplicates=%zu missing=%zu extra=%zu absence_got=%" PRIu64
           " gaps=%" PRIu64 " oracle_mb=%.0f seconds=%.1f\n",
           b->events, vg_oracle_dead(o), vg_oracle_customers(o), expected.n, deadline_triggers,
           got_records, got.n, dups, missing, extra, absence, gaps,
           (double)vg_audit_hwm_kb() / 1024.0, (double)(vg_bench_now_us() - t0) / 1e6);
    fflush(stdout);
    vg_oracle_destroy(o);
    free(expected.id);
    free(got.id);
    return missing || extra || gaps ? 1 : 0;
}

/* --- main --------------------------------------------------------------------- */

static void vg_bench_usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s passthrough --bootstrap B --events-topic T --out-topic O --group G\n"
            "                      --expect N [--lineage] [--timeout-s S]\n"
            "       %s latency --bootstrap B --events-topic E --triggers-topic T --rate R\n"
            "                  --events N [--warmup-ms W] [--seed S] [--customers C]\n"
            "                  [--trouble-rate X] [--samples FILE] [--drain-ms D] [--timeout-s S]\n"
            "       %s soak --bootstrap B --events-topic E --triggers-topic T --partitions P\n"
            "               --rate R --seconds S [--window-ms W] [--seed S] [--customers C]\n"
            "               [--trouble-rate X] [--drain-ms D] [--timeout-s S]\n"
            "       %s audit --bootstrap B --events-topic E --triggers-topic T [--events N]\n"
            "                [--drain-ms D] [--timeout-s S]\n"
            "(benchmarks/vg_bench_e2e.c's header says what they measure)\n",
            argv0, argv0, argv0, argv0);
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

typedef enum {
    VG_BENCH_PASSTHROUGH,
    VG_BENCH_LATENCY,
    VG_BENCH_SOAK,
    VG_BENCH_AUDIT
} vg_bench_mode_t;

/* Are the options the mode needs there? */
static bool vg_bench_complete(const vg_bench_t *b, vg_bench_mode_t mode) {
    if (!b->bootstrap || !b->events_topic)
        return false;
    switch (mode) {
    case VG_BENCH_PASSTHROUGH:
        return b->out_topic && b->group && b->expect;
    case VG_BENCH_LATENCY:
        return b->triggers_topic && b->events && b->rate > 0;
    case VG_BENCH_SOAK:
        return b->triggers_topic && b->rate > 0 && b->seconds > 0 && b->partitions > 0 &&
               b->partitions <= VG_BENCH_PARTITIONS_MAX;
    case VG_BENCH_AUDIT:
        return b->triggers_topic != NULL;
    }
    return false;
}

int main(int argc, char **argv) {
    static const char *const names[] = {"passthrough", "latency", "soak", "audit"};
    static vg_bench_t b;
    vg_bench_mode_t mode = VG_BENCH_PASSTHROUGH;
    vg_gen_conf_t gen_defaults;
    bool found = false;
    int rc;

    for (int m = 0; argc >= 2 && m < 4; m++)
        if (!strcmp(argv[1], names[m])) {
            mode = (vg_bench_mode_t)m;
            found = true;
        }
    if (!found)
        vg_bench_usage(argv[0]);
    vg_gen_conf_init(&gen_defaults);
    b.customers = 10000;
    b.seed = 7;
    /* latency: many triggers per second to time; soak: the generator's
     * own mix. */
    b.trouble_rate = mode == VG_BENCH_SOAK ? gen_defaults.trouble_rate : 0.5;
    /* The first seconds of a fresh contestant are slow (connections, the
     * transactional producer, the first fetches, a JIT): seen up to ~3 s. */
    b.warmup_ms = 3000;
    b.drain_ms = mode == VG_BENCH_AUDIT ? 3000 : 1000;
    b.timeout_s = mode == VG_BENCH_AUDIT ? 7200 : 600;
    b.window_ms = 10000;
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
        else if (!strcmp(a, "--lineage"))
            b.lineage = true;
        else if (!strcmp(a, "--expect"))
            b.expect = (uint64_t)vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--events"))
            b.events = (uint64_t)vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--rate"))
            b.rate = vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--seconds"))
            b.seconds = (int)vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--partitions"))
            b.partitions = (int)vg_bench_num(argc, argv, &i, 1);
        else if (!strcmp(a, "--window-ms"))
            b.window_ms = (int)vg_bench_num(argc, argv, &i, 100);
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
    if (!vg_bench_complete(&b, mode))
        vg_bench_usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);
    /* Errors only: the generated stream holds malformed records on purpose. */
    b.log = vg_log_new("bench", VG_LOG_ERROR);
    vg_kafka_props_add(&b.props, "bootstrap.servers", b.bootstrap);
    snprintf(b.sfx, sizeof(b.sfx), "%d-%lld", (int)getpid(), (long long)time(NULL));
    fprintf(stderr, "# vg_bench_e2e %s (%s build): kafka %s, events %s\n", argv[1],
            VG_BENCH_BUILD_TYPE, b.bootstrap, b.events_topic);
    switch (mode) {
    case VG_BENCH_LATENCY:
        rc = vg_bench_latency(&b);
        break;
    case VG_BENCH_SOAK:
        rc = vg_bench_soak(&b);
        break;
    case VG_BENCH_AUDIT:
        rc = vg_bench_audit(&b);
        break;
    default:
        rc = vg_bench_passthrough(&b);
        break;
    }
    vg_log_destroy(b.log);
    return rc;
}
