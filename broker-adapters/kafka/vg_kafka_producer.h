/*
 * vg_kafka_producer.h - produces triggers and dead letters; optionally
 * transactional (exactly-once mode).
 *
 * Locality: one thread owns a producer.
 */
#ifndef VG_KAFKA_PRODUCER_H
#define VG_KAFKA_PRODUCER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_kafka.h"
#include "vg_kafka_health.h"

typedef struct vg_kafka_producer_s vg_kafka_producer_t;

/* Make an idempotent producer. transactional_id NULL means no
 * transactions; otherwise transactions are initialised (fencing any older
 * producer with the same id). Caller frees with vg_kafka_producer_destroy(). */
vg_kafka_producer_t *vg_kafka_producer_new(const vg_kafka_props_t *props,
                                           const char *transactional_id, vg_log_t *log,
                                           char *errstr, size_t errstr_size);

/* Enqueue one record (key and value are copied). Blocks while the local
 * queue is full, serving delivery reports. */
vg_err_t vg_kafka_producer_send(vg_kafka_producer_t *p, const char *topic, const void *key,
                                size_t key_len, const void *value, size_t len,
                                const vg_kafka_header_t *headers, size_t n_headers);

#define VG_KAFKA_PARTITION_ANY (-1)

/* The same, to an explicit partition (VG_KAFKA_PARTITION_ANY: the
 * partitioner's choice) with an explicit record timestamp (0: now). */
vg_err_t vg_kafka_producer_send_to(vg_kafka_producer_t *p, const char *topic, int32_t partition,
                                   int64_t timestamp_ms, const void *key, size_t key_len,
                                   const void *value, size_t len,
                                   const vg_kafka_header_t *headers, size_t n_headers);

/* vg_kafka_producer_send() of a record tagged with a nonzero tag: if its
 * delivery fails, vg_kafka_producer_failed_tags() lists the tag. */
vg_err_t vg_kafka_producer_send_tagged(vg_kafka_producer_t *p, const char *topic, const void *key,
                                       size_t key_len, const void *value, size_t len,
                                       const vg_kafka_header_t *headers, size_t n_headers,
                                       uint64_t tag);

/* The tags of tagged records whose delivery failed since
 * vg_kafka_producer_clear_failed() (up to max; reports already in are
 * served first). */
size_t vg_kafka_producer_failed_tags(vg_kafka_producer_t *p, uint64_t *out, size_t max);

/* Wait until every enqueued record is delivered or failed. Returns VG_OK
 * only if all records since the previous flush were delivered; otherwise
 * *failed (if not NULL) has how many failed and errstr the first reason. */
vg_err_t vg_kafka_producer_flush(vg_kafka_producer_t *p, int timeout_ms, size_t *failed,
                                 char *errstr, size_t errstr_size);

/* Transactions (only on a transactional producer). commit sends the
 * consumer positions with the group metadata inside the transaction;
 * it takes ownership of group_metadata (from
 * vg_kafka_consumer_group_metadata()) whatever it returns.
 * On VG_ERR_FENCED the producer is unusable: a newer instance owns the id.
 * On other errors call vg_kafka_producer_abort() and rewind. */
vg_err_t vg_kafka_producer_begin(vg_kafka_producer_t *p, char *errstr, size_t errstr_size);
vg_err_t vg_kafka_producer_commit(vg_kafka_producer_t *p, const vg_kafka_offset_t *offs, size_t n,
                                  void *group_metadata, int timeout_ms, char *errstr,
                                  size_t errstr_size);

/* The same, each position with its commit metadata, committed atomically
 * with the transaction (metadata or its entries may be NULL). */
vg_err_t vg_kafka_producer_commit_md(vg_kafka_producer_t *p, const vg_kafka_offset_t *offs,
                                     const char *const *metadata, size_t n, void *group_metadata,
                                     int timeout_ms, char *errstr, size_t errstr_size);
/* Add consumer positions (with commit metadata) to the open transaction,
 * without committing it; takes ownership of group_metadata. */
vg_err_t vg_kafka_producer_send_offsets_md(vg_kafka_producer_t *p, const vg_kafka_offset_t *offs,
                                           const char *const *metadata, size_t n,
                                           void *group_metadata, int timeout_ms, char *errstr,
                                           size_t errstr_size);
vg_err_t vg_kafka_producer_abort(vg_kafka_producer_t *p, int timeout_ms, char *errstr,
                                 size_t errstr_size);
bool vg_kafka_producer_in_transaction(const vg_kafka_producer_t *p);

/* True after a fatal error that is not fencing (for instance librdkafka's
 * INVALID_TXN_STATE on an abort): this instance cannot be used again, but
 * a new producer with the same transactional id can (its initialisation
 * aborts what the old one left open). */
bool vg_kafka_producer_fatal(const vg_kafka_producer_t *p);

/* Look topic up now (partitions, leaders), so the first record sent to it
 * does not wait for the lookup. */
vg_err_t vg_kafka_producer_warm(vg_kafka_producer_t *p, const char *topic, int timeout_ms);

/* True when a record to topic failed delivery since the last
 * vg_kafka_producer_clear_failed() (delivery reports already in are
 * served first). */
bool vg_kafka_producer_failed_to(vg_kafka_producer_t *p, const char *topic);
void vg_kafka_producer_clear_failed(vg_kafka_producer_t *p);

/* The producer's message.max.bytes: no record larger than this (key,
 * value, headers and overhead) can be sent. */
size_t vg_kafka_producer_max_message_bytes(vg_kafka_producer_t *p);

/* Flush (up to 10 s, or the drain deadline), purge what is still queued
 * (never committed: its records are processed again), destroy. */
void vg_kafka_producer_destroy(vg_kafka_producer_t *p);

/* The drain deadline: *deadline_ms (monotonic ms; 0 none) is read by every
 * blocking call (flush, send offsets, commit, abort), which waits in
 * slices of at most 250 ms and gives up once it passes. The caller owns
 * the variable and may set it from a signal handler. */
void vg_kafka_producer_set_deadline(vg_kafka_producer_t *p, const _Atomic int64_t *deadline_ms);

/* Keep health (vg_kafka_health.h; owned by the caller, who clears it when
 * a commit works): every write that fails, and every blocking call that
 * waits past its usual time, starts its stall clock, and the cluster is
 * asked why (vg_kafka_producer_diagnose()). report_ms: one log line per
 * this while it lasts. health NULL: none kept. */
void vg_kafka_producer_set_health(vg_kafka_producer_t *p, vg_kafka_health_t *health,
                                  int report_ms);

/* While the health says writes are failing: ask the cluster why, at most
 * every 5 s. The metadata of the topics this producer wrote to (or
 * warmed), of the transaction log (transactional) and of
 * __consumer_offsets names partitions without a leader or with fewer
 * than 2 in-sync replicas (of 2 or more); the health's problem becomes
 * what it found, and one log line per report interval says so with the
 * partitions. Blocks for one metadata request (5 s at most, never past
 * the drain deadline). The producer's thread. */
void vg_kafka_producer_diagnose(vg_kafka_producer_t *p);

#endif
