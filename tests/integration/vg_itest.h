/*
 * vg_itest.h - support for integration tests against the real stack
 * (ops/stack/up.sh: Apache Kafka + redis-server on loopback ports).
 *
 * A test calls vg_itest_init(); if the stack is not there it prints why
 * and the test exits 77, which ctest reports as skipped, never passed.
 */
#ifndef VG_ITEST_H
#define VG_ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vg_gen.h"
#include "vg_kafka.h"
#include "vg_oracle.h"
#include "vg_pseudo.h"

#define VG_ITEST_SKIP 77

/* The pseudonym key every worker started by these helpers uses; tests that
 * look up a customer's state in Redis need it to name the key. */
#define VG_ITEST_PSEUDONYM_KEY "integration-test-key-0123456789"

typedef struct vg_idset_s {
    char (*ids)[33];
    size_t n, cap;
} vg_idset_t;

void vg_idset_add(vg_idset_t *s, const char *id);
void vg_idset_free(vg_idset_t *s);
/* Sort; returns how many entries repeat an earlier one (and removes them). */
size_t vg_idset_dedupe(vg_idset_t *s);
/* Both sorted and deduped: counts of ids in want but not got, and in got
 * but not want. */
void vg_idset_diff(const vg_idset_t *want, const vg_idset_t *got, size_t *missing, size_t *extra);

typedef struct vg_itest_s {
    char name[64];
    char bootstrap[512];
    char redis_host[64];
    int redis_port;
    char worker_bin[1024];
    char stack_dir[1024];
    char suffix[64];
    char topic_events[128], topic_triggers[128], topic_dlq[128], group[128], prefix[128];
    int partitions;            /* of the events topic, from vg_itest_create_topics */
    vg_kafka_props_t props;
    /* Redis as vg_itest_compare_states() reaches it; NULL: the stack's
     * redis_host:redis_port in plain text. */
    const struct vg_redis_conf_s *redis_conf;
} vg_itest_t;

/* Read the stack's env file (VIGIL_STACK_ENV) and name this run's topics,
 * group and key prefix uniquely. Returns 0, or VG_ITEST_SKIP. */
int vg_itest_init(vg_itest_t *t, const char *name);

/* Create the events, triggers and dead-letter topics. */
void vg_itest_create_topics(vg_itest_t *t, int partitions, int replication_factor);

/* Start vigil-worker as a child with this run's settings plus extra
 * "name=value" settings (NULL-terminated, may be NULL). Its log goes to
 * STACK_DIR/<name>-<worker_id>.log. */
pid_t vg_itest_worker_start(const vg_itest_t *t, const char *worker_id, const char *const *extra);

/* Send sig and wait up to timeout_ms for the exit. Returns the exit
 * status (0..255), 128+signal if killed by one, or -1 on timeout (then
 * it is SIGKILLed). */
int vg_itest_worker_stop(pid_t pid, int sig, int timeout_ms);

typedef struct vg_itest_produced_s {
    size_t records, malformed, expected_triggers;
} vg_itest_produced_t;

/* The partition vg_itest_produce() sends a customer key to: FNV-1a of the
 * key modulo the partition count (explicit, so the oracle knows each
 * partition's record order: deadlines follow per-partition watermarks). */
int32_t vg_itest_partition_of(const vg_itest_t *t, const void *key, size_t key_len);

/* The Redis key of (tenant, customer)'s state, on the partition
 * vg_itest_produce() sends its records to. */
void vg_itest_state_key(const vg_itest_t *t, const vg_pseudo_t *ps, const char *tenant,
                        const char *customer, char *out, size_t size);

/* Produce the generator's records to the events topic, each to
 * vg_itest_partition_of() its key, feeding each to the oracle in the same
 * order; every trigger id the oracle fires (events and deadlines) goes to
 * expected. */
void vg_itest_produce(vg_itest_t *t, vg_gen_t *gen, size_t count, vg_oracle_t *oracle,
                      vg_idset_t *expected, vg_itest_produced_t *out);

/* Wait until the workers' group has committed every record of the events
 * topic. False on timeout. */
bool vg_itest_wait_committed(vg_itest_t *t, int timeout_ms);

/* Read topic from the start with read_committed until idle_ms pass with no
 * record (or timeout_ms in all). Trigger ids go to got (topic of
 * triggers); for the dead-letter topic, *dlq_records and
 * *dlq_with_reason count records and those with a vigil.error header. */
void vg_itest_read_triggers(vg_itest_t *t, vg_idset_t *got, size_t want, int idle_ms,
                            int timeout_ms);
void vg_itest_read_dlq(vg_itest_t *t, size_t want, size_t *records, size_t *with_reason,
                       int timeout_ms);

/* vg_itest_read_triggers(), also putting the ids of the triggers whose
 * lineage names model_version into of_version. */
void vg_itest_read_triggers_of(vg_itest_t *t, vg_idset_t *got, size_t want, int idle_ms,
                               int timeout_ms, const char *model_version, vg_idset_t *of_version);

/* A read_committed consumer of topic from its start, in a group of its
 * own. Caller destroys it. */
struct vg_kafka_consumer_s;
struct vg_kafka_consumer_s *vg_itest_reader(vg_itest_t *t, const char *topic);

/* Wait until the file at path contains text (a worker's log line), up to
 * timeout_ms. */
bool vg_itest_wait_log(const char *path, const char *text, int timeout_ms);

/* Like vg_itest_worker_start(), but the worker is SIGKILLed if the calling
 * thread exits (PR_SET_PDEATHSIG): a test killed by its timeout leaves no
 * worker behind. Call from the thread that lives as long as the test. */
pid_t vg_itest_worker_spawn(const vg_itest_t *t, const char *worker_id,
                            const char *const *extra);

/* Read the dead-letter topic from the start (read_committed) until
 * sources holds at least want distinct entries and idle_ms pass with no
 * record, or timeout_ms in all. Each record adds "<partition>:<offset>"
 * of its vigil.source.* headers to sources (not deduped: repeats are
 * redelivered dead letters); *records counts records and *with_reason
 * those with a non-empty vigil.error header and the source coordinates. */
void vg_itest_read_dlq_sources(vg_itest_t *t, vg_idset_t *sources, size_t want, int idle_ms,
                               int timeout_ms, size_t *records, size_t *with_reason);

/* Compare, for each of the n customers of tenant, the state stored in
 * Redis by the workers (<prefix>:{<pseudonym>}) with the oracle's, in
 * their semantic fields: trouble windows, fire ledgers, events_applied,
 * last_event_ms, last_signal_ms and the descriptive fields. Applied
 * offsets, the decision ring and the version legitimately differ and are
 * not compared. Returns how many customers differ (a key missing or
 * unreadable counts); *absent gets how many keys were missing. Prints the
 * first max_print differences. Returns (size_t)-1 if Redis cannot be read. */
size_t vg_itest_compare_states(vg_itest_t *t, const vg_oracle_t *oracle, const char *tenant,
                               const char *const *customers, size_t n, size_t *absent,
                               int max_print);

/* Lines of the file at path that contain text (0 if it cannot be read). */
size_t vg_itest_file_count(const char *path, const char *text);

/* Read the triggers topic (read_committed) and compare with want, the
 * oracle's trigger ids: prints "triggers: expected ..., published ..."
 * and returns 1 (after saying why) if any is missing or extra, or a
 * duplicate when duplicates_allowed is false, or want is empty; else 0. */
int vg_itest_check_triggers(vg_itest_t *t, vg_idset_t *want, bool duplicates_allowed);

/* Compare the stored states of customers cust-000000 .. cust-<n-1> of
 * tenant "acme" with the oracle's (vg_itest_compare_states): every
 * customer the oracle knows stored and equal, none extra. Prints a
 * "states ..." line with where; returns 1 on any difference, else 0. */
int vg_itest_check_states(vg_itest_t *t, const vg_oracle_t *oracle, size_t n, const char *where);

/* A loopback TCP port free right now (the kernel's pick), or -1. */
int vg_itest_free_port(void);

/* Generated traffic as upstream stamps it (event time starts now, tenant
 * "acme", step_ms of event time per record) and its oracle under the
 * default model. Returns 0, or says why on stderr and returns 1. */
typedef struct vg_itest_traffic_s {
    uint64_t seed;
    size_t customers, events;
    int64_t step_ms;          /* 0: the generator's default */
    double trouble_rate, malformed_rate;
} vg_itest_traffic_t;

int vg_itest_traffic(const vg_itest_traffic_t *tr, vg_gen_t **gen, vg_oracle_t **oracle);

/* Milliseconds of monotonic time. */
long long vg_itest_now_ms(void);

/* A Kafka of the test's own with a secured listener: ops/stack/kafka.sh
 * start --security sasl_ssl|mtls, one node, in STACK_DIR/<name>-kafka-<mode>.
 * Its PLAINTEXT listener (bootstrap) is the admin port, whose principal
 * is the super user; a worker is given secure_bootstrap. */
typedef struct vg_itest_kafka_s {
    char security[16];
    char run_dir[1100];
    char bootstrap[512];
    char secure_bootstrap[512];
    char certs[1100];               /* ca.pem, client.pem, wrong-ca.pem, ... */
    char sasl_username[128];        /* sasl_ssl */
    char sasl_password_file[1100];  /* sasl_ssl */
    char principal[256];            /* the worker's, for kafka-acls: User:<name> */
} vg_itest_kafka_t;

/* Start it. Returns 0; VG_ITEST_SKIP if java or the Kafka jars are
 * missing (printed: "SKIP: why"); 1 if it did not start (printed). */
int vg_itest_kafka_start(const vg_itest_t *t, const char *security, vg_itest_kafka_t *k);

/* Stop it by process id (kafka.sh stop). */
void vg_itest_kafka_stop(const vg_itest_kafka_t *k);

/* Point t's admin calls, producer and readers, and the workers' default
 * kafka.bootstrap.servers, at k's admin listener. */
void vg_itest_use_kafka(vg_itest_t *t, const vg_itest_kafka_t *k);

/* Run kafka-acls (kafka.sh acls) against k's admin listener with args
 * (split on spaces; no quoting). Returns its exit status. */
int vg_itest_kafka_acls(const vg_itest_kafka_t *k, const char *args);

#endif
