#include "vg_pseudo.h"

/* SHA-256 through OpenSSL's low-level interface: a context on the stack,
 * no allocation per call (the EVP interface allocates a context for every
 * digest, and this runs for every record). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct vg_pseudo_s {
    size_t key_len;
    unsigned char key[256];
    SHA256_CTX hmac_inner, hmac_outer; /* HMAC-SHA-256 with the key absorbed once */
    unsigned char seal_key[32];  /* HMAC(key, "vigil.seal.v1"): AES-256-GCM */
};

#define VG_SEAL_VERSION 1
#define VG_SEAL_NONCE 12
#define VG_SEAL_TAG 16

vg_pseudo_t *vg_pseudo_new(const void *key, size_t key_len, char *errstr, size_t errstr_size) {
    vg_pseudo_t *p;

    if (!key || key_len < 16 || key_len > sizeof(p->key)) {
        vg_errstr_set(errstr, errstr_size,
                      "pseudonymisation key must be 16..256 bytes (got %zu)", key_len);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    memcpy(p->key, key, key_len);
    p->key_len = key_len;
    {
        /* RFC 2104: the key padded to the block, xor ipad / opad. */
        unsigned char block[SHA256_CBLOCK] = {0}, pad[SHA256_CBLOCK];
        if (key_len > SHA256_CBLOCK)
            SHA256(p->key, key_len, block);
        else
            memcpy(block, p->key, key_len);
        for (int i = 0; i < SHA256_CBLOCK; i++)
            pad[i] = block[i] ^ 0x36;
        SHA256_Init(&p->hmac_inner);
        SHA256_Update(&p->hmac_inner, pad, sizeof(pad));
        for (int i = 0; i < SHA256_CBLOCK; i++)
            pad[i] = block[i] ^ 0x5c;
        SHA256_Init(&p->hmac_outer);
        SHA256_Update(&p->hmac_outer, pad, sizeof(pad));
        OPENSSL_cleanse(block, sizeof(block));
        OPENSSL_cleanse(pad, sizeof(pad));
    }
    {
        unsigned int n = 0;
        HMAC(EVP_sha256(), p->key, (int)p->key_len, (const unsigned char *)"vigil.seal.v1", 13,
             p->seal_key, &n);
    }
    return p;
}

void vg_pseudo_destroy(vg_pseudo_t *p) {
    if (!p)
        return;
    OPENSSL_cleanse(p->key, sizeof(p->key));
    OPENSSL_cleanse(p->seal_key, sizeof(p->seal_key));
    free(p);
}

static void vg_pseudo_hex(const unsigned char *in, size_t n, char *out, size_t out_size) {
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;

    for (i = 0; i < n && o + 2 < out_size; i++) {
        out[o++] = hex[in[i] >> 4];
        out[o++] = hex[in[i] & 15];
    }
    if (o + 1 < out_size && i < n)
        out[o++] = hex[in[i] >> 4];
    out[o] = '\0';
}

void vg_pseudo_id(const vg_pseudo_t *p, const char *tenant, const char *customer_id,
                  char out[VG_PSEUDO_LEN]) {
    unsigned char inner[SHA256_DIGEST_LENGTH], mac[SHA256_DIGEST_LENGTH];
    SHA256_CTX c;
    size_t tl = strlen(tenant ? tenant : ""), cl = strlen(customer_id ? customer_id : "");

    /* Tenant and id are joined with a NUL so ("ab","c") != ("a","bc"). */
    c = p->hmac_inner;
    SHA256_Update(&c, tenant ? tenant : "", tl);
    SHA256_Update(&c, "", 1);
    SHA256_Update(&c, customer_id ? customer_id : "", cl);
    SHA256_Final(inner, &c);
    c = p->hmac_outer;
    SHA256_Update(&c, inner, sizeof(inner));
    SHA256_Final(mac, &c);
    vg_pseudo_hex(mac, 16, out, VG_PSEUDO_LEN);
}

void vg_pseudo_sha256(const void *data, size_t len, unsigned char out[32]) {
    SHA256(data, len, out);
}

void vg_pseudo_digest_hex(const char *const *parts, size_t nparts, char *out, size_t out_size) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_CTX c;

    SHA256_Init(&c);
    for (size_t i = 0; i < nparts; i++) {
        const char *s = parts[i] ? parts[i] : "";
        SHA256_Update(&c, s, strlen(s) + 1); /* include the NUL separator */
    }
    SHA256_Final(md, &c);
    vg_pseudo_hex(md, sizeof(md), out, out_size);
}

vg_err_t vg_pseudo_seal(const vg_pseudo_t *p, const char *tenant, const char *customer_id,
                        uint8_t *out, size_t cap, size_t *lenp) {
    unsigned char msg[VG_SEAL_PLAIN_MAX], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t tl = strlen(tenant), cl = strlen(customer_id), ml = tl + 1 + cl;
    EVP_CIPHER_CTX *ctx;
    int n = 0, f = 0;
    vg_err_t err = VG_ERR_IO;

    if (ml > sizeof(msg) || cap < 1 + VG_SEAL_NONCE + ml + VG_SEAL_TAG)
        return VG_ERR_OVERFLOW;
    memcpy(msg, tenant, tl);
    msg[tl] = '\0';
    memcpy(msg + tl + 1, customer_id, cl);
    /* Deterministic nonce (SIV-like): the same identity seals to the same
     * bytes, so states compare equal across workers and replays; GCM's
     * nonce-reuse weakness needs two different plaintexts under one nonce,
     * which a collision-free MAC of the plaintext rules out. */
    HMAC(EVP_sha256(), p->seal_key, sizeof(p->seal_key), msg, ml, mac, &mac_len);
    out[0] = VG_SEAL_VERSION;
    memcpy(out + 1, mac, VG_SEAL_NONCE);
    if (!(ctx = EVP_CIPHER_CTX_new()))
        return VG_ERR_NOMEM;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, VG_SEAL_NONCE, NULL) == 1 &&
        EVP_EncryptInit_ex(ctx, NULL, NULL, p->seal_key, out + 1) == 1 &&
        EVP_EncryptUpdate(ctx, out + 1 + VG_SEAL_NONCE, &n, msg, (int)ml) == 1 &&
        EVP_EncryptFinal_ex(ctx, out + 1 + VG_SEAL_NONCE + n, &f) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, VG_SEAL_TAG,
                            out + 1 + VG_SEAL_NONCE + n + f) == 1) {
        *lenp = 1 + VG_SEAL_NONCE + (size_t)(n + f) + VG_SEAL_TAG;
        err = VG_OK;
    }
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(msg, sizeof(msg));
    return err;
}

vg_err_t vg_pseudo_open(const vg_pseudo_t *p, const uint8_t *in, size_t len, char *tenant,
                        size_t tenant_size, char *customer_id, size_t customer_size) {
    unsigned char msg[VG_SEAL_PLAIN_MAX + 1];
    size_t ml, tl;
    EVP_CIPHER_CTX *ctx;
    int n = 0, f = 0, ok;

    if (len < 1 + VG_SEAL_NONCE + VG_SEAL_TAG + 1 || in[0] != VG_SEAL_VERSION)
        return VG_ERR_INVALID;
    ml = len - 1 - VG_SEAL_NONCE - VG_SEAL_TAG;
    if (ml > VG_SEAL_PLAIN_MAX)
        return VG_ERR_INVALID;
    if (!(ctx = EVP_CIPHER_CTX_new()))
        return VG_ERR_NOMEM;
    ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, VG_SEAL_NONCE, NULL) == 1 &&
         EVP_DecryptInit_ex(ctx, NULL, NULL, p->seal_key, in + 1) == 1 &&
         EVP_DecryptUpdate(ctx, msg, &n, in + 1 + VG_SEAL_NONCE, (int)ml) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, VG_SEAL_TAG,
                             (void *)(in + 1 + VG_SEAL_NONCE + ml)) == 1 &&
         EVP_DecryptFinal_ex(ctx, msg + n, &f) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return VG_ERR_INVALID; /* another key, or tampered */
    msg[ml] = '\0';
    tl = strlen((char *)msg);
    if (tl >= ml || tl + 1 > tenant_size || ml - tl - 1 + 1 > customer_size) {
        OPENSSL_cleanse(msg, sizeof(msg));
        return VG_ERR_OVERFLOW;
    }
    memcpy(tenant, msg, tl + 1);
    memcpy(customer_id, msg + tl + 1, ml - tl - 1);
    customer_id[ml - tl - 1] = '\0';
    OPENSSL_cleanse(msg, sizeof(msg));
    return VG_OK;
}

vg_err_t vg_pseudo_seal_bytes(const vg_pseudo_t *p, const void *in, size_t len, uint8_t *out,
                              size_t cap, size_t *lenp) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    EVP_CIPHER_CTX *ctx;
    int n = 0, f = 0;
    vg_err_t err = VG_ERR_IO;

    if (len > INT_MAX - VG_SEAL_OVERHEAD || cap < len + VG_SEAL_OVERHEAD)
        return VG_ERR_OVERFLOW;
    /* The deterministic nonce of vg_pseudo_seal(), over these bytes. */
    HMAC(EVP_sha256(), p->seal_key, sizeof(p->seal_key), in, len, mac, &mac_len);
    out[0] = VG_SEAL_VERSION;
    memcpy(out + 1, mac, VG_SEAL_NONCE);
    if (!(ctx = EVP_CIPHER_CTX_new()))
        return VG_ERR_NOMEM;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, VG_SEAL_NONCE, NULL) == 1 &&
        EVP_EncryptInit_ex(ctx, NULL, NULL, p->seal_key, out + 1) == 1 &&
        EVP_EncryptUpdate(ctx, out + 1 + VG_SEAL_NONCE, &n, in, (int)len) == 1 &&
        EVP_EncryptFinal_ex(ctx, out + 1 + VG_SEAL_NONCE + n, &f) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, VG_SEAL_TAG,
                            out + 1 + VG_SEAL_NONCE + n + f) == 1) {
        *lenp = 1 + VG_SEAL_NONCE + (size_t)(n + f) + VG_SEAL_TAG;
        err = VG_OK;
    }
    EVP_CIPHER_CTX_free(ctx);
    return err;
}

vg_err_t vg_pseudo_open_bytes(const vg_pseudo_t *p, const uint8_t *in, size_t len, uint8_t *out,
                              size_t cap, size_t *lenp) {
    size_t ml;
    EVP_CIPHER_CTX *ctx;
    int n = 0, f = 0, ok;

    if (len < VG_SEAL_OVERHEAD || in[0] != VG_SEAL_VERSION)
        return VG_ERR_INVALID;
    ml = len - VG_SEAL_OVERHEAD;
    if (ml > cap)
        return VG_ERR_OVERFLOW;
    if (!(ctx = EVP_CIPHER_CTX_new()))
        return VG_ERR_NOMEM;
    ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, VG_SEAL_NONCE, NULL) == 1 &&
         EVP_DecryptInit_ex(ctx, NULL, NULL, p->seal_key, in + 1) == 1 &&
         EVP_DecryptUpdate(ctx, out, &n, in + 1 + VG_SEAL_NONCE, (int)ml) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, VG_SEAL_TAG,
                             (void *)(in + 1 + VG_SEAL_NONCE + ml)) == 1 &&
         EVP_DecryptFinal_ex(ctx, out + n, &f) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, ml);
        return VG_ERR_INVALID;
    }
    *lenp = ml;
    return VG_OK;
}
