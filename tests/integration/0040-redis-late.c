/*
 * 0040-redis-late: a worker started while Redis is unreachable does not
 * crash-loop; it waits (consuming nothing, not ready). Asked to stop
 * (SIGTERM) while it waits, it exits 0 at once, committing nothing. A new
 * worker, once a redis-server appears, processes everything, exactly as
 * the oracle says. Last, a worker whose Kafka is unreachable at start
 * (stuck in init_transactions) also exits 0 on SIGTERM, within
 * shutdown.drain_timeout_ms.
 *
 *   0040-redis-late [exactly_once|at_least_once] [records]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vg_itest.h"
#include "vg_itest_server.h"

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "exactly_once";
    size_t count = argc > 2 ? strtoul(argv[2], NULL, 10) : 3000;
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    char mode_set[64], port_set[64], log[1200], log2[1200], portstr[16];
    const char *sets[] = {mode_set, port_set, "shutdown.drain_timeout_ms=5000", NULL};
    long long t_stop;
    int port = vg_itest_free_port(), failures = 0, rc;
    pid_t w, redis;

    if (vg_itest_init(&t, "redis-late"))
        return VG_ITEST_SKIP;
    if (port < 0) {
        fprintf(stderr, "FAIL: no free port\n");
        return 1;
    }
    snprintf(mode_set, sizeof(mode_set), "delivery.mode=%s", mode);
    snprintf(port_set, sizeof(port_set), "redis.port=%d", port);
    snprintf(log, sizeof(log), "%s/%s-w1.log", t.stack_dir, t.name);
    snprintf(log2, sizeof(log2), "%s/%s-w2.log", t.stack_dir, t.name);
    vg_itest_create_topics(&t, 4, 1);
    {
        vg_itest_traffic_t tr = {11, 500, count, 0, 0.2, 0.001};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }

    /* No Redis on that port yet. */
    w = vg_itest_worker_start(&t, "w1", sets);
    if (!vg_itest_wait_log(log, "will retry", 30000)) {
        fprintf(stderr, "FAIL: the worker did not report Redis unreachable\n");
        failures++;
    }
    vg_itest_produce(&t, gen, count, oracle, &want, &prod);
    /* It has the records and no Redis: it must still be alive. */
    if (!vg_itest_wait_log(log, "redis unavailable", 30000) || kill(w, 0) != 0) {
        fprintf(stderr, "FAIL: the worker did not wait for Redis (or died)\n");
        failures++;
    }
    /* SIGTERM during the wait: a prompt, clean exit (it used to wait for
     * Redis until killed). */
    t_stop = vg_itest_now_ms();
    rc = vg_itest_worker_stop(w, SIGTERM, 10000);
    t_stop = vg_itest_now_ms() - t_stop;
    printf("SIGTERM while waiting for Redis: exit %d after %lld ms\n", rc, t_stop);
    if (rc != 0 || t_stop > 5000) {
        fprintf(stderr, "FAIL: SIGTERM during the Redis wait: exit %d after %lld ms (want 0 "
                        "within shutdown.drain_timeout_ms, 5000)\n", rc, t_stop);
        failures++;
    }
    w = vg_itest_worker_start(&t, "w2", sets);
    if (!vg_itest_wait_log(log2, "will retry", 30000)) {
        fprintf(stderr, "FAIL: the second worker did not report Redis unreachable\n");
        failures++;
    }
    snprintf(portstr, sizeof(portstr), "%d", port);
    redis = fork();
    if (redis == 0) {
        const char *srv = vg_itest_redis_server();
        vg_itest_server_dir(t.stack_dir, "redis-late-data");
        execlp(srv, srv, "--port", portstr, "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    printf("redis-server started on %d after the worker (pid %d)\n", port, (int)redis);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: not every record committed after Redis came\n");
        failures++;
    }
    failures += vg_itest_check_triggers(&t, &want, strcmp(mode, "exactly_once") != 0);
    rc = vg_itest_worker_stop(w, SIGTERM, 30000);
    if (rc != 0) {
        fprintf(stderr, "FAIL: worker exit %d\n", rc);
        failures++;
    }
    /* SIGTERM during start-up, Kafka unreachable (a port nobody listens
     * on): the producer's init_transactions would wait 60 s. */
    {
        char boot[64], log3[1200];
        const char *sets3[] = {boot, "delivery.mode=exactly_once",
                               "shutdown.drain_timeout_ms=3000", "log.level=debug", NULL};
        snprintf(boot, sizeof(boot), "kafka.bootstrap.servers=127.0.0.1:%d",
                 vg_itest_free_port());
        snprintf(log3, sizeof(log3), "%s/%s-w3.log", t.stack_dir, t.name);
        w = vg_itest_worker_start(&t, "w3", sets3);
        if (!vg_itest_wait_log(log3, "Connection refused", 30000)) {
            fprintf(stderr, "FAIL: the worker without Kafka did not try to connect\n");
            failures++;
        }
        t_stop = vg_itest_now_ms();
        rc = vg_itest_worker_stop(w, SIGTERM, 10000);
        t_stop = vg_itest_now_ms() - t_stop;
        printf("SIGTERM during start-up, Kafka unreachable: exit %d after %lld ms\n", rc, t_stop);
        if (rc != 0 || t_stop > 3000) {
            fprintf(stderr, "FAIL: SIGTERM during start-up: exit %d after %lld ms (want 0 within "
                            "shutdown.drain_timeout_ms, 3000)\n", rc, t_stop);
            failures++;
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
