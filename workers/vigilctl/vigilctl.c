/*
 * vigilctl - the operator's and analyst's tool.
 *
 *   vigilctl [--config FILE] [--set name=value]... COMMAND [options]
 *
 *   produce [--file F]          JSON lines (one InteractionEvent each) to
 *                               topic.events, keyed by customer_id
 *   gen [--events N] [--customers N] [--seed N] [--rate N/s]
 *       [--trouble-rate X] [--malformed-rate X]
 *                               synthetic traffic to topic.events
 *   tail [--topic T] [--max N] [--timeout-ms N]
 *                               triggers as JSON lines, from the start
 *   state CUSTOMER [--tenant T] a customer's Redis state as JSON
 *   topics [--partitions N] [--replication N]
 *                               create the events, triggers and
 *                               dead-letter topics
 *   demo [--events N] [--kafka BOOTSTRAP]
 *                               run a worker in-process against the
 *                               embedded mock Kafka (or a real one), drive
 *                               generated traffic through it, summarise
 *
 * Connection settings come from the same configuration as the worker
 * (docs/configuration.md): kafka.bootstrap.servers, topic.*, redis.*,
 * pseudonym.key.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vg_config.h"
#include "vg_explain.h"
#include "vg_gen.h"
#include "vg_json.h"
#include "vg_kafka_admin.h"
#include "vg_kafka_consumer.h"
#include "vg_kafka_mock.h"
#include "vg_kafka_producer.h"
#include "vg_pipeline.h"
#include "vg_pseudo.h"
#include "vg_redis.h"
#include "vigil/v1/state.pb-c.h"
#include "vigil/v1/trigger.pb-c.h"

extern char **environ;

typedef struct vg_ctl_s {
    vg_config_t cfg;
    vg_kafka_props_t props;
    int argc;
    char **argv; /* the command's own arguments */
} vg_ctl_t;

static const char vg_ctl_dev_key[] = "vigil-development-key-not-secret";

static void vg_ctl_usage(void) {
    fprintf(stderr,
            "usage: vigilctl [--config FILE] [--set name=value]... COMMAND [options]\n"
            "commands: produce, gen, tail, state, explain, model check, topics, demo (see the "
            "head of vigilctl.c or README.md)\n");
}

static double vg_ctl_now(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Option value of --name in the command's arguments, or def. */
static const char *vg_ctl_opt(const vg_ctl_t *c, const char *name, const char *def) {
    for (int i = 0; i + 1 < c->argc; i++)
        if (strcmp(c->argv[i], name) == 0)
            return c->argv[i + 1];
    return def;
}

static long long vg_ctl_num(const vg_ctl_t *c, const char *name, long long def) {
    const char *v = vg_ctl_opt(c, name, NULL);
    char *end;
    long long n;

    if (!v)
        return def;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno || *end || n < 0) {
        fprintf(stderr, "vigilctl: %s: \"%s\" is not a non-negative integer\n", name, v);
        exit(2);
    }
    return n;
}

static double vg_ctl_real(const vg_ctl_t *c, const char *name, double def) {
    const char *v = vg_ctl_opt(c, name, NULL);
    char *end;
    double d;

    if (!v)
        return def;
    d = strtod(v, &end);
    if (*end || d < 0 || d > 1) {
        fprintf(stderr, "vigilctl: %s: \"%s\" is not a number in [0,1]\n", name, v);
        exit(2);
    }
    return d;
}

static void vg_ctl_props(vg_ctl_t *c) {
    c->props.n = 0;
    for (int i = 0; i < c->cfg.n_kafka; i++)
        vg_kafka_props_add(&c->props, c->cfg.kafka_keys[i], c->cfg.kafka_vals[i]);
}

static vg_kafka_producer_t *vg_ctl_producer(vg_ctl_t *c) {
    char err[512];
    vg_kafka_producer_t *p = vg_kafka_producer_new(&c->props, NULL, NULL, err, sizeof(err));

    if (!p) {
        fprintf(stderr, "vigilctl: producer: %s\n", err);
        exit(1);
    }
    return p;
}

/* --- produce ---------------------------------------------------------- */

static int vg_ctl_produce(vg_ctl_t *c) {
    const char *path = vg_ctl_opt(c, "--file", NULL);
    FILE *in = path ? fopen(path, "r") : stdin;
    vg_kafka_producer_t *p;
    char *line = NULL, err[512];
    size_t cap = 0, lineno = 0, sent = 0, bad = 0;
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    ssize_t n;

    if (!in) {
        fprintf(stderr, "vigilctl produce: %s: %s\n", path, strerror(errno));
        return 1;
    }
    p = vg_ctl_producer(c);
    while ((n = getline(&line, &cap, in)) >= 0) {
        Vigil__V1__InteractionEvent *ev = NULL;
        size_t len;
        lineno++;
        if (n == 0 || line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (vg_json_to_event(line, (size_t)n, &ev, err, sizeof(err))) {
            fprintf(stderr, "vigilctl produce: %s:%zu: %s\n", path ? path : "stdin", lineno, err);
            bad++;
            continue;
        }
        len = vigil__v1__interaction_event__get_packed_size(ev);
        if (len > buf_cap) {
            buf_cap = len * 2;
            buf = realloc(buf, buf_cap);
        }
        vigil__v1__interaction_event__pack(ev, buf);
        /* No validation here on purpose: the worker is the judge, and a
         * bad event must show up in the dead-letter topic. */
        if (vg_kafka_producer_send(p, c->cfg.topic_events, ev->customer_id,
                                   ev->customer_id ? strlen(ev->customer_id) : 0, buf, len, NULL,
                                   0) == VG_OK)
            sent++;
        vg_json_event_free(ev);
    }
    if (vg_kafka_producer_flush(p, 60000, NULL, err, sizeof(err))) {
        fprintf(stderr, "vigilctl produce: %s\n", err);
        bad++;
    }
    vg_kafka_producer_destroy(p);
    free(line);
    free(buf);
    if (path)
        fclose(in);
    fprintf(stderr, "vigilctl produce: %zu event(s) sent to %s, %zu line(s) refused\n", sent,
            c->cfg.topic_events, bad);
    return bad ? 1 : 0;
}

/* --- gen -------------------------------------------------------------- */

static void vg_ctl_gen_conf(const vg_ctl_t *c, vg_gen_conf_t *gc, long long def_events) {
    vg_gen_conf_init(gc);
    /* Event time starts now, as upstream would stamp it (stale cut-off). */
    gc->start_ms = (int64_t)time(NULL) * 1000;
    gc->events = (uint64_t)vg_ctl_num(c, "--events", def_events);
    gc->customers = (uint32_t)vg_ctl_num(c, "--customers", 10000);
    gc->seed = (uint64_t)vg_ctl_num(c, "--seed", 1);
    gc->trouble_rate = vg_ctl_real(c, "--trouble-rate", 0.05);
    gc->malformed_rate = vg_ctl_real(c, "--malformed-rate", 0.001);
}

/* Produce generated records, pacing to rate records/s (0: as fast as
 * possible). Returns records sent. */
static size_t vg_ctl_send_gen(vg_kafka_producer_t *p, const char *topic, vg_gen_t *g,
                              long long rate) {
    vg_gen_record_t rec;
    size_t sent = 0;
    double t0 = vg_ctl_now();

    while (vg_gen_next(g, &rec)) {
        if (vg_kafka_producer_send(p, topic, rec.key, rec.key_len, rec.payload, rec.len, NULL, 0))
            continue;
        sent++;
        if (rate > 0 && sent % 100 == 0) {
            double ahead = (double)sent / (double)rate - (vg_ctl_now() - t0);
            if (ahead > 0)
                usleep((useconds_t)(ahead * 1e6)); /* pacing to a target rate */
        }
    }
    return sent;
}

static int vg_ctl_gen(vg_ctl_t *c) {
    vg_gen_conf_t gc;
    vg_gen_t *g;
    vg_kafka_producer_t *p;
    char err[512];
    size_t sent;
    double t0;
    vg_gen_stats_t st;

    vg_ctl_gen_conf(c, &gc, 100000);
    if (!(g = vg_gen_new(&gc, err, sizeof(err)))) {
        fprintf(stderr, "vigilctl gen: %s\n", err);
        return 2;
    }
    p = vg_ctl_producer(c);
    t0 = vg_ctl_now();
    sent = vg_ctl_send_gen(p, c->cfg.topic_events, g, vg_ctl_num(c, "--rate", 0));
    if (vg_kafka_producer_flush(p, 120000, NULL, err, sizeof(err)))
        fprintf(stderr, "vigilctl gen: %s\n", err);
    vg_gen_stats(g, &st);
    fprintf(stderr,
            "vigilctl gen: %zu records to %s in %.2f s (%" PRIu64 " malformed, %" PRIu64
            " journeys)\n",
            sent, c->cfg.topic_events, vg_ctl_now() - t0, st.malformed, st.journeys);
    vg_kafka_producer_destroy(p);
    vg_gen_destroy(g);
    return 0;
}

/* --- tail ------------------------------------------------------------- */

static int vg_ctl_tail(vg_ctl_t *c) {
    const char *topic = vg_ctl_opt(c, "--topic", c->cfg.topic_triggers);
    long long max = vg_ctl_num(c, "--max", 0), timeout = vg_ctl_num(c, "--timeout-ms", 0);
    char err[512], group[256];
    vg_kafka_consumer_t *k;
    vg_kafka_msg_t msgs[256];
    long long got = 0;
    double deadline = vg_ctl_now() + (double)timeout / 1000.0;

    snprintf(group, sizeof(group), "vigilctl-tail-%d-%ld", (int)getpid(), (long)time(NULL));
    k = vg_kafka_consumer_new(&c->props, group, topic, NULL, NULL, NULL, err, sizeof(err));
    if (!k) {
        fprintf(stderr, "vigilctl tail: %s\n", err);
        return 1;
    }
    while ((!max || got < max) && (!timeout || vg_ctl_now() < deadline)) {
        size_t n = vg_kafka_consumer_poll_batch(k, msgs, 256, 200);
        for (size_t i = 0; i < n && (!max || got < max); i++) {
            Vigil__V1__InterventionTrigger *t =
                vigil__v1__intervention_trigger__unpack(NULL, msgs[i].len, msgs[i].payload);
            char *json = t ? vg_json_from_trigger(t) : NULL;
            if (json)
                printf("%s\n", json);
            else
                fprintf(stderr, "vigilctl tail: %s [%d] @%lld: not an InterventionTrigger\n",
                        topic, msgs[i].partition, (long long)msgs[i].offset);
            free(json);
            if (t)
                vigil__v1__intervention_trigger__free_unpacked(t, NULL);
            got++;
        }
        fflush(stdout);
        vg_kafka_consumer_release(k, msgs, n);
    }
    vg_kafka_consumer_destroy(k);
    return 0;
}

/* --- state ------------------------------------------------------------ */

/* Connect to Redis and load the stored state of (tenant, customer): the
 * key is <prefix>:{<pseudonym>}. Returns 0 with *r (caller destroys) and
 * *st (valid while *r lives), or the exit status after saying why: 1
 * Redis, 2 setup, 3 no state for this customer. */
static int vg_ctl_fetch_state(const vg_ctl_t *c, const char *cmd, const char *customer,
                              const char *tenant, char *key, size_t key_size, vg_redis_t **r,
                              vg_redis_state_t *st) {
    const char *key_secret = c->cfg.pseudonym_key[0] ? c->cfg.pseudonym_key : vg_ctl_dev_key;
    vg_redis_conf_t rc = {c->cfg.redis_host, (int)c->cfg.redis_port,
                          c->cfg.redis_user[0] ? c->cfg.redis_user : NULL,
                          c->cfg.redis_password[0] ? c->cfg.redis_password : NULL,
                          (int)c->cfg.redis_db, (int)c->cfg.redis_timeout_ms};
    char err[512], pseudo[VG_PSEUDO_LEN];
    const char *keys[1] = {key};
    vg_pseudo_t *ps;

    if (!(ps = vg_pseudo_new(key_secret, strlen(key_secret), err, sizeof(err)))) {
        fprintf(stderr, "vigilctl %s: %s\n", cmd, err);
        return 2;
    }
    vg_pseudo_id(ps, tenant, customer, pseudo);
    vg_pseudo_destroy(ps);
    snprintf(key, key_size, "%s:{%s}", c->cfg.redis_key_prefix, pseudo);
    if (!(*r = vg_redis_new(&rc, NULL, err, sizeof(err)))) {
        fprintf(stderr, "vigilctl %s: %s\n", cmd, err);
        return 1;
    }
    if (vg_redis_load(*r, keys, 1, st, err, sizeof(err))) {
        fprintf(stderr, "vigilctl %s: %s\n", cmd, err);
        vg_redis_destroy(*r);
        return 1;
    }
    if (!st->found) {
        fprintf(stderr, "vigilctl %s: no state for this customer (key %s)\n", cmd, key);
        vg_redis_destroy(*r);
        return 3;
    }
    return 0;
}

static int vg_ctl_state(vg_ctl_t *c) {
    const char *customer = c->argc > 0 && c->argv[0][0] != '-' ? c->argv[0] : NULL;
    char key[256];
    vg_redis_t *r;
    vg_redis_state_t st;
    Vigil__V1__CustomerState *m;
    char *json;
    int rc_exit;

    if (!customer) {
        fprintf(stderr, "usage: vigilctl state CUSTOMER [--tenant T]\n");
        return 2;
    }
    if ((rc_exit = vg_ctl_fetch_state(c, "state", customer, vg_ctl_opt(c, "--tenant", "acme"),
                                      key, sizeof(key), &r, &st)))
        return rc_exit;
    m = vigil__v1__customer_state__unpack(NULL, st.len, st.data);
    json = m ? vg_json_from_state(m) : NULL;
    if (json) {
        printf("{\"key\":\"%s\",\"stored_version\":%" PRIu64 ",\"state\":%s}\n", key,
               st.version, json);
    } else {
        fprintf(stderr, "vigilctl state: stored state is not a CustomerState\n");
        rc_exit = 1;
    }
    free(json);
    if (m)
        vigil__v1__customer_state__free_unpacked(m, NULL);
    vg_redis_destroy(r);
    return rc_exit;
}

/* --- model check and explain ------------------------------------------ */

static int vg_ctl_model(vg_ctl_t *c) {
    char err[1024];
    vg_model_t *m;

    if (c->argc < 2 || strcmp(c->argv[0], "check") != 0) {
        fprintf(stderr, "usage: vigilctl model check FILE\n");
        return 2;
    }
    if (!(m = malloc(sizeof(*m))))
        return 1;
    if (vg_model_load(m, c->argv[1], err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        free(m);
        return 2;
    }
    printf("%s: valid\n", c->argv[1]);
    vg_model_summary(m, stdout);
    free(m);
    return 0;
}

static int vg_ctl_explain(vg_ctl_t *c) {
    const char *customer = c->argc > 0 && c->argv[0][0] != '-' ? c->argv[0] : NULL;
    const char *tenant = vg_ctl_opt(c, "--tenant", "acme");
    char err[1024], key[256];
    vg_redis_state_t loaded;
    vg_redis_t *r;
    vg_model_t *m = malloc(sizeof(*m));
    vg_state_t *st = malloc(sizeof(*st));
    int rc_exit = 0;

    if (!customer || !m || !st) {
        fprintf(stderr, "usage: vigilctl explain CUSTOMER [--tenant T] [--model FILE]\n");
        free(m);
        free(st);
        return 2;
    }
    /* The model the workers run: model.file (or --model), or the built-in one. */
    if (vg_model_load_or_default(m, vg_ctl_opt(c, "--model", c->cfg.model_file), err,
                                 sizeof(err))) {
        fprintf(stderr, "vigilctl: model: %s\n", err);
        rc_exit = 2;
    } else if (!(rc_exit = vg_ctl_fetch_state(c, "explain", customer, tenant, key, sizeof(key),
                                               &r, &loaded))) {
        vg_err_t e;
        if (vg_state_decode(st, loaded.data, loaded.len, err, sizeof(err))) {
            fprintf(stderr, "vigilctl explain: stored state: %s\n", err);
            rc_exit = 1;
        } else {
            printf("customer   %s (tenant %s, key %s)\n", customer, tenant, key);
            if ((e = vg_explain(st, m, stdout))) {
                fprintf(stderr, "vigilctl explain: %s\n",
                        e == VG_ERR_NOT_FOUND ? "the state holds no latest event to explain"
                                              : vg_err_str(e));
                rc_exit = 3;
            }
        }
        vg_redis_destroy(r);
    }
    free(st);
    free(m);
    return rc_exit;
}

/* --- topics ----------------------------------------------------------- */

static int vg_ctl_topics(vg_ctl_t *c) {
    int parts = (int)vg_ctl_num(c, "--partitions", 12), rf = (int)vg_ctl_num(c, "--replication", 1);
    const char *topics[] = {c->cfg.topic_events, c->cfg.topic_triggers, c->cfg.topic_dead_letter};
    /* The dead-letter topic takes any record the worker may copy whole
     * (the broker's default, set explicitly so a cluster-wide change does
     * not shrink it; docs/runbook.md, VigilPartitionStopped). */
    const char *isr[] = {"min.insync.replicas", "2", NULL};
    const char *dlq[] = {"max.message.bytes", "1048588", NULL};
    const char *dlq_isr[] = {"max.message.bytes", "1048588", "min.insync.replicas", "2", NULL};
    char err[512];
    int rc = 0;

    for (int i = 0; i < 3; i++) {
        const char *const *extra = i == 2 ? (rf >= 3 ? dlq_isr : dlq) : rf >= 3 ? isr : NULL;
        if (vg_kafka_admin_create_topic(&c->props, topics[i], parts, rf, extra, 30000, err,
                                        sizeof(err))) {
            fprintf(stderr, "vigilctl topics: %s\n", err);
            rc = 1;
        } else {
            printf("topic %s: %d partitions, replication %d\n", topics[i], parts, rf);
        }
    }
    return rc;
}

/* --- demo ------------------------------------------------------------- */

typedef struct vg_ctl_count_s {
    char name[64];
    size_t n;
} vg_ctl_count_t;

static void vg_ctl_count(vg_ctl_count_t *tab, size_t *n, size_t cap, const char *name) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp(tab[i].name, name) == 0) {
            tab[i].n++;
            return;
        }
    if (*n < cap) {
        snprintf(tab[*n].name, sizeof(tab[*n].name), "%s", name);
        tab[(*n)++].n = 1;
    }
}

static int vg_ctl_count_cmp(const void *a, const void *b) {
    const vg_ctl_count_t *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : strcmp(x->name, y->name);
}

static void *vg_ctl_pipeline_thread(void *arg) {
    vg_pipeline_run(arg);
    return NULL;
}

static int vg_ctl_demo(vg_ctl_t *c) {
    const char *real = vg_ctl_opt(c, "--kafka", NULL);
    vg_kafka_mock_t *mock = NULL;
    vg_pipeline_t *pl;
    vg_pipeline_stats_t *ps;
    vg_log_t *log;
    vg_gen_conf_t gc;
    vg_gen_t *g;
    vg_kafka_producer_t *p;
    vg_kafka_consumer_t *k;
    vg_kafka_msg_t msgs[256];
    pthread_t th;
    char err[512], group[128];
    double t0, t_done, deadline;
    size_t sent, n_triggers = 0, n_iv = 0, n_rc = 0;
    vg_ctl_count_t ivs[32], rcs[64];
    char *samples[2] = {NULL, NULL}, first_iv[64] = "";

    if (real) {
        vg_config_set(&c->cfg, "kafka.bootstrap.servers", real, "--kafka", NULL, 0);
    } else {
        if (!(mock = vg_kafka_mock_new(1, err, sizeof(err)))) {
            fprintf(stderr, "vigilctl demo: embedded kafka: %s\n", err);
            return 1;
        }
        vg_config_set(&c->cfg, "kafka.bootstrap.servers", vg_kafka_mock_bootstrap(mock),
                      "embedded", NULL, 0);
        /* librdkafka 2.0.2's mock cluster keeps no transactional offsets. */
        c->cfg.delivery = VG_DELIVERY_AT_LEAST_ONCE;
    }
    vg_ctl_props(c);
    snprintf(c->cfg.topic_events, sizeof(c->cfg.topic_events), "demo.events.%ld", (long)time(NULL));
    snprintf(c->cfg.topic_triggers, sizeof(c->cfg.topic_triggers), "demo.triggers.%ld",
             (long)time(NULL));
    snprintf(c->cfg.topic_dead_letter, sizeof(c->cfg.topic_dead_letter), "demo.dlq.%ld",
             (long)time(NULL));
    snprintf(c->cfg.group_id, sizeof(c->cfg.group_id), "demo-%d", (int)getpid());
    snprintf(c->cfg.redis_key_prefix, sizeof(c->cfg.redis_key_prefix), "vigil-demo-%d",
             (int)getpid());
    if (mock) {
        /* The mock cluster has no CreateTopics API: create them directly. */
        vg_kafka_mock_create_topic(mock, c->cfg.topic_events, 4, 1);
        vg_kafka_mock_create_topic(mock, c->cfg.topic_triggers, 4, 1);
        vg_kafka_mock_create_topic(mock, c->cfg.topic_dead_letter, 1, 1);
    } else if (vg_ctl_topics(c)) {
        return 1;
    }

    printf("Vigil demo: %s Kafka at %s, Redis at %s:%lld, %s mode\n",
           mock ? "embedded (librdkafka mock cluster)" : "real", c->props.vals[0],
           c->cfg.redis_host, (long long)c->cfg.redis_port,
           c->cfg.delivery == VG_DELIVERY_EXACTLY_ONCE ? "exactly_once" : "at_least_once");
    log = vg_log_new("demo-worker", VG_LOG_ERROR);
    if (!(pl = vg_pipeline_new(&c->cfg, NULL, log, err, sizeof(err)))) {
        fprintf(stderr, "vigilctl demo: worker: %s\n", err);
        return 1;
    }
    ps = vg_pipeline_stats(pl);
    pthread_create(&th, NULL, vg_ctl_pipeline_thread, pl);

    vg_ctl_gen_conf(c, &gc, 200000);
    if (!(g = vg_gen_new(&gc, err, sizeof(err)))) {
        fprintf(stderr, "vigilctl demo: %s\n", err);
        return 2;
    }
    p = vg_ctl_producer(c);
    t0 = vg_ctl_now();
    sent = vg_ctl_send_gen(p, c->cfg.topic_events, g, vg_ctl_num(c, "--rate", 0));
    vg_kafka_producer_flush(p, 120000, NULL, NULL, 0);
    vg_kafka_producer_destroy(p);
    printf("produced %zu events in %.2f s; waiting for the worker...\n", sent, vg_ctl_now() - t0);
    fflush(stdout);
    /* The worker runs in this process: its counters are the condition. */
    deadline = vg_ctl_now() + 300;
    while (atomic_load(&ps->events_consumed) - atomic_load(&ps->events_replayed) < sent &&
           vg_ctl_now() < deadline)
        usleep(50000);
    t_done = vg_ctl_now();
    vg_pipeline_stop(pl);
    pthread_join(th, NULL);

    /* Read back what was published, as a downstream consumer would. */
    snprintf(group, sizeof(group), "demo-reader-%d", (int)getpid());
    k = vg_kafka_consumer_new(&c->props, group, c->cfg.topic_triggers, NULL, NULL, NULL, err,
                              sizeof(err));
    deadline = vg_ctl_now() + 30;
    while (k && n_triggers < atomic_load(&ps->triggers_emitted) && vg_ctl_now() < deadline) {
        size_t n = vg_kafka_consumer_poll_batch(k, msgs, 256, 200);
        for (size_t i = 0; i < n; i++) {
            Vigil__V1__InterventionTrigger *t =
                vigil__v1__intervention_trigger__unpack(NULL, msgs[i].len, msgs[i].payload);
            if (!t)
                continue;
            n_triggers++;
            vg_ctl_count(ivs, &n_iv, 32, t->intervention);
            for (size_t r = 0; r < t->n_reasons; r++)
                vg_ctl_count(rcs, &n_rc, 64, t->reasons[r]->code);
            /* Two samples of different interventions. */
            if (!samples[0]) {
                samples[0] = vg_json_from_trigger(t);
                snprintf(first_iv, sizeof(first_iv), "%s", t->intervention);
            } else if (!samples[1] && strcmp(first_iv, t->intervention) != 0) {
                samples[1] = vg_json_from_trigger(t);
            }
            vigil__v1__intervention_trigger__free_unpacked(t, NULL);
        }
        vg_kafka_consumer_release(k, msgs, n);
    }
    vg_kafka_consumer_destroy(k);
    qsort(ivs, n_iv, sizeof(ivs[0]), vg_ctl_count_cmp);
    qsort(rcs, n_rc, sizeof(rcs[0]), vg_ctl_count_cmp);

    printf("\n== Vigil demo summary ==\n");
    printf("events processed : %" PRIu64 " (%" PRIu64 " dead-lettered with a reason)\n",
           atomic_load(&ps->events_consumed), atomic_load(&ps->events_dead_lettered));
    printf("throughput       : %.0f events/s end to end (one worker, produce to commit)\n",
           (double)sent / (t_done - t0));
    printf("trigger latency  : p50 %.1f ms, p99 %.1f ms (event record timestamp to commit; "
           "includes the backlog when traffic outruns the worker, see --rate)\n",
           vg_hist_quantile(&ps->lat_e2e, 0.50) / 1000.0,
           vg_hist_quantile(&ps->lat_e2e, 0.99) / 1000.0);
    printf("triggers         : %zu published, read back from %s\n", n_triggers,
           c->cfg.topic_triggers);
    for (size_t i = 0; i < n_iv; i++)
        printf("  %-28s %zu\n", ivs[i].name, ivs[i].n);
    printf("suppressed       :");
    for (int v = VG_V_BELOW_THRESHOLD; v < VG_V__COUNT; v++)
        printf(" %s %" PRIu64 "%s", vg_verdict_str((vg_verdict_t)v),
               atomic_load(&ps->suppressed[v]), v + 1 < VG_V__COUNT ? "," : "\n");
    printf("top reason codes :\n");
    for (size_t i = 0; i < n_rc && i < 8; i++)
        printf("  %-34s %zu\n", rcs[i].name, rcs[i].n);
    for (int s = 0; s < 2; s++)
        if (samples[s])
            printf("sample trigger %d : %s\n", s + 1, samples[s]);
    free(samples[0]);
    free(samples[1]);
    vg_pipeline_destroy(pl);
    vg_log_destroy(log);
    vg_gen_destroy(g);
    vg_kafka_mock_destroy(mock);
    return n_triggers > 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    static vg_ctl_t c;
    char err[1024];
    int i;

    vg_config_defaults(&c.cfg);
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 < argc &&
            vg_config_load_file(&c.cfg, argv[i + 1], err, sizeof(err))) {
            fprintf(stderr, "vigilctl: %s\n", err);
            return 2;
        }
    if (vg_config_load_env(&c.cfg, environ, err, sizeof(err))) {
        fprintf(stderr, "vigilctl: %s\n", err);
        return 2;
    }
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            i++;
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            char kv[1024], *eq;
            snprintf(kv, sizeof(kv), "%s", argv[++i]);
            if (!(eq = strchr(kv, '='))) {
                fprintf(stderr, "vigilctl: --set %s: expected name=value\n", kv);
                return 2;
            }
            *eq = '\0';
            if (vg_config_set(&c.cfg, kv, eq + 1, "--set", err, sizeof(err))) {
                fprintf(stderr, "vigilctl: %s\n", err);
                return 2;
            }
        } else {
            vg_ctl_usage();
            return 2;
        }
    }
    if (i >= argc) {
        vg_ctl_usage();
        return 2;
    }
    c.argc = argc - i - 1;
    c.argv = argv + i + 1;
    vg_ctl_props(&c);
    if (!strcmp(argv[i], "model"))
        return vg_ctl_model(&c);
    if (!strcmp(argv[i], "explain"))
        return vg_ctl_explain(&c);
    if (strcmp(argv[i], "demo") != 0 && strcmp(argv[i], "state") != 0 && c.props.n == 0) {
        fprintf(stderr, "vigilctl: kafka.bootstrap.servers is not set (--set "
                        "kafka.bootstrap.servers=HOST:PORT or VIGIL_KAFKA__BOOTSTRAP_SERVERS)\n");
        return 2;
    }
    if (!strcmp(argv[i], "produce"))
        return vg_ctl_produce(&c);
    if (!strcmp(argv[i], "gen"))
        return vg_ctl_gen(&c);
    if (!strcmp(argv[i], "tail"))
        return vg_ctl_tail(&c);
    if (!strcmp(argv[i], "state"))
        return vg_ctl_state(&c);
    if (!strcmp(argv[i], "topics"))
        return vg_ctl_topics(&c);
    if (!strcmp(argv[i], "demo"))
        return vg_ctl_demo(&c);
    vg_ctl_usage();
    return 2;
}
