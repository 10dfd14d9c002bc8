/*
 * 0010-end-to-end: generated traffic through two real workers, against a
 * real Apache Kafka broker and a real redis-server.
 *
 * Asserts: the trigger ids published are exactly the oracle's (none
 * missing, none extra, no duplicates); every malformed record is in the
 * dead-letter topic with its reason; both workers drain and exit 0 on
 * SIGTERM.
 *
 *   0010-end-to-end [exactly_once|at_least_once] [records]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vg_itest.h"

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "exactly_once";
    size_t count = argc > 2 ? strtoul(argv[2], NULL, 10) : 20000;
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0}, got = {0}, dlq_src = {0};
    vg_itest_produced_t prod;
    size_t dups, missing, extra, dlq = 0, dlq_reason = 0, dlq_dups = 0;
    char mode_set[64];
    const char *extra_sets[] = {mode_set, "batch.max_events=200", "log.level=info", NULL};
    pid_t w1, w2;
    int rc1, rc2, failures = 0;
    long long t0;

    if (vg_itest_init(&t, strcmp(mode, "exactly_once") ? "e2e-alo" : "e2e-eos"))
        return VG_ITEST_SKIP;
    snprintf(mode_set, sizeof(mode_set), "delivery.mode=%s", mode);
    vg_itest_create_topics(&t, 4, 1);

    /* Event time starts now, as upstream would stamp it (stale cut-off);
     * 100 ms of event time per record: 20000 records span 33 minutes, so
     * 10-minute absence deadlines (checkout abandoned) come due. */
    {
        vg_itest_traffic_t tr = {42, 2000, count, 100, 0.10, 0.005};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }

    /* Workers first, so the traffic meets a live group. */
    w1 = vg_itest_worker_start(&t, "w1", extra_sets);
    w2 = vg_itest_worker_start(&t, "w2", extra_sets);
    t0 = vg_itest_now_ms();
    vg_itest_produce(&t, gen, count, oracle, &want, &prod);
    printf("produced %zu records (%zu malformed); oracle: %zu triggers (%zu by absence "
           "deadlines) over %zu customers\n",
           prod.records, prod.malformed, prod.expected_triggers,
           vg_oracle_deadline_triggers(oracle), vg_oracle_customers(oracle));
    if (prod.expected_triggers < 50 || prod.malformed == 0 ||
        (count >= 20000 && vg_oracle_deadline_triggers(oracle) == 0)) {
        fprintf(stderr, "FAIL: the traffic must plant troubles, absences and malformed records\n");
        return 1;
    }

    if (!vg_itest_wait_committed(&t, 180000)) {
        fprintf(stderr, "FAIL: the workers did not commit every record in time\n");
        failures++;
    }
    printf("all records committed after %.1f s\n", (vg_itest_now_ms() - t0) / 1000.0);
    vg_itest_read_triggers(&t, &got, want.n, 2000, 60000);
    /* By source coordinates: at_least_once may repeat a dead letter (a
     * batch retried after a commit refused during a rebalance), as it may
     * repeat a trigger; exactly_once may not. */
    vg_itest_read_dlq_sources(&t, &dlq_src, prod.malformed, 2000, 30000, &dlq, &dlq_reason);
    dlq_dups = vg_idset_dedupe(&dlq_src);

    vg_idset_dedupe(&want);
    dups = vg_idset_dedupe(&got);
    vg_idset_diff(&want, &got, &missing, &extra);
    printf("triggers: expected %zu, published %zu distinct, %zu duplicates, %zu missing, %zu "
           "extra\n",
           want.n, got.n, dups, missing, extra);
    printf("dead letters: expected %zu, got %zu distinct (%zu records, %zu repeats), %zu with "
           "reason and source offset\n",
           prod.malformed, dlq_src.n, dlq, dlq_dups, dlq_reason);
    if (missing || extra) {
        fprintf(stderr, "FAIL: trigger set differs from the oracle\n");
        failures++;
    }
    if (dups && !strcmp(mode, "exactly_once")) {
        fprintf(stderr, "FAIL: duplicates in exactly_once mode\n");
        failures++;
    }
    if (dlq_src.n != prod.malformed || dlq_reason != dlq ||
        (dlq_dups && !strcmp(mode, "exactly_once"))) {
        fprintf(stderr, "FAIL: dead-letter topic does not hold every malformed record with its "
                        "reason\n");
        failures++;
    }

    rc1 = vg_itest_worker_stop(w1, SIGTERM, 30000);
    rc2 = vg_itest_worker_stop(w2, SIGTERM, 30000);
    printf("workers exited with %d and %d on SIGTERM\n", rc1, rc2);
    if (rc1 != 0 || rc2 != 0) {
        fprintf(stderr, "FAIL: a worker did not drain and exit 0 on SIGTERM\n");
        failures++;
    }
    vg_idset_free(&want);
    vg_idset_free(&got);
    vg_idset_free(&dlq_src);
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
