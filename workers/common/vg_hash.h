/*
 * vg_hash.h - the non-cryptographic hashes: 64-bit FNV-1a, and a faster
 * one for in-memory tables.
 *
 * For hash tables and the duplicate-event horizon; never for anything an
 * adversary gains by colliding (trigger ids and pseudonyms use SHA-256 and
 * HMAC, vg_pseudo.h).
 */
#ifndef VG_HASH_H
#define VG_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VG_HASH_FNV_OFFSET 0xcbf29ce484222325ULL
#define VG_HASH_FNV_PRIME 0x100000001b3ULL

/* FNV-1a of a NUL-terminated string. */
static inline uint64_t vg_hash_str(const char *s) {
    uint64_t h = VG_HASH_FNV_OFFSET;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * VG_HASH_FNV_PRIME;
    return h;
}

/* A hash of n bytes for the worker's in-memory tables (the batch's
 * customers, the state cache), eight bytes a step: their keys are ~70
 * bytes, and FNV-1a's byte a step ran three times per customer per batch.
 * Never stored: what is persisted (the duplicate horizon's event hashes)
 * stays FNV-1a. */
static inline uint64_t vg_hash_mem(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = VG_HASH_FNV_OFFSET ^ (n * 0x9e3779b97f4a7c15ULL), w;

    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

#endif
