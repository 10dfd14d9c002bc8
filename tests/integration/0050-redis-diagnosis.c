/*
 * 0050-redis-diagnosis: pointed at a Redis that cannot hold its state, a
 * worker names the problem in its first error line and in the metric
 * label, never logs a secret, and stops at once on SIGTERM while it waits.
 * Each case is a real redis-server started in that state:
 *
 *   tls_port  TLS-only (--port 0 --tls-port, certificates made by openssl)
 *   auth      --requirepass, and the worker has another password
 *   cluster   --cluster-enabled yes
 *   replica   --replicaof a master that is not there
 *   oom       --maxmemory 1 --maxmemory-policy noeviction
 *   loading   restarted on an RDB of 20,000 keys (DEBUG POPULATE, SAVE),
 *             loading slowly (key-load-delay 1 ms a key: about 30 s) and
 *             answering LOADING meanwhile
 *
 *   0050-redis-diagnosis
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vg_itest.h"
#include "vg_itest_server.h"

#define VG_SECRET "not-the-password-4f9c"

typedef struct vg_case_s {
    const char *name;   /* the problem's name, as logged and labelled */
    const char *says;   /* what the first error line must say */
} vg_case_t;

/* Start redis-server for case c on port; argv built per case. */
static pid_t vg_redis_start(const char *c, int port, const char *dir) {
    char portstr[16], cfg[1200], cert[1200], key[1200], other[16], data[1200];
    pid_t pid;

    snprintf(portstr, sizeof(portstr), "%d", port);
    snprintf(other, sizeof(other), "%d", port == 65535 ? 1 : port + 1);
    snprintf(cfg, sizeof(cfg), "%s/nodes-%d.conf", dir, port);
    snprintf(cert, sizeof(cert), "%s/diag-cert.pem", dir);
    snprintf(key, sizeof(key), "%s/diag-key.pem", dir);
    snprintf(data, sizeof(data), "%s/diag-loading", dir);
    pid = fork();
    if (pid != 0)
        return pid;
    const char *srv = vg_itest_redis_server();
    char data_dir[64];
    snprintf(data_dir, sizeof(data_dir), "diag-data-%s", c);
    vg_itest_server_dir(dir, data_dir);
    if (!strcmp(c, "tls_port"))
        execlp(srv, srv, "--port", "0", "--tls-port", portstr, "--bind",
               "127.0.0.1", "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file",
               cert, "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", (char *)NULL);
    else if (!strcmp(c, "auth"))
        execlp(srv, srv, "--port", portstr, "--bind", "127.0.0.1",
               "--requirepass", "the-right-one", "--save", "", "--appendonly", "no", (char *)NULL);
    else if (!strcmp(c, "cluster"))
        execlp(srv, srv, "--port", portstr, "--bind", "127.0.0.1",
               "--cluster-enabled", "yes", "--cluster-config-file", cfg, "--save", "",
               "--appendonly", "no", (char *)NULL);
    else if (!strcmp(c, "replica"))
        execlp(srv, srv, "--port", portstr, "--bind", "127.0.0.1",
               "--replicaof", "127.0.0.1", other, "--save", "", "--appendonly", "no",
               (char *)NULL);
    else if (!strcmp(c, "loading"))
        execlp(srv, srv, "--port", portstr, "--bind", "127.0.0.1",
               "--dir", data, "--key-load-delay", "1000", "--loading-process-events-interval-bytes",
               "1024", "--save", "", "--appendonly", "no", (char *)NULL);
    else
        execlp(srv, srv, "--port", portstr, "--bind", "127.0.0.1",
               "--maxmemory", "1", "--maxmemory-policy", "noeviction", "--save", "",
               "--appendonly", "no", (char *)NULL);
    _exit(127);
}

int main(void) {
    static const vg_case_t cases[] = {
        {"tls_port", "TLS-only port spoken to in plain text"},
        {"auth", "AUTH refused for user"},
        {"cluster", "is a Redis Cluster node"},
        {"replica", "is a replica"},
        {"oom", "out of memory"},
        {"loading", "loading its dataset"},
    };
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    char cmd[4000];
    int failures = 0;

    if (vg_itest_init(&t, "redis-diagnosis"))
        return VG_ITEST_SKIP;
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-keyout %s/diag-key.pem -out %s/diag-cert.pem >/dev/null 2>&1",
             t.stack_dir, t.stack_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "SKIP: openssl could not make a certificate\n");
        return VG_ITEST_SKIP;
    }
    /* The dataset the "loading" server loads slowly: made by a server
     * of its own, saved, shut down. */
    {
        int seed_port = vg_itest_free_port();
        snprintf(cmd, sizeof(cmd),
                 "d=%s/diag-loading; mkdir -p $d && rm -f $d/dump.rdb && "
                 "\"${VIGIL_REDIS_SERVER:-redis-server}\" --port %d --bind 127.0.0.1 --dir $d "
                 "--save '' "
                 "--enable-debug-command yes --daemonize no >/dev/null 2>&1 & "
                 "for i in $(seq 100); do redis-cli -p %d PING >/dev/null 2>&1 && break; "
                 "sleep 0.05; done; "
                 "redis-cli -p %d DEBUG POPULATE 20000 >/dev/null && redis-cli -p %d SAVE "
                 ">/dev/null && redis-cli -p %d SHUTDOWN NOSAVE >/dev/null 2>&1; wait; "
                 "test -s $d/dump.rdb",
                 t.stack_dir, seed_port, seed_port, seed_port, seed_port, seed_port);
        if (seed_port < 0 || system(cmd) != 0) {
            fprintf(stderr, "FAIL: could not make the RDB for the loading case\n");
            return 1;
        }
    }
    vg_itest_create_topics(&t, 2, 1);
    {
        vg_itest_traffic_t tr = {3, 20, 40, 0, 0.2, 0.0};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }
    /* Records waiting, so each worker tries to load states (and fails). */
    vg_itest_produce(&t, gen, 40, oracle, &want, &prod);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const vg_case_t *c = &cases[i];
        char port_set[64], log[1400], first[200], wid[64];
        const char *sets[] = {port_set, "redis.password=" VG_SECRET,
                              "shutdown.drain_timeout_ms=5000", NULL};
        int port = vg_itest_free_port(), rc;

        /* A cluster node also listens on port + 10000 (its bus). */
        while (port > 55000)
            port = vg_itest_free_port();
        long long t0;
        pid_t redis, w;

        if (strcmp(c->name, "auth") != 0)
            sets[1] = "log.level=info"; /* no password for the others */
        snprintf(port_set, sizeof(port_set), "redis.port=%d", port);
        snprintf(wid, sizeof(wid), "w-%s", c->name);
        snprintf(log, sizeof(log), "%s/%s-%s.log", t.stack_dir, t.name, wid);
        redis = vg_redis_start(c->name, port, t.stack_dir);
        {
            /* Listening? (the worker would say "unreachable" otherwise) */
            char probe[256];
            snprintf(probe, sizeof(probe),
                     "bash -c 'for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/%d) "
                     "2>/dev/null && exit 0; sleep 0.05; done; exit 1'",
                     port);
            if (system(probe) != 0) {
                fprintf(stderr, "FAIL %s: redis-server did not listen on %d\n", c->name, port);
                failures++;
            }
        }
        w = vg_itest_worker_start(&t, wid, sets);
        snprintf(first, sizeof(first), "redis unavailable (%s)", c->name);
        if (!vg_itest_wait_log(log, first, 30000)) {
            fprintf(stderr, "FAIL %s: no \"%s\" line in %s\n", c->name, first, log);
            failures++;
        }
        if (!vg_itest_file_count(log, c->says)) {
            fprintf(stderr, "FAIL %s: the log does not say \"%s\"\n", c->name, c->says);
            failures++;
        }
        if (vg_itest_file_count(log, VG_SECRET)) {
            fprintf(stderr, "FAIL %s: the log shows the password\n", c->name);
            failures++;
        }
        t0 = vg_itest_now_ms();
        rc = vg_itest_worker_stop(w, SIGTERM, 10000);
        printf("%-9s: \"%s\" logged; SIGTERM: exit %d after %lld ms\n", c->name, c->says, rc,
               vg_itest_now_ms() - t0);
        if (rc != 0 || vg_itest_now_ms() - t0 > 5000) {
            fprintf(stderr, "FAIL %s: SIGTERM while waiting: exit %d\n", c->name, rc);
            failures++;
        }
        /* A loading server finishes its load before it acts on SIGTERM. */
        kill(redis, strcmp(c->name, "loading") ? SIGTERM : SIGKILL);
        waitpid(redis, NULL, 0);
    }
    vg_idset_free(&want);
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
