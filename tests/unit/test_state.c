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
    /* The usual case, stored as a flag: the event is the applied record. */
    a.n_applied = 1;
    a.applied_partition[0] = 5;
    a.applied_offset[0] = 1234566;
    cr_assert_eq(vg_state_encode(&a, buf, sizeof(buf), &len), VG_OK);
    cr_assert_eq(vg_state_decode(&b, buf, len, NULL, 0), VG_OK);
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

/* --- the codec by hand against protobuf-c (vg_state_wire.c) -------------- */

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A value of any size and sign: small, large, negative, zero. */
static int64_t rnd_i64(void) {
    switch (rnd() % 5) {
    case 0: return 0;
    case 1: return (int64_t)(rnd() % 128);
    case 2: return (int64_t)(rnd() % 2000000000000ULL);
    case 3: return -(int64_t)(rnd() % 100000);
    default: return (int64_t)rnd();
    }
}

static void rnd_str(char *dst, size_t cap) {
    static const char *const pieces[] = {"a", "payment:failure", "\xc3\xa9", "\xe2\x82\xac", "-", "0"};
    size_t n = 0, want = rnd() % 3 == 0 ? 0 : rnd() % cap;

    while (n < want) {
        const char *p = pieces[rnd() % 6];
        size_t l = strlen(p);
        if (n + l >= cap)
            break;
        memcpy(dst + n, p, l);
        n += l;
    }
    dst[n] = '\0';
}

/* Every field at random, within the struct's bounds. */
static void rnd_state(vg_state_t *s) {
    vg_state_init(s);
    s->version = (uint64_t)rnd_i64();
    s->n_applied = (uint32_t)(rnd() % (VG_STATE_MAX_PARTITIONS + 1));
    for (uint32_t i = 0; i < s->n_applied; i++) {
        s->applied_partition[i] = (int32_t)rnd_i64();
        s->applied_offset[i] = rnd_i64();
    }
    s->n_troubles = (uint32_t)(rnd() % (VG_STATE_MAX_TROUBLES + 1));
    for (uint32_t i = 0; i < s->n_troubles; i++) {
        vg_state_window_t *w = &s->troubles[i];
        rnd_str(w->kind, sizeof(w->kind));
        w->n = (uint32_t)(rnd() % (VG_STATE_WINDOW_MAX + 1));
        for (uint32_t j = 0; j < w->n; j++) {
            w->times_ms[j] = rnd_i64();
            w->channels[j] = (int32_t)rnd_i64();
            rnd_str(w->event_ids[j], VG_STATE_EVID_MAX);
        }
    }
    s->last_signal_ms = rnd_i64();
    s->n_ledgers = (uint32_t)(rnd() % (VG_STATE_MAX_LEDGERS + 1));
    for (uint32_t i = 0; i < s->n_ledgers; i++) {
        vg_state_ledger_t *l = &s->ledgers[i];
        rnd_str(l->intervention, sizeof(l->intervention));
        l->channel = (int32_t)rnd_i64();
        l->n = (uint32_t)(rnd() % (VG_STATE_LEDGER_MAX + 1));
        for (uint32_t j = 0; j < l->n; j++)
            l->fired_ms[j] = rnd_i64();
    }
    s->n_decisions = (uint32_t)(rnd() % (VG_STATE_MAX_DECISIONS + 1));
    for (uint32_t i = 0; i < s->n_decisions; i++) {
        vg_state_decision_t *d = &s->decisions[i];
        d->partition = (int32_t)rnd_i64();
        d->offset = rnd_i64();
        d->timer = rnd() & 1;
        d->due_ms = rnd_i64();
        d->sealed = rnd() & 1;
        d->len = rnd() % 4 == 0 ? rnd() % (VG_TRIGGER_MAX_BYTES + 1) : rnd() % 300;
        for (size_t j = 0; j < d->len; j++)
            d->trigger[j] = (uint8_t)rnd();
    }
    s->n_sequences = (uint32_t)(rnd() % (VG_STATE_MAX_SEQUENCES + 1));
    for (uint32_t i = 0; i < s->n_sequences; i++) {
        vg_state_sequence_t *q = &s->sequences[i];
        rnd_str(q->name, sizeof(q->name));
        q->progress = (uint32_t)(rnd() % (VG_STATE_SEQ_STEPS + 1));
        q->start_ms = rnd_i64();
        for (uint32_t j = 0; j < q->progress; j++) {
            rnd_str(q->event_ids[j], VG_STATE_EVID_MAX);
            q->channels[j] = (int32_t)rnd_i64();
        }
    }
    s->n_absences = (uint32_t)(rnd() % (VG_STATE_MAX_ABSENCES + 1));
    for (uint32_t i = 0; i < s->n_absences; i++) {
        vg_state_absence_t *x = &s->absences[i];
        rnd_str(x->name, sizeof(x->name));
        x->start_ms = rnd_i64();
        x->due_ms = rnd_i64();
        x->channel = (int32_t)rnd_i64();
        rnd_str(x->event_id, sizeof(x->event_id));
    }
    s->n_consents = (uint32_t)(rnd() % (VG_STATE_MAX_CONSENTS + 1));
    for (uint32_t i = 0; i < s->n_consents; i++)
        rnd_str(s->consents[i], VG_STATE_PURPOSE_MAX);
    s->last_event_ms = rnd_i64();
    s->events_applied = (uint64_t)rnd_i64();
    s->value_tier = (int32_t)rnd_i64();
    s->tenure_months = (uint32_t)rnd();
    s->revenue_weight = rnd() % 3 ? (double)(rnd() % 10000) / 977.0 : 0.0;
    s->churn_risk = rnd() % 3 ? -(double)(rnd() % 1000) / 1000.0 : 0.0;
    s->sealed_len = (uint32_t)(rnd() % (VG_STATE_SEALED_MAX + 1));
    for (uint32_t j = 0; j < s->sealed_len; j++)
        s->sealed_identity[j] = (uint8_t)rnd();
    s->last_event_len = rnd() % 2 ? (uint32_t)(rnd() % (VG_STATE_LAST_EVENT_MAX + 1)) : 0;
    for (uint32_t j = 0; j < s->last_event_len; j++)
        s->last_event[j] = (uint8_t)rnd();
    s->last_event_sealed = rnd() & 1;
    s->last_event_partition = (int32_t)rnd_i64();
    s->last_event_next = rnd_i64();
    if (rnd() % 3 == 0) { /* the usual case: the event is the one applied record */
        s->n_applied = 1;
        s->last_event_partition = s->applied_partition[0];
        s->last_event_next = s->applied_offset[0] + 1;
    }
    s->last_window_hit = (uint32_t)rnd();
    s->last_seq_done = (uint32_t)rnd();
    s->last_late = rnd() & 1;
    s->last_record_ms = rnd_i64();
    rnd_str(s->last_fired, sizeof(s->last_fired));
    s->last_fired_channel = (int32_t)rnd_i64();
    s->last_timer = rnd() & 1;
    s->last_absence_fired = (uint32_t)rnd();
    s->last_due_ms = rnd_i64();
    s->last_watermark_ms = rnd_i64();
    s->n_recent = (uint32_t)(rnd() % (VG_STATE_RECENT_MAX + 1));
    for (uint32_t i = 0; i < s->n_recent; i++) {
        s->recent[i] = rnd();
        s->recent_ms[i] = rnd() % 4 == 0 ? 0 : s->last_event_ms - (int64_t)(rnd() % 200000);
    }
}

static uint8_t buf2[1 << 16];

/* Both encoders write the same bytes, and both decoders read them back to
 * states that encode the same again. */
Test(state, codec_by_hand_matches_protobuf_c) {
    static vg_state_t x, y;

    for (int round = 0; round < 3000; round++) {
        size_t n1 = 0, n2 = 0;
        rnd_state(&a);
        cr_assert_eq(vg_state_encode(&a, buf, sizeof(buf), &n1), VG_OK);
        cr_assert_eq(vg_state_encode_pb(&a, buf2, sizeof(buf2), &n2), VG_OK);
        cr_assert_eq(n1, n2, "round %d: %zu bytes by hand, %zu by protobuf-c", round, n1, n2);
        cr_assert_arr_eq(buf, buf2, n1, "round %d: the bytes differ", round);
        cr_assert_eq(vg_state_decode(&x, buf, n1, NULL, 0), VG_OK, "round %d", round);
        cr_assert_eq(vg_state_decode_pb(&y, buf, n1, NULL, 0), VG_OK, "round %d", round);
        cr_assert_eq(vg_state_encode_pb(&x, buf, sizeof(buf), &n1), VG_OK);
        cr_assert_eq(vg_state_encode_pb(&y, buf2, sizeof(buf2), &n2), VG_OK);
        cr_assert_eq(n1, n2, "round %d: read back differently", round);
        cr_assert_arr_eq(buf, buf2, n1, "round %d: read back differently", round);
    }
}

/* The encoder needs exactly the room of its bytes: in a buffer of that
 * size it writes them, in any smaller one it writes nothing usable and
 * says VG_ERR_OVERFLOW (never a cut state). The states are small and
 * large (multi-byte lengths of nested messages), the caps all of them up
 * to the length for small states and a spread for large ones. */
Test(state, encode_needs_exactly_its_length) {
    static uint8_t exact[1 << 16];

    for (int round = 0; round < 300; round++) {
        size_t n = 0, m = 0, step;
        rnd_state(&a);
        cr_assert_eq(vg_state_encode(&a, buf, sizeof(buf), &n), VG_OK);
        cr_assert_eq(vg_state_encode(&a, exact, n, &m), VG_OK, "round %d: cap %zu", round, n);
        cr_assert_eq(m, n);
        cr_assert_arr_eq(exact, buf, n, "round %d: the bytes differ at the exact cap", round);
        step = n > 2000 ? n / 500 : 1;
        for (size_t cap = 0; cap < n; cap += step)
            cr_assert_eq(vg_state_encode(&a, exact, cap, &m), VG_ERR_OVERFLOW,
                         "round %d: %zu bytes in a cap of %zu", round, n, cap);
        cr_assert_eq(vg_state_encode(&a, exact, n - 1, &m), VG_ERR_OVERFLOW, "round %d", round);
    }
}

/* What another encoder may write: repeated scalars unpacked, fields out of
 * order or twice (the last wins; for a message met twice, protobuf-c keeps
 * the later one's numbers, zeros included), unknown fields. */
Test(state, decoder_reads_any_valid_encoding) {
    static vg_state_t x, y;
    /* version 7 twice (7 then 9), unknown field 40 (varint) and 41 (fixed32),
     * recent_events unpacked (two fixed64), troubles with times unpacked
     * and out of order, descriptive twice (tier 2, then tenure 5). */
    static const uint8_t msg[] = {
        0x08, 0x07,                                     /* version 7 */
        0xc0, 0x02, 0x05,                               /* field 40: 5 */
        0xa9, 0x01, 1, 0, 0, 0, 0, 0, 0, 0,             /* recent_events 1 */
        0x1a, 0x0b, 0x10, 0x64, 0x10, 0x65, 0x0a, 0x01, 'k', 0x22, 0x02, 'e', '1', /* trouble */
        0x4a, 0x02, 0x08, 0x02,                         /* descriptive: tier 2 */
        0xcd, 0x02, 1, 2, 3, 4,                         /* field 41: fixed32 */
        0xa9, 0x01, 2, 0, 0, 0, 0, 0, 0, 0,             /* recent_events 2 */
        0x4a, 0x02, 0x10, 0x05,                         /* descriptive: tenure 5 */
        0x08, 0x09,                                     /* version 9 */
    };
    size_t n1 = 0, n2 = 0;

    cr_assert_eq(vg_state_decode_pb(&y, msg, sizeof(msg), NULL, 0), VG_OK);
    cr_assert_eq(vg_state_decode(&x, msg, sizeof(msg), NULL, 0), VG_OK);
    cr_expect_eq(x.version, 9);
    cr_expect_eq(x.n_recent, 2);
    cr_expect_eq(x.recent[1], 2);
    cr_expect_eq(x.n_troubles, 1);
    cr_expect_eq(x.troubles[0].n, 2);
    cr_expect_eq(x.troubles[0].times_ms[1], 101);
    cr_expect_str_eq(x.troubles[0].event_ids[0], "e1");
    cr_expect_eq(x.value_tier, 0, "the later descriptive has no tier");
    cr_expect_eq(x.tenure_months, 5);
    cr_assert_eq(vg_state_encode_pb(&x, buf, sizeof(buf), &n1), VG_OK);
    cr_assert_eq(vg_state_encode_pb(&y, buf2, sizeof(buf2), &n2), VG_OK);
    cr_assert_eq(n1, n2);
    cr_expect_arr_eq(buf, buf2, n1, "protobuf-c reads the same state");
}

/* What is not wire format is refused by both. */
/* Number 0 in a tag of two bytes passes protobuf-c's tag check (it looks
 * at the first byte): an unknown field, skipped by both, of any wire
 * type. */
Test(state, field_zero_in_a_long_tag_is_unknown) {
    static const uint8_t ok[][4] = {
        {0x82, 0x00, 0x00},       /* number 0, wire 2, empty */
        {0x80, 0x00, 0x05},       /* number 0, wire 0 */
        {0x82, 0x00, 0x01, 0x41}, /* number 0, wire 2, one byte */
    };
    static const size_t len[] = {3, 3, 4};
    static vg_state_t x;

    for (size_t i = 0; i < sizeof(len) / sizeof(len[0]); i++) {
        cr_expect_eq(vg_state_decode_pb(&x, ok[i], len[i], NULL, 0), VG_OK, "case %zu: protobuf-c",
                     i);
        cr_expect_eq(vg_state_decode(&x, ok[i], len[i], NULL, 0), VG_OK, "case %zu: by hand", i);
    }
}

Test(state, decoder_refuses_what_protobuf_c_refuses) {
    static const uint8_t bad[][6] = {
        {0x08},                   /* a varint cut short */
        {0x0b, 0x00},             /* a group (wire type 3) */
        {0x0a, 0x05, 0x08, 0x01}, /* applied: length past the end */
        {0x00, 0x01},             /* field 0 */
        {0x09, 1, 2, 3, 4, 5},    /* version as fixed64: wrong wire type */
        {0xaa, 0x01, 0x03, 1, 2, 3}, /* recent_events packed, not a multiple of 8 */
    };
    static const size_t len[] = {1, 2, 4, 2, 6, 6};
    static vg_state_t x;

    for (size_t i = 0; i < sizeof(len) / sizeof(len[0]); i++) {
        cr_expect_eq(vg_state_decode_pb(&x, bad[i], len[i], NULL, 0), VG_ERR_DECODE,
                     "case %zu: protobuf-c", i);
        cr_expect_eq(vg_state_decode(&x, bad[i], len[i], NULL, 0), VG_ERR_DECODE,
                     "case %zu: by hand", i);
    }
}
