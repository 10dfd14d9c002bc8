/*
 * vg_cache.h - the states of the partitions this worker owns, kept
 * between batches so that Redis is read only on a miss (issue 10, "a
 * bounded, version-checked cache").
 *
 * Each entry is a state as stored in Redis: its key, its version and its
 * encoded bytes, put after the store that wrote them succeeded. The cache
 * is never trusted over Redis: every write is still a version
 * compare-and-set, so a stale entry (another worker wrote the key: a
 * rebalance, a zombie) loses the compare-and-set, and the batch reloads
 * from Redis. What may be stale is dropped: a partition that moves
 * (vg_cache_drop_partition), the keys of a batch whose store failed, all
 * of it after Redis was unreachable.
 *
 * Bounded by bytes (keys, states and bookkeeping). What goes first is
 * the oldest entry not used since it was put or last passed over (second
 * chance, the CLOCK way to approximate least recently used): a hit only
 * marks its entry, where a true LRU list would relink it and touch two
 * other entries' memory on every event. One thread owns it (the
 * pipeline's).
 */
#ifndef VG_CACHE_H
#define VG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_cache_s vg_cache_t;

typedef struct vg_cache_stats_s {
    uint64_t hits, misses, evictions;
    size_t entries, bytes;
} vg_cache_stats_t;

/* A cache of at most max_bytes; NULL when out of memory or max_bytes is 0
 * (every call takes NULL as an empty cache that keeps nothing). */
vg_cache_t *vg_cache_new(size_t max_bytes);
void vg_cache_destroy(vg_cache_t *c);

/* The entry of key: true with *version, *data and *len (valid until the
 * next vg_cache_put or drop), and it is marked used. */
bool vg_cache_get(vg_cache_t *c, const char *key, uint64_t *version, const void **data,
                  size_t *len);

/* Keep (key, version, data): replaces an entry of key. An entry larger
 * than a tenth of the cache is not kept. */
void vg_cache_put(vg_cache_t *c, const char *key, uint64_t version, const void *data, size_t len);

/* The same, for a caller that has key's length and vg_hash_mem(key,
 * key_len) at hand already (a batch's groups have both). */
bool vg_cache_get_h(vg_cache_t *c, const char *key, uint64_t hash, uint64_t *version,
                    const void **data, size_t *len);
void vg_cache_put_h(vg_cache_t *c, const char *key, size_t key_len, uint64_t hash,
                    uint64_t version, const void *data, size_t len);

/* Ask the CPU for what a lookup of the key of this hash will read, ahead
 * of it: a batch looks up hundreds of customers whose entries are rarely
 * in the CPU's cache, and the lookups' memory reads then overlap instead
 * of following one another. Two steps, a few lookups apart: the bucket,
 * then (the bucket having arrived) the entry its chain starts with. */
void vg_cache_prefetch_bucket(const vg_cache_t *c, uint64_t hash);
void vg_cache_prefetch_entry(const vg_cache_t *c, uint64_t hash);

void vg_cache_drop(vg_cache_t *c, const char *key);

/* Drop every key of one events partition: the keys whose hash tag is
 * {<topic>:<partition>} (vg_keys.h). */
void vg_cache_drop_partition(vg_cache_t *c, const char *topic, int32_t partition);

void vg_cache_clear(vg_cache_t *c);

void vg_cache_stats(const vg_cache_t *c, vg_cache_stats_t *out);

#endif
