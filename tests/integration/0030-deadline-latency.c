/*
 * 0030-deadline-latency: how soon after its due time an absence deadline
 * fires, at a normal load, against the real Kafka and Redis.
 *
 * Background traffic at about 400 events/s, stamped with the wall clock,
 * keeps every partition's event-time watermark moving. 20 customers start
 * a checkout and never pay; the model's checkout_abandoned absence is
 * shortened to 3 s. Each retention_offer trigger carries its decision time
 * (created_ms = the deadline); its lateness is the wall clock when it is
 * readable (read_committed) minus that. Asserts: all 20 fire, exactly once,
 * each within max_ms (1000) of its due time. Measured here: p50 ~60 ms,
 * max ~100 ms in both modes (before the worker looked its output topics up
 * at start, the first trigger waited ~0.6 s for that lookup).
 *
 * Arguments after those are more worker settings. With
 * delivery.commit_interval_ms=5000 in exactly_once, the deadlines are
 * still visible within max_ms only because a worker that keeps up commits
 * early (delivery.commit_min_interval_ms): the background traffic never
 * leaves the worker idle long enough to commit for that reason.
 *
 *   0030-deadline-latency [exactly_once|at_least_once] [max_ms] [name=value ...]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vg_itest.h"
#include "vg_kafka_consumer.h"
#include "vg_kafka_producer.h"
#include "vigil/v1/event.pb-c.h"
#include "vigil/v1/trigger.pb-c.h"

#define N_CHECKOUTS 20
#define ABSENCE_MS 3000

static long long wall_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_event(vg_itest_t *t, vg_kafka_producer_t *p, const char *customer,
                       const char *type, Vigil__V1__Outcome outcome, const char *consent,
                       long long n) {
    Vigil__V1__InteractionEvent ev = VIGIL__V1__INTERACTION_EVENT__INIT;
    Vigil__V1__Descriptive d = VIGIL__V1__DESCRIPTIVE__INIT;
    char id[64], *consents[1] = {(char *)consent};
    uint8_t buf[1024];
    size_t len;

    snprintf(id, sizeof(id), "lat-%lld", n);
    ev.event_id = id;
    ev.customer_id = (char *)customer;
    ev.tenant = "acme";
    ev.event_time_ms = wall_ms();
    ev.channel = VIGIL__V1__CHANNEL__CHANNEL_WEB;
    ev.event_type = (char *)type;
    ev.outcome = outcome;
    ev.consents = consents;
    ev.n_consents = 1;
    d.value_tier = VIGIL__V1__VALUE_TIER__VALUE_TIER_GOLD;
    d.churn_risk = 0.9;
    ev.descriptive = &d;
    len = vigil__v1__interaction_event__pack(&ev, buf);
    if (vg_kafka_producer_send_to(p, t->topic_events,
                                  vg_itest_partition_of(t, customer, strlen(customer)), 0,
                                  customer, strlen(customer), buf, len, NULL, 0)) {
        fprintf(stderr, "FAIL: produce\n");
        exit(1);
    }
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    vg_itest_t t;
    char path[1200], model_set[1300], err[512], customer[64];
    char mode_set[64];
    const char *sets[8] = {mode_set, model_set, NULL};
    const char *text = vg_model_default_text();
    const char *from = "within: 10m }", *at;
    long long late[N_CHECKOUTS * 2], fire[N_CHECKOUTS * 2], t0, n = 0, end, started = 0;
    size_t n_late = 0, others = 0;
    vg_kafka_producer_t *p;
    vg_kafka_consumer_t *c;
    vg_kafka_msg_t msgs[100];
    vg_idset_t got = {0};
    pid_t w;
    FILE *f;
    int failures = 0, rc;

    long long max_ms = argc > 2 ? atoll(argv[2]) : 1000;

    for (int i = 3, k = 2; i < argc && k < 7; i++)
        sets[k++] = argv[i];

    snprintf(mode_set, sizeof(mode_set), "delivery.mode=%s", argc > 1 ? argv[1] : "exactly_once");
    if (vg_itest_init(&t, "deadline"))
        return VG_ITEST_SKIP;
    vg_itest_create_topics(&t, 4, 1);
    snprintf(path, sizeof(path), "%s/model-%s.yaml", t.stack_dir, t.suffix);
    snprintf(model_set, sizeof(model_set), "model.file=%s", path);
    at = strstr(text, from);
    if (!at || !(f = fopen(path, "w"))) {
        fprintf(stderr, "FAIL: cannot write the model\n");
        return 1;
    }
    fprintf(f, "%.*swithin: 3s }%s", (int)(at - text), text, at + strlen(from));
    fclose(f);

    w = vg_itest_worker_start(&t, "w1", sets);
    {
        /* The upstream producer of this test sends each event at once. */
        vg_kafka_props_t pp = t.props;
        vg_kafka_props_add(&pp, "linger.ms", "0");
        p = vg_kafka_producer_new(&pp, NULL, NULL, err, sizeof(err));
    }
    {
        /* Measure the trigger, not the reader's fetch wait (500 ms by
         * default when nothing is new). */
        vg_itest_t rt = t;
        vg_kafka_props_add(&rt.props, "fetch.wait.max.ms", "5");
        vg_kafka_props_add(&rt.props, "fetch.error.backoff.ms", "5");
        c = vg_itest_reader(&rt, t.topic_triggers);
    }
    if (!p || !c) {
        fprintf(stderr, "FAIL: clients: %s\n", err);
        return 1;
    }
    /* Warm up: the worker has joined and committed once. */
    send_event(&t, p, "bg-0", "browse", VIGIL__V1__OUTCOME__OUTCOME_SUCCESS, "service", n++);
    vg_kafka_producer_flush(p, 10000, NULL, NULL, 0);
    if (!vg_itest_wait_committed(&t, 60000)) {
        fprintf(stderr, "FAIL: the worker did not start consuming\n");
        return 1;
    }

    t0 = wall_ms();
    end = t0 + 1000 + ABSENCE_MS + 4000;
    while (wall_ms() < end && n_late < N_CHECKOUTS) {
        long long now = wall_ms();
        /* 4 background events per 10 ms tick, across 200 customers. */
        for (int i = 0; i < 4; i++) {
            snprintf(customer, sizeof(customer), "bg-%lld", n % 200);
            send_event(&t, p, customer, "browse", VIGIL__V1__OUTCOME__OUTCOME_SUCCESS,
                       "service", n++);
        }
        /* One checkout every 50 ms during the first second. */
        if (started < N_CHECKOUTS && now - t0 >= started * 50) {
            snprintf(customer, sizeof(customer), "co-%lld", started++);
            send_event(&t, p, customer, "checkout", VIGIL__V1__OUTCOME__OUTCOME_PENDING,
                       "marketing", n++);
        }
        {
            size_t k = vg_kafka_consumer_poll_batch(c, msgs, 100, 10);
            long long seen = wall_ms();
            for (size_t i = 0; i < k; i++) {
                Vigil__V1__InterventionTrigger *tr =
                    vigil__v1__intervention_trigger__unpack(NULL, msgs[i].len, msgs[i].payload);
                if (tr && !strcmp(tr->intervention, "retention_offer") &&
                    !strncmp(tr->customer_id, "co-", 3) && n_late < N_CHECKOUTS * 2) {
                    fire[n_late] = msgs[i].timestamp_ms - tr->created_ms;
                    late[n_late++] = seen - tr->created_ms;
                    vg_idset_add(&got, tr->trigger_id);
                } else {
                    others++;
                }
                if (tr)
                    vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
            }
            vg_kafka_consumer_release(c, msgs, k);
        }
    }
    qsort(late, n_late, sizeof(late[0]), cmp_ll);
    qsort(fire, n_late, sizeof(fire[0]), cmp_ll);
    printf("%lld events in %.1f s (%.0f/s); %zu deadline triggers, %zu distinct, %zu others\n", n,
           (wall_ms() - t0) / 1000.0, n * 1000.0 / (double)(wall_ms() - t0), n_late,
           got.n - vg_idset_dedupe(&got), others);
    if (n_late)
        printf("lateness after the due time: min %lld ms, p50 %lld ms, max %lld ms (produced by "
               "the worker: p50 %lld ms, max %lld ms)\n",
               late[0], late[n_late / 2], late[n_late - 1], fire[n_late / 2], fire[n_late - 1]);
    if (n_late != N_CHECKOUTS || got.n != N_CHECKOUTS) {
        fprintf(stderr, "FAIL: want %d deadline triggers, once each\n", N_CHECKOUTS);
        failures++;
    }
    if (n_late && late[n_late - 1] > max_ms) {
        fprintf(stderr, "FAIL: a deadline fired more than %lld ms after its due time\n", max_ms);
        failures++;
    }
    rc = vg_itest_worker_stop(w, SIGTERM, 30000);
    if (rc != 0) {
        fprintf(stderr, "FAIL: worker exit %d\n", rc);
        failures++;
    }
    vg_kafka_consumer_destroy(c);
    vg_kafka_producer_destroy(p);
    vg_idset_free(&got);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
