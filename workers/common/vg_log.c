#include "vg_log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct vg_log_s {
    vg_log_level_t level;
    char worker_id[128];
};

static const char *const vg_log_names[] = {"debug", "info", "warn", "error", "off"};

vg_log_t *vg_log_new(const char *worker_id, vg_log_level_t level) {
    vg_log_t *log = calloc(1, sizeof(*log));

    if (!log)
        return NULL;
    log->level = level;
    snprintf(log->worker_id, sizeof(log->worker_id), "%s", worker_id ? worker_id : "");
    return log;
}

void vg_log_destroy(vg_log_t *log) { free(log); }

void vg_log_set_level(vg_log_t *log, vg_log_level_t level) {
    if (log)
        log->level = level;
}

int vg_log_enabled(const vg_log_t *log, vg_log_level_t level) {
    return log && level >= log->level && level < VG_LOG_OFF;
}

int vg_log_level_parse(const char *s) {
    for (int i = 0; i <= VG_LOG_OFF; i++)
        if (s && strcmp(s, vg_log_names[i]) == 0)
            return i;
    return -1;
}

/* Append s to buf as JSON string content; returns the new length. */
static size_t vg_log_escape(char *buf, size_t len, size_t cap, const char *s) {
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

void vg_log_write(vg_log_t *log, vg_log_level_t level, const char *component,
                  const char *fmt, ...) {
    char msg[2048], line[4608];
    struct timespec ts;
    struct tm tm;
    size_t len;
    va_list ap;

    if (!log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = (size_t)snprintf(line, sizeof(line),
                           "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                           "\"component\":\"",
                           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                           tm.tm_sec, ts.tv_nsec / 1000000L, vg_log_names[level]);
    len = vg_log_escape(line, len, sizeof(line), component ? component : "");
    len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"worker\":\"");
    len = vg_log_escape(line, len, sizeof(line), log->worker_id);
    len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"msg\":\"");
    len = vg_log_escape(line, len, sizeof(line), msg);
    if (len + 3 > sizeof(line))
        len = sizeof(line) - 3;
    line[len++] = '"';
    line[len++] = '}';
    line[len++] = '\n';
    /* One write per line keeps lines whole when several threads log. */
    if (write(2, line, len) < 0) {
        /* Nothing sensible to do when stderr is gone. */
    }
}
