#include "vg_model.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "vg_event.h"
#include "vg_names.h"
#include "vg_str.h"
#include "vg_model_default.h" /* generated: vg_model_default_yaml[] */

/* --- a small checked view over libyaml's document tree ----------------- */

typedef struct vg_mp_s {
    yaml_document_t doc;
    const char *name;
    char *errstr;
    size_t errstr_size;
    bool failed;
} vg_mp_t;

static bool vg_mp_fail(vg_mp_t *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the first error with the line of the node at fault. */
static bool vg_mp_fail(vg_mp_t *p, const yaml_node_t *n, const char *fmt, ...) {
    char msg[384];
    va_list ap;

    if (p->failed)
        return false;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vg_errstr_set(p->errstr, p->errstr_size, "%s:%zu: %s", p->name,
                  n ? n->start_mark.line + 1 : 0, msg);
    p->failed = true;
    return false;
}

static yaml_node_t *vg_mp_node(vg_mp_t *p, int id) { return yaml_document_get_node(&p->doc, id); }

static const char *vg_mp_str(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Value of key in mapping n, or NULL. */
static yaml_node_t *vg_mp_get(vg_mp_t *p, const yaml_node_t *n, const char *key) {
    if (!n || n->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *kv = n->data.mapping.pairs.start; kv < n->data.mapping.pairs.top; kv++) {
        const char *k = vg_mp_str(vg_mp_node(p, kv->key));
        if (k && strcmp(k, key) == 0)
            return vg_mp_node(p, kv->value);
    }
    return NULL;
}

/* Refuse keys of mapping n not in allowed (NULL-terminated): a typo in a
 * model must not silently mean "no condition". */
static bool vg_mp_keys(vg_mp_t *p, const yaml_node_t *n, const char *what,
                       const char *const *allowed) {
    if (!n || n->type != YAML_MAPPING_NODE)
        return vg_mp_fail(p, n, "%s: expected a mapping", what);
    for (yaml_node_pair_t *kv = n->data.mapping.pairs.start; kv < n->data.mapping.pairs.top; kv++) {
        yaml_node_t *kn = vg_mp_node(p, kv->key);
        const char *k = vg_mp_str(kn);
        bool ok = false;
        for (size_t i = 0; k && allowed[i]; i++)
            ok |= strcmp(k, allowed[i]) == 0;
        if (!ok)
            return vg_mp_fail(p, kn, "%s: unknown key \"%s\"", what, k ? k : "?");
    }
    return true;
}

static bool vg_mp_name(vg_mp_t *p, const yaml_node_t *n, char *out, size_t cap, const char *what) {
    const char *s = vg_mp_str(n);
    size_t len;

    if (!s || !*s)
        return vg_mp_fail(p, n, "%s: expected a name", what);
    len = strlen(s);
    if (len >= cap)
        return vg_mp_fail(p, n, "%s: \"%s\" is longer than %zu characters", what, s, cap - 1);
    for (size_t i = 0; i < len; i++)
        if (!(s[i] == '_' || s[i] == '-' || s[i] == '.' || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return vg_mp_fail(p, n, "%s: \"%s\": use letters, digits, '_', '-' or '.'", what, s);
    memcpy(out, s, len + 1);
    return true;
}

static bool vg_mp_text(vg_mp_t *p, const yaml_node_t *n, char *out, size_t cap, const char *what) {
    const char *s = vg_mp_str(n);

    if (!s)
        return vg_mp_fail(p, n, "%s: expected text", what);
    if (strlen(s) >= cap)
        return vg_mp_fail(p, n, "%s: longer than %zu characters", what, cap - 1);
    memcpy(out, s, strlen(s) + 1);
    return true;
}

static bool vg_mp_num(vg_mp_t *p, const yaml_node_t *n, double lo, double hi, double *out,
                      const char *what) {
    const char *s = vg_mp_str(n);
    char *end;
    double d;

    if (!s)
        return vg_mp_fail(p, n, "%s: expected a number", what);
    errno = 0;
    d = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(d))
        return vg_mp_fail(p, n, "%s: \"%s\" is not a number", what, s);
    if (d < lo || d > hi)
        return vg_mp_fail(p, n, "%s: %g is out of range [%g, %g]", what, d, lo, hi);
    *out = d;
    return true;
}

static bool vg_mp_bool(vg_mp_t *p, const yaml_node_t *n, bool *out, const char *what) {
    const char *s = vg_mp_str(n);

    if (s && (!strcmp(s, "true") || !strcmp(s, "yes")))
        *out = true;
    else if (s && (!strcmp(s, "false") || !strcmp(s, "no")))
        *out = false;
    else
        return vg_mp_fail(p, n, "%s: expected true or false", what);
    return true;
}

/* Durations: 500ms, 10s, 30m, 2h, 7d. */
static bool vg_mp_duration(vg_mp_t *p, const yaml_node_t *n, int64_t *out, const char *what) {
    const char *s = vg_mp_str(n);
    char *end;
    long long v;
    int64_t unit;

    if (!s)
        return vg_mp_fail(p, n, "%s: expected a duration like 30m", what);
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return vg_mp_fail(p, n, "%s: \"%s\" is not a duration (e.g. 500ms, 10s, 30m, 2h, 7d)",
                          what, s);
    if (!strcmp(end, "ms"))
        unit = 1;
    else if (!strcmp(end, "s"))
        unit = 1000;
    else if (!strcmp(end, "m"))
        unit = 60000;
    else if (!strcmp(end, "h"))
        unit = 3600000;
    else if (!strcmp(end, "d"))
        unit = 86400000;
    else
        return vg_mp_fail(p, n, "%s: \"%s\": the unit must be ms, s, m, h or d", what, s);
    if (v > 400LL * 86400000 / unit)
        return vg_mp_fail(p, n, "%s: \"%s\" is longer than 400 days", what, s);
    *out = v * unit;
    return true;
}

/* Iterate a scalar-or-sequence: calls fn for each scalar node. */
typedef bool (*vg_mp_each_fn)(vg_mp_t *p, yaml_node_t *n, void *arg);

static bool vg_mp_each(vg_mp_t *p, yaml_node_t *n, vg_mp_each_fn fn, void *arg, const char *what) {
    if (!n)
        return vg_mp_fail(p, n, "%s: missing", what);
    if (n->type == YAML_SCALAR_NODE)
        return fn(p, n, arg);
    if (n->type != YAML_SEQUENCE_NODE)
        return vg_mp_fail(p, n, "%s: expected a value or a list", what);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
        if (!fn(p, vg_mp_node(p, *it), arg))
            return false;
    return true;
}

/* --- enum names ----------------------------------------------------------- */

#define vg_outcomes vg_names_outcome
#define vg_channels vg_names_channel
#define vg_detections vg_names_signal
#define vg_tiers vg_names_value_tier
static const char *const vg_levels[] = {"none", "coincidence", "pattern", "trend", NULL};

#define vg_enum vg_names_find

typedef struct vg_mask_arg_s {
    const char *const *names;
    uint32_t *mask;
    const char *what;
} vg_mask_arg_t;

static bool vg_mp_mask_one(vg_mp_t *p, yaml_node_t *n, void *arg) {
    vg_mask_arg_t *a = arg;
    int v = vg_enum(a->names, vg_mp_str(n));
    char list[256] = "";

    if (v <= 0) {
        for (int i = 1; a->names[i]; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i > 1 ? ", " : "",
                     a->names[i]);
        return vg_mp_fail(p, n, "%s: unknown value \"%s\" (expected one of %s)", a->what,
                          vg_mp_str(n) ? vg_mp_str(n) : "?", list);
    }
    *a->mask |= 1u << v;
    return true;
}

typedef struct vg_strs_arg_s {
    char (*out)[VG_MODEL_NAME_MAX];
    uint32_t *n;
    const char *what;
} vg_strs_arg_t;

static bool vg_mp_str_one(vg_mp_t *p, yaml_node_t *n, void *arg) {
    vg_strs_arg_t *a = arg;

    if (*a->n == VG_MODEL_MATCH_MAX)
        return vg_mp_fail(p, n, "%s: at most %d values", a->what, VG_MODEL_MATCH_MAX);
    if (!vg_mp_name(p, n, a->out[*a->n], VG_MODEL_NAME_MAX, a->what))
        return false;
    (*a->n)++;
    return true;
}

/* --- sections ------------------------------------------------------------- */

static int vg_find(const void *base, size_t stride, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp((const char *)base + i * stride, name) == 0)
            return (int)i;
    return -1;
}

#define VG_FIND(arr, n, name) vg_find((arr), sizeof((arr)[0]), (n), (name))

static int vg_mp_ref(vg_mp_t *p, yaml_node_t *n, const void *base, size_t stride, uint32_t count,
                     const char *kind) {
    const char *s = vg_mp_str(n);
    int i = s ? vg_find(base, stride, count, s) : -1;

    if (i < 0)
        vg_mp_fail(p, n, "unknown %s \"%s\" (define it before use)", kind, s ? s : "?");
    return i;
}

#define VG_REF(p, n, arr, count, kind) vg_mp_ref((p), (n), (arr), sizeof((arr)[0]), (count), (kind))

static bool vg_mp_match(vg_mp_t *p, yaml_node_t *n, vg_match_t *m, const char *what) {
    static const char *const keys[] = {"event_type", "outcome", "channel", "detected",
                                       "error_code", "attributes", NULL};
    yaml_node_t *v;

    memset(m, 0, sizeof(*m));
    if (!vg_mp_keys(p, n, what, keys))
        return false;
    if (n->data.mapping.pairs.start == n->data.mapping.pairs.top)
        return vg_mp_fail(p, n, "%s: a signal needs at least one condition", what);
    if ((v = vg_mp_get(p, n, "event_type"))) {
        vg_strs_arg_t a = {m->event_types, &m->n_event_types, "event_type"};
        if (!vg_mp_each(p, v, vg_mp_str_one, &a, "event_type"))
            return false;
    }
    if ((v = vg_mp_get(p, n, "error_code"))) {
        vg_strs_arg_t a = {m->error_codes, &m->n_error_codes, "error_code"};
        if (!vg_mp_each(p, v, vg_mp_str_one, &a, "error_code"))
            return false;
    }
    if ((v = vg_mp_get(p, n, "outcome"))) {
        vg_mask_arg_t a = {vg_outcomes, &m->outcome_mask, "outcome"};
        if (!vg_mp_each(p, v, vg_mp_mask_one, &a, "outcome"))
            return false;
    }
    if ((v = vg_mp_get(p, n, "channel"))) {
        vg_mask_arg_t a = {vg_channels, &m->channel_mask, "channel"};
        if (!vg_mp_each(p, v, vg_mp_mask_one, &a, "channel"))
            return false;
    }
    if ((v = vg_mp_get(p, n, "detected"))) {
        vg_mask_arg_t a = {vg_detections, &m->detected_mask, "detected"};
        if (!vg_mp_each(p, v, vg_mp_mask_one, &a, "detected"))
            return false;
    }
    if ((v = vg_mp_get(p, n, "attributes"))) {
        if (v->type != YAML_MAPPING_NODE)
            return vg_mp_fail(p, v, "attributes: expected a mapping of key: value");
        for (yaml_node_pair_t *kv = v->data.mapping.pairs.start; kv < v->data.mapping.pairs.top;
             kv++) {
            if (m->n_attrs == 2)
                return vg_mp_fail(p, v, "attributes: at most 2 conditions");
            if (!vg_mp_text(p, vg_mp_node(p, kv->key), m->attr_keys[m->n_attrs], VG_MODEL_NAME_MAX,
                            "attribute key") ||
                !vg_mp_text(p, vg_mp_node(p, kv->value), m->attr_vals[m->n_attrs],
                            VG_MODEL_NAME_MAX, "attribute value"))
                return false;
            m->n_attrs++;
        }
    }
    return true;
}

/* Iterate a mapping of name: body, in file order. */
#define VG_MP_FOR_MAP(p, n, kn, vn)                                                           \
    for (yaml_node_pair_t *kv_ = (n)->data.mapping.pairs.start;                                \
         kv_ < (n)->data.mapping.pairs.top && ((kn) = vg_mp_node((p), kv_->key)) &&            \
         ((vn) = vg_mp_node((p), kv_->value));                                                 \
         kv_++)

static bool vg_mp_signals(vg_mp_t *p, vg_model_t *m, yaml_node_t *n) {
    yaml_node_t *kn, *vn;

    if (!n)
        return vg_mp_fail(p, n, "signals: missing");
    if (n->type != YAML_MAPPING_NODE)
        return vg_mp_fail(p, n, "signals: expected a mapping of name: conditions");
    VG_MP_FOR_MAP(p, n, kn, vn) {
        vg_model_signal_t *s;
        if (m->n_signals == VG_MODEL_MAX_SIGNALS)
            return vg_mp_fail(p, kn, "signals: at most %d", VG_MODEL_MAX_SIGNALS);
        s = &m->signals[m->n_signals];
        if (!vg_mp_name(p, kn, s->name, sizeof(s->name), "signal name"))
            return false;
        if (VG_FIND(m->signals, m->n_signals, s->name) >= 0)
            return vg_mp_fail(p, kn, "signal \"%s\" is defined twice", s->name);
        if (!vg_mp_match(p, vn, &s->match, s->name))
            return false;
        m->n_signals++;
    }
    return true;
}

static bool vg_mp_level(vg_mp_t *p, yaml_node_t *n, uint32_t *out, const char *what) {
    int l = vg_enum(vg_levels, vg_mp_str(n));

    if (l <= 0)
        return vg_mp_fail(p, n, "%s: expected coincidence, pattern or trend", what);
    *out = (uint32_t)l;
    return true;
}

static bool vg_mp_windows(vg_mp_t *p, vg_model_t *m, yaml_node_t *n) {
    static const char *const keys[] = {"signal", "within", "pattern", "trend", NULL};
    yaml_node_t *kn, *vn;

    if (!n)
        return true;
    if (n->type != YAML_MAPPING_NODE)
        return vg_mp_fail(p, n, "windows: expected a mapping of name: {signal, within, ...}");
    VG_MP_FOR_MAP(p, n, kn, vn) {
        vg_model_window_t *w;
        double pat = 2, tr = 3;
        if (m->n_windows == VG_MODEL_MAX_WINDOWS)
            return vg_mp_fail(p, kn, "windows: at most %d", VG_MODEL_MAX_WINDOWS);
        w = &m->windows[m->n_windows];
        if (!vg_mp_name(p, kn, w->name, sizeof(w->name), "window name") ||
            !vg_mp_keys(p, vn, w->name, keys))
            return false;
        if (VG_FIND(m->windows, m->n_windows, w->name) >= 0)
            return vg_mp_fail(p, kn, "window \"%s\" is defined twice", w->name);
        if ((w->signal = VG_REF(p, vg_mp_get(p, vn, "signal"), m->signals, m->n_signals,
                                "signal")) < 0)
            return false;
        if (!vg_mp_duration(p, vg_mp_get(p, vn, "within"), &w->within_ms, "within"))
            return false;
        if (w->within_ms <= 0)
            return vg_mp_fail(p, vn, "within: must be positive");
        if (vg_mp_get(p, vn, "pattern") &&
            !vg_mp_num(p, vg_mp_get(p, vn, "pattern"), 2, 8, &pat, "pattern"))
            return false;
        if (vg_mp_get(p, vn, "trend") &&
            !vg_mp_num(p, vg_mp_get(p, vn, "trend"), 3, 8, &tr, "trend"))
            return false;
        if (tr <= pat)
            return vg_mp_fail(p, vn, "%s: trend (%g) must be above pattern (%g)", w->name, tr, pat);
        w->pattern_at = (uint32_t)pat;
        w->trend_at = (uint32_t)tr;
        m->n_windows++;
    }
    return true;
}

typedef struct vg_steps_arg_s {
    vg_model_t *m;
    vg_model_sequence_t *s;
} vg_steps_arg_t;

static bool vg_mp_step_one(vg_mp_t *p, yaml_node_t *n, void *arg) {
    vg_steps_arg_t *a = arg;
    int i;

    if (a->s->n_steps == VG_MODEL_MAX_SEQ_STEPS)
        return vg_mp_fail(p, n, "steps: at most %d", VG_MODEL_MAX_SEQ_STEPS);
    if ((i = VG_REF(p, n, a->m->signals, a->m->n_signals, "signal")) < 0)
        return false;
    a->s->steps[a->s->n_steps++] = i;
    return true;
}

static bool vg_mp_sequences(vg_mp_t *p, vg_model_t *m, yaml_node_t *n) {
    static const char *const keys[] = {"steps", "within", NULL};
    yaml_node_t *kn, *vn;

    if (!n)
        return true;
    if (n->type != YAML_MAPPING_NODE)
        return vg_mp_fail(p, n, "sequences: expected a mapping");
    VG_MP_FOR_MAP(p, n, kn, vn) {
        vg_model_sequence_t *s;
        vg_steps_arg_t a;
        if (m->n_sequences == VG_MODEL_MAX_SEQUENCES)
            return vg_mp_fail(p, kn, "sequences: at most %d", VG_MODEL_MAX_SEQUENCES);
        s = &m->sequences[m->n_sequences];
        a.m = m;
        a.s = s;
        s->n_steps = 0;
        if (!vg_mp_name(p, kn, s->name, sizeof(s->name), "sequence name") ||
            !vg_mp_keys(p, vn, s->name, keys) ||
            !vg_mp_each(p, vg_mp_get(p, vn, "steps"), vg_mp_step_one, &a, "steps") ||
            !vg_mp_duration(p, vg_mp_get(p, vn, "within"), &s->within_ms, "within"))
            return false;
        if (s->n_steps < 2)
            return vg_mp_fail(p, vn, "%s: a sequence needs at least 2 steps", s->name);
        m->n_sequences++;
    }
    return true;
}

static bool vg_mp_absences(vg_mp_t *p, vg_model_t *m, yaml_node_t *n) {
    static const char *const keys[] = {"start", "expect", "within", NULL};
    yaml_node_t *kn, *vn;

    if (!n)
        return true;
    if (n->type != YAML_MAPPING_NODE)
        return vg_mp_fail(p, n, "absences: expected a mapping");
    VG_MP_FOR_MAP(p, n, kn, vn) {
        vg_model_absence_t *a;
        if (m->n_absences == VG_MODEL_MAX_ABSENCES)
            return vg_mp_fail(p, kn, "absences: at most %d", VG_MODEL_MAX_ABSENCES);
        a = &m->absences[m->n_absences];
        if (!vg_mp_name(p, kn, a->name, sizeof(a->name), "absence name") ||
            !vg_mp_keys(p, vn, a->name, keys))
            return false;
        if ((a->start = VG_REF(p, vg_mp_get(p, vn, "start"), m->signals, m->n_signals,
                               "signal")) < 0 ||
            (a->expect = VG_REF(p, vg_mp_get(p, vn, "expect"), m->signals, m->n_signals,
                                "signal")) < 0 ||
            !vg_mp_duration(p, vg_mp_get(p, vn, "within"), &a->within_ms, "within"))
            return false;
        if (a->start == a->expect)
            return vg_mp_fail(p, vn, "%s: start and expect must differ", a->name);
        if (a->within_ms < 1000)
            return vg_mp_fail(p, vn, "%s: within must be at least 1s", a->name);
        m->n_absences++;
    }
    return true;
}

typedef struct vg_wmask_arg_s {
    vg_model_t *m;
    uint32_t *mask;
} vg_wmask_arg_t;

static bool vg_mp_wmask_one(vg_mp_t *p, yaml_node_t *n, void *arg) {
    vg_wmask_arg_t *a = arg;
    int i = VG_REF(p, n, a->m->windows, a->m->n_windows, "window");

    if (i < 0)
        return false;
    *a->mask |= 1u << i;
    return true;
}

static bool vg_mp_terms(vg_mp_t *p, vg_model_t *m, yaml_node_t *n) {
    static const char *const keys[] = {"level", "count", "channels", "signal", "sequence",
                                       "absence", "churn", "high_value", "tenure_years",
                                       "open", "open_within", "weight", "reason", "detail", NULL};
    static const char *const kinds[] = {"level", "count", "channels", "signal", "sequence",
                                        "absence", "churn", "high_value", "tenure_years"};
    static const vg_term_kind_t kind_of[] = {VG_TERM_LEVEL, VG_TERM_COUNT, VG_TERM_CHANNELS,
                                             VG_TERM_SIGNAL, VG_TERM_SEQUENCE, VG_TERM_ABSENCE,
                                             VG_TERM_CHURN, VG_TERM_HIGH_VALUE,
                                             VG_TERM_TENURE_YEARS};
    yaml_node_t *bias = vg_mp_get(p, n, "bias"), *terms = vg_mp_get(p, n, "terms");
    static const char *const score_keys[] = {"bias", "terms", NULL};

    if (!n)
        return vg_mp_fail(p, n, "score: missing");
    if (!vg_mp_keys(p, n, "score", score_keys))
        return false;
    if (!bias || !vg_mp_num(p, bias, -50, 50, &m->bias, "bias"))
        return bias ? false : vg_mp_fail(p, n, "score: bias is required");
    if (!terms || terms->type != YAML_SEQUENCE_NODE)
        return vg_mp_fail(p, terms ? terms : n, "score: terms must be a list");
    for (yaml_node_item_t *it = terms->data.sequence.items.start; it < terms->data.sequence.items.top;
         it++) {
        yaml_node_t *tn = vg_mp_node(p, *it), *v;
        vg_model_term_t *t;
        int found = -1;

        if (m->n_terms == VG_MODEL_MAX_TERMS)
            return vg_mp_fail(p, tn, "terms: at most %d", VG_MODEL_MAX_TERMS);
        t = &m->terms[m->n_terms];
        memset(t, 0, sizeof(*t));
        t->ref = -1;
        if (!vg_mp_keys(p, tn, "term", keys))
            return false;
        for (int k = 0; k < (int)(sizeof(kinds) / sizeof(kinds[0])); k++) {
            if (!vg_mp_get(p, tn, kinds[k]))
                continue;
            if (found >= 0)
                return vg_mp_fail(p, tn, "term: both \"%s\" and \"%s\"; one input per term",
                                  kinds[found], kinds[k]);
            found = k;
        }
        if (found < 0)
            return vg_mp_fail(p, tn, "term: needs an input (level, count, channels, signal, "
                                     "sequence, absence, churn, high_value or tenure_years)");
        t->kind = kind_of[found];
        v = vg_mp_get(p, tn, kinds[found]);
        switch (t->kind) {
        case VG_TERM_LEVEL:
        case VG_TERM_COUNT:
        case VG_TERM_CHANNELS:
            t->ref = VG_REF(p, v, m->windows, m->n_windows, "window");
            break;
        case VG_TERM_SIGNAL:
            t->ref = VG_REF(p, v, m->signals, m->n_signals, "signal");
            break;
        case VG_TERM_SEQUENCE:
            t->ref = VG_REF(p, v, m->sequences, m->n_sequences, "sequence");
            break;
        case VG_TERM_ABSENCE:
            t->ref = VG_REF(p, v, m->absences, m->n_absences, "absence");
            break;
        default: {
            bool on;
            if (!vg_mp_bool(p, v, &on, kinds[found]))
                return false;
            if (!on)
                return vg_mp_fail(p, v, "%s: write the term only when it applies (true)",
                                  kinds[found]);
            t->ref = 0;
        }
        }
        if (t->ref < 0)
            return false;
        if ((v = vg_mp_get(p, tn, "open"))) {
            vg_wmask_arg_t a = {m, &t->open_mask};
            if (t->kind != VG_TERM_SIGNAL)
                return vg_mp_fail(p, v, "open: only for signal terms");
            if (!vg_mp_each(p, v, vg_mp_wmask_one, &a, "open"))
                return false;
            t->open_ms = 30LL * 60000;
            if (vg_mp_get(p, tn, "open_within") &&
                !vg_mp_duration(p, vg_mp_get(p, tn, "open_within"), &t->open_ms, "open_within"))
                return false;
        }
        if (!vg_mp_get(p, tn, "weight"))
            return vg_mp_fail(p, tn, "term: weight is required");
        if (!vg_mp_num(p, vg_mp_get(p, tn, "weight"), -20, 20, &t->weight, "weight"))
            return false;
        if (!vg_mp_get(p, tn, "reason"))
            return vg_mp_fail(p, tn, "term: reason is required (the reason code on triggers)");
        if (!vg_mp_name(p, vg_mp_get(p, tn, "reason"), t->reason, VG_MODEL_NAME_MAX, "reason"))
            return false;
        if ((v = vg_mp_get(p, tn, "detail")) && !vg_mp_text(p, v, t->detail, sizeof(t->detail),
                                                            "detail"))
            return false;
        m->n_terms++;
    }
    if (m->n_terms == 0)
        return vg_mp_fail(p, terms, "score: at least one term");
    return true;
}

static bool vg_mp_value(vg_mp_t *p, vg_model_t *m, yaml_node_t *n) {
    static const char *const keys[] = {"tiers", "revenue_weight", NULL};
    yaml_node_t *tiers, *kn, *vn;

    for (int i = 0; i < 5; i++)
        m->tier_weight[i] = 1.0;
    m->use_revenue_weight = false;
    if (!n)
        return true;
    if (!vg_mp_keys(p, n, "value", keys))
        return false;
    if ((tiers = vg_mp_get(p, n, "tiers"))) {
        if (tiers->type != YAML_MAPPING_NODE)
            return vg_mp_fail(p, tiers, "tiers: expected a mapping of tier: weight");
        VG_MP_FOR_MAP(p, tiers, kn, vn) {
            int t = vg_enum(vg_tiers, vg_mp_str(kn));
            if (t < 0)
                return vg_mp_fail(p, kn, "tiers: unknown tier \"%s\"", vg_mp_str(kn) ? vg_mp_str(kn) : "?");
            if (!vg_mp_num(p, vn, 0, 100, &m->tier_weight[t], "tier weight"))
                return false;
        }
    }
    if (vg_mp_get(p, n, "revenue_weight") &&
        !vg_mp_bool(p, vg_mp_get(p, n, "revenue_weight"), &m->use_revenue_weight,
                    "revenue_weight"))
        return false;
    return true;
}

static bool vg_mp_elig(vg_mp_t *p, vg_model_t *m, yaml_node_t *n, vg_model_elig_t *e) {
    static const char *const keys[] = {"signal", "level", "min", "sequence", "absence", NULL};
    yaml_node_t *v;

    e->signal = e->sequence = e->absence = -1;
    e->level_mask = 0;
    e->min_level = 1;
    if (!vg_mp_keys(p, n, "eligible", keys))
        return false;
    if ((v = vg_mp_get(p, n, "signal")) &&
        (e->signal = VG_REF(p, v, m->signals, m->n_signals, "signal")) < 0)
        return false;
    if ((v = vg_mp_get(p, n, "sequence")) &&
        (e->sequence = VG_REF(p, v, m->sequences, m->n_sequences, "sequence")) < 0)
        return false;
    if ((v = vg_mp_get(p, n, "absence")) &&
        (e->absence = VG_REF(p, v, m->absences, m->n_absences, "absence")) < 0)
        return false;
    if ((v = vg_mp_get(p, n, "level"))) {
        vg_wmask_arg_t a = {m, &e->level_mask};
        if (!vg_mp_each(p, v, vg_mp_wmask_one, &a, "level"))
            return false;
    }
    if ((v = vg_mp_get(p, n, "min"))) {
        if (!e->level_mask)
            return vg_mp_fail(p, v, "min: only with level");
        if (!vg_mp_level(p, v, &e->min_level, "min"))
            return false;
    }
    if (e->signal < 0 && e->sequence < 0 && e->absence < 0 && !e->level_mask)
        return vg_mp_fail(p, n, "eligible: needs signal, level, sequence or absence");
    return true;
}

static bool vg_mp_interventions(vg_mp_t *p, vg_model_t *m, yaml_node_t *n) {
    static const char *const keys[] = {"name", "purpose", "channels", "eligible", "threshold",
                                       "cooldown", "channel_cooldown", "cap", "valid_for",
                                       "stale_after", "context_weight", "destination", NULL};
    static const char *const cap_keys[] = {"count", "per", NULL};

    if (!n || n->type != YAML_SEQUENCE_NODE)
        return vg_mp_fail(p, n, "interventions: expected a list");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *in = vg_mp_node(p, *it), *v;
        vg_model_intervention_t *iv;
        double d;

        if (m->n_interventions == VG_MODEL_MAX_INTERVENTIONS)
            return vg_mp_fail(p, in, "interventions: at most %d", VG_MODEL_MAX_INTERVENTIONS);
        iv = &m->interventions[m->n_interventions];
        memset(iv, 0, sizeof(*iv));
        if (!vg_mp_keys(p, in, "intervention", keys) ||
            !vg_mp_name(p, vg_mp_get(p, in, "name"), iv->name, sizeof(iv->name),
                        "intervention name"))
            return false;
        if (VG_FIND(m->interventions, m->n_interventions, iv->name) >= 0)
            return vg_mp_fail(p, in, "intervention \"%s\" is defined twice", iv->name);
        if (!vg_mp_get(p, in, "purpose"))
            return vg_mp_fail(p, in, "%s: purpose is required (the consent it needs)", iv->name);
        if (!vg_mp_name(p, vg_mp_get(p, in, "purpose"), iv->purpose, sizeof(iv->purpose),
                        "purpose"))
            return false;
        if ((v = vg_mp_get(p, in, "channels"))) {
            vg_mask_arg_t a = {vg_channels, &iv->channel_mask, "channels"};
            if (!vg_mp_each(p, v, vg_mp_mask_one, &a, "channels"))
                return false;
            /* The first listed channel is the fallback. */
            iv->default_channel = vg_enum(vg_channels, vg_mp_str(v->type == YAML_SEQUENCE_NODE
                                                                     ? vg_mp_node(p, *v->data.sequence.items.start)
                                                                     : v));
        }
        v = vg_mp_get(p, in, "eligible");
        if (!v || v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.start == v->data.sequence.items.top)
            return vg_mp_fail(p, v ? v : in, "%s: eligible must be a non-empty list", iv->name);
        for (yaml_node_item_t *e = v->data.sequence.items.start; e < v->data.sequence.items.top; e++) {
            if (iv->n_eligible == VG_MODEL_MAX_ELIGIBLE)
                return vg_mp_fail(p, v, "eligible: at most %d rules", VG_MODEL_MAX_ELIGIBLE);
            if (!vg_mp_elig(p, m, vg_mp_node(p, *e), &iv->eligible[iv->n_eligible++]))
                return false;
        }
        iv->threshold = 0.5;
        if ((v = vg_mp_get(p, in, "threshold")) && !vg_mp_num(p, v, 0, 1, &iv->threshold, "threshold"))
            return false;
        if ((v = vg_mp_get(p, in, "cooldown")) && !vg_mp_duration(p, v, &iv->cooldown_ms, "cooldown"))
            return false;
        if ((v = vg_mp_get(p, in, "channel_cooldown")) &&
            !vg_mp_duration(p, v, &iv->channel_cooldown_ms, "channel_cooldown"))
            return false;
        if ((v = vg_mp_get(p, in, "cap"))) {
            if (!vg_mp_keys(p, v, "cap", cap_keys) ||
                !vg_mp_num(p, vg_mp_get(p, v, "count"), 1, 8, &d, "cap.count") ||
                !vg_mp_duration(p, vg_mp_get(p, v, "per"), &iv->cap_window_ms, "cap.per"))
                return false;
            iv->cap_count = (uint32_t)d;
        }
        iv->valid_for_ms = 15LL * 60000;
        if ((v = vg_mp_get(p, in, "valid_for")) && !vg_mp_duration(p, v, &iv->valid_for_ms, "valid_for"))
            return false;
        if ((v = vg_mp_get(p, in, "stale_after")) &&
            !vg_mp_duration(p, v, &iv->stale_after_ms, "stale_after"))
            return false;
        iv->context_weight = 1.0;
        if ((v = vg_mp_get(p, in, "context_weight")) &&
            !vg_mp_num(p, v, 0, 100, &iv->context_weight, "context_weight"))
            return false;
        if ((v = vg_mp_get(p, in, "destination")) &&
            !vg_mp_text(p, v, iv->destination, sizeof(iv->destination), "destination"))
            return false;
        m->n_interventions++;
    }
    if (m->n_interventions == 0)
        return vg_mp_fail(p, n, "interventions: at least one");
    return true;
}

vg_err_t vg_model_parse(vg_model_t *m, const char *text, size_t len, const char *name,
                        char *errstr, size_t errstr_size) {
    static const char *const top[] = {"id", "version", "lateness", "signals", "windows",
                                      "sequences", "absences", "score", "value", "interventions",
                                      NULL};
    yaml_parser_t parser;
    vg_mp_t p = {.name = name, .errstr = errstr, .errstr_size = errstr_size};
    yaml_node_t *root, *v;
    bool ok;

    memset(m, 0, sizeof(*m));
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &p.doc)) {
        vg_errstr_set(errstr, errstr_size, "%s:%zu:%zu: YAML error: %s", name,
                      parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                      parser.problem ? parser.problem : "syntax");
        yaml_parser_delete(&parser);
        return VG_ERR_CONFIG;
    }
    yaml_parser_delete(&parser);
    root = yaml_document_get_root_node(&p.doc);
    ok = root && vg_mp_keys(&p, root, "model", top) &&
         vg_mp_name(&p, vg_mp_get(&p, root, "id"), m->id, sizeof(m->id), "id") &&
         vg_mp_text(&p, vg_mp_get(&p, root, "version"), m->version, sizeof(m->version),
                    "version");
    if (ok) {
        m->lateness_ms = 60000;
        if ((v = vg_mp_get(&p, root, "lateness")))
            ok = vg_mp_duration(&p, v, &m->lateness_ms, "lateness");
    }
    ok = ok && vg_mp_signals(&p, m, vg_mp_get(&p, root, "signals")) &&
         vg_mp_windows(&p, m, vg_mp_get(&p, root, "windows")) &&
         vg_mp_sequences(&p, m, vg_mp_get(&p, root, "sequences")) &&
         vg_mp_absences(&p, m, vg_mp_get(&p, root, "absences")) &&
         vg_mp_terms(&p, m, vg_mp_get(&p, root, "score")) &&
         vg_mp_value(&p, m, vg_mp_get(&p, root, "value")) &&
         vg_mp_interventions(&p, m, vg_mp_get(&p, root, "interventions"));
    if (!ok && !p.failed)
        vg_errstr_set(errstr, errstr_size, "%s: empty model", name);
    yaml_document_delete(&p.doc);
    return ok ? VG_OK : VG_ERR_CONFIG;
}

vg_err_t vg_model_load(vg_model_t *m, const char *path, char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    vg_err_t err;

    if (!f) {
        vg_errstr_set(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
        return VG_ERR_CONFIG;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > 1 << 20) {
        fclose(f);
        vg_errstr_set(errstr, errstr_size, "%s: not a model file (size)", path);
        return VG_ERR_CONFIG;
    }
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        vg_errstr_set(errstr, errstr_size, "%s: read failed", path);
        return VG_ERR_CONFIG;
    }
    fclose(f);
    err = vg_model_parse(m, buf, (size_t)n, path, errstr, errstr_size);
    free(buf);
    return err;
}

const char *vg_model_default_text(void) { return vg_model_default_yaml; }

void vg_model_default(vg_model_t *m) {
    char err[512];

    /* The shipped model is checked by a unit test; failing here is a build
     * defect, not an input error. */
    if (vg_model_parse(m, vg_model_default_yaml, strlen(vg_model_default_yaml),
                       "workers/models/default.yaml", err, sizeof(err))) {
        fprintf(stderr, "vigil: built-in model is invalid: %s\n", err);
        abort();
    }
}

static void vg_model_mask_names(FILE *out, uint32_t mask, const char *const *names) {
    int first = 1;

    for (int i = 1; names[i]; i++)
        if (mask & (1u << i)) {
            fprintf(out, "%s%s", first ? "" : "|", names[i]);
            first = 0;
        }
    if (first)
        fprintf(out, "any");
}

static void vg_model_ms(FILE *out, int64_t ms) {
    if (ms % 86400000 == 0 && ms)
        fprintf(out, "%lldd", (long long)(ms / 86400000));
    else if (ms % 3600000 == 0 && ms)
        fprintf(out, "%lldh", (long long)(ms / 3600000));
    else if (ms % 60000 == 0 && ms)
        fprintf(out, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        fprintf(out, "%llds", (long long)(ms / 1000));
    else
        fprintf(out, "%lldms", (long long)ms);
}

void vg_model_summary(const vg_model_t *m, FILE *out) {
    fprintf(out, "model %s version %s (lateness ", m->id, m->version);
    vg_model_ms(out, m->lateness_ms);
    fprintf(out, ")\n%u signals:", m->n_signals);
    for (uint32_t i = 0; i < m->n_signals; i++)
        fprintf(out, " %s", m->signals[i].name);
    fprintf(out, "\n%u windows:\n", m->n_windows);
    for (uint32_t i = 0; i < m->n_windows; i++) {
        fprintf(out, "  %s: %s within ", m->windows[i].name, m->signals[m->windows[i].signal].name);
        vg_model_ms(out, m->windows[i].within_ms);
        fprintf(out, ", pattern at %u, trend at %u\n", m->windows[i].pattern_at,
                m->windows[i].trend_at);
    }
    fprintf(out, "%u sequences, %u absences\n", m->n_sequences, m->n_absences);
    for (uint32_t i = 0; i < m->n_absences; i++) {
        fprintf(out, "  %s: %s not followed by %s within ", m->absences[i].name,
                m->signals[m->absences[i].start].name, m->signals[m->absences[i].expect].name);
        vg_model_ms(out, m->absences[i].within_ms);
        fprintf(out, "\n");
    }
    fprintf(out, "score: sigmoid(%g + %u terms)\n", m->bias, m->n_terms);
    for (uint32_t i = 0; i < m->n_terms; i++)
        fprintf(out, "  %-28s weight %g\n", m->terms[i].reason, m->terms[i].weight);
    fprintf(out, "%u interventions:\n", m->n_interventions);
    for (uint32_t i = 0; i < m->n_interventions; i++) {
        const vg_model_intervention_t *iv = &m->interventions[i];
        fprintf(out, "  %-26s purpose %-9s threshold %.2f cooldown ", iv->name, iv->purpose,
                iv->threshold);
        vg_model_ms(out, iv->cooldown_ms);
        fprintf(out, " channels ");
        vg_model_mask_names(out, iv->channel_mask, vg_channels);
        fprintf(out, "\n");
    }
}

bool vg_match_event(const vg_match_t *mt, const void *evp) {
    const vg_event_t *ev = evp;
    bool any;

    if (mt->outcome_mask && !(mt->outcome_mask & (1u << (unsigned)ev->outcome)))
        return false;
    if (mt->channel_mask && !(mt->channel_mask & (1u << (unsigned)ev->channel)))
        return false;
    if (mt->n_event_types) {
        any = false;
        for (uint32_t i = 0; i < mt->n_event_types && !any; i++)
            any = vg_str_eq(mt->event_types[i], ev->event_type);
        if (!any)
            return false;
    }
    if (mt->n_error_codes) {
        any = false;
        for (uint32_t i = 0; i < mt->n_error_codes && !any; i++)
            any = ev->error_code && vg_str_eq(mt->error_codes[i], ev->error_code);
        if (!any)
            return false;
    }
    if (mt->detected_mask) {
        any = false;
        for (size_t i = 0; i < ev->n_signals && !any; i++)
            any = ev->signals[i] >= 0 && ev->signals[i] < 32 &&
                  (mt->detected_mask & (1u << (unsigned)ev->signals[i]));
        if (!any)
            return false;
    }
    for (uint32_t a = 0; a < mt->n_attrs; a++) {
        any = false;
        for (size_t i = 0; i < ev->n_attributes && !any; i++)
            any = ev->attributes[i]->key && ev->attributes[i]->value &&
                  !strcmp(ev->attributes[i]->key, mt->attr_keys[a]) &&
                  !strcmp(ev->attributes[i]->value, mt->attr_vals[a]);
        if (!any)
            return false;
    }
    return true;
}

vg_err_t vg_model_load_or_default(vg_model_t *m, const char *path, char *errstr,
                                  size_t errstr_size) {
    if (!path || !path[0]) {
        vg_model_default(m);
        return VG_OK;
    }
    return vg_model_load(m, path, errstr, errstr_size);
}

int64_t vg_model_horizon_ms(const vg_model_t *m) {
    int64_t h = m->lateness_ms;

#define VG_LONGER(x) ((x) > h ? (h = (x)) : h)
    for (uint32_t i = 0; i < m->n_windows; i++)
        VG_LONGER(m->windows[i].within_ms);
    for (uint32_t i = 0; i < m->n_sequences; i++)
        VG_LONGER(m->sequences[i].within_ms);
    for (uint32_t i = 0; i < m->n_absences; i++)
        VG_LONGER(m->absences[i].within_ms);
    for (uint32_t i = 0; i < m->n_terms; i++)
        VG_LONGER(m->terms[i].open_ms);
    for (uint32_t i = 0; i < m->n_interventions; i++) {
        const vg_model_intervention_t *iv = &m->interventions[i];
        VG_LONGER(iv->cooldown_ms);
        VG_LONGER(iv->channel_cooldown_ms);
        VG_LONGER(iv->cap_window_ms);
    }
#undef VG_LONGER
    return h;
}
