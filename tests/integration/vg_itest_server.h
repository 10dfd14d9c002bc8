/*
 * vg_itest_server.h - which Redis-protocol server the tests start by
 * themselves: VIGIL_REDIS_SERVER (the Valkey pass of ops/test.sh sets
 * valkey-server), else redis-server. ops/stack/redis.sh reads the same.
 */
#ifndef VG_ITEST_SERVER_H
#define VG_ITEST_SERVER_H

#include <stdlib.h>

static inline const char *vg_itest_redis_server(void) {
    const char *s = getenv("VIGIL_REDIS_SERVER");

    return s && *s ? s : "redis-server";
}

#endif
