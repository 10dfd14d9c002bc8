/*
 * The delivery protocol's unit: replays re-emit the stored trigger byte
 * for byte, applied offsets fence double application, the decision ring
 * is trimmed below the committed floor.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "vg_explain.h"
#include "vg_step.h"
#include "vg_test_events.h"
#include "vigil/v1/trigger.pb-c.h"

/* docs/triggers.md, "trigger_id": computed independently (Python hashlib). */
#define TRIGGER_ID_VECTOR_1 "a1ebac1cccadae31d1cb534da9719df3"
#define TRIGGER_ID_VECTOR_2 "058a822cfb1f0a90f9c3b0530cf3861d"

static vg_model_t m;
static vg_state_t st;
static vg_step_result_t r;

static void setup(void) {
    vg_model_default(&m);
    vg_state_init(&st);
}

TestSuite(step, .init = setup);

static void apply(int n, double at, int64_t offset) {
    vg_tev_t t;
    vg_step_ctx_t ctx = {"w1", "events", "triggers", 3, offset, 0};

    cr_assert_eq(vg_step_apply(&st, vg_tev(&t, n, at, "payment", FAIL, NOSIG, "service", BRONZE, 0),
                               &m, &ctx, &r),
                 VG_OK);
}

Test(step, replay_reemits_same_bytes) {
    uint8_t first[VG_TRIGGER_MAX_BYTES];
    size_t first_len;
    char id[33];
    uint64_t applied;

    apply(0, 0, 100);
    apply(1, 1, 101);
    apply(2, 2, 102);
    cr_assert(r.fired);
    cr_assert(!r.replayed);
    memcpy(first, r.trigger, r.len);
    first_len = r.len;
    memcpy(id, r.trigger_id, sizeof(id));
    applied = st.events_applied;

    /* The same records again (a crash before the commit). */
    apply(0, 0, 100);
    cr_expect(r.replayed);
    cr_expect(!r.fired);
    apply(2, 2, 102);
    cr_expect(r.replayed);
    cr_assert(r.fired);
    cr_expect_eq(r.len, first_len);
    cr_expect(memcmp(r.trigger, first, first_len) == 0);
    cr_expect_eq(st.events_applied, applied, "a replay must not change the state");
    {
        Vigil__V1__InterventionTrigger *t =
            vigil__v1__intervention_trigger__unpack(NULL, r.len, r.trigger);
        cr_assert_not_null(t);
        cr_expect_str_eq(t->trigger_id, id);
        cr_expect_eq(t->lineage->source_partition, 3);
        cr_expect_eq(t->lineage->source_offset, 102);
        cr_expect_eq(t->lineage->n_source_event_ids, 3);
        cr_expect_str_eq(t->lineage->source_event_ids[2], "ev-2");
        vigil__v1__intervention_trigger__free_unpacked(t, NULL);
    }
}

Test(step, trigger_id_is_deterministic) {
    char a[33], b[33], c[33];

    vg_step_trigger_id("acme", "c1", "proactive_callback", "ev-1", a);
    vg_step_trigger_id("acme", "c1", "proactive_callback", "ev-1", b);
    vg_step_trigger_id("acme", "c1", "status_update", "ev-1", c);
    cr_expect_str_eq(a, b);
    cr_expect_str_neq(a, c);
    cr_expect_eq(strlen(a), 32);
}

Test(step, trim_below_floor) {
    apply(0, 0, 10);
    apply(1, 1, 11);
    apply(2, 2, 12);
    cr_assert_eq(st.n_decisions, 1);
    vg_state_trim_decisions(&st, 3, 12);
    cr_expect_eq(st.n_decisions, 1, "offset 12 is not below the floor");
    vg_state_trim_decisions(&st, 4, 100);
    cr_expect_eq(st.n_decisions, 1, "another partition's floor does not apply");
    vg_state_trim_decisions(&st, 3, 13);
    cr_expect_eq(st.n_decisions, 0);
}

Test(step, survives_encode_decode) {
    static uint8_t buf[65536];
    static vg_state_t back;
    size_t len = 0;

    apply(0, 0, 10);
    apply(1, 1, 11);
    apply(2, 2, 12);
    st.version = 41;
    cr_assert_eq(vg_state_encode(&st, buf, sizeof(buf), &len), VG_OK);
    cr_assert_eq(vg_state_decode(&back, buf, len, NULL, 0), VG_OK);
    cr_expect_eq(back.version, 41);
    cr_expect_eq(vg_state_applied(&back, 3), 12);
    cr_expect_eq(back.n_decisions, 1);
    cr_expect_eq(back.decisions[0].len, st.decisions[0].len);
    cr_expect(memcmp(back.decisions[0].trigger, st.decisions[0].trigger, st.decisions[0].len) == 0);
    cr_expect_eq(back.n_troubles, 1);
    cr_expect_eq(back.troubles[0].n, 3);
    cr_expect_str_eq(back.troubles[0].event_ids[1], "ev-1");
    /* A replay on the decoded copy gives the same trigger. */
    {
        vg_tev_t t;
        vg_step_ctx_t ctx = {"w1", "events", "triggers", 3, 12, 0};
        cr_assert_eq(vg_step_apply(&back, vg_tev(&t, 2, 2, "payment", FAIL, NOSIG, "service", BRONZE, 0),
                                   &m, &ctx, &r),
                     VG_OK);
        cr_expect(r.replayed && r.fired);
        cr_expect(memcmp(r.trigger, st.decisions[0].trigger, r.len) == 0);
    }
}

/* A decision that cannot be encoded (here: a worker id too long for a
 * trigger) fails its event only; the state moves on, and a replay of the
 * offset says "dead-letter it again" instead of skipping it, so an
 * aborted transaction cannot lose the dead letter. */
Test(step, unencodable_decision_is_dead_lettered_again_on_replay) {
    static char long_id[8000];
    vg_tev_t t;
    vg_step_ctx_t ctx = {long_id, "events", "triggers", 3, 0, 0};

    memset(long_id, 'w', sizeof(long_id) - 1);
    apply(0, 0, 100);
    apply(1, 1, 101);
    ctx.offset = 102;
    cr_assert_neq(vg_step_apply(&st, vg_tev(&t, 2, 2, "payment", FAIL, NOSIG, "service", BRONZE, 0),
                                &m, &ctx, &r),
                  VG_OK, "the third failure fires, and its trigger cannot be encoded");
    cr_expect_eq(vg_state_applied(&st, 3), 102, "the state moved on");
    cr_assert_eq(vg_step_apply(&st, vg_tev(&t, 2, 2, "payment", FAIL, NOSIG, "service", BRONZE, 0),
                               &m, &ctx, &r),
                 VG_OK);
    cr_expect(r.replayed && r.dead && !r.fired, "replay: dead-letter again, publish nothing");
}

/* --- hostile input (issue 8) ---------------------------------------------- */

static Vigil__V1__InterventionTrigger *unpack_trigger(void) {
    Vigil__V1__InterventionTrigger *t = vigil__v1__intervention_trigger__unpack(NULL, r.len, r.trigger);
    cr_assert_not_null(t, "the trigger decodes");
    return t;
}

/* Every field of a trigger at its limit still fits VG_TRIGGER_MAX_BYTES:
 * nothing has to be shed, so nothing is. */
Test(step, worst_case_trigger_fits) {
    static char id[VG_EVENT_ID_MAX + 1], topic[250], worker[128], name[VG_MODEL_NAME_MAX],
        code[VG_MODEL_NAME_MAX + 32], detail[96], dest[256], purpose[32], mid[64], mver[32];
    Vigil__V1__InterventionTrigger t = VIGIL__V1__INTERVENTION_TRIGGER__INIT;
    Vigil__V1__Lineage lin = VIGIL__V1__LINEAGE__INIT;
    Vigil__V1__ReasonCode rc[VG_REASONS_MAX], *rcp[VG_REASONS_MAX];
    char *ids[16];
    Vigil__V1__Channel ch[17];

    memset(id, 0x7a, sizeof(id) - 1);
    memset(topic, 't', sizeof(topic) - 1);
    memset(worker, 'w', sizeof(worker) - 1);
    memset(name, 'n', sizeof(name) - 1);
    memset(code, 'c', sizeof(code) - 1);
    memset(detail, 'd', sizeof(detail) - 1);
    memset(dest, 'd', sizeof(dest) - 1);
    memset(purpose, 'p', sizeof(purpose) - 1);
    memset(mid, 'm', sizeof(mid) - 1);
    memset(mver, 'v', sizeof(mver) - 1);
    t.trigger_id = "0123456789abcdef0123456789abcdef";
    t.customer_id = t.tenant = id;
    t.intervention = name;
    t.score = t.priority_score = -1.0 / 3;
    t.priority = VIGIL__V1__PRIORITY__PRIORITY_CRITICAL;
    t.valid_until_ms = t.created_ms = INT64_MAX;
    t.channel = VIGIL__V1__CHANNEL__CHANNEL_STORE;
    t.escalation_level = UINT32_MAX;
    for (int i = 0; i < VG_REASONS_MAX; i++) {
        vigil__v1__reason_code__init(&rc[i]);
        rc[i].code = code;
        rc[i].detail = detail;
        rc[i].contribution = -1.0 / 3;
        rcp[i] = &rc[i];
    }
    t.n_reasons = VG_REASONS_MAX;
    t.reasons = rcp;
    for (int i = 0; i < 16; i++)
        ids[i] = id;
    for (int i = 0; i < 17; i++)
        ch[i] = VIGIL__V1__CHANNEL__CHANNEL_STORE;
    lin.n_source_event_ids = 16;
    lin.source_event_ids = ids;
    lin.n_channels = 17;
    lin.channels = ch;
    lin.purpose = purpose;
    lin.model_id = mid;
    lin.model_version = mver;
    lin.worker_id = worker;
    lin.destination = dest;
    lin.source_topic = topic;
    lin.source_partition = INT32_MIN;
    lin.source_offset = INT64_MIN;
    t.lineage = &lin;
    cr_expect_leq(vigil__v1__intervention_trigger__get_packed_size(&t), VG_TRIGGER_MAX_BYTES);
}

/* 128-byte ids of two-byte characters come back whole, each once, in
 * the lineage; before, they were cut at 63 bytes inside a character. */
Test(step, long_multibyte_ids_whole_in_lineage) {
    char ids[3][VG_EVENT_ID_MAX + 1];
    vg_step_ctx_t ctx = {"w1", "events", "triggers", 3, 0, 0};
    Vigil__V1__InterventionTrigger *tr;

    for (int n = 0; n < 3; n++) {
        vg_tev_t t;
        for (int i = 0; i < 63; i++)
            memcpy(ids[n] + 2 * i, "\xc3\xa9", 2);
        snprintf(ids[n] + 126, 3, "%02d", n);
        vg_tev(&t, n, n, "payment", FAIL, NOSIG, "service", BRONZE, 0);
        t.ev.event_id = ids[n];
        ctx.offset = n;
        cr_assert_eq(vg_step_apply(&st, &t.ev, &m, &ctx, &r), VG_OK);
    }
    cr_assert(r.fired, "the trend fires");
    tr = unpack_trigger();
    cr_expect_eq(tr->lineage->n_source_event_ids, 3);
    for (size_t i = 0; i < tr->lineage->n_source_event_ids && i < 3; i++) {
        cr_expect_str_eq(tr->lineage->source_event_ids[i], ids[i]);
        cr_expect(vg_event_text_ok((const uint8_t *)tr->lineage->source_event_ids[i],
                                   strlen(tr->lineage->source_event_ids[i]), NULL));
    }
    vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
}

/* The same event id at a new offset is applied once, and fires nothing. */
Test(step, duplicate_event_applied_once) {
    vg_tev_t t;
    vg_step_ctx_t ctx = {"w1", "events", "triggers", 3, 0, 0};
    uint64_t applied;

    apply(0, 0, 10);
    apply(1, 1, 11);
    apply(2, 2, 12);
    cr_assert(r.fired);
    applied = st.events_applied;
    ctx.offset = 13;
    cr_assert_eq(vg_step_apply(&st, vg_tev(&t, 2, 2, "payment", FAIL, NOSIG, "service", BRONZE, 0),
                               &m, &ctx, &r),
                 VG_OK);
    cr_expect(r.duplicate && !r.fired && !r.replayed);
    cr_expect_eq(st.events_applied, applied, "not applied again");
    cr_expect_eq(vg_state_applied(&st, 3), 13, "its offset is");
}

/* Beyond the lateness allowance an event id is forgotten: its repeat is
 * then a late event, which is applied (offset, count) but fires nothing. */
Test(step, duplicate_beyond_the_lateness_is_late_and_fires_nothing) {
    vg_tev_t t;
    vg_step_ctx_t ctx = {"w1", "events", "triggers", 3, 0, 0};

    apply(0, 0, 10);
    apply(1, 1, 11);
    apply(2, 2, 12);
    cr_assert(r.fired);
    apply(3, 10, 13); /* 8 minutes on: ev-2 is beyond the 2 minutes */
    cr_expect(!vg_state_seen_event(&st, "ev-2"));
    ctx.offset = 14;
    cr_assert_eq(vg_step_apply(&st, vg_tev(&t, 2, 2, "payment", FAIL, NOSIG, "service", BRONZE, 0),
                               &m, &ctx, &r),
                 VG_OK);
    cr_expect(!r.duplicate && r.tr.late && !r.fired, "late, not a duplicate, fires nothing");
    cr_expect_eq(vg_state_applied(&st, 3), 14);
}

/* created_ms is the deciding event's time, even when it is older than the
 * customer's newest event (out of order, within the lateness). */
Test(step, created_ms_is_the_deciding_events_time) {
    Vigil__V1__InterventionTrigger *tr;

    apply(0, 0, 10);
    apply(1, 5, 11);
    apply(2, 3.5, 12); /* 90 s older than ev-1 */
    cr_assert(r.fired);
    tr = unpack_trigger();
    cr_expect_eq(tr->created_ms, VG_T0 + (int64_t)(3.5 * VG_MIN));
    cr_expect_eq(tr->valid_until_ms, tr->created_ms + 30 * VG_MIN, "proactive_callback: 30m");
    vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
}

/* A channel-hopping trigger names every event of the sequence. */
Test(step, sequence_lineage_lists_every_step) {
    static const Vigil__V1__Channel chans[] = {VIGIL__V1__CHANNEL__CHANNEL_WEB,
                                               VIGIL__V1__CHANNEL__CHANNEL_CHAT,
                                               VIGIL__V1__CHANNEL__CHANNEL_PHONE};
    vg_step_ctx_t ctx = {"w1", "events", "triggers", 3, 0, 0};
    Vigil__V1__InterventionTrigger *tr;

    for (int n = 0; n < 3; n++) {
        vg_tev_t t;
        vg_tev(&t, n, n, "support", OK_, NOSIG, "service", GOLD, 0.9);
        t.ev.channel = chans[n];
        ctx.offset = n;
        cr_assert_eq(vg_step_apply(&st, &t.ev, &m, &ctx, &r), VG_OK);
    }
    cr_assert(r.fired, "web, chat, phone fires");
    tr = unpack_trigger();
    cr_expect_str_eq(tr->intervention, "proactive_callback");
    cr_assert_eq(tr->lineage->n_source_event_ids, 3);
    cr_expect_str_eq(tr->lineage->source_event_ids[0], "ev-0");
    cr_expect_str_eq(tr->lineage->source_event_ids[1], "ev-1");
    cr_expect_str_eq(tr->lineage->source_event_ids[2], "ev-2");
    vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
}

/* A consent in any position up to the limit counts. */
Test(step, service_as_the_sixteenth_consent) {
    char *cons[VG_EVENT_MAX_CONSENTS];
    char purposes[VG_EVENT_MAX_CONSENTS][16];

    for (int i = 0; i < VG_EVENT_MAX_CONSENTS; i++) {
        snprintf(purposes[i], sizeof(purposes[i]), "purpose-%d", i);
        cons[i] = purposes[i];
    }
    cons[VG_EVENT_MAX_CONSENTS - 1] = "service";
    for (int n = 0; n < 3; n++) {
        vg_tev_t t;
        vg_step_ctx_t ctx = {"w1", "events", "triggers", 3, n, 0};
        vg_tev(&t, n, n, "payment", FAIL, NOSIG, NULL, BRONZE, 0);
        t.ev.consents = cons;
        t.ev.n_consents = VG_EVENT_MAX_CONSENTS;
        cr_assert_eq(vg_step_apply(&st, &t.ev, &m, &ctx, &r), VG_OK);
    }
    cr_expect(r.fired, "the trend fires: consent for service is there");
}

/* The trigger id recipe, byte by byte, as docs/triggers.md gives it, with
 * its test vectors (the contract suite recomputes them in Python). */
Test(step, trigger_id_test_vectors) {
    char id[33];

    vg_step_trigger_id("acme", "c1", "proactive_callback", "ev-2", id);
    cr_expect_str_eq(id, TRIGGER_ID_VECTOR_1);
    vg_step_trigger_id("acme", "c1", "retention_offer", "absence:checkout_abandoned:ev-7", id);
    cr_expect_str_eq(id, TRIGGER_ID_VECTOR_2);
}

/* explain on a customer whose latest decision was a deadline explains the
 * deadline, not the older event. */
Test(step, explain_a_deadline_decision) {
    vg_tev_t t;
    vg_step_ctx_t ctx = {"w1", "events", "triggers", 3, 1, 0};
    char *text = NULL;
    size_t size = 0;
    FILE *f;

    vg_tev(&t, 1, 0, "checkout", VIGIL__V1__OUTCOME__OUTCOME_PENDING, NOSIG, "marketing", GOLD,
           0.9);
    cr_assert_eq(vg_step_apply(&st, &t.ev, &m, &ctx, &r), VG_OK);
    st.last_event_len = (uint32_t)vigil__v1__interaction_event__pack(&t.ev, st.last_event);
    cr_assert_eq(vg_state_next_due(&st), VG_T0 + 10 * VG_MIN);
    ctx.offset = 2;
    cr_assert_eq(vg_step_expire(&st, "acme", "c1", VG_T0 + 11 * VG_MIN, &m, &ctx, &r), VG_OK);
    cr_assert(r.fired, "the abandoned checkout fires");
    {
        Vigil__V1__InterventionTrigger *tr = unpack_trigger();
        cr_expect_eq(tr->created_ms, VG_T0 + 10 * VG_MIN, "created_ms: the deadline");
        vigil__v1__intervention_trigger__free_unpacked(tr, NULL);
    }
    f = open_memstream(&text, &size);
    cr_assert_eq(vg_explain(&st, &m, f), VG_OK);
    fclose(f);
    cr_expect(strstr(text, "deadline   checkout_abandoned") != NULL, "%s", text);
    cr_expect(strstr(text, "decision   retention_offer") != NULL, "%s", text);
    cr_expect(strstr(text, "decision   none") == NULL, "%s", text);
    free(text);
}

/* --- vg_step_customer: one customer's part of a batch, in order ---------- */

typedef struct seen_s {
    int n;
    vg_step_what_t what[16];
    int64_t at[16];          /* the record's offset, -1 for a timer replay */
    bool fired[16], replayed[16];
    char id[16][33];
} seen_t;

static vg_err_t record_sink(void *opaque, vg_step_what_t what, const vg_step_record_t *rec,
                            const vg_step_result_t *res, vg_err_t err) {
    seen_t *s = opaque;

    (void)err;
    if (s->n == 16)
        return VG_ERR_OVERFLOW;
    s->what[s->n] = what;
    s->at[s->n] = rec ? rec->offset : -1;
    s->fired[s->n] = res->fired;
    s->replayed[s->n] = res->replayed;
    memcpy(s->id[s->n], res->trigger_id, 33);
    s->n++;
    return VG_OK;
}

/* A batch on partition 3: r[i] at offset 100 + i; evs[i] NULL for a record
 * of another customer (it still moves the watermark). */
static void run_batch(vg_state_t *s, vg_step_record_t *recs, size_t n, seen_t *out) {
    uint32_t mine[16];
    size_t n_mine = 0;
    bool changed = false;
    vg_step_batch_t b = {"events", 3, recs, n, "w1", "triggers", false, 0};

    for (size_t i = 0; i < n; i++)
        if (recs[i].ev)
            mine[n_mine++] = (uint32_t)i;
    memset(out, 0, sizeof(*out));
    cr_assert_eq(vg_step_customer(s, "acme", "c1", &b, mine, n_mine, &m, &r, record_sink, out,
                                  &changed),
                 VG_OK);
}

/* Order rule: deadlines the watermark passed fire before the record that
 * passed them, at the first record whose watermark reaches them; the
 * record comes after. */
Test(step, customer_deadline_fires_before_the_event_at_the_first_record_past_it) {
    vg_tev_t start, later;
    vg_step_record_t recs[3];
    seen_t seen;

    vg_tev(&start, 1, 0, "checkout", VIGIL__V1__OUTCOME__OUTCOME_PENDING, NOSIG, "marketing",
           GOLD, 0.9);
    vg_tev(&later, 2, 12, "login", OK_, NOSIG, "marketing", GOLD, 0.9);
    /* batch 1: the checkout starts (due at 10 min) */
    recs[0] = (vg_step_record_t){&start.ev, NULL, 0, 100, 0, VG_T0, 0};
    run_batch(&st, recs, 1, &seen);
    cr_expect_eq(seen.n, 1);
    cr_expect_eq(vg_state_next_due(&st), VG_T0 + 10 * VG_MIN);
    /* batch 2: another customer's record moves the watermark to 11 min
     * (offset 101), then c1's own event at 12 min (offset 102). */
    recs[0] = (vg_step_record_t){NULL, NULL, 0, 101, 0, VG_T0 + 11 * VG_MIN, 0};
    recs[1] = (vg_step_record_t){&later.ev, NULL, 0, 102, 0, VG_T0 + 12 * VG_MIN, 1};
    run_batch(&st, recs, 2, &seen);
    cr_assert_eq(seen.n, 2);
    cr_expect_eq(seen.what[0], VG_STEP_DEADLINE);
    cr_expect_eq(seen.at[0], 101, "at the first record whose watermark passed the deadline");
    cr_expect(seen.fired[0], "retention_offer fires for the abandoned checkout");
    cr_expect_eq(seen.what[1], VG_STEP_EVENT);
    cr_expect_eq(seen.at[1], 102);
    /* For explain: where the latest event is in Kafka, not its bytes. */
    cr_expect_eq(st.last_event_partition, 3);
    cr_expect_eq(st.last_event_next, 103);
    cr_expect_eq(st.last_event_len, 0);
}

/* Order rule: a deadline the event itself set, already behind the
 * watermark (a late checkout), fires at that record, after it. */
Test(step, customer_late_start_fires_at_its_own_record) {
    vg_tev_t start;
    vg_step_record_t recs[2];
    seen_t seen;

    vg_tev(&start, 1, 0, "checkout", VIGIL__V1__OUTCOME__OUTCOME_PENDING, NOSIG, "marketing",
           GOLD, 0.9);
    recs[0] = (vg_step_record_t){NULL, NULL, 0, 100, 0, VG_T0 + 11 * VG_MIN, 0};
    recs[1] = (vg_step_record_t){&start.ev, NULL, 0, 101, 0, VG_T0 + 11 * VG_MIN, 1};
    run_batch(&st, recs, 2, &seen);
    cr_assert_eq(seen.n, 2);
    cr_expect_eq(seen.what[0], VG_STEP_EVENT);
    cr_expect_eq(seen.what[1], VG_STEP_DEADLINE);
    cr_expect_eq(seen.at[1], 100, "fires at the first record whose watermark reaches it");
}

/* Replay rule: the same batch again on the stored state (an aborted
 * transaction) hands back the same triggers, event and deadline alike,
 * and applies nothing twice. */
Test(step, customer_replay_of_a_batch_gives_the_same_triggers) {
    vg_tev_t e[3], start;
    vg_step_record_t recs[5];
    seen_t first, again;
    uint64_t applied;

    vg_tev(&start, 9, 0, "checkout", VIGIL__V1__OUTCOME__OUTCOME_PENDING, NOSIG, "service", GOLD,
           0.9);
    recs[0] = (vg_step_record_t){&start.ev, NULL, 0, 99, 0, VG_T0, 0};
    run_batch(&st, recs, 1, &first);
    for (int i = 0; i < 3; i++) {
        vg_tev(&e[i], i, 11 + i, "payment", FAIL, NOSIG, "service", BRONZE, 0);
        e[i].consents[0] = "service";
    }
    recs[0] = (vg_step_record_t){&e[0].ev, NULL, 0, 100, 0, VG_T0 + 11 * VG_MIN, 0};
    recs[1] = (vg_step_record_t){&e[1].ev, NULL, 0, 101, 0, VG_T0 + 12 * VG_MIN, 1};
    recs[2] = (vg_step_record_t){&e[2].ev, NULL, 0, 102, 0, VG_T0 + 13 * VG_MIN, 2};
    run_batch(&st, recs, 3, &first);
    applied = st.events_applied;
    /* The stored state after the batch, and the batch again. */
    run_batch(&st, recs, 3, &again);
    cr_expect_eq(st.events_applied, applied, "nothing applied twice");
    {
        int fired_first = 0, fired_again = 0;
        for (int i = 0; i < first.n; i++)
            fired_first += first.fired[i];
        for (int i = 0; i < again.n; i++) {
            fired_again += again.fired[i];
            cr_expect(again.replayed[i] || !again.fired[i], "every trigger again is a replay");
        }
        cr_expect_eq(fired_again, fired_first, "the same number of triggers");
        cr_expect_gt(fired_first, 0);
    }
}
