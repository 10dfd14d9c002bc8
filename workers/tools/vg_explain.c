#include "vg_explain.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vg_event.h"
#include "vg_names.h"
#include "vg_score.h"

static const char *const vg_x_ladder[] = {"none", "coincidence", "pattern", "trend"};

static const char *vg_x_channel(int32_t c) {
    return vg_names_get(vg_names_channel, VG_NAMES_CHANNEL_N, c);
}

static void vg_x_time(int64_t ms, char *buf, size_t size) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The state as the worker scored it: without the fire the decision
 * caused at t and without fires after it (deadlines that came due later). */
static void vg_x_rewind(vg_state_t *st, int64_t t) {
    for (uint32_t i = 0; i < st->n_ledgers; i++) {
        vg_state_ledger_t *l = &st->ledgers[i];
        bool own = st->last_fired[0] && strcmp(l->intervention, st->last_fired) == 0 &&
                   l->channel == st->last_fired_channel;
        while (l->n && (l->fired_ms[l->n - 1] > t || (own && l->fired_ms[l->n - 1] == t))) {
            if (l->fired_ms[l->n - 1] == t)
                own = false; /* only the one */
            l->n--;
        }
    }
}

static const char *vg_x_term_name(const vg_model_t *m, const vg_model_term_t *t, char *buf,
                                  size_t size) {
    switch (t->kind) {
    case VG_TERM_LEVEL:
        snprintf(buf, size, "level(%s)", m->windows[t->ref].name);
        break;
    case VG_TERM_COUNT:
        snprintf(buf, size, "count(%s)", m->windows[t->ref].name);
        break;
    case VG_TERM_CHANNELS:
        snprintf(buf, size, "channels(%s)", m->windows[t->ref].name);
        break;
    case VG_TERM_SIGNAL:
        snprintf(buf, size, "signal(%s)%s", m->signals[t->ref].name,
                 t->open_mask ? " while a problem is open" : "");
        break;
    case VG_TERM_SEQUENCE:
        snprintf(buf, size, "sequence(%s) completed", m->sequences[t->ref].name);
        break;
    case VG_TERM_ABSENCE:
        snprintf(buf, size, "absence(%s) due", m->absences[t->ref].name);
        break;
    case VG_TERM_CHURN:
        snprintf(buf, size, "churn risk");
        break;
    case VG_TERM_HIGH_VALUE:
        snprintf(buf, size, "high value (gold or platinum)");
        break;
    case VG_TERM_TENURE_YEARS:
        snprintf(buf, size, "tenure in years");
        break;
    }
    return buf;
}

/* Everything after the cause: windows, terms, reasons, interventions and
 * the decision. ev is NULL for a deadline. */
static void vg_x_print(const vg_state_t *st, const vg_event_t *ev, const vg_transition_t *tr,
                       const vg_score_t *s, const vg_model_t *m, FILE *out) {
    char when[32], name[160];

    if (ev) {
        fprintf(out, "\nsignals this event matched:\n");
        for (uint32_t i = 0; i < m->n_signals; i++)
            if (vg_match_event(&m->signals[i].match, ev))
                fprintf(out, "  %s\n", m->signals[i].name);
    }

    fprintf(out, "\nwindows (event time, per customer):\n");
    for (uint32_t w = 0; w < m->n_windows; w++)
        fprintf(out, "  %-24s %u within %lld min -> %s%s\n", m->windows[w].name, s->counts[w],
                (long long)(m->windows[w].within_ms / 60000), vg_x_ladder[s->levels[w]],
                (tr->window_hit >> w) & 1u ? " (this event counted)" : "");
    for (uint32_t q = 0; q < m->n_sequences; q++)
        if ((tr->seq_done >> q) & 1u)
            fprintf(out, "  sequence %s completed by this event\n", m->sequences[q].name);

    fprintf(out, "\nscore terms (z = bias + sum of weight x value):\n");
    fprintf(out, "  %-44s %8s %8s %10s\n", "term", "value", "weight", "contrib");
    fprintf(out, "  %-44s %8s %8s %+10.4f\n", "bias", "", "", m->bias);
    for (uint32_t t = 0; t < m->n_terms; t++)
        fprintf(out, "  %-44s %8.3f %8.3f %+10.4f\n",
                vg_x_term_name(m, &m->terms[t], name, sizeof(name)), s->term_values[t],
                m->terms[t].weight, s->term_values[t] * m->terms[t].weight);
    fprintf(out, "  z = %.4f   propensity = 1/(1+exp(-z)) = %.4f\n", s->z, s->propensity);
    fprintf(out, "  value weight = %.3f (tier x revenue weight)\n", s->value_weight);

    fprintf(out, "\nreason codes, most contributing first (contribution = weight x value):\n");
    for (uint32_t i = 0; i < s->n_reasons; i++)
        fprintf(out, "  %-36s %+.4f  %s\n", s->reasons[i].code, s->reasons[i].contribution,
                s->reasons[i].detail);

    fprintf(out, "\ninterventions (priority = propensity x value x context weight):\n");
    for (uint32_t i = 0; i < m->n_interventions; i++) {
        const vg_model_intervention_t *iv = &m->interventions[i];
        if (s->verdicts[i] == VG_V_NOT_ELIGIBLE) {
            fprintf(out, "  %-26s not eligible (no eligibility rule holds for this %s)\n",
                    iv->name, ev ? "event" : "deadline");
            continue;
        }
        fprintf(out, "  %-26s eligible; priority %.4f, threshold %.2f, purpose %s -> %s\n",
                iv->name, s->priorities[i], iv->threshold, iv->purpose,
                s->verdicts[i] == VG_V_FIRE ? "FIRED" : vg_verdict_str(s->verdicts[i]));
    }
    if (s->fire)
        fprintf(out, "\ndecision   %s on %s, priority %.4f\n", s->intervention,
                vg_x_channel(s->channel), s->priority_score);
    else if (s->suppressed)
        fprintf(out, "\ndecision   none (first reason an eligible one did not fire: %s)\n",
                s->suppressed);
    else
        fprintf(out, "\ndecision   none\n");
    if (st->n_absences) {
        fprintf(out, "\npending deadlines:\n");
        for (uint32_t i = 0; i < st->n_absences; i++) {
            vg_x_time(st->absences[i].due_ms, when, sizeof(when));
            fprintf(out, "  %s (started by %s) due %s\n", st->absences[i].name,
                    st->absences[i].event_id, when);
        }
    }
}

/* The latest decision was a deadline's: re-score it at its due time. */
static void vg_x_deadline(vg_state_t *st, vg_score_t *s, const vg_model_t *m, FILE *out) {
    vg_transition_t tr;
    char due[32], wm[32];

    vg_x_rewind(st, st->last_due_ms);
    memset(&tr, 0, sizeof(tr));
    tr.absence_fired = st->last_absence_fired;
    vg_score_compute(st, NULL, m, &tr, st->last_due_ms, st->last_watermark_ms, s);
    vg_score_describe(s, st, m);
    vg_x_time(st->last_due_ms, due, sizeof(due));
    vg_x_time(st->last_watermark_ms, wm, sizeof(wm));
    fprintf(out, "model      %s version %s\n", m->id, m->version);
    fprintf(out, "deadline   ");
    for (uint32_t a = 0; a < m->n_absences; a++)
        if ((tr.absence_fired >> a) & 1u)
            fprintf(out, "%s ", m->absences[a].name);
    fprintf(out, "due %s, passed when the partition's event-time watermark reached %s\n", due,
            wm);
    vg_x_print(st, NULL, &tr, s, m, out);
}

vg_err_t vg_explain(const vg_state_t *stored, const vg_model_t *m, FILE *out) {
    vg_state_t *st;
    vg_event_t *ev = NULL;
    vg_transition_t tr;
    vg_score_t *s;
    char when[32], errstr[256];

    if (!stored->last_event_len && !stored->last_timer)
        return VG_ERR_NOT_FOUND;
    if (!stored->last_timer &&
        vg_event_decode(stored->last_event, stored->last_event_len, NULL, 0, 0, NULL, &ev, errstr,
                        sizeof(errstr)))
        return VG_ERR_DECODE;
    st = malloc(sizeof(*st));
    s = malloc(sizeof(*s));
    if (!st || !s) {
        free(st);
        free(s);
        vg_event_free(ev, NULL);
        return VG_ERR_NOMEM;
    }
    *st = *stored;
    if (st->last_timer) {
        vg_x_deadline(st, s, m, out);
        free(st);
        free(s);
        return VG_OK;
    }
    vg_x_rewind(st, st->last_event_ms);
    memset(&tr, 0, sizeof(tr));
    tr.window_hit = st->last_window_hit;
    tr.seq_done = st->last_seq_done;
    tr.late = st->last_late;
    vg_score_compute(st, ev, m, &tr, st->last_event_ms, st->last_record_ms, s);
    vg_score_describe(s, st, m);

    vg_x_time(ev->event_time_ms, when, sizeof(when));
    fprintf(out, "model      %s version %s\n", m->id, m->version);
    fprintf(out, "event      %s at %s: %s/%s on %s%s\n", ev->event_id, when, ev->event_type,
            vg_names_get(vg_names_outcome, VG_NAMES_OUTCOME_N, (int)ev->outcome),
            vg_x_channel((int32_t)ev->channel), tr.late ? " (LATE: not counted, decides nothing)" : "");
    vg_x_print(st, ev, &tr, s, m, out);
    free(st);
    free(s);
    vg_event_free(ev, NULL);
    return VG_OK;
}
