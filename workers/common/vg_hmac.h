/*
 * vg_hmac.h - HMAC-SHA-256 with the key absorbed once (RFC 2104): the
 * SHA-256 states after the padded key (inner and outer) are kept, and
 * each MAC copies them, so a MAC costs two SHA-256 passes over the data
 * and no allocation. Used for pseudonyms, seal nonces and signatures.
 */
#ifndef VG_HMAC_H
#define VG_HMAC_H

#include <openssl/sha.h>
#include <stddef.h>

typedef struct vg_hmac_key_s {
    SHA256_CTX inner, outer;
} vg_hmac_key_t;

/* Absorb key (any length; longer than a block is hashed first). */
void vg_hmac_key_init(vg_hmac_key_t *k, const void *key, size_t len);

/* Start a MAC: *c is ready for the message (SHA256_Update). */
void vg_hmac_begin(const vg_hmac_key_t *k, SHA256_CTX *c);

/* Finish the MAC started in *c into out (32 bytes); clears *c. */
void vg_hmac_end(const vg_hmac_key_t *k, SHA256_CTX *c, unsigned char out[32]);

#endif
