#include "vg_score.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void vg_copy(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src ? src : "");
}

void vg_model_default(vg_model_t *m) {
    static const struct {
        const char *type, *intervention, *reason;
    } routes[] = {
        {"payment", "proactive_callback", "payment_failure"},
        {"login", "fix_and_notify", "login_failure"},
        {"order", "status_update", "order_failure"},
        {"checkout", "retention_offer", "checkout_abandoned"},
    };

    memset(m, 0, sizeof(*m));
    vg_copy(m->id, sizeof(m->id), "vigil-first-rules");
    vg_copy(m->version, sizeof(m->version), "1");
    m->window_ms = 30LL * 60 * 1000;
    m->pattern_at = 2;
    m->trend_at = 3;
    m->signal_window_ms = 30LL * 60 * 1000;
    m->bias = -4.0;
    m->w_level = 1.5;
    m->w_emotion = 1.6;
    m->w_churn = 1.0;
    m->w_high_value = 0.4;
    m->w_detractor = 2.2;
    m->fire_threshold = 0.7;
    m->cooldown_ms = 60LL * 60 * 1000;
    m->valid_for_ms = 15LL * 60 * 1000;
    vg_copy(m->purpose, sizeof(m->purpose), "service");
    vg_copy(m->emotion_intervention, sizeof(m->emotion_intervention), "escalate_to_senior_agent");
    vg_copy(m->default_intervention, sizeof(m->default_intervention), "status_update");
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        vg_model_route_t *r = &m->routes[m->n_routes++];
        vg_copy(r->event_type, sizeof(r->event_type), routes[i].type);
        vg_copy(r->intervention, sizeof(r->intervention), routes[i].intervention);
        vg_copy(r->reason_prefix, sizeof(r->reason_prefix), routes[i].reason);
    }
}

static bool vg_score_is_trouble(const vg_event_t *ev) {
    return ev->outcome == VIGIL__V1__OUTCOME__OUTCOME_FAILURE ||
           ev->outcome == VIGIL__V1__OUTCOME__OUTCOME_TIMEOUT ||
           ev->outcome == VIGIL__V1__OUTCOME__OUTCOME_ABANDONED;
}

static bool vg_score_is_emotion(const vg_event_t *ev) {
    return vg_event_has_signal(ev, VIGIL__V1__SIGNAL__SIGNAL_FRUSTRATION) ||
           vg_event_has_signal(ev, VIGIL__V1__SIGNAL__SIGNAL_ANGER) ||
           vg_event_has_signal(ev, VIGIL__V1__SIGNAL__SIGNAL_CONFUSION);
}

/* Count the entries of w inside [now - window, now]. Entries are kept in
 * arrival order; a late event inside the window counts like any other. */
static uint32_t vg_score_count(const vg_state_window_t *w, int64_t now, int64_t window_ms) {
    uint32_t n = 0;

    for (uint32_t i = 0; i < w->n; i++)
        if (w->times_ms[i] > now - window_ms && w->times_ms[i] <= now)
            n++;
    return n;
}

void vg_score_transition(vg_state_t *st, const vg_event_t *ev, const vg_model_t *m) {
    int64_t now = ev->event_time_ms > st->last_event_ms ? ev->event_time_ms : st->last_event_ms;

    if (vg_score_is_trouble(ev)) {
        vg_state_window_t *w = vg_state_window(st, ev->event_type);
        uint32_t o = 0;

        /* Forget what fell out of the window, then append. */
        for (uint32_t i = 0; i < w->n; i++) {
            if (w->times_ms[i] <= now - m->window_ms)
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
        vg_copy(w->event_ids[w->n], VG_STATE_EVID_MAX, ev->event_id);
        w->n++;
    }
    if (vg_score_is_emotion(ev))
        st->last_signal_ms = ev->event_time_ms;
    if (ev->descriptive) {
        st->value_tier = (int32_t)ev->descriptive->value_tier;
        st->tenure_months = ev->descriptive->tenure_months;
        st->revenue_weight = ev->descriptive->revenue_weight;
        st->churn_risk = ev->descriptive->churn_risk;
    }
    st->last_event_ms = now;
    st->events_applied++;
}

static const vg_model_route_t *vg_score_route(const vg_model_t *m, const char *event_type) {
    for (uint32_t i = 0; i < m->n_routes; i++)
        if (strcmp(m->routes[i].event_type, event_type) == 0)
            return &m->routes[i];
    return NULL;
}

static void vg_score_add_reason(vg_score_t *s, const char *code, double contribution,
                                const char *detail) {
    uint32_t i;

    if (contribution <= 0.0)
        return;
    if (s->n_reasons == VG_REASONS_MAX)
        return;
    /* Insertion keeps the list sorted, most contributing first. */
    for (i = s->n_reasons; i > 0 && s->reasons[i - 1].contribution < contribution; i--)
        s->reasons[i] = s->reasons[i - 1];
    vg_copy(s->reasons[i].code, sizeof(s->reasons[i].code), code);
    vg_copy(s->reasons[i].detail, sizeof(s->reasons[i].detail), detail);
    s->reasons[i].contribution = contribution;
    s->n_reasons++;
}

static double vg_score_value_weight(const vg_state_t *st) {
    static const double tier[] = {1.0, 1.0, 1.2, 1.5, 2.0};
    double w = (st->value_tier >= 0 && st->value_tier <= 4) ? tier[st->value_tier] : 1.0;

    return w * (st->revenue_weight > 0.0 ? st->revenue_weight : 1.0);
}

static bool vg_score_in_cooldown(const vg_state_t *st, const char *intervention, int64_t now,
                                 int64_t cooldown_ms) {
    for (uint32_t i = 0; i < st->n_ledgers; i++) {
        const vg_state_ledger_t *l = &st->ledgers[i];
        if (strcmp(l->intervention, intervention) != 0 || l->n == 0)
            continue;
        if (now - l->fired_ms[l->n - 1] < cooldown_ms)
            return true;
    }
    return false;
}

void vg_score_compute(const vg_state_t *st, const vg_event_t *ev, const vg_model_t *m,
                      vg_score_t *s) {
    int64_t now = st->last_event_ms;
    const vg_model_route_t *route = NULL;
    bool high_value, detractor;
    char code[VG_STATE_NAME_MAX + 16], detail[96];
    static const char *const ladder[] = {"", "coincidence", "pattern", "trend"};

    memset(s, 0, sizeof(*s));
    /* The worst open trouble drives the ladder; ties go to the most recent. */
    for (uint32_t i = 0; i < st->n_troubles; i++) {
        const vg_state_window_t *w = &st->troubles[i];
        uint32_t n = vg_score_count(w, now, m->window_ms);
        uint32_t level = n >= m->trend_at ? 3 : n >= m->pattern_at ? 2 : n >= 1 ? 1 : 0;
        if (level > s->level ||
            (level == s->level && level > 0 && s->worst &&
             w->times_ms[w->n - 1] > s->worst->times_ms[s->worst->n - 1])) {
            s->level = level;
            s->worst = w;
        }
    }
    s->emotion_open = s->level > 0 && st->last_signal_ms > 0 &&
                      now - st->last_signal_ms < m->signal_window_ms &&
                      s->worst->times_ms[s->worst->n - 1] > now - m->signal_window_ms;
    high_value = st->value_tier >= VIGIL__V1__VALUE_TIER__VALUE_TIER_GOLD;
    detractor = vg_event_has_signal(ev, VIGIL__V1__SIGNAL__SIGNAL_DETRACTOR);

    s->z = m->bias;
    if (s->level > 0) {
        route = vg_score_route(m, s->worst->kind);
        snprintf(code, sizeof(code), "%s_%s", route ? route->reason_prefix : s->worst->kind,
                 ladder[s->level]);
        s->z += m->w_level * s->level;
        snprintf(detail, sizeof(detail), "%u %s trouble event(s) within %lld min",
                 vg_score_count(s->worst, now, m->window_ms), s->worst->kind,
                 (long long)(m->window_ms / 60000));
        vg_score_add_reason(s, code, m->w_level * s->level, detail);
    }
    if (s->emotion_open) {
        s->z += m->w_emotion;
        vg_score_add_reason(s, "emotion_with_open_problem", m->w_emotion,
                            "frustration, anger or confusion detected while a problem is open");
    }
    if (detractor) {
        s->z += m->w_detractor;
        vg_score_add_reason(s, "detractor_survey", m->w_detractor,
                            "detractor answer in a survey");
    }
    s->z += m->w_churn * st->churn_risk;
    snprintf(detail, sizeof(detail), "churn risk %.2f from the upstream model", st->churn_risk);
    vg_score_add_reason(s, "churn_risk", m->w_churn * st->churn_risk, detail);
    if (high_value) {
        s->z += m->w_high_value;
        vg_score_add_reason(s, "high_value_at_risk", m->w_high_value,
                            "gold or platinum value tier");
    }
    s->propensity = 1.0 / (1.0 + exp(-s->z));
    s->value_weight = vg_score_value_weight(st);
    s->priority_score = s->propensity * s->value_weight * 1.0;

    /* Decide: only the event that moves the customer decides, so a trend
     * fires once, on the event that made it a trend. */
    if (!(vg_score_is_trouble(ev) || vg_score_is_emotion(ev) || detractor))
        return;
    if (!(s->level >= 3 || s->propensity >= m->fire_threshold))
        return;
    if (s->emotion_open && s->level >= 2)
        s->intervention = m->emotion_intervention;
    else if (route)
        s->intervention = route->intervention;
    else
        s->intervention = m->default_intervention;
    if (!vg_event_has_consent(ev, m->purpose)) {
        s->suppressed = "no_consent";
        return;
    }
    if (vg_score_in_cooldown(st, s->intervention, now, m->cooldown_ms)) {
        s->suppressed = "cooldown";
        return;
    }
    s->fire = true;
}

void vg_score_record_fire(vg_state_t *st, const char *intervention, int64_t t) {
    vg_state_ledger_t *l = vg_state_ledger(st, intervention, 0);

    if (l->n == VG_STATE_LEDGER_MAX) {
        memmove(&l->fired_ms[0], &l->fired_ms[1], sizeof(l->fired_ms[0]) * (l->n - 1));
        l->n--;
    }
    l->fired_ms[l->n++] = t;
}
