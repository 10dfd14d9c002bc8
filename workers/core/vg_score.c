#include "vg_score.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vg_str.h"

static const char *const vg_verdicts[VG_V__COUNT] = {
    [VG_V_NOT_ELIGIBLE] = "not_eligible", [VG_V_FIRE] = "fire",
    [VG_V_BELOW_THRESHOLD] = "below_threshold", [VG_V_STALE] = "stale_event",
    [VG_V_NO_CONSENT] = "no_consent", [VG_V_COOLDOWN] = "cooldown",
    [VG_V_CHANNEL_COOLDOWN] = "channel_cooldown", [VG_V_CAP] = "cap",
    [VG_V_LOWER_PRIORITY] = "lower_priority",
};

_Static_assert(VG_STATE_SEQ_STEPS == VG_MODEL_MAX_SEQ_STEPS, "sequence steps");
_Static_assert(offsetof(vg_score_t, verdicts) ==
                   offsetof(vg_score_t, reasons) + sizeof(((vg_score_t *)0)->reasons),
               "vg_score_compute clears all of vg_score_t but its reasons");
_Static_assert(VG_STATE_NAME_MAX == VG_MODEL_NAME_MAX, "names");

static const char *const vg_ladder[] = {"", "coincidence", "pattern", "trend"};

const char *vg_verdict_str(vg_verdict_t v) {
    return v >= 0 && v < VG_V__COUNT ? vg_verdicts[v] : "unknown";
}

/* --- transition ------------------------------------------------------------ */

static void vg_window_add(vg_state_window_t *w, const vg_event_t *ev, int64_t now,
                          int64_t within_ms) {
    uint32_t o = 0;

    /* Forget what fell out of the window, then append (newest last). */
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->times_ms[i] <= now - within_ms)
            continue;
        if (o != i) {
            w->times_ms[o] = w->times_ms[i];
            w->channels[o] = w->channels[i];
            memcpy(w->event_ids[o], w->event_ids[i], VG_STATE_EVID_MAX);
        }
        o++;
    }
    w->n = o;
    if (w->n == VG_STATE_WINDOW_MAX) {
        memmove(&w->times_ms[0], &w->times_ms[1], sizeof(w->times_ms[0]) * (w->n - 1));
        memmove(&w->channels[0], &w->channels[1], sizeof(w->channels[0]) * (w->n - 1));
        memmove(&w->event_ids[0], &w->event_ids[1], VG_STATE_EVID_MAX * (w->n - 1));
        w->n--;
    }
    w->times_ms[w->n] = ev->event_time_ms;
    w->channels[w->n] = (int32_t)ev->channel;
    vg_str_copy(w->event_ids[w->n], VG_STATE_EVID_MAX, ev->event_id);
    w->n++;
}

void vg_score_transition(vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                         vg_transition_t *tr) {
    int64_t t = ev->event_time_ms;
    int64_t now = t > st->last_event_ms ? t : st->last_event_ms;
    uint32_t hit = 0; /* bit per model signal the event matches */

    memset(tr, 0, sizeof(*tr));
    /* Consent and descriptive data are the customer's latest word, late or not. */
    st->n_consents = 0;
    for (size_t i = 0; i < ev->n_consents && st->n_consents < VG_STATE_MAX_CONSENTS; i++)
        vg_str_copy(st->consents[st->n_consents++], VG_STATE_PURPOSE_MAX, ev->consents[i]);
    if (ev->descriptive) {
        st->value_tier = (int32_t)ev->descriptive->value_tier;
        st->tenure_months = ev->descriptive->tenure_months;
        st->revenue_weight = ev->descriptive->revenue_weight;
        st->churn_risk = ev->descriptive->churn_risk;
    }
    st->events_applied++;
    if (st->last_event_ms && t < st->last_event_ms - m->lateness_ms) {
        /* Beyond the allowed lateness: counting it would rewrite decisions
         * already taken. It is applied (offset) but not counted. */
        tr->late = true;
        return;
    }
    st->last_event_ms = now;
    for (uint32_t s = 0; s < m->n_signals; s++)
        hit |= (uint32_t)vg_match_event(&m->signals[s].match, ev) << s;
    tr->signals_known = m->n_signals < 32 ? (1u << m->n_signals) - 1 : UINT32_MAX;
    tr->signals_hit = hit;

    for (uint32_t w = 0; w < m->n_windows; w++) {
        const vg_model_window_t *mw = &m->windows[w];
        if (!(hit >> mw->signal & 1u))
            continue;
        vg_window_add(vg_state_window(st, mw->name), ev, now, mw->within_ms);
        tr->window_hit |= 1u << w;
    }
    for (uint32_t q = 0; q < m->n_sequences; q++) {
        const vg_model_sequence_t *ms = &m->sequences[q];
        vg_state_sequence_t *ss = vg_state_sequence(st, ms->name);
        if (ss->progress > 0 && t - ss->start_ms > ms->within_ms)
            ss->progress = 0; /* too slow: start over */
        if (ss->progress < ms->n_steps && (hit >> ms->steps[ss->progress] & 1u)) {
            if (ss->progress == 0)
                ss->start_ms = t;
            vg_str_copy(ss->event_ids[ss->progress], VG_STATE_EVID_MAX, ev->event_id);
            ss->channels[ss->progress] = (int32_t)ev->channel;
            if (++ss->progress == ms->n_steps) {
                tr->seq_done |= 1u << q;
                ss->progress = 0;
            }
        }
    }
    for (uint32_t a = 0; a < m->n_absences; a++) {
        const vg_model_absence_t *ma = &m->absences[a];
        vg_state_absence_t *pa = vg_state_absence(st, ma->name);
        if (pa && (hit >> ma->expect & 1u) && t >= pa->start_ms) {
            /* The expected event came: nothing to do, forget the deadline. */
            *pa = st->absences[--st->n_absences];
            pa = NULL;
        }
        if (!pa && (hit >> ma->start & 1u) && st->n_absences < VG_STATE_MAX_ABSENCES) {
            pa = &st->absences[st->n_absences++];
            vg_str_copy(pa->name, sizeof(pa->name), ma->name);
            pa->start_ms = t;
            pa->due_ms = t + ma->within_ms;
            pa->channel = (int32_t)ev->channel;
            vg_str_copy(pa->event_id, sizeof(pa->event_id), ev->event_id);
        }
    }
}

/* --- scoring ---------------------------------------------------------------- */

static const vg_state_window_t *vg_find_window(const vg_state_t *st, const char *name) {
    for (uint32_t i = 0; i < st->n_troubles; i++)
        if (vg_str_eq(st->troubles[i].kind, name))
            return &st->troubles[i];
    return NULL;
}

/* Keep the term among the reasons, most contributing first; its words
 * are rendered only when a decision is published or explained
 * (vg_score_describe): formatting them for every event cost half the
 * scoring time. */
static void vg_add_reason(vg_score_t *s, int term, double contribution) {
    uint32_t i;

    if (contribution <= 0.0 || s->n_reasons == VG_REASONS_MAX)
        return;
    /* Insertion keeps the list sorted; ties keep the model's order. */
    for (i = s->n_reasons; i > 0 && s->reasons[i - 1].contribution < contribution; i--)
        s->reasons[i] = s->reasons[i - 1];
    s->reasons[i].term = term;
    s->reasons[i].contribution = contribution;
    s->reasons[i].code[0] = s->reasons[i].detail[0] = '\0';
    s->n_reasons++;
}

void vg_score_describe(vg_score_t *s, const vg_state_t *st, const vg_model_t *m) {
    for (uint32_t i = 0; i < s->n_reasons; i++) {
        vg_reason_t *r = &s->reasons[i];
        const vg_model_term_t *mt = &m->terms[r->term];

        vg_str_copy(r->code, sizeof(r->code), mt->reason);
        vg_str_copy(r->detail, sizeof(r->detail), mt->detail);
        if (mt->kind == VG_TERM_LEVEL && s->levels[mt->ref] > 0) {
            snprintf(r->code, sizeof(r->code), "%s_%s", mt->reason, vg_ladder[s->levels[mt->ref]]);
            snprintf(r->detail, sizeof(r->detail), "%u %s within %lld min (%s)",
                     s->counts[mt->ref], m->signals[m->windows[mt->ref].signal].name,
                     (long long)(m->windows[mt->ref].within_ms / 60000),
                     vg_ladder[s->levels[mt->ref]]);
        } else if (mt->kind == VG_TERM_CHURN) {
            snprintf(r->detail, sizeof(r->detail), "churn risk %.2f from the upstream model",
                     st->churn_risk);
        }
    }
}

static bool vg_has_consent(const vg_state_t *st, const char *purpose) {
    for (uint32_t i = 0; i < st->n_consents; i++)
        if (vg_str_eq(st->consents[i], purpose))
            return true;
    return false;
}

/* Whether the event matches the model's signals, each matched at most
 * once per event: the transition matched them all already, and terms and
 * eligibility rules ask about the same few again and again. */
typedef struct vg_signal_memo_s {
    const vg_model_t *m;
    const vg_event_t *ev;
    uint32_t known, hit; /* bit per signal */
} vg_signal_memo_t;

_Static_assert(VG_MODEL_MAX_SIGNALS <= 32, "a bit per signal");

static bool vg_signal_matches(vg_signal_memo_t *sm, int signal) {
    uint32_t bit = 1u << signal;

    if (!(sm->known & bit)) {
        sm->known |= bit;
        if (vg_match_event(&sm->m->signals[signal].match, sm->ev))
            sm->hit |= bit;
    }
    return (sm->hit & bit) != 0;
}

/* Does eligibility rule e hold now, caused by this event or deadline? */
/* at_level[l]: bit per model window at ladder level l or above. */
static bool vg_eligible(const vg_model_elig_t *e, const vg_event_t *ev, const vg_transition_t *tr,
                        const uint32_t at_level[4], vg_signal_memo_t *sm) {
    bool fresh = false;

    if (e->signal >= 0) {
        if (!ev || !vg_signal_matches(sm, e->signal))
            return false;
        fresh = true;
    }
    if (e->sequence >= 0) {
        if (!(tr->seq_done & (1u << e->sequence)))
            return false;
        fresh = true;
    }
    if (e->absence >= 0) {
        if (!(tr->absence_fired & (1u << e->absence)))
            return false;
        fresh = true;
    }
    if (e->level_mask) {
        /* Levels stop at 3: a higher minimum is met by no window. */
        uint32_t open = e->min_level < 4 ? e->level_mask & at_level[e->min_level] : 0;
        if (!open)
            return false;
        if (open & tr->window_hit)
            fresh = true;
    }
    return fresh;
}

static bool vg_last_fire_within(const vg_state_t *st, const char *iv, int32_t channel,
                                bool any_channel, int64_t now, int64_t span) {
    for (uint32_t i = 0; i < st->n_ledgers; i++) {
        const vg_state_ledger_t *l = &st->ledgers[i];
        if (!vg_str_eq(l->intervention, iv) || (!any_channel && l->channel != channel) || !l->n)
            continue;
        if (now - l->fired_ms[l->n - 1] < span)
            return true;
    }
    return false;
}

static uint32_t vg_fires_within(const vg_state_t *st, const char *iv, int64_t now, int64_t span) {
    uint32_t n = 0;

    for (uint32_t i = 0; i < st->n_ledgers; i++) {
        const vg_state_ledger_t *l = &st->ledgers[i];
        if (!vg_str_eq(l->intervention, iv))
            continue;
        for (uint32_t j = 0; j < l->n; j++)
            n += now - l->fired_ms[j] < span;
    }
    return n;
}

void vg_score_compute(const vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                      const vg_transition_t *tr, int64_t now, int64_t record_ms, vg_score_t *s) {
    /* The state's window of each model window, looked up by name once. */
    const vg_state_window_t *sws[VG_MODEL_MAX_WINDOWS];
    vg_signal_memo_t sm = {m, ev, tr->signals_known, tr->signals_hit};
    uint32_t at_level[4] = {0}; /* bit per window at ladder level l or above */
    double best = -1.0;

    /* All but the reasons, which are written as they are added (nothing
     * past n_reasons is read): clearing their 1.5 KB for every event was
     * a quarter of the decision's time. */
    memset(s, 0, offsetof(vg_score_t, reasons));
    memset(&s->verdicts, 0, sizeof(*s) - offsetof(vg_score_t, verdicts));
    s->now_ms = now;
    s->winner = -1;
    s->channel = ev ? (int32_t)ev->channel : 0;

    /* Window counts and the ladder. The worst level drives lineage; ties go
     * to the most recent trouble. */
    for (uint32_t w = 0; w < m->n_windows; w++) {
        const vg_model_window_t *mw = &m->windows[w];
        const vg_state_window_t *sw = sws[w] = vg_find_window(st, mw->name);
        uint32_t n = 0;
        for (uint32_t i = 0; sw && i < sw->n; i++)
            n += sw->times_ms[i] > now - mw->within_ms && sw->times_ms[i] <= now;
        s->counts[w] = n;
        s->levels[w] = n >= mw->trend_at ? 3 : n >= mw->pattern_at ? 2 : n >= 1 ? 1 : 0;
        for (uint32_t l = 0; l <= s->levels[w]; l++)
            at_level[l] |= 1u << w;
        if (s->levels[w] > s->level ||
            (s->levels[w] == s->level && s->levels[w] > 0 && s->worst &&
             sw->times_ms[sw->n - 1] > s->worst->times_ms[s->worst->n - 1])) {
            s->level = s->levels[w];
            s->worst = sw;
        }
    }

    /* The logistic propensity, term by term. */
    s->z = m->bias;
    for (uint32_t t = 0; t < m->n_terms; t++) {
        const vg_model_term_t *mt = &m->terms[t];
        double v = 0.0;
        switch (mt->kind) {
        case VG_TERM_LEVEL:
            v = s->levels[mt->ref];
            break;
        case VG_TERM_COUNT:
            v = s->counts[mt->ref];
            break;
        case VG_TERM_CHANNELS: {
            const vg_state_window_t *sw = sws[mt->ref];
            uint32_t seen = 0;
            for (uint32_t i = 0; sw && i < sw->n; i++)
                if (sw->times_ms[i] > now - m->windows[mt->ref].within_ms &&
                    sw->channels[i] >= 0 && sw->channels[i] < 32)
                    seen |= 1u << sw->channels[i];
            v = __builtin_popcount(seen);
            break;
        }
        case VG_TERM_SIGNAL:
            if (ev && !tr->late && vg_signal_matches(&sm, mt->ref)) {
                v = 1.0;
                if (mt->open_mask) {
                    /* Only while one of the named problems is open. */
                    v = 0.0;
                    for (uint32_t w = 0; w < m->n_windows && v == 0.0; w++) {
                        const vg_state_window_t *sw;
                        if (!(mt->open_mask & (1u << w)))
                            continue;
                        sw = sws[w];
                        if (sw && sw->n && sw->times_ms[sw->n - 1] > now - mt->open_ms)
                            v = 1.0;
                    }
                }
            }
            break;
        case VG_TERM_SEQUENCE:
            v = (tr->seq_done >> mt->ref) & 1u;
            break;
        case VG_TERM_ABSENCE:
            v = (tr->absence_fired >> mt->ref) & 1u;
            break;
        case VG_TERM_CHURN:
            v = st->churn_risk;
            break;
        case VG_TERM_HIGH_VALUE:
            v = st->value_tier == VIGIL__V1__VALUE_TIER__VALUE_TIER_GOLD ||
                        st->value_tier == VIGIL__V1__VALUE_TIER__VALUE_TIER_PLATINUM
                    ? 1.0
                    : 0.0;
            break;
        case VG_TERM_TENURE_YEARS:
            v = st->tenure_months / 12.0;
            break;
        }
        s->term_values[t] = v;
        s->z += mt->weight * v;
        vg_add_reason(s, (int)t, mt->weight * v);
    }
    s->propensity = 1.0 / (1.0 + exp(-s->z));
    s->value_weight = (st->value_tier >= 0 && st->value_tier <= 4 ? m->tier_weight[st->value_tier]
                                                                  : 1.0) *
                      (m->use_revenue_weight && st->revenue_weight > 0.0 ? st->revenue_weight
                                                                         : 1.0);

    /* Decide: every intervention gets a verdict; the eligible one with the
     * highest priority that no policy stops wins. A late event decides
     * nothing: it was not counted. */
    for (uint32_t i = 0; !tr->late && i < m->n_interventions; i++) {
        const vg_model_intervention_t *iv = &m->interventions[i];
        int32_t ch = s->channel;
        bool elig = false;

        for (uint32_t e = 0; e < iv->n_eligible && !elig; e++)
            elig = vg_eligible(&iv->eligible[e], ev, tr, at_level, &sm);
        if (!elig)
            continue; /* VG_V_NOT_ELIGIBLE */
        if (iv->channel_mask && (ch < 0 || ch >= 32 || !(iv->channel_mask & (1u << ch))))
            ch = iv->default_channel;
        s->priorities[i] = s->propensity * s->value_weight * iv->context_weight;
        if (s->propensity < iv->threshold)
            s->verdicts[i] = VG_V_BELOW_THRESHOLD;
        else if (iv->stale_after_ms && record_ms > 0 && record_ms - now > iv->stale_after_ms)
            s->verdicts[i] = VG_V_STALE;
        else if (!vg_has_consent(st, iv->purpose))
            s->verdicts[i] = VG_V_NO_CONSENT;
        else if (iv->cooldown_ms && vg_last_fire_within(st, iv->name, ch, true, now, iv->cooldown_ms))
            s->verdicts[i] = VG_V_COOLDOWN;
        else if (iv->channel_cooldown_ms &&
                 vg_last_fire_within(st, iv->name, ch, false, now, iv->channel_cooldown_ms))
            s->verdicts[i] = VG_V_CHANNEL_COOLDOWN;
        else if (iv->cap_count && vg_fires_within(st, iv->name, now, iv->cap_window_ms) >= iv->cap_count)
            s->verdicts[i] = VG_V_CAP;
        else {
            s->verdicts[i] = VG_V_FIRE;
            if (s->priorities[i] > best) {
                if (s->winner >= 0)
                    s->verdicts[s->winner] = VG_V_LOWER_PRIORITY;
                best = s->priorities[i];
                s->winner = (int)i;
                s->channel = ch;
            } else {
                s->verdicts[i] = VG_V_LOWER_PRIORITY;
            }
        }
        if (!s->suppressed && s->verdicts[i] != VG_V_FIRE && s->verdicts[i] != VG_V_LOWER_PRIORITY)
            s->suppressed = vg_verdict_str(s->verdicts[i]);
    }
    if (s->winner >= 0) {
        s->fire = true;
        vg_score_describe(s, st, m); /* the trigger carries the words */
        s->intervention = m->interventions[s->winner].name;
        s->priority_score = s->priorities[s->winner];
        s->suppressed = NULL;
    } else {
        /* For explain: the first eligible intervention's name. */
        for (uint32_t i = 0; i < m->n_interventions && !s->intervention; i++)
            if (s->verdicts[i] != VG_V_NOT_ELIGIBLE)
                s->intervention = m->interventions[i].name;
    }
}

void vg_score_record_fire(vg_state_t *st, const char *intervention, int32_t channel, int64_t t) {
    vg_state_ledger_t *l = vg_state_ledger(st, intervention, channel);

    if (l->n == VG_STATE_LEDGER_MAX) {
        memmove(&l->fired_ms[0], &l->fired_ms[1], sizeof(l->fired_ms[0]) * (l->n - 1));
        l->n--;
    }
    l->fired_ms[l->n++] = t;
}
