/*
 * test_kafka_read: vg_kafka_read_at, the one-record read `vigilctl explain`
 * and `vigilctl state` use to bring a customer's latest event back from the
 * events topic (the state keeps where it is, not its bytes). Against
 * librdkafka's mock cluster; the contract test reads one back from a real
 * broker.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "vg_kafka_consumer.h"
#include "vg_kafka_mock.h"
#include "vg_kafka_producer.h"

#define TOPIC "read-test"

static vg_kafka_mock_t *mock;
static vg_kafka_props_t props;
static vg_log_t *log_;

static void setup(void) {
    char err[512], val[32];
    vg_kafka_producer_t *p;

    memset(&props, 0, sizeof(props));
    log_ = vg_log_new("test", VG_LOG_ERROR);
    mock = vg_kafka_mock_new(1, err, sizeof(err));
    cr_assert(mock, "mock cluster: %s", err);
    cr_assert_eq(vg_kafka_mock_create_topic(mock, TOPIC, 2, 1), VG_OK);
    vg_kafka_props_add(&props, "bootstrap.servers", vg_kafka_mock_bootstrap(mock));
    p = vg_kafka_producer_new(&props, NULL, log_, err, sizeof(err));
    cr_assert(p, "producer: %s", err);
    /* Partition 1 gets records "r0".."r4" at offsets 0..4, in order. */
    for (int i = 0; i < 5; i++) {
        snprintf(val, sizeof(val), "r%d", i);
        cr_assert_eq(vg_kafka_producer_send_to(p, TOPIC, 1, 1700000000000 + i * 1000, "k", 1, val,
                                               strlen(val), NULL, 0),
                     VG_OK);
    }
    cr_assert_eq(vg_kafka_producer_flush(p, 10000, NULL, err, sizeof(err)), VG_OK, "%s", err);
    vg_kafka_producer_destroy(p);
}

static void teardown(void) {
    vg_kafka_mock_destroy(mock);
    vg_log_destroy(log_);
}

TestSuite(kafka_read, .init = setup, .fini = teardown);

Test(kafka_read, reads_the_record_at_the_offset) {
    char err[512], buf[16];
    size_t len = 0;
    int64_t ts = 0;

    cr_assert_eq(vg_kafka_read_at(&props, TOPIC, 1, 3, 10000, buf, sizeof(buf), &len, &ts, err,
                                  sizeof(err)),
                 VG_OK, "%s", err);
    cr_expect_eq(len, 2);
    cr_expect_eq(ts, 1700000003000, "the record's timestamp comes back too");
    cr_expect_arr_eq(buf, "r3", 2);
    cr_assert_eq(vg_kafka_read_at(&props, TOPIC, 1, 0, 10000, buf, sizeof(buf), &len, &ts, err,
                                  sizeof(err)),
                 VG_OK, "%s", err);
    cr_expect_arr_eq(buf, "r0", 2);
}

Test(kafka_read, an_offset_not_in_the_log_is_not_found) {
    char err[512], buf[16];
    size_t len = 0;
    int64_t ts = 0;

    /* Past the end of partition 1, and an empty partition 0. */
    cr_expect_eq(vg_kafka_read_at(&props, TOPIC, 1, 9, 10000, buf, sizeof(buf), &len, &ts, err,
                                  sizeof(err)),
                 VG_ERR_NOT_FOUND, "%s", err);
    cr_expect(strstr(err, "not in the log"), "errstr: %s", err);
    cr_expect_eq(vg_kafka_read_at(&props, TOPIC, 0, 0, 10000, buf, sizeof(buf), &len, &ts, err,
                                  sizeof(err)),
                 VG_ERR_NOT_FOUND, "%s", err);
}

Test(kafka_read, a_value_longer_than_the_buffer_is_refused) {
    char err[512], buf[1];
    size_t len = 0;
    int64_t ts = 0;

    cr_expect_eq(vg_kafka_read_at(&props, TOPIC, 1, 2, 10000, buf, sizeof(buf), &len, &ts, err,
                                  sizeof(err)),
                 VG_ERR_OVERFLOW, "%s", err);
    cr_expect(strstr(err, "more than 1"), "errstr: %s", err);
}
