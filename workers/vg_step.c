#include "vg_step.h"

#include <stdio.h>
#include <string.h>

#include "vg_pseudo.h"
#include "vigil/v1/trigger.pb-c.h"

#define VG_LINEAGE_MAX_EVENTS 8

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

/* Encode the decision in out->score. The causing event is (cause_id,
 * cause_channel); extra_id, if any, is added to the lineage (the event
 * that started an absence). Everything points at the stack, the state or
 * the model: no heap. */
static vg_err_t vg_step_encode(const char *tenant, const char *customer_id, const char *cause,
                               const char *cause_event_id, Vigil__V1__Channel cause_channel,
                               const vg_model_t *m, const vg_step_ctx_t *ctx,
                               vg_step_result_t *out) {
    const vg_score_t *s = &out->score;
    const vg_model_intervention_t *iv = &m->interventions[s->winner];
    Vigil__V1__InterventionTrigger t = VIGIL__V1__INTERVENTION_TRIGGER__INIT;
    Vigil__V1__Lineage lin = VIGIL__V1__LINEAGE__INIT;
    Vigil__V1__ReasonCode rc[VG_REASONS_MAX], *rcp[VG_REASONS_MAX];
    char *ids[VG_LINEAGE_MAX_EVENTS + 1];
    Vigil__V1__Channel chans[VG_LINEAGE_MAX_EVENTS + 2];
    size_t n_ids = 0, n_ch = 0;

    vg_step_trigger_id(tenant, customer_id, s->intervention, cause, out->trigger_id);
    t.trigger_id = out->trigger_id;
    t.customer_id = (char *)customer_id;
    t.tenant = (char *)tenant;
    t.intervention = (char *)s->intervention;
    t.score = s->propensity;
    t.priority_score = s->priority_score;
    t.priority = vg_step_priority(s->priority_score);
    t.valid_until_ms = s->now_ms + iv->valid_for_ms;
    t.created_ms = s->now_ms;
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

    /* Origin: the events of the worst open problem, then the cause. */
    if (s->worst) {
        const vg_state_window_t *w = s->worst;
        uint32_t from = w->n > VG_LINEAGE_MAX_EVENTS ? w->n - VG_LINEAGE_MAX_EVENTS : 0;
        for (uint32_t i = from; i < w->n; i++) {
            if (strcmp(w->event_ids[i], cause_event_id) != 0)
                ids[n_ids++] = (char *)w->event_ids[i];
            vg_step_add_channel(chans, &n_ch, (Vigil__V1__Channel)w->channels[i]);
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

    /* Long ids can make a trigger outgrow its slot in the decision ring.
     * Rather than lose the decision, shed the least essential parts: first
     * the human-readable details, then all but the newest source ids. */
    if (vigil__v1__intervention_trigger__get_packed_size(&t) > sizeof(out->trigger)) {
        for (uint32_t i = 0; i < s->n_reasons; i++)
            rc[i].detail = "";
    }
    if (vigil__v1__intervention_trigger__get_packed_size(&t) > sizeof(out->trigger)) {
        lin.source_event_ids = ids + (n_ids - 1);
        lin.n_source_event_ids = 1;
    }
    if (vigil__v1__intervention_trigger__get_packed_size(&t) > sizeof(out->trigger))
        return VG_ERR_OVERFLOW;
    out->len = vigil__v1__intervention_trigger__pack(&t, out->trigger);
    return VG_OK;
}

static void vg_step_reset(vg_step_result_t *out) {
    out->replayed = out->fired = out->ring_evicted = out->dead = false;
    out->len = 0;
    out->trigger_id[0] = '\0';
    memset(&out->tr, 0, sizeof(out->tr));
}

vg_err_t vg_step_apply(vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                       const vg_step_ctx_t *ctx, vg_step_result_t *out) {
    int64_t applied = vg_state_applied(st, ctx->partition);
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

    vg_score_transition(st, ev, m, &out->tr);
    vg_score_compute(st, ev, m, &out->tr, st->last_event_ms, ctx->record_ms, &out->score);
    vg_state_set_applied(st, ctx->partition, ctx->offset);
    /* For explain (the event's bytes are the caller's to add). */
    st->last_event_len = 0;
    st->last_window_hit = out->tr.window_hit;
    st->last_seq_done = out->tr.seq_done;
    st->last_late = out->tr.late;
    st->last_record_ms = ctx->record_ms;
    st->last_fired[0] = '\0';
    if (!out->score.fire)
        return VG_OK;
    snprintf(st->last_fired, sizeof(st->last_fired), "%s", out->score.intervention);
    st->last_fired_channel = out->score.channel;

    if ((err = vg_step_encode(ev->tenant, ev->customer_id, ev->event_id, ev->event_id,
                              ev->channel, m, ctx, out))) {
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
    if ((err = vg_step_encode(tenant, customer_id, cause, start_id, (Vigil__V1__Channel)channel,
                              m, ctx, out)))
        return err;
    vg_score_record_fire(st, out->score.intervention, out->score.channel, due);
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
