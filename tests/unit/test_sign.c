/*
 * test_sign: trigger signatures (vg_sign). The vectors are the ones in
 * docs/triggers.md ("Signatures"), computed there with Python's hmac
 * module, an implementation independent of this one.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "vg_sign.h"

#define S1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define S2 "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0"

static const char keys_text[] = "# rotation: k2 signs, k1 still verifies\n"
                                "k2 " S2 "\n"
                                "\n"
                                "k1 " S1 "  # the previous key\n";

static vg_sign_keys_t *load(const char *text) {
    char err[256] = "";
    vg_sign_keys_t *k = vg_sign_keys_parse(text, strlen(text), "keys", err, sizeof(err));
    cr_assert_not_null(k, "%s", err);
    return k;
}

Test(sign, vectors_match_the_docs) {
    vg_sign_keys_t *k = load("k1 " S1 "\n");
    char out[VG_SIGN_VALUE_MAX];
    const unsigned char b[] = {0, 1, 255};

    cr_expect_eq(vg_sign(k, "cust-000042", 11, "hello", 5, out), strlen(out));
    cr_expect_str_eq(out, "v1:k1:f8250066cb08acba58b6b94fb4fb29b72d617e4a6f52926443dc7e4263f4b175");
    vg_sign(k, "", 0, b, 3, out);
    cr_expect_str_eq(out, "v1:k1:6002a8280be40dd71ca55a97214cc6d282d52b3485f08801c6afb8f6367b5128");
    vg_sign_keys_destroy(k);
    k = load("k2 " S2);
    vg_sign(k, "Zo\xc3\xab", 4, "\x0a\x03" "abc", 5, out);
    cr_expect_str_eq(out, "v1:k2:68e42840579a22af2b5c3982db5f02fb5ffa868c884d6eadc97c4925d8c5bb7f");
    vg_sign_keys_destroy(k);
}

Test(sign, rotation_signs_with_the_first_and_verifies_with_all) {
    vg_sign_keys_t *k = load(keys_text), *old = load("k1 " S1);
    char out[VG_SIGN_VALUE_MAX];

    cr_expect_eq(vg_sign_keys_count(k), 2);
    cr_expect_str_eq(vg_sign_keys_active(k), "k2");
    vg_sign(k, "c", 1, "v", 1, out);
    cr_expect_eq(strncmp(out, "v1:k2:", 6), 0);
    cr_expect_eq(vg_sign_verify(k, out, strlen(out), "c", 1, "v", 1), VG_SIGN_VALID);
    /* A record signed before the rotation still verifies. */
    vg_sign(old, "c", 1, "v", 1, out);
    cr_expect_eq(vg_sign_verify(k, out, strlen(out), "c", 1, "v", 1), VG_SIGN_VALID);
    /* The old set does not know k2. */
    vg_sign(k, "c", 1, "v", 1, out);
    cr_expect_eq(vg_sign_verify(old, out, strlen(out), "c", 1, "v", 1), VG_SIGN_UNKNOWN_KEY);
    vg_sign_keys_destroy(k);
    vg_sign_keys_destroy(old);
}

Test(sign, altered_or_forged_records_fail) {
    vg_sign_keys_t *k = load(keys_text);
    char out[VG_SIGN_VALUE_MAX], bad[VG_SIGN_VALUE_MAX];

    vg_sign(k, "cust-1", 6, "value", 5, out);
    cr_expect_eq(vg_sign_verify(k, out, strlen(out), "cust-1", 6, "valuE", 5), VG_SIGN_MISMATCH);
    cr_expect_eq(vg_sign_verify(k, out, strlen(out), "cust-2", 6, "value", 5), VG_SIGN_MISMATCH);
    /* Key and value are length-framed: moving a byte across fails. */
    cr_expect_eq(vg_sign_verify(k, out, strlen(out), "cust-", 5, "1value", 6), VG_SIGN_MISMATCH);
    memcpy(bad, out, sizeof(bad));
    bad[strlen(bad) - 1] ^= 1;
    cr_expect_eq(vg_sign_verify(k, bad, strlen(bad), "cust-1", 6, "value", 5), VG_SIGN_MISMATCH);
    cr_expect_eq(vg_sign_verify(k, NULL, 0, "cust-1", 6, "value", 5), VG_SIGN_MISSING);
    cr_expect_eq(vg_sign_verify(k, "v1:k2:abc", 9, "cust-1", 6, "value", 5), VG_SIGN_MALFORMED);
    cr_expect_eq(vg_sign_verify(k, "v2:k2:", 6, "cust-1", 6, "value", 5), VG_SIGN_MALFORMED);
    memcpy(bad, out, sizeof(bad));
    bad[3] = 'x'; /* kid k2 -> x2 */
    cr_expect_eq(vg_sign_verify(k, bad, strlen(bad), "cust-1", 6, "value", 5),
                 VG_SIGN_UNKNOWN_KEY);
    memcpy(bad, out, sizeof(bad));
    bad[10] = 'g'; /* not hex */
    cr_expect_eq(vg_sign_verify(k, bad, strlen(bad), "cust-1", 6, "value", 5), VG_SIGN_MALFORMED);
    vg_sign_keys_destroy(k);
}

Test(sign, bad_key_files_are_refused_with_the_line) {
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"", "keys: no key"},
        {"# only a comment\n", "keys: no key"},
        {"k1 00ff\n", "keys:1: key \"k1\": the secret must be 64 to 256 hex digits"},
        {"\nk/1 " S1 "\n", "keys:2: key id \"k/1\" must be"},
        {"k1 " S1 " extra\n", "keys:1: expected"},
        {"k1 " S1 "\nk1 " S2 "\n", "keys:2: key id \"k1\" listed twice"},
        {"k1 zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
         "keys:1: key \"k1\": the secret is not hex (column 4)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        vg_sign_keys_t *k = vg_sign_keys_parse(bad[i].text, strlen(bad[i].text), "keys", err,
                                               sizeof(err));
        cr_expect_null(k, "case %zu accepted", i);
        cr_expect(strstr(err, bad[i].says) != NULL, "case %zu: \"%s\" does not say \"%s\"", i,
                  err, bad[i].says);
        /* The secret itself is never in the message. */
        cr_expect(strstr(err, "0f10") == NULL, "case %zu shows the secret: %s", i, err);
        vg_sign_keys_destroy(k);
    }
}
