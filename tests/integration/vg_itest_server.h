/*
 * vg_itest_server.h - which Redis-protocol server the tests start by
 * themselves: VIGIL_REDIS_SERVER (the Valkey pass of ops/test.sh sets
 * valkey-server), else redis-server. ops/stack/redis.sh reads the same.
 */
#ifndef VG_ITEST_SERVER_H
#define VG_ITEST_SERVER_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

#endif
