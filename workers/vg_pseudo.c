#include "vg_pseudo.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

struct vg_pseudo_s {
    size_t key_len;
    unsigned char key[256];
};

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
    return p;
}

void vg_pseudo_destroy(vg_pseudo_t *p) {
    if (!p)
        return;
    OPENSSL_cleanse(p->key, sizeof(p->key));
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
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    unsigned char msg[1024];
    size_t tl = strlen(tenant ? tenant : ""), cl = strlen(customer_id ? customer_id : "");

    /* Tenant and id are joined with a NUL so ("ab","c") != ("a","bc"). */
    if (tl + cl + 1 > sizeof(msg))
        cl = sizeof(msg) - 1 - (tl < sizeof(msg) - 1 ? tl : sizeof(msg) - 1);
    if (tl > sizeof(msg) - 1)
        tl = sizeof(msg) - 1;
    memcpy(msg, tenant ? tenant : "", tl);
    msg[tl] = '\0';
    memcpy(msg + tl + 1, customer_id ? customer_id : "", cl);
    HMAC(EVP_sha256(), p->key, (int)p->key_len, msg, tl + 1 + cl, mac, &mac_len);
    vg_pseudo_hex(mac, 16, out, VG_PSEUDO_LEN);
}

void vg_pseudo_digest_hex(const char *const *parts, size_t nparts, char *out, size_t out_size) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int md_len = 0;

    if (!ctx) {
        if (out_size)
            out[0] = '\0';
        return;
    }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < nparts; i++) {
        const char *s = parts[i] ? parts[i] : "";
        EVP_DigestUpdate(ctx, s, strlen(s) + 1); /* include the NUL separator */
    }
    EVP_DigestFinal_ex(ctx, md, &md_len);
    EVP_MD_CTX_free(ctx);
    vg_pseudo_hex(md, md_len, out, out_size);
}
