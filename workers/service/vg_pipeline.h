/*
 * vg_pipeline.h - one worker's processing loop (DESIGN.md, "Data flow"):
 *
 *   poll a batch -> decode + validate (bad: dead-letter topic) -> group by
 *   customer -> load states (one pipelined Redis round trip) -> apply
 *   events in order (vg_step) -> store states with version CAS (one
 *   pipelined round trip) -> produce triggers + commit offsets (one Kafka
 *   transaction per batch in exactly_once mode; flush then commit in
 *   at_least_once mode).
 *
 * Any failure between the poll and the commit leaves the batch
 * uncommitted: the pipeline aborts, rewinds its partitions to the
 * committed offsets and processes the records again; the offset rule of
 * vg_step makes that replay emit the same triggers, never new ones.
 *
 * Locality: one thread runs vg_pipeline_run_once(); vg_pipeline_stop()
 * and the stats readers may be called from any thread.
 */
#ifndef VG_PIPELINE_H
#define VG_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vg_config.h"
#include "vg_kafka.h"
#include "vg_kafka_health.h"
#include "vg_log.h"
#include "vg_score.h"

typedef struct vg_pipeline_s vg_pipeline_t;

#define VG_HIST_BUCKETS 24 /* 2^k microseconds, k = 0..23 (~8 s) */

typedef struct vg_hist_s {
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
    _Atomic uint64_t buckets[VG_HIST_BUCKETS]; /* non-cumulative */
} vg_hist_t;

void vg_hist_observe(vg_hist_t *h, uint64_t us);
/* The q-quantile (0..1) estimated from the buckets, in microseconds. */
double vg_hist_quantile(const vg_hist_t *h, double q);

#define VG_STATS_INTERVENTIONS 16

/* Counters readable from any thread (metrics endpoint, tests, demo).
 * Outcomes (triggers, dead letters, suppressions, deadlines) are added
 * when their batch commits: a batch abandoned and processed again is not
 * counted twice. Work counters (events consumed, applied, replayed) count
 * the work done. */
typedef struct vg_pipeline_stats_s {
    _Atomic uint64_t events_consumed;
    _Atomic uint64_t events_decoded;       /* decoded and valid (committed batches) */
    _Atomic uint64_t events_applied;
    _Atomic uint64_t events_replayed;
    _Atomic uint64_t events_duplicate;     /* an event id applied before: skipped */
    _Atomic uint64_t dead_letters_truncated; /* too large to copy whole: prefix sent */
    _Atomic uint64_t dead_letter_errors;   /* a dead letter that could not be sent */
    _Atomic uint64_t partitions_stopped;   /* stopped on a record that cannot be dead-lettered */
    _Atomic uint64_t events_dead_lettered;
    _Atomic uint64_t dead_lettered_by_kind[3]; /* decode, validate, score */
    _Atomic uint64_t triggers_emitted;    /* new decisions */
    _Atomic uint64_t triggers_reemitted;  /* replays of stored decisions */
    _Atomic uint64_t suppressed[VG_V__COUNT]; /* eligible, did not fire, by verdict */
    _Atomic uint64_t absences_fired;          /* deadlines that fired a trigger */
    _Atomic uint64_t model_reloads;
    _Atomic uint64_t model_reload_errors;
    _Atomic uint64_t batches;
    _Atomic uint64_t batch_retries;
    _Atomic uint64_t cas_conflicts;
    _Atomic uint64_t redis_errors;
    _Atomic uint64_t redis_round_trips;
    _Atomic uint64_t kafka_errors;
    _Atomic uint64_t txn_committed;
    _Atomic uint64_t txn_aborted;
    _Atomic uint64_t rebalances;
    _Atomic uint64_t ring_evictions;
    _Atomic uint64_t state_decode_errors;
    _Atomic uint64_t state_rebuilds;          /* partitions whose state Redis lost, rebuilt */
    _Atomic uint64_t state_rebuild_events;    /* records re-applied by them */
    _Atomic uint64_t state_rebuild_quiet;     /* triggers and dead letters withheld by them */
    _Atomic uint64_t state_rebuild_short;     /* rebuilds the log's retention cut short */
    _Atomic uint64_t state_lost_writes;       /* uncommitted state writes Redis lost: redone */
    _Atomic uint64_t partitions_rebuilding;
    _Atomic uint64_t cache_hits, cache_misses, cache_evictions;
    _Atomic uint64_t cache_entries, cache_bytes;
    _Atomic uint64_t assigned_partitions;
    _Atomic bool redis_ok;
    _Atomic bool kafka_ok;
    _Atomic int64_t last_commit_ms;           /* wall clock of the last committed batch */
    _Atomic int64_t stall_start_ms;           /* wall clock a wait (Redis, Kafka) began; 0: none */
    _Atomic int redis_problem;                /* vg_redis_problem_t while it lasts */
    vg_kafka_health_t kafka_health;           /* writes failing since, and why */
    int64_t started_ms;                       /* wall clock at start */
    /* Slots 0..n_intervention_names-1 are written once, then published by
     * the count (release); readers load the count first (acquire). */
    _Atomic uint32_t n_intervention_names;
    char intervention_names[VG_STATS_INTERVENTIONS][48];
    _Atomic uint64_t triggers_by_intervention[VG_STATS_INTERVENTIONS];
    vg_hist_t lat_decode, lat_redis_load, lat_score, lat_redis_store, lat_commit, lat_e2e;
    vg_hist_t batch_size;
} vg_pipeline_stats_t;

/* Make a pipeline: connects to Redis and Kafka, joins the group. The
 * config is copied; log is borrowed and must outlive the pipeline.
 * model: NULL for the built-in rules; otherwise copied. Returns NULL with
 * errstr on failure. Caller frees with vg_pipeline_destroy(). */
vg_pipeline_t *vg_pipeline_new(const vg_config_t *cfg, const vg_model_t *model, vg_log_t *log,
                               char *errstr, size_t errstr_size);

/* Poll and process one batch (waiting up to batch.max_wait_ms). Returns
 * VG_OK, or VG_ERR_FENCED when this worker must exit (a newer instance
 * took its transactional id). Retriable trouble (Redis down, a failed
 * transaction) is handled inside: the batch is rewound and the pipeline
 * backs off, staying in the group. */
vg_err_t vg_pipeline_run_once(vg_pipeline_t *p);

/* Run batches until vg_pipeline_stop(); then commit and leave the group. */
/* Called between batches by vg_pipeline_run() (a model reload, a signal
 * that asks to stop: call vg_pipeline_stop()). */
typedef void(vg_pipeline_between_cb_t)(vg_pipeline_t *p, void *opaque);

vg_err_t vg_pipeline_run(vg_pipeline_t *p, vg_pipeline_between_cb_t *between, void *opaque);

/* Ask the loop to stop after the current batch. Async-signal-safe. */
void vg_pipeline_stop(vg_pipeline_t *p);

/* Sign with keys from the next batch on (the pipeline takes them; NULL:
 * unsigned). Any thread, as vg_pipeline_set_model(). */
struct vg_sign_keys_s;
void vg_pipeline_set_signer(vg_pipeline_t *p, struct vg_sign_keys_s *keys);

/* Swap the model between batches (SIGHUP). Copied. */
void vg_pipeline_set_model(vg_pipeline_t *p, const vg_model_t *model);

/* Borrowed, valid until destroy. */
vg_pipeline_stats_t *vg_pipeline_stats(vg_pipeline_t *p);

/* Consumer lag per assigned partition (offset = lag); returns the count.
 * Any thread. */
size_t vg_pipeline_lag(vg_pipeline_t *p, vg_kafka_offset_t *out, size_t max);

/* Redis round trips so far. Any thread. */
uint64_t vg_pipeline_redis_round_trips(vg_pipeline_t *p);

/* Copy the id and version of the model in effect. Any thread. */
void vg_pipeline_model_info(vg_pipeline_t *p, char *id, size_t id_size, char *version,
                            size_t version_size);

/* Ready: Redis and Kafka reachable, no partition stopped, and Kafka
 * taking the worker's writes (none failing or waiting for
 * VG_KAFKA_STALL_MS: stats.kafka_health says why). */
bool vg_pipeline_ready(vg_pipeline_t *p);

/* Leave the group (commit done per batch) and free. NULL is a no-op. */
void vg_pipeline_destroy(vg_pipeline_t *p);

#endif
