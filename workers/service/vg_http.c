#include "vg_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vg_metrics.h"
#include "vg_time.h"

struct vg_http_s {
    struct MHD_Daemon *d;
    vg_pipeline_t *p;
    int port;
};

static enum MHD_Result vg_http_reply(struct MHD_Connection *c, unsigned status, const char *type,
                                     void *body, size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    enum MHD_Result ret;

    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result vg_http_handle(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
    vg_http_t *h = cls;
    static const char text[] = "text/plain; charset=utf-8";

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return vg_http_reply(c, 405, text, "method not allowed\n", 19, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/healthz") == 0)
        return vg_http_reply(c, 200, text, "ok\n", 3, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/readyz") == 0) {
        if (vg_pipeline_ready(h->p))
            return vg_http_reply(c, 200, text, "ready\n", 6, MHD_RESPMEM_PERSISTENT);
        {
            /* Say which: an SRE reads this at 3 a.m. */
            const vg_pipeline_stats_t *s = vg_pipeline_stats(h->p);
            static const char stopped[] = "not ready: a partition is stopped (its dead "
                                          "letter cannot be written; see docs/runbook.md, "
                                          "VigilPartitionStopped)\n";
            static const char *const why[] = {"not ready: kafka unavailable\n",
                                              "not ready: redis unavailable\n", stopped};
            vg_kafka_problem_t pr;
            int64_t stalled = vg_kafka_health_stalled(&s->kafka_health, vg_time_wall_ms(), &pr);
            const char *w = !atomic_load(&s->kafka_ok)   ? why[0]
                            : !atomic_load(&s->redis_ok) ? why[1]
                                                         : why[2];
            if (atomic_load(&s->kafka_ok) && atomic_load(&s->redis_ok) && stalled) {
                /* Kafka answers but does not take the worker's writes. */
                char *body = malloc(256);
                int len;
                if (!body)
                    return MHD_NO;
                len = snprintf(body, 256,
                               "not ready: kafka: %s (writes stalled for %lld s; see "
                               "docs/runbook.md, \"Kafka writes stalled\")\n",
                               vg_kafka_problem_text(pr), (long long)(stalled / 1000));
                return vg_http_reply(c, 503, text, body,
                                     len < 0 ? 0 : len >= 256 ? 255 : (size_t)len,
                                     MHD_RESPMEM_MUST_FREE);
            }
            return vg_http_reply(c, 503, text, (char *)w, strlen(w), MHD_RESPMEM_PERSISTENT);
        }
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *body = vg_metrics_render(h->p, &len);
        if (!body)
            return vg_http_reply(c, 500, text, "out of memory\n", 14, MHD_RESPMEM_PERSISTENT);
        return vg_http_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len,
                             MHD_RESPMEM_MUST_FREE);
    }
    return vg_http_reply(c, 404, text, "not found\n", 10, MHD_RESPMEM_PERSISTENT);
}

vg_http_t *vg_http_new(const char *bind, int port, vg_pipeline_t *p, char *errstr,
                       size_t errstr_size) {
    vg_http_t *h = calloc(1, sizeof(*h));
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    if (!h) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind, &sa.sin_addr) != 1) {
        vg_errstr_set(errstr, errstr_size, "http.bind: \"%s\" is not an IPv4 address", bind);
        free(h);
        return NULL;
    }
    h->p = p;
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
                            NULL, NULL, vg_http_handle, h, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!h->d) {
        vg_errstr_set(errstr, errstr_size, "http: cannot listen on %s:%d", bind, port);
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
}

int vg_http_port(const vg_http_t *h) { return h->port; }

void vg_http_destroy(vg_http_t *h) {
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
