#include "vg_step.h"

#include <string.h>

#include "vg_pseudo.h"
#include "vigil/v1/trigger.pb-c.h"

#define VG_LINEAGE_MAX_EVENTS 8

void vg_step_trigger_id(const char *tenant, const char *customer_id, const char *intervention,
                        const char *event_id, char out[33]) {
    const char *parts[] = {"vigil.trigger.v1", tenant, customer_id, intervention, event_id};

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

/* Encode the trigger for the decision in s into out->trigger. Everything
 * points at the stack, the state or the event: no heap. */
static vg_err_t vg_step_encode(const vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                               const vg_step_ctx_t *ctx, vg_step_result_t *out) {
    const vg_score_t *s = &out->score;
    Vigil__V1__InterventionTrigger t = VIGIL__V1__INTERVENTION_TRIGGER__INIT;
    Vigil__V1__Lineage lin = VIGIL__V1__LINEAGE__INIT;
    Vigil__V1__ReasonCode rc[VG_REASONS_MAX], *rcp[VG_REASONS_MAX];
    char *ids[VG_LINEAGE_MAX_EVENTS + 1];
    Vigil__V1__Channel chans[VG_LINEAGE_MAX_EVENTS + 1];
    size_t n_ids = 0, n_ch = 0;

    vg_step_trigger_id(ev->tenant, ev->customer_id, s->intervention, ev->event_id,
                       out->trigger_id);
    t.trigger_id = out->trigger_id;
    t.customer_id = ev->customer_id;
    t.tenant = ev->tenant;
    t.intervention = (char *)s->intervention;
    t.score = s->propensity;
    t.priority_score = s->priority_score;
    t.priority = vg_step_priority(s->priority_score);
    t.valid_until_ms = ev->event_time_ms + m->valid_for_ms;
    t.created_ms = ev->event_time_ms;
    t.channel = ev->channel;
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

    /* Origin: the events of the worst open trouble, then this event. */
    if (s->worst) {
        const vg_state_window_t *w = s->worst;
        uint32_t from = w->n > VG_LINEAGE_MAX_EVENTS ? w->n - VG_LINEAGE_MAX_EVENTS : 0;
        for (uint32_t i = from; i < w->n; i++) {
            if (strcmp(w->event_ids[i], ev->event_id) == 0)
                continue;
            ids[n_ids++] = (char *)w->event_ids[i];
        }
        for (uint32_t i = from; i < w->n; i++) {
            bool seen = false;
            for (size_t j = 0; j < n_ch; j++)
                seen |= chans[j] == (Vigil__V1__Channel)w->channels[i];
            if (!seen)
                chans[n_ch++] = (Vigil__V1__Channel)w->channels[i];
        }
    }
    ids[n_ids++] = ev->event_id;
    {
        bool seen = false;
        for (size_t j = 0; j < n_ch; j++)
            seen |= chans[j] == ev->channel;
        if (!seen)
            chans[n_ch++] = ev->channel;
    }
    lin.n_source_event_ids = n_ids;
    lin.source_event_ids = ids;
    lin.n_channels = n_ch;
    lin.channels = chans;
    lin.purpose = (char *)m->purpose;
    lin.model_id = (char *)m->id;
    lin.model_version = (char *)m->version;
    lin.worker_id = (char *)(ctx->worker_id ? ctx->worker_id : "");
    lin.destination = (char *)(ctx->destination ? ctx->destination : "");
    lin.source_topic = (char *)(ctx->source_topic ? ctx->source_topic : "");
    lin.source_partition = ctx->partition;
    lin.source_offset = ctx->offset;
    t.lineage = &lin;
    (void)st;

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

vg_err_t vg_step_apply(vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                       const vg_step_ctx_t *ctx, vg_step_result_t *out) {
    int64_t applied = vg_state_applied(st, ctx->partition);
    vg_err_t err;

    out->replayed = out->fired = out->ring_evicted = false;
    out->len = 0;
    out->trigger_id[0] = '\0';

    if (ctx->offset <= applied) {
        const vg_state_decision_t *d = vg_state_find_decision(st, ctx->partition, ctx->offset);
        out->replayed = true;
        if (d) {
            out->fired = true;
            out->len = d->len;
            memcpy(out->trigger, d->trigger, d->len);
        }
        return VG_OK;
    }

    vg_score_transition(st, ev, m);
    vg_score_compute(st, ev, m, &out->score);
    vg_state_set_applied(st, ctx->partition, ctx->offset);
    if (!out->score.fire)
        return VG_OK;

    if ((err = vg_step_encode(st, ev, m, ctx, out)))
        return err;
    vg_score_record_fire(st, out->score.intervention, st->last_event_ms);
    out->fired = true;
    return vg_state_add_decision(st, ctx->partition, ctx->offset, out->trigger, out->len,
                                 &out->ring_evicted);
}
