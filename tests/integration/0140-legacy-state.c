/*
 * 0140-legacy-state: states stored in the earlier layout, a hash
 * {v: version, s: bytes}, are read and carried on after the upgrade to
 * one string per customer, "<version>\n<bytes>" (docs/decisions.md, "A
 * customer's state is one Redis string"): no customer starts afresh.
 *
 * A worker stores the states of a first half of the records. Stopped,
 * every second customer's state is rewritten as the earlier layout's
 * hash, its version and bytes unchanged and no TTL. They read back equal
 * to the oracle's, mixed with strings in one load (the loader's second
 * round trip). A worker then takes the second half: the triggers (each
 * exactly once) and every stored state must equal the oracle's, as if
 * nothing had changed; each hash whose version moved (its customer's
 * events wrote it) is now a string with a TTL, and each one whose version
 * did not is still the hash.
 *
 *   0140-legacy-state [records per half]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vg_itest.h"
#include "vg_keys.h"
#include "vg_pseudo.h"
#include "vg_redis.h"

#define VG_CUSTOMERS 150
/* Every second customer's state becomes a hash. */
#define VG_LEGACY (VG_CUSTOMERS / 2)

/* The first line cmd prints, into out (without its newline). */
static void vg_sh_line(const char *cmd, char *out, size_t size) {
    FILE *p = popen(cmd, "r");

    out[0] = '\0';
    if (!p)
        return;
    if (fgets(out, (int)size, p))
        out[strcspn(out, "\n")] = '\0';
    while (fgetc(p) != EOF)
        ;
    pclose(p);
}

/* Rewrite key as the earlier layout's hash of st: DEL, HSET v, then
 * HSET s with the bytes from standard input (redis-cli -x: any bytes, as
 * they are). False if redis-cli failed. */
static bool vg_make_legacy(const vg_itest_t *t, const char *key, const vg_redis_state_t *st) {
    char cmd[1600];
    FILE *p;

    snprintf(cmd, sizeof(cmd),
             "redis-cli -h %s -p %d DEL '%.300s' >/dev/null && "
             "redis-cli -h %s -p %d HSET '%.300s' v %llu >/dev/null && "
             "redis-cli -h %s -p %d -x HSET '%.300s' s >/dev/null",
             t->redis_host, t->redis_port, key, t->redis_host, t->redis_port, key,
             (unsigned long long)st->version, t->redis_host, t->redis_port, key);
    if (!(p = popen(cmd, "w")))
        return false;
    if (st->len && fwrite(st->data, 1, st->len, p) != st->len) {
        pclose(p);
        return false;
    }
    return pclose(p) == 0;
}

int main(int argc, char **argv) {
    size_t half = argc > 1 ? strtoul(argv[1], NULL, 10) : 1500;
    const char *sets[] = {"delivery.mode=exactly_once", "shutdown.drain_timeout_ms=10000", NULL};
    static char keys[VG_LEGACY][VG_KEYS_MAX];
    const char *kp[VG_LEGACY];
    uint64_t before[VG_LEGACY];
    bool legacy[VG_LEGACY];
    vg_redis_state_t loaded[VG_LEGACY];
    vg_redis_conf_t rc = {0};
    char err[512], cmd[1200];
    size_t converted = 0, upgraded = 0, kept = 0, wrong = 0;
    int failures = 0, rcode;
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0};
    vg_itest_produced_t prod;
    vg_pseudo_t *ps;
    vg_redis_t *r;
    pid_t w;

    if (vg_itest_init(&t, "legacy-state"))
        return VG_ITEST_SKIP;
    vg_itest_create_topics(&t, 4, 1);
    {
        vg_itest_traffic_t tr = {140, VG_CUSTOMERS, 2 * half, 0, 0.3, 0.0};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }
    w = vg_itest_worker_start(&t, "w1", sets);
    vg_itest_produce(&t, gen, half, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: the first half was not committed\n");
        failures++;
    }
    /* Stopped: a running worker would use its cache, not read Redis. */
    if ((rcode = vg_itest_worker_stop(w, SIGTERM, 30000)) != 0) {
        fprintf(stderr, "FAIL: worker exit %d before the rewrite\n", rcode);
        failures++;
    }

    /* Every second customer's state as a hash of the earlier layout. */
    ps = vg_pseudo_new(VG_ITEST_PSEUDONYM_KEY, strlen(VG_ITEST_PSEUDONYM_KEY), err, sizeof(err));
    rc.host = t.redis_host;
    rc.port = t.redis_port;
    rc.timeout_ms = 10000;
    if (!ps || !(r = vg_redis_new(&rc, NULL, err, sizeof(err)))) {
        fprintf(stderr, "FAIL: %s\n", err);
        return 1;
    }
    for (int i = 0; i < VG_LEGACY; i++) {
        char id[32];
        snprintf(id, sizeof(id), "cust-%06d", 2 * i);
        vg_itest_state_key(&t, ps, "acme", id, keys[i], sizeof(keys[i]));
        kp[i] = keys[i];
    }
    if (vg_redis_load(r, kp, VG_LEGACY, loaded, err, sizeof(err))) {
        fprintf(stderr, "FAIL: load before the rewrite: %s\n", err);
        return 1;
    }
    for (int i = 0; i < VG_LEGACY; i++) {
        before[i] = loaded[i].version;
        legacy[i] = loaded[i].found && vg_make_legacy(&t, keys[i], &loaded[i]);
        converted += legacy[i];
    }
    printf("rewrote %zu of %d states as hashes {v, s} of the earlier layout\n", converted,
           VG_LEGACY);
    if (converted == 0) {
        fprintf(stderr, "FAIL: no state rewritten as a hash\n");
        failures++;
    }
    failures += vg_itest_check_states(&t, oracle, VG_CUSTOMERS, "read back, half of them hashes");

    /* The upgraded worker takes the second half. */
    w = vg_itest_worker_start(&t, "w1", sets);
    vg_itest_produce(&t, gen, half, oracle, &want, &prod);
    if (!vg_itest_wait_committed(&t, 120000)) {
        fprintf(stderr, "FAIL: the second half was not committed (a hash stalled a partition?)\n");
        failures++;
    }
    failures += vg_itest_check_triggers(&t, &want, false);
    if ((rcode = vg_itest_worker_stop(w, SIGTERM, 30000)) != 0) {
        fprintf(stderr, "FAIL: worker exit %d\n", rcode);
        failures++;
    }
    failures += vg_itest_check_states(&t, oracle, VG_CUSTOMERS, "after the second half");

    /* A hash written since is a string with a TTL; one not written is as it was. */
    if (vg_redis_load(r, kp, VG_LEGACY, loaded, err, sizeof(err))) {
        fprintf(stderr, "FAIL: load after the second half: %s\n", err);
        failures++;
    } else {
        for (int i = 0; i < VG_LEGACY; i++) {
            char type[32], pttl[32];
            bool written = loaded[i].found && loaded[i].version > before[i];
            if (!legacy[i])
                continue;
            snprintf(cmd, sizeof(cmd), "redis-cli -h %s -p %d TYPE '%.300s'", t.redis_host,
                     t.redis_port, keys[i]);
            vg_sh_line(cmd, type, sizeof(type));
            snprintf(cmd, sizeof(cmd), "redis-cli -h %s -p %d PTTL '%.300s'", t.redis_host,
                     t.redis_port, keys[i]);
            vg_sh_line(cmd, pttl, sizeof(pttl));
            if (written && !strcmp(type, "string") && strtoll(pttl, NULL, 10) > 0) {
                upgraded++;
            } else if (!written && !strcmp(type, "hash")) {
                kept++;
            } else {
                if (wrong++ < 5)
                    printf("key %s: version %llu -> %llu, type %s, pttl %s\n", keys[i],
                           (unsigned long long)before[i], (unsigned long long)loaded[i].version,
                           type, pttl);
            }
        }
    }
    printf("after the second half: %zu hashes now strings with a TTL, %zu still hashes (no "
           "event since), %zu otherwise\n", upgraded, kept, wrong);
    if (wrong || upgraded == 0) {
        fprintf(stderr, "FAIL: %zu hashes neither upgraded by their write nor left as they "
                        "were; %zu upgraded\n", wrong, upgraded);
        failures++;
    }
    vg_redis_destroy(r);
    vg_pseudo_destroy(ps);
    vg_idset_free(&want);
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
