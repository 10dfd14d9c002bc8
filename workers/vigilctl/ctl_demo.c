/* vigilctl demo: a worker in-process against the embedded mock Kafka. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vigilctl.h"
#include "vg_json.h"
#include "vg_kafka_admin.h"
#include "vg_kafka_consumer.h"
#include "vg_kafka_mock.h"
#include "vg_pipeline.h"
#include "vigil/v1/trigger.pb-c.h"

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
    vg_pipeline_run(arg, NULL, NULL);
    return NULL;
}

int vg_ctl_demo(vg_ctl_t *c) {
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
        /* librdkafka 2.0.2's mock cluster kept no transactional offsets;
         * the demo stays at_least_once (docs/decisions.md). */
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
