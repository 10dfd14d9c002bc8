/* The configuration table: defaults, ranges, file errors with the line at
 * fault, environment overrides, secrets from files, never printed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_config.h"
#include "vg_redis.h"

static const char *write_tmp(const char *text) {
    static char path[64];
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/vg-config-%d.yaml", (int)getpid());
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

Test(config, defaults) {
    vg_config_t c;

    vg_config_defaults(&c);
    cr_expect_str_eq(c.topic_events, "vigil.events");
    cr_expect_eq(c.batch_max_events, 1000);
    cr_expect_eq(c.delivery, VG_DELIVERY_EXACTLY_ONCE);
    cr_expect_eq(c.redis_port, 6379);
}

typedef struct set_case_s {
    const char *key, *value;
    bool ok;
    const char *want;
} set_case_t;

Test(config, set_table) {
    static const set_case_t cases[] = {
        {"redis.port", "6380", true, NULL},
        {"redis.port", "0", false, "out of range"},
        {"redis.port", "70000", false, "out of range"},
        {"redis.port", "12ab", false, "not an integer"},
        {"batch.max_events", "4097", false, "out of range"},
        {"delivery.mode", "at_least_once", true, NULL},
        {"delivery.mode", "maybe_once", false, "not one of"},
        {"kafka.bootstrap.servers", "127.0.0.1:9092", true, NULL},
        {"no.such.key", "1", false, "unknown setting"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vg_config_t c;
        char err[256] = "";
        vg_config_defaults(&c);
        vg_err_t e = vg_config_set(&c, cases[i].key, cases[i].value, "test", err, sizeof(err));
        cr_expect_eq(e == VG_OK, cases[i].ok, "%s=%s: %s", cases[i].key, cases[i].value, err);
        if (cases[i].want)
            cr_expect(strstr(err, cases[i].want) && strstr(err, cases[i].key), "%s", err);
    }
}

Test(config, file_error_names_the_line) {
    vg_config_t c;
    char err[512] = "";
    const char *path = write_tmp("group.id: g1\nredis.port: 6380\nbatch.max_events: 0\n");

    vg_config_defaults(&c);
    cr_assert_eq(vg_config_load_file(&c, path, err, sizeof(err)), VG_ERR_CONFIG);
    cr_expect(strstr(err, ":3:") || strstr(err, ":3 "), "line 3 expected in: %s", err);
    cr_expect(strstr(err, "batch.max_events"), "%s", err);
    unlink(path);
}

Test(config, file_and_env) {
    vg_config_t c;
    char err[512] = "";
    const char *path = write_tmp("group.id: g1\nkafka.bootstrap.servers: a:1\nredis.port: 6380\n");
    char *env[] = {"VIGIL_REDIS_PORT=6390", "VIGIL_KAFKA__SOCKET_TIMEOUT_MS=5000", "HOME=/x",
                   "VIGIL_STACK_ENV=/ignored", NULL};

    vg_config_defaults(&c);
    cr_assert_eq(vg_config_load_file(&c, path, err, sizeof(err)), VG_OK, "%s", err);
    cr_assert_eq(vg_config_load_env(&c, env, err, sizeof(err)), VG_OK, "%s", err);
    cr_expect_str_eq(c.group_id, "g1");
    cr_expect_eq(c.redis_port, 6390);
    cr_assert_eq(c.n_kafka, 2);
    cr_expect_str_eq(c.kafka_keys[1], "socket.timeout.ms");
    cr_expect_eq(vg_config_validate(&c, err, sizeof(err)), VG_OK, "%s", err);
    unlink(path);
}

Test(config, secret_from_file_never_printed) {
    vg_config_t c;
    char err[256] = "", out[4096] = "";
    const char *path = write_tmp("s3cr3t-redis-password\n");
    FILE *f;

    vg_config_defaults(&c);
    cr_assert_eq(vg_config_set(&c, "redis.password_file", path, "test", err, sizeof(err)), VG_OK,
                 "%s", err);
    cr_expect_str_eq(c.redis_password, "s3cr3t-redis-password");
    f = fmemopen(out, sizeof(out) - 1, "w");
    vg_config_dump(&c, f);
    fclose(f);
    cr_expect(strstr(out, "s3cr3t") == NULL);
    cr_expect(strstr(out, "redis.password = (set)") != NULL);
    unlink(path);
}

/* The sentinels' own secret and TLS: the password from a file (also
 * VIGIL_REDIS_SENTINEL_PASSWORD_FILE), never printed; TLS to them by
 * default as to the data nodes (same), or set apart. */
Test(config, sentinel_auth_and_tls) {
    static const struct {
        const char *redis_tls, *sentinel_tls;
        bool want;
    } tls[] = {
        {"false", "same", false}, {"true", "same", true},  {"true", "false", false},
        {"false", "true", true},  {"true", "true", true},
    };
    vg_config_t c;
    vg_redis_conf_t rc;
    char err[256] = "", out[4096] = "", env_file[128];
    const char *path = write_tmp("s3cr3t-sentinel\n");
    char *env[] = {env_file, "VIGIL_REDIS_SENTINEL_USER=watcher", NULL};
    FILE *f;

    snprintf(env_file, sizeof(env_file), "VIGIL_REDIS_SENTINEL_PASSWORD_FILE=%s", path);
    vg_config_defaults(&c);
    cr_expect_eq(c.redis_sentinel_tls, 2, "default: same as redis.tls");
    cr_assert_eq(vg_config_load_env(&c, env, err, sizeof(err)), VG_OK, "%s", err);
    cr_expect_str_eq(c.redis_sentinel_password, "s3cr3t-sentinel");
    cr_expect_str_eq(c.redis_sentinel_user, "watcher");
    f = fmemopen(out, sizeof(out) - 1, "w");
    vg_config_dump(&c, f);
    fclose(f);
    cr_expect(strstr(out, "s3cr3t") == NULL);
    cr_expect(strstr(out, "redis.sentinel_password = (set)") != NULL);
    vg_config_redis(&c, &rc);
    cr_expect_str_eq(rc.sentinel_password, "s3cr3t-sentinel");
    cr_expect_str_eq(rc.sentinel_user, "watcher");
    cr_expect_null(rc.password, "the data nodes' password stays apart");
    for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++) {
        cr_assert_eq(vg_config_set(&c, "redis.tls", tls[i].redis_tls, "t", err, sizeof(err)),
                     VG_OK);
        cr_assert_eq(vg_config_set(&c, "redis.sentinel_tls", tls[i].sentinel_tls, "t", err,
                                   sizeof(err)),
                     VG_OK, "%s", err);
        vg_config_redis(&c, &rc);
        cr_expect_eq(rc.sentinel_tls, tls[i].want, "redis.tls=%s redis.sentinel_tls=%s",
                     tls[i].redis_tls, tls[i].sentinel_tls);
    }
    cr_expect_neq(vg_config_set(&c, "redis.sentinel_tls", "yes", "t", err, sizeof(err)), VG_OK);
    cr_expect(strstr(err, "false|true|same"), "%s", err);
    unlink(path);
}

Test(config, nested_yaml_refused) {
    vg_config_t c;
    char err[512] = "";
    const char *path = write_tmp("redis:\n  port: 1\n");

    vg_config_defaults(&c);
    cr_expect_eq(vg_config_load_file(&c, path, err, sizeof(err)), VG_ERR_CONFIG);
    cr_expect(strstr(err, ":2"), "%s", err);
    unlink(path);
}

Test(config, missing_bootstrap_refused) {
    vg_config_t c;
    char err[256] = "";

    vg_config_defaults(&c);
    cr_expect_eq(vg_config_validate(&c, err, sizeof(err)), VG_ERR_CONFIG);
    cr_expect(strstr(err, "bootstrap.servers"), "%s", err);
}

/* librdkafka secrets from a file too (a Kubernetes Secret mounted as a
 * file): kafka.<property>_file; shown as (set), never in clear. */
Test(config, kafka_secret_from_file) {
    vg_config_t c;
    char err[256], *buf = NULL;
    size_t len = 0;
    const char *path = write_tmp("s3cr3t-sasl\n");
    FILE *out;

    vg_config_defaults(&c);
    cr_assert_eq(vg_config_set(&c, "kafka.sasl.password_file", path, "test", err, sizeof(err)),
                 VG_OK, "%s", err);
    cr_assert_eq(c.n_kafka, 1);
    cr_expect_str_eq(c.kafka_keys[0], "sasl.password");
    cr_expect_str_eq(c.kafka_vals[0], "s3cr3t-sasl", "the first line, without its newline");
    out = open_memstream(&buf, &len);
    vg_config_dump(&c, out);
    fclose(out);
    cr_expect(strstr(buf, "s3cr3t") == NULL, "never printed: %s", buf);
    free(buf);
    cr_expect_neq(vg_config_set(&c, "kafka.sasl.password_file", "/nonexistent", "test", err,
                                sizeof(err)),
                  VG_OK);
    cr_expect(strstr(err, "/nonexistent") != NULL, "%s", err);
    unlink(path);
}
