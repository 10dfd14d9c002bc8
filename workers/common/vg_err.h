/*
 * vg_err.h - Vigil's one error type.
 *
 * Every fallible function returns vg_err_t; 0 (VG_OK) is success. When a
 * call returns an error, any callback it was given is never invoked.
 */
#ifndef VG_ERR_H
#define VG_ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum vg_err_e {
    VG_OK = 0,
    VG_ERR_INVALID,       /* bad argument or malformed input */
    VG_ERR_DECODE,        /* bytes are not a valid protobuf message */
    VG_ERR_NOMEM,
    VG_ERR_IO,            /* a connection or system call failed */
    VG_ERR_TIMEOUT,
    VG_ERR_KAFKA,         /* a Kafka operation failed */
    VG_ERR_REDIS,         /* a Redis operation failed */
    VG_ERR_CONFLICT,      /* version compare-and-set lost: someone else owns the key */
    VG_ERR_FENCED,        /* this worker was fenced by a newer instance */
    VG_ERR_CONFIG,        /* bad configuration */
    VG_ERR_NOT_FOUND,
    VG_ERR_OVERFLOW,      /* a bounded buffer or table is full */
    VG_ERR_BEHIND,        /* the state store lost writes: behind what Kafka says is done */
    VG_ERR__COUNT
} vg_err_t;

/* A short static description of err; never NULL. */
const char *vg_err_str(vg_err_t err);

/* Format into a caller's errstr buffer; always NUL-terminates. */
void vg_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
