#include "vg_err.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const vg_err_names[VG_ERR__COUNT] = {
    [VG_OK] = "success",
    [VG_ERR_INVALID] = "invalid argument or input",
    [VG_ERR_DECODE] = "decode failed",
    [VG_ERR_NOMEM] = "out of memory",
    [VG_ERR_IO] = "I/O error",
    [VG_ERR_TIMEOUT] = "timed out",
    [VG_ERR_KAFKA] = "Kafka error",
    [VG_ERR_REDIS] = "Redis error",
    [VG_ERR_CONFLICT] = "version conflict",
    [VG_ERR_FENCED] = "fenced by a newer instance",
    [VG_ERR_CONFIG] = "configuration error",
    [VG_ERR_NOT_FOUND] = "not found",
    [VG_ERR_OVERFLOW] = "capacity exceeded",
    [VG_ERR_BEHIND] = "state store behind the log",
};

const char *vg_err_str(vg_err_t err) {
    if ((int)err < 0 || err >= VG_ERR__COUNT)
        return "unknown error";
    return vg_err_names[err];
}

void vg_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...) {
    va_list ap;

    if (!errstr || errstr_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}
