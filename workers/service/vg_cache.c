#include "vg_cache.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_hash.h"

/* One entry, its key and bytes in the same allocation. */
typedef struct vg_centry_s {
    struct vg_centry_s *next;             /* hash chain */
    struct vg_centry_s *lru_prev, *lru_next; /* lru_prev: put later */
    uint64_t hash, version;
    bool used;                            /* read or rewritten since its last chance */
    size_t len, key_len;
    size_t cap;                           /* bytes room after the key */
    char key[];                           /* key NUL, then the bytes */
} vg_centry_t;

struct vg_cache_s {
    vg_centry_t **buckets;
    size_t n_buckets;                     /* a power of two */
    vg_centry_t *mru, *lru;
    size_t max_bytes, bytes, entries;
    uint64_t hits, misses, evictions;
};

/* What an entry costs: its allocation and its bucket's share. */
static size_t vg_cache_cost(size_t key_len, size_t len) {
    return sizeof(vg_centry_t) + key_len + 1 + len + 2 * sizeof(void *);
}

vg_cache_t *vg_cache_new(size_t max_bytes) {
    vg_cache_t *c;

    if (!max_bytes || !(c = calloc(1, sizeof(*c))))
        return NULL;
    /* About one bucket per 512 bytes of budget (a state is a few hundred
     * bytes): chains stay short. */
    c->n_buckets = 1024;
    while (c->n_buckets < max_bytes / 512 && c->n_buckets < ((size_t)1 << 24))
        c->n_buckets <<= 1;
    if (!(c->buckets = calloc(c->n_buckets, sizeof(*c->buckets)))) {
        free(c);
        return NULL;
    }
    c->max_bytes = max_bytes;
    return c;
}

static void vg_cache_unlink_lru(vg_cache_t *c, vg_centry_t *e) {
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->mru = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void vg_cache_push_mru(vg_cache_t *c, vg_centry_t *e) {
    e->used = false;
    e->lru_prev = NULL;
    e->lru_next = c->mru;
    if (c->mru)
        c->mru->lru_prev = e;
    c->mru = e;
    if (!c->lru)
        c->lru = e;
}

/* The link that points at key's entry (or at the chain's end). */
static vg_centry_t **vg_cache_find(vg_cache_t *c, const char *key, uint64_t h) {
    vg_centry_t **pp = &c->buckets[h & (c->n_buckets - 1)];

    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void vg_cache_remove(vg_cache_t *c, vg_centry_t **pp) {
    vg_centry_t *e = *pp;

    *pp = e->next;
    vg_cache_unlink_lru(c, e);
    c->bytes -= vg_cache_cost(e->key_len, e->cap);
    c->entries--;
    free(e);
}

void vg_cache_destroy(vg_cache_t *c) {
    if (!c)
        return;
    vg_cache_clear(c);
    free(c->buckets);
    free(c);
}

void vg_cache_prefetch_bucket(const vg_cache_t *c, uint64_t hash) {
    if (c)
        __builtin_prefetch(&c->buckets[hash & (c->n_buckets - 1)]);
}

void vg_cache_prefetch_entry(const vg_cache_t *c, uint64_t hash) {
    const vg_centry_t *e;

    if (c && (e = c->buckets[hash & (c->n_buckets - 1)])) {
        /* The chain link and hash, then the key (an entry starts where
         * malloc put it, so its key may reach a third line). */
        __builtin_prefetch(e);
        __builtin_prefetch((const char *)e + 64);
        __builtin_prefetch((const char *)e + 127);
    }
}

bool vg_cache_get(vg_cache_t *c, const char *key, uint64_t *version, const void **data,
                  size_t *len) {
    return vg_cache_get_h(c, key, vg_hash_mem(key, strlen(key)), version, data, len);
}

bool vg_cache_get_h(vg_cache_t *c, const char *key, uint64_t hash, uint64_t *version,
                    const void **data, size_t *len) {
    vg_centry_t *e;

    if (!c)
        return false;
    if (!(e = *vg_cache_find(c, key, hash))) {
        c->misses++;
        return false;
    }
    c->hits++;
    e->used = true; /* no relinking: the entry's neighbours stay out of the CPU's cache */
    *version = e->version;
    *data = e->key + e->key_len + 1;
    *len = e->len;
    return true;
}

void vg_cache_put(vg_cache_t *c, const char *key, uint64_t version, const void *data, size_t len) {
    size_t key_len = strlen(key);

    vg_cache_put_h(c, key, key_len, vg_hash_mem(key, key_len), version, data, len);
}

void vg_cache_put_h(vg_cache_t *c, const char *key, size_t key_len, uint64_t h,
                    uint64_t version, const void *data, size_t len) {
    size_t cost;
    vg_centry_t **pp, *e;

    if (!c)
        return;
    cost = vg_cache_cost(key_len, len + len / 4);
    if ((e = *(pp = vg_cache_find(c, key, h))) && len <= e->cap) {
        /* The customer's next state, most often: in place, no allocation
         * (the entry's cost, its allocation, is unchanged). */
        e->version = version;
        e->len = len;
        memcpy(e->key + key_len + 1, data, len);
        e->used = true;
        return;
    }
    if (e)
        vg_cache_remove(c, pp);
    if (cost > c->max_bytes / 10)
        return;
    while (c->bytes + cost > c->max_bytes && c->lru) {
        vg_centry_t *old = c->lru;
        if (old->used) { /* a second chance; each entry has one, so this ends */
            vg_cache_unlink_lru(c, old);
            vg_cache_push_mru(c, old);
            continue;
        }
        vg_cache_remove(c, vg_cache_find(c, old->key, old->hash));
        c->evictions++;
    }
    /* Room for a state a little larger, so its next write fits in place. */
    if (!(e = malloc(sizeof(*e) + key_len + 1 + len + len / 4)))
        return; /* a cache may forget */
    e->cap = len + len / 4;
    e->hash = h;
    e->version = version;
    e->len = len;
    e->key_len = key_len;
    memcpy(e->key, key, key_len + 1);
    memcpy(e->key + key_len + 1, data, len);
    pp = &c->buckets[h & (c->n_buckets - 1)];
    e->next = *pp;
    *pp = e;
    e->lru_prev = e->lru_next = NULL;
    vg_cache_push_mru(c, e);
    c->bytes += cost;
    c->entries++;
}

void vg_cache_drop(vg_cache_t *c, const char *key) {
    vg_centry_t **pp;
    uint64_t h;

    if (!c)
        return;
    h = vg_hash_mem(key, strlen(key));
    if (*(pp = vg_cache_find(c, key, h)))
        vg_cache_remove(c, pp);
}

void vg_cache_drop_partition(vg_cache_t *c, const char *topic, int32_t partition) {
    char tag[300];
    int n;

    if (!c || (n = snprintf(tag, sizeof(tag), "{%s:%" PRId32 "}", topic, partition)) < 0 ||
        (size_t)n >= sizeof(tag))
        return;
    for (size_t b = 0; b < c->n_buckets; b++) {
        vg_centry_t **pp = &c->buckets[b];
        while (*pp) {
            const char *open = strchr((*pp)->key, '{');
            if (open && strncmp(open, tag, (size_t)n) == 0)
                vg_cache_remove(c, pp);
            else
                pp = &(*pp)->next;
        }
    }
}

void vg_cache_clear(vg_cache_t *c) {
    if (!c)
        return;
    for (size_t b = 0; b < c->n_buckets; b++)
        while (c->buckets[b])
            vg_cache_remove(c, &c->buckets[b]);
}

void vg_cache_stats(const vg_cache_t *c, vg_cache_stats_t *out) {
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->entries = c->entries;
    out->bytes = c->bytes;
}
