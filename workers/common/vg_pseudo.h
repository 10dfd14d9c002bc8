/*
 * vg_pseudo.h - pseudonymised customer ids: keyed HMAC-SHA-256.
 *
 * The clear customer id is on the wire (events, triggers) because the
 * systems at either end need it; at rest (Redis keys) and in logs Vigil
 * uses the pseudonym instead, so a Redis dump or a log file does not say
 * who the customers are without the key.
 */
#ifndef VG_PSEUDO_H
#define VG_PSEUDO_H

#include <stddef.h>
#include <stdint.h>

#include "vg_err.h"

/* 32 hex characters (128 bits of the HMAC) plus NUL. */
#define VG_PSEUDO_LEN 33

typedef struct vg_pseudo_s vg_pseudo_t;

/* Make a pseudonymiser with the secret key (copied; at least 16 bytes).
 * Caller frees with vg_pseudo_destroy(), which wipes the key. */
vg_pseudo_t *vg_pseudo_new(const void *key, size_t key_len, char *errstr, size_t errstr_size);
void vg_pseudo_destroy(vg_pseudo_t *p);

/* A development key, used only when none is configured (with a warning):
 * pseudonyms are then stable but not secret. */
#define VG_PSEUDO_DEV_KEY "vigil-development-key-not-secret"

/* Write the pseudonym of (tenant, customer_id) into out[VG_PSEUDO_LEN].
 * Thread-safe on a shared handle. */
void vg_pseudo_id(const vg_pseudo_t *p, const char *tenant, const char *customer_id,
                  char out[VG_PSEUDO_LEN]);

/* A memo of recent pseudonyms for one thread: a worker meets the same
 * customers batch after batch, and the HMAC was a twentieth of its CPU.
 * Direct-mapped, VG_PSEUDO_MEMO_SLOTS slots of one (tenant, customer id)
 * each, kept whole and compared byte for byte (a longer pair than a slot
 * holds is never kept); 3.5 MB at most, touched as used. */
#define VG_PSEUDO_MEMO_SLOTS 32768
#define VG_PSEUDO_MEMO_IDS 70 /* tenant, NUL, customer id */
typedef struct vg_pseudo_memo_s vg_pseudo_memo_t;

/* NULL when out of memory (vg_pseudo_id_memo then works without it). */
vg_pseudo_memo_t *vg_pseudo_memo_new(void);
void vg_pseudo_memo_destroy(vg_pseudo_memo_t *m);

/* vg_pseudo_id() through the memo m (NULL: none). m belongs to one
 * thread and to one p: another key would find the first key's answers. */
void vg_pseudo_id_memo(const vg_pseudo_t *p, vg_pseudo_memo_t *m, const char *tenant,
                       const char *customer_id, char out[VG_PSEUDO_LEN]);

/* SHA-256 of len bytes of data into out. */
void vg_pseudo_sha256(const void *data, size_t len, unsigned char out[32]);

/* Hex SHA-256 helper for deterministic ids: writes the first out_size-1 hex
 * characters of SHA-256(parts joined by NUL) into out. */
void vg_pseudo_digest_hex(const char *const *parts, size_t nparts, char *out, size_t out_size);

/* Longest tenant + NUL + customer id a seal holds. */
#define VG_SEAL_PLAIN_MAX 280

/* Seal (tenant, customer_id) with AES-256-GCM under a key derived from the
 * pseudonym key, into out (cap >= 29 + strlen(tenant) + 1 +
 * strlen(customer_id)); deterministic. A deadline fired with no event of
 * the customer at hand needs the clear id for its trigger; Redis keeps
 * only this seal. */
vg_err_t vg_pseudo_seal(const vg_pseudo_t *p, const char *tenant, const char *customer_id,
                        uint8_t *out, size_t cap, size_t *lenp);

/* The same for any bytes (a kept trigger, the latest event): out must
 * hold len + VG_SEAL_OVERHEAD; deterministic. Sealing and opening use
 * contexts kept in p: one thread at a time per handle (as the pipeline
 * and vigilctl own theirs). */
#define VG_SEAL_OVERHEAD 29
vg_err_t vg_pseudo_seal_bytes(const vg_pseudo_t *p, const void *in, size_t len, uint8_t *out,
                              size_t cap, size_t *lenp);

/* Open what vg_pseudo_seal_bytes() sealed into out (len - VG_SEAL_OVERHEAD
 * bytes). VG_ERR_INVALID if sealed under another key or altered. */
vg_err_t vg_pseudo_open_bytes(const vg_pseudo_t *p, const uint8_t *in, size_t len, uint8_t *out,
                              size_t cap, size_t *lenp);

/* Open a seal. VG_ERR_INVALID if it was sealed under another key or
 * altered. */
vg_err_t vg_pseudo_open(const vg_pseudo_t *p, const uint8_t *in, size_t len, char *tenant,
                        size_t tenant_size, char *customer_id, size_t customer_size);

#endif
