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
 *   0090-redis-sentinel [records per phase]
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

int main(int argc, char **argv) {
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 1500;
    int mport, rport, sport[3], failures = 0, rc;
    char conf[1200], log[1200], text[1024], sentinels[128], set_sent[200], out[4096];
    const char *sets[] = {"delivery.mode=exactly_once", set_sent, "redis.sentinel_master=vigil",
                          "redis.min_replicas_acked=1", "redis.wait_timeout_ms=2000",
                          "shutdown.drain_timeout_ms=10000", NULL};
    pid_t master, replica, sent[3], w;
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    vg_redis_conf_t rconf = {0};

    if (vg_itest_init(&t, "sentinel"))
        return VG_ITEST_SKIP;
    mport = vg_itest_free_port();
    do
        rport = vg_itest_free_port();
    while (rport == mport);
    for (int i = 0; i < 3; i++)
        sport[i] = vg_itest_free_port();

    /* Master, replica, three sentinels (quorum 2), each with its file. */
    snprintf(text, sizeof(text), "port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\n", mport);
    snprintf(conf, sizeof(conf), "%s/sentinel-master.conf", t.stack_dir);
    vg_itest_write_file(conf, text);
    snprintf(log, sizeof(log), "%s/sentinel-master.log", t.stack_dir);
    master = vg_itest_spawn_redis(t.stack_dir, "sentinel-master-data", conf, false, log);
    snprintf(text, sizeof(text),
             "port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\nreplicaof 127.0.0.1 %d\n", rport,
             mport);
    snprintf(conf, sizeof(conf), "%s/sentinel-replica.conf", t.stack_dir);
    vg_itest_write_file(conf, text);
    snprintf(log, sizeof(log), "%s/sentinel-replica.log", t.stack_dir);
    replica = vg_itest_spawn_redis(t.stack_dir, "sentinel-replica-data", conf, false, log);
    for (int i = 0; i < 3; i++) {
        snprintf(text, sizeof(text),
                 "port %d\nbind 127.0.0.1\nsentinel monitor vigil 127.0.0.1 %d 2\n"
                 "sentinel down-after-milliseconds vigil 1000\n"
                 "sentinel failover-timeout vigil 5000\n",
                 sport[i], mport);
        snprintf(conf, sizeof(conf), "%s/sentinel-%d.conf", t.stack_dir, i);
        vg_itest_write_file(conf, text);
        snprintf(log, sizeof(log), "%s/sentinel-%d.log", t.stack_dir, i);
        {
            char name[32];
            snprintf(name, sizeof(name), "sentinel-%d-data", i);
            sent[i] = vg_itest_spawn_redis(t.stack_dir, name, conf, true, log);
        }
    }
    /* Ready: the replica in sync, and the sentinels know it. */
    if (!vg_itest_cli_wait(rport, "INFO replication", "master_link_status:up", 30000) ||
        !vg_itest_cli_wait(sport[0], "SENTINEL replicas vigil", "slave", 30000) ||
        !vg_itest_cli_wait(sport[1], "SENTINEL sentinels vigil", "sentinel", 30000)) {
        fprintf(stderr, "FAIL: master, replica and sentinels did not come up\n");
        failures++;
        goto out;
    }
    printf("master %d, replica %d, sentinels %d %d %d\n", mport, rport, sport[0], sport[1],
           sport[2]);

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
    w = vg_itest_worker_start(&t, "w1", sets);
    vg_itest_produce(&t, gen, count, oracle, &want, &prod);
    /* Fail over while the worker works through the first half. */
    vg_itest_cli(sport[0], "SENTINEL FAILOVER vigil", out, sizeof(out));
    printf("SENTINEL FAILOVER: %s", out);
    snprintf(text, sizeof(text), "%d", rport);
    if (!vg_itest_cli_wait(sport[0], "SENTINEL get-master-addr-by-name vigil", text, 60000)) {
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
    failures += vg_itest_check_triggers(&t, &want, false);
    rc = vg_itest_worker_stop(w, SIGTERM, 30000);
    if (rc != 0) {
        fprintf(stderr, "FAIL: worker exit %d\n", rc);
        failures++;
    }
    /* Every state, read from the new master. */
    rconf.host = "127.0.0.1";
    rconf.port = rport;
    rconf.key_prefix = t.prefix;
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
