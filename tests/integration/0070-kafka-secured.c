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
 * triggers equal the oracle's, none twice. Then the same over mutual TLS
 * (SSL, ssl.client.auth=required, the certificate's CN is the principal),
 * the refusals first, checked the same way:
 *   untrusted   kafka.ssl.ca.location is a CA that did not sign the broker
 *   client_cert kafka.ssl.certificate.location/key.location: a client
 *               certificate (same CN) signed by a CA the broker does not
 *               trust (certs.sh's wrong-client.pem)
 *   acl_group   a group.id the certificate's principal has no READ on
 * then the end to end.
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

/* A refusal: a worker with the base settings and these (later ones
 * override earlier ones) must log says; then nothing committed by group
 * (NULL: not checked) and nothing on untouched or the dead-letter topic. */
typedef struct vg_refusal_s {
    const char *name, *says;
    const char *sets[3];   /* NULL-terminated unless all 3 are used */
    const char *group, *untouched;
    bool assigned;         /* also wait for its partitions (it reads) */
} vg_refusal_t;

/* Run each refusal with records waiting, as worker w-<tag><name> (its
 * own log: logs are appended to); secret (NULL or empty: none) must not
 * appear in the log. Returns the failures. */
static int vg_refusals(vg_itest_t *t, const char *tag, const char *const *base,
                       const vg_refusal_t *cases, size_t n, const char *secret) {
    int failures = 0;

    for (size_t i = 0; i < n; i++) {
        const char *sets[24];
        size_t ns = 0;
        char wid[64], log[1400], label[64];
        bool said;
        long long t0;
        pid_t w;
        int rc;

        for (size_t j = 0; base[j] && ns < 20; j++)
            sets[ns++] = base[j];
        for (size_t j = 0; j < 3 && cases[i].sets[j]; j++)
            sets[ns++] = cases[i].sets[j];
        sets[ns] = NULL;
        snprintf(wid, sizeof(wid), "w-%s%s", tag, cases[i].name);
        snprintf(log, sizeof(log), "%s/%s-%s.log", t->stack_dir, t->name, wid);
        snprintf(label, sizeof(label), "%s%s", tag, cases[i].name);
        w = vg_itest_worker_spawn(t, wid, sets);
        if (!(said = vg_itest_wait_log(log, cases[i].says, 60000))) {
            fprintf(stderr, "FAIL %s: the log %s does not say \"%s\"\n", label, log,
                    cases[i].says);
            failures++;
        }
        /* The ACL-on-topic case gets its partitions and reads the
         * records; it must still publish and commit nothing. */
        if (cases[i].assigned && !vg_itest_wait_log(log, "assigned", 60000)) {
            fprintf(stderr, "FAIL %s: the worker was never assigned partitions\n", label);
            failures++;
        }
        if (secret && secret[0] && vg_itest_file_count(log, secret)) {
            fprintf(stderr, "FAIL %s: the log shows the password\n", label);
            failures++;
        }
        t0 = vg_itest_now_ms();
        rc = vg_itest_worker_stop(w, SIGTERM, 10000);
        printf("%-16s: \"%s\" %s; SIGTERM: exit %d after %lld ms\n", label, cases[i].says,
               said ? "logged" : "NOT logged", rc, vg_itest_now_ms() - t0);
        if (rc != 0 || vg_itest_now_ms() - t0 > 5000) {
            fprintf(stderr, "FAIL %s: SIGTERM: exit %d\n", label, rc);
            failures++;
        }
        if (!vg_untouched(t, cases[i].group, cases[i].untouched, label) ||
            !vg_untouched(t, NULL, t->topic_dlq, label))
            failures++;
    }
    return failures;
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

/* One secured cluster: topics, ACLs, traffic; the refusals; then the end
 * to end. */
static int vg_run(vg_itest_t *t, const char *security, const char *mode, size_t count,
                  uint64_t seed) {
    vg_itest_kafka_t k;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    char s_mode[64], s_boot[600], s_ca[1200], s_cert[1200], s_key[1200], s_pwfile[1200],
        s_user[200], s_wrong_ca[1200], s_noacl[300], noacl[200], password[256] = "",
        s_nogroup[300], nogroup[300], s_acl_group[300], s_acl_prefix[300], s_wrong_cert[1200],
        s_wrong_key[1200];
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
    snprintf(s_wrong_cert, sizeof(s_wrong_cert),
             "kafka.ssl.certificate.location=%s/wrong-client.pem", k.certs);
    snprintf(s_wrong_key, sizeof(s_wrong_key), "kafka.ssl.key.location=%s/wrong-client-key.pem",
             k.certs);
    /* A group.id without any ACL for the worker. */
    snprintf(s_nogroup, sizeof(s_nogroup), "group.id=%s-nogrant", t->group);
    snprintf(nogroup, sizeof(nogroup), "%s-nogrant", t->group);

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
        snprintf(s_acl_group, sizeof(s_acl_group), "group.id=%s-acl", t->group);
        snprintf(s_acl_prefix, sizeof(s_acl_prefix), "redis.key_prefix=%s-acl", t->prefix);
        /* acl_group: no ACL on its group.id, so it can neither join nor
         * commit. acl_topic: no ACL on its topic.triggers; told at start,
         * and nothing reaches that topic. Events that fire no trigger need
         * no write, so their offsets may commit: its group and states are
         * its own, and only the topic is checked. */
        const vg_refusal_t cases[] = {
            {"password", "check kafka.sasl.username and kafka.sasl.password",
             {"kafka.sasl.password=not-the-password"}, t->group, t->topic_triggers, false},
            {"untrusted", "kafka.ssl.ca.location must be the CA", {s_wrong_ca}, t->group,
             t->topic_triggers, false},
            {"acl_group", "may not use consumer group 'workers.", {s_nogroup}, nogroup,
             t->topic_triggers, false},
            {"acl_topic", "may not use topic 'noacl.", {s_noacl, s_acl_group, s_acl_prefix},
             NULL, noacl, true},
        };
        const char *base[] = {s_mode, s_boot, "kafka.security.protocol=SASL_SSL",
                              "kafka.sasl.mechanisms=SCRAM-SHA-512", s_user, s_pwfile, s_ca,
                              s_prefix, "shutdown.drain_timeout_ms=5000", NULL};

        failures += vg_refusals(t, "", base, cases, sizeof(cases) / sizeof(cases[0]), password);
        {
            const char *sets[] = {s_mode, s_boot, "kafka.security.protocol=SASL_SSL",
                                  "kafka.sasl.mechanisms=SCRAM-SHA-512", s_user, s_pwfile,
                                  s_ca, s_prefix, "shutdown.drain_timeout_ms=5000", NULL};
            failures += vg_end_to_end(t, "w-good", sets, &want, mode, "sasl_ssl");
        }
    } else {
        const char *sets[] = {s_mode, s_boot, "kafka.security.protocol=SSL", s_ca, s_cert,
                              s_key, s_prefix, "shutdown.drain_timeout_ms=5000", NULL};
        char says_group[400];
        /* The group and the operation to grant, named. */
        snprintf(says_group, sizeof(says_group),
                 "may not use consumer group '%s' (group.id). It needs READ on the group",
                 nogroup);
        /* client_cert: a certificate with the worker's CN, signed by the
         * wrong CA; the broker refuses it (over TLS 1.3 with an alert on
         * the first request, after the client's side of the handshake). */
        const vg_refusal_t cases[] = {
            {"untrusted", "kafka.ssl.ca.location must be the CA", {s_wrong_ca}, t->group,
             t->topic_triggers, false},
            {"client_cert",
             "the broker refused the TLS client certificate (mutual TLS): set "
             "kafka.ssl.certificate.location and kafka.ssl.key.location",
             {s_wrong_cert, s_wrong_key}, t->group, t->topic_triggers, false},
            {"acl_group", says_group, {s_nogroup}, nogroup, t->topic_triggers, false},
        };

        failures += vg_refusals(t, "mtls-", sets, cases, sizeof(cases) / sizeof(cases[0]), NULL);
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
