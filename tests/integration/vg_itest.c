#include "vg_itest.h"
#include "vg_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "vg_kafka_admin.h"
#include "vg_kafka_consumer.h"
#include "vg_kafka_producer.h"
#include "vg_pseudo.h"
#include "vg_redis.h"
#include "vigil/v1/trigger.pb-c.h"

long long vg_itest_now_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vg_idset_add(vg_idset_t *s, const char *id) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->ids = realloc(s->ids, s->cap * sizeof(*s->ids));
        if (!s->ids) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    snprintf(s->ids[s->n++], 33, "%s", id);
}

void vg_idset_free(vg_idset_t *s) {
    free(s->ids);
    memset(s, 0, sizeof(*s));
}

static int vg_idset_cmp(const void *a, const void *b) { return strcmp(a, b); }

size_t vg_idset_dedupe(vg_idset_t *s) {
    size_t o = 0, dups = 0;

    if (s->n == 0)
        return 0; /* nothing read: ids may be NULL, which qsort must not get */
    qsort(s->ids, s->n, sizeof(*s->ids), vg_idset_cmp);
    for (size_t i = 0; i < s->n; i++) {
        if (o && strcmp(s->ids[o - 1], s->ids[i]) == 0) {
            dups++;
            continue;
        }
        if (o != i)
            memcpy(s->ids[o], s->ids[i], 33);
        o++;
    }
    s->n = o;
    return dups;
}

void vg_idset_diff(const vg_idset_t *want, const vg_idset_t *got, size_t *missing, size_t *extra) {
    size_t i = 0, j = 0;

    *missing = *extra = 0;
    while (i < want->n || j < got->n) {
        int c = i == want->n ? 1 : j == got->n ? -1 : strcmp(want->ids[i], got->ids[j]);
        if (c == 0)
            i++, j++;
        else if (c < 0)
            (*missing)++, i++;
        else
            (*extra)++, j++;
    }
}

static void vg_itest_parse_env(vg_itest_t *t, const char *path) {
    FILE *f = fopen(path, "r");
    char line[1024];

    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        eq[1 + strcspn(eq + 1, "\r\n")] = '\0';
        if (!strcmp(line, "VIGIL_KAFKA_BOOTSTRAP"))
            snprintf(t->bootstrap, sizeof(t->bootstrap), "%s", eq + 1);
        else if (!strcmp(line, "VIGIL_REDIS_ADDR")) {
            char *colon = strrchr(eq + 1, ':');
            if (colon) {
                *colon = '\0';
                snprintf(t->redis_host, sizeof(t->redis_host), "%s", eq + 1);
                t->redis_port = (int)strtol(colon + 1, NULL, 10);
            }
        } else if (!strcmp(line, "VIGIL_STACK_DIR"))
            snprintf(t->stack_dir, sizeof(t->stack_dir), "%s", eq + 1);
    }
    fclose(f);
}

int vg_itest_init(vg_itest_t *t, const char *name) {
    const char *env = getenv("VIGIL_STACK_ENV"), *bin = getenv("VIGIL_WORKER_BIN");

    memset(t, 0, sizeof(*t));
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(t->name, sizeof(t->name), "%s", name);
    if (!env || access(env, R_OK) != 0) {
        printf("SKIP %s: no stack (VIGIL_STACK_ENV=%s not readable); run via ctest, which "
               "starts one\n",
               name, env ? env : "(unset)");
        return VG_ITEST_SKIP;
    }
    vg_itest_parse_env(t, env);
    if (!t->bootstrap[0] || !t->redis_port) {
        printf("SKIP %s: %s lacks VIGIL_KAFKA_BOOTSTRAP or VIGIL_REDIS_ADDR\n", name, env);
        return VG_ITEST_SKIP;
    }
    snprintf(t->worker_bin, sizeof(t->worker_bin), "%s", bin ? bin : "vigil-worker");
    snprintf(t->suffix, sizeof(t->suffix), "%s-%d-%lld", name, (int)getpid(),
             (long long)time(NULL));
    snprintf(t->topic_events, sizeof(t->topic_events), "events.%s", t->suffix);
    snprintf(t->topic_triggers, sizeof(t->topic_triggers), "triggers.%s", t->suffix);
    snprintf(t->topic_dlq, sizeof(t->topic_dlq), "dlq.%s", t->suffix);
    snprintf(t->group, sizeof(t->group), "workers.%s", t->suffix);
    snprintf(t->prefix, sizeof(t->prefix), "vigil-test:%s", t->suffix);
    vg_kafka_props_add(&t->props, "bootstrap.servers", t->bootstrap);
    printf("%s: kafka %s, redis %s:%d, topics *.%s\n", name, t->bootstrap, t->redis_host,
           t->redis_port, t->suffix);
    return 0;
}

void vg_itest_create_topics(vg_itest_t *t, int partitions, int rf) {
    char err[512];
    const char *topics[] = {t->topic_events, t->topic_triggers, t->topic_dlq};
    const char *isr2[] = {"min.insync.replicas", "2", NULL};

    t->partitions = partitions;
    for (int i = 0; i < 3; i++) {
        /* A cluster that has just started may still be registering its
         * brokers (all of them are needed for replication factor 3): try
         * again until it answers; "already exists" counts as done. */
        int attempt = 0;
        while (vg_kafka_admin_create_topic(&t->props, topics[i], partitions, rf,
                                           rf >= 3 ? isr2 : NULL, 30000, err, sizeof(err))) {
            if (++attempt == 4) {
                fprintf(stderr, "FAIL: %s\n", err);
                exit(1);
            }
            fprintf(stderr, "create topic %s: %s; again (%d/3)\n", topics[i], err, attempt);
            usleep(500000u * (unsigned)attempt); /* backoff between attempts */
        }
    }
}

/* Fork and exec a worker; tied: it dies with the calling thread. */
static pid_t vg_itest_worker_exec(const vg_itest_t *t, const char *worker_id,
                                  const char *const *extra, bool tied) {
    char sets[16][600], logpath[1200];
    const char *argv[80];
    int argc = 0, s = 0;
    pid_t pid;

#define VG_SET(...) (snprintf(sets[s], sizeof(sets[s]), __VA_ARGS__), argv[argc++] = "--set", argv[argc++] = sets[s++])
    argv[argc++] = t->worker_bin;
    VG_SET("kafka.bootstrap.servers=%s", t->bootstrap);
    VG_SET("topic.events=%s", t->topic_events);
    VG_SET("topic.triggers=%s", t->topic_triggers);
    VG_SET("topic.dead_letter=%s", t->topic_dlq);
    VG_SET("group.id=%s", t->group);
    VG_SET("redis.host=%s", t->redis_host);
    VG_SET("redis.port=%d", t->redis_port);
    VG_SET("redis.key_prefix=%s", t->prefix);
    VG_SET("worker.id=%s", worker_id);
    VG_SET("pseudonym.key=%s", VG_ITEST_PSEUDONYM_KEY);
#undef VG_SET
    for (int i = 0; extra && extra[i]; i++) {
        /* A setting left out would run a worker other than the test says. */
        if (argc + 3 > (int)(sizeof(argv) / sizeof(argv[0]))) {
            fprintf(stderr, "FAIL: worker %s: more settings than argv holds, from %s on\n",
                    worker_id, extra[i]);
            exit(1);
        }
        argv[argc++] = "--set";
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    snprintf(logpath, sizeof(logpath), "%s/%s-%s.log", t->stack_dir, t->name, worker_id);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int fd;
        if (tied) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            /* The parent may have died between fork and prctl. */
            if (getppid() == 1)
                _exit(127);
        }
        fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(t->worker_bin, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", t->worker_bin, strerror(errno));
        _exit(127);
    }
    printf("started worker %s (pid %d, log %s)\n", worker_id, (int)pid, logpath);
    return pid;
}

pid_t vg_itest_worker_start(const vg_itest_t *t, const char *worker_id, const char *const *extra) {
    return vg_itest_worker_exec(t, worker_id, extra, false);
}

pid_t vg_itest_worker_spawn(const vg_itest_t *t, const char *worker_id,
                            const char *const *extra) {
    return vg_itest_worker_exec(t, worker_id, extra, true);
}

int vg_itest_worker_stop(pid_t pid, int sig, int timeout_ms) {
    long long deadline = vg_itest_now_ms() + timeout_ms;
    int status;

    kill(pid, sig);
    while (vg_itest_now_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(20000); /* polling a child's exit: there is no fd to wait on */
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int32_t vg_itest_partition_of(const vg_itest_t *t, const void *key, size_t key_len) {
    const unsigned char *k = key;
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < key_len; i++)
        h = (h ^ k[i]) * 16777619u;
    return t->partitions > 1 ? (int32_t)(h % (uint32_t)t->partitions) : 0;
}

void vg_itest_state_key(const vg_itest_t *t, const vg_pseudo_t *ps, const char *tenant,
                        const char *customer, char *out, size_t size) {
    char pseudo[VG_PSEUDO_LEN];

    vg_pseudo_id(ps, tenant, customer, pseudo);
    vg_keys_state(out, size, t->prefix, t->topic_events,
                  vg_itest_partition_of(t, customer, strlen(customer)), pseudo);
}

void vg_itest_produce(vg_itest_t *t, vg_gen_t *gen, size_t count, vg_oracle_t *oracle,
                      vg_idset_t *expected, vg_itest_produced_t *out) {
    char err[512];
    vg_kafka_producer_t *p = vg_kafka_producer_new(&t->props, NULL, NULL, err, sizeof(err));
    vg_gen_record_t rec;
    size_t seen = vg_oracle_fired_count(oracle);

    if (!p) {
        fprintf(stderr, "FAIL: producer: %s\n", err);
        exit(1);
    }
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < count && vg_gen_next(gen, &rec); i++) {
        bool fired = false;
        char id[33];
        int32_t part = vg_itest_partition_of(t, rec.key, rec.key_len);
        if (vg_kafka_producer_send_to(p, t->topic_events, part, 0, rec.key, rec.key_len,
                                      rec.payload, rec.len, NULL, 0)) {
            fprintf(stderr, "FAIL: produce\n");
            exit(1);
        }
        out->records++;
        if (!vg_oracle_feed_at(oracle, part, rec.key, rec.key_len, rec.payload, rec.len, &fired,
                               id))
            out->malformed++;
    }
    for (; seen < vg_oracle_fired_count(oracle); seen++) {
        vg_idset_add(expected, vg_oracle_fired_id(oracle, seen));
        out->expected_triggers++;
    }
    if (vg_kafka_producer_flush(p, 60000, NULL, err, sizeof(err))) {
        fprintf(stderr, "FAIL: produce flush: %s\n", err);
        exit(1);
    }
    vg_kafka_producer_destroy(p);
}

bool vg_itest_wait_committed(vg_itest_t *t, int timeout_ms) {
    char err[512];
    long long deadline = vg_itest_now_ms() + timeout_ms;
    int64_t end = vg_kafka_admin_topic_end(&t->props, t->topic_events, 10000, err, sizeof(err));
    int64_t committed = -1;

    if (end < 0) {
        fprintf(stderr, "topic end: %s\n", err);
        return false;
    }
    while (vg_itest_now_ms() < deadline) {
        committed = vg_kafka_admin_group_committed(&t->props, t->group, t->topic_events, 10000,
                                                   err, sizeof(err));
        if (committed >= end)
            return true;
        usleep(200000); /* the group's progress is only observable by asking */
    }
    fprintf(stderr, "group committed %lld of %lld records\n", (long long)committed,
            (long long)end);
    return false;
}

vg_kafka_consumer_t *vg_itest_reader(vg_itest_t *t, const char *topic) {
    char err[512], group[256];
    vg_kafka_consumer_t *c;

    snprintf(group, sizeof(group), "reader.%s.%lld", topic, vg_itest_now_ms());
    c = vg_kafka_consumer_new(&t->props, group, topic, NULL, NULL, NULL, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "FAIL: reader: %s\n", err);
        exit(1);
    }
    return c;
}

void vg_itest_read_triggers(vg_itest_t *t, vg_idset_t *got, size_t want, int idle_ms,
                            int timeout_ms) {
    vg_itest_read_triggers_of(t, got, want, idle_ms, timeout_ms, NULL, NULL);
}

void vg_itest_read_triggers_of(vg_itest_t *t, vg_idset_t *got, size_t want, int idle_ms,
                               int timeout_ms, const char *model_version, vg_idset_t *of_version) {
    vg_kafka_consumer_t *c = vg_itest_reader(t, t->topic_triggers);
    vg_kafka_msg_t msgs[500];
    long long deadline = vg_itest_now_ms() + timeout_ms, last = vg_itest_now_ms();

    while (vg_itest_now_ms() < deadline) {
        size_t n = vg_kafka_consumer_poll_batch(c, msgs, 500, 200);
        for (size_t i = 0; i < n; i++) {
            Vigil__V1__InterventionTrigger *tr =
                vigil__v1__intervention_trigger__unpack(NULL, msgs[i].len, msgs[i].payload);
            if (!tr) {
                fprintf(stderr, "FAIL: undecodable trigger at offset %lld\n",
                        (long long)msgs[i].offset);
                exit(1);
            }
            vg_idset_add(got, tr->trigger_id);
            if (of_version && tr->lineage && tr->lineage->model_version &&
                strcmp(tr->lineage->model_version, model_version) == 0)
                vg_idset_add(of_version, tr->trigger_id);
            vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
        }
        vg_kafka_consumer_release(c, msgs, n);
        if (n)
            last = vg_itest_now_ms();
        /* Past the wanted count, keep reading until idle to catch extras. */
        if (got->n >= want && vg_itest_now_ms() - last >= idle_ms)
            break;
    }
    vg_kafka_consumer_destroy(c);
}

void vg_itest_read_dlq(vg_itest_t *t, size_t want, size_t *records, size_t *with_reason,
                       int timeout_ms) {
    vg_kafka_consumer_t *c = vg_itest_reader(t, t->topic_dlq);
    vg_kafka_msg_t msgs[500];
    long long deadline = vg_itest_now_ms() + timeout_ms, last = vg_itest_now_ms();

    *records = *with_reason = 0;
    while (vg_itest_now_ms() < deadline) {
        size_t n = vg_kafka_consumer_poll_batch(c, msgs, 500, 200);
        for (size_t i = 0; i < n; i++) {
            const void *v;
            size_t len;
            (*records)++;
            if (vg_kafka_msg_header(&msgs[i], "vigil.error", &v, &len) == VG_OK && len > 0 &&
                vg_kafka_msg_header(&msgs[i], "vigil.source.offset", &v, &len) == VG_OK)
                (*with_reason)++;
        }
        vg_kafka_consumer_release(c, msgs, n);
        if (n)
            last = vg_itest_now_ms();
        if (*records >= want && vg_itest_now_ms() - last >= 1000)
            break;
    }
    vg_kafka_consumer_destroy(c);
}

void vg_itest_read_dlq_sources(vg_itest_t *t, vg_idset_t *sources, size_t want, int idle_ms,
                               int timeout_ms, size_t *records, size_t *with_reason) {
    vg_kafka_consumer_t *c = vg_itest_reader(t, t->topic_dlq);
    vg_kafka_msg_t msgs[500];
    long long deadline = vg_itest_now_ms() + timeout_ms, last = vg_itest_now_ms();
    size_t distinct = 0, seen_at_count = 0;

    *records = *with_reason = 0;
    while (vg_itest_now_ms() < deadline) {
        size_t n = vg_kafka_consumer_poll_batch(c, msgs, 500, 200);
        for (size_t i = 0; i < n; i++) {
            const void *reason, *part, *off;
            size_t rlen = 0, plen = 0, olen = 0;
            char id[33];
            (*records)++;
            if (vg_kafka_msg_header(&msgs[i], "vigil.source.partition", &part, &plen) != VG_OK ||
                vg_kafka_msg_header(&msgs[i], "vigil.source.offset", &off, &olen) != VG_OK ||
                plen > 10 || olen > 20) {
                /* No coordinates: it cannot be matched to a source. */
                snprintf(id, sizeof(id), "?:%zu", *records);
            } else {
                snprintf(id, sizeof(id), "%.*s:%.*s", (int)plen, (const char *)part, (int)olen,
                         (const char *)off);
                if (vg_kafka_msg_header(&msgs[i], "vigil.error", &reason, &rlen) == VG_OK &&
                    rlen > 0)
                    (*with_reason)++;
            }
            vg_idset_add(sources, id);
        }
        vg_kafka_consumer_release(c, msgs, n);
        if (n)
            last = vg_itest_now_ms();
        /* Distinct entries are only counted when the stream looks done:
         * sorting on every poll would be quadratic. */
        if (sources->n >= want && sources->n != seen_at_count &&
            vg_itest_now_ms() - last >= idle_ms) {
            vg_idset_t copy = {0};
            for (size_t k = 0; k < sources->n; k++)
                vg_idset_add(&copy, sources->ids[k]);
            vg_idset_dedupe(&copy);
            distinct = copy.n;
            vg_idset_free(&copy);
            seen_at_count = sources->n;
        }
        if (distinct >= want && vg_itest_now_ms() - last >= idle_ms)
            break;
    }
    vg_kafka_consumer_destroy(c);
}

/* Describe the first semantic difference between a (stored) and b
 * (oracle) into why; false when they are equal. Only the first n_*
 * entries of each array are meaningful (vg_state_init leaves the rest). */
static bool vg_itest_state_differs(const vg_state_t *a, const vg_state_t *b, char *why,
                                   size_t why_size) {
#define VG_DIFF(...) (snprintf(why, why_size, __VA_ARGS__), true)
    if (a->events_applied != b->events_applied)
        return VG_DIFF("events_applied %llu != %llu", (unsigned long long)a->events_applied,
                       (unsigned long long)b->events_applied);
    if (a->last_event_ms != b->last_event_ms)
        return VG_DIFF("last_event_ms %lld != %lld", (long long)a->last_event_ms,
                       (long long)b->last_event_ms);
    if (a->last_signal_ms != b->last_signal_ms)
        return VG_DIFF("last_signal_ms %lld != %lld", (long long)a->last_signal_ms,
                       (long long)b->last_signal_ms);
    if (a->n_troubles != b->n_troubles)
        return VG_DIFF("%u trouble windows != %u", a->n_troubles, b->n_troubles);
    for (uint32_t i = 0; i < a->n_troubles; i++) {
        const vg_state_window_t *x = &a->troubles[i], *y = &b->troubles[i];
        if (strcmp(x->kind, y->kind) || x->n != y->n)
            return VG_DIFF("trouble window %u: %s/%u != %s/%u", i, x->kind, x->n, y->kind, y->n);
        for (uint32_t j = 0; j < x->n; j++)
            if (x->times_ms[j] != y->times_ms[j] || x->channels[j] != y->channels[j] ||
                strcmp(x->event_ids[j], y->event_ids[j]))
                return VG_DIFF("trouble window %s entry %u: %lld/%d/%s != %lld/%d/%s", x->kind, j,
                               (long long)x->times_ms[j], x->channels[j], x->event_ids[j],
                               (long long)y->times_ms[j], y->channels[j], y->event_ids[j]);
    }
    if (a->n_ledgers != b->n_ledgers)
        return VG_DIFF("%u ledgers != %u", a->n_ledgers, b->n_ledgers);
    for (uint32_t i = 0; i < a->n_ledgers; i++) {
        const vg_state_ledger_t *x = &a->ledgers[i], *y = &b->ledgers[i];
        if (strcmp(x->intervention, y->intervention) || x->channel != y->channel || x->n != y->n)
            return VG_DIFF("ledger %u: %s/%d/%u != %s/%d/%u", i, x->intervention, x->channel,
                           x->n, y->intervention, y->channel, y->n);
        for (uint32_t j = 0; j < x->n; j++)
            if (x->fired_ms[j] != y->fired_ms[j])
                return VG_DIFF("ledger %s entry %u: %lld != %lld", x->intervention, j,
                               (long long)x->fired_ms[j], (long long)y->fired_ms[j]);
    }
    if (a->value_tier != b->value_tier || a->tenure_months != b->tenure_months ||
        a->revenue_weight != b->revenue_weight || a->churn_risk != b->churn_risk)
        return VG_DIFF("descriptive fields differ");
    return false;
#undef VG_DIFF
}

size_t vg_itest_compare_states(vg_itest_t *t, const vg_oracle_t *oracle, const char *tenant,
                               const char *const *customers, size_t n, size_t *absent,
                               int max_print) {
    enum { CHUNK = 256 };
    char err[512], keys[CHUNK][VG_KEYS_MAX];
    const char *kp[CHUNK];
    vg_redis_state_t loaded[CHUNK];
    vg_redis_conf_t rc = {0};
    vg_redis_t *r;
    vg_pseudo_t *ps;
    vg_state_t *st = malloc(sizeof(*st));
    size_t differ = 0;
    int printed = 0;

    *absent = 0;
    if (t->redis_conf)
        rc = *t->redis_conf;
    else
        rc.host = t->redis_host, rc.port = t->redis_port;
    rc.timeout_ms = 10000;
    r = vg_redis_new(&rc, NULL, err, sizeof(err));
    ps = vg_pseudo_new(VG_ITEST_PSEUDONYM_KEY, strlen(VG_ITEST_PSEUDONYM_KEY), err, sizeof(err));
    if (!r || !ps || !st) {
        fprintf(stderr, "state check: %s\n", err);
        vg_redis_destroy(r);
        vg_pseudo_destroy(ps);
        free(st);
        return (size_t)-1;
    }
    for (size_t base = 0; base < n; base += CHUNK) {
        size_t m = n - base < CHUNK ? n - base : CHUNK;
        for (size_t i = 0; i < m; i++) {
            vg_itest_state_key(t, ps, tenant, customers[base + i], keys[i], sizeof(keys[i]));
            kp[i] = keys[i];
        }
        if (vg_redis_load(r, kp, m, loaded, err, sizeof(err))) {
            fprintf(stderr, "state check: load: %s\n", err);
            differ = (size_t)-1;
            break;
        }
        for (size_t i = 0; i < m; i++) {
            const vg_state_t *want = vg_oracle_state(oracle, tenant, customers[base + i]);
            char why[512] = "";
            bool bad = false;
            if (!want) {
                snprintf(why, sizeof(why), "unknown to the oracle");
                bad = true;
            } else if (!loaded[i].found) {
                (*absent)++;
                snprintf(why, sizeof(why), "no state in Redis");
                bad = true;
            } else if (vg_state_decode(st, loaded[i].data, loaded[i].len, why, sizeof(why))) {
                bad = true;
            } else {
                bad = vg_itest_state_differs(st, want, why, sizeof(why));
            }
            if (bad) {
                differ++;
                if (printed++ < max_print)
                    printf("state mismatch: %s/%s (key %s): %s\n", tenant, customers[base + i],
                           keys[i], why);
            }
        }
    }
    vg_redis_destroy(r);
    vg_pseudo_destroy(ps);
    free(st);
    return differ;
}

bool vg_itest_wait_log(const char *path, const char *text, int timeout_ms) {
    long long deadline = vg_itest_now_ms() + timeout_ms;

    do {
        FILE *f = fopen(path, "r");
        char line[4096];
        bool found = false;
        if (f) {
            while (!found && fgets(line, sizeof(line), f))
                found = strstr(line, text) != NULL;
            fclose(f);
        }
        if (found)
            return true;
        usleep(50000); /* a log file has no change notification worth the code */
    } while (vg_itest_now_ms() < deadline);
    return false;
}

int vg_itest_free_port(void) {
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int vg_itest_traffic(const vg_itest_traffic_t *tr, vg_gen_t **gen, vg_oracle_t **oracle) {
    vg_gen_conf_t gc;
    vg_model_t model;
    char err[256] = "";

    vg_gen_conf_init(&gc);
    gc.start_ms = (int64_t)time(NULL) * 1000;
    gc.seed = tr->seed;
    gc.customers = tr->customers;
    gc.events = tr->events;
    if (tr->step_ms)
        gc.step_ms = tr->step_ms;
    gc.trouble_rate = tr->trouble_rate;
    gc.malformed_rate = tr->malformed_rate;
    gc.tenant = "acme";
    *gen = vg_gen_new(&gc, err, sizeof(err));
    vg_model_default(&model);
    *oracle = vg_oracle_new(&model);
    if (*gen && *oracle)
        return 0;
    fprintf(stderr, "FAIL: setup: %s\n", *gen ? "oracle: out of memory" : err);
    vg_gen_destroy(*gen);
    vg_oracle_destroy(*oracle);
    *gen = NULL;
    *oracle = NULL;
    return 1;
}

/* --- a Kafka of the test's own, with a secured listener -------------------- */

static const char *vg_itest_repo(void) {
    const char *r = getenv("VIGIL_REPO");
    return r && r[0] ? r : ".";
}

static void vg_itest_kafka_parse_env(vg_itest_kafka_t *k, const char *path) {
    FILE *f = fopen(path, "r");
    char line[1400];

    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '='), *v;
        if (!eq)
            continue;
        *eq = '\0';
        v = eq + 1;
        v[strcspn(v, "\r\n")] = '\0';
        if (!strcmp(line, "VIGIL_KAFKA_BOOTSTRAP"))
            snprintf(k->bootstrap, sizeof(k->bootstrap), "%s", v);
        else if (!strcmp(line, "VIGIL_KAFKA_SECURE_BOOTSTRAP"))
            snprintf(k->secure_bootstrap, sizeof(k->secure_bootstrap), "%s", v);
        else if (!strcmp(line, "VIGIL_KAFKA_CERTS"))
            snprintf(k->certs, sizeof(k->certs), "%s", v);
        else if (!strcmp(line, "VIGIL_KAFKA_SASL_USERNAME"))
            snprintf(k->sasl_username, sizeof(k->sasl_username), "%s", v);
        else if (!strcmp(line, "VIGIL_KAFKA_SASL_PASSWORD_FILE"))
            snprintf(k->sasl_password_file, sizeof(k->sasl_password_file), "%s", v);
        else if (!strcmp(line, "VIGIL_KAFKA_PRINCIPAL"))
            snprintf(k->principal, sizeof(k->principal), "%s", v);
    }
    fclose(f);
}

int vg_itest_kafka_start(const vg_itest_t *t, const char *security, vg_itest_kafka_t *k) {
    char cmd[8192], env[1200];

    memset(k, 0, sizeof(*k));
    snprintf(k->security, sizeof(k->security), "%s", security);
    snprintf(k->run_dir, sizeof(k->run_dir), "%s/%s-kafka-%s", t->stack_dir, t->name, security);
    if (system("command -v java >/dev/null 2>&1") != 0) {
        printf("SKIP: java not found (run ops/setup.sh)\n");
        return VG_ITEST_SKIP;
    }
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"%s/ops/stack/lib.sh\" && compgen -G \"$(vigil_kafka_libs)/"
             "kafka_2.13-*.jar\"' >/dev/null 2>&1",
             vg_itest_repo());
    if (system(cmd) != 0) {
        printf("SKIP: the Kafka jars are missing (run ops/setup.sh)\n");
        return VG_ITEST_SKIP;
    }
    /* A folder left by an interrupted run is stopped and replaced. */
    snprintf(cmd, sizeof(cmd),
             "bash \"%s/ops/stack/kafka.sh\" stop --run-dir \"%s\" >/dev/null 2>&1; "
             "rm -rf -- \"%s\"; bash \"%s/ops/stack/kafka.sh\" start --run-dir \"%s\" "
             "--security %s >\"%s.log\" 2>&1",
             vg_itest_repo(), k->run_dir, k->run_dir, vg_itest_repo(), k->run_dir, security,
             k->run_dir);
    fflush(NULL);
    if (system(cmd) != 0) {
        fprintf(stderr, "FAIL: kafka.sh start --security %s failed (see %s.log)\n", security,
                k->run_dir);
        return 1;
    }
    snprintf(env, sizeof(env), "%s/kafka.env", k->run_dir);
    vg_itest_kafka_parse_env(k, env);
    if (!k->sasl_username[0] && !k->principal[0])
        snprintf(k->principal, sizeof(k->principal), "User:ANONYMOUS");
    else if (k->sasl_username[0])
        snprintf(k->principal, sizeof(k->principal), "User:%s", k->sasl_username);
    if (!k->bootstrap[0] || !k->secure_bootstrap[0] || !k->certs[0]) {
        fprintf(stderr, "FAIL: %s lacks the secured listener's settings\n", env);
        vg_itest_kafka_stop(k);
        return 1;
    }
    printf("kafka (--security %s): admin %s, secured %s, principal %s\n", security,
           k->bootstrap, k->secure_bootstrap, k->principal);
    return 0;
}

void vg_itest_kafka_stop(const vg_itest_kafka_t *k) {
    char cmd[8192];

    snprintf(cmd, sizeof(cmd), "bash \"%s/ops/stack/kafka.sh\" stop --run-dir \"%s\" >>\"%s.log\" 2>&1",
             vg_itest_repo(), k->run_dir, k->run_dir);
    fflush(NULL);
    if (system(cmd) != 0)
        fprintf(stderr, "kafka.sh stop --run-dir %s failed\n", k->run_dir);
}

void vg_itest_use_kafka(vg_itest_t *t, const vg_itest_kafka_t *k) {
    /* t->props holds a pointer to t->bootstrap: rewritten in place. */
    snprintf(t->bootstrap, sizeof(t->bootstrap), "%s", k->bootstrap);
}

int vg_itest_kafka_acls(const vg_itest_kafka_t *k, const char *args) {
    char cmd[8192];
    int rc;

    snprintf(cmd, sizeof(cmd), "bash \"%s/ops/stack/kafka.sh\" acls --run-dir \"%s\" %s >>\"%s.log\" 2>&1",
             vg_itest_repo(), k->run_dir, args, k->run_dir);
    fflush(NULL);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

size_t vg_itest_file_count(const char *path, const char *text) {
    FILE *f = fopen(path, "r");
    char line[8192];
    size_t n = 0;

    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return n;
}

int vg_itest_check_triggers(vg_itest_t *t, vg_idset_t *want, bool duplicates_allowed) {
    vg_idset_t got = {0};
    size_t dups, missing, extra;
    int bad;

    vg_itest_read_triggers(t, &got, want->n, 2000, 60000);
    vg_idset_dedupe(want);
    dups = vg_idset_dedupe(&got);
    vg_idset_diff(want, &got, &missing, &extra);
    printf("triggers: expected %zu, published %zu distinct, %zu duplicates, %zu missing, %zu "
           "extra\n", want->n, got.n, dups, missing, extra);
    bad = missing || extra || (dups && !duplicates_allowed) || want->n == 0;
    if (bad)
        fprintf(stderr, "FAIL: trigger set differs from the oracle\n");
    vg_idset_free(&got);
    return bad;
}

int vg_itest_check_states(vg_itest_t *t, const vg_oracle_t *oracle, size_t n, const char *where) {
    char (*ids)[32] = calloc(n, sizeof(*ids));
    const char **cust = calloc(n, sizeof(*cust));
    size_t differ = (size_t)-1, absent = 0;
    int bad;

    for (size_t i = 0; ids && cust && i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "cust-%06zu", i);
        cust[i] = ids[i];
    }
    if (ids && cust)
        differ = vg_itest_compare_states(t, oracle, "acme", cust, n, &absent, 5);
    printf("states %s: %zu customers in the oracle, %zu stored, %zu differ\n", where,
           vg_oracle_customers(oracle), n - absent, differ == (size_t)-1 ? differ : differ - absent);
    bad = differ == (size_t)-1 || differ != absent || n - absent != vg_oracle_customers(oracle);
    if (bad)
        fprintf(stderr, "FAIL: the states %s differ from the oracle's\n", where);
    free(ids);
    free(cust);
    return bad;
}
