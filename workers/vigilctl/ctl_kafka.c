/* vigilctl produce, gen, tail, verify, topics: records in and out of Kafka. */
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
#include "vg_sign.h"
#include "vigil/v1/trigger.pb-c.h"

/* --- produce ---------------------------------------------------------- */

int vg_ctl_produce(vg_ctl_t *c) {
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

void vg_ctl_gen_conf(const vg_ctl_t *c, vg_gen_conf_t *gc, long long def_events) {
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
size_t vg_ctl_send_gen(vg_kafka_producer_t *p, const char *topic, vg_gen_t *g, long long rate) {
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

int vg_ctl_gen(vg_ctl_t *c) {
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
/* --- tail ------------------------------------------------------------- */

int vg_ctl_tail(vg_ctl_t *c) {
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

/* --- verify ----------------------------------------------------------- */

/* Check the signature of every record of a topic (the triggers, or the
 * dead letters), from its start until --timeout-ms pass with no record.
 * Exit 0: every record valid (and at least one read); 1: any record
 * missing, malformed, unknown-key or mismatched (each named); 2: setup. */
int vg_ctl_verify(vg_ctl_t *c) {
    const char *topic = vg_ctl_opt(c, "--topic", c->cfg.topic_triggers);
    const char *keys_file = vg_ctl_opt(c, "--keys", c->cfg.signing_keys_file);
    long long idle = vg_ctl_num(c, "--timeout-ms", 3000), max = vg_ctl_num(c, "--max", 0);
    size_t counts[VG_SIGN_MISMATCH + 1] = {0}, total = 0, shown = 0;
    char err[512], group[256];
    vg_sign_keys_t *keys;
    vg_kafka_consumer_t *k;
    vg_kafka_msg_t msgs[256];
    double last = vg_ctl_now();

    if (!keys_file || !*keys_file) {
        fprintf(stderr, "vigilctl verify: no keys: give --keys FILE or set signing.keys_file\n");
        return 2;
    }
    if (!(keys = vg_sign_keys_load(keys_file, err, sizeof(err)))) {
        fprintf(stderr, "vigilctl verify: %s\n", err);
        return 2;
    }
    snprintf(group, sizeof(group), "vigilctl-verify-%d-%ld", (int)getpid(), (long)time(NULL));
    if (!(k = vg_kafka_consumer_new(&c->props, group, topic, NULL, NULL, NULL, err, sizeof(err)))) {
        fprintf(stderr, "vigilctl verify: %s\n", err);
        vg_sign_keys_destroy(keys);
        return 2;
    }
    while ((vg_ctl_now() - last) * 1000.0 < (double)idle && (!max || (long long)total < max)) {
        size_t n = vg_kafka_consumer_poll_batch(k, msgs, 256, 200);
        for (size_t i = 0; i < n; i++) {
            const void *h = NULL;
            size_t hl = 0;
            bool has = vg_kafka_msg_header(&msgs[i], VG_SIGN_HEADER, &h, &hl) == VG_OK;
            vg_sign_check_t r = vg_sign_verify(keys, has ? h : NULL, hl, msgs[i].key,
                                               msgs[i].key_len, msgs[i].payload, msgs[i].len);
            counts[r]++;
            total++;
            if (r != VG_SIGN_VALID && shown++ < 20)
                printf("%s [%d] @%lld: %s%s%.*s%s\n", topic, msgs[i].partition,
                       (long long)msgs[i].offset, vg_sign_check_name(r),
                       r == VG_SIGN_MALFORMED ? " (header \"" : "",
                       r == VG_SIGN_MALFORMED ? (int)(hl > 120 ? 120 : hl) : 0,
                       r == VG_SIGN_MALFORMED ? (const char *)h : "",
                       r == VG_SIGN_MALFORMED ? "\")" : "");
        }
        if (n)
            last = vg_ctl_now();
        vg_kafka_consumer_release(k, msgs, n);
    }
    vg_kafka_consumer_destroy(k);
    printf("%s: %zu records: %zu valid, %zu unsigned, %zu malformed, %zu unknown key, %zu "
           "mismatched (keys: %zu from %s, signing with %s)\n",
           topic, total, counts[VG_SIGN_VALID], counts[VG_SIGN_MISSING], counts[VG_SIGN_MALFORMED],
           counts[VG_SIGN_UNKNOWN_KEY], counts[VG_SIGN_MISMATCH], vg_sign_keys_count(keys),
           keys_file, vg_sign_keys_active(keys));
    vg_sign_keys_destroy(keys);
    if (total == 0) {
        fprintf(stderr, "vigilctl verify: no record on %s within %lld ms\n", topic, idle);
        return 1;
    }
    return counts[VG_SIGN_VALID] == total ? 0 : 1;
}

/* --- topics ----------------------------------------------------------- */

int vg_ctl_topics(vg_ctl_t *c) {
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

