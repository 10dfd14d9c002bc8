/*
 * 0100-redis-cluster: state in a Redis Cluster of 3 masters with one
 * replica each (ops/stack/redis-cluster.sh, in this test's own run dir),
 * the worker in redis.mode=cluster with WAIT for one replica
 * (redis.min_replicas_acked 1). The events topic has 8 partitions whose
 * hash tags {<topic>:<partition>} fall on all three masters. Phases, each
 * ending with the triggers (nothing lost; no duplicate in exactly_once)
 * and every stored state (read through a cluster-mode handle) compared
 * with the oracle's:
 *
 *   1. end to end: the worker logs its slot map, and every master holds
 *      keys (DBSIZE);
 *   2. kill -9 of the master that serves one of the partitions while
 *      records stream (half before the kill, half after): its replica
 *      takes over (wait-ok), the killed node is started again and rejoins
 *      as a replica (without it WAIT could not be met on that shard), and
 *      the worker, untouched, finds the new master by itself (a "cluster
 *      slot map" line naming the promoted replica's port);
 *   3. a live reshard (redis-cli --cluster reshard) of 300 to 1000 slots,
 *      a partition's slot among them (checked with master-of after), to
 *      another master while records stream: the worker follows
 *      ASK/TRYAGAIN/MOVED and takes the new map.
 *
 *   0100-redis-cluster [exactly_once|at_least_once] [records per phase] [e2e] [tls]
 *
 * e2e: phase 1 only. tls: the cluster speaks TLS only, with client
 * certificates required (redis-cluster.sh start --tls), and so does the
 * worker (redis.tls*). Exits 77 (skipped) without redis-cli --cluster.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vg_itest.h"
#include "vg_itest_server.h"
#include "vg_keys.h"
#include "vg_redis.h"

#define VG_CUSTOMERS 300
#define VG_PARTITIONS 8
#define VG_NODES_MAX 16
#define VG_RANGES_MAX 64
/* Phase 3 moves between these many slots: enough for records to flow
 * through the migration, few enough for Valkey's slower SETSLOT. */
#define VG_RESHARD_MIN 300
#define VG_RESHARD_MAX 1000

typedef struct vg_cluster_s {
    char script[1200];  /* ops/stack/redis-cluster.sh */
    char run_dir[1200];
    char log[1300];     /* what the script says */
    char certs[1300];   /* --tls: ca.pem, client.pem, client-key.pem */
    char cli_tls[4200]; /* redis-cli's TLS arguments, or "" */
    bool tls, started;
    int n, ports[VG_NODES_MAX];
    char seeds[1024];
} vg_cluster_t;

/* One node as CLUSTER NODES shows it. */
typedef struct vg_cnode_s {
    int port, index; /* index: the node's number in the script, -1 if not ours */
    bool master, failed;
    int n_ranges, lo[VG_RANGES_MAX], hi[VG_RANGES_MAX];
} vg_cnode_t;

static vg_cluster_t *vg_running; /* stopped at exit, whatever the path */

static int vg_status(int rc) { return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1; }

/* redis-cluster.sh CMD --run-dir D ARGS, its output to the script log.
 * Returns its exit status. */
static int vg_cluster_run(const vg_cluster_t *c, const char *cmd, const char *args) {
    char line[8192];

    snprintf(line, sizeof(line), "bash \"%s\" %s --run-dir \"%s\" %s >>\"%s\" 2>&1", c->script,
             cmd, c->run_dir, args, c->log);
    fflush(NULL);
    return vg_status(system(line));
}

static void vg_cluster_stop(void) {
    if (vg_running && vg_running->started) {
        int rc = vg_cluster_run(vg_running, "stop", "");
        printf("cluster stopped (redis-cluster.sh stop: exit %d)\n", rc);
        vg_running->started = false;
    }
}

/* The node serving slot now, by the script (master-of); -1 if none. */
static int vg_cluster_master_of(const vg_cluster_t *c, unsigned slot) {
    char line[4096], out[64] = "";
    FILE *p;

    snprintf(line, sizeof(line), "bash \"%s\" master-of --run-dir \"%s\" --slot %u 2>>\"%s\"",
             c->script, c->run_dir, slot, c->log);
    fflush(NULL);
    if (!(p = popen(line, "r")))
        return -1;
    if (!fgets(out, sizeof(out), p))
        out[0] = '\0';
    if (vg_status(pclose(p)) != 0 || !out[0])
        return -1;
    return atoi(out);
}

/* All that redis-cli args to port prints, into out. */
static void vg_cli(const vg_cluster_t *c, int port, const char *args, char *out, size_t size) {
    char cmd[8192];
    FILE *p;
    size_t n = 0;

    snprintf(cmd, sizeof(cmd), "redis-cli -h 127.0.0.1 -p %d %s %s 2>&1", port, c->cli_tls, args);
    out[0] = '\0';
    fflush(NULL);
    if ((p = popen(cmd, "r"))) {
        n = fread(out, 1, size - 1, p);
        out[n] = '\0';
        pclose(p);
    }
}

static int vg_cluster_index(const vg_cluster_t *c, int port) {
    for (int i = 0; i < c->n; i++)
        if (c->ports[i] == port)
            return i;
    return -1;
}

/* The nodes as the first live node sees them (CLUSTER NODES). Returns how
 * many, 0 if no node answered. */
static int vg_cluster_nodes(const vg_cluster_t *c, vg_cnode_t *nodes, int max) {
    static char out[65536];

    for (int k = 0; k < c->n; k++) {
        int n = 0;
        char *save = NULL;
        vg_cli(c, c->ports[k], "CLUSTER NODES", out, sizeof(out));
        for (char *line = strtok_r(out, "\n", &save); line && n < max;
             line = strtok_r(NULL, "\n", &save)) {
            char *tok[8 + VG_RANGES_MAX], *s2 = NULL, *at;
            int nt = 0;
            vg_cnode_t *x = &nodes[n];
            for (char *w = strtok_r(line, " \r", &s2); w && nt < 8 + VG_RANGES_MAX;
                 w = strtok_r(NULL, " \r", &s2))
                tok[nt++] = w;
            if (nt < 8 || !(at = strchr(tok[1], '@')) || !strchr(tok[1], ':'))
                break; /* not a CLUSTER NODES line: this node does not answer */
            *at = '\0';
            memset(x, 0, sizeof(*x));
            x->port = atoi(strrchr(tok[1], ':') + 1);
            x->index = vg_cluster_index(c, x->port);
            x->master = strstr(tok[2], "master") != NULL;
            x->failed = strstr(tok[2], "fail") && !strstr(tok[2], "fail?");
            for (int f = 8; f < nt && x->n_ranges < VG_RANGES_MAX; f++) {
                char *dash;
                if (tok[f][0] == '[')
                    continue; /* a slot being migrated: the owner is listed too */
                x->lo[x->n_ranges] = atoi(tok[f]);
                dash = strchr(tok[f], '-');
                x->hi[x->n_ranges] = dash ? atoi(dash + 1) : x->lo[x->n_ranges];
                x->n_ranges++;
            }
            n++;
        }
        if (n)
            return n;
    }
    return 0;
}

/* The live master that owns slot in nodes[0..n), or NULL. */
static const vg_cnode_t *vg_owner(const vg_cnode_t *nodes, int n, unsigned slot) {
    for (int i = 0; i < n; i++)
        if (nodes[i].master && !nodes[i].failed)
            for (int r = 0; r < nodes[i].n_ranges; r++)
                if ((int)slot >= nodes[i].lo[r] && (int)slot <= nodes[i].hi[r])
                    return &nodes[i];
    return NULL;
}

/* How many of node's slots are at or below slot; its slots in *total. */
static int vg_slots_upto(const vg_cnode_t *node, unsigned slot, int *total) {
    int upto = 0;

    *total = 0;
    for (int r = 0; r < node->n_ranges; r++) {
        *total += node->hi[r] - node->lo[r] + 1;
        if ((int)slot >= node->lo[r])
            upto += ((int)slot < node->hi[r] ? (int)slot : node->hi[r]) - node->lo[r] + 1;
    }
    return upto;
}

/* The slot of partition p's keys: the slot of its deadline index key, which
 * shares the hash tag {<topic>:<p>} with every state key of p. */
static unsigned vg_partition_slot(const vg_itest_t *t, int p) {
    char key[VG_KEYS_MAX];

    vg_keys_due(key, sizeof(key), t->prefix, t->topic_events, p);
    return vg_redis_slot(key, strlen(key));
}

static long long vg_wall_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The wall time of a worker log line ({"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ",...}),
 * in ms; -1 if it has none. */
static long long vg_line_ms(const char *line) {
    const char *ts = strstr(line, "\"ts\":\"");
    struct tm tm = {0};
    int ms = 0;

    if (!ts || sscanf(ts + 6, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000 + ms;
}

static long vg_file_size(const char *path) {
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Lines of the file at path, from byte from on, that hold text. */
static size_t vg_count_from(const char *path, long from, const char *text) {
    FILE *f = fopen(path, "r");
    char line[8192];
    size_t n = 0;

    if (!f)
        return 0;
    fseek(f, from, SEEK_SET);
    while (fgets(line, sizeof(line), f))
        n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}

/* The worker's stalls in its log from byte from on: how many "redis
 * unavailable" lines, which problems they named, and the wall time of the
 * last "redis is back" line (-1 if none). */
typedef struct vg_stalls_s {
    int stalls;
    char problems[256];
    long long last_back_ms;
} vg_stalls_t;

static void vg_scan_stalls(const char *path, long from, vg_stalls_t *s) {
    FILE *f = fopen(path, "r");
    char line[8192];

    memset(s, 0, sizeof(*s));
    s->last_back_ms = -1;
    if (!f)
        return;
    fseek(f, from, SEEK_SET);
    while (fgets(line, sizeof(line), f)) {
        const char *u = strstr(line, "redis unavailable (");
        if (u && strstr(line, "waiting, consuming nothing")) {
            char name[32] = "";
            s->stalls++;
            sscanf(u + 19, "%31[a-z_]", name);
            if (name[0] && !strstr(s->problems, name))
                snprintf(s->problems + strlen(s->problems), sizeof(s->problems) -
                         strlen(s->problems), "%s%s", s->problems[0] ? "," : "", name);
        } else if (strstr(line, "redis is back after")) {
            s->last_back_ms = vg_line_ms(line);
        }
    }
    fclose(f);
}

/* A line of the file at path, from byte from on, that holds both a and b
 * (b may be ""), up to timeout_ms. */
static bool vg_wait_log2(const char *path, long from, const char *a, const char *b,
                         int timeout_ms) {
    long long deadline = vg_itest_now_ms() + timeout_ms;

    do {
        FILE *f = fopen(path, "r");
        char line[8192];
        bool found = false;
        if (f)
            fseek(f, from, SEEK_SET);
        while (f && !found && fgets(line, sizeof(line), f))
            found = strstr(line, a) && strstr(line, b);
        if (f)
            fclose(f);
        if (found)
            return true;
        usleep(50000); /* a log file has no change notification worth the code */
    } while (vg_itest_now_ms() < deadline);
    return false;
}

/* Produce count records in slices, so that the worker gets them over the
 * time the caller's action takes (while_pid still runs): returns how many
 * went out while it ran. */
static size_t vg_produce_while(vg_itest_t *t, vg_gen_t *gen, size_t count, vg_oracle_t *oracle,
                               vg_idset_t *want, pid_t while_pid, int *status) {
    vg_itest_produced_t prod;
    size_t sent = 0;

    while (sent < count && waitpid(while_pid, status, WNOHANG) == 0) {
        size_t n = count - sent < 100 ? count - sent : 100;
        vg_itest_produce(t, gen, n, oracle, want, &prod);
        sent += n;
    }
    return sent;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "exactly_once";
    size_t count = argc > 2 ? strtoul(argv[2], NULL, 10) : 3000;
    bool e2e = false, tls = false, dups_ok;
    const char *repo = getenv("VIGIL_REPO") ? getenv("VIGIL_REPO") : ".";
    static vg_cluster_t cl;
    vg_cnode_t nodes[VG_NODES_MAX];
    int n_nodes, failures = 0, rc, masters = 0;
    char log[1200], text[2048], out[4096], s_mode[64], s_seeds[1100], s_ca[1500], s_cert[1500],
        s_key[1500], ca[1400], cert[1400], key[1400];
    const char *sets[16];
    size_t n_sets = 0;
    unsigned slot_of[VG_PARTITIONS];
    vg_itest_t t;
    vg_gen_t *gen = NULL;
    vg_oracle_t *oracle = NULL;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    vg_redis_conf_t rconf = {0};
    pid_t w = -1;
    long log_start;
    FILE *f;

    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "e2e"))
            e2e = true;
        else if (!strcmp(argv[i], "tls"))
            tls = true;
    }
    dups_ok = strcmp(mode, "exactly_once") != 0;
    /* Each variant its own name: its own run dir, topics and worker log. */
    snprintf(text, sizeof(text), "redis-cluster%s%s%s", dups_ok ? "-alo" : "", e2e ? "-e2e" : "",
             tls ? "-tls" : "");
    if (vg_itest_init(&t, text))
        return VG_ITEST_SKIP;
    /* redis-cli --cluster arrived with Redis 5; its help exits 0 or 1, an
     * old redis-cli says "Unrecognized option". */
    if (system("redis-cli --cluster help 2>&1 | grep -q 'Cluster Manager'") != 0) {
        printf("SKIP: redis-cli with --cluster support not found\n");
        return VG_ITEST_SKIP;
    }
    snprintf(text, sizeof(text), "command -v '%s' >/dev/null 2>&1", vg_itest_redis_server());
    if (system(text) != 0) {
        printf("SKIP: %s not found\n", vg_itest_redis_server());
        return VG_ITEST_SKIP;
    }

    /* The cluster, in a run dir of this test's own; one left by an
     * interrupted run is stopped and replaced. */
    snprintf(cl.script, sizeof(cl.script), "%s/ops/stack/redis-cluster.sh", repo);
    snprintf(cl.run_dir, sizeof(cl.run_dir), "%s/%s", t.stack_dir, t.name);
    snprintf(cl.log, sizeof(cl.log), "%s.log", cl.run_dir);
    cl.tls = tls;
    if (access(cl.run_dir, F_OK) == 0) {
        vg_cluster_run(&cl, "stop", "");
        snprintf(text, sizeof(text), "rm -rf -- \"%s\"", cl.run_dir);
        if (system(text) != 0)
            fprintf(stderr, "could not remove %s\n", cl.run_dir);
    }
    vg_running = &cl;
    atexit(vg_cluster_stop);
    if (tls) {
        snprintf(cl.certs, sizeof(cl.certs), "%s/certs", cl.run_dir);
        snprintf(cl.cli_tls, sizeof(cl.cli_tls),
                 "--tls --cacert %s/ca.pem --cert %s/client.pem --key %s/client-key.pem", cl.certs,
                 cl.certs, cl.certs);
        snprintf(text, sizeof(text), "--tls \"%s\"", cl.certs);
    } else {
        text[0] = '\0';
    }
    {
        long long t0 = vg_itest_now_ms();
        cl.started = true; /* from here on, stop it at exit (stop is safe on a half start) */
        rc = vg_cluster_run(&cl, "start", text);
        if (rc != 0) {
            fprintf(stderr, "FAIL: redis-cluster.sh start: exit %d (see %s)\n", rc, cl.log);
            return 1;
        }
        printf("cluster started in %lld ms (%s)\n", vg_itest_now_ms() - t0, cl.log);
    }
    snprintf(text, sizeof(text), "%s/redis-cluster.env", cl.run_dir);
    if ((f = fopen(text, "r"))) {
        char line[2048];
        while (fgets(line, sizeof(line), f))
            if (!strncmp(line, "VIGIL_REDIS_CLUSTER_NODES=", 26)) {
                char *save = NULL;
                line[strcspn(line, "\r\n")] = '\0';
                snprintf(cl.seeds, sizeof(cl.seeds), "%.1000s", line + 26);
                for (char *s = strtok_r(line + 26, ",", &save); s && cl.n < VG_NODES_MAX;
                     s = strtok_r(NULL, ",", &save))
                    cl.ports[cl.n++] = atoi(strrchr(s, ':') + 1);
            }
        fclose(f);
    }
    n_nodes = vg_cluster_nodes(&cl, nodes, VG_NODES_MAX);
    for (int i = 0; i < n_nodes; i++)
        masters += nodes[i].master && nodes[i].n_ranges > 0;
    if (cl.n != 6 || n_nodes != 6 || masters != 3) {
        fprintf(stderr, "FAIL: want 6 nodes, 3 masters; env names %d, CLUSTER NODES %d, %d masters\n",
                cl.n, n_nodes, masters);
        return 1;
    }
    printf("cluster: %s%s, seeds %s\n", vg_itest_redis_server(), tls ? " over TLS" : "", cl.seeds);

    /* An events topic whose partitions' slots fall on every master, one of
     * them within the first VG_RESHARD_MAX slots of its master (phase 3
     * moves that many at most: Valkey takes ~20 ms a slot). A failover
     * keeps the ranges, so this holds in phase 3 too. */
    for (int salt = 0;; salt++) {
        bool on[VG_NODES_MAX] = {false};
        int used = 0, nearest = VG_REDIS_SLOTS;
        if (salt)
            snprintf(t.topic_events, sizeof(t.topic_events), "events.%s-%d", t.suffix, salt);
        for (int p = 0; p < VG_PARTITIONS; p++) {
            unsigned slot = vg_partition_slot(&t, p);
            const vg_cnode_t *o = vg_owner(nodes, n_nodes, slot);
            int total, upto;
            if (!o)
                continue;
            if (!on[o - nodes]) {
                on[o - nodes] = true;
                used++;
            }
            if ((upto = vg_slots_upto(o, slot, &total)) < nearest)
                nearest = upto;
        }
        if (used == masters && nearest <= VG_RESHARD_MAX)
            break;
        if (salt == 200) {
            fprintf(stderr, "FAIL: no topic name spreads %d partitions over 3 masters\n",
                    VG_PARTITIONS);
            return 1;
        }
    }
    for (int p = 0; p < VG_PARTITIONS; p++) {
        slot_of[p] = vg_partition_slot(&t, p);
        printf("partition %d: slot %u on node %d\n", p, slot_of[p],
               vg_owner(nodes, n_nodes, slot_of[p])->index);
    }
    vg_itest_create_topics(&t, VG_PARTITIONS, 1);
    {
        vg_itest_traffic_t tr = {100, VG_CUSTOMERS, (e2e ? 1 : 3) * count, 0, 0.25, 0.0};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }

    snprintf(s_mode, sizeof(s_mode), "delivery.mode=%s", mode);
    snprintf(s_seeds, sizeof(s_seeds), "redis.cluster_nodes=%s", cl.seeds);
    sets[n_sets++] = s_mode;
    sets[n_sets++] = "redis.mode=cluster";
    sets[n_sets++] = s_seeds;
    sets[n_sets++] = "redis.min_replicas_acked=1";
    sets[n_sets++] = "redis.wait_timeout_ms=2000";
    sets[n_sets++] = "shutdown.drain_timeout_ms=10000";
    snprintf(ca, sizeof(ca), "%s/ca.pem", cl.certs);
    snprintf(cert, sizeof(cert), "%s/client.pem", cl.certs);
    snprintf(key, sizeof(key), "%s/client-key.pem", cl.certs);
    if (tls) {
        snprintf(s_ca, sizeof(s_ca), "redis.tls_ca_file=%s", ca);
        snprintf(s_cert, sizeof(s_cert), "redis.tls_cert_file=%s", cert);
        snprintf(s_key, sizeof(s_key), "redis.tls_key_file=%s", key);
        sets[n_sets++] = "redis.tls=true";
        sets[n_sets++] = s_ca;
        sets[n_sets++] = s_cert;
        sets[n_sets++] = s_key;
    }
    sets[n_sets] = NULL;
    /* The states are read back through a cluster-mode handle of our own. */
    rconf.mode = VG_REDIS_MODE_CLUSTER;
    rconf.cluster_nodes = cl.seeds;
    rconf.key_prefix = t.prefix;
    if (tls)
        rconf.tls = (vg_redis_tls_t){true, ca, NULL, cert, key, NULL, false};
    t.redis_conf = &rconf;

    snprintf(log, sizeof(log), "%s/%s-w1.log", t.stack_dir, t.name);
    log_start = vg_file_size(log); /* a log left by an earlier run is appended to */
    w = vg_itest_worker_spawn(&t, "w1", sets);

    /* --- 1. end to end ---------------------------------------------------- */
    printf("--- phase 1: end to end, %zu records, %s\n", count, mode);
    vg_itest_produce(&t, gen, count, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 90000)) {
        fprintf(stderr, "FAIL: phase 1: not every record committed\n");
        failures++;
        goto stop;
    }
    if (!vg_wait_log2(log, log_start, "cluster slot map (from", "", 1000)) {
        fprintf(stderr, "FAIL: phase 1: the worker did not log its slot map\n");
        failures++;
    }
    {
        int with_keys = 0;
        for (int i = 0; i < n_nodes; i++) {
            long long keys;
            if (!nodes[i].master || !nodes[i].n_ranges)
                continue; /* a replica (another node may not have heard yet) */
            vg_cli(&cl, nodes[i].port, "DBSIZE", out, sizeof(out));
            keys = atoll(out);
            printf("master node %d (port %d): %lld keys\n", nodes[i].index, nodes[i].port, keys);
            with_keys += keys > 0;
        }
        if (with_keys != masters) {
            fprintf(stderr, "FAIL: phase 1: keys on %d of %d masters\n", with_keys, masters);
            failures++;
        }
    }
    failures += vg_itest_check_triggers(&t, &want, dups_ok);
    failures += vg_itest_check_states(&t, oracle, VG_CUSTOMERS, "after phase 1");
    if (e2e || failures)
        goto stop;

    /* --- 2. kill -9 of a master under traffic ----------------------------- */
    {
        unsigned slot = slot_of[0];
        int old = vg_cluster_master_of(&cl, slot), now = -1;
        long from = vg_file_size(log);
        long long kill_wall, kill_mono, failover_ms = -1, rejoin_ms = -1;
        vg_stalls_t st;

        printf("--- phase 2: kill -9 of node %d (port %d, serves slot %u of partition 0), %zu "
               "records around it\n",
               old, old >= 0 ? cl.ports[old] : -1, slot, count);
        if (old < 0) {
            fprintf(stderr, "FAIL: phase 2: no master of slot %u\n", slot);
            failures++;
            goto stop;
        }
        vg_itest_produce(&t, gen, count / 2, oracle, &want, &prod);
        snprintf(text, sizeof(text), "--node %d", old);
        kill_wall = vg_wall_ms();
        kill_mono = vg_itest_now_ms();
        if ((rc = vg_cluster_run(&cl, "kill9", text)) != 0) {
            fprintf(stderr, "FAIL: phase 2: kill9: exit %d\n", rc);
            failures++;
            goto stop;
        }
        vg_itest_produce(&t, gen, count - count / 2, oracle, &want, &prod);
        /* Its replica takes over; then the killed node comes back (as an
         * orchestrator restarts it) and rejoins as the new master's replica:
         * until then WAIT for one replica cannot be met on that shard. */
        if ((rc = vg_cluster_run(&cl, "wait-ok", "--timeout 30")) != 0 ||
            (now = vg_cluster_master_of(&cl, slot)) < 0 || now == old) {
            fprintf(stderr, "FAIL: phase 2: no failover (wait-ok: exit %d; slot %u on node %d)\n",
                    rc, slot, now);
            failures++;
            goto stop;
        }
        failover_ms = vg_itest_now_ms() - kill_mono;
        if ((rc = vg_cluster_run(&cl, "restart", text)) != 0 ||
            (rc = vg_cluster_run(&cl, "wait-ok", "--timeout 30")) != 0) {
            fprintf(stderr, "FAIL: phase 2: the killed node did not rejoin (exit %d)\n", rc);
            failures++;
            goto stop;
        }
        rejoin_ms = vg_itest_now_ms() - kill_mono;
        printf("phase 2: node %d (port %d) promoted %lld ms after the kill; node %d back as a "
               "replica at %lld ms\n",
               now, cl.ports[now], failover_ms, old, rejoin_ms);
        if (!vg_itest_wait_committed(&t, 90000)) {
            fprintf(stderr, "FAIL: phase 2: not every record committed after the failover\n");
            failures++;
            goto stop;
        }
        printf("phase 2: every record committed %lld ms after the kill\n",
               vg_itest_now_ms() - kill_mono);
        snprintf(text, sizeof(text), "127.0.0.1:%d=", cl.ports[now]);
        if (!vg_wait_log2(log, from, "cluster slot map (from", text, 1000)) {
            fprintf(stderr, "FAIL: phase 2: no \"cluster slot map\" line names the promoted "
                            "replica (%s)\n", text);
            failures++;
        }
        vg_scan_stalls(log, from, &st);
        if (st.stalls)
            printf("phase 2: the worker stalled %d time(s) (%s); it resumed for good %.1f s "
                   "after the kill\n",
                   st.stalls, st.problems,
                   st.last_back_ms >= 0 ? (st.last_back_ms - kill_wall) / 1000.0 : -1.0);
        else
            printf("phase 2: the worker did not stall\n");
        failures += vg_itest_check_triggers(&t, &want, dups_ok);
        failures += vg_itest_check_states(&t, oracle, VG_CUSTOMERS, "after the failover");
        if (failures)
            goto stop;
    }

    /* --- 3. a live reshard under traffic ---------------------------------- */
    {
        const vg_cnode_t *src = NULL, *dst = NULL;
        unsigned slot = 0;
        int k = 0, total = 0, part = -1, moved_used = 0, status = 0, now;
        size_t during;
        long from = vg_file_size(log);
        size_t maps;
        long long t0;
        pid_t rs;
        char rcmd[4096];

        n_nodes = vg_cluster_nodes(&cl, nodes, VG_NODES_MAX);
        /* redis-cli --cluster reshard moves the source's lowest slots first:
         * the partition whose slot is nearest the start of its master's
         * slots needs the fewest moved. */
        for (int p = 0; p < VG_PARTITIONS; p++) {
            const vg_cnode_t *o = vg_owner(nodes, n_nodes, slot_of[p]);
            int tot, upto;
            if (!o || o->index < 0)
                continue;
            upto = vg_slots_upto(o, slot_of[p], &tot);
            if (!src || upto < k)
                src = o, k = upto, total = tot, part = p, slot = slot_of[p];
        }
        for (int i = 0; src && i < n_nodes && !dst; i++)
            if (nodes[i].master && !nodes[i].failed && nodes[i].n_ranges && &nodes[i] != src &&
                nodes[i].index >= 0)
                dst = &nodes[i];
        if (!src || !dst) {
            fprintf(stderr, "FAIL: phase 3: no source and target master\n");
            failures++;
            goto stop;
        }
        if (k < VG_RESHARD_MIN)
            k = total < VG_RESHARD_MIN ? total : VG_RESHARD_MIN;
        for (int p = 0; p < VG_PARTITIONS; p++) {
            int tot;
            if (vg_owner(nodes, n_nodes, slot_of[p]) == src &&
                vg_slots_upto(src, slot_of[p], &tot) <= k)
                moved_used++;
        }
        printf("--- phase 3: reshard %d slots from node %d to node %d (slot %u of partition %d "
               "and %d used slot(s) in all), %zu records\n",
               k, src->index, dst->index, slot, part, moved_used, count);
        snprintf(rcmd, sizeof(rcmd), "bash \"%s\" reshard --run-dir \"%s\" --slots %d --from %d "
                 "--to %d >>\"%s\" 2>&1",
                 cl.script, cl.run_dir, k, src->index, dst->index, cl.log);
        fflush(NULL);
        t0 = vg_itest_now_ms();
        if ((rs = fork()) == 0) {
            execl("/bin/sh", "sh", "-c", rcmd, (char *)NULL);
            _exit(127);
        }
        during = vg_produce_while(&t, gen, count / 2, oracle, &want, rs, &status);
        if (waitpid(rs, &status, WNOHANG) == 0)
            waitpid(rs, &status, 0);
        printf("phase 3: reshard done in %lld ms (exit %d); %zu records produced meanwhile\n",
               vg_itest_now_ms() - t0, WIFEXITED(status) ? WEXITSTATUS(status) : -1, during);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "FAIL: phase 3: redis-cluster.sh reshard failed (see %s)\n", cl.log);
            failures++;
            goto stop;
        }
        if ((now = vg_cluster_master_of(&cl, slot)) != dst->index) {
            fprintf(stderr, "FAIL: phase 3: slot %u is on node %d, not %d\n", slot, now,
                    dst->index);
            failures++;
        }
        vg_itest_produce(&t, gen, count - during, oracle, &want, &prod);
        if (!vg_itest_wait_committed(&t, 90000)) {
            fprintf(stderr, "FAIL: phase 3: not every record committed after the reshard\n");
            failures++;
            goto stop;
        }
        maps = vg_count_from(log, from, "cluster slot map (from");
        printf("phase 3: the worker logged %zu new slot map(s)\n", maps);
        if (!maps) {
            fprintf(stderr, "FAIL: phase 3: the worker did not take the new slot map\n");
            failures++;
        }
        failures += vg_itest_check_triggers(&t, &want, dups_ok);
        failures += vg_itest_check_states(&t, oracle, VG_CUSTOMERS, "after the reshard");
    }

stop:
    if (w > 0) {
        rc = vg_itest_worker_stop(w, SIGTERM, 30000);
        if (rc != 0) {
            fprintf(stderr, "FAIL: worker exit %d (log %s)\n", rc, log);
            failures++;
        }
    }
    vg_cluster_stop();
    vg_idset_free(&want);
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
