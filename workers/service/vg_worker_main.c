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
#include "vg_sign.h"

extern char **environ;

/* Signal handlers only set flags (STYLE rule 7); the main loop acts. */
static volatile sig_atomic_t vg_sig_term, vg_sig_hup;
/* The running pipeline: SIGTERM stops it at once, even inside a wait
 * (for Redis, say), not only between batches. */
static vg_pipeline_t *volatile vg_running;
/* shutdown.drain_timeout_ms in whole seconds: the drain's hard limit,
 * armed by the first SIGTERM itself, so that a batch stuck in a wait
 * (Kafka down) counts against it too. */
static volatile unsigned vg_drain_alarm_s;

static volatile sig_atomic_t vg_serving; /* the pipeline has started */
static void vg_on_alarm(int sig);

static void vg_on_term(int sig) {
    (void)sig;
    if (vg_drain_alarm_s && !vg_serving) {
        /* Still starting (a wait for Kafka in init_transactions, say):
         * nothing consumed, nothing committed, nothing to drain. */
        vg_on_alarm(SIGTERM);
    }
    if (!vg_sig_term && vg_drain_alarm_s)
        alarm(vg_drain_alarm_s); /* async-signal-safe */
    vg_sig_term = 1;
    if (vg_running)
        vg_pipeline_stop(vg_running); /* atomic stores: async-signal-safe */
}

/* The drain deadline passed: leave now, loudly. Only async-signal-safe
 * calls here. The uncommitted batch is replayed by the next owner. */
static void vg_on_alarm(int sig) {
    static const char msg[] =
        "{\"level\":\"error\",\"component\":\"main\",\"msg\":\"drain deadline passed; exiting "
        "without a clean group leave\"}\n";
    static const char early[] =
        "{\"level\":\"info\",\"component\":\"main\",\"msg\":\"SIGTERM during start-up: stopped "
        "while still connecting (Kafka or Redis unreachable?); nothing was processed\"}\n";
    (void)sig;
    if (!vg_serving) {
        /* Nothing consumed, nothing committed: a clean stop. */
        if (write(2, early, sizeof(early) - 1) < 0) {
            /* nothing to do */
        }
        _exit(0);
    }
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
    vg_sign_keys_t *keys = NULL;
    vg_pipeline_stats_t *st = vg_pipeline_stats(p);

    if (!cfg) {
        VG_ERROR(log, "main", "SIGHUP: out of memory; nothing reloaded");
        return;
    }
    if (vg_load_settings(cfg, config_file, argc, argv, errstr, sizeof(errstr)) ||
        vg_config_validate(cfg, errstr, sizeof(errstr)) ||
        !(m = vg_load_model(cfg, errstr, sizeof(errstr))) ||
        (cfg->signing_keys_file[0] &&
         !(keys = vg_sign_keys_load(cfg->signing_keys_file, errstr, sizeof(errstr))))) {
        atomic_fetch_add(&st->model_reload_errors, 1);
        VG_ERROR(log, "main", "SIGHUP: refused, still running the previous model and settings: %s",
                 errstr);
        free(m);
        free(cfg);
        return;
    }
    /* The signing keys are read again at every SIGHUP (a rotation adds a
     * key in place), all or nothing with the model. */
    vg_pipeline_set_signer(p, keys);
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

/* What the command line asked for, besides settings. */
typedef struct vg_main_s {
    const char *config_file;
    bool embedded, check;
    int argc;
    char **argv;
    vg_config_t cfg;
    vg_kafka_mock_t *mock;
    vg_log_t *log;
    bool draining;
} vg_main_t;

/* Parse the command line and load the settings. Returns -1 to go on, or
 * the exit status. */
static int vg_main_args(vg_main_t *w) {
    char errstr[1024];

    /* First pass: the file, so later --set and env override it. */
    for (int i = 1; i < w->argc; i++) {
        if (!strcmp(w->argv[i], "--config") && i + 1 < w->argc) {
            w->config_file = w->argv[++i];
        } else if (!strcmp(w->argv[i], "--config-doc")) {
            vg_config_doc(stdout);
            return 0;
        } else if (!strcmp(w->argv[i], "--help") || !strcmp(w->argv[i], "-h")) {
            vg_usage(stdout);
            return 0;
        }
    }
    if (vg_load_settings(&w->cfg, w->config_file, w->argc, w->argv, errstr, sizeof(errstr))) {
        fprintf(stderr, "vigil-worker: %s\n", errstr);
        return 2;
    }
    for (int i = 1; i < w->argc; i++) {
        if (!strcmp(w->argv[i], "--config") || !strcmp(w->argv[i], "--set")) {
            i++;
        } else if (!strcmp(w->argv[i], "--embedded-kafka")) {
            w->embedded = true;
        } else if (!strcmp(w->argv[i], "--check-config")) {
            w->check = true;
        } else {
            fprintf(stderr, "vigil-worker: unknown argument %s\n", w->argv[i]);
            vg_usage(stderr);
            return 2;
        }
    }
    return -1;
}

/* The in-process mock cluster (no JVM): for the demo only. It cannot
 * store transactional offsets, hence at_least_once. */
static int vg_main_embedded(vg_main_t *w) {
    char errstr[512];

    if (!(w->mock = vg_kafka_mock_new(1, errstr, sizeof(errstr)))) {
        fprintf(stderr, "vigil-worker: embedded kafka: %s\n", errstr);
        return 1;
    }
    vg_kafka_mock_create_topic(w->mock, w->cfg.topic_events, 4, 1);
    vg_kafka_mock_create_topic(w->mock, w->cfg.topic_triggers, 4, 1);
    vg_kafka_mock_create_topic(w->mock, w->cfg.topic_dead_letter, 1, 1);
    vg_config_set(&w->cfg, "kafka.bootstrap.servers", vg_kafka_mock_bootstrap(w->mock),
                  "embedded", NULL, 0);
    w->cfg.delivery = VG_DELIVERY_AT_LEAST_ONCE;
    printf("embedded kafka: %s\n", vg_kafka_mock_bootstrap(w->mock));
    fflush(stdout);
    return -1;
}

static void vg_main_signals(void) {
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = vg_on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = vg_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = vg_on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The batch in flight is finished; leaving the group and shutting down
 * must not take longer than the orchestrator's grace period. */
static void vg_main_drain(vg_main_t *w, const char *why) {
    if (w->draining)
        return;
    w->draining = true;
    VG_INFO(w->log, "main", "%s: draining (deadline %lld ms)", why,
            (long long)w->cfg.drain_timeout_ms);
    if (!vg_sig_term) /* a SIGTERM armed it already, at its arrival */
        alarm((unsigned)((w->cfg.drain_timeout_ms + 999) / 1000));
}

/* Between batches: SIGHUP reloads, SIGTERM starts the drain. */
static void vg_main_between(vg_pipeline_t *p, void *opaque) {
    vg_main_t *w = opaque;

    if (vg_sig_hup) {
        vg_sig_hup = 0;
        vg_reload(p, w->log, &w->cfg, w->config_file, w->argc, w->argv);
    }
    if (vg_sig_term) {
        vg_main_drain(w, "SIGTERM");
        vg_pipeline_stop(p);
    }
}

/* Start the pipeline and the HTTP side port, run until stopped, drain. */
static int vg_main_serve(vg_main_t *w, const vg_model_t *model) {
    char errstr[1024];
    vg_http_t *http = NULL;
    vg_pipeline_t *p;
    vg_err_t err;

    /* A SIGTERM from here on arms the drain alarm, start-up included (the
     * producer's init_transactions waits for Kafka). */
    vg_drain_alarm_s = (unsigned)((w->cfg.drain_timeout_ms + 999) / 1000);
    if (vg_sig_term) {
        VG_INFO(w->log, "main", "SIGTERM before start: not starting");
        return 0;
    }
    if (!(p = vg_pipeline_new(&w->cfg, model, w->log, errstr, sizeof(errstr)))) {
        VG_ERROR(w->log, "main", "start failed: %s", errstr);
        return 1;
    }
    if (w->cfg.http_port > 0) {
        http = vg_http_new(w->cfg.http_bind, (int)w->cfg.http_port, p, errstr, sizeof(errstr));
        if (!http) {
            VG_ERROR(w->log, "main", "%s", errstr);
            vg_pipeline_destroy(p);
            return 1;
        }
        VG_INFO(w->log, "main", "http on %s:%d (/metrics, /healthz, /readyz)", w->cfg.http_bind,
                vg_http_port(http));
    }
    vg_serving = 1;
    vg_running = p;
    if (vg_sig_term)
        vg_pipeline_stop(p);
    err = vg_pipeline_run(p, vg_main_between, w);
    vg_running = NULL;
    vg_main_drain(w, err == VG_ERR_FENCED ? "fenced" : "SIGTERM");
    vg_http_destroy(http);
    vg_pipeline_destroy(p);
    alarm(0);
    VG_INFO(w->log, "main", "stopped");
    return err == VG_ERR_FENCED ? 3 : 0;
}

int main(int argc, char **argv) {
    static vg_main_t w;
    char errstr[1024];
    vg_model_t *model;
    int rc;

    w.argc = argc;
    w.argv = argv;
    if ((rc = vg_main_args(&w)) >= 0 || (w.embedded && (rc = vg_main_embedded(&w)) >= 0))
        return rc;
    if (vg_config_validate(&w.cfg, errstr, sizeof(errstr))) {
        fprintf(stderr, "vigil-worker: %s\n", errstr);
        vg_kafka_mock_destroy(w.mock);
        return 2;
    }
    /* A model that does not load is refused here, with its line. */
    if (!(model = vg_load_model(&w.cfg, errstr, sizeof(errstr)))) {
        fprintf(stderr, "vigil-worker: model: %s\n", errstr);
        vg_kafka_mock_destroy(w.mock);
        return 2;
    }
    if (w.check) {
        vg_config_dump(&w.cfg, stdout);
        printf("model: %s version %s (%s)\n", model->id, model->version,
               w.cfg.model_file[0] ? w.cfg.model_file : "built-in");
        rc = 0;
    } else {
        vg_config_derive_worker_id(&w.cfg);
        w.log = vg_log_new(w.cfg.worker_id, (vg_log_level_t)vg_log_level_parse(w.cfg.log_level));
        vg_main_signals();
        rc = vg_main_serve(&w, model);
        vg_log_destroy(w.log);
    }
    free(model);
    vg_kafka_mock_destroy(w.mock);
    return rc;
}
