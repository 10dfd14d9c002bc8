/*
 * vg_config.h - the worker's configuration: one table (vg_config.c,
 * vg_config_table[]) of name, type, range, default and one line of doc.
 *
 * Sources, later wins: defaults, the YAML file (a flat mapping of
 * "name: value"), environment variables (VIGIL_ + the name upper-cased
 * with '.' as '_', e.g. VIGIL_REDIS_PORT), then explicit --set overrides.
 * Keys "kafka.<property>" pass through to librdkafka (environment:
 * VIGIL_KAFKA__<PROPERTY> with '_' for '.'; e.g.
 * VIGIL_KAFKA__BOOTSTRAP_SERVERS).
 *
 * Secrets (type secret) are never printed: vg_config_dump() shows
 * "(set)" for them. Each secret X also accepts X_file, read from a file.
 */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vg_err.h"

#define VG_CONFIG_KAFKA_MAX 48
/* The largest batch.max_events: the Redis round trip of a batch carries
 * its customers and up to 256 more woken by deadlines (vg_pipeline.c
 * checks the sum against VG_REDIS_PIPE_MAX at compile time). */
#define VG_CONFIG_BATCH_MAX 3840

typedef enum vg_delivery_e { VG_DELIVERY_AT_LEAST_ONCE = 0, VG_DELIVERY_EXACTLY_ONCE = 1 } vg_delivery_t;

typedef struct vg_config_s {
    char worker_id[128];
    char group_id[128];
    char topic_events[256];
    char topic_triggers[256];
    char topic_dead_letter[256];
    int delivery;                 /* vg_delivery_t */
    char transactional_id_prefix[128];
    int64_t batch_max_events;
    int64_t batch_max_wait_ms;
    int64_t txn_timeout_ms;
    int64_t commit_interval_ms;
    int64_t commit_min_interval_ms;
    int redis_mode;                /* vg_redis_mode_t: standalone, sentinel, cluster */
    char redis_cluster_nodes[1024];
    char redis_host[256];
    int64_t redis_port;
    char redis_user[128];
    char redis_password[256];
    int64_t redis_db;
    int64_t redis_timeout_ms;
    char redis_key_prefix[64];
    int redis_tls;                 /* 0 false, 1 true */
    char redis_tls_ca_file[1024];
    char redis_tls_ca_dir[1024];
    char redis_tls_cert_file[1024];
    char redis_tls_key_file[1024];
    char redis_tls_server_name[256];
    int redis_tls_verify_hostname; /* 0 false, 1 true */
    char signing_keys_file[1024];
    char redis_sentinels[1024];
    char redis_sentinel_master[128];
    int redis_sentinel_tls;        /* 0 false, 1 true, 2 same as redis.tls */
    char redis_sentinel_user[128];
    char redis_sentinel_password[256];
    int64_t redis_min_replicas_acked;
    int64_t redis_wait_timeout_ms;
    int64_t state_ttl_s;
    int64_t state_cache_mb;
    char pseudonym_key[256];
    char log_level[16];
    int64_t http_port;
    char http_bind[64];
    char model_file[1024];
    int64_t drain_timeout_ms;
    int64_t event_max_future_ms;
    int64_t dead_letter_max_retries;
    int64_t stall_report_interval_ms;
    /* kafka.* pass-through, in order of appearance. */
    int n_kafka;
    char kafka_keys[VG_CONFIG_KAFKA_MAX][128];
    char kafka_vals[VG_CONFIG_KAFKA_MAX][512];
} vg_config_t;

/* Fill cfg with the table's defaults. */
void vg_config_defaults(vg_config_t *cfg);

/* Set one key from its text form, checked against the table. origin names
 * where the value came from, for the error ("file.yaml:12", "VIGIL_X"). */
vg_err_t vg_config_set(vg_config_t *cfg, const char *key, const char *value, const char *origin,
                       char *errstr, size_t errstr_size);

/* Load a YAML file (flat mapping); errors carry the file name and line. */
vg_err_t vg_config_load_file(vg_config_t *cfg, const char *path, char *errstr,
                             size_t errstr_size);

/* Apply VIGIL_* environment variables. */
vg_err_t vg_config_load_env(vg_config_t *cfg, char *const *envp, char *errstr, size_t errstr_size);

/* Cross-field checks after all sources are applied. */
vg_err_t vg_config_validate(const vg_config_t *cfg, char *errstr, size_t errstr_size);

/* Print "name = value" lines, secrets masked. */
void vg_config_dump(const vg_config_t *cfg, FILE *out);

/* True if a setting that SIGHUP cannot apply differs between a and b;
 * names gets their names, comma-separated. */
bool vg_config_differs_static(const vg_config_t *a, const vg_config_t *b, char *names,
                              size_t names_size);

/* Set worker.id to "<hostname>-<pid>" when it is not configured. */
void vg_config_derive_worker_id(vg_config_t *cfg);

/* Print the reference documentation (Markdown) generated from the table. */
void vg_config_doc(FILE *out);

/* The Redis adapter's settings from cfg (strings borrowed from cfg). */
struct vg_redis_conf_s;
void vg_config_redis(const vg_config_t *cfg, struct vg_redis_conf_s *rc);

#endif
