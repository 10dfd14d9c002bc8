/*
 * vg_hash.h - the one non-cryptographic hash: 64-bit FNV-1a.
 *
 * For hash tables and the duplicate-event horizon; never for anything an
 * adversary gains by colliding (trigger ids and pseudonyms use SHA-256 and
 * HMAC, vg_pseudo.h).
 */
#ifndef VG_HASH_H
#define VG_HASH_H

#include <stddef.h>
#include <stdint.h>

#define VG_HASH_FNV_OFFSET 0xcbf29ce484222325ULL
#define VG_HASH_FNV_PRIME 0x100000001b3ULL

/* FNV-1a of a NUL-terminated string. */
static inline uint64_t vg_hash_str(const char *s) {
    uint64_t h = VG_HASH_FNV_OFFSET;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * VG_HASH_FNV_PRIME;
    return h;
}

#endif
