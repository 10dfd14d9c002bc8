/*
 * vg_itest_server.h - which Redis-protocol server the tests start by
 * themselves: VIGIL_REDIS_SERVER (the Valkey pass of ops/test.sh sets
 * valkey-server), else redis-server. ops/stack/redis.sh reads the same.
 */
#ifndef VG_ITEST_SERVER_H
#define VG_ITEST_SERVER_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "vg_itest.h"

static inline const char *vg_itest_redis_server(void) {
    const char *s = getenv("VIGIL_REDIS_SERVER");

    return s && *s ? s : "redis-server";
}

/* In the child, before exec: a data folder of its own (base/name, made
 * if missing, its old dump.rdb removed) as the working directory, which a
 * server without --dir writes to and loads from (a replica saves the
 * master's snapshot there). Without it, servers started in the build
 * tree would load each other's snapshots, of another server's format. */
static inline void vg_itest_server_dir(const char *base, const char *name) {
    char path[1200], rdb[1300];

    snprintf(path, sizeof(path), "%s/%s", base, name);
    mkdir(path, 0755);
    snprintf(rdb, sizeof(rdb), "%s/dump.rdb", path);
    unlink(rdb);
    if (chdir(path) != 0)
        _exit(126);
}

/* Servers a test starts by itself (Sentinel setups): the server binary
 * with conf, as a sentinel or not, in a data folder of its own under
 * base, its output appended to log. */
static inline pid_t vg_itest_spawn_redis(const char *base, const char *name, const char *conf,
                                         bool sentinel, const char *log) {
    pid_t pid = fork();

    if (pid == 0) {
        const char *srv = vg_itest_redis_server();
        vg_itest_server_dir(base, name);
        FILE *f = freopen(log, "a", stdout);
        (void)f;
        dup2(1, 2);
        if (sentinel)
            execlp(srv, srv, conf, "--sentinel", (char *)NULL);
        else
            execlp(srv, srv, conf, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* What redis-cli prints for args, into out; opts are redis-cli's options
 * to reach the server, e.g. TLS files and a password (NULL: plain text,
 * no AUTH; passwords need --no-auth-warning, or the warning is printed
 * first). */
static inline void vg_itest_cli_with(const char *opts, int port, const char *args, char *out,
                                     size_t size) {
    char cmd[4096];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "redis-cli %s -h 127.0.0.1 -p %d %s 2>&1", opts ? opts : "",
             port, args);
    out[0] = '\0';
    if ((p = popen(cmd, "r"))) {
        size_t n = fread(out, 1, size - 1, p);
        out[n] = '\0';
        pclose(p);
    }
}

static inline void vg_itest_cli(int port, const char *args, char *out, size_t size) {
    vg_itest_cli_with(NULL, port, args, out, size);
}

/* Wait until redis-cli opts args on port prints text, up to timeout_ms. */
static inline bool vg_itest_cli_wait_with(const char *opts, int port, const char *args,
                                          const char *text, int timeout_ms) {
    long long deadline = vg_itest_now_ms() + timeout_ms;
    char out[4096];

    do {
        vg_itest_cli_with(opts, port, args, out, sizeof(out));
        if (strstr(out, text))
            return true;
        usleep(100 * 1000); /* paces the asking; the condition is the reply */
    } while (vg_itest_now_ms() < deadline);
    return false;
}

static inline bool vg_itest_cli_wait(int port, const char *args, const char *text,
                                     int timeout_ms) {
    return vg_itest_cli_wait_with(NULL, port, args, text, timeout_ms);
}

static inline void vg_itest_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");

    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

#endif
