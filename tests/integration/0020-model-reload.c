/*
 * 0020-model-reload: SIGHUP swaps the model of a running worker between
 * batches, under traffic, against the real Kafka and Redis.
 *
 * Phase 1 runs model version reload-A; the model file is rewritten as
 * reload-B and the worker gets SIGHUP; phase 2 runs under reload-B. Then
 * a broken model file and another SIGHUP: refused with its line, the
 * worker keeps running. Asserts: the trigger ids are exactly the oracle's
 * (no event dropped, none scored twice, no duplicate); every trigger of
 * phase 2, and only those, names reload-B in its lineage.
 *
 *   0020-model-reload [records per phase]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vg_itest.h"

/* The default model under another version. */
static void write_model(const char *path, const char *version) {
    const char *text = vg_model_default_text(), *v = strstr(text, "version:");
    const char *eol = v ? strchr(v, '\n') : NULL;
    FILE *f = fopen(path, "w");

    if (!f || !v || !eol) {
        fprintf(stderr, "FAIL: cannot write %s\n", path);
        exit(1);
    }
    fprintf(f, "%.*sversion: \"%s\"%s", (int)(v - text), text, version, eol);
    fclose(f);
}

int main(int argc, char **argv) {
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 8000;
    vg_itest_t t;
    vg_gen_t *gen;
    vg_oracle_t *oracle;
    vg_idset_t want = {0}, want_b = {0}, got = {0}, got_b = {0};
    vg_itest_produced_t p1, p2;
    size_t dups, missing, extra, missing_b, extra_b;
    char path[1200], log[1200], model_set[1300];
    const char *sets[] = {"delivery.mode=exactly_once", "batch.max_events=200", model_set, NULL};
    pid_t w;
    int rc, failures = 0;
    FILE *bad;

    if (vg_itest_init(&t, "reload"))
        return VG_ITEST_SKIP;
    vg_itest_create_topics(&t, 4, 1);
    snprintf(path, sizeof(path), "%s/model-%s.yaml", t.stack_dir, t.suffix);
    snprintf(log, sizeof(log), "%s/%s-w1.log", t.stack_dir, t.name);
    snprintf(model_set, sizeof(model_set), "model.file=%s", path);
    write_model(path, "reload-A");

    /* Same scoring in both versions: the oracle needs one model. */
    {
        vg_itest_traffic_t tr = {7, 1000, 2 * count, 100, 0.10, 0.002};
        if (vg_itest_traffic(&tr, &gen, &oracle))
            return 1;
    }
    w = vg_itest_worker_start(&t, "w1", sets);

    vg_itest_produce(&t, gen, count, oracle, &want, &p1);
    if (!vg_itest_wait_committed(&t, 180000)) {
        fprintf(stderr, "FAIL: phase 1 not committed in time\n");
        return 1;
    }
    write_model(path, "reload-B");
    kill(w, SIGHUP);
    if (!vg_itest_wait_log(log, "version reload-B", 30000)) {
        fprintf(stderr, "FAIL: the worker did not report the reload (%s)\n", log);
        return 1;
    }
    vg_itest_produce(&t, gen, count, oracle, &want_b, &p2);
    if (!vg_itest_wait_committed(&t, 180000)) {
        fprintf(stderr, "FAIL: phase 2 not committed in time\n");
        return 1;
    }
    printf("phase 1: %zu records, %zu triggers; phase 2: %zu records, %zu triggers (oracle)\n",
           p1.records, p1.expected_triggers, p2.records, p2.expected_triggers);
    if (p1.expected_triggers < 10 || p2.expected_triggers < 10) {
        fprintf(stderr, "FAIL: each phase must fire triggers to prove anything\n");
        failures++;
    }

    /* A broken model is refused; the worker keeps running reload-B. */
    bad = fopen(path, "w");
    fprintf(bad, "id: broken\nversion: \"x\"\nsignals:\n  a: { event_type: [x }\n");
    fclose(bad);
    kill(w, SIGHUP);
    if (!vg_itest_wait_log(log, "SIGHUP: refused", 30000) ||
        !vg_itest_wait_log(log, ":4:", 1000)) {
        fprintf(stderr, "FAIL: a broken model was not refused with its line\n");
        failures++;
    }
    if (kill(w, 0) != 0) {
        fprintf(stderr, "FAIL: the worker died on a broken model\n");
        failures++;
    }

    for (size_t i = 0; i < want_b.n; i++)
        vg_idset_add(&want, want_b.ids[i]);
    vg_itest_read_triggers_of(&t, &got, want.n, 2000, 60000, "reload-B", &got_b);
    vg_idset_dedupe(&want);
    vg_idset_dedupe(&want_b);
    dups = vg_idset_dedupe(&got);
    vg_idset_dedupe(&got_b);
    vg_idset_diff(&want, &got, &missing, &extra);
    vg_idset_diff(&want_b, &got_b, &missing_b, &extra_b);
    printf("triggers: expected %zu, published %zu distinct, %zu duplicates, %zu missing, %zu "
           "extra\n", want.n, got.n, dups, missing, extra);
    printf("under reload-B: expected %zu, got %zu (%zu missing, %zu from phase 1)\n", want_b.n,
           got_b.n, missing_b, extra_b);
    if (missing || extra || dups) {
        fprintf(stderr, "FAIL: the reload dropped or double-scored events\n");
        failures++;
    }
    if (missing_b || extra_b) {
        fprintf(stderr, "FAIL: the model swap is not at the phase boundary\n");
        failures++;
    }
    rc = vg_itest_worker_stop(w, SIGTERM, 30000);
    if (rc != 0) {
        fprintf(stderr, "FAIL: worker exit %d on SIGTERM\n", rc);
        failures++;
    }
    vg_idset_free(&want);
    vg_idset_free(&want_b);
    vg_idset_free(&got);
    vg_idset_free(&got_b);
    vg_oracle_destroy(oracle);
    vg_gen_destroy(gen);
    printf(failures ? "FAILED\n" : "PASSED\n");
    return failures ? 1 : 0;
}
