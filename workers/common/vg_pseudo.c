/* SHA-256 and HMAC through OpenSSL's low-level interface (vg_hmac.h). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "vg_pseudo.h"
#include "vg_hash.h"
#include "vg_hmac.h"

/* SHA-256 through OpenSSL's low-level interface: a context on the stack,
 * no allocation per call (the EVP interface allocates a context for every
 * digest, and this runs for every record). */

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
    vg_hmac_key_t id_mac;        /* HMAC-SHA-256 under key, for pseudonyms */
    unsigned char seal_key[32];  /* HMAC(key, "vigil.seal.v1"): AES-256-GCM */
    /* Sealing without a setup per call: HMAC-SHA-256 under seal_key with
     * the key absorbed once (the nonce), and AES-256-GCM contexts with the
     * key schedule done once (each call only sets its nonce). */
    vg_hmac_key_t nonce_mac;
    EVP_CIPHER_CTX *enc, *dec;
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
    vg_hmac_key_init(&p->id_mac, p->key, key_len);
    {
        unsigned int n = 0;
        HMAC(EVP_sha256(), p->key, (int)p->key_len, (const unsigned char *)"vigil.seal.v1", 13,
             p->seal_key, &n);
    }
    vg_hmac_key_init(&p->nonce_mac, p->seal_key, sizeof(p->seal_key));
    p->enc = EVP_CIPHER_CTX_new();
    p->dec = EVP_CIPHER_CTX_new();
    if (!p->enc || !p->dec ||
        EVP_EncryptInit_ex(p->enc, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(p->enc, EVP_CTRL_GCM_SET_IVLEN, VG_SEAL_NONCE, NULL) != 1 ||
        EVP_EncryptInit_ex(p->enc, NULL, NULL, p->seal_key, NULL) != 1 ||
        EVP_DecryptInit_ex(p->dec, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(p->dec, EVP_CTRL_GCM_SET_IVLEN, VG_SEAL_NONCE, NULL) != 1 ||
        EVP_DecryptInit_ex(p->dec, NULL, NULL, p->seal_key, NULL) != 1) {
        vg_errstr_set(errstr, errstr_size, "AES-256-GCM unavailable in OpenSSL");
        vg_pseudo_destroy(p);
        return NULL;
    }
    return p;
}

void vg_pseudo_destroy(vg_pseudo_t *p) {
    if (!p)
        return;
    OPENSSL_cleanse(p->key, sizeof(p->key));
    OPENSSL_cleanse(p->seal_key, sizeof(p->seal_key));
    EVP_CIPHER_CTX_free(p->enc);
    EVP_CIPHER_CTX_free(p->dec);
    OPENSSL_cleanse(p, sizeof(*p));
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
    unsigned char mac[SHA256_DIGEST_LENGTH];
    SHA256_CTX c;
    size_t tl = strlen(tenant ? tenant : ""), cl = strlen(customer_id ? customer_id : "");

    /* Tenant and id are joined with a NUL so ("ab","c") != ("a","bc"). */
    vg_hmac_begin(&p->id_mac, &c);
    SHA256_Update(&c, tenant ? tenant : "", tl);
    SHA256_Update(&c, "", 1);
    SHA256_Update(&c, customer_id ? customer_id : "", cl);
    vg_hmac_end(&p->id_mac, &c, mac);
    vg_pseudo_hex(mac, 16, out, VG_PSEUDO_LEN);
}

typedef struct vg_pseudo_memo_slot_s {
    uint64_t hash;   /* of ids[0..len); 0 with len 0: empty */
    uint8_t len;
    char ids[VG_PSEUDO_MEMO_IDS];
    char out[VG_PSEUDO_LEN];
} vg_pseudo_memo_slot_t;

struct vg_pseudo_memo_s {
    vg_pseudo_memo_slot_t slot[VG_PSEUDO_MEMO_SLOTS];
};

vg_pseudo_memo_t *vg_pseudo_memo_new(void) { return calloc(1, sizeof(vg_pseudo_memo_t)); }

void vg_pseudo_memo_destroy(vg_pseudo_memo_t *m) {
    if (!m)
        return;
    /* Customer ids in clear: wiped as the key is. */
    OPENSSL_cleanse(m, sizeof(*m));
    free(m);
}

void vg_pseudo_id_memo(const vg_pseudo_t *p, vg_pseudo_memo_t *m, const char *tenant,
                       const char *customer_id, char out[VG_PSEUDO_LEN]) {
    char ids[VG_PSEUDO_MEMO_IDS];
    size_t tl, cl, n;
    uint64_t h;
    vg_pseudo_memo_slot_t *s;

    tenant = tenant ? tenant : "";
    customer_id = customer_id ? customer_id : "";
    tl = strlen(tenant);
    cl = strlen(customer_id);
    n = tl + 1 + cl;
    if (!m || n > sizeof(ids)) {
        vg_pseudo_id(p, tenant, customer_id, out);
        return;
    }
    memcpy(ids, tenant, tl);
    ids[tl] = '\0';
    memcpy(ids + tl + 1, customer_id, cl);
    h = vg_hash_mem(ids, n);
    s = &m->slot[h & (VG_PSEUDO_MEMO_SLOTS - 1)];
    if (s->hash == h && s->len == n && !memcmp(s->ids, ids, n)) {
        memcpy(out, s->out, VG_PSEUDO_LEN);
        return;
    }
    vg_pseudo_id(p, tenant, customer_id, out);
    s->hash = h;
    s->len = (uint8_t)n;
    memcpy(s->ids, ids, n);
    memcpy(s->out, out, VG_PSEUDO_LEN);
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

/* The deterministic nonce: the first 12 bytes of HMAC-SHA-256(seal_key,
 * plaintext) (SIV-like: the same plaintext seals to the same bytes, so
 * states compare equal across workers and replays; GCM's nonce-reuse
 * weakness needs two different plaintexts under one nonce, which a
 * collision-free MAC of the plaintext rules out). */
static void vg_pseudo_nonce(const vg_pseudo_t *p, const void *in, size_t len, uint8_t *nonce) {
    unsigned char mac[SHA256_DIGEST_LENGTH];
    SHA256_CTX c;

    vg_hmac_begin(&p->nonce_mac, &c);
    SHA256_Update(&c, in, len);
    vg_hmac_end(&p->nonce_mac, &c, mac);
    memcpy(nonce, mac, VG_SEAL_NONCE);
}

vg_err_t vg_pseudo_seal_bytes(const vg_pseudo_t *p, const void *in, size_t len, uint8_t *out,
                              size_t cap, size_t *lenp) {
    int n = 0, f = 0;

    if (len > INT_MAX - VG_SEAL_OVERHEAD || cap < len + VG_SEAL_OVERHEAD)
        return VG_ERR_OVERFLOW;
    out[0] = VG_SEAL_VERSION;
    vg_pseudo_nonce(p, in, len, out + 1);
    if (EVP_EncryptInit_ex(p->enc, NULL, NULL, NULL, out + 1) != 1 ||
        EVP_EncryptUpdate(p->enc, out + 1 + VG_SEAL_NONCE, &n, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(p->enc, out + 1 + VG_SEAL_NONCE + n, &f) != 1 ||
        EVP_CIPHER_CTX_ctrl(p->enc, EVP_CTRL_GCM_GET_TAG, VG_SEAL_TAG,
                            out + 1 + VG_SEAL_NONCE + n + f) != 1)
        return VG_ERR_IO;
    *lenp = 1 + VG_SEAL_NONCE + (size_t)(n + f) + VG_SEAL_TAG;
    return VG_OK;
}

vg_err_t vg_pseudo_open_bytes(const vg_pseudo_t *p, const uint8_t *in, size_t len, uint8_t *out,
                              size_t cap, size_t *lenp) {
    size_t ml;
    int n = 0, f = 0;

    if (len < VG_SEAL_OVERHEAD || in[0] != VG_SEAL_VERSION)
        return VG_ERR_INVALID;
    ml = len - VG_SEAL_OVERHEAD;
    if (ml > cap)
        return VG_ERR_OVERFLOW;
    if (EVP_DecryptInit_ex(p->dec, NULL, NULL, NULL, in + 1) != 1 ||
        EVP_DecryptUpdate(p->dec, out, &n, in + 1 + VG_SEAL_NONCE, (int)ml) != 1 ||
        EVP_CIPHER_CTX_ctrl(p->dec, EVP_CTRL_GCM_SET_TAG, VG_SEAL_TAG,
                            (void *)(in + 1 + VG_SEAL_NONCE + ml)) != 1 ||
        EVP_DecryptFinal_ex(p->dec, out + n, &f) != 1) {
        OPENSSL_cleanse(out, ml);
        return VG_ERR_INVALID; /* another key, or tampered */
    }
    *lenp = ml;
    return VG_OK;
}

vg_err_t vg_pseudo_seal(const vg_pseudo_t *p, const char *tenant, const char *customer_id,
                        uint8_t *out, size_t cap, size_t *lenp) {
    unsigned char msg[VG_SEAL_PLAIN_MAX];
    size_t tl = strlen(tenant), cl = strlen(customer_id), ml = tl + 1 + cl;
    vg_err_t err;

    if (ml > sizeof(msg))
        return VG_ERR_OVERFLOW;
    memcpy(msg, tenant, tl);
    msg[tl] = '\0';
    memcpy(msg + tl + 1, customer_id, cl);
    err = vg_pseudo_seal_bytes(p, msg, ml, out, cap, lenp);
    OPENSSL_cleanse(msg, sizeof(msg));
    return err;
}

vg_err_t vg_pseudo_open(const vg_pseudo_t *p, const uint8_t *in, size_t len, char *tenant,
                        size_t tenant_size, char *customer_id, size_t customer_size) {
    unsigned char msg[VG_SEAL_PLAIN_MAX + 1];
    size_t ml = 0, tl;
    vg_err_t err;

    if (len < VG_SEAL_OVERHEAD + 1 || len - VG_SEAL_OVERHEAD > VG_SEAL_PLAIN_MAX)
        return VG_ERR_INVALID;
    if ((err = vg_pseudo_open_bytes(p, in, len, msg, VG_SEAL_PLAIN_MAX, &ml)))
        return err;
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
