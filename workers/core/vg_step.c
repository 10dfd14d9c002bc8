#include "vg_step.h"

#include <stdio.h>
#include <string.h>

#include "vg_pseudo.h"
#include "vg_str.h"
#include "vigil/v1/trigger.pb-c.h"

/* Lineage: the worst problem's window events (at most VG_STATE_WINDOW_MAX),
 * the events of a sequence the decision completed, then the cause. */
#define VG_LINEAGE_MAX_EVENTS 16

void vg_step_trigger_id(const char *tenant, const char *customer_id, const char *intervention,
                        const char *cause, char out[33]) {
    const char *parts[] = {"vigil.trigger.v1", tenant, customer_id, intervention, cause};

    vg_pseudo_digest_hex(parts, 5, out, 33);
}

static Vigil__V1__Priority vg_step_priority(double p) {
    if (p >= 1.2)
        return VIGIL__V1__PRIORITY__PRIORITY_CRITICAL;
    if (p >= 0.9)
        return VIGIL__V1__PRIORITY__PRIORITY_HIGH;
    if (p >= 0.6)
        return VIGIL__V1__PRIORITY__PRIORITY_MEDIUM;
    return VIGIL__V1__PRIORITY__PRIORITY_LOW;
}

static void vg_step_add_channel(Vigil__V1__Channel *chans, size_t *n, Vigil__V1__Channel c) {
    for (size_t j = 0; j < *n; j++)
        if (chans[j] == c)
            return;
    chans[(*n)++] = c;
}

static void vg_step_add_id(char **ids, size_t *n, const char *id, const char *cause_id) {
    if (strcmp(id, cause_id) == 0 || *n >= VG_LINEAGE_MAX_EVENTS - 1)
        return;
    for (size_t j = 0; j < *n; j++)
        if (strcmp(ids[j], id) == 0)
            return;
    ids[(*n)++] = (char *)id;
}

/* Encode the decision in out->score. The causing event is (cause_id,
 * cause_channel) at created_ms; cause is what the trigger id is computed
 * over. Everything points at the stack, the state or the model: no heap.
 * Every field is within its limit, so the trigger always fits
 * VG_TRIGGER_MAX_BYTES (test_step checks the worst case); nothing is
 * shed. */
static vg_err_t vg_step_encode(const vg_state_t *st, const char *tenant, const char *customer_id,
                               const char *cause, const char *cause_event_id,
                               Vigil__V1__Channel cause_channel, int64_t created_ms,
                               const vg_model_t *m, const vg_transition_t *tr,
                               const vg_step_ctx_t *ctx, vg_step_result_t *out) {
    const vg_score_t *s = &out->score;
    const vg_model_intervention_t *iv = &m->interventions[s->winner];
    Vigil__V1__InterventionTrigger t = VIGIL__V1__INTERVENTION_TRIGGER__INIT;
    Vigil__V1__Lineage lin = VIGIL__V1__LINEAGE__INIT;
    Vigil__V1__ReasonCode rc[VG_REASONS_MAX], *rcp[VG_REASONS_MAX];
    char *ids[VG_LINEAGE_MAX_EVENTS];
    Vigil__V1__Channel chans[VG_LINEAGE_MAX_EVENTS + 1];
    size_t n_ids = 0, n_ch = 0;

    vg_step_trigger_id(tenant, customer_id, s->intervention, cause, out->trigger_id);
    t.trigger_id = out->trigger_id;
    t.customer_id = (char *)customer_id;
    t.tenant = (char *)tenant;
    t.intervention = (char *)s->intervention;
    t.score = s->propensity;
    t.priority_score = s->priority_score;
    t.priority = vg_step_priority(s->priority_score);
    t.valid_until_ms = created_ms + iv->valid_for_ms;
    t.created_ms = created_ms;
    t.channel = (Vigil__V1__Channel)s->channel;
    t.escalation_level = s->level;
    for (uint32_t i = 0; i < s->n_reasons; i++) {
        vigil__v1__reason_code__init(&rc[i]);
        rc[i].code = (char *)s->reasons[i].code;
        rc[i].contribution = s->reasons[i].contribution;
        rc[i].detail = (char *)s->reasons[i].detail;
        rcp[i] = &rc[i];
    }
    t.n_reasons = s->n_reasons;
    t.reasons = rcp;

    /* Origin: the events of the worst open problem, the events of the
     * sequences this decision completed, then the cause. */
    if (s->worst) {
        const vg_state_window_t *w = s->worst;
        for (uint32_t i = 0; i < w->n; i++) {
            vg_step_add_id(ids, &n_ids, w->event_ids[i], cause_event_id);
            vg_step_add_channel(chans, &n_ch, (Vigil__V1__Channel)w->channels[i]);
        }
    }
    for (uint32_t q = 0; tr && q < m->n_sequences; q++) {
        if (!(tr->seq_done & (1u << q)))
            continue;
        for (uint32_t k = 0; k < st->n_sequences; k++) {
            const vg_state_sequence_t *ss = &st->sequences[k];
            if (strcmp(ss->name, m->sequences[q].name) != 0)
                continue;
            for (uint32_t j = 0; j < m->sequences[q].n_steps && j < VG_STATE_SEQ_STEPS; j++) {
                vg_step_add_id(ids, &n_ids, ss->event_ids[j], cause_event_id);
                vg_step_add_channel(chans, &n_ch, (Vigil__V1__Channel)ss->channels[j]);
            }
        }
    }
    ids[n_ids++] = (char *)cause_event_id;
    vg_step_add_channel(chans, &n_ch, cause_channel);
    lin.n_source_event_ids = n_ids;
    lin.source_event_ids = ids;
    lin.n_channels = n_ch;
    lin.channels = chans;
    lin.purpose = (char *)iv->purpose;
    lin.model_id = (char *)m->id;
    lin.model_version = (char *)m->version;
    lin.worker_id = (char *)(ctx->worker_id ? ctx->worker_id : "");
    lin.destination = (char *)(iv->destination[0] ? iv->destination
                                                  : ctx->destination ? ctx->destination : "");
    lin.source_topic = (char *)(ctx->source_topic ? ctx->source_topic : "");
    lin.source_partition = ctx->partition;
    lin.source_offset = ctx->offset;
    t.lineage = &lin;

    if (vigil__v1__intervention_trigger__get_packed_size(&t) > sizeof(out->trigger))
        return VG_ERR_OVERFLOW;
    out->len = vigil__v1__intervention_trigger__pack(&t, out->trigger);
    return VG_OK;
}

static void vg_step_reset(vg_step_result_t *out) {
    out->replayed = out->fired = out->ring_evicted = out->dead = out->duplicate = false;
    out->len = 0;
    out->trigger_id[0] = '\0';
    memset(&out->tr, 0, sizeof(out->tr));
}

vg_err_t vg_step_apply(vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                       const vg_step_ctx_t *ctx, vg_step_result_t *out) {
    int64_t applied = vg_state_applied(st, ctx->partition);
    uint64_t id_hash;
    vg_err_t err;

    vg_step_reset(out);
    if (ctx->offset <= applied) {
        const vg_state_decision_t *d = vg_state_find_decision(st, ctx->partition, ctx->offset);
        out->replayed = true;
        if (d && d->len == 0) {
            out->dead = true; /* it failed the first time: dead-letter it again */
        } else if (d) {
            out->fired = true;
            out->len = d->len;
            memcpy(out->trigger, d->trigger, d->len);
        }
        return VG_OK;
    }

    id_hash = vg_state_event_hash(ev->event_id); /* asked twice below: hashed once */
    if (vg_state_seen_hash(st, id_hash)) {
        /* The same event again at a new offset: applied once already (its
         * decision, if any, was published with the same trigger id).
         * Only the offset moves on. */
        out->duplicate = true;
        vg_state_set_applied(st, ctx->partition, ctx->offset);
        return VG_OK;
    }
    vg_score_transition(st, ev, m, &out->tr);
    vg_state_remember_hash(st, id_hash, ev->event_time_ms, st->last_event_ms - m->lateness_ms);
    vg_score_compute(st, ev, m, &out->tr, st->last_event_ms, ctx->record_ms, &out->score);
    vg_state_set_applied(st, ctx->partition, ctx->offset);
    /* For explain (the event's bytes are the caller's to add). */
    st->last_event_len = 0;
    st->last_window_hit = out->tr.window_hit;
    st->last_seq_done = out->tr.seq_done;
    st->last_late = out->tr.late;
    /* Its record timestamp too is Kafka's to keep (explain reads it back
     * with the event): 0 here, so a state does not carry it. */
    st->last_record_ms = 0;
    st->last_fired[0] = '\0';
    st->last_timer = false;
    if (!out->score.fire)
        return VG_OK;
    vg_str_copy(st->last_fired, sizeof(st->last_fired), out->score.intervention);
    st->last_fired_channel = out->score.channel;

    if ((err = vg_step_encode(st, ev->tenant, ev->customer_id, ev->event_id, ev->event_id,
                              ev->channel, ev->event_time_ms, m, &out->tr, ctx, out))) {
        /* The event is poison for its decision only: the state moved on,
         * and an empty decision at its offset makes a replay dead-letter
         * it again rather than skip it. */
        st->last_fired[0] = '\0';
        vg_state_add_decision(st, ctx->partition, ctx->offset, false, NULL, 0,
                              &out->ring_evicted);
        return err;
    }
    vg_score_record_fire(st, out->score.intervention, out->score.channel, st->last_event_ms);
    out->fired = true;
    return vg_state_add_decision(st, ctx->partition, ctx->offset, false, out->trigger, out->len,
                                 &out->ring_evicted);
}

vg_err_t vg_step_expire(vg_state_t *st, const char *tenant, const char *customer_id,
                        int64_t watermark_ms, const vg_model_t *m, const vg_step_ctx_t *ctx,
                        vg_step_result_t *out) {
    char cause[VG_MODEL_NAME_MAX + VG_STATE_EVID_MAX + 16], start_id[VG_STATE_EVID_MAX] = "";
    int64_t due = 0;
    int32_t channel = 0;
    vg_err_t err;

    vg_step_reset(out);
    for (uint32_t a = 0; a < m->n_absences; a++) {
        vg_state_absence_t *pa = vg_state_absence(st, m->absences[a].name);
        if (!pa || pa->due_ms > watermark_ms)
            continue;
        out->tr.absence_fired |= 1u << a;
        if (pa->due_ms > due) {
            due = pa->due_ms;
            channel = pa->channel;
            snprintf(start_id, sizeof(start_id), "%s", pa->event_id);
            snprintf(cause, sizeof(cause), "absence:%s:%s", pa->name, pa->event_id);
        }
        *pa = st->absences[--st->n_absences];
    }
    /* Absences of names the model no longer has are dropped, not fired. */
    for (uint32_t i = 0; i < st->n_absences;) {
        bool known = false;
        for (uint32_t a = 0; a < m->n_absences; a++)
            known |= strcmp(st->absences[i].name, m->absences[a].name) == 0;
        if (!known && st->absences[i].due_ms <= watermark_ms)
            st->absences[i] = st->absences[--st->n_absences];
        else
            i++;
    }
    if (!out->tr.absence_fired)
        return VG_OK;

    vg_score_compute(st, NULL, m, &out->tr, due, watermark_ms, &out->score);
    /* For explain: the latest decision is this deadline's. */
    st->last_timer = true;
    st->last_absence_fired = out->tr.absence_fired;
    st->last_due_ms = due;
    st->last_watermark_ms = watermark_ms;
    st->last_fired[0] = '\0';
    if (!out->score.fire)
        return VG_OK;
    /* The absence's own channel, if the intervention may use it. */
    {
        const vg_model_intervention_t *iv = &m->interventions[out->score.winner];
        out->score.channel = (!iv->channel_mask || (channel >= 0 && channel < 32 &&
                                                    (iv->channel_mask & (1u << channel))))
                                 ? channel
                                 : iv->default_channel;
    }
    if ((err = vg_step_encode(st, tenant, customer_id, cause, start_id,
                              (Vigil__V1__Channel)channel, due, m, NULL, ctx, out)))
        return err;
    vg_score_record_fire(st, out->score.intervention, out->score.channel, due);
    vg_str_copy(st->last_fired, sizeof(st->last_fired), out->score.intervention);
    st->last_fired_channel = out->score.channel;
    out->fired = true;
    if ((err = vg_state_add_decision(st, ctx->partition, ctx->offset, true, out->trigger,
                                     out->len, &out->ring_evicted)))
        return err;
    st->decisions[st->n_decisions - 1].due_ms = due;
    return VG_OK;
}

size_t vg_step_timer_replays(const vg_state_t *st, int32_t partition, int64_t from, int64_t to,
                             const vg_state_decision_t **out, size_t max) {
    size_t n = 0;

    for (uint32_t i = 0; i < st->n_decisions && n < max; i++) {
        const vg_state_decision_t *d = &st->decisions[i];
        if (d->timer && d->partition == partition && d->offset >= from && d->offset <= to)
            out[n++] = d;
    }
    return n;
}

/* Fire the deadlines due at or before upto, each at the first record whose
 * watermark reaches it. */
static vg_err_t vg_step_deadlines(vg_state_t *st, const char *tenant, const char *customer_id,
                                  const vg_step_batch_t *b, int64_t upto, const vg_model_t *m,
                                  vg_step_result_t *res, vg_step_sink_t *sink, void *opaque,
                                  bool *changed) {
    int64_t d;
    vg_err_t err;

    while ((d = vg_state_next_due(st)) > 0 && d <= upto) {
        const vg_step_record_t *at = NULL;
        vg_step_ctx_t ctx;

        for (size_t j = 0; j < b->n && !at; j++)
            if (b->recs[j].wm >= d)
                at = &b->recs[j];
        if (!at)
            break; /* cannot happen: upto is one of these watermarks */
        ctx = (vg_step_ctx_t){b->worker_id, b->topic, b->destination, b->partition, at->offset, 0};
        err = vg_step_expire(st, tenant, customer_id, at->wm, m, &ctx, res);
        *changed = true;
        if (err) {
            st->n_absences = 0;
            return sink(opaque, VG_STEP_DEADLINE_DROPPED, at, res, err);
        }
        if ((err = sink(opaque, VG_STEP_DEADLINE, at, res, VG_OK)))
            return err;
        if (vg_state_next_due(st) == d)
            break; /* no progress: never loop */
    }
    return VG_OK;
}

vg_err_t vg_step_customer(vg_state_t *st, const char *tenant, const char *customer_id,
                          const vg_step_batch_t *b, const uint32_t *mine, size_t n_mine,
                          const vg_model_t *m, vg_step_result_t *res, vg_step_sink_t *sink,
                          void *opaque, bool *changed) {
    const vg_state_decision_t *replays[VG_STATE_MAX_DECISIONS];
    size_t n_replays;
    uint32_t before = st->n_decisions;
    vg_err_t err;

    if (b->n == 0)
        return VG_OK;
    /* DESIGN rule 4: decisions below the floor are committed. */
    vg_state_trim_decisions(st, b->partition, b->has_floor ? b->floor : b->recs[0].offset);
    if (st->n_decisions != before)
        *changed = true; /* and its deadline index entry moves on */
    /* Deadlines that fired in an abandoned run of these offsets. */
    n_replays = vg_step_timer_replays(st, b->partition, b->recs[0].offset,
                                      b->recs[b->n - 1].offset, replays, VG_STATE_MAX_DECISIONS);
    for (size_t r = 0; r < n_replays; r++) {
        const vg_step_record_t *at = NULL;
        vg_step_reset(res);
        res->replayed = res->fired = true;
        res->len = replays[r]->len;
        memcpy(res->trigger, replays[r]->trigger, res->len);
        /* The record it fired at, when in this batch (the sink may care
         * where it lies: a rebuild publishes nothing below a point). */
        for (size_t j = 0; j < b->n && !at; j++)
            if (b->recs[j].offset == replays[r]->offset)
                at = &b->recs[j];
        if ((err = sink(opaque, VG_STEP_TIMER_REPLAY, at, res, VG_OK)))
            return err;
    }
    for (size_t i = 0; i < n_mine; i++) {
        const vg_step_record_t *rec = &b->recs[mine[i]];
        vg_step_ctx_t ctx = {b->worker_id, b->topic,       b->destination,
                             b->partition, rec->offset, rec->record_ms};

        /* Deadlines the watermark passed up to this record fire first. */
        if ((err = vg_step_deadlines(st, tenant, customer_id, b, rec->wm, m, res, sink, opaque,
                                     changed)))
            return err;
        err = vg_step_apply(st, rec->ev, m, &ctx, res);
        if (err) {
            /* Poison for its decision only: the state moved on. */
            *changed = true;
            if ((err = sink(opaque, VG_STEP_EVENT_FAILED, rec, res, err)))
                return err;
            continue;
        }
        if (!res->replayed) {
            *changed = true;
            /* For explain: where the event is in Kafka (not its bytes: a
             * third of a state's size, sealed at every write). */
            if (!res->duplicate) {
                st->last_event_partition = b->partition;
                st->last_event_next = rec->offset + 1;
                st->last_event_len = 0;
                st->last_event_sealed = false;
            }
        }
        if ((err = sink(opaque, VG_STEP_EVENT, rec, res, VG_OK)))
            return err;
        /* A deadline this event set that is already behind the watermark
         * (a late start) fires at this record. */
        if ((err = vg_step_deadlines(st, tenant, customer_id, b, rec->wm, m, res, sink, opaque,
                                     changed)))
            return err;
    }
    /* The rest of the batch moved the watermark on. */
    return vg_step_deadlines(st, tenant, customer_id, b, b->recs[b->n - 1].wm, m, res, sink,
                             opaque, changed);
}
