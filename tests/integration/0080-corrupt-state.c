/*
 * 0080-corrupt-state: a customer's state in Redis that does not decode is
 * bad input too (docs/security.md). Eight states are overwritten behind
 * the worker's back: five keep their "<version>\n" header but hold bytes
 * that are not a CustomerState, three have no valid header (none, version
 * 0, a version with a leading zero). The customers' next events must
 * neither crash the worker nor stall their partitions: each such state is
 * reported (a log line naming the pseudonymised key, never the customer
 * id) and reset, and everything is committed. The reset of a state
 * without a header is stored too: the store's script reads such a value
 * as version 0, as the loader does.
 *
 * It is also the scan of the personal-data promise: no customer id
 * appears anywhere in the worker's log, nor in the bytes of the states it
 * stored (the latest event, kept for explain, is sealed).
 *
 *   0080-corrupt-state [records per phase]
 */
#define _GNU_SOURCE /* memmem */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_itest.h"
#include "vg_keys.h"
#include "vg_pseudo.h"
#include "vg_redis.h"
#include "vg_state.h"

#define VG_CORRUPT 8
/* The first VG_HEADED keep their version header. */
#define VG_HEADED 5

int main(int argc, char **argv) {
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    static const char *const garbage[VG_CORRUPT] = {
        "garbage-state", "x",        "\x0a\x7f", "not a protobuf at all", "\x08\x80\x80\x80",
        "garbage-state", "0\nx", "007\n\x08\x01"};
    const char *sets[] = {"delivery.mode=exactly_once", "shutdown.drain_timeout_ms=10000", NULL};
    char keys[VG_CORRUPT][VG_KEYS_MAX], cust[VG_CORRUPT][32], err[512], log[1200], cmd[1200];
    const char *kp[VG_CORRUPT];
    vg_redis_state_t loaded[VG_CORRUPT];
    vg_redis_conf_t rc = {0};
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    vg_pseudo_t *ps;
    vg_redis_t *r = NULL;
    vg_state_t *st = malloc(sizeof(*st));
    size_t readable = 0;
    int failures = 0, rcode;
    pid_t w;

    if (vg_itest_init(&t, "corrupt-state"))
        return VG_ITEST_SKIP;
    snprintf(log, sizeof(log), "%s/%s-w1.log", t.stack_dir, t.name);
    vg_itest_create_topics(&t, 4, 1);
    {
        vg_itest_traffic_t tr = {80, 100, 2 * count, 0, 0.3, 0.0};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }
    w = vg_itest_worker_start(&t, "w1", sets);
    vg_itest_produce(&t, gen, count, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: phase 1 not committed\n");
        failures++;
    }

    /* Overwrite eight customers' states while the worker is stopped: a
     * running worker keeps the states it wrote in its cache
     * (state.cache_mb) and would not read them back; a worker that starts
     * reads them from Redis. The first five keep their versions. */
    rcode = vg_itest_worker_stop(w, SIGTERM, 30000);
    if (rcode != 0) {
        fprintf(stderr, "FAIL: worker exit %d before the overwrite\n", rcode);
        failures++;
    }
    ps = vg_pseudo_new(VG_ITEST_PSEUDONYM_KEY, strlen(VG_ITEST_PSEUDONYM_KEY), err, sizeof(err));
    for (int i = 0; ps && i < VG_CORRUPT; i++) {
        snprintf(cust[i], sizeof(cust[i]), "cust-%06d", i);
        vg_itest_state_key(&t, ps, "acme", cust[i], keys[i], sizeof(keys[i]));
        kp[i] = keys[i];
    }
    rc.host = t.redis_host;
    rc.port = t.redis_port;
    if (!ps || !(r = vg_redis_new(&rc, NULL, err, sizeof(err))) ||
        vg_redis_load(r, kp, VG_CORRUPT, loaded, err, sizeof(err))) {
        fprintf(stderr, "FAIL: could not read the states to overwrite: %s\n", err);
        return 1;
    }
    for (int i = 0; i < VG_CORRUPT; i++) {
        char header[32] = "";
        FILE *p;
        if (!loaded[i].found) {
            fprintf(stderr, "FAIL: %s has no state after phase 1\n", cust[i]);
            failures++;
        }
        if (i < VG_HEADED)
            snprintf(header, sizeof(header), "%llu\n", (unsigned long long)loaded[i].version);
        /* redis-cli -x reads the last argument from standard input: any
         * bytes, as they are. */
        snprintf(cmd, sizeof(cmd), "redis-cli -h %s -p %d -x SET '%.400s' >/dev/null", t.redis_host,
                 t.redis_port, keys[i]);
        if (!(p = popen(cmd, "w")) || fwrite(header, 1, strlen(header), p) != strlen(header) ||
            fwrite(garbage[i], 1, strlen(garbage[i]), p) == 0 || pclose(p) != 0) {
            fprintf(stderr, "FAIL: could not overwrite the state of %s\n", cust[i]);
            failures++;
        }
    }
    printf("overwrote %d states: %d with bytes that are not a CustomerState under their "
           "version, %d without a valid version header\n", VG_CORRUPT, VG_HEADED,
           VG_CORRUPT - VG_HEADED);

    /* Their next events: reported, reset, nothing stalls. */
    w = vg_itest_worker_start(&t, "w1", sets);
    vg_itest_produce(&t, gen, count, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: phase 2 not committed: a corrupt state stalled a partition\n");
        failures++;
    }
    if (kill(w, 0) != 0) {
        fprintf(stderr, "FAIL: the worker died\n");
        failures++;
    }
    for (int i = 0; i < VG_CORRUPT; i++) {
        char line[1200];
        snprintf(line, sizeof(line), "state %.*s unreadable, reset", 190, keys[i]);
        if (vg_itest_file_count(log, line) == 0) {
            fprintf(stderr, "FAIL: no \"%s\" line\n", line);
            failures++;
        }
        /* The adapter says why, with the key, for a value without a header. */
        snprintf(line, sizeof(line), "state %.*s: a value of", 190, keys[i]);
        if ((vg_itest_file_count(log, line) != 0) != (i >= VG_HEADED)) {
            fprintf(stderr, "FAIL: %s \"%s\" line\n", i >= VG_HEADED ? "no" : "an unexpected",
                    line);
            failures++;
        }
    }
    /* Rewritten whole by the customers' next events. */
    if (vg_redis_load(r, kp, VG_CORRUPT, loaded, err, sizeof(err)) == VG_OK) {
        for (int i = 0; i < VG_CORRUPT; i++)
            readable += loaded[i].found && vg_state_decode(st, loaded[i].data, loaded[i].len,
                                                           NULL, 0) == VG_OK;
    }
    printf("after phase 2: %zu of %d overwritten states readable again; %zu \"unreadable, "
           "reset\" lines\n", readable, VG_CORRUPT, vg_itest_file_count(log, "unreadable, reset"));
    if (readable != VG_CORRUPT) {
        fprintf(stderr, "FAIL: %zu of %d states rewritten\n", readable, VG_CORRUPT);
        failures++;
    }
    /* The states of ten untouched customers: no clear id in their bytes. */
    if (r && ps) {
        char k2[10][VG_KEYS_MAX], ids[10][32];
        const char *kp2[10];
        vg_redis_state_t l2[10];
        size_t present = 0, clear = 0;
        for (int i = 0; i < 10; i++) {
            snprintf(ids[i], sizeof(ids[i]), "cust-%06d", 10 + i);
            vg_itest_state_key(&t, ps, "acme", ids[i], k2[i], sizeof(k2[i]));
            kp2[i] = k2[i];
        }
        if (vg_redis_load(r, kp2, 10, l2, err, sizeof(err)) == VG_OK) {
            for (int i = 0; i < 10; i++) {
                present += l2[i].found;
                clear += l2[i].found && memmem(l2[i].data, l2[i].len, ids[i], strlen(ids[i]));
            }
        }
        printf("state scan: %zu states read, %zu with the customer id in clear\n", present, clear);
        if (present == 0 || clear) {
            fprintf(stderr, "FAIL: stored states hold customer ids in clear (%zu of %zu)\n", clear,
                    present);
            failures++;
        }
    }
    vg_redis_destroy(r);
    vg_pseudo_destroy(ps);

    rcode = vg_itest_worker_stop(w, SIGTERM, 30000);
    if (rcode != 0) {
        fprintf(stderr, "FAIL: worker exit %d\n", rcode);
        failures++;
    }
    /* No customer id anywhere in the log (ids are cust-NNNNNN). */
    {
        size_t clear = vg_itest_file_count(log, "cust-");
        printf("log scan: %zu lines with a customer id\n", clear);
        if (clear) {
            fprintf(stderr, "FAIL: the worker's log holds customer ids in clear\n");
            failures++;
        }
    }
    free(st);
    vg_idset_free(&want);
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
