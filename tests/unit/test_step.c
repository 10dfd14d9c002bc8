/*
 * The delivery protocol's unit: replays re-emit the stored trigger byte
 * for byte, applied offsets fence double application, the decision ring
 * is trimmed below the committed floor.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "vg_step.h"
#include "vg_test_events.h"
#include "vigil/v1/trigger.pb-c.h"

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
    static char long_id[3000];
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
