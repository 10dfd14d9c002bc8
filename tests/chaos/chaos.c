/*
 * chaos: the proof of the delivery guarantee (DESIGN.md, "Delivery
 * guarantee"; issue 4) against the real servers, under faults.
 *
 * Each run starts its own stack (ops/stack/up.sh) in a fresh run folder,
 * streams generated events at a paced rate through real vigil-worker
 * processes while it injects one kind of fault on a seeded schedule, then
 * compares what the workers published with the oracle (the same records
 * through the same pure functions in this process):
 *
 *   kill9   kill -9 a random worker every few seconds and restart it with
 *           the same worker.id (its transactional id fences the zombie);
 *   scale   1 -> 2 -> 3 -> 4 -> 3 -> 2 -> 1 workers, scale-in by SIGTERM
 *           (exit 0 required); after each step the group must settle
 *           (every worker owning partitions, from the workers' rebalance
 *           log lines) before the next; cycles repeat while the stream runs;
 *   redis   stop/start Redis cleanly, then kill -9 and restart it (AOF,
 *           appendfsync always), alternately;
 *   broker  stop and restart one broker of a 3-broker KRaft cluster
 *           (topics with replication factor 3, min.insync.replicas 2);
 *   broker9 the same with kill -9 instead of the clean stop (the
 *           controller fences the node after broker.session.timeout.ms);
 *   controller kill -9 of the node that is the active KRaft controller
 *           (asked at run time: kafka.sh controller, the quorum's
 *           LeaderId; every node is a voter, combined mode), a new one
 *           must be elected among the other two, then the node restarts;
 *   quorum  two of the three brokers stopped, one after the other, so
 *           min.insync.replicas=2 cannot be met for anything the workers
 *           write (triggers, dead letters, offsets, the transaction log):
 *           every worker must stall and say so, /readyz answering non-200
 *           with "not enough in-sync replicas" and vigil_kafka_problem
 *           {problem="not_enough_replicas"} 1, within 60 s, and still
 *           25 s after the second stop (the workers run with the Kafka
 *           timeouts of ops/k8s: transaction.timeout.ms 20 s, so Kafka
 *           aborts their open transactions meanwhile); then one broker
 *           returns and every worker must be ready again within 120 s,
 *           then the other. The events topic alone keeps
 *           min.insync.replicas=1 so that events still arrive: the
 *           workers have records in hand while their writes cannot be
 *           acknowledged (an idle worker writes nothing, so has nothing
 *           to report);
 *   outage  Kafka gone (kill -9 of the only broker) and every worker
 *           asked to stop while it is: each must exit 0 within
 *           shutdown.drain_timeout_ms (5 s here), committing nothing
 *           half-done; then Kafka and the workers come back and the
 *           output must still equal the oracle's.
 *
 * Asserts, in exactly_once mode: the read_committed trigger stream has the
 * oracle's trigger ids, no duplicate, none missing, none extra; the dead
 * letter topic holds each malformed record once. In at_least_once mode: no
 * trigger or dead letter missing, repeats allowed (and counted). In both:
 * each customer's state in Redis equals the oracle's in its semantic fields
 * (the replay rule and the version CAS hold in both modes), no worker exits
 * on its own, and every worker drains and exits 0 on SIGTERM.
 *
 *   chaos SCENARIO MODE [EVENTS] [--rate N] [--seed N] [--workers N]
 *         [--customers N] [--partitions N] [--run-dir DIR] [--timeout S]
 *         [--keep]
 *
 * The traffic goes to explicit partitions (vg_itest_partition_of) and the
 * oracle is fed in the same per-partition order, so absence deadlines,
 * which follow per-partition watermarks, are part of the expected set.
 * The stream starts only once the first workers' group has settled.
 *
 * Exit status: 0 passed, 1 failed, 77 skipped (only when the machine lacks
 * what the stack needs: java, redis-server, the Kafka jars).
 *
 * Environment: VIGIL_WORKER_BIN (vigil-worker), VIGIL_REPO (the source
 * tree, for ops/stack/).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vg_itest.h"
#include "vg_kafka_admin.h"
#include "vg_kafka_producer.h"

#ifndef VIGIL_SOURCE_DIR
#define VIGIL_SOURCE_DIR "."
#endif

#define CHAOS_MAX_WORKERS 8

typedef enum {
    SC_KILL9,
    SC_SCALE,
    SC_REDIS,
    SC_BROKER,
    SC_OUTAGE,
    SC_BROKER9,
    SC_CONTROLLER,
    SC_QUORUM
} chaos_scenario_t;

static const char *const chaos_scenario_names[] = {"kill9",  "scale",   "redis",      "broker",
                                                   "outage", "broker9", "controller", "quorum"};

/* The scenarios that need the 3-node cluster (topics with RF 3). */
static bool chaos_three_nodes(chaos_scenario_t sc) {
    return sc == SC_BROKER || sc == SC_BROKER9 || sc == SC_CONTROLLER || sc == SC_QUORUM;
}

typedef struct chaos_worker_s {
    char id[16];
    pid_t pid; /* 0: not running */
    int starts;
    long log_from;        /* size of its log when this run of it started */
    long long restart_at; /* exited on its own: start again at this time */
    int http_port;        /* its /readyz and /metrics (quorum); 0: none */
} chaos_worker_t;

/* The producer thread: paced traffic, fed to the oracle as it is sent. */
typedef struct chaos_feed_s {
    vg_itest_t *t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    size_t count;
    double rate; /* records per second; 0: as fast as possible */
    vg_idset_t expected;
    vg_itest_produced_t prod;
    /* Distinct customers of valid records, for the state check. */
    char **cust;
    size_t n_cust, cap_cust;
    char **cust_tab; /* open addressing over cust strings */
    size_t tab_cap;
    _Atomic size_t sent;
    _Atomic int done; /* 0 running, 1 finished, -1 failed */
    char err[512];
    long long t_end;
} chaos_feed_t;

typedef struct chaos_s {
    chaos_scenario_t sc;
    const char *mode;
    bool eos;
    size_t events;
    double rate;
    uint64_t seed, rng;
    int n_workers, partitions;
    unsigned customers;
    int timeout_s;
    bool keep;
    char repo[1024], run_dir[1024], name[64];

    vg_itest_t t;
    chaos_worker_t w[CHAOS_MAX_WORKERS];
    char mode_set[64];
    const char *extra[8];

    long long t0;           /* start of the stream */
    size_t faults;          /* fault actions injected */
    size_t faults_kind[2];  /* redis: clean stops, kill -9s */
    size_t unexpected_exits;
    size_t bad_drains;      /* SIGTERM that did not give exit 0 in time */
    int failures;
    bool stack_up;
    bool no_restarts; /* the run is ending: reap, never restart */
    /* Measured by the broker faults, for the RESULT line (-1: not
     * measured): a new controller known after the kill (controller); not
     * ready after the second broker stopped, ready again after it, and
     * after one broker came back (quorum). */
    double election_s, notready_s, stall_s, resume_s;
} chaos_t;

/* The watchdog and the atexit handler reach the run through this: a
 * process runs one scenario, and cleanup must work from any exit path. */
static chaos_t *chaos_current;
static volatile sig_atomic_t chaos_signalled;
static _Atomic long long chaos_deadline_ms;

/* --- small helpers --------------------------------------------------------- */

static uint64_t chaos_rand(chaos_t *c) {
    /* splitmix64: a deterministic schedule from --seed. */
    uint64_t z = (c->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static long long chaos_between(chaos_t *c, long long lo, long long hi) {
    return lo + (long long)(chaos_rand(c) % (uint64_t)(hi - lo + 1));
}

static double chaos_elapsed(const chaos_t *c) { return (vg_itest_now_ms() - c->t0) / 1000.0; }

static void chaos_sleep_ms(long long ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static void chaos_fail(chaos_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void chaos_fail(chaos_t *c, const char *fmt, ...) {
    va_list ap;

    c->failures++;
    fprintf(stdout, "FAIL: ");
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Print the last lines of a file (a worker's log), for the diagnosis. */
static void chaos_tail(const char *path, int lines) {
    FILE *f = fopen(path, "r");
    long size, pos;
    int seen = 0;
    char buf[4096];

    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    pos = size;
    while (pos > 0 && seen <= lines) {
        pos--;
        fseek(f, pos, SEEK_SET);
        if (fgetc(f) == '\n')
            seen++;
    }
    fseek(f, pos ? pos + 1 : 0, SEEK_SET);
    printf("  --- last lines of %s ---\n", path);
    while (fgets(buf, sizeof(buf), f))
        printf("  | %s", buf);
    fclose(f);
}

/* Run an ops script (ops/stack/NAME args...) with its output appended to
 * RUN_DIR/ops.log, or, with out, its standard output into out (trimmed;
 * stderr still to the log); returns its exit status, or -1 if it had to
 * be killed after timeout_s. The servers it starts are in their own
 * sessions, so killing the script never kills them. */
static int chaos_ops_va(chaos_t *c, int timeout_s, char *out, size_t out_size,
                        const char *script, va_list ap) {
    const char *argv[16];
    char path[1200], logpath[1200], outpath[1200];
    int argc = 0, status;
    long long deadline = vg_itest_now_ms() + timeout_s * 1000LL;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/ops/stack/%s", c->repo, script);
    snprintf(logpath, sizeof(logpath), "%s.ops.log", c->run_dir);
    snprintf(outpath, sizeof(outpath), "%s.ops.out", c->run_dir);
    argv[argc++] = "bash";
    argv[argc++] = path;
    while (argc < 15 && (argv[argc] = va_arg(ap, const char *)))
        argc++;
    argv[argc] = NULL;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int fo = out ? open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
        if (fd >= 0) {
            dup2(fo >= 0 ? fo : fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (fo >= 0)
            close(fo);
        execvp("bash", (char *const *)argv);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (vg_itest_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        chaos_sleep_ms(50);
    }
    if (out && out_size) {
        FILE *f = fopen(outpath, "r");
        size_t n = f ? fread(out, 1, out_size - 1, f) : 0;
        if (f)
            fclose(f);
        while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
            n--;
        out[n] = '\0';
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int chaos_ops(chaos_t *c, int timeout_s, const char *script, ...) {
    va_list ap;
    int rc;

    va_start(ap, script);
    rc = chaos_ops_va(c, timeout_s, NULL, 0, script, ap);
    va_end(ap);
    return rc;
}

static int chaos_ops_out(chaos_t *c, int timeout_s, char *out, size_t out_size,
                         const char *script, ...) {
    va_list ap;
    int rc;

    va_start(ap, script);
    rc = chaos_ops_va(c, timeout_s, out, out_size, script, ap);
    va_end(ap);
    return rc;
}

/* GET path from a worker's HTTP side port on 127.0.0.1. Returns the
 * status code, or -1 when there is no answer within 2 s; the body (up to
 * body_size - 1 bytes) in body. */
static int chaos_http_get(int port, const char *path, char *body, size_t body_size) {
    /* Big enough for all of /metrics (histograms of every stage). */
    static char buf[1 << 20];
    struct sockaddr_in sa;
    struct timeval tv = {2, 0};
    char req[256];
    size_t n = 0;
    ssize_t r;
    int fd = socket(AF_INET, SOCK_STREAM, 0), code = -1;
    const char *b;

    body[0] = '\0';
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
        while (n < sizeof(buf) - 1 && (r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0)
            n += (size_t)r;
        buf[n] = '\0';
        if (sscanf(buf, "HTTP/%*d.%*d %d", &code) != 1)
            code = -1;
        if ((b = strstr(buf, "\r\n\r\n")))
            snprintf(body, body_size, "%s", b + 4);
    }
    close(fd);
    return code;
}

/* True if the shell command succeeds (environment probes). */
static bool chaos_sh_ok(const char *cmd) {
    int rc = system(cmd);

    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* --- workers ------------------------------------------------------------------ */

static void chaos_worker_log(const chaos_t *c, const chaos_worker_t *w, char *out, size_t size) {
    snprintf(out, size, "%s/%s-%s.log", c->t.stack_dir, c->t.name, w->id);
}

static void chaos_worker_start(chaos_t *c, chaos_worker_t *w) {
    char log[1200], http[32];
    struct stat st;
    const char *extra[8];
    int n = 0;

    chaos_worker_log(c, w, log, sizeof(log));
    w->log_from = stat(log, &st) == 0 ? (long)st.st_size : 0;
    while (n < 6 && c->extra[n])
        extra[n] = c->extra[n], n++;
    if (w->http_port) {
        snprintf(http, sizeof(http), "http.port=%d", w->http_port);
        extra[n++] = http;
    }
    extra[n] = NULL;
    w->pid = vg_itest_worker_spawn(&c->t, w->id, extra);
    w->starts++;
    if (w->pid < 0) {
        chaos_fail(c, "fork: %s", strerror(errno));
        w->pid = 0;
    }
}

/* How many partitions the running worker owns now, from its log since it
 * started: the consumer logs every incremental assignment and revocation
 * ("assigned N partition(s)", "revoked N ...", "lost N ..."). */
static int chaos_worker_owned(const chaos_t *c, const chaos_worker_t *w) {
    char log[1200], line[2048];
    FILE *f;
    int owned = 0;

    chaos_worker_log(c, w, log, sizeof(log));
    if (!w->pid || !(f = fopen(log, "r")))
        return 0;
    fseek(f, w->log_from, SEEK_SET);
    while (fgets(line, sizeof(line), f)) {
        const char *m = strstr(line, "\"msg\":\"");
        int n;
        if (!m || !strstr(m, "partition(s)"))
            continue;
        m += 7;
        if (sscanf(m, "assigned %d", &n) == 1)
            owned += n;
        else if (sscanf(m, "revoked %d", &n) == 1 || sscanf(m, "lost %d", &n) == 1)
            owned -= n;
    }
    fclose(f);
    return owned;
}

/* Await a settled group: every running worker owns at least one
 * partition (when there are enough) and together they own all of them.
 * Returns the milliseconds it took, or -1 after timeout_ms (a failure:
 * a rebalance that never completes is a stall). */
static long long chaos_await_settled(chaos_t *c, int timeout_ms) {
    long long t0 = vg_itest_now_ms();

    while (vg_itest_now_ms() - t0 < timeout_ms) {
        int running = 0, total = 0, idle = 0;
        for (int i = 0; i < CHAOS_MAX_WORKERS; i++) {
            int n;
            if (!c->w[i].pid)
                continue;
            running++;
            n = chaos_worker_owned(c, &c->w[i]);
            total += n;
            idle += n == 0;
        }
        if (running && total == c->partitions && (idle == 0 || running > c->partitions))
            return vg_itest_now_ms() - t0;
        chaos_sleep_ms(100);
    }
    chaos_fail(c, "the group did not settle within %d s (every worker owning partitions)",
               timeout_ms / 1000);
    return -1;
}

/* SIGTERM and wait for the drain; a graceful drain is exit 0. */
static void chaos_worker_stop(chaos_t *c, chaos_worker_t *w, const char *why) {
    long long t = vg_itest_now_ms();
    int rc;

    if (!w->pid)
        return;
    rc = vg_itest_worker_stop(w->pid, SIGTERM, 60000);
    printf("[%6.1fs] %s: SIGTERM %s (pid %d): exit %d after %.1f s\n", chaos_elapsed(c), why,
           w->id, (int)w->pid, rc, (vg_itest_now_ms() - t) / 1000.0);
    if (rc != 0) {
        char log[1200];
        c->bad_drains++;
        chaos_fail(c, "worker %s did not drain and exit 0 on SIGTERM (%s)", w->id,
                   rc < 0 ? "still running after 60 s, killed" : "non-zero exit");
        chaos_worker_log(c, w, log, sizeof(log));
        chaos_tail(log, 15);
    }
    w->pid = 0;
}

/* A worker that exits on its own is a failure (crash, fatal error, hang
 * turned exit): say how, show its log (the first few times), and start it
 * again a second later, so the run still measures the stream without
 * turning a crash loop into a fork storm. */
static void chaos_reap(chaos_t *c) {
    long long now = vg_itest_now_ms();

    for (int i = 0; i < CHAOS_MAX_WORKERS; i++) {
        chaos_worker_t *w = &c->w[i];
        int status;
        char log[1200];

        if (!w->pid && w->restart_at && now >= w->restart_at) {
            w->restart_at = 0;
            if (!c->no_restarts)
                chaos_worker_start(c, w);
            continue;
        }
        if (!w->pid || waitpid(w->pid, &status, WNOHANG) != w->pid)
            continue;
        c->unexpected_exits++;
        chaos_fail(c, "[%.1fs] worker %s (pid %d) exited on its own: %s %d", chaos_elapsed(c),
                   w->id, (int)w->pid, WIFEXITED(status) ? "exit" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        if (c->unexpected_exits <= 3) {
            chaos_worker_log(c, w, log, sizeof(log));
            chaos_tail(log, 20);
        }
        w->pid = 0;
        w->restart_at = now + 1000;
    }
}

/* Kill every worker now (cleanup paths only). */
static void chaos_kill_all(chaos_t *c) {
    for (int i = 0; i < CHAOS_MAX_WORKERS; i++) {
        if (c->w[i].pid > 0) {
            kill(c->w[i].pid, SIGKILL);
            waitpid(c->w[i].pid, NULL, 0);
            c->w[i].pid = 0;
        }
    }
}

static void chaos_stack_down(chaos_t *c, bool remove) {
    if (!c->stack_up)
        return;
    c->stack_up = false;
    if (chaos_ops(c, 120, "down.sh", "--run-dir", c->run_dir, remove ? "--rm" : NULL, NULL))
        printf("warning: down.sh failed; see %s.ops.log\n", c->run_dir);
}

static void chaos_atexit(void) {
    if (!chaos_current)
        return;
    chaos_kill_all(chaos_current);
    chaos_stack_down(chaos_current, false);
}

static void chaos_on_signal(int sig) {
    (void)sig;
    chaos_signalled = 1;
}

/* Bounds the whole run: past the deadline (or on SIGINT/SIGTERM), kill the
 * workers, stop the stack and fail. The main thread may be blocked in a
 * Kafka or Redis call, so this cannot wait for it. */
static void *chaos_watchdog(void *arg) {
    chaos_t *c = arg;

    for (;;) {
        chaos_sleep_ms(200);
        if (chaos_signalled || vg_itest_now_ms() > atomic_load(&chaos_deadline_ms)) {
            printf("FAIL: %s after %.0f s; stopping everything (logs in %s)\n",
                   chaos_signalled ? "interrupted" : "run deadline (--timeout) passed",
                   chaos_elapsed(c), c->run_dir);
            fflush(stdout);
            chaos_kill_all(c);
            chaos_stack_down(c, false);
            _exit(1);
        }
    }
    return NULL;
}

/* --- the producer thread --------------------------------------------------- */

static uint64_t chaos_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

static void chaos_feed_customer(chaos_feed_t *f, const char *key, size_t len) {
    size_t i;

    if ((f->n_cust + 1) * 2 > f->tab_cap) {
        size_t cap = f->tab_cap ? f->tab_cap * 2 : 4096;
        char **tab = calloc(cap, sizeof(*tab));
        if (!tab) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        for (size_t k = 0; k < f->n_cust; k++) {
            for (i = chaos_hash(f->cust[k]) & (cap - 1); tab[i]; i = (i + 1) & (cap - 1))
                ;
            tab[i] = f->cust[k];
        }
        free(f->cust_tab);
        f->cust_tab = tab;
        f->tab_cap = cap;
    }
    {
        char id[160];
        snprintf(id, sizeof(id), "%.*s", (int)len, key);
        for (i = chaos_hash(id) & (f->tab_cap - 1); f->cust_tab[i]; i = (i + 1) & (f->tab_cap - 1))
            if (strcmp(f->cust_tab[i], id) == 0)
                return;
        if (f->n_cust == f->cap_cust) {
            f->cap_cust = f->cap_cust ? f->cap_cust * 2 : 4096;
            f->cust = realloc(f->cust, f->cap_cust * sizeof(*f->cust));
            if (!f->cust) {
                fprintf(stderr, "out of memory\n");
                exit(2);
            }
        }
        f->cust[f->n_cust] = strdup(id);
        f->cust_tab[i] = f->cust[f->n_cust++];
    }
}

static void *chaos_feed_run(void *arg) {
    chaos_feed_t *f = arg;
    char err[400];
    vg_kafka_props_t props = f->t->props;
    vg_kafka_producer_t *p;

    /* The upstream producer rides out a Kafka outage (the outage scenario
     * keeps Kafka down for 20 s and more on a loaded machine). */
    vg_kafka_props_add(&props, "message.timeout.ms", "300000");
    p = vg_kafka_producer_new(&props, NULL, NULL, err, sizeof(err));
    vg_gen_record_t rec;
    long long t0 = vg_itest_now_ms();
    size_t failed = 0;

    if (!p) {
        snprintf(f->err, sizeof(f->err), "producer: %s", err);
        atomic_store(&f->done, -1);
        return NULL;
    }
    for (size_t i = 0; i < f->count && vg_gen_next(f->gen, &rec); i++) {
        bool fired = false;
        char id[33];
        /* An explicit partition, the one vg_itest_produce() uses, so the
         * oracle sees each partition's records in Kafka's order (deadlines
         * follow per-partition event-time watermarks). */
        int32_t part = vg_itest_partition_of(f->t, rec.key, rec.key_len);

        if (f->rate > 0) {
            long long due = t0 + (long long)((double)i * 1000.0 / f->rate);
            long long now = vg_itest_now_ms();
            if (due > now + 1)
                chaos_sleep_ms(due - now);
        }
        if (vg_kafka_producer_send_to(p, f->t->topic_events, part, 0, rec.key, rec.key_len,
                                      rec.payload, rec.len, NULL, 0)) {
            snprintf(f->err, sizeof(f->err), "produce of record %zu refused", i);
            break;
        }
        f->prod.records++;
        if (!vg_oracle_feed_at(f->oracle, part, rec.key, rec.key_len, rec.payload, rec.len,
                               &fired, id))
            f->prod.malformed++;
        else
            chaos_feed_customer(f, rec.key, rec.key_len);
        atomic_store(&f->sent, f->prod.records);
    }
    /* Every trigger the oracle fired: the records' own and deadlines. */
    for (size_t k = 0; k < vg_oracle_fired_count(f->oracle); k++) {
        vg_idset_add(&f->expected, vg_oracle_fired_id(f->oracle, k));
        f->prod.expected_triggers++;
    }
    /* A record the broker never took would make the oracle wrong, not the
     * workers: that is a failure of this harness, and said so. */
    if (vg_kafka_producer_flush(p, 180000, &failed, err, sizeof(err)) && !f->err[0])
        snprintf(f->err, sizeof(f->err), "%zu record(s) not delivered: %s", failed, err);
    vg_kafka_producer_destroy(p);
    f->t_end = vg_itest_now_ms();
    atomic_store(&f->done, f->err[0] ? -1 : 1);
    return NULL;
}

/* --- the fault schedules --------------------------------------------------- */

/* Each scenario is a small state machine stepped by the main loop every
 * 50 ms. It returns true while it still has something to do: faults are
 * injected while the stream runs, and the last one is always healed. */
typedef struct chaos_sched_s {
    long long next_at;
    int phase;
    int target;      /* worker index or broker node */
    int target2;     /* quorum: the second broker down */
    int cycle, cycles;
    long long cycle_len, cycle_start;
    long long t_fault, t_back, deadline; /* quorum, controller: when things happened */
} chaos_sched_t;

static bool chaos_step_kill9(chaos_t *c, chaos_sched_t *s, bool streaming) {
    long long now = vg_itest_now_ms();

    if (!streaming && s->phase == 0 && c->faults >= 2)
        return false;
    if (now < s->next_at)
        return true;
    if (s->phase == 1) { /* the victim is down: bring it back, same id */
        chaos_worker_t *w = &c->w[s->target];
        chaos_worker_start(c, w);
        printf("[%6.1fs] restarted %s (pid %d, start #%d)\n", chaos_elapsed(c), w->id,
               (int)w->pid, w->starts);
        s->phase = 0;
        s->next_at = now + chaos_between(c, 2000, 5000);
        return true;
    }
    s->target = (int)chaos_between(c, 0, c->n_workers - 1);
    {
        chaos_worker_t *w = &c->w[s->target];
        int status;
        if (!w->pid) /* it died on its own and chaos_reap restarted it */
            return true;
        kill(w->pid, SIGKILL);
        waitpid(w->pid, &status, 0);
        c->faults++;
        printf("[%6.1fs] fault %zu: kill -9 %s (pid %d)%s\n", chaos_elapsed(c), c->faults, w->id,
               (int)w->pid, streaming ? "" : " (after the stream)");
        w->pid = 0;
    }
    s->phase = 1;
    s->next_at = now + chaos_between(c, 0, 1500);
    return true;
}

/* 1 -> 4 -> 1 workers, one step at a time: after each start or SIGTERM
 * the group must settle (every worker owning partitions, all partitions
 * owned) before the workers get a short while of traffic and the next
 * step comes. Cycles repeat while the stream runs; at least one completes. */
static bool chaos_step_scale(chaos_t *c, chaos_sched_t *s, bool streaming) {
    long long now = vg_itest_now_ms(), took;

    if (s->phase == 0 && s->cycle >= 1 && !streaming)
        return false;
    if (now < s->next_at)
        return true;
    if (s->phase < 3) {
        chaos_worker_t *w = &c->w[1 + s->phase];
        chaos_worker_start(c, w);
        c->faults++;
        took = chaos_await_settled(c, 60000);
        printf("[%6.1fs] fault %zu: scale out, started %s (pid %d): %d workers, group settled "
               "in %.1f s\n",
               chaos_elapsed(c), c->faults, w->id, (int)w->pid, s->phase + 2, took / 1000.0);
    } else {
        chaos_worker_t *w = &c->w[3 - (s->phase - 3)];
        char why[64];
        c->faults++;
        snprintf(why, sizeof(why), "fault %zu: scale in to %d workers", c->faults, 6 - s->phase);
        chaos_worker_stop(c, w, why);
        took = chaos_await_settled(c, 60000);
        printf("[%6.1fs] group settled in %.1f s\n", chaos_elapsed(c), took / 1000.0);
    }
    if (++s->phase == 6) {
        s->phase = 0;
        s->cycle++;
    }
    /* Traffic through the new shape of the group before the next step. */
    s->next_at = vg_itest_now_ms() + chaos_between(c, 1000, 2500);
    return true;
}

static bool chaos_step_redis(chaos_t *c, chaos_sched_t *s, bool streaming) {
    long long now = vg_itest_now_ms(), t;
    int rc;
    bool kill9 = s->cycle % 2 == 1;

    /* At least one clean stop and one kill -9, even for a short stream. */
    if (!streaming && s->phase == 0 && c->faults_kind[0] && c->faults_kind[1])
        return false;
    if (now < s->next_at)
        return true;
    if (s->phase == 1) { /* Redis is down: bring it back on its port and data */
        t = vg_itest_now_ms();
        rc = chaos_ops(c, 60, "redis.sh", kill9 ? "restart" : "start", "--run-dir", c->run_dir,
                       NULL);
        printf("[%6.1fs] redis %s: rc %d in %.1f s\n", chaos_elapsed(c),
               kill9 ? "restart" : "start", rc, (vg_itest_now_ms() - t) / 1000.0);
        if (rc) {
            chaos_fail(c, "harness: redis.sh could not start Redis again (see %s.ops.log)",
                       c->run_dir);
            atomic_store(&chaos_deadline_ms, 0); /* nothing more can be measured */
        }
        s->phase = 0;
        s->cycle++;
        s->next_at = now + chaos_between(c, 2000, 4000);
        return true;
    }
    t = vg_itest_now_ms();
    rc = chaos_ops(c, 60, "redis.sh", kill9 ? "kill9" : "stop", "--run-dir", c->run_dir, NULL);
    c->faults++;
    c->faults_kind[kill9]++;
    printf("[%6.1fs] fault %zu: redis %s: rc %d in %.1f s%s\n", chaos_elapsed(c), c->faults,
           kill9 ? "kill -9" : "clean stop", rc, (vg_itest_now_ms() - t) / 1000.0,
           streaming ? "" : " (after the stream)");
    if (rc)
        chaos_fail(c, "harness: redis.sh %s failed", kill9 ? "kill9" : "stop");
    s->phase = 1;
    s->next_at = vg_itest_now_ms() + chaos_between(c, 1000, 3000);
    return true;
}

static bool chaos_step_broker(chaos_t *c, chaos_sched_t *s, bool streaming) {
    long long now = vg_itest_now_ms(), t;
    char node[8];
    int rc;

    if (!streaming && s->phase == 0 && c->faults >= 1)
        return false;
    if (now < s->next_at)
        return true;
    snprintf(node, sizeof(node), "%d", s->target);
    if (s->phase == 1) {
        t = vg_itest_now_ms();
        rc = chaos_ops(c, 180, "kafka.sh", "start-node", "--run-dir", c->run_dir, "--node", node,
                       NULL);
        printf("[%6.1fs] broker %s started again: rc %d in %.1f s\n", chaos_elapsed(c), node, rc,
               (vg_itest_now_ms() - t) / 1000.0);
        if (rc) {
            chaos_fail(c, "harness: kafka.sh start-node %s failed (see %s.ops.log)", node,
                       c->run_dir);
            atomic_store(&chaos_deadline_ms, 0);
        }
        s->phase = 0;
        s->next_at = vg_itest_now_ms() + chaos_between(c, 3000, 6000);
        return true;
    }
    s->target = (int)chaos_between(c, 1, 3);
    snprintf(node, sizeof(node), "%d", s->target);
    t = vg_itest_now_ms();
    /* broker: a clean stop (leaders move away first); broker9: a crash,
     * its partitions leaderless until the controller fences it. */
    rc = chaos_ops(c, 120, "kafka.sh", c->sc == SC_BROKER9 ? "kill9-node" : "stop-node",
                   "--run-dir", c->run_dir, "--node", node, NULL);
    c->faults++;
    printf("[%6.1fs] fault %zu: broker %s %s: rc %d in %.1f s%s\n", chaos_elapsed(c), c->faults,
           node, c->sc == SC_BROKER9 ? "killed (kill -9)" : "stopped", rc,
           (vg_itest_now_ms() - t) / 1000.0, streaming ? "" : " (after the stream)");
    if (rc)
        chaos_fail(c, "harness: kafka.sh %s %s failed", c->sc == SC_BROKER9 ? "kill9-node" : "stop-node",
                   node);
    s->phase = 1;
    s->next_at = vg_itest_now_ms() + chaos_between(c, 2000, 5000);
    return true;
}

/* The active controller, asked on a thread of its own: the tool is a JVM
 * start (up to 20 s on a loaded 2-core machine), and the kill must not
 * wait for it past its place in the stream. The first ask starts as soon
 * as the stack is up (chaos_ask_start() from main); the node killed is
 * checked afterwards to have still been the leader (its own log). */
typedef struct chaos_ask_s {
    chaos_t *c;
    pthread_t th;
    bool started;
    _Atomic int done;
    int rc;
    char out[256];
} chaos_ask_t;

static chaos_ask_t chaos_ask;

static void *chaos_ask_run(void *arg) {
    chaos_ask_t *a = arg;

    a->rc = chaos_ops_out(a->c, 120, a->out, sizeof(a->out), "kafka.sh", "controller",
                          "--run-dir", a->c->run_dir, NULL);
    atomic_store(&a->done, 1);
    return NULL;
}

static void chaos_ask_start(chaos_t *c) {
    chaos_ask.c = c;
    atomic_store(&chaos_ask.done, 0);
    chaos_ask.started = pthread_create(&chaos_ask.th, NULL, chaos_ask_run, &chaos_ask) == 0;
    if (!chaos_ask.started) {
        chaos_ask_run(&chaos_ask); /* no thread: here, then */
        chaos_ask.started = true;
    }
}

/* The Raft state node was last in, from its server.log ("Completed
 * transition to Leader(...)", "... to FollowerState(...)"): true when it
 * is Leader. */
static bool chaos_was_leader(const chaos_t *c, int node) {
    char path[1200], line[2048];
    bool leader = false;
    FILE *f;

    snprintf(path, sizeof(path), "%s/kafka-%d/server.log", c->run_dir, node);
    if (!(f = fopen(path, "r")))
        return false;
    while (fgets(line, sizeof(line), f)) {
        const char *m = strstr(line, "Completed transition to ");
        if (m && strstr(line, "RaftManager"))
            leader = strncmp(m + 24, "Leader", 6) == 0;
    }
    fclose(f);
    return leader;
}

/* When node became the quorum leader last, from its server.log ("Completed
 * transition to Leader", local time as log4j writes it): wall-clock ms,
 * or -1. */
static long long chaos_leader_since(const chaos_t *c, int node) {
    char path[1200], line[2048];
    long long last = -1;
    FILE *f;

    snprintf(path, sizeof(path), "%s/kafka-%d/server.log", c->run_dir, node);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f)) {
        struct tm tm;
        int ms;
        if (!strstr(line, "Completed transition to Leader"))
            continue;
        memset(&tm, 0, sizeof(tm));
        if (sscanf(line, "[%d-%d-%d %d:%d:%d,%d]", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
            continue;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        tm.tm_isdst = -1;
        last = (long long)mktime(&tm) * 1000 + ms;
    }
    fclose(f);
    return last;
}

/* kill -9 of the active KRaft controller, asked, not assumed (every node
 * is a voter; any may lead). The other two voters must elect a new one;
 * then the node comes back, as a follower. */
static bool chaos_step_controller(chaos_t *c, chaos_sched_t *s, bool streaming) {
    chaos_ask_t *ask = &chaos_ask;
    long long now = vg_itest_now_ms(), t;
    char node[8], out[256];
    int rc;

    if (!streaming && s->phase == 0 && c->faults >= 1) {
        if (ask->started)
            pthread_join(ask->th, NULL);
        ask->started = false;
        return false;
    }
    if (s->phase == 0) {
        if (!ask->started) {
            chaos_ask_start(c); /* the next cycle's */
            return true;
        }
        if (!atomic_load(&ask->done) || now < s->next_at)
            return true;
        pthread_join(ask->th, NULL);
        ask->started = false;
        if (ask->rc || (s->target = atoi(ask->out)) < 1 || s->target > 3) {
            chaos_fail(c, "harness: kafka.sh controller found no active controller (rc %d, '%s')",
                       ask->rc, ask->out);
            atomic_store(&chaos_deadline_ms, 0);
            return true;
        }
        snprintf(node, sizeof(node), "%d", s->target);
        rc = chaos_ops(c, 60, "kafka.sh", "kill9-node", "--run-dir", c->run_dir, "--node", node,
                       NULL);
        s->t_fault = vg_itest_now_ms();
        s->t_back = (long long)time(NULL) * 1000; /* wall clock, for the brokers' logs */
        c->faults++;
        printf("[%6.1fs] fault %zu: node %s, the active controller, killed (kill -9): rc %d%s\n",
               chaos_elapsed(c), c->faults, node, rc, streaming ? "" : " (after the stream)");
        if (rc)
            chaos_fail(c, "harness: kafka.sh kill9-node %s failed", node);
        /* Asked a while ago: it must still have led when it died. */
        if (!chaos_was_leader(c, s->target))
            chaos_fail(c, "harness: node %s was no longer the quorum leader when killed (its "
                          "log); the fault was not a controller loss",
                       node);
        s->phase = 1;
        return true;
    }
    if (now < s->next_at)
        return true;
    snprintf(node, sizeof(node), "%d", s->target);
    if (s->phase == 1) {
        /* kafka.sh asks until the quorum names a live leader other than the
         * dead one (or gives up after its start timeout, 90 s). */
        rc = chaos_ops_out(c, 150, out, sizeof(out), "kafka.sh", "controller", "--run-dir",
                           c->run_dir, "--not", node, NULL);
        t = vg_itest_now_ms();
        if (rc || atoi(out) < 1 || atoi(out) == s->target) {
            chaos_fail(c, "no new active controller after the kill of node %s (rc %d, '%s')", node,
                       rc, out);
        } else {
            /* The election itself, from the new leader's log (the tool's
             * answer comes later: it is a JVM start). */
            long long since = chaos_leader_since(c, atoi(out));
            double took = since >= s->t_back - 1000 ? (since - s->t_back) / 1000.0
                                                    : (t - s->t_fault) / 1000.0;
            if (took > c->election_s)
                c->election_s = took;
            printf("[%6.1fs] new active controller: node %s, leader %.1f s after the kill "
                   "(its log); the tool knew %.1f s after\n",
                   chaos_elapsed(c), out, took, (t - s->t_fault) / 1000.0);
        }
        s->phase = 2;
        s->next_at = t + chaos_between(c, 1000, 3000);
        return true;
    }
    t = vg_itest_now_ms();
    rc = chaos_ops(c, 180, "kafka.sh", "start-node", "--run-dir", c->run_dir, "--node", node, NULL);
    printf("[%6.1fs] node %s started again (unfenced): rc %d in %.1f s\n", chaos_elapsed(c), node,
           rc, (vg_itest_now_ms() - t) / 1000.0);
    if (rc) {
        chaos_fail(c, "harness: kafka.sh start-node %s failed (see %s.ops.log)", node, c->run_dir);
        atomic_store(&chaos_deadline_ms, 0);
    }
    s->phase = 0;
    s->next_at = vg_itest_now_ms() + chaos_between(c, 3000, 6000);
    return true;
}

/* Poll every running worker's /readyz (and, when not ready, /metrics):
 * returns how many answer as wanted: want_ready, 200; otherwise non-200
 * with "not enough in-sync replicas" in the body and
 * vigil_kafka_problem{problem="not_enough_replicas"} 1 in the metrics.
 * *running gets how many were asked; last the last answer that was not
 * as wanted. */
static int chaos_poll_ready(chaos_t *c, bool want_ready, int *running, char *last,
                            size_t last_size) {
    static char body[1 << 20];
    int ok = 0;

    *running = 0;
    for (int i = 0; i < CHAOS_MAX_WORKERS; i++) {
        chaos_worker_t *w = &c->w[i];
        int code;
        if (!w->pid || !w->http_port)
            continue;
        (*running)++;
        code = chaos_http_get(w->http_port, "/readyz", body, sizeof(body));
        if (want_ready ? code == 200
                       : code != 200 && code > 0 && strstr(body, "not enough in-sync replicas")) {
            if (want_ready) {
                ok++;
                continue;
            }
            if (chaos_http_get(w->http_port, "/metrics", body, sizeof(body)) == 200 &&
                strstr(body, "vigil_kafka_problem{problem=\"not_enough_replicas\"} 1")) {
                ok++;
                continue;
            }
            snprintf(last, last_size, "%s: /readyz not ready as wanted, but /metrics lacks "
                                      "vigil_kafka_problem{problem=\"not_enough_replicas\"} 1",
                     w->id);
            continue;
        }
        snprintf(last, last_size, "%s: /readyz %d: %.200s", w->id, code, body);
    }
    return ok;
}

/* The longest Kafka write stall any worker reported ("kafka takes writes
 * again after N s", at its first commit after one), in seconds; -1 when
 * none did. */
static double chaos_worker_stall(const chaos_t *c) {
    char log[1200], line[4096];
    double worst = -1;

    for (int i = 0; i < CHAOS_MAX_WORKERS; i++) {
        FILE *f;
        if (!c->w[i].starts)
            continue;
        chaos_worker_log(c, &c->w[i], log, sizeof(log));
        if (!(f = fopen(log, "r")))
            continue;
        while (fgets(line, sizeof(line), f)) {
            const char *m = strstr(line, "kafka takes writes again after ");
            int n;
            if (m && sscanf(m, "kafka takes writes again after %d s", &n) == 1 && n > worst)
                worst = n;
        }
        fclose(f);
    }
    return worst;
}

/* Two of three brokers down (clean stops, one after the other: each
 * controlled shutdown shrinks the in-sync replicas while the controller
 * quorum still stands, so the survivor leads every partition with itself
 * alone in sync, below min.insync.replicas=2, and refuses acks=all
 * writes; after the second stop no controller quorum is left either).
 * The workers must stall, say why within 60 s, and be ready again within
 * 120 s of one broker's return. */
#define CHAOS_QUORUM_VISIBLE_MS 60000
#define CHAOS_QUORUM_RESUME_MS 120000
#define CHAOS_QUORUM_TXN_TIMEOUT_MS 20000
/* Both brokers stay down at least this long after the second stop began:
 * past the workers' transaction.timeout.ms. */
#define CHAOS_QUORUM_HOLD_MS (CHAOS_QUORUM_TXN_TIMEOUT_MS + 5000)
static bool chaos_step_quorum(chaos_t *c, chaos_sched_t *s, bool streaming) {
    long long now = vg_itest_now_ms(), t;
    char node[8], last[512] = "";
    int rc, running, ok;

    if (s->phase == 0 && c->faults >= 1)
        return streaming;
    if (now < s->next_at)
        return true;
    switch (s->phase) {
    case 0: {
        int survivor = (int)chaos_between(c, 1, 3);
        s->target = survivor == 1 ? 2 : 1;
        s->target2 = survivor == 3 ? 2 : 3;
        for (int k = 0; k < 2; k++) {
            snprintf(node, sizeof(node), "%d", k ? s->target2 : s->target);
            t = vg_itest_now_ms();
            /* The stall starts with the second stop: its controlled
             * shutdown shrinks the in-sync replicas to one before the
             * process has exited. */
            s->t_fault = t;
            rc = chaos_ops(c, 120, "kafka.sh", "stop-node", "--run-dir", c->run_dir, "--node",
                           node, NULL);
            printf("[%6.1fs] %s broker %s stopped: rc %d in %.1f s\n", chaos_elapsed(c),
                   k ? "second" : "fault: first", node, rc, (vg_itest_now_ms() - t) / 1000.0);
            if (rc)
                chaos_fail(c, "harness: kafka.sh stop-node %s failed", node);
        }
        c->faults++;
        printf("[%6.1fs] brokers %d and %d down, broker %d alone%s: awaiting every worker's "
               "/readyz to name the stall\n",
               chaos_elapsed(c), s->target, s->target2, survivor,
               streaming ? "" : " (the stream had ended: only records in hand stall)");
        s->deadline = s->t_fault + CHAOS_QUORUM_VISIBLE_MS;
        s->phase = 1;
        return true;
    }
    case 1:
        ok = chaos_poll_ready(c, false, &running, last, sizeof(last));
        if (running && ok == running) {
            c->notready_s = (now - s->t_fault) / 1000.0;
            chaos_http_get(c->w[0].http_port, "/readyz", last, sizeof(last));
            printf("[%6.1fs] stall visible on all %d workers %.1f s after the second stop began: "
                   "/readyz: %s",
                   chaos_elapsed(c), running, c->notready_s, last);
            /* Held past the transactions' timeout, still reported. */
            s->next_at = s->t_fault + CHAOS_QUORUM_HOLD_MS;
            s->phase = 5;
            return true;
        } else if (now > s->deadline) {
            chaos_fail(c, "the stall did not show within %d s on every worker (%d of %d did): %s",
                       CHAOS_QUORUM_VISIBLE_MS / 1000, ok, running, last);
        } else {
            s->next_at = now + 250;
            return true;
        }
        s->phase = 2;
        return true;
    case 5:
        ok = chaos_poll_ready(c, false, &running, last, sizeof(last));
        if (ok != running)
            chaos_fail(c, "the stall was no longer reported after %.0f s, both brokers still "
                          "down (%d of %d workers): %s",
                       (now - s->t_fault) / 1000.0, ok, running, last);
        else
            printf("[%6.1fs] still reported on all %d workers %.1f s after the second stop "
                   "began\n",
                   chaos_elapsed(c), running, (now - s->t_fault) / 1000.0);
        s->phase = 2;
        return true;
    case 2:
        /* One broker back: two in sync again, min.insync.replicas met, and
         * the controller quorum (two of three voters) back too. */
        snprintf(node, sizeof(node), "%d", s->target2);
        t = vg_itest_now_ms();
        rc = chaos_ops(c, 180, "kafka.sh", "start-node", "--run-dir", c->run_dir, "--node", node,
                       NULL);
        s->t_back = vg_itest_now_ms();
        printf("[%6.1fs] broker %s started again (unfenced): rc %d in %.1f s\n", chaos_elapsed(c),
               node, rc, (s->t_back - t) / 1000.0);
        if (rc) {
            chaos_fail(c, "harness: kafka.sh start-node %s failed (see %s.ops.log)", node,
                       c->run_dir);
            atomic_store(&chaos_deadline_ms, 0);
        }
        s->deadline = s->t_back + CHAOS_QUORUM_RESUME_MS;
        s->phase = 3;
        return true;
    case 3:
        ok = chaos_poll_ready(c, true, &running, last, sizeof(last));
        if (running && ok == running) {
            c->stall_s = (now - s->t_fault) / 1000.0;
            c->resume_s = (now - s->t_back) / 1000.0;
            printf("[%6.1fs] all %d workers ready again %.1f s after the broker's return; "
                   "%.1f s after the second stop began\n",
                   chaos_elapsed(c), running, c->resume_s, c->stall_s);
        } else if (now > s->deadline) {
            chaos_fail(c, "the workers were not ready again within %d s of the broker's return "
                          "(%d of %d were): %s",
                       CHAOS_QUORUM_RESUME_MS / 1000, ok, running, last);
        } else {
            s->next_at = now + 250;
            return true;
        }
        s->phase = 4;
        return true;
    default:
        snprintf(node, sizeof(node), "%d", s->target);
        t = vg_itest_now_ms();
        rc = chaos_ops(c, 180, "kafka.sh", "start-node", "--run-dir", c->run_dir, "--node", node,
                       NULL);
        printf("[%6.1fs] broker %s started again (unfenced): rc %d in %.1f s\n", chaos_elapsed(c),
               node, rc, (vg_itest_now_ms() - t) / 1000.0);
        if (rc) {
            chaos_fail(c, "harness: kafka.sh start-node %s failed (see %s.ops.log)", node,
                       c->run_dir);
            atomic_store(&chaos_deadline_ms, 0);
        }
        s->phase = 0;
        return true;
    }
}

/* Kafka down (SIGKILL of the only broker), then SIGTERM to every worker
 * while it is: each must exit 0 within the drain timeout. Kafka comes
 * back, then the workers, with the same ids. */
#define CHAOS_OUTAGE_DRAIN_MS 5000
#define VG_STR(x) #x
#define VG_XSTR(x) VG_STR(x)
static bool chaos_step_outage(chaos_t *c, chaos_sched_t *s, bool streaming) {
    long long now = vg_itest_now_ms(), t;
    int rc;

    /* One outage per run: each costs a Kafka restart (15 s and more). */
    if (s->phase == 0 && c->faults >= 1)
        return streaming;
    if (now < s->next_at)
        return true;
    if (s->phase == 0) {
        t = vg_itest_now_ms();
        rc = chaos_ops(c, 60, "kafka.sh", "kill9-node", "--run-dir", c->run_dir, "--node", "1",
                       NULL);
        c->faults++;
        printf("[%6.1fs] fault %zu: Kafka down (kill -9 of its broker): rc %d in %.1f s%s\n",
               chaos_elapsed(c), c->faults, rc, (vg_itest_now_ms() - t) / 1000.0,
               streaming ? "" : " (after the stream)");
        if (rc)
            chaos_fail(c, "harness: kafka.sh kill9-node 1 failed");
        s->phase = 1;
        s->next_at = vg_itest_now_ms() + chaos_between(c, 1500, 3000);
        return true;
    }
    if (s->phase == 1) {
        for (int i = 0; i < c->n_workers; i++) {
            chaos_worker_t *w = &c->w[i];
            if (!w->pid)
                continue;
            t = vg_itest_now_ms();
            rc = vg_itest_worker_stop(w->pid, SIGTERM, 60000);
            t = vg_itest_now_ms() - t;
            printf("[%6.1fs] SIGTERM %s (pid %d) with Kafka down: exit %d after %.1f s\n",
                   chaos_elapsed(c), w->id, (int)w->pid, rc, t / 1000.0);
            if (rc != 0 || t > CHAOS_OUTAGE_DRAIN_MS + 1000) {
                char log[1200];
                c->bad_drains++;
                chaos_fail(c, "worker %s: SIGTERM during the Kafka outage: exit %d after %lld ms "
                              "(want 0 within shutdown.drain_timeout_ms, %d ms)",
                           w->id, rc, t, CHAOS_OUTAGE_DRAIN_MS);
                chaos_worker_log(c, w, log, sizeof(log));
                chaos_tail(log, 15);
            }
            w->pid = 0;
        }
        s->phase = 2;
        return true;
    }
    t = vg_itest_now_ms();
    rc = chaos_ops(c, 180, "kafka.sh", "start-node", "--run-dir", c->run_dir, "--node", "1", NULL);
    printf("[%6.1fs] Kafka started again: rc %d in %.1f s\n", chaos_elapsed(c), rc,
           (vg_itest_now_ms() - t) / 1000.0);
    if (rc) {
        chaos_fail(c, "harness: kafka.sh start-node 1 failed (see %s.ops.log)", c->run_dir);
        atomic_store(&chaos_deadline_ms, 0);
    }
    for (int i = 0; i < c->n_workers; i++)
        chaos_worker_start(c, &c->w[i]);
    printf("[%6.1fs] %d workers started again\n", chaos_elapsed(c), c->n_workers);
    s->phase = 0;
    s->next_at = vg_itest_now_ms() + chaos_between(c, 4000, 6000);
    return true;
}

/* --- checks ------------------------------------------------------------------- */

/* Wait until the group has committed every record of the events topic,
 * watching the workers meanwhile. */
static bool chaos_wait_committed(chaos_t *c, int timeout_ms) {
    char err[512];
    long long deadline = vg_itest_now_ms() + timeout_ms, last_print = 0;
    int64_t end = -1, committed = -1;

    while (vg_itest_now_ms() < deadline) {
        chaos_reap(c);
        if (end < 0)
            end = vg_kafka_admin_topic_end(&c->t.props, c->t.topic_events, 10000, err,
                                           sizeof(err));
        if (end >= 0) {
            committed = vg_kafka_admin_group_committed(&c->t.props, c->t.group,
                                                       c->t.topic_events, 10000, err,
                                                       sizeof(err));
            if (committed >= end)
                return true;
        }
        if (vg_itest_now_ms() - last_print > 10000) {
            printf("[%6.1fs] waiting: group committed %lld of %lld records\n", chaos_elapsed(c),
                   (long long)committed, (long long)end);
            last_print = vg_itest_now_ms();
        }
        chaos_sleep_ms(250);
    }
    chaos_fail(c, "the workers did not commit every record within %d s (committed %lld of %lld)",
               timeout_ms / 1000, (long long)committed, (long long)end);
    return false;
}

/* quorum: the events topic first, with min.insync.replicas=1, so that
 * upstream keeps writing while two brokers are down (vg_itest_create_topics
 * then takes it as existing and makes the others with 2). */
static bool chaos_quorum_topics(chaos_t *c) {
    const char *isr1[] = {"min.insync.replicas", "1", NULL};
    char err[512];

    for (int attempt = 1;; attempt++) {
        if (!vg_kafka_admin_create_topic(&c->t.props, c->t.topic_events, c->partitions, 3, isr1,
                                         30000, err, sizeof(err)))
            return true;
        if (attempt == 4) {
            chaos_fail(c, "harness: create %s: %s", c->t.topic_events, err);
            return false;
        }
        chaos_sleep_ms(500LL * attempt);
    }
}

/* The stall means something only if what the workers write has
 * replication factor 3 and min.insync.replicas 2 (and the events topic
 * 1): read it back from the cluster rather than trust the setup. */
static bool chaos_quorum_check_topics(chaos_t *c) {
    static char out[65536];
    const struct {
        const char *topic, *isr;
    } want[] = {{c->t.topic_triggers, "min.insync.replicas=2"},
                {c->t.topic_dlq, "min.insync.replicas=2"},
                {c->t.topic_events, "min.insync.replicas=1"}};

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int rc = chaos_ops_out(c, 120, out, sizeof(out), "kafka.sh", "topics", "--run-dir",
                               c->run_dir, "describe", want[i].topic, NULL);
        if (rc || !strstr(out, "ReplicationFactor: 3") || !strstr(out, want[i].isr)) {
            chaos_fail(c, "harness: %s is not RF 3 with %s (rc %d): %.300s", want[i].topic,
                       want[i].isr, rc, out);
            return false;
        }
    }
    printf("topics: %s and %s RF 3, min.insync.replicas=2; %s RF 3, min.insync.replicas=1\n",
           c->t.topic_triggers, c->t.topic_dlq, c->t.topic_events);
    return true;
}

/* --- main ------------------------------------------------------------------- */

static void chaos_usage(void) {
    fprintf(stderr,
            "usage: chaos kill9|scale|redis|broker|outage|broker9|controller|quorum\n"
            "             exactly_once|at_least_once [EVENTS]\n"
            "             [--rate N] [--seed N] [--workers N] [--customers N] "
            "[--partitions N]\n"
            "             [--run-dir DIR] [--timeout S] [--keep]\n");
    exit(2);
}

static void chaos_parse(chaos_t *c, int argc, char **argv) {
    const char *repo = getenv("VIGIL_REPO");
    int i;

    if (argc < 3)
        chaos_usage();
    enum { N_SCENARIOS = sizeof(chaos_scenario_names) / sizeof(chaos_scenario_names[0]) };
    for (i = 0; i < N_SCENARIOS; i++)
        if (!strcmp(argv[1], chaos_scenario_names[i]))
            break;
    if (i == N_SCENARIOS)
        chaos_usage();
    c->sc = (chaos_scenario_t)i;
    if (strcmp(argv[2], "exactly_once") && strcmp(argv[2], "at_least_once"))
        chaos_usage();
    c->mode = argv[2];
    c->eos = !strcmp(c->mode, "exactly_once");
    c->events = 20000;
    c->rate = 1500;
    c->seed = 1;
    c->n_workers = c->sc == SC_KILL9 ? 3 : c->sc == SC_SCALE ? 1 : 2;
    c->partitions = 8;
    c->customers = 2000;
    c->timeout_s = 0;
    c->election_s = c->notready_s = c->stall_s = c->resume_s = -1;
    i = 3;
    if (i < argc && argv[i][0] != '-')
        c->events = strtoull(argv[i++], NULL, 10);
    for (; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--keep")) {
            c->keep = true;
            continue;
        }
        if (!v)
            chaos_usage();
        i++;
        if (!strcmp(a, "--rate"))
            c->rate = strtod(v, NULL);
        else if (!strcmp(a, "--seed"))
            c->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--workers"))
            c->n_workers = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--customers"))
            c->customers = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--partitions"))
            c->partitions = (int)strtol(v, NULL, 10);
        else if (!strcmp(a, "--run-dir"))
            snprintf(c->run_dir, sizeof(c->run_dir), "%s", v);
        else if (!strcmp(a, "--timeout"))
            c->timeout_s = (int)strtol(v, NULL, 10);
        else
            chaos_usage();
    }
    if (c->events < 1000 || c->rate < 0 || c->n_workers < 1 ||
        c->n_workers > (c->sc == SC_SCALE ? 1 : CHAOS_MAX_WORKERS) || c->partitions < 1 ||
        c->customers < 1) {
        fprintf(stderr, "chaos: out of range: events >= 1000, workers 1..%d, partitions >= 1\n",
                c->sc == SC_SCALE ? 1 : CHAOS_MAX_WORKERS);
        exit(2);
    }
    if (c->sc == SC_SCALE)
        c->n_workers = 4; /* slots; one runs at the start */
    snprintf(c->repo, sizeof(c->repo), "%s", repo && repo[0] ? repo : VIGIL_SOURCE_DIR);
    snprintf(c->name, sizeof(c->name), "chaos-%s-%s", chaos_scenario_names[c->sc],
             c->eos ? "eos" : "alo");
    if (!c->run_dir[0])
        snprintf(c->run_dir, sizeof(c->run_dir), "%s/run/%s-%d", getenv("PWD") ? getenv("PWD") : ".",
                 c->name, (int)getpid());
    if (!c->timeout_s) {
        /* Generous: stream time, catch-up at a slow 300 records/s, setup. */
        double stream = c->rate > 0 ? (double)c->events / c->rate : 0;
        c->timeout_s = (int)(stream + (double)c->events / 300.0 + 240);
    }
    c->rng = c->seed * 0x2545F4914F6CDD1DULL + (uint64_t)c->sc;
}

/* Only a machine without the stack's prerequisites is a skip. */
static bool chaos_env_ok(chaos_t *c) {
    char cmd[2400];

    if (!chaos_sh_ok("command -v java >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1 "
                     "&& command -v redis-cli >/dev/null 2>&1 && command -v python3 >/dev/null "
                     "2>&1")) {
        printf("SKIP %s: java, redis-server, redis-cli or python3 not installed (ops/setup.sh)\n",
               c->name);
        return false;
    }
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"%s/ops/stack/lib.sh\" && compgen -G "
             "\"$(vigil_kafka_libs)/kafka_2.13-*.jar\"' >/dev/null 2>&1",
             c->repo);
    if (!chaos_sh_ok(cmd)) {
        printf("SKIP %s: no Kafka jars (run ops/setup.sh)\n", c->name);
        return false;
    }
    return true;
}

int main(int argc, char **argv) {
    static chaos_t c;
    static chaos_feed_t feed;
    chaos_sched_t sched = {0};
    vg_gen_conf_t gc;
    vg_model_t model;
    vg_idset_t got = {0}, dlq = {0};
    size_t dups, missing, extra, dlq_records, dlq_reason, dlq_dups, dlq_missing, dlq_extra;
    size_t state_bad, state_absent;
    char err[512], env[1200], nodes[4];
    pthread_t feeder, dog;
    long long t_setup, t_stream_end, t_committed;
    bool (*step)(chaos_t *, chaos_sched_t *, bool);
    struct sigaction sa;
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    chaos_parse(&c, argc, argv);
    printf("%s: %zu events at %.0f/s, seed %llu, %d partitions, %u customers, run dir %s\n",
           c.name, c.events, c.rate, (unsigned long long)c.seed, c.partitions, c.customers,
           c.run_dir);
    if (!chaos_env_ok(&c))
        return VG_ITEST_SKIP;

    chaos_current = &c;
    atexit(chaos_atexit);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = chaos_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    atomic_store(&chaos_deadline_ms, vg_itest_now_ms() + c.timeout_s * 1000LL);
    c.t0 = vg_itest_now_ms();
    pthread_create(&dog, NULL, chaos_watchdog, &c);

    /* 1. Our own stack, fresh. */
    t_setup = vg_itest_now_ms();
    snprintf(nodes, sizeof(nodes), "%d", chaos_three_nodes(c.sc) ? 3 : 1);
    c.stack_up = true; /* from here on, cleanup runs down.sh */
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = chaos_ops(&c, 240, "up.sh", "--run-dir", c.run_dir, "--kafka-nodes", nodes, "--fresh",
                       c.sc == SC_REDIS ? "--aof" : NULL, "always", NULL);
        if (rc == 0)
            break;
        printf("up.sh failed (rc %d, see %s.ops.log)%s\n", rc, c.run_dir,
               attempt ? "" : "; trying once more");
    }
    if (rc != 0) {
        chaos_fail(&c, "the stack did not start although its prerequisites are installed");
        return 1;
    }
    snprintf(env, sizeof(env), "%s/stack.env", c.run_dir);
    setenv("VIGIL_STACK_ENV", env, 1);
    if (vg_itest_init(&c.t, c.name)) {
        chaos_fail(&c, "%s unreadable after up.sh", env);
        return 1;
    }
    if (c.sc == SC_QUORUM && !chaos_quorum_topics(&c))
        return 1;
    vg_itest_create_topics(&c.t, c.partitions, chaos_three_nodes(c.sc) ? 3 : 1);
    if (c.sc == SC_QUORUM && !chaos_quorum_check_topics(&c))
        return 1;
    if (c.sc == SC_CONTROLLER)
        chaos_ask_start(&c); /* meanwhile: the workers start and settle */
    printf("stack up and topics created in %.1f s\n", (vg_itest_now_ms() - t_setup) / 1000.0);

    /* 2. Traffic and oracle. */
    vg_gen_conf_init(&gc);
    /* Event time starts now, as upstream would stamp it (stale cut-off). */
    gc.start_ms = (int64_t)time(NULL) * 1000;
    gc.seed = c.seed;
    gc.customers = c.customers;
    gc.events = c.events;
    gc.trouble_rate = 0.30;
    /* 100 ms of event time per record: 15,000 records span 25 minutes, so
     * 10-minute absence deadlines come due while workers are killed and
     * partitions move (they must fire once, at the same record). */
    gc.step_ms = 100;
    gc.malformed_rate = 0.005;
    gc.tenant = "acme";
    feed.gen = vg_gen_new(&gc, err, sizeof(err));
    vg_model_default(&model);
    feed.oracle = vg_oracle_new(&model);
    if (!feed.gen || !feed.oracle) {
        chaos_fail(&c, "setup: %s", err);
        return 1;
    }
    feed.t = &c.t;
    feed.count = c.events;
    feed.rate = c.rate;

    /* 3. Workers first, so the traffic meets a live group. */
    snprintf(c.mode_set, sizeof(c.mode_set), "delivery.mode=%s", c.mode);
    c.extra[0] = c.mode_set;
    c.extra[1] = "log.level=info";
    {
        int n = 2;
        if (c.sc == SC_OUTAGE)
            c.extra[n++] = "shutdown.drain_timeout_ms=" VG_XSTR(CHAOS_OUTAGE_DRAIN_MS);
        if (c.sc == SC_QUORUM) {
            /* The Kafka timeouts of ops/k8s (worker.yaml): the outage is
             * held past transaction.timeout.ms, so that Kafka aborts every
             * open transaction and fences its producer, as in a long
             * outage in production. */
            c.extra[n++] = "kafka.transaction.timeout.ms=" VG_XSTR(CHAOS_QUORUM_TXN_TIMEOUT_MS);
            c.extra[n++] = "kafka.message.timeout.ms=15000";
            c.extra[n++] = "delivery.txn_timeout_ms=10000";
        }
        c.extra[n] = NULL;
    }
    for (int i = 0; i < CHAOS_MAX_WORKERS; i++) {
        snprintf(c.w[i].id, sizeof(c.w[i].id), "w%d", i + 1);
        /* quorum reads each worker's /readyz and /metrics. */
        if (c.sc == SC_QUORUM)
            c.w[i].http_port = vg_itest_free_port();
    }
    for (int i = 0; i < (c.sc == SC_SCALE ? 1 : c.n_workers); i++)
        chaos_worker_start(&c, &c.w[i]);

    /* The traffic meets a settled group: every worker owns partitions. */
    {
        long long took = chaos_await_settled(&c, 90000);
        printf("group of %d worker(s) settled in %.1f s\n", c.sc == SC_SCALE ? 1 : c.n_workers,
               took / 1000.0);
        if (took < 0)
            return 1;
    }

    /* 4. Stream, with faults on the seeded schedule. */
    c.t0 = vg_itest_now_ms();
    /* quorum: early, so that events still stream while both brokers are
     * down (the workers must have records in hand to stall on). */
    sched.next_at = c.t0 + (c.sc == SC_KILL9    ? chaos_between(&c, 2000, 4000)
                            : c.sc == SC_QUORUM ? chaos_between(&c, 1000, 2000)
                                                : chaos_between(&c, 1500, 3000));
    step = c.sc == SC_KILL9        ? chaos_step_kill9
           : c.sc == SC_SCALE      ? chaos_step_scale
           : c.sc == SC_REDIS      ? chaos_step_redis
           : c.sc == SC_OUTAGE     ? chaos_step_outage
           : c.sc == SC_CONTROLLER ? chaos_step_controller
           : c.sc == SC_QUORUM     ? chaos_step_quorum
                                   : chaos_step_broker;
    pthread_create(&feeder, NULL, chaos_feed_run, &feed);
    for (;;) {
        bool streaming = atomic_load(&feed.done) == 0;
        chaos_reap(&c);
        if (!step(&c, &sched, streaming) && !streaming)
            break;
        chaos_sleep_ms(50);
    }
    pthread_join(feeder, NULL);
    t_stream_end = feed.t_end;
    if (atomic_load(&feed.done) < 0) {
        chaos_fail(&c, "harness: the test producer failed: %s", feed.err);
        return 1;
    }
    printf("[%6.1fs] stream done: %zu records in %.1f s (%zu malformed); oracle: %zu triggers over "
           "%zu customers; %zu faults injected\n",
           chaos_elapsed(&c), feed.prod.records, (t_stream_end - c.t0) / 1000.0,
           feed.prod.malformed, feed.prod.expected_triggers, feed.n_cust, c.faults);
    if (feed.prod.expected_triggers < 50 || feed.prod.malformed == 0) {
        chaos_fail(&c, "the traffic must plant troubles and malformed records");
        return 1;
    }

    /* 5. Let the workers finish: every record committed by the group. */
    chaos_wait_committed(&c, (int)(60000 + c.events * 10));
    t_committed = vg_itest_now_ms();
    printf("[%6.1fs] all records committed, %.1f s after the stream ended\n", chaos_elapsed(&c),
           (t_committed - t_stream_end) / 1000.0);

    /* 6. What the workers published, read_committed. */
    /* Every record is committed, so everything the workers will ever
     * publish is readable now: a short timeout only bounds a failing run. */
    vg_itest_read_triggers(&c.t, &got, feed.expected.n, 3000, 20000 + (int)(c.events / 20));
    vg_itest_read_dlq_sources(&c.t, &dlq, feed.prod.malformed, 1500, 15000, &dlq_records,
                              &dlq_reason);
    vg_idset_dedupe(&feed.expected);
    {
        size_t got_records = got.n;
        dups = vg_idset_dedupe(&got);
        vg_idset_diff(&feed.expected, &got, &missing, &extra);
        dlq_dups = vg_idset_dedupe(&dlq);
        printf("triggers: expected %zu, got %zu records = %zu distinct + %zu duplicates; "
               "%zu missing, %zu extra\n",
               feed.expected.n, got_records, got.n, dups, missing, extra);
    }
    /* Dead letters are identified by their source coordinates. */
    dlq_missing = dlq.n < feed.prod.malformed ? feed.prod.malformed - dlq.n : 0;
    dlq_extra = dlq.n > feed.prod.malformed ? dlq.n - feed.prod.malformed : 0;
    printf("dead letters: malformed %zu, got %zu records = %zu distinct + %zu duplicates, "
           "%zu with reason; %zu missing, %zu extra\n",
           feed.prod.malformed, dlq_records, dlq.n, dlq_dups, dlq_reason, dlq_missing, dlq_extra);

    /* 7. The state each customer ended with, against the oracle's. */
    state_bad = vg_itest_compare_states(&c.t, feed.oracle, "acme", (const char *const *)feed.cust,
                                        feed.n_cust, &state_absent, 10);
    printf("state: %zu customers compared, %zu mismatches (%zu absent)\n", feed.n_cust,
           state_bad == (size_t)-1 ? 0 : state_bad, state_absent);

    /* 8. Calm again: every worker must drain and exit 0. */
    c.no_restarts = true;
    for (int i = CHAOS_MAX_WORKERS - 1; i >= 0; i--)
        chaos_worker_stop(&c, &c.w[i], "end of run");
    chaos_reap(&c);

    if (missing || extra)
        chaos_fail(&c, "trigger set differs from the oracle: %zu missing, %zu extra", missing,
                   extra);
    if (c.eos && dups)
        chaos_fail(&c, "%zu duplicate triggers in exactly_once mode", dups);
    if (dlq_missing || dlq_extra || dlq_reason != dlq_records)
        chaos_fail(&c, "dead-letter topic does not hold every malformed record once, with its "
                       "reason (%zu missing, %zu extra, %zu without reason)",
                   dlq_missing, dlq_extra, dlq_records - dlq_reason);
    if (c.eos && dlq_dups)
        chaos_fail(&c, "%zu duplicate dead letters in exactly_once mode", dlq_dups);
    if (state_bad == (size_t)-1)
        chaos_fail(&c, "could not read the final state from Redis");
    else if (state_bad)
        chaos_fail(&c, "%zu customers' final state differs from the oracle's", state_bad);

    printf("RESULT scenario=%s mode=%s events=%zu malformed=%zu expected_triggers=%zu "
           "deadline_triggers=%zu "
           "got=%zu duplicates=%zu missing=%zu extra=%zu dlq=%zu dlq_duplicates=%zu "
           "dlq_missing=%zu state_customers=%zu state_mismatches=%zu faults=%zu "
           "unexpected_exits=%zu bad_drains=%zu stream_s=%.1f catchup_s=%.1f total_s=%.1f "
           "election_s=%.1f notready_s=%.1f stall_s=%.1f resume_s=%.1f worker_stall_s=%.0f "
           "seed=%llu %s\n",
           chaos_scenario_names[c.sc], c.mode, feed.prod.records, feed.prod.malformed,
           feed.expected.n, vg_oracle_deadline_triggers(feed.oracle), got.n + dups, dups, missing, extra, dlq_records, dlq_dups,
           dlq_missing, feed.n_cust, state_bad == (size_t)-1 ? feed.n_cust : state_bad, c.faults,
           c.unexpected_exits, c.bad_drains, (t_stream_end - c.t0) / 1000.0,
           (t_committed - t_stream_end) / 1000.0, (vg_itest_now_ms() - t_setup) / 1000.0,
           c.election_s, c.notready_s, c.stall_s, c.resume_s, chaos_worker_stall(&c),
           (unsigned long long)c.seed,
           c.failures ? "FAILED" : "PASSED");

    /* Keep the run folder (logs, data) when something failed. */
    chaos_current = NULL;
    chaos_stack_down(&c, !c.failures && !c.keep);
    if (c.failures || c.keep)
        printf("logs kept in %s\n", c.run_dir);
    vg_idset_free(&got);
    vg_idset_free(&dlq);
    vg_idset_free(&feed.expected);
    vg_oracle_destroy(feed.oracle);
    vg_gen_destroy(feed.gen);
    return c.failures ? 1 : 0;
}
