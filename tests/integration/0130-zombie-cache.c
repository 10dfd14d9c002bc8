/*
 * 0130-zombie-cache: a worker frozen long enough to lose its partitions
 * comes back as a zombie, with the states of its old partitions in its
 * cache and maybe a batch in hand.
 *
 * Two workers share 4 partitions. w1 is frozen (SIGSTOP) while records
 * stream; the group's session times out and w2 takes every partition and
 * works through them, writing states the frozen w1 still holds older
 * versions of. Then w1 is thawed (SIGCONT): it may finish the batch it
 * had, from its cache, before it learns it lost the partitions. Its state
 * writes must lose the version compare-and-set (or, where w2 had not yet
 * written, be taken over by w2's replay under the same trigger ids), its
 * transaction must not commit, and its cache must not be used again for
 * partitions it no longer owns. The triggers (each exactly once) and
 * every stored state must equal the oracle's.
 *
 *   0130-zombie-cache [records per third]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_itest.h"

#define VG_CUSTOMERS 150

int main(int argc, char **argv) {
    size_t third = argc > 1 ? strtoul(argv[1], NULL, 10) : 1500;
    const char *sets[] = {"delivery.mode=exactly_once", "kafka.session.timeout.ms=6000",
                          "kafka.heartbeat.interval.ms=500", "batch.max_events=100",
                          "shutdown.drain_timeout_ms=10000", NULL};
    char log1[1200], log2[1200];
    int failures = 0, rc;
    long long frozen_at;
    pid_t w1, w2;
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;

    if (vg_itest_init(&t, "zombie"))
        return VG_ITEST_SKIP;
    vg_itest_create_topics(&t, 4, 1);
    {
        vg_itest_traffic_t tr = {130, VG_CUSTOMERS, 3 * third, 0, 0.3, 0.0};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }
    snprintf(log1, sizeof(log1), "%s/%s-w1.log", t.stack_dir, t.name);
    snprintf(log2, sizeof(log2), "%s/%s-w2.log", t.stack_dir, t.name);
    w1 = vg_itest_worker_start(&t, "w1", sets);
    w2 = vg_itest_worker_start(&t, "w2", sets);

    /* Both work, both cache. */
    vg_itest_produce(&t, gen, third, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: the first third was not committed\n");
        failures++;
    }
    /* w1 frozen with records arriving: likely in the middle of a batch. */
    vg_itest_produce(&t, gen, third / 2, oracle, &want, &prod);
    kill(w1, SIGSTOP);
    frozen_at = vg_itest_now_ms();
    vg_itest_produce(&t, gen, third - third / 2, oracle, &want, &prod);
    /* Everything committed while w1 is frozen: w2 took its partitions. */
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: w2 did not take over the frozen worker's partitions\n");
        failures++;
    }
    printf("w2 committed everything %.1f s after w1 froze\n",
           (double)(vg_itest_now_ms() - frozen_at) / 1000.0);
    /* The zombie comes back, then the last third. */
    kill(w1, SIGCONT);
    vg_itest_produce(&t, gen, third, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: the last third was not committed\n");
        failures++;
    }
    printf("w1 log: %zu version conflicts, %zu lost or revoked assignment lines\n",
           vg_itest_file_count(log1, "version conflict"),
           vg_itest_file_count(log1, "revoked") + vg_itest_file_count(log1, "lost"));
    failures += vg_itest_check_triggers(&t, &want, false);
    if ((rc = vg_itest_worker_stop(w1, SIGTERM, 30000)) != 0) {
        fprintf(stderr, "FAIL: w1 exit %d\n", rc);
        failures++;
    }
    if ((rc = vg_itest_worker_stop(w2, SIGTERM, 30000)) != 0) {
        fprintf(stderr, "FAIL: w2 exit %d\n", rc);
        failures++;
    }
    failures += vg_itest_check_states(&t, oracle, VG_CUSTOMERS, "after the zombie");
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    vg_idset_free(&want);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
