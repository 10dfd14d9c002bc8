/*
 * vg_kafka_consumer.h - the events consumer: a member of a consumer group
 * with cooperative-sticky assignment, manual offset commits, and batches.
 *
 * Locality: one thread owns a consumer; every call is made from it.
 */
#ifndef VG_KAFKA_CONSUMER_H
#define VG_KAFKA_CONSUMER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "vg_kafka.h"
#include "vg_kafka_health.h"

typedef struct vg_kafka_consumer_s vg_kafka_consumer_t;

/* Called on assignment changes, from inside vg_kafka_consumer_poll_batch().
 * assigned is true for new partitions, false for revoked or lost ones
 * (lost is true when the partitions were taken without a chance to
 * commit). Partitions are borrowed, valid until the callback returns. */
typedef void(vg_kafka_rebalance_cb_t)(void *opaque, bool assigned, bool lost,
                                       const vg_kafka_offset_t *parts, size_t n);

/* Join group_id and subscribe to topic. props are applied after Vigil's
 * defaults (so they can override them). Returns NULL with errstr set on
 * failure. Caller frees with vg_kafka_consumer_destroy(). */
vg_kafka_consumer_t *vg_kafka_consumer_new(const vg_kafka_props_t *props, const char *group_id,
                                           const char *topic, vg_log_t *log,
                                           vg_kafka_rebalance_cb_t *cb, void *opaque,
                                           char *errstr, size_t errstr_size);

/* Wait up to timeout_ms for a first record, then take the records that
 * have already arrived, up to max; fill msgs[0..max) and return how many.
 * Rebalance callbacks run inside this call. */
size_t vg_kafka_consumer_poll_batch(vg_kafka_consumer_t *c, vg_kafka_msg_t *msgs, size_t max,
                                    int timeout_ms);

/* Value of header name on msg: VG_OK with val and len set (borrowed, valid
 * until release), or VG_ERR_NOT_FOUND. */
vg_err_t vg_kafka_msg_header(const vg_kafka_msg_t *msg, const char *name, const void **val,
                             size_t *len);

/* Give back the records of a batch. */
void vg_kafka_consumer_release(vg_kafka_consumer_t *c, vg_kafka_msg_t *msgs, size_t n);

/* Commit positions synchronously. */
vg_err_t vg_kafka_consumer_commit(vg_kafka_consumer_t *c, const vg_kafka_offset_t *offs,
                                  size_t n, char *errstr, size_t errstr_size);

/* The same, each position with its commit metadata (a short string
 * kept by the group coordinator with the offset; metadata or its entries
 * may be NULL). */
vg_err_t vg_kafka_consumer_commit_md(vg_kafka_consumer_t *c, const vg_kafka_offset_t *offs,
                                     const char *const *metadata, size_t n, char *errstr,
                                     size_t errstr_size);

/* vg_kafka_consumer_commit_md() without waiting for the coordinator's
 * answer: the commit is sent and the call returns. Answers are taken at
 * the next call, by vg_kafka_consumer_commit_wait(), before partitions
 * are revoked, before a rewind and at close; a failed one is logged,
 * marked in the health, and reported once as VG_ERR_KAFKA by the next
 * vg_kafka_consumer_commit_async() or _commit_wait() (which then sends
 * nothing): the caller rewinds to the committed offsets. Commits go to
 * the coordinator in order over one connection, so a later one is never
 * overtaken by an earlier one. */
vg_err_t vg_kafka_consumer_commit_async(vg_kafka_consumer_t *c, const vg_kafka_offset_t *offs,
                                        const char *const *metadata, size_t n, char *errstr,
                                        size_t errstr_size);

/* Wait up to timeout_ms (0: do not wait) for the answers to every commit
 * sent by vg_kafka_consumer_commit_async(). VG_ERR_KAFKA if one failed
 * since the last report, VG_ERR_TIMEOUT if some are still unanswered. */
vg_err_t vg_kafka_consumer_commit_wait(vg_kafka_consumer_t *c, int timeout_ms, char *errstr,
                                       size_t errstr_size);

/* The committed offset of (topic, partition) and its metadata ("" when
 * none), asking the group coordinator. *offset < 0 when nothing is
 * committed. */
vg_err_t vg_kafka_consumer_committed_md(vg_kafka_consumer_t *c, const char *topic,
                                        int32_t partition, int timeout_ms, int64_t *offset,
                                        char *metadata, size_t metadata_size);

/* Rewind (or forward) one assigned partition to offset. */
vg_err_t vg_kafka_consumer_seek(vg_kafka_consumer_t *c, const char *topic, int32_t partition,
                                int64_t offset);

/* The first offset of (topic, partition) whose record timestamp is at or
 * after ts_ms (the log end when none is), and the first offset the
 * partition still keeps (*low: retention may have removed older ones). */
vg_err_t vg_kafka_consumer_offset_for_time(vg_kafka_consumer_t *c, const char *topic,
                                           int32_t partition, int64_t ts_ms, int64_t *offset,
                                           int64_t *low);

/* Rewind partition to its last committed offset (after an aborted batch). */
vg_err_t vg_kafka_consumer_rewind_to_committed(vg_kafka_consumer_t *c, const char *topic,
                                               int32_t partition);

/* Rewind every assigned partition to its committed offset: after records
 * were polled but not processed (an aborted batch, a backoff while paused). */
vg_err_t vg_kafka_consumer_rewind_all(vg_kafka_consumer_t *c);

/* Pause or resume fetching of every assigned partition (backpressure). */
vg_err_t vg_kafka_consumer_pause(vg_kafka_consumer_t *c, bool pause);

/* Pause or resume fetching of one assigned partition (a partition
 * stopped on a record that cannot be dead-lettered). */
vg_err_t vg_kafka_consumer_pause_partition(vg_kafka_consumer_t *c, const char *topic,
                                           int32_t partition, bool pause);

/* Number of partitions currently assigned. */
size_t vg_kafka_consumer_assigned(vg_kafka_consumer_t *c);

/* Consumer lag of each assigned partition from the last fetched watermarks:
 * fills up to max entries (offset = lag) and returns the count. */
size_t vg_kafka_consumer_lag(vg_kafka_consumer_t *c, vg_kafka_offset_t *out, size_t max);

/* A new group metadata handle for a transactional commit (KIP-447),
 * adapter-private; pass it to vg_kafka_producer_commit(), which takes
 * ownership. */
void *vg_kafka_consumer_group_metadata(vg_kafka_consumer_t *c);

/* True after librdkafka reported every broker down (or a fatal error),
 * until a successful vg_kafka_consumer_probe(). Any thread. */
bool vg_kafka_consumer_down(vg_kafka_consumer_t *c);

/* Ask the cluster for metadata (a real round trip, up to timeout_ms);
 * VG_OK clears the down flag. */
vg_err_t vg_kafka_consumer_probe(vg_kafka_consumer_t *c, int timeout_ms);

/* Leave the group cleanly (revocation callbacks run). */
vg_err_t vg_kafka_consumer_close(vg_kafka_consumer_t *c);

/* Leave the group within timeout_ms (rebalance callbacks served meanwhile).
 * Past it (Kafka unreachable), VG_ERR_TIMEOUT: destroy then skips the
 * close and the group reassigns the partitions at its session timeout.
 * Nothing is committed by the close itself (commits are explicit). */
vg_err_t vg_kafka_consumer_close_within(vg_kafka_consumer_t *c, int timeout_ms);

/* The drain deadline, as vg_kafka_producer_set_deadline(): every blocking
 * call (committed offsets, seeks, probes) waits no longer than it. */
void vg_kafka_consumer_set_deadline(vg_kafka_consumer_t *c, const _Atomic int64_t *deadline_ms);

/* Health (vg_kafka_health.h), as vg_kafka_producer_set_health(): a failed
 * offset commit starts its stall clock and says what failed ("Coordinator
 * not available": the group coordinator cannot write __consumer_offsets).
 * NULL: none kept. */
void vg_kafka_consumer_set_health(vg_kafka_consumer_t *c, vg_kafka_health_t *health);

/* Close if needed and free. NULL is a no-op. */
void vg_kafka_consumer_destroy(vg_kafka_consumer_t *c);

/* Read the one record at (topic, partition, offset) with a consumer of its
 * own, outside any group (vigilctl explain): its value into buf (cap
 * bytes), its length in *len, its timestamp in *timestamp_ms (-1: none).
 * props as for vg_kafka_consumer_new().
 * VG_ERR_NOT_FOUND (errstr says which): the offset is no longer in the
 * log (retention, compaction, an aborted transaction) or not yet in it.
 * VG_ERR_OVERFLOW: the value is longer than cap. VG_ERR_TIMEOUT: no
 * answer within timeout_ms. */
vg_err_t vg_kafka_read_at(const vg_kafka_props_t *props, const char *topic, int32_t partition,
                          int64_t offset, int timeout_ms, void *buf, size_t cap, size_t *len,
                          int64_t *timestamp_ms, char *errstr, size_t errstr_size);

#endif
