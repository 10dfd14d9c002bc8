/*
 * vg_batch.h - one batch's working set: the records polled, their
 * events, the customers they group into, the partitions they came from,
 * the states loaded and to store, the triggers to publish. All buffers are
 * allocated once (vg_batch_new) for the largest batch and reused
 * (vg_batch_reset): the batch loop allocates nothing per batch but the
 * arena's pages.
 *
 * Owned by one thread (the pipeline's); no I/O here.
 */
#ifndef VG_BATCH_H
#define VG_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_arena.h"
#include "vg_event.h"
#include "vg_kafka.h"
#include "vg_keys.h"
#include "vg_redis.h"
#include "vg_score.h"
#include "vg_step.h"

#define VG_BATCH_PARTS_MAX 256

/* One customer of the batch. */
typedef struct vg_group_s {
    char key[VG_KEYS_MAX];    /* Redis key (vg_keys_state) */
    uint64_t hash;            /* vg_hash_mem of key */
    size_t key_len;
    int32_t first, last;      /* record indexes, linked by next[]; -1: woken by a deadline */
    int32_t part;             /* index into parts of its partition */
    bool dirty;
    char tenant[VG_EVENT_ID_MAX + 1];
    char customer[VG_EVENT_ID_MAX + 1];
} vg_group_t;

/* One partition of the batch. */
typedef struct vg_part_s {
    const char *topic;
    int32_t partition;
    int64_t min_offset, max_offset;
    int64_t wm;               /* event-time watermark so far; -1 until known */
    size_t first_rec, n_recs; /* its records in recs */
    char due_key[VG_KEYS_MAX]; /* its deadline index (vg_keys_due) */
    char mark_key[VG_KEYS_MAX]; /* its applied marker (vg_keys_mark) */
    char state_head[VG_KEYS_MAX]; /* its customers' keys before the pseudonym */
    size_t state_head_len;    /* 0: too long for a key (vg_keys_state fails too) */
    int64_t quiet_below;      /* rebuilding its state: nothing is published for offsets below */
} vg_part_t;

/* A trigger to publish. */
typedef struct vg_out_s {
    int32_t msg;              /* the deciding record, -1 for a replayed deadline */
    int32_t group;            /* the customer (Kafka key) */
    size_t off, len;          /* in out_buf */
} vg_out_t;

typedef struct vg_batch_s {
    size_t max, max_groups;   /* records, and customers (records + woken by deadlines) */
    size_t n;                 /* records polled */
    vg_kafka_msg_t *msgs;
    int32_t *msg_part;        /* index into parts, per record; -1: left alone */
    int64_t *wm_at;           /* the partition's watermark after each record */
    vg_event_t **events;      /* decoded, or NULL */
    int32_t *next;            /* next record of the same customer, -1 */
    vg_arena_t *arena;        /* the events' memory */
    int32_t *htab;            /* customers by key: open addressing, group index + 1 */
    size_t hcap;
    vg_group_t *groups;
    size_t n_groups;
    vg_part_t parts[VG_BATCH_PARTS_MAX];
    size_t n_parts;
    vg_step_record_t *recs;   /* the records per partition, for vg_step_customer */
    uint32_t *rec_of;         /* record i's place among its partition's */
    uint32_t *mine;           /* one customer's records, scratch */
    vg_state_t *state;        /* the customer being applied: one, reused, so that it stays
                                 in the CPU's cache (a state is tens of kilobytes) */
    int64_t *loaded_due;      /* per group: its deadline index entry as loaded (0: none) */
    vg_redis_state_t *loaded;
    vg_redis_state_t *loaded_miss; /* from Redis, for the groups the cache missed */
    uint32_t *miss;           /* those groups */
    const char **keys;
    vg_redis_write_t *writes;
    size_t n_writes;          /* the changed states, encoded as they are applied */
    size_t *enc_off;
    uint32_t *write_group;    /* the group of each write */
    uint8_t *enc_buf;
    size_t enc_cap, enc_used;
    vg_out_t *outs;
    size_t n_outs;
    uint8_t *out_buf;
    size_t out_cap, out_len;
    char errstr[512];         /* why the current stage failed */
} vg_batch_t;

/* For up to max records and max_groups customers; NULL when out of memory. */
vg_batch_t *vg_batch_new(size_t max, size_t max_groups);
void vg_batch_destroy(vg_batch_t *b);

/* Forget the batch, keep the buffers. The records' messages must have
 * been handed back to the consumer first. */
void vg_batch_reset(vg_batch_t *b);

/* The group of key, created if new; -1 when the table is full. */
int32_t vg_batch_group(vg_batch_t *b, const char *key);

/* The partition of m, created if new (its deadline index key under
 * prefix); NULL when the batch has VG_BATCH_PARTS_MAX already. */
vg_part_t *vg_batch_part(vg_batch_t *b, const vg_kafka_msg_t *m, const char *prefix);

/* Queue a trigger for group g, decided by record msg (-1: none). */
vg_err_t vg_batch_emit(vg_batch_t *b, int32_t g, int32_t msg, const uint8_t *bytes, size_t len);

/* Lay the records out per partition, in offset order, as
 * vg_step_customer() reads them. */
void vg_batch_index_records(vg_batch_t *b);

/* Grow *buf to at least need bytes. */
vg_err_t vg_batch_reserve(uint8_t **buf, size_t *cap, size_t need);

#endif
