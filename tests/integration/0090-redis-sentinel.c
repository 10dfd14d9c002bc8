/*
 * 0090-redis-sentinel: state in a Redis master watched by three sentinels,
 * with one replica, and a failover under traffic. The worker finds the
 * master through the sentinels (redis.sentinels) and writes every state
 * with WAIT for the replica (redis.min_replicas_acked 1). The sentinels are
 * told to fail over while the worker processes the first half of the
 * records; it must find the new master by itself, and the triggers and
 * every stored state (read from the new master) must equal the oracle's:
 * nothing lost, nothing published twice.
 *
 * tls-auth: the same, as an enterprise runs Sentinel. Every server speaks
 * TLS only (port 0, tls-port, tls-replication yes, client certificates
 * required, certificates from ops/stack/certs.sh); the data nodes' default
 * user has a password (the replica's masterauth, the sentinels'
 * auth-pass) and the worker is an ACL user limited to Vigil's commands
 * and keys; the sentinels have their own requirepass (and sentinel-pass
 * for each other), which the worker reads from redis.sentinel_password_file.
 * First the refusals, with the first half of the records waiting (the
 * worker given the right settings then starts with them, and the
 * failover), each named in the worker's first error line, no password in
 * its log, and stopped at once by SIGTERM (exit 0):
 *   auth      a wrong redis.sentinel_password: the sentinels refuse AUTH
 *   tls       a CA that did not sign the sentinels' certificates
 *   tls_port  redis.sentinel_tls=false: plain text to TLS-only sentinels
 *
 *   0090-redis-sentinel [records per phase] [plain|tls-auth]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vg_itest.h"
#include "vg_itest_server.h"
#include "vg_redis.h"

#define VG_CUSTOMERS 200
#define VG_DATA_PASSWORD "data-default-pw-41d2"      /* the data nodes' default user */
#define VG_WORKER_PASSWORD "data-vigil-pw-9a07"      /* the data nodes' ACL user vigil */
#define VG_SENTINEL_PASSWORD "sentinel-pw-c35e"      /* the sentinels' requirepass */
#define VG_WRONG_PASSWORD "sentinel-pw-wrong-77b1"

/* How this run's servers are reached. */
typedef struct vg_setup_s {
    bool tls_auth;
    char certs[1100];      /* tls-auth: the certificates' folder */
    char tls[6000];        /* tls-auth: the servers' TLS lines */
    char data_cli[4000];   /* redis-cli options for the data nodes ("" : plain) */
    char sent_cli[4000];   /* and for the sentinels */
} vg_setup_t;

typedef struct vg_case_s {
    const char *name;      /* the problem, as in "redis unavailable (<problem>)" */
    const char *says[2];   /* what the log must say */
    const char *set;       /* the setting that is wrong (later wins) */
} vg_case_t;

/* Make the certificates and the TLS lines every server shares: TLS only,
 * client certificates required, and client.pem shown on the servers' own
 * links (replication, sentinel to server and to sentinel): server.pem is
 * for serverAuth only. Returns false when openssl cannot. */
static bool vg_setup_tls(vg_itest_t *t, vg_setup_t *s) {
    char cmd[1400];

    snprintf(s->certs, sizeof(s->certs), "%s/sentinel-tls-certs", t->stack_dir);
    snprintf(cmd, sizeof(cmd), "bash %s/ops/stack/certs.sh %s >/dev/null",
             getenv("VIGIL_REPO") ? getenv("VIGIL_REPO") : ".", s->certs);
    if (system(cmd) != 0)
        return false;
    snprintf(s->tls, sizeof(s->tls),
             "tls-replication yes\n"
             "tls-cert-file %s/server.pem\ntls-key-file %s/server-key.pem\n"
             "tls-client-cert-file %s/client.pem\ntls-client-key-file %s/client-key.pem\n"
             "tls-ca-cert-file %s/ca.pem\ntls-auth-clients yes\n",
             s->certs, s->certs, s->certs, s->certs, s->certs);
    snprintf(s->data_cli, sizeof(s->data_cli),
             "--tls --cacert %s/ca.pem --cert %s/client.pem --key %s/client-key.pem "
             "--no-auth-warning --user default --pass " VG_DATA_PASSWORD,
             s->certs, s->certs, s->certs);
    snprintf(s->sent_cli, sizeof(s->sent_cli),
             "--tls --cacert %s/ca.pem --cert %s/client.pem --key %s/client-key.pem "
             "--no-auth-warning --pass " VG_SENTINEL_PASSWORD,
             s->certs, s->certs, s->certs);
    return true;
}

/* One server's configuration file: its port (the TLS port with tls-auth),
 * then what its role adds. */
static void vg_write_conf(const vg_itest_t *t, const vg_setup_t *s, const char *file, int port,
                          const char *role) {
    char path[1200], text[12000];

    snprintf(path, sizeof(path), "%s/%s", t->stack_dir, file);
    if (s->tls_auth)
        snprintf(text, sizeof(text),
                 "port 0\ntls-port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\n%s%s", port,
                 s->tls, role);
    else
        snprintf(text, sizeof(text), "port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\n%s",
                 port, role);
    vg_itest_write_file(path, text);
}

/* A data node, <test>-<role>: with tls-auth, the default user's password (also the one
 * to its master) and the worker's ACL user; a replica follows master. */
static pid_t vg_start_data(const vg_itest_t *t, const vg_setup_t *s, const char *what, int port,
                           int master) {
    char role[2000] = "", name[128], file[160], path[1200], log[1200], data[160];
    size_t o = 0;

    if (s->tls_auth)
        o += (size_t)snprintf(role + o, sizeof(role) - o,
                              "user default on >" VG_DATA_PASSWORD " ~* &* +@all\n"
                              "masterauth " VG_DATA_PASSWORD "\n"
                              "user vigil on >" VG_WORKER_PASSWORD
                              " resetkeys ~%s:* resetchannels " VG_REDIS_ACL_COMMANDS "\n",
                              t->prefix);
    snprintf(name, sizeof(name), "%s-%s", t->name, what);
    if (master)
        snprintf(role + o, sizeof(role) - o, "replicaof 127.0.0.1 %d\n", master);
    snprintf(file, sizeof(file), "%s.conf", name);
    vg_write_conf(t, s, file, port, role);
    snprintf(log, sizeof(log), "%s/%s.log", t->stack_dir, name);
    snprintf(data, sizeof(data), "%s-data", name);
    snprintf(path, sizeof(path), "%s/%s", t->stack_dir, file);
    return vg_itest_spawn_redis(t->stack_dir, data, path, false, log);
}

/* Sentinel i (quorum 2); with tls-auth, its own password, the data nodes'
 * (auth-pass) and the other sentinels' (sentinel-pass). */
static pid_t vg_start_sentinel(const vg_itest_t *t, const vg_setup_t *s, int i, int port,
                               int master) {
    char role[1000], file[128], path[1200], log[1200], data[128];

    snprintf(role, sizeof(role),
             "sentinel monitor vigil 127.0.0.1 %d 2\n"
             "sentinel down-after-milliseconds vigil 1000\n"
             "sentinel failover-timeout vigil 5000\n%s",
             master,
             s->tls_auth ? "requirepass " VG_SENTINEL_PASSWORD "\n"
                           "sentinel auth-pass vigil " VG_DATA_PASSWORD "\n"
                           "sentinel sentinel-pass " VG_SENTINEL_PASSWORD "\n"
                         : "");
    snprintf(file, sizeof(file), "%s-%d.conf", t->name, i);
    vg_write_conf(t, s, file, port, role);
    snprintf(path, sizeof(path), "%s/%s", t->stack_dir, file);
    snprintf(log, sizeof(log), "%s/%s-%d.log", t->stack_dir, t->name, i);
    snprintf(data, sizeof(data), "%s-%d-data", t->name, i);
    return vg_itest_spawn_redis(t->stack_dir, data, path, true, log);
}

/* A worker with one wrong setting: the problem named in its first error
 * line, what the log must say there, no password in it, and SIGTERM
 * stops it at once. Returns the failures. */
static int vg_refusal(vg_itest_t *t, const char *const *good, size_t n_good,
                      const vg_case_t *c) {
    const char *sets[24];
    const char *secrets[] = {VG_DATA_PASSWORD, VG_WORKER_PASSWORD, VG_SENTINEL_PASSWORD,
                             VG_WRONG_PASSWORD};
    char log[1400], first[200], wid[64];
    int failures = 0, rc;
    long long t0;
    pid_t w;

    memcpy(sets, good, n_good * sizeof(*sets));
    sets[n_good] = c->set;
    sets[n_good + 1] = NULL;
    snprintf(wid, sizeof(wid), "w-%s", c->name);
    snprintf(log, sizeof(log), "%s/%s-%s.log", t->stack_dir, t->name, wid);
    snprintf(first, sizeof(first), "redis unavailable (%s)", c->name);
    w = vg_itest_worker_start(t, wid, sets);
    if (!vg_itest_wait_log(log, first, 30000)) {
        fprintf(stderr, "FAIL %s: no \"%s\" line in %s\n", c->name, first, log);
        failures++;
    }
    for (size_t k = 0; k < 2 && c->says[k]; k++) {
        if (!vg_itest_file_count(log, c->says[k])) {
            fprintf(stderr, "FAIL %s: the log does not say \"%s\"\n", c->name, c->says[k]);
            failures++;
        }
    }
    for (size_t k = 0; k < sizeof(secrets) / sizeof(secrets[0]); k++) {
        if (vg_itest_file_count(log, secrets[k])) {
            fprintf(stderr, "FAIL %s: the log shows a password\n", c->name);
            failures++;
        }
    }
    t0 = vg_itest_now_ms();
    rc = vg_itest_worker_stop(w, SIGTERM, 10000);
    printf("%-8s: \"%s\" logged; SIGTERM: exit %d after %lld ms\n", c->name, c->says[1], rc,
           vg_itest_now_ms() - t0);
    if (rc != 0 || vg_itest_now_ms() - t0 > 5000) {
        fprintf(stderr, "FAIL %s: SIGTERM while waiting: exit %d\n", c->name, rc);
        failures++;
    }
    return failures;
}

int main(int argc, char **argv) {
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 1500;
    static vg_setup_t s;
    int mport, rport, sport[3], failures = 0, rc;
    char log[1200], text[1024], sentinels[128], set_sent[200], out[4096];
    char s_ca[1200], s_cert[1200], s_key[1200], s_spw[1300], s_wrong_ca[1200], spw[1200];
    char ca[1200], cert[1200], key[1200];
    const char *sets[24] = {"delivery.mode=exactly_once", set_sent, "redis.sentinel_master=vigil",
                            "redis.min_replicas_acked=1", "redis.wait_timeout_ms=2000",
                            "shutdown.drain_timeout_ms=10000", NULL};
    size_t n_sets = 6;
    pid_t master, replica, sent[3], w;
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    vg_redis_conf_t rconf = {0};

    s.tls_auth = argc > 2 && strcmp(argv[2], "tls-auth") == 0;
    if (vg_itest_init(&t, s.tls_auth ? "sentinel-tls" : "sentinel"))
        return VG_ITEST_SKIP;
    if (s.tls_auth && !vg_setup_tls(&t, &s)) {
        fprintf(stderr, "SKIP: ops/stack/certs.sh could not make certificates (openssl?)\n");
        return VG_ITEST_SKIP;
    }
    /* Five distinct ports: a port the kernel picks twice in a row would
     * make two servers fight for it. */
    for (int i = 0; i < 5; i++) {
        int *p = i == 0 ? &mport : i == 1 ? &rport : &sport[i - 2];
        bool taken;
        do {
            *p = vg_itest_free_port();
            taken = *p < 0;
            for (int k = 0; k < i && !taken; k++)
                taken = *p == (k == 0 ? mport : k == 1 ? rport : sport[k - 2]);
        } while (taken);
    }

    /* Master, replica, three sentinels (quorum 2), each with its file. */
    master = vg_start_data(&t, &s, "master", mport, 0);
    replica = vg_start_data(&t, &s, "replica", rport, mport);
    for (int i = 0; i < 3; i++)
        sent[i] = vg_start_sentinel(&t, &s, i, sport[i], mport);
    /* Ready: the replica in sync, and the sentinels know it. */
    if (!vg_itest_cli_wait_with(s.data_cli, rport, "INFO replication", "master_link_status:up",
                                30000) ||
        !vg_itest_cli_wait_with(s.sent_cli, sport[0], "SENTINEL replicas vigil", "slave",
                                30000) ||
        !vg_itest_cli_wait_with(s.sent_cli, sport[1], "SENTINEL sentinels vigil", "sentinel",
                                30000)) {
        fprintf(stderr, "FAIL: master, replica and sentinels did not come up\n");
        failures++;
        goto out;
    }
    printf("master %d, replica %d, sentinels %d %d %d%s\n", mport, rport, sport[0], sport[1],
           sport[2],
           s.tls_auth ? " (TLS only, client certificates; AUTH on data nodes and sentinels)"
                      : "");

    snprintf(sentinels, sizeof(sentinels), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", sport[0],
             sport[1], sport[2]);
    snprintf(set_sent, sizeof(set_sent), "redis.sentinels=%s", sentinels);
    vg_itest_create_topics(&t, 4, 1);
    {
        vg_itest_traffic_t tr = {90, VG_CUSTOMERS, 2 * count, 0, 0.25, 0.0};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }
    snprintf(log, sizeof(log), "%s/%s-w1.log", t.stack_dir, t.name);
    if (s.tls_auth) {
        const char *tls_sets[] = {"redis.tls=true", s_ca, s_cert, s_key, "redis.user=vigil",
                                  "redis.password=" VG_WORKER_PASSWORD, s_spw};
        const vg_case_t cases[] = {
            {"auth", {"redis sentinel 127.0.0.1:", "redis.sentinel_password"},
             "redis.sentinel_password=" VG_WRONG_PASSWORD},
            {"tls", {"redis sentinel 127.0.0.1:", "certificate was refused"}, s_wrong_ca},
            {"tls_port", {"redis sentinel 127.0.0.1:", "set redis.sentinel_tls=true"},
             "redis.sentinel_tls=false"},
        };
        /* The sentinels' password from a file, as from a mounted Secret. */
        snprintf(spw, sizeof(spw), "%s/sentinel-password", t.stack_dir);
        vg_itest_write_file(spw, VG_SENTINEL_PASSWORD "\n");
        snprintf(s_spw, sizeof(s_spw), "redis.sentinel_password_file=%s", spw);
        snprintf(s_ca, sizeof(s_ca), "redis.tls_ca_file=%s/ca.pem", s.certs);
        snprintf(s_cert, sizeof(s_cert), "redis.tls_cert_file=%s/client.pem", s.certs);
        snprintf(s_key, sizeof(s_key), "redis.tls_key_file=%s/client-key.pem", s.certs);
        snprintf(s_wrong_ca, sizeof(s_wrong_ca), "redis.tls_ca_file=%s/wrong-ca.pem", s.certs);
        for (size_t i = 0; i < sizeof(tls_sets) / sizeof(tls_sets[0]); i++)
            sets[n_sets++] = tls_sets[i];
        sets[n_sets] = NULL;
        /* The first half waiting: a worker with nothing to do asks
         * Redis nothing, and says nothing about it. */
        vg_itest_produce(&t, gen, count, oracle, &want, &prod);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            failures += vg_refusal(&t, sets, n_sets, &cases[i]);
        w = vg_itest_worker_start(&t, "w1", sets);
    } else {
        w = vg_itest_worker_start(&t, "w1", sets);
        vg_itest_produce(&t, gen, count, oracle, &want, &prod);
    }
    /* Fail over while the worker works through the first half. */
    vg_itest_cli_with(s.sent_cli, sport[0], "SENTINEL FAILOVER vigil", out, sizeof(out));
    printf("SENTINEL FAILOVER: %s", out);
    snprintf(text, sizeof(text), "%d", rport);
    if (!vg_itest_cli_wait_with(s.sent_cli, sport[0], "SENTINEL get-master-addr-by-name vigil",
                                text, 60000)) {
        fprintf(stderr, "FAIL: the sentinels did not promote the replica\n");
        failures++;
    }
    vg_itest_produce(&t, gen, count, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: not every record committed after the failover\n");
        failures++;
    }
    snprintf(text, sizeof(text), "master vigil is 127.0.0.1:%d", rport);
    if (!vg_itest_wait_log(log, text, 1000)) {
        fprintf(stderr, "FAIL: the worker did not say it found the new master (\"%s\")\n", text);
        failures++;
    }
    if (s.tls_auth && (vg_itest_file_count(log, VG_WORKER_PASSWORD) ||
                       vg_itest_file_count(log, VG_SENTINEL_PASSWORD))) {
        fprintf(stderr, "FAIL: the worker's log shows a password\n");
        failures++;
    }
    failures += vg_itest_check_triggers(&t, &want, false);
    rc = vg_itest_worker_stop(w, SIGTERM, 30000);
    if (rc != 0) {
        fprintf(stderr, "FAIL: worker exit %d\n", rc);
        failures++;
    }
    /* Every state, read from the new master (as the worker's user). */
    rconf.host = "127.0.0.1";
    rconf.port = rport;
    rconf.key_prefix = t.prefix;
    if (s.tls_auth) {
        snprintf(ca, sizeof(ca), "%s/ca.pem", s.certs);
        snprintf(cert, sizeof(cert), "%s/client.pem", s.certs);
        snprintf(key, sizeof(key), "%s/client-key.pem", s.certs);
        rconf.user = "vigil";
        rconf.password = VG_WORKER_PASSWORD;
        rconf.tls = (vg_redis_tls_t){true, ca, NULL, cert, key, NULL, false};
    }
    t.redis_conf = &rconf;
    failures += vg_itest_check_states(&t, oracle, VG_CUSTOMERS, "on the new master");
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
out:
    for (int i = 0; i < 3; i++)
        kill(sent[i], SIGKILL);
    kill(master, SIGKILL);
    kill(replica, SIGKILL);
    while (wait(NULL) > 0)
        ;
    vg_idset_free(&want);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
