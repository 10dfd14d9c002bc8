#include "vg_metrics.h"
#include "vg_redis.h"
#include "vg_time.h"

#include <dirent.h>
#include <inttypes.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_kafka.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0.1.0"
#endif

typedef struct vg_buf_s {
    char *s;
    size_t len, cap;
    int oom;
} vg_buf_t;

static void vg_buf_printf(vg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vg_buf_printf(vg_buf_t *b, const char *fmt, ...) {
    va_list ap;
    int n;

    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        {
            size_t nc = b->cap * 2 + (size_t)n;
            char *ns = realloc(b->s, nc);
            if (!ns) {
                b->oom = 1;
                return;
            }
            b->s = ns;
            b->cap = nc;
        }
    }
}

static void vg_counter(vg_buf_t *b, const char *name, const char *help, uint64_t v) {
    vg_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, v);
}

static void vg_gauge(vg_buf_t *b, const char *name, const char *help, double v) {
    vg_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

/* A histogram from 2^k-microsecond buckets, in `unit` (1e-6 for seconds,
 * 1 for plain counts). labels: "" or `stage="decode",`. */
static void vg_hist(vg_buf_t *b, const char *name, const char *labels, const vg_hist_t *h,
                    double unit) {
    uint64_t cum = 0;

    for (int k = 0; k < VG_HIST_BUCKETS; k++) {
        cum += atomic_load(&h->buckets[k]);
        vg_buf_printf(b, "%s_bucket{%sle=\"%.9g\"} %" PRIu64 "\n", name, labels,
                      (double)(1ULL << k) * unit, cum);
    }
    vg_buf_printf(b, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels,
                  atomic_load(&h->count));
    if (labels[0]) {
        /* Drop the trailing comma for the sum and count lines. */
        size_t n = strlen(labels) - 1;
        vg_buf_printf(b, "%s_sum{%.*s} %.9g\n%s_count{%.*s} %" PRIu64 "\n", name, (int)n, labels,
                      (double)atomic_load(&h->sum_us) * unit, name, (int)n, labels,
                      atomic_load(&h->count));
    } else {
        vg_buf_printf(b, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name,
                      (double)atomic_load(&h->sum_us) * unit, name, atomic_load(&h->count));
    }
}

/* The standard process metrics, from /proc and getrusage. */
static void vg_process_metrics(vg_buf_t *b, const vg_pipeline_stats_t *s) {
    struct rusage ru;
    long page = sysconf(_SC_PAGESIZE);
    unsigned long vsz = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    DIR *d;
    int fds = 0;

    if (f) {
        if (fscanf(f, "%lu %lu", &vsz, &rss) != 2)
            vsz = rss = 0;
        fclose(f);
    }
    vg_gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
             (double)rss * (double)page);
    vg_gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
             (double)vsz * (double)page);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        vg_buf_printf(b, "# HELP process_cpu_seconds_total Total user and system CPU time spent "
                         "in seconds.\n# TYPE process_cpu_seconds_total counter\n"
                         "process_cpu_seconds_total %.6f\n",
                      (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                          (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    if ((d = opendir("/proc/self/fd"))) {
        while (readdir(d))
            fds++;
        closedir(d);
        vg_gauge(b, "process_open_fds", "Number of open file descriptors.",
                 (double)(fds > 3 ? fds - 3 : 0)); /* ".", ".." and the DIR itself */
    }
    vg_gauge(b, "process_start_time_seconds", "Start time of the process since the epoch.",
             (double)s->started_ms / 1000.0);
}

/* Records in: consumed, decoded, applied, replayed, dead-lettered. */
static void vg_metrics_events(vg_buf_t *b, vg_pipeline_stats_t *s) {
    vg_counter(b, "vigil_events_consumed_total", "Records polled from the events topic.",
               atomic_load(&s->events_consumed));
    vg_counter(b, "vigil_events_decoded_total",
               "Records that decoded and validated as events (committed batches).",
               atomic_load(&s->events_decoded));
    vg_counter(b, "vigil_events_applied_total", "Events applied to customer state.",
               atomic_load(&s->events_applied));
    vg_counter(b, "vigil_events_replayed_total",
               "Events seen again after a retry or restart and not applied twice.",
               atomic_load(&s->events_replayed));
    vg_counter(b, "vigil_events_duplicate_total",
               "Events whose id the customer had already applied: skipped, not applied twice.",
               atomic_load(&s->events_duplicate));
    vg_counter(b, "vigil_dead_letters_truncated_total",
               "Dead letters sent with a bounded prefix of a record too large to copy whole.",
               atomic_load(&s->dead_letters_truncated));
    vg_counter(b, "vigil_dead_letter_errors_total",
               "Dead letters that could not be sent (the batch is retried).",
               atomic_load(&s->dead_letter_errors));
    vg_gauge(b, "vigil_partitions_stopped",
             "Partitions stopped on a record whose dead letter failed dead_letter.max_retries "
             "times in a row; the other partitions go on.",
             (double)atomic_load(&s->partitions_stopped));
    vg_buf_printf(b, "# HELP vigil_events_dead_lettered_total Records sent to the dead-letter "
                      "topic with a reason, by what was wrong (committed batches).\n"
                      "# TYPE vigil_events_dead_lettered_total counter\n");
    for (int k = 0; k < 3; k++) {
        static const char *const kinds[] = {"decode", "validate", "score"};
        vg_buf_printf(b, "vigil_events_dead_lettered_total{kind=\"%s\"} %" PRIu64 "\n", kinds[k],
                      atomic_load(&s->dead_lettered_by_kind[k]));
    }
}

/* Decisions out: triggers, suppressions, deadlines, model reloads. */
static void vg_metrics_decisions(vg_buf_t *b, vg_pipeline_stats_t *s) {
    vg_buf_printf(b, "# HELP vigil_triggers_total New intervention triggers published "
                      "(committed batches), by intervention of the model.\n"
                      "# TYPE vigil_triggers_total counter\n");
    for (uint32_t i = 0, n = atomic_load_explicit(&s->n_intervention_names, memory_order_acquire);
         i < n; i++) {
        vg_buf_printf(b, "vigil_triggers_total{intervention=\"%s\"} %" PRIu64 "\n",
                      s->intervention_names[i], atomic_load(&s->triggers_by_intervention[i]));
    }
    vg_counter(b, "vigil_triggers_reemitted_total",
               "Stored decisions re-published on replay (same trigger id).",
               atomic_load(&s->triggers_reemitted));
    vg_buf_printf(b, "# HELP vigil_suppressions_total Eligible interventions that did not fire, "
                      "by reason.\n"
                      "# TYPE vigil_suppressions_total counter\n");
    for (int v = VG_V_BELOW_THRESHOLD; v < VG_V__COUNT; v++)
        vg_buf_printf(b, "vigil_suppressions_total{reason=\"%s\"} %" PRIu64 "\n",
                      vg_verdict_str((vg_verdict_t)v), atomic_load(&s->suppressed[v]));
    vg_counter(b, "vigil_absences_fired_total", "Absence deadlines that fired a trigger.",
               atomic_load(&s->absences_fired));
    vg_counter(b, "vigil_model_reloads_total", "Models loaded by SIGHUP.",
               atomic_load(&s->model_reloads));
    vg_counter(b, "vigil_model_reload_errors_total", "SIGHUP reloads refused (bad model).",
               atomic_load(&s->model_reload_errors));
}

/* Batches, their stages, Redis and Kafka round trips. */
static void vg_metrics_batches(vg_buf_t *b, vg_pipeline_t *p, vg_pipeline_stats_t *s) {
    static const struct {
        const char *stage;
        size_t off;
    } stages[] = {
        {"decode", offsetof(vg_pipeline_stats_t, lat_decode)},
        {"redis_load", offsetof(vg_pipeline_stats_t, lat_redis_load)},
        {"score", offsetof(vg_pipeline_stats_t, lat_score)},
        {"redis_store", offsetof(vg_pipeline_stats_t, lat_redis_store)},
        {"commit", offsetof(vg_pipeline_stats_t, lat_commit)},
    };


    vg_counter(b, "vigil_batches_total", "Batches committed.", atomic_load(&s->batches));
    vg_counter(b, "vigil_batch_retries_total", "Batches abandoned and processed again.",
               atomic_load(&s->batch_retries));
    vg_buf_printf(b, "# HELP vigil_batch_size Records per polled batch.\n"
                      "# TYPE vigil_batch_size histogram\n");
    vg_hist(b, "vigil_batch_size", "", &s->batch_size, 1.0);
    vg_buf_printf(b, "# HELP vigil_stage_duration_seconds Time per batch in each stage.\n"
                      "# TYPE vigil_stage_duration_seconds histogram\n");
    for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "stage=\"%s\",", stages[i].stage);
        vg_hist(b, "vigil_stage_duration_seconds", labels,
                (const vg_hist_t *)(const void *)((const char *)s + stages[i].off), 1e-6);
    }
    vg_buf_printf(b, "# HELP vigil_event_to_commit_seconds From an event's record timestamp "
                      "to the commit of its trigger.\n"
                      "# TYPE vigil_event_to_commit_seconds histogram\n");
    vg_hist(b, "vigil_event_to_commit_seconds", "", &s->lat_e2e, 1e-6);
    vg_counter(b, "vigil_redis_round_trips_total", "Pipelined Redis round trips.",
               vg_pipeline_redis_round_trips(p));
    vg_counter(b, "vigil_redis_errors_total", "Failed Redis round trips.",
               atomic_load(&s->redis_errors));
    vg_counter(b, "vigil_cas_conflicts_total",
               "State writes refused by the version compare-and-set.",
               atomic_load(&s->cas_conflicts));
    vg_counter(b, "vigil_kafka_errors_total", "Failed produce, commit or transaction calls.",
               atomic_load(&s->kafka_errors));
    vg_counter(b, "vigil_decision_ring_evictions_total",
               "Uncommitted decisions pushed out of a customer's ring (8 per customer): a "
               "replay of their offsets would emit nothing. Should stay 0.",
               atomic_load(&s->ring_evictions));
    vg_counter(b, "vigil_state_errors_total",
               "Stored states that could not be read (reset) or whose sealed identity could "
               "not be opened (deadlines dropped).",
               atomic_load(&s->state_decode_errors));
    vg_counter(b, "vigil_state_cache_hits_total",
               "States found in the worker's cache of its partitions (no Redis read).",
               atomic_load(&s->cache_hits));
    vg_counter(b, "vigil_state_cache_misses_total",
               "States read from Redis: not cached (new customer, evicted, or the partition "
               "just assigned).",
               atomic_load(&s->cache_misses));
    vg_counter(b, "vigil_state_cache_evictions_total",
               "States pushed out of the cache (state.cache_mb), least recently used first.",
               atomic_load(&s->cache_evictions));
    vg_gauge(b, "vigil_state_cache_bytes", "Bytes the state cache holds (state.cache_mb bounds it).",
             (double)atomic_load(&s->cache_bytes));
    vg_gauge(b, "vigil_state_cache_entries", "States the cache holds.",
             (double)atomic_load(&s->cache_entries));
    vg_counter(b, "vigil_state_rebuilds_total",
               "Partitions whose state Redis had lost (applied marker below the committed "
               "offset), rebuilt from the events topic.",
               atomic_load(&s->state_rebuilds));
    vg_gauge(b, "vigil_partitions_rebuilding",
             "Partitions whose lost state is being rebuilt now (nothing is published for "
             "their records below the committed offset).",
             (double)atomic_load(&s->partitions_rebuilding));
    vg_counter(b, "vigil_state_rebuild_records_total",
               "Records re-applied to rebuild lost state.", atomic_load(&s->state_rebuild_events));
    vg_counter(b, "vigil_state_rebuild_withheld_total",
               "Triggers and dead letters a rebuild decided again and did not publish again.",
               atomic_load(&s->state_rebuild_quiet));
    vg_counter(b, "vigil_state_rebuild_short_total",
               "Rebuilds that started at the log's first kept offset: retention may have "
               "removed events the model's look-back needs.",
               atomic_load(&s->state_rebuild_short));
    vg_counter(b, "vigil_state_lost_writes_total",
               "Uncommitted state writes Redis lost (a failover without WAIT): redone from the "
               "committed offset.",
               atomic_load(&s->state_lost_writes));
    vg_buf_printf(b,
                  "# HELP vigil_transactions_total Kafka transactions by outcome.\n"
                  "# TYPE vigil_transactions_total counter\n"
                  "vigil_transactions_total{outcome=\"committed\"} %" PRIu64 "\n"
                  "vigil_transactions_total{outcome=\"aborted\"} %" PRIu64 "\n",
                  atomic_load(&s->txn_committed), atomic_load(&s->txn_aborted));
    vg_counter(b, "vigil_rebalances_total", "Partition assignment changes seen.",
               atomic_load(&s->rebalances));
}

/* Lag, readiness, what runs. */
static void vg_metrics_health(vg_buf_t *b, vg_pipeline_t *p, vg_pipeline_stats_t *s) {
    vg_kafka_offset_t lag[256];
    size_t n_lag;
    char model_id[64], model_version[32];

    n_lag = vg_pipeline_lag(p, lag, sizeof(lag) / sizeof(lag[0]));
    vg_buf_printf(b, "# HELP vigil_consumer_lag Records behind the high watermark, per assigned "
                      "partition.\n# TYPE vigil_consumer_lag gauge\n");
    for (size_t i = 0; i < n_lag; i++)
        vg_buf_printf(b, "vigil_consumer_lag{topic=\"%s\",partition=\"%d\"} %" PRId64 "\n",
                      lag[i].topic, lag[i].partition, lag[i].offset);
    vg_gauge(b, "vigil_assigned_partitions", "Partitions assigned to this worker.",
             (double)n_lag);
    vg_gauge(b, "vigil_ready",
             "1 when /readyz answers 200: Kafka and Redis reachable, Kafka taking the worker's "
             "writes, no partition stopped.",
             vg_pipeline_ready(p) ? 1 : 0);
    vg_gauge(b, "vigil_redis_up", "1 while Redis answers.", atomic_load(&s->redis_ok) ? 1 : 0);
    {
        int64_t since = atomic_load(&s->stall_start_ms), now = vg_time_wall_ms();
        int pr = atomic_load(&s->redis_problem);
        vg_kafka_problem_t kpr;
        int64_t kstall = vg_kafka_health_stalled(&s->kafka_health, now, &kpr);
        double stall = since ? (double)(now - since) / 1000.0 : 0.0;
        if ((double)kstall / 1000.0 > stall)
            stall = (double)kstall / 1000.0;
        vg_gauge(b, "vigil_stall_seconds",
                 "How long the worker has been waiting (Redis or Kafka unavailable, or Kafka "
                 "not taking its writes); 0 when it is not.",
                 stall);
        vg_buf_printf(b, "# HELP vigil_kafka_problem Why Kafka does not take the worker's "
                         "writes, by name, while they have been stalled for %d s or more (1 "
                         "for the current problem; docs/runbook.md, \"Kafka writes "
                         "stalled\").\n"
                         "# TYPE vigil_kafka_problem gauge\n",
                      VG_KAFKA_STALL_MS / 1000);
        for (int k = 1; k < VG_KAFKA_PROBLEM__COUNT; k++)
            vg_buf_printf(b, "vigil_kafka_problem{problem=\"%s\"} %d\n",
                          vg_kafka_problem_name((vg_kafka_problem_t)k),
                          kstall && (int)kpr == k);
        vg_buf_printf(b, "# HELP vigil_redis_problem What is wrong with Redis, by name (1 for "
                         "the current problem; docs/runbook.md, \"Redis problems\").\n"
                         "# TYPE vigil_redis_problem gauge\n");
        for (int k = 1; k < VG_REDIS_PROBLEM__COUNT; k++)
            vg_buf_printf(b, "vigil_redis_problem{problem=\"%s\"} %d\n",
                          vg_redis_problem_name((vg_redis_problem_t)k), pr == k);
    }
    vg_gauge(b, "vigil_kafka_up", "1 while the Kafka clients work.",
             atomic_load(&s->kafka_ok) ? 1 : 0);
    vg_pipeline_model_info(p, model_id, sizeof(model_id), model_version, sizeof(model_version));
    vg_buf_printf(b,
                  "# HELP vigil_model_info The scoring model in effect.\n"
                  "# TYPE vigil_model_info gauge\n"
                  "vigil_model_info{model_id=\"%s\",model_version=\"%s\"} 1\n",
                  model_id, model_version);
    vg_buf_printf(b,
                  "# HELP vigil_build_info Vigil build.\n# TYPE vigil_build_info gauge\n"
                  "vigil_build_info{version=\"%s\"} 1\n",
                  VIGIL_VERSION);
    vg_gauge(b, "vigil_last_commit_timestamp_seconds",
             "Wall clock of this worker's last committed batch (0: none yet).",
             (double)atomic_load(&s->last_commit_ms) / 1000.0);
}

char *vg_metrics_render(vg_pipeline_t *p, size_t *len) {
    vg_pipeline_stats_t *s = vg_pipeline_stats(p);
    vg_buf_t b = {malloc(16384), 0, 16384, 0};

    if (!b.s)
        return NULL;
    vg_metrics_events(&b, s);
    vg_metrics_decisions(&b, s);
    vg_metrics_batches(&b, p, s);
    vg_metrics_health(&b, p, s);
    vg_process_metrics(&b, s);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    *len = b.len;
    return b.s;
}
