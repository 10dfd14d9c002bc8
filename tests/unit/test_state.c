/* CustomerState codec and bounds. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "vg_state.h"

static vg_state_t a, b;
static uint8_t buf[1 << 16];

Test(state, empty_roundtrip) {
    size_t len = 0;

    vg_state_init(&a);
    cr_assert_eq(vg_state_encode(&a, buf, sizeof(buf), &len), VG_OK);
    cr_assert_eq(vg_state_decode(&b, buf, len, NULL, 0), VG_OK);
    cr_expect_eq(b.n_troubles, 0);
    cr_expect_eq(vg_state_applied(&b, 0), -1);
}

Test(state, full_state_fits_the_bound) {
    size_t len = 0;
    uint8_t trig[VG_TRIGGER_MAX_BYTES];
    bool ev;

    memset(trig, 0xab, sizeof(trig));
    vg_state_init(&a);
    for (int i = 0; i < VG_STATE_MAX_TROUBLES + 2; i++) {
        char kind[32];
        snprintf(kind, sizeof(kind), "kind-%d", i);
        vg_state_window_t *w = vg_state_window(&a, kind);
        w->n = VG_STATE_WINDOW_MAX;
        for (int j = 0; j < VG_STATE_WINDOW_MAX; j++) {
            w->times_ms[j] = 1000 + i * 100 + j;
            memset(w->event_ids[j], 'e', VG_STATE_EVID_MAX - 1);
            w->event_ids[j][VG_STATE_EVID_MAX - 1] = '\0';
        }
    }
    cr_expect_eq(a.n_troubles, VG_STATE_MAX_TROUBLES);
    for (int i = 0; i < VG_STATE_MAX_DECISIONS + 3; i++)
        vg_state_add_decision(&a, 0, i, false, trig, sizeof(trig), &ev);
    cr_expect_eq(a.n_decisions, VG_STATE_MAX_DECISIONS);
    cr_expect(ev, "the ring reports the eviction");
    cr_expect_eq(a.decisions[0].offset, 3, "the oldest went first");
    for (int p = 0; p < VG_STATE_MAX_PARTITIONS + 1; p++)
        vg_state_set_applied(&a, p, 100 + p);
    cr_expect_eq(a.n_applied, VG_STATE_MAX_PARTITIONS);
    cr_assert_eq(vg_state_encode(&a, buf, vg_state_encoded_max(), &len), VG_OK);
    cr_assert_eq(vg_state_decode(&b, buf, len, NULL, 0), VG_OK);
    cr_expect_eq(b.n_decisions, VG_STATE_MAX_DECISIONS);
    cr_expect_eq(vg_state_applied(&b, VG_STATE_MAX_PARTITIONS), 100 + VG_STATE_MAX_PARTITIONS);
}

Test(state, garbage_refused) {
    static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff};
    char err[128] = "";

    cr_expect_eq(vg_state_decode(&b, junk, sizeof(junk), err, sizeof(err)), VG_ERR_DECODE);
    cr_expect(strstr(err, "CustomerState"), "%s", err);
}

/* Found by fuzz_state: an empty decision (an unencodable trigger, kept so a
 * replay dead-letters it again) decodes without touching a NULL buffer. */
Test(state, empty_decision_round_trip) {
    static vg_state_t st, back;
    static uint8_t buf[sizeof(vg_state_t) + 8192];
    size_t len = 0;
    bool evicted;

    vg_state_init(&st);
    cr_assert_eq(vg_state_add_decision(&st, 2, 17, false, NULL, 0, &evicted), VG_OK);
    cr_assert_eq(vg_state_encode(&st, buf, sizeof(buf), &len), VG_OK);
    cr_assert_eq(vg_state_decode(&back, buf, len, NULL, 0), VG_OK);
    cr_expect_eq(back.n_decisions, 1);
    cr_expect_eq(back.decisions[0].len, 0);
    cr_expect_eq(back.decisions[0].offset, 17);
}

Test(state, sealed_flags_round_trip) {
    size_t len = 0;
    bool evicted = false;
    const uint8_t trig[] = {1, 2, 3, 4};

    vg_state_init(&a);
    cr_assert_eq(vg_state_add_decision(&a, 0, 7, false, trig, sizeof(trig), &evicted), VG_OK);
    cr_expect(!a.decisions[0].sealed, "a new decision is plain");
    /* What the worker stores: a seal, longer than the largest trigger. */
    a.decisions[0].sealed = true;
    a.decisions[0].len = VG_TRIGGER_MAX_BYTES + VG_STATE_SEAL_OVERHEAD;
    memset(a.decisions[0].trigger, 0x5a, a.decisions[0].len);
    a.last_event_sealed = true;
    a.last_event_len = 40;
    a.last_event_partition = 5;
    a.last_event_next = 1234567;
    cr_assert_eq(vg_state_encode(&a, buf, sizeof(buf), &len), VG_OK);
    cr_assert_eq(vg_state_decode(&b, buf, len, NULL, 0), VG_OK);
    cr_expect_eq(b.n_decisions, 1);
    cr_expect(b.decisions[0].sealed);
    cr_expect_eq(b.decisions[0].len, VG_TRIGGER_MAX_BYTES + VG_STATE_SEAL_OVERHEAD);
    cr_expect(b.last_event_sealed);
    cr_expect_eq(b.last_event_partition, 5);
    cr_expect_eq(b.last_event_next, 1234567);
    /* A plain trigger that long is not a trigger: dropped at decode. */
    a.decisions[0].sealed = false;
    cr_assert_eq(vg_state_encode(&a, buf, sizeof(buf), &len), VG_OK);
    cr_assert_eq(vg_state_decode(&b, buf, len, NULL, 0), VG_OK);
    cr_expect_eq(b.n_decisions, 0);
}

/* The duplicate horizon: 16 ids, and none older than the lateness
 * allowance (a repeat of one would be late and fire nothing). */
Test(state, recent_ids_older_than_the_lateness_are_forgotten) {
    size_t len = 0;

    vg_state_init(&a);
    a.last_event_ms = 1000000;
    vg_state_remember_event(&a, "e1", 1000000 - 200000, 1000000 - 120000); /* late: not kept */
    cr_expect_eq(a.n_recent, 0);
    vg_state_remember_event(&a, "e2", 1000000 - 60000, 1000000 - 120000);
    vg_state_remember_event(&a, "e3", 1000000, 1000000 - 120000);
    cr_expect(vg_state_seen_event(&a, "e2"));
    cr_expect(vg_state_seen_event(&a, "e3"));
    /* Round trip: the times come back exactly (as ages from last_event_ms). */
    cr_assert_eq(vg_state_encode(&a, buf, sizeof(buf), &len), VG_OK);
    cr_assert_eq(vg_state_decode(&b, buf, len, NULL, 0), VG_OK);
    cr_assert_eq(b.n_recent, 2);
    cr_expect_eq(b.recent_ms[0], 1000000 - 60000);
    cr_expect_eq(b.recent_ms[1], 1000000);
    /* Time moves on 90 s: e2 is now older than the 120 s allowance. */
    b.last_event_ms = 1090000;
    vg_state_remember_event(&b, "e4", 1090000, 1090000 - 120000);
    cr_expect(!vg_state_seen_event(&b, "e2"), "e2 is beyond the lateness: forgotten");
    cr_expect(vg_state_seen_event(&b, "e3"));
    cr_expect(vg_state_seen_event(&b, "e4"));
    /* An entry of unknown time (an older worker's state) stays until 16
     * newer ones push it out. */
    b.recent_ms[0] = 0;
    vg_state_remember_event(&b, "e5", 9000000, 9000000 - 120000);
    cr_expect(vg_state_seen_event(&b, "e3"));
    cr_expect(!vg_state_seen_event(&b, "e4"));
    for (int i = 0; i < VG_STATE_RECENT_MAX; i++) {
        char id[8];
        snprintf(id, sizeof(id), "f%d", i);
        vg_state_remember_event(&b, id, 9000000, 9000000 - 120000);
    }
    cr_expect_eq(b.n_recent, VG_STATE_RECENT_MAX);
    cr_expect(!vg_state_seen_event(&b, "e3"));
}
