/*
 * vg_http.h - the side port: /metrics, /healthz, /readyz (libmicrohttpd,
 * its own thread; docs/decisions.md says why that library).
 *
 *   /healthz  200 while the process runs (liveness)
 *   /readyz   200 when connected to Kafka and Redis, 503 otherwise
 *   /metrics  Prometheus text format
 */
#ifndef VG_HTTP_H
#define VG_HTTP_H

#include "vg_err.h"
#include "vg_pipeline.h"

typedef struct vg_http_s vg_http_t;

/* Listen on bind:port (port 0 picks a free one; see vg_http_port()). The
 * pipeline is borrowed and must outlive the server. Caller frees with
 * vg_http_destroy(), before destroying the pipeline. */
vg_http_t *vg_http_new(const char *bind, int port, vg_pipeline_t *p, char *errstr,
                       size_t errstr_size);

/* The port actually bound. */
int vg_http_port(const vg_http_t *h);

void vg_http_destroy(vg_http_t *h);

#endif
