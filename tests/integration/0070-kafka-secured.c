/*
 * 0070-kafka-secured: the worker against a real Apache Kafka as an
 * enterprise runs it: a secured listener (ops/stack/kafka.sh --security,
 * certificates from ops/stack/certs.sh), the KRaft StandardAuthorizer with
 * allow.everyone.if.no.acl.found=false, and the worker's principal limited
 * to the ACLs docs/kafka-security.md lists (the same kafka-acls commands).
 *
 * SASL_SSL with SCRAM-SHA-512 first, the refusals, each with records
 * waiting, each named in the worker's log (the setting, or the ACL's
 * operation and resource), nothing committed and nothing published, and
 * a prompt exit 0 on SIGTERM:
 *   password    a wrong kafka.sasl.password
 *   untrusted   kafka.ssl.ca.location is a CA that did not sign the broker
 *   acl_group   a group.id the principal has no READ on
 *   acl_topic   a topic.triggers the principal has no WRITE on (nothing
 *               reaches it; events firing no trigger may still commit)
 * then a worker with the right settings processes everything: its
 * triggers equal the oracle's, none twice. Then the same end to end over
 * mutual TLS (SSL, ssl.client.auth=required, the certificate's CN is the
 * principal).
 *
 *   0070-kafka-secured [exactly_once|at_least_once] [records]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_itest.h"
#include "vg_kafka_admin.h"

#define VG_CUSTOMERS 300

static bool vg_file_has(const char *path, const char *text) {
    FILE *f = fopen(path, "r");
    char line[8192];
    bool found = false;

    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* The ACLs of docs/kafka-security.md for principal, on t's topics and
 * group, and the transactional ids <prefix>-*. */
static int vg_grant(const vg_itest_t *t, const vg_itest_kafka_t *k, const char *prefix) {
    char args[3][1200];

    /* The second group is the acl_topic case's own. */
    snprintf(args[0], sizeof(args[0]),
             "--add --allow-principal %s --operation Read --topic %s --group %s --group %s-acl",
             k->principal, t->topic_events, t->group, t->group);
    snprintf(args[1], sizeof(args[1]),
             "--add --allow-principal %s --operation Write --operation Describe --topic %s "
             "--topic %s",
             k->principal, t->topic_triggers, t->topic_dlq);
    snprintf(args[2], sizeof(args[2]),
             "--add --allow-principal %s --operation Write --operation Describe "
             "--transactional-id %s- --resource-pattern-type prefixed",
             k->principal, prefix);
    for (int i = 0; i < 3; i++) {
        if (vg_itest_kafka_acls(k, args[i]) != 0) {
            fprintf(stderr, "FAIL: kafka-acls %s\n", args[i]);
            return 1;
        }
        printf("kafka-acls %s\n", args[i]);
    }
    return 0;
}

/* Nothing committed by group (NULL: none to check), nothing on topic:
 * true if so. */
static bool vg_untouched(vg_itest_t *t, const char *group, const char *topic, const char *what) {
    char err[512];
    int64_t committed = group ? vg_kafka_admin_group_committed(&t->props, group,
                                                               t->topic_events, 10000, err,
                                                               sizeof(err))
                              : 0;
    int64_t published = vg_kafka_admin_topic_end(&t->props, topic, 10000, err, sizeof(err));

    if (committed != 0 || published != 0) {
        fprintf(stderr, "FAIL %s: group committed %lld, %lld record(s) on %s (want 0 and 0)\n",
                what, (long long)committed, (long long)published, topic);
        return false;
    }
    return true;
}

/* Run a worker with sets; compare its triggers with want (sorted, deduped
 * here). Returns the failures. */
static int vg_end_to_end(vg_itest_t *t, const char *wid, const char *const *sets,
                         vg_idset_t *want, const char *mode, const char *what) {
    vg_idset_t got = {0};
    size_t dups, missing, extra;
    int failures = 0, rc;
    pid_t w = vg_itest_worker_spawn(t, wid, sets);

    if (!vg_itest_wait_committed(t, 180000)) {
        fprintf(stderr, "FAIL %s: not every record committed\n", what);
        failures++;
    }
    vg_itest_read_triggers(t, &got, want->n, 2000, 60000);
    vg_idset_dedupe(want);
    dups = vg_idset_dedupe(&got);
    vg_idset_diff(want, &got, &missing, &extra);
    printf("%s: triggers expected %zu, published %zu distinct, %zu duplicates, %zu missing, "
           "%zu extra\n", what, want->n, got.n, dups, missing, extra);
    if (missing || extra || (dups && !strcmp(mode, "exactly_once")) || want->n == 0) {
        fprintf(stderr, "FAIL %s: trigger set differs from the oracle\n", what);
        failures++;
    }
    rc = vg_itest_worker_stop(w, SIGTERM, 30000);
    if (rc != 0) {
        fprintf(stderr, "FAIL %s: worker exit %d\n", what, rc);
        failures++;
    }
    vg_idset_free(&got);
    return failures;
}

/* One secured cluster: topics, ACLs, traffic; the refusals (sasl_ssl);
 * then the end to end. */
static int vg_run(vg_itest_t *t, const char *security, const char *mode, size_t count,
                  uint64_t seed) {
    vg_itest_kafka_t k;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    char s_mode[64], s_boot[600], s_ca[1200], s_cert[1200], s_key[1200], s_pwfile[1200],
        s_user[200], s_wrong_ca[1200], s_noacl[300], noacl[200], password[256] = "",
        s_nogroup[300], nogroup[300], s_acl_group[300], s_acl_prefix[300];
    const char *prefix = "vigil-0070";
    char s_prefix[100];
    int failures = 0, rc;

    if ((rc = vg_itest_kafka_start(t, security, &k)))
        return rc == VG_ITEST_SKIP ? -1 : 1;
    vg_itest_use_kafka(t, &k);
    vg_itest_create_topics(t, 4, 1);
    if (vg_grant(t, &k, prefix)) {
        vg_itest_kafka_stop(&k);
        return 1;
    }
    {
        vg_itest_traffic_t tr = {seed, VG_CUSTOMERS, count, 0, 0.2, 0.0};
        if (vg_itest_traffic(&tr, &gen, &oracle)) {
            vg_itest_kafka_stop(&k);
            return 1;
        }
    }
    vg_itest_produce(t, gen, count, oracle, &want, &prod);
    printf("%s: %zu records produced, %zu triggers expected\n", security, prod.records,
           prod.expected_triggers);

    snprintf(s_mode, sizeof(s_mode), "delivery.mode=%s", mode);
    snprintf(s_boot, sizeof(s_boot), "kafka.bootstrap.servers=%s", k.secure_bootstrap);
    snprintf(s_ca, sizeof(s_ca), "kafka.ssl.ca.location=%s/ca.pem", k.certs);
    snprintf(s_wrong_ca, sizeof(s_wrong_ca), "kafka.ssl.ca.location=%s/wrong-ca.pem", k.certs);
    snprintf(s_cert, sizeof(s_cert), "kafka.ssl.certificate.location=%s/client.pem", k.certs);
    snprintf(s_key, sizeof(s_key), "kafka.ssl.key.location=%s/client-key.pem", k.certs);
    snprintf(s_user, sizeof(s_user), "kafka.sasl.username=%s", k.sasl_username);
    snprintf(s_pwfile, sizeof(s_pwfile), "kafka.sasl.password_file=%s", k.sasl_password_file);
    snprintf(s_prefix, sizeof(s_prefix), "delivery.transactional_id_prefix=%s", prefix);

    if (!strcmp(security, "sasl_ssl")) {
        FILE *f = fopen(k.sasl_password_file, "r");
        if (f) {
            if (!fgets(password, sizeof(password), f))
                password[0] = '\0';
            password[strcspn(password, "\r\n")] = '\0';
            fclose(f);
        }
        /* A triggers topic without any ACL for the worker. */
        snprintf(noacl, sizeof(noacl), "noacl.%s", t->suffix);
        snprintf(s_noacl, sizeof(s_noacl), "topic.triggers=%s", noacl);
        {
            char err[512];
            if (vg_kafka_admin_create_topic(&t->props, noacl, 4, 1, NULL, 30000, err,
                                            sizeof(err))) {
                fprintf(stderr, "FAIL: create %s: %s\n", noacl, err);
                failures++;
            }
        }
        snprintf(s_nogroup, sizeof(s_nogroup), "group.id=%s-nogrant", t->group);
        snprintf(nogroup, sizeof(nogroup), "%s-nogrant", t->group);
        snprintf(s_acl_group, sizeof(s_acl_group), "group.id=%s-acl", t->group);
        snprintf(s_acl_prefix, sizeof(s_acl_prefix), "redis.key_prefix=%s-acl", t->prefix);
        /* acl_group: no ACL on its group.id, so it can neither join nor
         * commit. acl_topic: no ACL on its topic.triggers; told at start,
         * and nothing reaches that topic. Events that fire no trigger need
         * no write, so their offsets may commit: its group and states are
         * its own, and only the topic is checked. */
        const struct {
            const char *name, *says, *set, *set2, *group, *untouched;
        } cases[] = {
            {"password", "check kafka.sasl.username and kafka.sasl.password",
             "kafka.sasl.password=not-the-password", NULL, t->group, t->topic_triggers},
            {"untrusted", "kafka.ssl.ca.location must be the CA", s_wrong_ca, NULL, t->group,
             t->topic_triggers},
            {"acl_group", "may not use consumer group 'workers.", s_nogroup, NULL, nogroup,
             t->topic_triggers},
            {"acl_topic", "may not use topic 'noacl.", s_noacl, s_acl_group, NULL, noacl},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const char *sets[] = {s_mode,   s_boot,
                                  "kafka.security.protocol=SASL_SSL",
                                  "kafka.sasl.mechanisms=SCRAM-SHA-512",
                                  s_user,   s_pwfile,
                                  s_ca,     s_prefix,
                                  "shutdown.drain_timeout_ms=5000",
                                  cases[i].set, cases[i].set2,
                                  cases[i].set2 ? s_acl_prefix : NULL, NULL};
            char wid[64], log[1400];
            long long t0;
            pid_t w;

            snprintf(wid, sizeof(wid), "w-%s", cases[i].name);
            snprintf(log, sizeof(log), "%s/%s-%s.log", t->stack_dir, t->name, wid);
            w = vg_itest_worker_spawn(t, wid, sets);
            if (!vg_itest_wait_log(log, cases[i].says, 60000)) {
                fprintf(stderr, "FAIL %s: the log %s does not say \"%s\"\n", cases[i].name, log,
                        cases[i].says);
                failures++;
            }
            /* The ACL case gets its partitions and reads the records; it
             * must still publish and commit nothing. */
            if (!strcmp(cases[i].name, "acl_topic") &&
                !vg_itest_wait_log(log, "assigned", 60000)) {
                fprintf(stderr, "FAIL acl_topic: the worker was never assigned partitions\n");
                failures++;
            }
            if (password[0] && vg_file_has(log, password)) {
                fprintf(stderr, "FAIL %s: the log shows the password\n", cases[i].name);
                failures++;
            }
            t0 = vg_itest_now_ms();
            rc = vg_itest_worker_stop(w, SIGTERM, 10000);
            printf("%-9s: \"%s\" logged; SIGTERM: exit %d after %lld ms\n", cases[i].name,
                   cases[i].says, rc, vg_itest_now_ms() - t0);
            if (rc != 0 || vg_itest_now_ms() - t0 > 5000) {
                fprintf(stderr, "FAIL %s: SIGTERM: exit %d\n", cases[i].name, rc);
                failures++;
            }
            if (!vg_untouched(t, cases[i].group, cases[i].untouched, cases[i].name) ||
                !vg_untouched(t, NULL, t->topic_dlq, cases[i].name))
                failures++;
        }
        {
            const char *sets[] = {s_mode, s_boot, "kafka.security.protocol=SASL_SSL",
                                  "kafka.sasl.mechanisms=SCRAM-SHA-512", s_user, s_pwfile,
                                  s_ca, s_prefix, "shutdown.drain_timeout_ms=5000", NULL};
            failures += vg_end_to_end(t, "w-good", sets, &want, mode, "sasl_ssl");
        }
    } else {
        const char *sets[] = {s_mode, s_boot, "kafka.security.protocol=SSL", s_ca, s_cert,
                              s_key, s_prefix, "shutdown.drain_timeout_ms=5000", NULL};
        failures += vg_end_to_end(t, "w-good", sets, &want, mode, "mtls");
    }
    vg_itest_kafka_stop(&k);
    vg_idset_free(&want);
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    return failures;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "exactly_once";
    size_t count = argc > 2 ? strtoul(argv[2], NULL, 10) : 3000;
    vg_itest_t t;
    size_t len;
    int failures, f;

    if (vg_itest_init(&t, "kafka-secured"))
        return VG_ITEST_SKIP;
    if ((failures = vg_run(&t, "sasl_ssl", mode, count, 71)) < 0)
        return VG_ITEST_SKIP;
    /* A second cluster, the same topic names: the states go under a key
     * prefix of their own. */
    len = strlen(t.prefix);
    if (len + sizeof("-mtls") <= sizeof(t.prefix))
        memcpy(t.prefix + len, "-mtls", sizeof("-mtls"));
    if ((f = vg_run(&t, "mtls", mode, count, 72)) < 0)
        return VG_ITEST_SKIP;
    failures += f;
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
