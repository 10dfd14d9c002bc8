/*
 * vg_sign.h - signed triggers and dead letters (docs/triggers.md,
 * "Signatures"). Every record Vigil publishes carries the header
 *
 *   vigil.signature: v1:<key id>:<64 hex digits>
 *
 * the HMAC-SHA-256, under the key named by <key id>, of
 *
 *   "vigil.signature.v1" 0x00 | u32 big-endian length of the Kafka key |
 *   the key | the value
 *
 * Keys come from a file (signing.keys_file), one per line:
 *
 *   <key id> <secret: 64 to 256 hex digits>
 *
 * '#' starts a comment; blank lines are skipped. The first key signs; every
 * key listed verifies, so a rotation lists the new key first and keeps
 * the old one until no consumer needs it. Key ids are 1 to 32 of
 * [A-Za-z0-9._-].
 *
 * Locality: a key set is immutable once loaded; any thread may sign or
 * verify with it.
 */
#ifndef VG_SIGN_H
#define VG_SIGN_H

#include <stddef.h>

#include "vg_err.h"

#define VG_SIGN_HEADER "vigil.signature"
#define VG_SIGN_KEYS_MAX 8
#define VG_SIGN_KID_MAX 32
/* "v1:" + key id + ":" + 64 hex + NUL */
#define VG_SIGN_VALUE_MAX (3 + VG_SIGN_KID_MAX + 1 + 64 + 1)

typedef struct vg_sign_keys_s vg_sign_keys_t;

/* Parse a key file's text; origin names it in errors ("<origin>:<line>:
 * why"). NULL with errstr on any fault: nothing half-loaded. */
vg_sign_keys_t *vg_sign_keys_parse(const char *text, size_t len, const char *origin,
                                   char *errstr, size_t errstr_size);

/* vg_sign_keys_parse() of the file at path. */
vg_sign_keys_t *vg_sign_keys_load(const char *path, char *errstr, size_t errstr_size);

void vg_sign_keys_destroy(vg_sign_keys_t *k);

/* The signing key's id, and how many keys verify. */
const char *vg_sign_keys_active(const vg_sign_keys_t *k);
size_t vg_sign_keys_count(const vg_sign_keys_t *k);

/* The header value for (key, value) under the first key, NUL-terminated,
 * into out (VG_SIGN_VALUE_MAX bytes). Returns its length. */
size_t vg_sign(const vg_sign_keys_t *k, const void *key, size_t key_len, const void *value,
               size_t value_len, char out[VG_SIGN_VALUE_MAX]);

typedef enum vg_sign_check_e {
    VG_SIGN_VALID = 0,
    VG_SIGN_MISSING,     /* no header */
    VG_SIGN_MALFORMED,   /* not v1:<kid>:<64 hex> */
    VG_SIGN_UNKNOWN_KEY, /* a key id not in the set */
    VG_SIGN_MISMATCH     /* the HMAC differs: altered, or forged */
} vg_sign_check_t;

const char *vg_sign_check_name(vg_sign_check_t c);

/* Check a header value (header NULL: missing) against (key, value).
 * Constant-time in the comparison of the HMAC. */
vg_sign_check_t vg_sign_verify(const vg_sign_keys_t *k, const char *header, size_t header_len,
                               const void *key, size_t key_len, const void *value,
                               size_t value_len);

#endif
