/*
 * test_cache: the worker's state cache (vg_cache): what it returns, what
 * it forgets (a partition that moves, a key dropped), and its bound.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "vg_cache.h"
#include "vg_hash.h"
#include "vg_keys.h"

static void key_of(char *out, int partition, int customer) {
    char pseudo[40];

    snprintf(pseudo, sizeof(pseudo), "%032x", customer);
    vg_keys_state(out, VG_KEYS_MAX, "vigil", "ev", partition, pseudo);
}

Test(cache, get_put_replace) {
    vg_cache_t *c = vg_cache_new(1 << 20);
    char k[VG_KEYS_MAX];
    uint64_t v = 0;
    const void *d = NULL;
    size_t n = 0;

    key_of(k, 0, 1);
    cr_assert_not(vg_cache_get(c, k, &v, &d, &n));
    vg_cache_put(c, k, 7, "abc", 3);
    cr_assert(vg_cache_get(c, k, &v, &d, &n));
    cr_assert_eq(v, 7);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(d, "abc", 3), 0);
    vg_cache_put(c, k, 8, "hello", 5);
    cr_assert(vg_cache_get(c, k, &v, &d, &n));
    cr_assert_eq(v, 8);
    cr_assert_eq(memcmp(d, "hello", 5), 0);
    vg_cache_drop(c, k);
    cr_assert_not(vg_cache_get(c, k, &v, &d, &n));
    vg_cache_destroy(c);
}

Test(cache, drop_partition_keeps_the_others) {
    vg_cache_t *c = vg_cache_new(1 << 20);
    char k[VG_KEYS_MAX];
    uint64_t v;
    const void *d;
    size_t n;
    vg_cache_stats_t st;

    for (int p = 0; p < 12; p++)
        for (int i = 0; i < 50; i++) {
            key_of(k, p, i);
            vg_cache_put(c, k, 1, "state", 5);
        }
    vg_cache_drop_partition(c, "ev", 1); /* not 10 or 11: "{ev:1}" only */
    for (int p = 0; p < 12; p++) {
        key_of(k, p, 3);
        cr_assert_eq(vg_cache_get(c, k, &v, &d, &n), p != 1, "partition %d", p);
    }
    vg_cache_stats(c, &st);
    cr_assert_eq(st.entries, 11 * 50);
    vg_cache_clear(c);
    vg_cache_stats(c, &st);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.bytes, 0);
    vg_cache_destroy(c);
}

Test(cache, bounded_least_recently_used_out) {
    vg_cache_t *c = vg_cache_new(64 * 1024);
    char k[VG_KEYS_MAX], state[300];
    uint64_t v;
    const void *d;
    size_t n;
    vg_cache_stats_t st;

    memset(state, 'x', sizeof(state));
    key_of(k, 0, 0);
    vg_cache_put(c, k, 1, state, sizeof(state));
    for (int i = 1; i < 2000; i++) {
        char k0[VG_KEYS_MAX];
        key_of(k0, 0, 0);
        cr_assert(vg_cache_get(c, k0, &v, &d, &n), "the one in use stays (%d)", i);
        key_of(k, 0, i);
        vg_cache_put(c, k, 1, state, sizeof(state));
    }
    vg_cache_stats(c, &st);
    cr_assert_leq(st.bytes, 64 * 1024);
    cr_assert_gt(st.evictions, 1500);
    key_of(k, 0, 1);
    cr_assert_not(vg_cache_get(c, k, &v, &d, &n), "the oldest went first");
    /* Too large for a tenth of the cache: not kept. */
    {
        static char big[8000];
        key_of(k, 0, 99999);
        vg_cache_put(c, k, 1, big, sizeof(big));
        cr_assert_not(vg_cache_get(c, k, &v, &d, &n));
    }
    vg_cache_destroy(c);
    /* No cache: keeps nothing, and says so without crashing. */
    cr_assert_null(vg_cache_new(0));
    vg_cache_put(NULL, k, 1, "x", 1);
    cr_assert_not(vg_cache_get(NULL, k, &v, &d, &n));
}

/* A customer's next state, shorter or a little longer, is written over
 * its entry; a much longer one takes a new entry. Either way one entry,
 * the latest bytes, and all the bytes accounted are given back. */
Test(cache, rewrite_in_place_or_anew) {
    vg_cache_t *c = vg_cache_new(1 << 20);
    char big[400], small[100], bigger[1000];
    const void *data;
    size_t len;
    uint64_t v;
    vg_cache_stats_t st, after;

    memset(big, 'a', sizeof(big));
    memset(small, 'b', sizeof(small));
    memset(bigger, 'c', sizeof(bigger));
    vg_cache_put(c, "k", 1, big, sizeof(big));
    vg_cache_stats(c, &st);
    vg_cache_put(c, "k", 2, small, sizeof(small));   /* in place */
    vg_cache_put(c, "k", 3, big, sizeof(big) + 0);   /* in place again: fits its room */
    vg_cache_stats(c, &after);
    cr_expect_eq(after.entries, 1);
    cr_expect_eq(after.bytes, st.bytes, "an entry rewritten in place costs the same");
    cr_assert(vg_cache_get(c, "k", &v, &data, &len));
    cr_expect_eq(v, 3);
    cr_expect_eq(len, sizeof(big));
    vg_cache_put(c, "k", 4, bigger, sizeof(bigger)); /* beyond its room: anew */
    cr_assert(vg_cache_get(c, "k", &v, &data, &len));
    cr_expect_eq(v, 4);
    cr_expect_eq(len, sizeof(bigger));
    cr_expect_arr_eq(data, bigger, sizeof(bigger));
    vg_cache_drop(c, "k");
    vg_cache_stats(c, &after);
    cr_expect_eq(after.entries, 0);
    cr_expect_eq(after.bytes, 0, "every byte accounted is given back");
    vg_cache_destroy(c);
}

/* Customer i's key (partition i % 4) and its hash, its memory asked for. */
static uint64_t key_prefetched(vg_cache_t *c, char *k, int i) {
    uint64_t h;

    key_of(k, i % 4, i);
    h = vg_hash_mem(k, strlen(k));
    vg_cache_prefetch_bucket(c, h);
    vg_cache_prefetch_entry(c, h);
    return h;
}

/* The calls that take the key's length and hash (a batch's groups have
 * them) find what the plain calls keep, and the other way round; asking
 * for the memory ahead changes nothing, on a present, absent or no key,
 * and on no cache. */
Test(cache, hashed_calls_and_prefetch_agree_with_plain_calls) {
    vg_cache_t *c = vg_cache_new(1 << 20);
    char k[VG_KEYS_MAX];
    const void *d = NULL;
    size_t n = 0;
    uint64_t v = 0;

    for (int i = 0; i < 2000; i++) {
        uint64_t h = key_prefetched(c, k, i);
        if (i % 2)
            vg_cache_put_h(c, k, strlen(k), h, (uint64_t)i, &i, sizeof(i));
        else
            vg_cache_put(c, k, (uint64_t)i, &i, sizeof(i));
    }
    for (int i = 0; i < 2000; i++) {
        uint64_t h = key_prefetched(c, k, i);
        cr_assert(i % 2 ? vg_cache_get(c, k, &v, &d, &n) : vg_cache_get_h(c, k, h, &v, &d, &n),
                  "key %d", i);
        cr_assert_eq(v, (uint64_t)i);
        cr_assert_eq(n, sizeof(i));
        cr_assert_eq(memcmp(d, &i, sizeof(i)), 0);
    }
    key_of(k, 0, 123456);
    cr_assert_not(vg_cache_get_h(c, k, vg_hash_mem(k, strlen(k)), &v, &d, &n));
    vg_cache_destroy(c);
    vg_cache_prefetch_bucket(NULL, 1);
    vg_cache_prefetch_entry(NULL, 1);
    cr_assert_not(vg_cache_get_h(NULL, k, 1, &v, &d, &n));
    vg_cache_put_h(NULL, k, strlen(k), 1, 1, "x", 1);
}
