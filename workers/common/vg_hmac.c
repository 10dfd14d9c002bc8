/* SHA-256 and HMAC through OpenSSL's low-level interface (vg_hmac.h). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "vg_hmac.h"

/* The low-level SHA-256 interface: a context on the stack, no allocation
 * per call (the EVP interface allocates a context for every digest). */

#include <openssl/crypto.h>
#include <string.h>

void vg_hmac_key_init(vg_hmac_key_t *k, const void *key, size_t len) {
    unsigned char block[SHA256_CBLOCK] = {0}, pad[SHA256_CBLOCK];

    if (len > SHA256_CBLOCK)
        SHA256(key, len, block);
    else if (len)
        memcpy(block, key, len);
    for (int i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, sizeof(pad));
    for (int i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, sizeof(pad));
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
}

void vg_hmac_begin(const vg_hmac_key_t *k, SHA256_CTX *c) { *c = k->inner; }

void vg_hmac_end(const vg_hmac_key_t *k, SHA256_CTX *c, unsigned char out[32]) {
    unsigned char inner[SHA256_DIGEST_LENGTH];

    SHA256_Final(inner, c);
    *c = k->outer;
    SHA256_Update(c, inner, sizeof(inner));
    SHA256_Final(out, c);
    OPENSSL_cleanse(inner, sizeof(inner));
    OPENSSL_cleanse(c, sizeof(*c));
}
