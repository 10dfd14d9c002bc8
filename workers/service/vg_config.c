#include "vg_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "vg_log.h"
#include "vg_redis.h"

typedef enum vg_ctype_e { VG_CT_STR, VG_CT_INT, VG_CT_ENUM, VG_CT_SECRET } vg_ctype_t;

typedef struct vg_config_row_s {
    const char *name;
    vg_ctype_t type;
    size_t offset;
    size_t size;          /* of a string field */
    int64_t min, max;     /* for ints */
    const char *def;      /* default, text form; "" for none */
    const char *choices;  /* for enums: "a|b|c" in value order */
    const char *doc;
} vg_config_row_t;

#define VG_S(field) VG_CT_STR, offsetof(vg_config_t, field), sizeof(((vg_config_t *)0)->field)
#define VG_X(field) VG_CT_SECRET, offsetof(vg_config_t, field), sizeof(((vg_config_t *)0)->field)
#define VG_I(field) VG_CT_INT, offsetof(vg_config_t, field), sizeof(int64_t)
#define VG_E(field) VG_CT_ENUM, offsetof(vg_config_t, field), sizeof(int)

/* The one configuration table: docs/configuration.md is generated from it
 * (vigil-worker --config-doc). */
static const vg_config_row_t vg_config_table[] = {
    {"worker.id", VG_S(worker_id), 0, 0, "", NULL,
     "Stable id of this worker slot (pod name); default host-pid. Used in lineage and the transactional id."},
    {"group.id", VG_S(group_id), 0, 0, "vigil-workers", NULL, "Kafka consumer group of the workers."},
    {"topic.events", VG_S(topic_events), 0, 0, "vigil.events", NULL,
     "Topic of InteractionEvents, keyed by customer id."},
    {"topic.triggers", VG_S(topic_triggers), 0, 0, "vigil.triggers", NULL,
     "Topic the InterventionTriggers are published to."},
    {"topic.dead_letter", VG_S(topic_dead_letter), 0, 0, "vigil.events.dlq", NULL,
     "Dead-letter topic: malformed or poisonous events, with the reason in headers."},
    {"delivery.mode", VG_E(delivery), 0, 1, "exactly_once", "at_least_once|exactly_once",
     "exactly_once: Kafka transactions + Redis version CAS; at_least_once: cheaper, duplicates only as repeats of a trigger id."},
    {"delivery.transactional_id_prefix", VG_S(transactional_id_prefix), 0, 0, "vigil", NULL,
     "Prefix of the transactional.id (prefix-worker.id) in exactly_once mode."},
    {"batch.max_events", VG_I(batch_max_events), 1, VG_CONFIG_BATCH_MAX, "1000", NULL,
     "Most events processed in one batch (one Redis round trip each way, one transaction)."},
    {"batch.max_wait_ms", VG_I(batch_max_wait_ms), 1, 10000, "50", NULL,
     "Longest wait for the first record of a batch; then what has arrived (up to "
     "batch.max_events) is processed at once, never waiting for more."},
    {"delivery.commit_interval_ms", VG_I(commit_interval_ms), 0, 60000, "100", NULL,
     "exactly_once: one Kafka transaction spans the batches of this interval (0: one per "
     "batch); it commits sooner when no record is waiting, and before partitions move."},
    {"delivery.commit_min_interval_ms", VG_I(commit_min_interval_ms), 0, 60000, "10", NULL,
     "exactly_once: a worker that keeps up (its last batch took every record that had "
     "arrived) commits its transaction once it has been open this long and twice as long as "
     "its recent commits took, instead of waiting out delivery.commit_interval_ms (at or "
     "above it: never early)."},
    {"delivery.txn_timeout_ms", VG_I(txn_timeout_ms), 1000, 900000, "30000", NULL,
     "Timeout of a transaction commit or abort call."},
    {"redis.mode", VG_E(redis_mode), 0, 2, "standalone", "standalone|sentinel|cluster",
     "standalone: one server (redis.host); sentinel: the master the sentinels name "
     "(redis.sentinels); cluster: a Redis Cluster, from the seed nodes redis.cluster_nodes "
     "(docs/internals.md, \"Redis Cluster\")."},
    {"redis.host", VG_S(redis_host), 0, 0, "127.0.0.1", NULL, "Redis host."},
    {"redis.port", VG_I(redis_port), 1, 65535, "6379", NULL, "Redis port."},
    {"redis.user", VG_S(redis_user), 0, 0, "", NULL, "Redis ACL user (empty: default user)."},
    {"redis.password", VG_X(redis_password), 0, 0, "", NULL,
     "Redis password (secret; or redis.password_file)."},
    {"redis.db", VG_I(redis_db), 0, 15, "0", NULL, "Redis database number (standalone only)."},
    {"redis.timeout_ms", VG_I(redis_timeout_ms), 10, 60000, "2000", NULL,
     "Redis connect and command timeout."},
    {"redis.key_prefix", VG_S(redis_key_prefix), 0, 0, "vigil", NULL,
     "Prefix of the state keys: <prefix>:{<topic>:<partition>}:<pseudonymised id> (no "
     "braces)."},
    {"redis.cluster_nodes", VG_S(redis_cluster_nodes), 0, 0, "", NULL,
     "Cluster mode: host:port of seed nodes, comma-separated (empty: redis.host:redis.port); "
     "the slot map is read from them (CLUSTER SHARDS) and follows MOVED and ASK."},
    {"redis.sentinels", VG_S(redis_sentinels), 0, 0, "", NULL,
     "Sentinel mode: host:port of the sentinels, comma-separated; every (re)connect asks them "
     "for the master (redis.host/redis.port are then unused). Set alone, it implies "
     "redis.mode=sentinel."},
    {"redis.sentinel_master", VG_S(redis_sentinel_master), 0, 0, "mymaster", NULL,
     "Sentinel mode: the name the sentinels monitor the master under."},
    {"redis.sentinel_tls", VG_E(redis_sentinel_tls), 0, 2, "same", "false|true|same",
     "Sentinel mode: speak TLS to the sentinels (their tls-port), with the redis.tls_* files "
     "and checks; each sentinel's certificate must name its host in redis.sentinels (or "
     "redis.tls_server_name). same: as redis.tls."},
    {"redis.sentinel_user", VG_S(redis_sentinel_user), 0, 0, "", NULL,
     "Sentinel mode: ACL user on the sentinels (empty: default user)."},
    {"redis.sentinel_password", VG_X(redis_sentinel_password), 0, 0, "", NULL,
     "Sentinel mode: password of the sentinels themselves (their requirepass or "
     "redis.sentinel_user's), sent with AUTH before asking for the master; empty: no AUTH. "
     "Secret; or redis.sentinel_password_file."},
    {"redis.min_replicas_acked", VG_I(redis_min_replicas_acked), 0, 16, "0", NULL,
     "Durability: each state write waits (WAIT) for this many replicas before the Kafka "
     "commit; fewer within redis.wait_timeout_ms redoes the batch. 0: no WAIT."},
    {"redis.wait_timeout_ms", VG_I(redis_wait_timeout_ms), 1, 60000, "1000", NULL,
     "Longest WAIT for redis.min_replicas_acked."},
    {"redis.tls", VG_E(redis_tls), 0, 1, "false", "false|true",
     "Speak TLS to Redis (the server's certificate is always verified)."},
    {"redis.tls_ca_file", VG_S(redis_tls_ca_file), 0, 0, "", NULL,
     "PEM file of the CAs trusted for the server's certificate (empty: the system's store)."},
    {"redis.tls_ca_dir", VG_S(redis_tls_ca_dir), 0, 0, "", NULL,
     "Directory of trusted CAs (OpenSSL c_rehash layout), with or instead of tls_ca_file."},
    {"redis.tls_cert_file", VG_S(redis_tls_cert_file), 0, 0, "", NULL,
     "Client certificate chain (PEM) for mutual TLS; with redis.tls_key_file."},
    {"redis.tls_key_file", VG_S(redis_tls_key_file), 0, 0, "", NULL,
     "Private key (PEM) of redis.tls_cert_file."},
    {"redis.tls_server_name", VG_S(redis_tls_server_name), 0, 0, "", NULL,
     "Name sent as SNI and checked against the certificate (empty: redis.host)."},
    {"redis.tls_verify_hostname", VG_E(redis_tls_verify_hostname), 0, 1, "true", "false|true",
     "Check that the certificate names the server (false: the chain only; not advised)."},
    {"signing.keys_file", VG_S(signing_keys_file), 0, 0, "", NULL,
     "File of trigger signing keys, \"<key id> <hex secret>\" per line, the first signs "
     "(docs/triggers.md, \"Signatures\"). Empty: triggers and dead letters go unsigned, "
     "with a warning."},
    {"state.cache_mb", VG_I(state_cache_mb), 0, 4096, "8", NULL,
     "States of the owned partitions kept between batches, in MiB, so Redis is read only on "
     "a miss (every write is still a version compare-and-set); 0: read every state. The "
     "part of a worker's memory that grows with its customers, up to this bound."},
    {"state.ttl_s", VG_I(state_ttl_s), 60, 31536000, "604800", NULL,
     "Time to live of a customer's state after its last event (refreshed on write)."},
    {"pseudonym.key", VG_X(pseudonym_key), 0, 0, "", NULL,
     "HMAC key for pseudonymised customer ids, 16+ bytes (secret; or pseudonym.key_file). Empty: a development key, with a warning."},
    {"log.level", VG_S(log_level), 0, 0, "info", NULL, "debug, info, warn, error or off."},
    {"http.port", VG_I(http_port), 0, 65535, "0", NULL,
     "Port of /metrics, /healthz, /readyz on http.bind (0: disabled)."},
    {"http.bind", VG_S(http_bind), 0, 0, "127.0.0.1", NULL,
     "Address of the HTTP side port (0.0.0.0 in a pod, so probes and scrapes reach it)."},
    {"model.file", VG_S(model_file), 0, 0, "", NULL,
     "Scoring model file, YAML (docs/model.md); empty: the built-in default model (workers/models/default.yaml)."},
    {"event.max_future_ms", VG_I(event_max_future_ms), 1000, 31536000000LL, "86400000", NULL,
     "Latest event time accepted, after the record's Kafka timestamp; later events are "
     "dead-lettered and never move a watermark."},
    {"dead_letter.max_retries", VG_I(dead_letter_max_retries), 1, 1000, "5", NULL,
     "Attempts at a record whose dead letter cannot be written before its partition is "
     "stopped (the others go on; see the runbook)."},
    {"stall.report_interval_ms", VG_I(stall_report_interval_ms), 1000, 3600000, "10000", NULL,
     "While the worker waits (Redis unavailable, Kafka not taking its writes), one log line "
     "per interval: how long, the last error, what it tries next."},
    {"shutdown.drain_timeout_ms", VG_I(drain_timeout_ms), 100, 600000, "30000", NULL,
     "On SIGTERM: finish the batch, commit and leave the group within this time."},
};

#define VG_CONFIG_ROWS (sizeof(vg_config_table) / sizeof(vg_config_table[0]))

/* Settings SIGHUP applies to a running worker; the rest need a restart. */
static const char *const vg_config_reloadable[] = {"log.level", "model.file",
                                                   "signing.keys_file"};

static bool vg_config_is_reloadable(const char *name) {
    for (size_t i = 0; i < sizeof(vg_config_reloadable) / sizeof(vg_config_reloadable[0]); i++)
        if (strcmp(vg_config_reloadable[i], name) == 0)
            return true;
    return false;
}

bool vg_config_differs_static(const vg_config_t *a, const vg_config_t *b, char *names,
                              size_t names_size) {
    size_t o = 0;
    bool differs = false;

    if (names_size)
        names[0] = '\0';
    for (size_t i = 0; i < VG_CONFIG_ROWS; i++) {
        const vg_config_row_t *r = &vg_config_table[i];
        if (vg_config_is_reloadable(r->name) ||
            memcmp((const char *)a + r->offset, (const char *)b + r->offset, r->size) == 0)
            continue;
        differs = true;
        if (o < names_size)
            o += (size_t)snprintf(names + o, names_size - o, "%s%s", o ? ", " : "", r->name);
    }
    if (a->n_kafka != b->n_kafka) {
        differs = true;
        if (o < names_size)
            snprintf(names + o, names_size - o, "%skafka.*", o ? ", " : "");
    } else {
        for (int i = 0; i < a->n_kafka; i++) {
            if (strcmp(a->kafka_keys[i], b->kafka_keys[i]) || strcmp(a->kafka_vals[i], b->kafka_vals[i])) {
                differs = true;
                if (o < names_size)
                    snprintf(names + o, names_size - o, "%skafka.%s", o ? ", " : "",
                             a->kafka_keys[i]);
                break;
            }
        }
    }
    return differs;
}

static const vg_config_row_t *vg_config_row(const char *name) {
    for (size_t i = 0; i < VG_CONFIG_ROWS; i++)
        if (strcmp(vg_config_table[i].name, name) == 0)
            return &vg_config_table[i];
    return NULL;
}

static vg_err_t vg_config_set_row(vg_config_t *cfg, const vg_config_row_t *row, const char *value,
                                  const char *origin, char *errstr, size_t errstr_size) {
    char *base = (char *)cfg + row->offset;

    switch (row->type) {
    case VG_CT_STR:
    case VG_CT_SECRET:
        if (strlen(value) >= row->size) {
            vg_errstr_set(errstr, errstr_size, "%s: %s: longer than %zu characters", origin,
                          row->name, row->size - 1);
            return VG_ERR_CONFIG;
        }
        memcpy(base, value, strlen(value) + 1);
        return VG_OK;
    case VG_CT_INT: {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno || end == value || *end) {
            vg_errstr_set(errstr, errstr_size, "%s: %s: \"%s\" is not an integer", origin,
                          row->name, value);
            return VG_ERR_CONFIG;
        }
        if (v < row->min || v > row->max) {
            vg_errstr_set(errstr, errstr_size, "%s: %s: %lld is out of range [%lld, %lld]", origin,
                          row->name, v, (long long)row->min, (long long)row->max);
            return VG_ERR_CONFIG;
        }
        *(int64_t *)(void *)base = v;
        return VG_OK;
    }
    case VG_CT_ENUM: {
        const char *c = row->choices;
        int idx = 0;
        size_t vl = strlen(value);
        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t n = bar ? (size_t)(bar - c) : strlen(c);
            if (n == vl && strncmp(c, value, n) == 0) {
                *(int *)(void *)base = idx;
                return VG_OK;
            }
            idx++;
            c = bar ? bar + 1 : NULL;
        }
        vg_errstr_set(errstr, errstr_size, "%s: %s: \"%s\" is not one of %s", origin, row->name,
                      value, row->choices);
        return VG_ERR_CONFIG;
    }
    }
    return VG_ERR_CONFIG;
}

void vg_config_defaults(vg_config_t *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < VG_CONFIG_ROWS; i++)
        vg_config_set_row(cfg, &vg_config_table[i], vg_config_table[i].def, "default", NULL, 0);
}

/* Read a secret from a file: the first line, without its newline. */
static vg_err_t vg_config_read_secret(const char *path, char *out, size_t cap, const char *origin,
                                      const char *name, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        vg_errstr_set(errstr, errstr_size, "%s: %s_file: cannot open %s: %s", origin, name, path,
                      strerror(errno));
        return VG_ERR_CONFIG;
    }
    n = fread(out, 1, cap - 1, f);
    fclose(f);
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    return VG_OK;
}

vg_err_t vg_config_set(vg_config_t *cfg, const char *key, const char *value, const char *origin,
                       char *errstr, size_t errstr_size) {
    const vg_config_row_t *row = vg_config_row(key);
    size_t kl = strlen(key);

    if (row)
        return vg_config_set_row(cfg, row, value, origin, errstr, errstr_size);
    if (kl > 5 && strcmp(key + kl - 5, "_file") == 0) {
        char base[128], secret[512];
        vg_err_t err;
        if (kl - 5 >= sizeof(base))
            goto unknown;
        memcpy(base, key, kl - 5);
        base[kl - 5] = '\0';
        row = vg_config_row(base);
        if (!row && strncmp(base, "kafka.", 6) == 0 && base[6]) {
            /* A librdkafka secret (sasl.password, ssl.key.password...)
             * from a file: kafka.<property>_file. */
            if ((err = vg_config_read_secret(value, secret, sizeof(secret), origin, base, errstr,
                                             errstr_size)))
                return err;
            err = vg_config_set(cfg, base, secret, origin, errstr, errstr_size);
            memset(secret, 0, sizeof(secret));
            return err;
        }
        if (!row || row->type != VG_CT_SECRET)
            goto unknown;
        if ((err = vg_config_read_secret(value, secret, sizeof(secret), origin, base, errstr,
                                         errstr_size)))
            return err;
        err = vg_config_set_row(cfg, row, secret, origin, errstr, errstr_size);
        memset(secret, 0, sizeof(secret));
        return err;
    }
    if (strncmp(key, "kafka.", 6) == 0 && key[6]) {
        int i;
        if (strlen(key + 6) >= sizeof(cfg->kafka_keys[0]) ||
            strlen(value) >= sizeof(cfg->kafka_vals[0])) {
            vg_errstr_set(errstr, errstr_size, "%s: %s: too long", origin, key);
            return VG_ERR_CONFIG;
        }
        for (i = 0; i < cfg->n_kafka; i++)
            if (strcmp(cfg->kafka_keys[i], key + 6) == 0)
                break;
        if (i == cfg->n_kafka) {
            if (cfg->n_kafka == VG_CONFIG_KAFKA_MAX) {
                vg_errstr_set(errstr, errstr_size, "%s: more than %d kafka.* keys", origin,
                              VG_CONFIG_KAFKA_MAX);
                return VG_ERR_CONFIG;
            }
            cfg->n_kafka++;
            snprintf(cfg->kafka_keys[i], sizeof(cfg->kafka_keys[i]), "%s", key + 6);
        }
        snprintf(cfg->kafka_vals[i], sizeof(cfg->kafka_vals[i]), "%s", value);
        return VG_OK;
    }
unknown:
    vg_errstr_set(errstr, errstr_size, "%s: unknown setting \"%s\" (see docs/configuration.md)",
                  origin, key);
    return VG_ERR_CONFIG;
}

vg_err_t vg_config_load_file(vg_config_t *cfg, const char *path, char *errstr,
                             size_t errstr_size) {
    FILE *f = fopen(path, "r");
    yaml_parser_t parser;
    yaml_event_t ev;
    vg_err_t ret = VG_OK;
    char key[256] = "", origin[1200];
    int depth = 0;
    bool have_key = false, done = false;

    if (!f) {
        vg_errstr_set(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
        return VG_ERR_CONFIG;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    while (!done && ret == VG_OK) {
        if (!yaml_parser_parse(&parser, &ev)) {
            vg_errstr_set(errstr, errstr_size, "%s:%zu:%zu: YAML error: %s", path,
                          parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                          parser.problem ? parser.problem : "syntax");
            ret = VG_ERR_CONFIG;
            break;
        }
        snprintf(origin, sizeof(origin), "%s:%zu", path, ev.start_mark.line + 1);
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_MAPPING_START_EVENT:
            if (++depth > 1) {
                vg_errstr_set(errstr, errstr_size,
                              "%s: nested mappings are not allowed; write \"a.b: value\"", origin);
                ret = VG_ERR_CONFIG;
            }
            break;
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SEQUENCE_START_EVENT:
            vg_errstr_set(errstr, errstr_size, "%s: lists are not allowed in the config", origin);
            ret = VG_ERR_CONFIG;
            break;
        case YAML_SCALAR_EVENT:
            if (depth != 1) {
                vg_errstr_set(errstr, errstr_size, "%s: expected a mapping of name: value",
                              origin);
                ret = VG_ERR_CONFIG;
            } else if (!have_key) {
                snprintf(key, sizeof(key), "%s", (const char *)ev.data.scalar.value);
                have_key = true;
            } else {
                ret = vg_config_set(cfg, key, (const char *)ev.data.scalar.value, origin, errstr,
                                    errstr_size);
                have_key = false;
            }
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return ret;
}

vg_err_t vg_config_load_env(vg_config_t *cfg, char *const *envp, char *errstr, size_t errstr_size) {
    for (size_t e = 0; envp && envp[e]; e++) {
        const char *kv = envp[e], *eq = strchr(kv, '=');
        char name[256], key[256];
        size_t nl, k = 0;
        vg_err_t err;

        if (strncmp(kv, "VIGIL_", 6) != 0 || !eq)
            continue;
        nl = (size_t)(eq - kv);
        if (nl >= sizeof(name))
            continue;
        memcpy(name, kv, nl);
        name[nl] = '\0';
        if (strncmp(name, "VIGIL_KAFKA__", 13) == 0) {
            /* Pass-through: every '_' is a '.' in librdkafka names. */
            k = (size_t)snprintf(key, sizeof(key), "kafka.");
            for (const char *p = name + 13; *p && k + 1 < sizeof(key); p++)
                key[k++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
            key[k] = '\0';
        } else {
            /* Table names: match VIGIL_<NAME> against each row's name with
             * '.' as '_', so names with '_' inside stay unambiguous. */
            const char *match = NULL;
            char want[256];
            for (size_t i = 0; i < VG_CONFIG_ROWS && !match; i++) {
                const char *n = vg_config_table[i].name;
                size_t j = 0;
                for (; n[j] && j + 1 < sizeof(want); j++)
                    want[j] = n[j] == '.' ? '_' : (char)toupper((unsigned char)n[j]);
                want[j] = '\0';
                if (strcmp(name + 6, want) == 0)
                    match = n;
                else if (vg_config_table[i].type == VG_CT_SECRET &&
                         strlen(name + 6) == j + 5 && strncmp(name + 6, want, j) == 0 &&
                         strcmp(name + 6 + j, "_FILE") == 0) {
                    snprintf(key, sizeof(key), "%s_file", n);
                    match = key;
                }
            }
            if (!match)
                continue; /* VIGIL_ variables of tools, tests, scripts */
            if (match != key)
                snprintf(key, sizeof(key), "%s", match);
        }
        if ((err = vg_config_set(cfg, key, eq + 1, name, errstr, errstr_size)))
            return err;
    }
    return VG_OK;
}

vg_err_t vg_config_validate(const vg_config_t *cfg, char *errstr, size_t errstr_size) {
    bool have_bootstrap = false;

    for (int i = 0; i < cfg->n_kafka; i++)
        have_bootstrap |= strcmp(cfg->kafka_keys[i], "bootstrap.servers") == 0;
    if (!have_bootstrap) {
        vg_errstr_set(errstr, errstr_size,
                      "kafka.bootstrap.servers is required (file, or VIGIL_KAFKA__BOOTSTRAP_SERVERS)");
        return VG_ERR_CONFIG;
    }
    if (cfg->pseudonym_key[0] && strlen(cfg->pseudonym_key) < 16) {
        vg_errstr_set(errstr, errstr_size, "pseudonym.key: must be at least 16 bytes");
        return VG_ERR_CONFIG;
    }
    if (!strcmp(cfg->topic_events, cfg->topic_triggers) ||
        !strcmp(cfg->topic_events, cfg->topic_dead_letter)) {
        vg_errstr_set(errstr, errstr_size,
                      "topic.events must differ from topic.triggers and topic.dead_letter");
        return VG_ERR_CONFIG;
    }
    if (strchr(cfg->redis_key_prefix, '{') || strchr(cfg->redis_key_prefix, '}')) {
        vg_errstr_set(errstr, errstr_size,
                      "redis.key_prefix: \"%s\" holds a brace; the keys' hash tag is "
                      "{<topic>:<partition>} (docs/internals.md, \"Redis key layout\")",
                      cfg->redis_key_prefix);
        return VG_ERR_CONFIG;
    }
    if (cfg->redis_mode == VG_REDIS_MODE_SENTINEL && !cfg->redis_sentinels[0]) {
        vg_errstr_set(errstr, errstr_size, "redis.mode=sentinel needs redis.sentinels");
        return VG_ERR_CONFIG;
    }
    if (cfg->redis_mode == VG_REDIS_MODE_CLUSTER && cfg->redis_sentinels[0]) {
        vg_errstr_set(errstr, errstr_size,
                      "redis.mode=cluster and redis.sentinels do not go together");
        return VG_ERR_CONFIG;
    }
    if (cfg->redis_mode == VG_REDIS_MODE_CLUSTER && cfg->redis_db != 0) {
        vg_errstr_set(errstr, errstr_size,
                      "redis.db=%lld: a Redis Cluster has only database 0 (redis.mode=cluster)",
                      (long long)cfg->redis_db);
        return VG_ERR_CONFIG;
    }
    if (vg_log_level_parse(cfg->log_level) < 0) {
        vg_errstr_set(errstr, errstr_size, "log.level: \"%s\" is not one of debug|info|warn|error|off",
                      cfg->log_level);
        return VG_ERR_CONFIG;
    }
    return VG_OK;
}

void vg_config_dump(const vg_config_t *cfg, FILE *out) {
    for (size_t i = 0; i < VG_CONFIG_ROWS; i++) {
        const vg_config_row_t *row = &vg_config_table[i];
        const char *base = (const char *)cfg + row->offset;
        switch (row->type) {
        case VG_CT_STR:
            fprintf(out, "%s = %s\n", row->name, base);
            break;
        case VG_CT_SECRET:
            fprintf(out, "%s = %s\n", row->name, base[0] ? "(set)" : "(empty)");
            break;
        case VG_CT_INT:
            fprintf(out, "%s = %lld\n", row->name, (long long)*(const int64_t *)(const void *)base);
            break;
        case VG_CT_ENUM: {
            int v = *(const int *)(const void *)base, idx = 0;
            const char *c = row->choices;
            while (idx < v && c && strchr(c, '|')) {
                c = strchr(c, '|') + 1;
                idx++;
            }
            fprintf(out, "%s = %.*s\n", row->name, (int)strcspn(c, "|"), c);
            break;
        }
        }
    }
    for (int i = 0; i < cfg->n_kafka; i++) {
        /* librdkafka secrets (sasl.password, ssl.key.password...) masked. */
        bool secret = strstr(cfg->kafka_keys[i], "password") || strstr(cfg->kafka_keys[i], "secret");
        fprintf(out, "kafka.%s = %s\n", cfg->kafka_keys[i], secret ? "(set)" : cfg->kafka_vals[i]);
    }
}

void vg_config_doc(FILE *out) {
    static const char *const tnames[] = {"string", "integer", "enum", "secret"};

    fprintf(out, "# Configuration reference\n\n"
                 "Generated from the table in `workers/service/vg_config.c` by "
                 "`vigil-worker --config-doc`; do not edit by hand.\n\n"
                 "Sources, later wins: defaults, the YAML file given with `--config` (a flat "
                 "mapping `name: value`), environment variables `VIGIL_<NAME>` (the name "
                 "upper-cased, `.` as `_`, e.g. `VIGIL_REDIS_PORT`), then `--set name=value`.\n\n"
                 "Every `kafka.<property>` is passed to librdkafka as is (environment: "
                 "`VIGIL_KAFKA__<PROPERTY>` with `_` for `.`, e.g. "
                 "`VIGIL_KAFKA__BOOTSTRAP_SERVERS`). `kafka.bootstrap.servers` is required.\n\n"
                 "A secret `X` (and any `kafka.<property>`, e.g. `kafka.sasl.password_file`) "
                 "can also be read from a file with `X_file` "
                 "(`VIGIL_X_FILE`); secrets are never printed or logged.\n\n"
                 "SIGHUP reads every source again and applies, all or nothing, the settings "
                 "marked *Reloaded on SIGHUP* (and the model file's content); a bad file or "
                 "model is refused and the worker keeps running what it had. Other changes "
                 "are logged as needing a restart.\n\n"
                 "| name | type | range | default | description |\n"
                 "|---|---|---|---|---|\n");
    for (size_t i = 0; i < VG_CONFIG_ROWS; i++) {
        const vg_config_row_t *r = &vg_config_table[i];
        char range[64] = "";
        if (r->type == VG_CT_INT)
            snprintf(range, sizeof(range), "%lld .. %lld", (long long)r->min, (long long)r->max);
        else if (r->type == VG_CT_ENUM)
            /* "a | b" in a Markdown table cell: its bars escaped. */
            for (size_t o = 0, k = 0; r->choices[k] && o + 3 < sizeof(range); k++) {
                if (r->choices[k] == '|')
                    range[o++] = '\\';
                range[o++] = r->choices[k];
                range[o] = '\0';
            }
        fprintf(out, "| `%s` | %s | %s | %s%s%s | %s%s |\n", r->name, tnames[r->type], range,
                r->def[0] ? "`" : "", r->def[0] ? r->def : "(empty)", r->def[0] ? "`" : "", r->doc,
                vg_config_is_reloadable(r->name) ? " Reloaded on SIGHUP." : "");
    }
    fprintf(out,
            "\n## Redis over TLS\n\n"
            "With `redis.tls: true` the worker speaks TLS 1.2 or later and always verifies the "
            "server's certificate: against `redis.tls_ca_file` / `redis.tls_ca_dir`, or else the "
            "system's CA store (managed services such as Azure Cache for Redis or ElastiCache "
            "use a public CA: leave both empty). The certificate must name `redis.host` (or "
            "`redis.tls_server_name`, also sent as SNI; an IP address is checked against the "
            "certificate's IP entries). For mutual TLS (`tls-auth-clients yes`) set "
            "`redis.tls_cert_file` and `redis.tls_key_file`. Files are read once, at start: one "
            "that cannot be read is refused with its name and the reason.\n\n"
            "```yaml\n"
            "redis.host: redis.internal.example\n"
            "redis.port: 6380\n"
            "redis.tls: true\n"
            "redis.tls_ca_file: /etc/vigil/redis/ca.pem\n"
            "redis.tls_cert_file: /etc/vigil/redis/client.pem   # mutual TLS only\n"
            "redis.tls_key_file: /etc/vigil/redis/client-key.pem\n"
            "redis.user: vigil\n"
            "redis.password_file: /etc/vigil/redis/password\n"
            "```\n\n"
            "A failed connection is named in the log and in `vigil_redis_problem{problem=...}` "
            "(docs/runbook.md, \"Redis problems\"): `plain_port` (TLS spoken to a plain-text "
            "port), `tls_port` (plain text to a TLS-only port), `tls` (certificate refused, with "
            "OpenSSL's reason; or no client certificate where one is required).\n\n"
            "## Redis Sentinel with TLS and AUTH\n\n"
            "With `redis.sentinels`, each (re)connect first asks a sentinel for the master. "
            "The sentinels speak TLS when `redis.sentinel_tls` says so (by default as "
            "`redis.tls`), with the same CA, client certificate and checks; each sentinel's "
            "certificate must name the host given in `redis.sentinels` (or "
            "`redis.tls_server_name`). Sentinels with `requirepass` (or an ACL user) get "
            "`AUTH` with `redis.sentinel_password` (and `redis.sentinel_user`): their own "
            "secret, not the data nodes' `redis.password`.\n\n"
            "```yaml\n"
            "redis.sentinels: sentinel-0.example:26379,sentinel-1.example:26379,"
            "sentinel-2.example:26379\n"
            "redis.sentinel_master: vigil\n"
            "redis.sentinel_password_file: /etc/vigil/redis/sentinel-password\n"
            "redis.tls: true                 # data nodes and, by default, sentinels\n"
            "redis.tls_ca_file: /etc/vigil/redis/ca.pem\n"
            "redis.user: vigil\n"
            "redis.password_file: /etc/vigil/redis/password\n"
            "```\n\n"
            "A sentinel refusing `AUTH` is named `auth` (the line names "
            "`redis.sentinel_password`), a TLS failure to a sentinel `tls`, `plain_port` or "
            "`tls_port` with the sentinel's address; when every sentinel fails, such a "
            "refusal is named before a sentinel down (`sentinel`).\n\n"
            "## Redis ACL\n\n"
            "The worker needs one user with these commands and the key pattern of "
            "`redis.key_prefix` (`vigil` here), nothing else; the default user can be off. "
            "Integration test 0060 runs a worker as exactly this user:\n\n"
            "```\n"
            "user default off\n"
            "user vigil on >PASSWORD resetkeys ~vigil:* resetchannels %s\n"
            "```\n\n"
            "`+hmget` and `+hget` read customer states stored as hashes by builds before "
            "states became strings (the upgrade path); `+hset` and `+pexpire` are sent only "
            "by those builds, and let both run as this user during a rolling upgrade "
            "(docs/decisions.md, \"A customer's state is one Redis string\").\n\n"
            "A command or key the user may not use is named `noperm`.\n",
            VG_REDIS_ACL_COMMANDS);
}

void vg_config_derive_worker_id(vg_config_t *cfg) {
    char host[64] = "worker";

    if (cfg->worker_id[0])
        return;
    gethostname(host, sizeof(host) - 1);
    snprintf(cfg->worker_id, sizeof(cfg->worker_id), "%s-%d", host, (int)getpid());
}

void vg_config_redis(const vg_config_t *cfg, vg_redis_conf_t *rc) {
    memset(rc, 0, sizeof(*rc));
    rc->host = cfg->redis_host;
    rc->port = (int)cfg->redis_port;
    rc->user = cfg->redis_user[0] ? cfg->redis_user : NULL;
    rc->password = cfg->redis_password[0] ? cfg->redis_password : NULL;
    rc->db = (int)cfg->redis_db;
    rc->timeout_ms = (int)cfg->redis_timeout_ms;
    rc->key_prefix = cfg->redis_key_prefix;
    rc->tls.enabled = cfg->redis_tls == 1;
    rc->tls.ca_file = cfg->redis_tls_ca_file;
    rc->tls.ca_dir = cfg->redis_tls_ca_dir;
    rc->tls.cert_file = cfg->redis_tls_cert_file;
    rc->tls.key_file = cfg->redis_tls_key_file;
    rc->tls.server_name = cfg->redis_tls_server_name;
    rc->tls.skip_hostname = cfg->redis_tls_verify_hostname == 0;
    rc->mode = cfg->redis_mode == VG_REDIS_MODE_CLUSTER ? VG_REDIS_MODE_CLUSTER
               : cfg->redis_mode == VG_REDIS_MODE_SENTINEL || cfg->redis_sentinels[0]
                   ? VG_REDIS_MODE_SENTINEL
                   : VG_REDIS_MODE_STANDALONE;
    rc->cluster_nodes = cfg->redis_cluster_nodes;
    rc->sentinels = cfg->redis_sentinels;
    rc->master_name = cfg->redis_sentinel_master;
    rc->sentinel_user = cfg->redis_sentinel_user[0] ? cfg->redis_sentinel_user : NULL;
    rc->sentinel_password =
        cfg->redis_sentinel_password[0] ? cfg->redis_sentinel_password : NULL;
    /* "same": sentinels deployed like their data nodes, the usual case. */
    rc->sentinel_tls =
        cfg->redis_sentinel_tls == 2 ? rc->tls.enabled : cfg->redis_sentinel_tls == 1;
    rc->min_replicas_acked = (int)cfg->redis_min_replicas_acked;
    rc->wait_timeout_ms = (int)cfg->redis_wait_timeout_ms;
}
