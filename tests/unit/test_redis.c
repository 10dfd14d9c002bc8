/*
 * test_redis: the header of a stored state value, "<version>\n<bytes>"
 * (vg_redis_state_header). The store's script reads the header by the
 * same rule; integration test 0080 checks that both agree on values
 * without a valid header (the worker's reset of them must be stored).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "vg_redis.h"

static const struct {
    const char *value;
    size_t len;          /* 0: strlen(value) */
    size_t header;       /* 0: no valid header */
    uint64_t version;
} cases[] = {
    {"1\n", 0, 2, 1},
    {"7\nstate", 0, 2, 7},
    {"42\n\x08\x01", 0, 3, 42},
    {"18446744073709551615\nx", 0, 21, UINT64_MAX},
    {"18446744073709551614\n", 0, 21, UINT64_MAX - 1},
    {"9999999999999999999\n", 0, 20, 9999999999999999999ULL},
    /* The bytes after '\n' are the state's, whatever they are. */
    {"3\n\n\n", 0, 2, 3},
    {"5\n\0\0", 4, 2, 5},
    /* No valid header. */
    {"", 0, 0, 0},
    {"\n", 0, 0, 0},
    {"0\n", 0, 0, 0},      /* version 0 is never stored */
    {"007\nx", 0, 0, 0},   /* not canonical */
    {"+7\nx", 0, 0, 0},
    {"-7\nx", 0, 0, 0},
    {" 7\nx", 0, 0, 0},
    {"7 \nx", 0, 0, 0},
    {"7\r\nx", 0, 0, 0},
    {"7", 0, 0, 0},        /* no '\n' */
    {"123", 0, 0, 0},
    {"7x\n", 0, 0, 0},
    {"garbage-state", 0, 0, 0},
    {"\x0a\x7f", 0, 0, 0},
    {"18446744073709551616\nx", 0, 0, 0},  /* UINT64_MAX + 1 */
    {"99999999999999999999\nx", 0, 0, 0},
    {"100000000000000000000\nx", 0, 0, 0}, /* 21 digits */
};

Test(redis, state_header) {
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].value);
        uint64_t version = 12345;
        size_t header = vg_redis_state_header(cases[i].value, len, &version);
        cr_expect_eq(header, cases[i].header, "case %zu: header %zu, want %zu", i, header,
                     cases[i].header);
        if (cases[i].header)
            cr_expect_eq(version, cases[i].version, "case %zu: version %llu", i,
                         (unsigned long long)version);
        else
            cr_expect_eq(version, 12345, "case %zu: version written without a header", i);
    }
}

/* The header does not read past len: a prefix of a valid value is not. */
Test(redis, state_header_within_len) {
    uint64_t version = 0;

    cr_expect_eq(vg_redis_state_header("12\nx", 2, &version), 0);
    cr_expect_eq(vg_redis_state_header("12\nx", 3, &version), 3);
    cr_expect_eq(version, 12);
    cr_expect_eq(vg_redis_state_header(NULL, 0, &version), 0);
}
