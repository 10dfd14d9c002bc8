#include "vg_kafka_diag.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

/* True if reason contains any of the NULL-terminated needles. */
static int vg_kafka_diag_has(const char *reason, const char *const *needles) {
    for (size_t i = 0; reason && needles[i]; i++)
        if (strstr(reason, needles[i]))
            return 1;
    return 0;
}

/* "topic X" / "the topic" for the sentences below. */
static const char *vg_kafka_diag_name(const char *resource, const char *fallback, char *buf,
                                      size_t size) {
    if (!resource || !resource[0])
        return fallback;
    snprintf(buf, size, "'%s'", resource);
    return buf;
}

const char *vg_kafka_diag(int err, const char *reason, const char *resource, char *out,
                          size_t out_size) {
    /* Texts of librdkafka 2.0 (rdkafka_sasl*.c, rdkafka_ssl.c) and of the
     * broker's SaslAuthenticate answer; matched as well as the codes
     * because a log line carries no code. */
    static const char *const sasl_mech[] = {"Unsupported SASL mechanism",
                                            "UNSUPPORTED_SASL_MECHANISM", NULL};
    static const char *const sasl_login[] = {"SASL authentication error",
                                             "invalid credentials", "Authentication failed",
                                             NULL};
    static const char *const hostname[] = {"hostname mismatch", "Hostname mismatch",
                                           "IP address mismatch", NULL};
    static const char *const untrusted[] = {"certificate verify failed",
                                            "broker certificate could not be verified", NULL};
    /* Alerts the broker sends when it refuses the client certificate
     * (OpenSSL names a received alert "sslv3 alert ..." or "tlsv13 alert
     * ..."). Over TLS 1.3 the client has finished its handshake by then:
     * a certificate signed by a CA the broker does not trust shows only as
     * "Receive failed: ... sslv3 alert certificate unknown: SSL alert
     * number 46" on the first request (librdkafka 2.0.2 against a Java
     * broker), reported as a transport error. */
    static const char *const client_cert[] = {"alert certificate required",
                                              "alert bad certificate",
                                              "alert handshake failure",
                                              "alert unknown ca",
                                              "alert certificate unknown",
                                              "alert unsupported certificate",
                                              "alert certificate expired",
                                              "alert certificate revoked", NULL};
    char name[300];

    if (!out || out_size == 0)
        return NULL;
    switch (err) {
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        snprintf(out, out_size,
                 "Kafka ACL missing: the worker's principal may not use topic %s. It needs "
                 "READ on topic.events and WRITE and DESCRIBE on topic.triggers and "
                 "topic.dead_letter (kafka-acls --add --allow-principal User:<name> "
                 "--operation Write --operation Describe --topic <topic>; "
                 "docs/kafka-security.md)",
                 vg_kafka_diag_name(resource, "(one of topic.events, topic.triggers, "
                                              "topic.dead_letter)", name, sizeof(name)));
        return out;
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        snprintf(out, out_size,
                 "Kafka ACL missing: the worker's principal may not use consumer group %s "
                 "(group.id). It needs READ on the group (kafka-acls --add --allow-principal "
                 "User:<name> --operation Read --group <group.id>; docs/kafka-security.md)",
                 vg_kafka_diag_name(resource, "<group.id>", name, sizeof(name)));
        return out;
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        snprintf(out, out_size,
                 "Kafka ACL missing: the worker's principal may not use transactional id %s. "
                 "exactly_once needs WRITE and DESCRIBE on the transactional ids that start "
                 "with delivery.transactional_id_prefix (kafka-acls --add --allow-principal "
                 "User:<name> --operation Write --operation Describe --transactional-id "
                 "<prefix> --resource-pattern-type prefixed; docs/kafka-security.md)",
                 vg_kafka_diag_name(resource, "<delivery.transactional_id_prefix>-<worker.id>",
                                    name, sizeof(name)));
        return out;
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        snprintf(out, out_size,
                 "Kafka ACL missing: the worker's principal may not produce idempotently. It "
                 "needs WRITE on topic.triggers (or IDEMPOTENT_WRITE on the cluster: kafka-acls "
                 "--add --allow-principal User:<name> --operation IdempotentWrite --cluster; "
                 "docs/kafka-security.md)");
        return out;
    default:
        break;
    }
    if (err == RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM ||
        vg_kafka_diag_has(reason, sasl_mech))
        snprintf(out, out_size,
                 "Kafka refused the SASL mechanism: kafka.sasl.mechanisms must be one the "
                 "broker's listener enables (e.g. SCRAM-SHA-512)");
    else if (err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
             ((err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == 0) &&
              vg_kafka_diag_has(reason, sasl_login)))
        snprintf(out, out_size,
                 "Kafka refused the SASL login: check kafka.sasl.username and "
                 "kafka.sasl.password (or kafka.sasl.password_file): the user must exist on "
                 "the broker with this password for kafka.sasl.mechanisms");
    else if (vg_kafka_diag_has(reason, hostname))
        snprintf(out, out_size,
                 "the broker's TLS certificate does not name the host in "
                 "kafka.bootstrap.servers (or the broker's advertised listener): use the name "
                 "the certificate was issued for");
    else if (vg_kafka_diag_has(reason, untrusted))
        snprintf(out, out_size,
                 "the broker's TLS certificate is not trusted: kafka.ssl.ca.location must be "
                 "the CA (PEM) that signed the broker's certificate");
    else if ((err == RD_KAFKA_RESP_ERR__SSL || err == RD_KAFKA_RESP_ERR__TRANSPORT || err == 0) &&
             reason && strstr(reason, "SSL") && vg_kafka_diag_has(reason, client_cert))
        snprintf(out, out_size,
                 "the broker refused the TLS client certificate (mutual TLS): set "
                 "kafka.ssl.certificate.location and kafka.ssl.key.location to a certificate "
                 "and its key signed by a CA the broker trusts (its ssl.truststore), not "
                 "expired");
    else
        return NULL;
    return out;
}
