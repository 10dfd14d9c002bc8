/*
 * test_kafka_health: naming what is wrong with Kafka writes
 * (vg_kafka_health). The librdkafka codes are written out as numbers, the
 * Kafka protocol's (and librdkafka's local ones), so that a renumbering
 * would show here.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "vg_kafka_health.h"

/* Error code -> problem, as the producer and consumer classify them. */
Test(kafka_health, problem_of_error_codes) {
    static const struct {
        int err;
        vg_kafka_problem_t want;
    } rows[] = {
        {0, VG_KAFKA_PROBLEM_NONE},
        {19, VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS},   /* NOT_ENOUGH_REPLICAS */
        {20, VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS},   /* ..._AFTER_APPEND */
        {5, VG_KAFKA_PROBLEM_NO_LEADER},              /* LEADER_NOT_AVAILABLE */
        {6, VG_KAFKA_PROBLEM_NO_LEADER},              /* NOT_LEADER_FOR_PARTITION */
        {15, VG_KAFKA_PROBLEM_COORDINATOR},           /* COORDINATOR_NOT_AVAILABLE */
        {16, VG_KAFKA_PROBLEM_COORDINATOR},           /* NOT_COORDINATOR */
        {14, VG_KAFKA_PROBLEM_COORDINATOR},           /* COORDINATOR_LOAD_IN_PROGRESS */
        {7, VG_KAFKA_PROBLEM_TIMEOUT},                /* REQUEST_TIMED_OUT */
        {-185, VG_KAFKA_PROBLEM_TIMEOUT},             /* _TIMED_OUT */
        {-192, VG_KAFKA_PROBLEM_TIMEOUT},             /* _MSG_TIMED_OUT */
        {29, VG_KAFKA_PROBLEM_OTHER},                 /* TOPIC_AUTHORIZATION_FAILED */
        {-195, VG_KAFKA_PROBLEM_OTHER},               /* _TRANSPORT */
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        cr_expect_eq(vg_kafka_problem_of(rows[i].err), rows[i].want, "error %d: got %s, want %s",
                     rows[i].err, vg_kafka_problem_name(vg_kafka_problem_of(rows[i].err)),
                     vg_kafka_problem_name(rows[i].want));
}

/* One partition's metadata -> problem. */
Test(kafka_health, problem_of_partition) {
    static const struct {
        int leader, replicas, in_sync;
        vg_kafka_problem_t want;
    } rows[] = {
        {3, 3, 3, VG_KAFKA_PROBLEM_NONE},
        {3, 3, 2, VG_KAFKA_PROBLEM_NONE},  /* one down: min.insync.replicas=2 still met */
        {3, 3, 1, VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS},
        {1, 2, 1, VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS},
        {1, 1, 1, VG_KAFKA_PROBLEM_NONE},  /* RF 1: nothing to lose */
        {-1, 3, 1, VG_KAFKA_PROBLEM_NO_LEADER},
        {-1, 1, 0, VG_KAFKA_PROBLEM_NO_LEADER},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        cr_expect_eq(vg_kafka_problem_of_partition(rows[i].leader, rows[i].replicas,
                                                   rows[i].in_sync),
                     rows[i].want, "row %zu", i);
}

Test(kafka_health, names_and_texts) {
    cr_expect_str_eq(vg_kafka_problem_name(VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS),
                     "not_enough_replicas");
    cr_expect_str_eq(vg_kafka_problem_text(VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS),
                     "not enough in-sync replicas");
    for (int k = 0; k < VG_KAFKA_PROBLEM__COUNT; k++) {
        const char *n = vg_kafka_problem_name((vg_kafka_problem_t)k);
        /* A Prometheus label value: lower case and underscores. */
        for (const char *c = n; *c; c++)
            cr_expect((*c >= 'a' && *c <= 'z') || *c == '_', "name %s", n);
    }
}

/* The stall clock: not stalled below VG_KAFKA_STALL_MS, the problem only
 * rises from errors, a diagnosis replaces it, a commit clears all. */
Test(kafka_health, stall_clock) {
    vg_kafka_health_t h;
    vg_kafka_problem_t pr;
    const int64_t t0 = 1000000;

    memset(&h, 0, sizeof(h));
    cr_expect_eq(vg_kafka_health_stalled(&h, t0, &pr), 0);
    cr_expect_eq(pr, VG_KAFKA_PROBLEM_NONE);

    vg_kafka_health_fail(&h, VG_KAFKA_PROBLEM_NONE, t0); /* a wait, no error yet */
    cr_expect_eq(vg_kafka_health_stalled(&h, t0 + VG_KAFKA_STALL_MS - 1, &pr), 0);
    cr_expect_eq(pr, VG_KAFKA_PROBLEM_NONE, "not stalled yet: no problem shown");
    cr_expect_eq(vg_kafka_health_stalled(&h, t0 + VG_KAFKA_STALL_MS, &pr), VG_KAFKA_STALL_MS);
    cr_expect_eq(pr, VG_KAFKA_PROBLEM_TIMEOUT);

    /* Errors raise it, never lower it; the clock keeps its start. */
    vg_kafka_health_fail(&h, VG_KAFKA_PROBLEM_COORDINATOR, t0 + 100);
    vg_kafka_health_fail(&h, VG_KAFKA_PROBLEM_TIMEOUT, t0 + 200);
    cr_expect_eq(vg_kafka_health_stalled(&h, t0 + 6000, &pr), 6000);
    cr_expect_eq(pr, VG_KAFKA_PROBLEM_COORDINATOR);

    /* A diagnosis knows best, both ways. */
    vg_kafka_health_set(&h, VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS, t0 + 300);
    vg_kafka_health_stalled(&h, t0 + 6000, &pr);
    cr_expect_eq(pr, VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS);
    vg_kafka_health_set(&h, VG_KAFKA_PROBLEM_NONE, t0 + 400);
    vg_kafka_health_stalled(&h, t0 + 6000, &pr);
    cr_expect_eq(pr, VG_KAFKA_PROBLEM_TIMEOUT, "no cause found: still failing, cause unknown");

    vg_kafka_health_ok(&h);
    cr_expect_eq(vg_kafka_health_stalled(&h, t0 + 60000, &pr), 0);
    cr_expect_eq(pr, VG_KAFKA_PROBLEM_NONE);

    /* A new stall starts its own clock. */
    vg_kafka_health_fail(&h, VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS, t0 + 70000);
    cr_expect_eq(vg_kafka_health_stalled(&h, t0 + 76000, &pr), 6000);
    cr_expect_eq(pr, VG_KAFKA_PROBLEM_NOT_ENOUGH_REPLICAS);

    /* NULL is no health kept. */
    vg_kafka_health_fail(NULL, VG_KAFKA_PROBLEM_OTHER, t0);
    vg_kafka_health_ok(NULL);
    cr_expect_eq(vg_kafka_health_stalled(NULL, t0, NULL), 0);
}
