/*
 * vigil-worker: consume interaction events, keep per-customer state in
 * Redis, publish intervention triggers. See README.md.
 *
 *   vigil-worker [--config FILE] [--set name=value]... [--embedded-kafka]
 *   vigil-worker --config-doc      print docs/configuration.md
 *   vigil-worker --check-config    validate, print the effective config
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_config.h"
#include "vg_http.h"
#include "vg_kafka_admin.h"
#include "vg_kafka_mock.h"
#include "vg_log.h"
#include "vg_pipeline.h"

extern char **environ;

/* Signal handlers only set flags (STYLE rule 7); the main loop acts. */
static volatile sig_atomic_t vg_sig_term, vg_sig_hup;

static void vg_on_term(int sig) {
    (void)sig;
    vg_sig_term = 1;
}

/* The drain deadline passed: leave now, loudly. Only async-signal-safe
 * calls here. The uncommitted batch is replayed by the next owner. */
static void vg_on_alarm(int sig) {
    static const char msg[] =
        "{\"level\":\"error\",\"component\":\"main\",\"msg\":\"drain deadline passed; exiting "
        "without a clean group leave\"}\n";
    (void)sig;
    if (write(2, msg, sizeof(msg) - 1) < 0) {
        /* nothing to do */
    }
    _exit(4);
}

static void vg_on_hup(int sig) {
    (void)sig;
    vg_sig_hup = 1;
}

static void vg_usage(FILE *out) {
    fprintf(out,
            "usage: vigil-worker [--config FILE] [--set name=value]... [--embedded-kafka]\n"
            "       vigil-worker --config-doc | --check-config [--config FILE]\n"
            "Environment overrides: VIGIL_<NAME>, VIGIL_KAFKA__<PROPERTY> "
            "(docs/configuration.md).\n");
}

/* The settings, in order: defaults, the file, the environment, --set.
 * The same path at start and on SIGHUP. Returns 0, or 2 with errstr. */
static int vg_load_settings(vg_config_t *cfg, const char *config_file, int argc, char **argv,
                            char *errstr, size_t errstr_size) {
    vg_config_defaults(cfg);
    if (config_file && vg_config_load_file(cfg, config_file, errstr, errstr_size))
        return 2;
    if (vg_config_load_env(cfg, environ, errstr, errstr_size))
        return 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            i++;
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            char kv[1024], *eq;
            snprintf(kv, sizeof(kv), "%s", argv[++i]);
            if (!(eq = strchr(kv, '='))) {
                vg_errstr_set(errstr, errstr_size, "--set %s: expected name=value", kv);
                return 2;
            }
            *eq = '\0';
            if (vg_config_set(cfg, kv, eq + 1, "--set", errstr, errstr_size))
                return 2;
        }
    }
    return 0;
}

/* The model of cfg: model.file, or the built-in default model. */
static vg_model_t *vg_load_model(const vg_config_t *cfg, char *errstr, size_t errstr_size) {
    vg_model_t *m = malloc(sizeof(*m));

    if (!m) {
        vg_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (vg_model_load_or_default(m, cfg->model_file, errstr, errstr_size)) {
        free(m);
        return NULL;
    }
    return m;
}

/* SIGHUP: read the settings and the model again; apply what can change
 * while running (the model, log.level), all or nothing. A setting that
 * needs a restart is reported and left as it is. */
static void vg_reload(vg_pipeline_t *p, vg_log_t *log, const vg_config_t *running,
                      const char *config_file, int argc, char **argv) {
    char errstr[1024];
    vg_config_t *cfg = malloc(sizeof(*cfg));
    vg_model_t *m = NULL;
    vg_pipeline_stats_t *st = vg_pipeline_stats(p);

    if (!cfg) {
        VG_ERROR(log, "main", "SIGHUP: out of memory; nothing reloaded");
        return;
    }
    if (vg_load_settings(cfg, config_file, argc, argv, errstr, sizeof(errstr)) ||
        vg_config_validate(cfg, errstr, sizeof(errstr)) ||
        !(m = vg_load_model(cfg, errstr, sizeof(errstr)))) {
        atomic_fetch_add(&st->model_reload_errors, 1);
        VG_ERROR(log, "main", "SIGHUP: refused, still running the previous model and settings: %s",
                 errstr);
        free(cfg);
        return;
    }
    if (!cfg->worker_id[0]) /* derived at start, not configured */
        memcpy(cfg->worker_id, running->worker_id, sizeof(cfg->worker_id));
    vg_log_set_level(log, (vg_log_level_t)vg_log_level_parse(cfg->log_level));
    vg_pipeline_set_model(p, m);
    atomic_fetch_add(&st->model_reloads, 1);
    VG_INFO(log, "main", "SIGHUP: model %s version %s from %s loaded; in effect from the next batch",
            m->id, m->version, cfg->model_file[0] ? cfg->model_file : "(built-in)");
    if (vg_config_differs_static(running, cfg, errstr, sizeof(errstr)))
        VG_WARN(log, "main", "SIGHUP: %s changed; takes effect at the next restart", errstr);
    free(m);
    free(cfg);
}

int main(int argc, char **argv) {
    vg_config_t cfg;
    char errstr[1024];
    const char *config_file = NULL;
    bool embedded = false, check = false;
    vg_kafka_mock_t *mock = NULL;
    vg_pipeline_t *p;
    vg_http_t *http = NULL;
    vg_log_t *log;
    vg_err_t err = VG_OK;
    struct sigaction sa;

    vg_model_t *model = NULL;

    /* First pass: the file, so later --set and env override it. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config_file = argv[++i];
        else if (!strcmp(argv[i], "--config-doc")) {
            vg_config_doc(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            vg_usage(stdout);
            return 0;
        }
    }
    if (vg_load_settings(&cfg, config_file, argc, argv, errstr, sizeof(errstr))) {
        fprintf(stderr, "vigil-worker: %s\n", errstr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--set")) {
            i++;
        } else if (!strcmp(argv[i], "--embedded-kafka")) {
            embedded = true;
        } else if (!strcmp(argv[i], "--check-config")) {
            check = true;
        } else {
            fprintf(stderr, "vigil-worker: unknown argument %s\n", argv[i]);
            vg_usage(stderr);
            return 2;
        }
    }

    if (embedded) {
        /* The in-process mock cluster (no JVM): for the demo only. It
         * cannot store transactional offsets, hence at_least_once. */
        mock = vg_kafka_mock_new(1, errstr, sizeof(errstr));
        if (!mock) {
            fprintf(stderr, "vigil-worker: embedded kafka: %s\n", errstr);
            return 1;
        }
        vg_kafka_mock_create_topic(mock, cfg.topic_events, 4, 1);
        vg_kafka_mock_create_topic(mock, cfg.topic_triggers, 4, 1);
        vg_kafka_mock_create_topic(mock, cfg.topic_dead_letter, 1, 1);
        vg_config_set(&cfg, "kafka.bootstrap.servers", vg_kafka_mock_bootstrap(mock), "embedded",
                      NULL, 0);
        cfg.delivery = VG_DELIVERY_AT_LEAST_ONCE;
        printf("embedded kafka: %s\n", vg_kafka_mock_bootstrap(mock));
        fflush(stdout);
    }
    if (vg_config_validate(&cfg, errstr, sizeof(errstr))) {
        fprintf(stderr, "vigil-worker: %s\n", errstr);
        vg_kafka_mock_destroy(mock);
        return 2;
    }
    /* A model that does not load is refused here, with its line. */
    if (!(model = vg_load_model(&cfg, errstr, sizeof(errstr)))) {
        fprintf(stderr, "vigil-worker: model: %s\n", errstr);
        vg_kafka_mock_destroy(mock);
        return 2;
    }
    if (check) {
        vg_config_dump(&cfg, stdout);
        printf("model: %s version %s (%s)\n", model->id, model->version,
               cfg.model_file[0] ? cfg.model_file : "built-in");
        free(model);
        vg_kafka_mock_destroy(mock);
        return 0;
    }

    if (!cfg.worker_id[0]) {
        char host[64] = "worker";
        gethostname(host, sizeof(host) - 1);
        snprintf(cfg.worker_id, sizeof(cfg.worker_id), "%s-%d", host, (int)getpid());
    }
    log = vg_log_new(cfg.worker_id, (vg_log_level_t)vg_log_level_parse(cfg.log_level));
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = vg_on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = vg_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    p = vg_pipeline_new(&cfg, model, log, errstr, sizeof(errstr));
    free(model);
    if (!p) {
        VG_ERROR(log, "main", "start failed: %s", errstr);
        vg_log_destroy(log);
        vg_kafka_mock_destroy(mock);
        return 1;
    }
    if (cfg.http_port > 0) {
        http = vg_http_new(cfg.http_bind, (int)cfg.http_port, p, errstr, sizeof(errstr));
        if (!http) {
            VG_ERROR(log, "main", "%s", errstr);
            vg_pipeline_destroy(p);
            vg_log_destroy(log);
            vg_kafka_mock_destroy(mock);
            return 1;
        }
        VG_INFO(log, "main", "http on %s:%d (/metrics, /healthz, /readyz)", cfg.http_bind,
                vg_http_port(http));
    }
    while (!vg_sig_term) {
        if (vg_sig_hup) {
            vg_sig_hup = 0;
            vg_reload(p, log, &cfg, config_file, argc, argv);
        }
        if ((err = vg_pipeline_run_once(p)) == VG_ERR_FENCED)
            break;
    }
    VG_INFO(log, "main", "%s: draining (deadline %lld ms)", vg_sig_term ? "SIGTERM" : "fenced",
            (long long)cfg.drain_timeout_ms);
    /* The batch in flight is finished (run_once returned); leaving the group
     * must not take longer than the orchestrator's grace period. */
    sa.sa_handler = vg_on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)((cfg.drain_timeout_ms + 999) / 1000));
    vg_http_destroy(http);
    vg_pipeline_destroy(p); /* leaves the group: partitions move at once */
    alarm(0);
    VG_INFO(log, "main", "stopped");
    vg_log_destroy(log);
    vg_kafka_mock_destroy(mock);
    return err == VG_ERR_FENCED ? 3 : 0;
}
