/*
 * 0060-redis-tls: state kept in a real redis-server as an enterprise runs
 * it: TLS only (certificates made by ops/stack/certs.sh with openssl),
 * client certificates required (mutual TLS), the default user disabled and
 * one ACL user limited to the commands and key pattern Vigil needs (the
 * line docs/configuration.md gives, "Redis ACL").
 *
 * First the refusals, each with records waiting, each named in the first
 * error line and stopped at once by SIGTERM (committing nothing):
 *   wrong_ca    the CA given did not sign the server's certificate
 *   hostname    redis.tls_server_name is not in the certificate
 *   no_cert     no client certificate for a server that requires one
 *   plain_port  TLS spoken to the stack's plain-text redis
 *   noperm      a key prefix outside the user's key pattern
 * Then a worker with the right settings processes everything: the
 * triggers and every stored state equal the oracle's. Last, the ACL user
 * is shown to be limited (FLUSHALL, another key refused) and the default
 * user to be off, with redis-cli over TLS.
 *
 *   0060-redis-tls [exactly_once|at_least_once] [records]
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

#define VG_PASSWORD "acl-user-password-7c1e"
#define VG_CUSTOMERS 300

typedef struct vg_case_s {
    const char *name;        /* problem, as in "redis unavailable (<problem>)" */
    const char *problem;
    const char *says;        /* what the first error line must say */
    const char *sets[4];     /* settings beyond the good ones (later wins) */
} vg_case_t;

/* Run a shell command; its output (first line) in out. */
static int vg_sh(const char *cmd, char *out, size_t out_size) {
    FILE *p = popen(cmd, "r");
    int rc;

    out[0] = '\0';
    if (!p)
        return -1;
    if (!fgets(out, (int)out_size, p))
        out[0] = '\0';
    while (fgetc(p) != EOF)
        ;
    rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "exactly_once";
    size_t count = argc > 2 ? strtoul(argv[2], NULL, 10) : 3000;
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    char certs[1100], conf[1200], cmd[6000], out[512];
    char s_mode[64], s_port[64], s_ca[1200], s_cert[1200], s_key[1200], s_prefix[200];
    char plain_port[64], other_prefix[200];
    int port, failures = 0, rc;
    pid_t redis, w;
    FILE *f;

    if (vg_itest_init(&t, "redis-tls"))
        return VG_ITEST_SKIP;
    snprintf(certs, sizeof(certs), "%s/redis-tls-certs", t.stack_dir);
    snprintf(cmd, sizeof(cmd), "bash %s/ops/stack/certs.sh %s >/dev/null",
             getenv("VIGIL_REPO") ? getenv("VIGIL_REPO") : ".", certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "SKIP: ops/stack/certs.sh could not make certificates (openssl?)\n");
        return VG_ITEST_SKIP;
    }
    while ((port = vg_itest_free_port()) < 0)
        ;
    /* The server: TLS only, client certificates required, the default
     * user off, one user with exactly what docs/configuration.md lists. */
    snprintf(conf, sizeof(conf), "%s/redis-tls.conf", t.stack_dir);
    if (!(f = fopen(conf, "w"))) {
        fprintf(stderr, "FAIL: cannot write %s\n", conf);
        return 1;
    }
    fprintf(f,
            "port 0\ntls-port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\n"
            "logfile %s/redis-tls.log\n"
            "tls-cert-file %s/server.pem\ntls-key-file %s/server-key.pem\n"
            "tls-ca-cert-file %s/ca.pem\ntls-auth-clients yes\n"
            "user default off\n"
            "user vigil on >" VG_PASSWORD " resetkeys ~%s:* resetchannels "
            VG_REDIS_ACL_COMMANDS "\n",
            port, t.stack_dir, certs, certs, certs, t.prefix);
    fclose(f);
    redis = fork();
    if (redis == 0) {
        const char *srv = vg_itest_redis_server();
        vg_itest_server_dir(t.stack_dir, "redis-tls-data");
        execlp(srv, srv, conf, (char *)NULL);
        _exit(127);
    }
    snprintf(cmd, sizeof(cmd),
             "bash -c 'for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null && "
             "exit 0; sleep 0.05; done; exit 1'",
             port);
    if (system(cmd) != 0) {
        fprintf(stderr, "FAIL: redis-server (TLS) did not listen on %d\n", port);
        kill(redis, SIGKILL);
        return 1;
    }
    printf("redis-server: TLS only on %d, mutual TLS, default user off, ACL user vigil\n",
           port);

    snprintf(s_mode, sizeof(s_mode), "delivery.mode=%s", mode);
    snprintf(s_port, sizeof(s_port), "redis.port=%d", port);
    snprintf(s_ca, sizeof(s_ca), "redis.tls_ca_file=%s/ca.pem", certs);
    snprintf(s_cert, sizeof(s_cert), "redis.tls_cert_file=%s/client.pem", certs);
    snprintf(s_key, sizeof(s_key), "redis.tls_key_file=%s/client-key.pem", certs);
    snprintf(s_prefix, sizeof(s_prefix), "redis.key_prefix=%s", t.prefix);
    snprintf(plain_port, sizeof(plain_port), "redis.port=%d", t.redis_port);
    snprintf(other_prefix, sizeof(other_prefix), "redis.key_prefix=%s-other", t.prefix);

    vg_itest_create_topics(&t, 4, 1);
    {
        vg_itest_traffic_t tr = {61, VG_CUSTOMERS, count, 0, 0.2, 0.0};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }
    vg_itest_produce(&t, gen, count, oracle, &want, &prod);

    {
        char wrong_ca[1200];
        snprintf(wrong_ca, sizeof(wrong_ca), "redis.tls_ca_file=%s/wrong-ca.pem", certs);
        const vg_case_t cases[] = {
            {"wrong_ca", "tls", "the server's certificate was refused", {wrong_ca}},
            {"hostname", "tls", "hostname mismatch", {"redis.tls_server_name=other.example"}},
            {"no_cert", "tls", "require a client certificate",
             {"redis.tls_cert_file=", "redis.tls_key_file="}},
            {"plain_port", "plain_port", "the port speaks plain text, not TLS", {plain_port}},
            {"noperm", "noperm", "the ACL user may not do this", {other_prefix}},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const vg_case_t *c = &cases[i];
            const char *sets[16] = {s_mode,
                                    s_port,
                                    "redis.tls=true",
                                    s_ca,
                                    s_cert,
                                    s_key,
                                    "redis.user=vigil",
                                    "redis.password=" VG_PASSWORD,
                                    "shutdown.drain_timeout_ms=5000"};
            char log[1400], first[200], wid[64];
            size_t n = 9;
            long long t0;

            for (size_t k = 0; k < 4 && c->sets[k]; k++)
                sets[n++] = c->sets[k];
            sets[n] = NULL;
            snprintf(wid, sizeof(wid), "w-%s", c->name);
            snprintf(log, sizeof(log), "%s/%s-%s.log", t.stack_dir, t.name, wid);
            snprintf(first, sizeof(first), "redis unavailable (%s)", c->problem);
            w = vg_itest_worker_start(&t, wid, sets);
            if (!vg_itest_wait_log(log, first, 30000)) {
                fprintf(stderr, "FAIL %s: no \"%s\" line in %s\n", c->name, first, log);
                failures++;
            }
            if (!vg_itest_file_count(log, c->says)) {
                fprintf(stderr, "FAIL %s: the log does not say \"%s\"\n", c->name, c->says);
                failures++;
            }
            if (vg_itest_file_count(log, VG_PASSWORD)) {
                fprintf(stderr, "FAIL %s: the log shows the password\n", c->name);
                failures++;
            }
            t0 = vg_itest_now_ms();
            rc = vg_itest_worker_stop(w, SIGTERM, 10000);
            printf("%-10s: \"%s\" logged; SIGTERM: exit %d after %lld ms\n", c->name, c->says,
                   rc, vg_itest_now_ms() - t0);
            if (rc != 0 || vg_itest_now_ms() - t0 > 5000) {
                fprintf(stderr, "FAIL %s: SIGTERM while waiting: exit %d\n", c->name, rc);
                failures++;
            }
        }
    }

    /* The right settings: everything processed, as the oracle says. */
    {
        const char *sets[] = {s_mode, s_port, "redis.tls=true", s_ca, s_cert, s_key,
                              "redis.user=vigil", "redis.password=" VG_PASSWORD,
                              "shutdown.drain_timeout_ms=5000", NULL};
        char ca[1200], cert[1200], key[1200];
        vg_redis_conf_t rc_tls = {0};

        w = vg_itest_worker_start(&t, "w-good", sets);
        if (!vg_itest_wait_committed(&t, 120000)) {
            fprintf(stderr, "FAIL: not every record committed over TLS\n");
            failures++;
        }
        failures += vg_itest_check_triggers(&t, &want, strcmp(mode, "exactly_once") != 0);
        rc = vg_itest_worker_stop(w, SIGTERM, 30000);
        if (rc != 0) {
            fprintf(stderr, "FAIL: worker exit %d\n", rc);
            failures++;
        }
        /* Every stored state, read back over TLS as the ACL user. */
        snprintf(ca, sizeof(ca), "%s/ca.pem", certs);
        snprintf(cert, sizeof(cert), "%s/client.pem", certs);
        snprintf(key, sizeof(key), "%s/client-key.pem", certs);
        rc_tls.host = "127.0.0.1";
        rc_tls.port = port;
        rc_tls.user = "vigil";
        rc_tls.password = VG_PASSWORD;
        rc_tls.key_prefix = t.prefix;
        rc_tls.tls = (vg_redis_tls_t){true, ca, NULL, cert, key, NULL, false};
        t.redis_conf = &rc_tls;
        failures += vg_itest_check_states(&t, oracle, VG_CUSTOMERS, "stored over TLS");
    }

    /* The ACL user is limited, the default user is off (redis-cli, TLS). */
    {
        static const struct {
            const char *what, *args, *want;
        } probes[] = {
            {"vigil: FLUSHALL", "--user vigil --pass " VG_PASSWORD " FLUSHALL", "NOPERM"},
            {"vigil: a key outside its pattern", "--user vigil --pass " VG_PASSWORD " GET other",
             "NOPERM"},
            {"vigil: CONFIG GET", "--user vigil --pass " VG_PASSWORD " CONFIG GET port", "NOPERM"},
            {"default user: PING", "PING", "NOAUTH"},
        };
        for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
            snprintf(cmd, sizeof(cmd),
                     "redis-cli --no-auth-warning --tls --cacert %s/ca.pem --cert %s/client.pem "
                     "--key %s/client-key.pem -h 127.0.0.1 -p %d %s 2>&1",
                     certs, certs, certs, port, probes[i].args);
            vg_sh(cmd, out, sizeof(out));
            out[strcspn(out, "\n")] = '\0';
            printf("redis-cli, %s -> %s\n", probes[i].what, out);
            if (!strstr(out, probes[i].want)) {
                fprintf(stderr, "FAIL: redis-cli, %s: want %s, got \"%s\"\n", probes[i].what,
                        probes[i].want, out);
                failures++;
            }
        }
    }

    kill(redis, SIGTERM);
    waitpid(redis, NULL, 0);
    vg_idset_free(&want);
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
