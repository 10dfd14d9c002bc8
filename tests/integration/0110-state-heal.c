/*
 * 0110-state-heal: Redis loses state that Kafka counts as done, twice,
 * under traffic, and the worker rebuilds it from the events topic.
 *
 * The worker keeps its state in a redis-server of the test's own, without
 * persistence. After a first third of the records is committed, every key
 * is flushed (FLUSHALL: an operator's mistake, a failover to an empty
 * replica). After the second third, the server is killed with SIGKILL and
 * started again, empty (a restart without persistence). Each time the
 * first state write of a partition finds the partition's applied marker
 * below the committed offset; the worker must say so, re-read the events
 * from as far back as the model looks, re-apply them without publishing,
 * and go on.
 *
 * Checked against the oracle: every trigger exactly once (exactly_once)
 * or at least once (at_least_once), and every stored state equal to the
 * oracle's at the end, as if nothing had been lost.
 *
 *   0110-state-heal exactly_once|at_least_once [records per third]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_itest.h"
#include "vg_redis.h"

#define VG_CUSTOMERS 150

/* ops/stack/redis.sh CMD for this test's server; its exit status. */
static int vg_redis_sh(const vg_itest_t *t, const char *cmd) {
    const char *repo = getenv("VIGIL_REPO") ? getenv("VIGIL_REPO") : ".";
    char line[2600];

    snprintf(line, sizeof(line), "bash %s/ops/stack/redis.sh %s --run-dir %s --name heal-%s",
             repo, cmd, t->stack_dir, t->suffix);
    return system(line);
}

/* The port redis.sh chose, from its env file. */
static int vg_redis_port(const vg_itest_t *t) {
    char path[1200], line[256];
    int port = -1;
    FILE *f;

    snprintf(path, sizeof(path), "%s/redis-heal-%s.env", t->stack_dir, t->suffix);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f)) {
        char *colon = strrchr(line, ':');
        if (strncmp(line, "VIGIL_REDIS_ADDR=", 17) == 0 && colon)
            port = atoi(colon + 1);
    }
    fclose(f);
    return port;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "exactly_once";
    size_t third = argc > 2 ? strtoul(argv[2], NULL, 10) : 1200;
    bool eos = strcmp(mode, "exactly_once") == 0;
    char set_mode[64], set_port[64], log[1200], cmd[256];
    const char *sets[] = {set_mode, set_port, "redis.host=127.0.0.1",
                          "shutdown.drain_timeout_ms=10000", NULL};
    int failures = 0, port, rc;
    size_t behind, rebuilt;
    pid_t w;
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    vg_redis_conf_t rconf = {0};

    if (vg_itest_init(&t, eos ? "heal-eos" : "heal-alo"))
        return VG_ITEST_SKIP;
    if (vg_redis_sh(&t, "start") != 0 || (port = vg_redis_port(&t)) < 0) {
        fprintf(stderr, "FAIL: could not start the test's redis-server\n");
        return 1;
    }
    printf("redis-server of its own on port %d, no persistence\n", port);
    snprintf(set_mode, sizeof(set_mode), "delivery.mode=%s", mode);
    snprintf(set_port, sizeof(set_port), "redis.port=%d", port);
    vg_itest_create_topics(&t, 4, 1);
    {
        vg_itest_traffic_t tr = {110, VG_CUSTOMERS, 3 * third, 0, 0.3, 0.02};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }
    snprintf(log, sizeof(log), "%s/%s-w1.log", t.stack_dir, t.name);
    w = vg_itest_worker_start(&t, "w1", sets);

    /* First third, committed; then every key is gone. */
    vg_itest_produce(&t, gen, third, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: the first third was not committed\n");
        failures++;
    }
    snprintf(cmd, sizeof(cmd), "redis-cli -p %d FLUSHALL >/dev/null", port);
    if (system(cmd) != 0) {
        fprintf(stderr, "FAIL: FLUSHALL\n");
        failures++;
    }
    printf("FLUSHALL after %zu records\n", third);
    vg_itest_produce(&t, gen, third, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: the second third was not committed after the flush\n");
        failures++;
    }
    if (!vg_itest_wait_log(log, "state rebuilt", 30000)) {
        fprintf(stderr, "FAIL: no \"state rebuilt\" line after the flush\n");
        failures++;
    }
    behind = vg_itest_file_count(log, "state behind the log");

    /* Killed and started again, empty. */
    if (vg_redis_sh(&t, "kill9") != 0 || vg_redis_sh(&t, "restart") != 0) {
        fprintf(stderr, "FAIL: could not kill and restart the redis-server\n");
        failures++;
    }
    printf("redis-server killed (SIGKILL) and restarted empty after %zu records\n", 2 * third);
    vg_itest_produce(&t, gen, third, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: the last third was not committed after the restart\n");
        failures++;
    }
    /* Every partition found behind at least once after each loss, each
     * rebuilt (its records below the committed offset re-read). */
    for (long long deadline = vg_itest_now_ms() + 30000;
         vg_itest_file_count(log, "state rebuilt") < 8 && vg_itest_now_ms() < deadline;)
        usleep(100 * 1000); /* paces the reading of the log; the condition is the count */
    behind = vg_itest_file_count(log, "state behind the log");
    rebuilt = vg_itest_file_count(log, "state rebuilt");
    printf("log: %zu \"state behind the log\" lines, %zu \"state rebuilt\" lines\n", behind,
           rebuilt);
    if (behind < 8 || rebuilt < 8) {
        fprintf(stderr, "FAIL: expected each of 4 partitions behind and rebuilt after each of "
                        "2 losses (>= 8 each)\n");
        failures++;
    }

    failures += vg_itest_check_triggers(&t, &want, !eos);
    rc = vg_itest_worker_stop(w, SIGTERM, 30000);
    if (rc != 0) {
        fprintf(stderr, "FAIL: worker exit %d\n", rc);
        failures++;
    }
    rconf.host = "127.0.0.1";
    rconf.port = port;
    rconf.key_prefix = t.prefix;
    t.redis_conf = &rconf;
    failures += vg_itest_check_states(&t, oracle, VG_CUSTOMERS, "after two losses, rebuilt");
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    vg_redis_sh(&t, "stop");
    vg_idset_free(&want);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
