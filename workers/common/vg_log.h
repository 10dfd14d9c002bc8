/*
 * vg_log.h - structured logging: one JSON object per line on stderr.
 *
 * Levels are checked before any formatting (VG_LOG macro), so a disabled
 * debug line costs one comparison. Never pass a customer id in clear or a
 * secret: log the pseudonymised id (vg_pseudo) instead.
 *
 * The logger is a handle (no global mutable state); a process usually makes
 * one and passes it down. Thread-safe: one write(2) per line.
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdio.h>

typedef enum vg_log_level_e {
    VG_LOG_DEBUG = 0,
    VG_LOG_INFO,
    VG_LOG_WARN,
    VG_LOG_ERROR,
    VG_LOG_OFF
} vg_log_level_t;

typedef struct vg_log_s vg_log_t;

/* Make a logger writing JSON lines to fd 2 tagged with worker_id (copied).
 * Caller frees with vg_log_destroy(). Returns NULL on allocation failure. */
vg_log_t *vg_log_new(const char *worker_id, vg_log_level_t level);
void vg_log_destroy(vg_log_t *log);

void vg_log_set_level(vg_log_t *log, vg_log_level_t level);
int vg_log_enabled(const vg_log_t *log, vg_log_level_t level);

/* Parse "debug", "info", "warn", "error", "off"; -1 if unknown. */
int vg_log_level_parse(const char *s);

/* Write one line: {"ts":..., "level":..., "component":..., "worker":...,
 * "msg":...}. msg is printf-formatted and JSON-escaped. log may be NULL
 * (the line is then dropped). */
void vg_log_write(vg_log_t *log, vg_log_level_t level, const char *component,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define VG_LOG(log, level, component, ...)                                    \
    do {                                                                      \
        if (vg_log_enabled((log), (level)))                                   \
            vg_log_write((log), (level), (component), __VA_ARGS__);           \
    } while (0)

#define VG_DBG(log, comp, ...) VG_LOG(log, VG_LOG_DEBUG, comp, __VA_ARGS__)
#define VG_INFO(log, comp, ...) VG_LOG(log, VG_LOG_INFO, comp, __VA_ARGS__)
#define VG_WARN(log, comp, ...) VG_LOG(log, VG_LOG_WARN, comp, __VA_ARGS__)
#define VG_ERROR(log, comp, ...) VG_LOG(log, VG_LOG_ERROR, comp, __VA_ARGS__)

#endif
