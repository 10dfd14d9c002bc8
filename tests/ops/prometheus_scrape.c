/*
 * prometheus_scrape: a real Prometheus (Debian's package) scrapes a real
 * vigil-worker that runs against the stack's Apache Kafka and redis-server;
 * known traffic goes in, and the counters Prometheus reports through its
 * query API (/api/v1/query) must equal what was sent.
 *
 * Asserts, through Prometheus:
 *   - up{job="vigil-worker"} is 1 (the scrape works);
 *   - vigil_events_consumed_total     == records produced;
 *   - vigil_events_dead_lettered_total == malformed records produced;
 *   - sum(vigil_triggers_total)        == the oracle's triggers, which are
 *     also the distinct trigger ids read back from the triggers topic;
 *   - vigil_transactions_total{outcome="aborted"} == 0 (no fault injected);
 *   - ops/prometheus/alerts.yml loads into this Prometheus, and the
 *     VigilDeadLetters alert fires after the malformed records;
 *   - SIGHUP with a broken model file: vigil_model_reload_errors_total is
 *     1 and VigilModelReloadFailed fires; SIGHUP with a new version of the
 *     model: vigil_model_reloads_total is 1 and vigil_model_info carries
 *     the new version.
 * Then the worker drains and exits 0 on SIGTERM, and Prometheus is stopped
 * by its pid.
 *
 *   prometheus_scrape [records]          (default 5000)
 *
 * Environment: VIGIL_STACK_ENV, VIGIL_WORKER_BIN, VIGIL_REPO (ctest sets
 * them); VIGIL_PROMETHEUS_BIN (default: prometheus on PATH). Without a
 * stack or a prometheus binary the test exits 77 (skipped).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vg_itest.h"

#define VG_SCRAPE_JOB "vigil-worker"

/* GET http://127.0.0.1:port/path (HTTP/1.0, so the server closes). Returns
 * the status code and the body in *body (caller frees), or -1. */
static int vg_http_get(int port, const char *path, char **body) {
    struct sockaddr_in sa;
    struct timeval tv = {5, 0};
    char req[4096];
    char *buf = NULL, *hdr_end;
    size_t len = 0, cap = 0;
    int fd, status = -1, n;

    *body = NULL;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    if (n <= 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r;
        if (len + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 8192);
            if (!nb)
                break;
            buf = nb;
        }
        r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf)
        return -1;
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/%*s %d", &status) != 1 || !(hdr_end = strstr(buf, "\r\n\r\n"))) {
        free(buf);
        return -1;
    }
    memmove(buf, hdr_end + 4, len - (size_t)(hdr_end + 4 - buf) + 1);
    *body = buf;
    return status;
}

static void vg_urlencode(const char *in, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in && o + 4 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* One instant query through Prometheus' HTTP API. Returns the value of
 * the single result, NAN if the result is empty, or -INFINITY if the query
 * failed (printed). */
static double vg_prom_query(int port, const char *promql) {
    char path[2048], enc[1800], *body = NULL;
    json_t *root;
    json_error_t jerr;
    double v = -INFINITY;
    int status;

    vg_urlencode(promql, enc, sizeof(enc));
    snprintf(path, sizeof(path), "/api/v1/query?query=%s", enc);
    status = vg_http_get(port, path, &body);
    if (status != 200 || !body) {
        /* -1: not listening yet (Prometheus starting); not worth a line. */
        if (status != -1)
            fprintf(stderr, "query %s: HTTP %d %s\n", promql, status, body ? body : "");
        free(body);
        return v;
    }
    root = json_loads(body, 0, &jerr);
    free(body);
    if (!root) {
        fprintf(stderr, "query %s: bad JSON: %s\n", promql, jerr.text);
        return v;
    }
    {
        json_t *result = json_object_get(json_object_get(root, "data"), "result");
        if (!json_is_array(result)) {
            fprintf(stderr, "query %s: no data.result\n", promql);
        } else if (json_array_size(result) == 0) {
            v = NAN;
        } else {
            const char *s = json_string_value(
                json_array_get(json_object_get(json_array_get(result, 0), "value"), 1));
            v = s ? strtod(s, NULL) : -INFINITY;
        }
    }
    json_decref(root);
    return v;
}

/* The state ("firing", "pending") of alert name in Prometheus, or "". */
static void vg_prom_alert_state(int port, const char *name, char *state, size_t cap) {
    char *body = NULL;
    json_t *root, *alerts;
    size_t i;

    state[0] = '\0';
    if (vg_http_get(port, "/api/v1/alerts", &body) != 200 || !body) {
        free(body);
        return;
    }
    root = json_loads(body, 0, NULL);
    free(body);
    alerts = json_object_get(json_object_get(root, "data"), "alerts");
    for (i = 0; json_is_array(alerts) && i < json_array_size(alerts); i++) {
        json_t *a = json_array_get(alerts, i);
        const char *n = json_string_value(json_object_get(json_object_get(a, "labels"), "alertname"));
        if (n && !strcmp(n, name)) {
            snprintf(state, cap, "%s", json_string_value(json_object_get(a, "state")));
            if (!strcmp(state, "firing"))
                break;
        }
    }
    json_decref(root);
}

/* Number of rules Prometheus loaded, or -1. */
static int vg_prom_rule_count(int port) {
    char *body = NULL;
    json_t *root, *groups;
    int n = 0;

    if (vg_http_get(port, "/api/v1/rules", &body) != 200 || !body) {
        free(body);
        return -1;
    }
    root = json_loads(body, 0, NULL);
    free(body);
    groups = json_object_get(json_object_get(root, "data"), "groups");
    for (size_t i = 0; json_is_array(groups) && i < json_array_size(groups); i++)
        n += (int)json_array_size(json_object_get(json_array_get(groups, i), "rules"));
    json_decref(root);
    return root ? n : -1;
}

static bool vg_find_on_path(const char *name, char *out, size_t cap) {
    const char *path = getenv("PATH");
    char dir[1024];

    while (path && *path) {
        size_t n = strcspn(path, ":");
        int w = snprintf(dir, sizeof(dir), "%.*s", (int)n, path);
        if (w >= 0 && (size_t)w < sizeof(dir)) {
            w = snprintf(out, cap, "%s/%s", dir[0] ? dir : ".", name);
            if (w >= 0 && (size_t)w < cap && access(out, X_OK) == 0)
                return true;
        }
        path += n + (path[n] == ':');
    }
    return false;
}

/* Start Prometheus, tied to this thread (SIGKILLed if the test dies). */
static pid_t vg_prom_start(const char *bin, const char *dir, int port) {
    char a_cfg[1600], a_data[1600], a_listen[64], logpath[1600];
    pid_t pid;

    snprintf(a_cfg, sizeof(a_cfg), "--config.file=%s/prometheus.yml", dir);
    snprintf(a_data, sizeof(a_data), "--storage.tsdb.path=%s/data", dir);
    snprintf(a_listen, sizeof(a_listen), "--web.listen-address=127.0.0.1:%d", port);
    snprintf(logpath, sizeof(logpath), "%s/prometheus.log", dir);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int fd;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(127);
        fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(bin, bin, a_cfg, a_data, a_listen, "--storage.tsdb.retention.time=1h",
              "--log.level=info", (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    printf("started prometheus (pid %d) on 127.0.0.1:%d, log %s\n", (int)pid, port, logpath);
    return pid;
}

/* Read a whole file (caller frees), or NULL. */
static char *vg_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* Replace path's content atomically (write a temporary, rename), as a
 * ConfigMap update or a deploy tool does: the worker never reads half a
 * file. */
static bool vg_write_file(const char *path, const char *a, size_t alen, const char *b) {
    char tmp[1700];
    FILE *f;
    bool ok;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp) || !(f = fopen(tmp, "wb")))
        return false;
    ok = fwrite(a, 1, alen, f) == alen && fputs(b, f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0;
}

/* Wait until alert name is firing in Prometheus. */
static bool vg_prom_wait_firing(int port, const char *name, int timeout_ms) {
    long long deadline = vg_itest_now_ms() + timeout_ms;
    char state[32] = "";

    while (vg_itest_now_ms() < deadline) {
        vg_prom_alert_state(port, name, state, sizeof(state));
        if (!strcmp(state, "firing"))
            break;
        usleep(250000); /* rule evaluations are periodic */
    }
    printf("alert %s: %s\n", name, state[0] ? state : "(inactive)");
    return !strcmp(state, "firing");
}

/* Poll until the query returns want (or timeout). Returns the last value. */
static double vg_prom_wait(int port, const char *promql, double want, int timeout_ms) {
    long long deadline = vg_itest_now_ms() + timeout_ms;
    double v;

    for (;;) {
        v = vg_prom_query(port, promql);
        if (v == want || vg_itest_now_ms() >= deadline)
            return v;
        /* A new sample lands every scrape (1 s): nothing to wait on but time. */
        usleep(250000);
    }
}

int main(int argc, char **argv) {
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000;
    const char *repo = getenv("VIGIL_REPO"), *prom_env = getenv("VIGIL_PROMETHEUS_BIN");
    char prom_bin[1024], dir[1400], cfgpath[1500], port_set[64];
    char model_path[1500], model_set[1600], model_src[1200], *model_text;
    char q_up[128], q_consumed[128], q_dlq[128], q_trig[128], q_aborted[160], q_committed[160];
    const char *extra_sets[] = {port_set,   "http.bind=127.0.0.1", "delivery.mode=exactly_once",
                                "batch.max_events=200", "log.level=info", model_set, NULL};
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0}, got = {0};
    vg_itest_produced_t prod;
    int http_port, prom_port, failures = 0, rules, rc;
    double up, consumed, dlq, trig, aborted, committed;
    pid_t worker, prom;
    FILE *f;
    long long t0 = vg_itest_now_ms();

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (prom_env && *prom_env)
        snprintf(prom_bin, sizeof(prom_bin), "%s", prom_env);
    if ((prom_env && *prom_env) ? access(prom_bin, X_OK) != 0
                                : !vg_find_on_path("prometheus", prom_bin, sizeof(prom_bin))) {
        printf("SKIP prometheus_scrape: no prometheus binary (Debian package prometheus; "
               "ops/setup.sh installs it)\n");
        return VG_ITEST_SKIP;
    }
    if (vg_itest_init(&t, "scrape"))
        return VG_ITEST_SKIP;
    if (!repo) {
        fprintf(stderr, "FAIL: VIGIL_REPO is not set (the alert rules are read from it)\n");
        return 1;
    }
    vg_itest_create_topics(&t, 2, 1);

    http_port = vg_itest_free_port();
    prom_port = vg_itest_free_port();
    if (http_port < 0 || prom_port < 0 || http_port == prom_port) {
        fprintf(stderr, "FAIL: no free loopback ports\n");
        return 1;
    }
    snprintf(port_set, sizeof(port_set), "http.port=%d", http_port);

    /* Prometheus' own folder: config, TSDB and log, under the stack's. */
    snprintf(dir, sizeof(dir), "%s/prometheus-%s", t.stack_dir[0] ? t.stack_dir : "/tmp",
             t.suffix);
    if (mkdir(dir, 0755) != 0) {
        fprintf(stderr, "FAIL: mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    snprintf(cfgpath, sizeof(cfgpath), "%s/prometheus.yml", dir);
    if (!(f = fopen(cfgpath, "w"))) {
        fprintf(stderr, "FAIL: %s: %s\n", cfgpath, strerror(errno));
        return 1;
    }
    fprintf(f,
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 900ms\n"
            "  evaluation_interval: 1s\n"
            "rule_files:\n"
            "  - %s/ops/prometheus/alerts.yml\n"
            "scrape_configs:\n"
            "  - job_name: " VG_SCRAPE_JOB "\n"
            "    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n",
            repo, http_port);
    fclose(f);

    /* The worker reads its model from a file of its own, as in a pod
     * (model.file), so the test can change it and send SIGHUP. */
    snprintf(model_src, sizeof(model_src), "%s/workers/models/default.yaml", repo);
    snprintf(model_path, sizeof(model_path), "%s/model.yaml", dir);
    snprintf(model_set, sizeof(model_set), "model.file=%s", model_path);
    if (!(model_text = vg_read_file(model_src)) ||
        !vg_write_file(model_path, model_text, strlen(model_text), "")) {
        fprintf(stderr, "FAIL: cannot copy %s to %s\n", model_src, model_path);
        return 1;
    }

    {
        vg_itest_traffic_t tr = {5, 400, count, 0, 0.10, 0.01};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }

    worker = vg_itest_worker_spawn(&t, "w1", extra_sets);
    prom = vg_prom_start(prom_bin, dir, prom_port);

    snprintf(q_up, sizeof(q_up), "sum(up{job=\"%s\"})", VG_SCRAPE_JOB);
    snprintf(q_consumed, sizeof(q_consumed), "sum(vigil_events_consumed_total{job=\"%s\"})",
             VG_SCRAPE_JOB);
    snprintf(q_dlq, sizeof(q_dlq), "sum(vigil_events_dead_lettered_total{job=\"%s\"})",
             VG_SCRAPE_JOB);
    snprintf(q_trig, sizeof(q_trig), "sum(vigil_triggers_total{job=\"%s\"})", VG_SCRAPE_JOB);
    snprintf(q_aborted, sizeof(q_aborted),
             "sum(vigil_transactions_total{job=\"%s\",outcome=\"aborted\"})", VG_SCRAPE_JOB);
    snprintf(q_committed, sizeof(q_committed),
             "sum(vigil_transactions_total{job=\"%s\",outcome=\"committed\"})", VG_SCRAPE_JOB);

    /* Prometheus is up and has scraped the worker once: the baseline. */
    up = vg_prom_wait(prom_port, q_up, 1, 30000);
    if (up != 1) {
        fprintf(stderr, "FAIL: Prometheus reports up=%g for the worker after 30 s (see %s)\n", up,
                dir);
        vg_itest_worker_stop(worker, SIGKILL, 5000);
        vg_itest_worker_stop(prom, SIGTERM, 10000);
        return 1;
    }
    consumed = vg_prom_query(prom_port, q_consumed);
    printf("prometheus scrapes the worker (up=1) after %.1f s; consumed before traffic: %g\n",
           (vg_itest_now_ms() - t0) / 1000.0, consumed);
    if (consumed != 0) {
        fprintf(stderr, "FAIL: the worker counted events before any was sent\n");
        failures++;
    }
    rules = vg_prom_rule_count(prom_port);
    printf("prometheus loaded %d rules from ops/prometheus/alerts.yml\n", rules);
    if (rules <= 0) {
        fprintf(stderr, "FAIL: the alert rules did not load into Prometheus\n");
        failures++;
    }

    vg_itest_produce(&t, gen, count, oracle, &want, &prod);
    printf("sent %zu records (%zu malformed); oracle: %zu triggers\n", prod.records,
           prod.malformed, prod.expected_triggers);
    if (prod.malformed == 0 || prod.expected_triggers == 0) {
        fprintf(stderr, "FAIL: the traffic must hold malformed records and fire triggers\n");
        failures++;
    }
    if (!vg_itest_wait_committed(&t, 90000)) {
        fprintf(stderr, "FAIL: the worker did not commit every record in 90 s\n");
        failures++;
    }
    vg_itest_read_triggers(&t, &got, want.n, 1000, 30000);
    vg_idset_dedupe(&want);
    vg_idset_dedupe(&got);
    printf("triggers topic: %zu distinct trigger ids (oracle %zu)\n", got.n, want.n);

    /* Every record is committed, so the worker's counters are final; wait
     * for a scrape to carry them into Prometheus. */
    consumed = vg_prom_wait(prom_port, q_consumed, (double)prod.records, 20000);
    dlq = vg_prom_wait(prom_port, q_dlq, (double)prod.malformed, 10000);
    trig = vg_prom_wait(prom_port, q_trig, (double)prod.expected_triggers, 10000);
    aborted = vg_prom_query(prom_port, q_aborted);
    committed = vg_prom_query(prom_port, q_committed);
    printf("prometheus /api/v1/query: consumed=%g (sent %zu), dead_lettered=%g (malformed %zu), "
           "triggers=%g (oracle %zu, topic %zu), transactions committed=%g aborted=%g\n",
           consumed, prod.records, dlq, prod.malformed, trig, prod.expected_triggers, got.n,
           committed, aborted);
    if (consumed != (double)prod.records) {
        fprintf(stderr, "FAIL: vigil_events_consumed_total != records sent\n");
        failures++;
    }
    if (dlq != (double)prod.malformed) {
        fprintf(stderr, "FAIL: vigil_events_dead_lettered_total != malformed records sent\n");
        failures++;
    }
    if (trig != (double)prod.expected_triggers || got.n != want.n) {
        fprintf(stderr, "FAIL: vigil_triggers_total, the oracle and the triggers topic disagree\n");
        failures++;
    }
    if (aborted != 0 || !(committed > 0)) {
        fprintf(stderr, "FAIL: expected committed transactions and no aborted one\n");
        failures++;
    }

    /* The alert on dead letters has no `for`: it fires at the next rule
     * evaluation (1 s) that sees the increase. */
    if (!vg_prom_wait_firing(prom_port, "VigilDeadLetters", 20000)) {
        fprintf(stderr, "FAIL: VigilDeadLetters did not fire after %zu dead letters\n",
                prod.malformed);
        failures++;
    }

    /* A broken model and SIGHUP: refused, counted, alerted; then a good
     * model with a new version and SIGHUP: loaded, and visible. */
    {
        static const char broken[] = "id: broken\nversion: [\n";
        char q[256];
        const char *ver = strstr(model_text, "\nversion:");
        double errors, reloads, info;

        if (!ver || !vg_write_file(model_path, broken, strlen(broken), "")) {
            fprintf(stderr, "FAIL: cannot write the broken model\n");
            return 1;
        }
        kill(worker, SIGHUP);
        snprintf(q, sizeof(q), "sum(vigil_model_reload_errors_total{job=\"%s\"})", VG_SCRAPE_JOB);
        errors = vg_prom_wait(prom_port, q, 1, 15000);
        printf("SIGHUP with a broken model: vigil_model_reload_errors_total=%g\n", errors);
        if (errors != 1) {
            fprintf(stderr, "FAIL: the refused reload is not counted once\n");
            failures++;
        }
        if (!vg_prom_wait_firing(prom_port, "VigilModelReloadFailed", 20000)) {
            fprintf(stderr, "FAIL: VigilModelReloadFailed did not fire\n");
            failures++;
        }
        /* Same model, version "scrape-reload". */
        if (!vg_write_file(model_path, model_text, (size_t)(ver - model_text) + 1,
                           "version: \"scrape-reload\"\n") ||
            !(f = fopen(model_path, "ab"))) {
            fprintf(stderr, "FAIL: cannot write the new model\n");
            return 1;
        }
        fputs(strchr(ver + 1, '\n') + 1, f);
        fclose(f);
        kill(worker, SIGHUP);
        snprintf(q, sizeof(q), "sum(vigil_model_reloads_total{job=\"%s\"})", VG_SCRAPE_JOB);
        reloads = vg_prom_wait(prom_port, q, 1, 15000);
        snprintf(q, sizeof(q),
                 "sum(vigil_model_info{job=\"%s\",model_version=\"scrape-reload\"})",
                 VG_SCRAPE_JOB);
        info = vg_prom_wait(prom_port, q, 1, 15000);
        printf("SIGHUP with version scrape-reload: vigil_model_reloads_total=%g, "
               "vigil_model_info{model_version=\"scrape-reload\"}=%g\n",
               reloads, info);
        if (reloads != 1 || info != 1) {
            fprintf(stderr, "FAIL: the new model is not reported as loaded\n");
            failures++;
        }
    }

    rc = vg_itest_worker_stop(worker, SIGTERM, 30000);
    printf("worker exited with %d on SIGTERM\n", rc);
    if (rc != 0) {
        fprintf(stderr, "FAIL: the worker did not drain and exit 0\n");
        failures++;
    }
    rc = vg_itest_worker_stop(prom, SIGTERM, 15000);
    printf("prometheus exited with %d on SIGTERM\n", rc);
    vg_idset_free(&want);
    vg_idset_free(&got);
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    free(model_text);
    printf("took %.1f s; files in %s\n", (vg_itest_now_ms() - t0) / 1000.0, dir);
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
