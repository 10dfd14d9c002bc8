/*
 * vg_metrics.h - the worker's Prometheus exposition (text format 0.0.4),
 * rendered from the pipeline's counters on each scrape.
 *
 * Locality: any thread (the HTTP server's); reads atomics only, plus the
 * consumer's lag (librdkafka calls that are thread-safe).
 */
#ifndef VG_METRICS_H
#define VG_METRICS_H

#include <stddef.h>

#include "vg_pipeline.h"

/* Render every metric. Returns a NUL-terminated buffer the caller frees
 * with free(), and its length in *len; NULL on out of memory. */
char *vg_metrics_render(vg_pipeline_t *p, size_t *len);

#endif
