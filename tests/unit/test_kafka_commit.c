/*
 * test_kafka_commit: at_least_once's offset commit, sent without waiting
 * (vg_kafka_consumer_commit_async), against librdkafka's mock cluster with
 * an injected OffsetCommit failure (fault injection beside the real-broker
 * tests, which cannot make a commit fail on demand). A failed commit must
 * be reported once, so that the pipeline rewinds, and must not move the
 * committed offset; the next commit must land.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vg_kafka_consumer.h"
#include "vg_kafka_mock.h"
#include "vg_kafka_producer.h"
#include "vg_time.h"

#define TOPIC "commit-test"
#define OFFSET_COMMIT 8             /* Kafka API key */
#define OFFSET_METADATA_TOO_LARGE 12 /* a non-retriable error */

static vg_kafka_mock_t *mock;
static vg_kafka_consumer_t *consumer;
static vg_log_t *log_;

static void setup(void) {
    char err[512];
    vg_kafka_props_t props = {0};
    vg_kafka_producer_t *p;
    vg_kafka_msg_t msgs[16];
    size_t got = 0;

    log_ = vg_log_new("test", VG_LOG_ERROR);
    mock = vg_kafka_mock_new(1, err, sizeof(err));
    cr_assert(mock, "mock cluster: %s", err);
    cr_assert_eq(vg_kafka_mock_create_topic(mock, TOPIC, 1, 1), VG_OK);
    vg_kafka_props_add(&props, "bootstrap.servers", vg_kafka_mock_bootstrap(mock));
    p = vg_kafka_producer_new(&props, NULL, log_, err, sizeof(err));
    cr_assert(p, "producer: %s", err);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(vg_kafka_producer_send(p, TOPIC, "k", 1, "v", 1, NULL, 0), VG_OK);
    cr_assert_eq(vg_kafka_producer_flush(p, 10000, NULL, err, sizeof(err)), VG_OK, "%s", err);
    vg_kafka_producer_destroy(p);

    consumer = vg_kafka_consumer_new(&props, "commit-test-group", TOPIC, log_, NULL, NULL, err,
                                     sizeof(err));
    cr_assert(consumer, "consumer: %s", err);
    /* Joined and assigned once records come. */
    for (int tries = 0; got == 0 && tries < 100; tries++) {
        got = vg_kafka_consumer_poll_batch(consumer, msgs, 16, 200);
        vg_kafka_consumer_release(consumer, msgs, got);
    }
    cr_assert_gt(got, 0, "no records from the mock cluster");
}

static void teardown(void) {
    vg_kafka_consumer_destroy(consumer);
    vg_kafka_mock_destroy(mock);
    vg_log_destroy(log_);
}

static int64_t committed(void) {
    int64_t off = -2;
    char md[64];
    cr_assert_eq(vg_kafka_consumer_committed_md(consumer, TOPIC, 0, 10000, &off, md, sizeof(md)),
                 VG_OK);
    return off;
}

static vg_err_t commit(int64_t offset) {
    char err[512];
    vg_kafka_offset_t o = {TOPIC, 0, offset};
    const char *md[1] = {"wm=1"};
    return vg_kafka_consumer_commit_async(consumer, &o, md, 1, err, sizeof(err));
}

Test(kafka_commit, async_commit_lands, .init = setup, .fini = teardown) {
    char err[512];

    cr_assert_eq(commit(3), VG_OK);
    cr_assert_eq(vg_kafka_consumer_commit_wait(consumer, 10000, err, sizeof(err)), VG_OK, "%s",
                 err);
    cr_assert_eq(committed(), 3);
}

Test(kafka_commit, failed_commit_reported_once_then_next_lands, .init = setup,
     .fini = teardown) {
    char err[512];

    cr_assert_eq(commit(2), VG_OK);
    cr_assert_eq(vg_kafka_consumer_commit_wait(consumer, 10000, err, sizeof(err)), VG_OK, "%s",
                 err);
    vg_kafka_mock_fail_requests(mock, OFFSET_COMMIT, 1, OFFSET_METADATA_TOO_LARGE);
    cr_assert_eq(commit(5), VG_OK, "the send itself does not wait");
    cr_assert_eq(vg_kafka_consumer_commit_wait(consumer, 10000, err, sizeof(err)), VG_ERR_KAFKA,
                 "a failed commit must be reported");
    cr_assert(strstr(err, "earlier offset commit failed"), "errstr: %s", err);
    cr_assert_eq(committed(), 2, "the failed commit must not move the offset");
    cr_assert_eq(vg_kafka_consumer_commit_wait(consumer, 0, err, sizeof(err)), VG_OK,
                 "reported once, not again");
    cr_assert_eq(commit(5), VG_OK);
    cr_assert_eq(vg_kafka_consumer_commit_wait(consumer, 10000, err, sizeof(err)), VG_OK, "%s",
                 err);
    cr_assert_eq(committed(), 5);
}

/* A SIGTERM that arrives while a read waits on a broker that does not
 * answer: the drain deadline it sets must end the read within one slice,
 * not at the read's own timeout (a chaos run once saw a 5 s metadata read
 * of a dead broker overrun the drain). */
static _Atomic int64_t drain_deadline_ms;

static void *sigterm_later(void *arg) {
    struct timespec ts = {0, 300 * 1000 * 1000};
    (void)arg;
    nanosleep(&ts, NULL); /* the moment the signal comes, not a wait for a condition */
    atomic_store(&drain_deadline_ms, (int64_t)(vg_time_mono_us() / 1000));
    return NULL;
}

Test(kafka_commit, a_drain_deadline_set_during_a_read_ends_it, .init = setup, .fini = teardown) {
    pthread_t t;
    int64_t off = -2, start, took;
    char md[64];
    vg_err_t err;

    atomic_store(&drain_deadline_ms, 0);
    vg_kafka_consumer_set_deadline(consumer, &drain_deadline_ms);
    vg_kafka_mock_set_rtt(mock, 1, 30000);
    cr_assert_eq(pthread_create(&t, NULL, sigterm_later, NULL), 0);
    start = (int64_t)(vg_time_mono_us() / 1000);
    err = vg_kafka_consumer_committed_md(consumer, TOPIC, 0, 10000, &off, md, sizeof(md));
    took = (int64_t)(vg_time_mono_us() / 1000) - start;
    pthread_join(t, NULL);
    vg_kafka_mock_set_rtt(mock, 1, 0);
    cr_assert_eq(err, VG_ERR_KAFKA, "a broker 30 s late cannot answer");
    /* 300 ms to the signal, then at most one 1000 ms slice. */
    cr_assert_lt(took, 2000, "the read ended %lld ms after it began (its timeout: 10000 ms)",
                 (long long)took);
}
