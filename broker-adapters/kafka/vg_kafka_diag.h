/*
 * vg_kafka_diag.h - what a Kafka security failure means in Vigil's terms.
 *
 * librdkafka reports a refused login, an untrusted broker certificate or
 * a missing ACL in its own words ("SASL authentication error: ...",
 * "Broker: Topic authorization failed"), which name neither the Vigil
 * setting to fix nor the permission to grant. The adapter passes such an
 * error through vg_kafka_diag() and logs the sentence next to the raw
 * error. docs/kafka-security.md lists the settings and the ACLs.
 */
#ifndef VG_KAFKA_DIAG_H
#define VG_KAFKA_DIAG_H

#include <stddef.h>

/* A sentence naming the setting (kafka.sasl.username, kafka.ssl.ca.location,
 * ...) or the ACL (operation and resource) behind a librdkafka error, or
 * NULL when the error is not one of these.
 *
 * err: a librdkafka error code (rd_kafka_resp_err_t), or 0 when only the
 *      text is known (a librdkafka log line);
 * reason: librdkafka's text, may be NULL;
 * resource: the topic, group or transactional id the failed call was
 *      about, when the caller knows it; may be NULL.
 * Writes into out (out_size bytes, borrowed) and returns it. Any thread. */
const char *vg_kafka_diag(int err, const char *reason, const char *resource, char *out,
                          size_t out_size);

#endif
