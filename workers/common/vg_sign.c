/* SHA-256 and HMAC through OpenSSL's low-level interface (vg_hmac.h). */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "vg_sign.h"
#include "vg_hmac.h"

/* HMAC-SHA-256 through the low-level SHA-256 interface, the key absorbed
 * once per key (as vg_pseudo.c): no allocation per record. */

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vg_sign_key_s {
    char kid[VG_SIGN_KID_MAX + 1];
    vg_hmac_key_t mac;
} vg_sign_key_t;

struct vg_sign_keys_s {
    size_t n;
    vg_sign_key_t keys[VG_SIGN_KEYS_MAX];
};

static const char vg_sign_domain[] = "vigil.signature.v1"; /* and its NUL */

static int vg_sign_hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F'   ? c - 'A' + 10
                                                                 : -1;
}

static void vg_sign_mac(const vg_sign_key_t *k, const void *key, size_t key_len,
                        const void *value, size_t value_len, unsigned char mac[32]) {
    unsigned char len_be[4];
    SHA256_CTX c;

    len_be[0] = (unsigned char)(key_len >> 24);
    len_be[1] = (unsigned char)(key_len >> 16);
    len_be[2] = (unsigned char)(key_len >> 8);
    len_be[3] = (unsigned char)key_len;
    vg_hmac_begin(&k->mac, &c);
    SHA256_Update(&c, vg_sign_domain, sizeof(vg_sign_domain)); /* with its NUL */
    SHA256_Update(&c, len_be, 4);
    if (key_len)
        SHA256_Update(&c, key, key_len);
    if (value_len)
        SHA256_Update(&c, value, value_len);
    vg_hmac_end(&k->mac, &c, mac);
}

static bool vg_sign_kid_ok(const char *s, size_t n) {
    if (n == 0 || n > VG_SIGN_KID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

vg_sign_keys_t *vg_sign_keys_parse(const char *text, size_t len, const char *origin,
                                   char *errstr, size_t errstr_size) {
    vg_sign_keys_t *k = calloc(1, sizeof(*k));
    size_t pos = 0;
    int line = 0;

    if (!k) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    while (pos < len) {
        const char *l = text + pos, *end = memchr(l, '\n', len - pos);
        size_t n = end ? (size_t)(end - l) : len - pos, a, b, c, d;
        unsigned char secret[128];
        size_t slen = 0;

        pos += n + (end ? 1 : 0);
        line++;
        for (size_t i = 0; i < n; i++)
            if (l[i] == '#') {
                n = i;
                break;
            }
        for (a = 0; a < n && isspace((unsigned char)l[a]); a++)
            ;
        if (a == n)
            continue; /* blank or comment */
        for (b = a; b < n && !isspace((unsigned char)l[b]); b++)
            ;
        for (c = b; c < n && isspace((unsigned char)l[c]); c++)
            ;
        for (d = c; d < n && !isspace((unsigned char)l[d]); d++)
            ;
        if (!vg_sign_kid_ok(l + a, b - a)) {
            vg_errstr_set(errstr, errstr_size,
                          "%s:%d: key id \"%.*s\" must be 1 to %d of [A-Za-z0-9._-]", origin, line,
                          (int)(b - a > 40 ? 40 : b - a), l + a, VG_SIGN_KID_MAX);
            goto fail;
        }
        for (size_t i = d; i < n; i++)
            if (!isspace((unsigned char)l[i])) {
                vg_errstr_set(errstr, errstr_size,
                              "%s:%d: expected \"<key id> <hex secret>\", found more", origin,
                              line);
                goto fail;
            }
        if ((d - c) % 2 || d - c < 64 || d - c > 2 * sizeof(secret)) {
            vg_errstr_set(errstr, errstr_size,
                          "%s:%d: key \"%.*s\": the secret must be 64 to 256 hex digits (32 to "
                          "128 bytes), found %zu characters",
                          origin, line, (int)(b - a), l + a, d - c);
            goto fail;
        }
        for (size_t i = c; i < d; i += 2) {
            int hi = vg_sign_hexval(l[i]), lo = vg_sign_hexval(l[i + 1]);
            if (hi < 0 || lo < 0) {
                OPENSSL_cleanse(secret, sizeof(secret));
                vg_errstr_set(errstr, errstr_size,
                              "%s:%d: key \"%.*s\": the secret is not hex (column %zu)", origin,
                              line, (int)(b - a), l + a, (hi < 0 ? i : i + 1) + 1);
                goto fail;
            }
            secret[slen++] = (unsigned char)(hi << 4 | lo);
        }
        for (size_t i = 0; i < k->n; i++)
            if (strlen(k->keys[i].kid) == b - a && !memcmp(k->keys[i].kid, l + a, b - a)) {
                OPENSSL_cleanse(secret, sizeof(secret));
                vg_errstr_set(errstr, errstr_size, "%s:%d: key id \"%.*s\" listed twice", origin,
                              line, (int)(b - a), l + a);
                goto fail;
            }
        if (k->n == VG_SIGN_KEYS_MAX) {
            OPENSSL_cleanse(secret, sizeof(secret));
            vg_errstr_set(errstr, errstr_size, "%s:%d: more than %d keys", origin, line,
                          VG_SIGN_KEYS_MAX);
            goto fail;
        }
        memcpy(k->keys[k->n].kid, l + a, b - a);
        k->keys[k->n].kid[b - a] = '\0';
        vg_hmac_key_init(&k->keys[k->n++].mac, secret, slen);
        OPENSSL_cleanse(secret, sizeof(secret));
    }
    if (k->n == 0) {
        vg_errstr_set(errstr, errstr_size, "%s: no key (lines are \"<key id> <hex secret>\")",
                      origin);
        goto fail;
    }
    return k;
fail:
    vg_sign_keys_destroy(k);
    return NULL;
}

vg_sign_keys_t *vg_sign_keys_load(const char *path, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    char buf[8192];
    size_t n;
    vg_sign_keys_t *k;

    if (!f) {
        vg_errstr_set(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf), f);
    if (!feof(f)) {
        fclose(f);
        OPENSSL_cleanse(buf, sizeof(buf));
        vg_errstr_set(errstr, errstr_size, "%s: larger than %zu bytes", path, sizeof(buf) - 1);
        return NULL;
    }
    fclose(f);
    k = vg_sign_keys_parse(buf, n, path, errstr, errstr_size);
    OPENSSL_cleanse(buf, sizeof(buf));
    return k;
}

void vg_sign_keys_destroy(vg_sign_keys_t *k) {
    if (!k)
        return;
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

const char *vg_sign_keys_active(const vg_sign_keys_t *k) { return k->keys[0].kid; }

size_t vg_sign_keys_count(const vg_sign_keys_t *k) { return k->n; }

static void vg_sign_hex(const unsigned char *in, size_t n, char *out) {
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
}

size_t vg_sign(const vg_sign_keys_t *k, const void *key, size_t key_len, const void *value,
               size_t value_len, char out[VG_SIGN_VALUE_MAX]) {
    unsigned char mac[32];
    size_t kl = strlen(k->keys[0].kid), o = 0;

    vg_sign_mac(&k->keys[0], key, key_len, value, value_len, mac);
    memcpy(out, "v1:", 3);
    o = 3;
    memcpy(out + o, k->keys[0].kid, kl);
    o += kl;
    out[o++] = ':';
    vg_sign_hex(mac, 32, out + o);
    o += 64;
    out[o] = '\0';
    return o;
}

const char *vg_sign_check_name(vg_sign_check_t c) {
    static const char *const names[] = {"valid", "missing", "malformed", "unknown_key",
                                        "mismatch"};
    return c >= 0 && c <= VG_SIGN_MISMATCH ? names[c] : "malformed";
}

vg_sign_check_t vg_sign_verify(const vg_sign_keys_t *k, const char *header, size_t header_len,
                               const void *key, size_t key_len, const void *value,
                               size_t value_len) {
    const char *kid, *colon;
    unsigned char want[32], got[32];
    size_t kl;

    if (!header)
        return VG_SIGN_MISSING;
    if (header_len < 3 + 1 + 1 + 64 || memcmp(header, "v1:", 3) != 0)
        return VG_SIGN_MALFORMED;
    kid = header + 3;
    colon = memchr(kid, ':', header_len - 3);
    if (!colon || (size_t)(header + header_len - (colon + 1)) != 64)
        return VG_SIGN_MALFORMED;
    kl = (size_t)(colon - kid);
    if (!vg_sign_kid_ok(kid, kl))
        return VG_SIGN_MALFORMED;
    for (size_t i = 0; i < 32; i++) {
        int hi = vg_sign_hexval(colon[1 + 2 * i]), lo = vg_sign_hexval(colon[2 + 2 * i]);
        if (hi < 0 || lo < 0)
            return VG_SIGN_MALFORMED;
        got[i] = (unsigned char)(hi << 4 | lo);
    }
    for (size_t i = 0; i < k->n; i++) {
        if (strlen(k->keys[i].kid) != kl || memcmp(k->keys[i].kid, kid, kl) != 0)
            continue;
        vg_sign_mac(&k->keys[i], key, key_len, value, value_len, want);
        return CRYPTO_memcmp(want, got, 32) == 0 ? VG_SIGN_VALID : VG_SIGN_MISMATCH;
    }
    return VG_SIGN_UNKNOWN_KEY;
}
