/*
 * vg_json.c - JSON <-> protobuf with jansson (see vg_json.h for the shape).
 */
#include "vg_json.h"
#include "vg_names.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* ---- enum tables ------------------------------------------------------ */

/* Names are indexed by the enum's integer value; every Vigil enum runs
 * 0..N-1 with 0 = UNSPECIFIED, which is why a plain array works. */
typedef struct vg_json_enum_s {
    const char *const *names;
    size_t count;
    const char *expected; /* for error messages: the values people type */
} vg_json_enum_t;

/* The names are core's (vg_names.h); here only what people may type. */
static const vg_json_enum_t vg_json_channel = {
    vg_names_channel, VG_NAMES_CHANNEL_N, "web, app, chat, phone, payment, email, store"};
static const vg_json_enum_t vg_json_outcome = {
    vg_names_outcome, VG_NAMES_OUTCOME_N, "success, failure, abandoned, pending, timeout"};
static const vg_json_enum_t vg_json_signal = {
    vg_names_signal, VG_NAMES_SIGNAL_N, "frustration, anger, confusion, urgency, detractor"};
static const vg_json_enum_t vg_json_tier = {vg_names_value_tier, VG_NAMES_VALUE_TIER_N,
                                            "bronze, silver, gold, platinum"};
static const vg_json_enum_t vg_json_priority = {vg_names_priority, VG_NAMES_PRIORITY_N,
                                                "low, medium, high, critical"};

/* ---- JSON -> event ---------------------------------------------------- */

static const char *vg_json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static vg_err_t vg_json_type_error(const char *path, const char *expected,
                                   const json_t *v, char *errstr,
                                   size_t errstr_size) {
    vg_errstr_set(errstr, errstr_size, "field \"%s\": expected %s, got %s",
                  path, expected, vg_json_type_name(v));
    return VG_ERR_INVALID;
}

static vg_err_t vg_json_nomem(char *errstr, size_t errstr_size) {
    vg_errstr_set(errstr, errstr_size, "out of memory");
    return VG_ERR_NOMEM;
}

/* Generated defaults point at protobuf-c's shared empty string, which must
 * never reach free(). */
static void vg_json_free_str(char *s) {
    if (s && s != protobuf_c_empty_string)
        free(s);
}

static vg_err_t vg_json_get_string(const json_t *v, const char *path,
                                   char **dst, char *errstr,
                                   size_t errstr_size) {
    char *s;

    if (json_is_null(v))
        return VG_OK;
    if (!json_is_string(v))
        return vg_json_type_error(path, "a string", v, errstr, errstr_size);
    /* Without JSON_ALLOW_NUL jansson rejects "\u0000", so the value is a
     * proper C string and strdup() copies all of it. */
    s = strdup(json_string_value(v));
    if (!s)
        return vg_json_nomem(errstr, errstr_size);
    vg_json_free_str(*dst);
    *dst = s;
    return VG_OK;
}

static vg_err_t vg_json_get_int64(const json_t *v, const char *path,
                                  int64_t min, int64_t max, int64_t *dst,
                                  char *errstr, size_t errstr_size) {
    int64_t x;

    if (json_is_null(v))
        return VG_OK;
    if (json_is_integer(v)) {
        x = (int64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        /* proto3's JSON mapping writes 64-bit integers as strings, so
         * accept what other protobuf tools print. */
        const char *s = json_string_value(v);
        char *end = NULL;
        long long ll;

        errno = 0;
        ll = strtoll(s, &end, 10);
        /* strtoll() would also take leading spaces and a '+'. */
        if (!(*s == '-' || (*s >= '0' && *s <= '9')) || *end != '\0' ||
            errno == ERANGE) {
            vg_errstr_set(errstr, errstr_size,
                          "field \"%s\": \"%s\" is not a decimal integer",
                          path, s);
            return VG_ERR_INVALID;
        }
        x = (int64_t)ll;
    } else {
        return vg_json_type_error(path, "an integer", v, errstr, errstr_size);
    }
    if (x < min || x > max) {
        vg_errstr_set(errstr, errstr_size,
                      "field \"%s\": %" PRId64 " out of range (%" PRId64
                      "..%" PRId64 ")",
                      path, x, min, max);
        return VG_ERR_INVALID;
    }
    *dst = x;
    return VG_OK;
}

static vg_err_t vg_json_get_double(const json_t *v, const char *path,
                                   double *dst, char *errstr,
                                   size_t errstr_size) {
    if (json_is_null(v))
        return VG_OK;
    if (json_is_number(v)) {
        *dst = json_number_value(v);
        return VG_OK;
    }
    if (json_is_string(v)) {
        /* The spellings vg_json_from_*() prints for non-finite values. */
        const char *s = json_string_value(v);

        if (strcmp(s, "NaN") == 0) {
            *dst = NAN;
            return VG_OK;
        }
        if (strcmp(s, "Infinity") == 0) {
            *dst = INFINITY;
            return VG_OK;
        }
        if (strcmp(s, "-Infinity") == 0) {
            *dst = -INFINITY;
            return VG_OK;
        }
    }
    return vg_json_type_error(path, "a number", v, errstr, errstr_size);
}

static vg_err_t vg_json_get_enum(const json_t *v, const char *path,
                                 const vg_json_enum_t *e, int *dst,
                                 char *errstr, size_t errstr_size) {
    size_t i;

    if (json_is_null(v))
        return VG_OK;
    if (json_is_integer(v)) {
        /* Proto3 enums are open: a value from a newer schema prints as its
         * number, and must read back as that number. */
        json_int_t x = json_integer_value(v);

        if (x < 0 || x > INT32_MAX) {
            vg_errstr_set(errstr, errstr_size,
                          "field \"%s\": %" JSON_INTEGER_FORMAT
                          " out of range (0..%" PRId32 ")",
                          path, x, INT32_MAX);
            return VG_ERR_INVALID;
        }
        *dst = (int)x;
        return VG_OK;
    }
    if (!json_is_string(v))
        return vg_json_type_error(path, "a string", v, errstr, errstr_size);
    for (i = 0; i < e->count; i++) {
        if (strcmp(json_string_value(v), e->names[i]) == 0) {
            *dst = (int)i;
            return VG_OK;
        }
    }
    vg_errstr_set(errstr, errstr_size,
                  "field \"%s\": unknown value \"%s\" (expected one of %s)",
                  path, json_string_value(v), e->expected);
    return VG_ERR_INVALID;
}

static vg_err_t vg_json_get_signals(const json_t *v,
                                    Vigil__V1__InteractionEvent *ev,
                                    char *errstr, size_t errstr_size) {
    size_t i, n;
    char path[48];
    vg_err_t err;

    if (json_is_null(v))
        return VG_OK;
    if (!json_is_array(v))
        return vg_json_type_error("signals", "an array", v, errstr,
                                  errstr_size);
    n = json_array_size(v);
    if (n == 0)
        return VG_OK;
    ev->signals = calloc(n, sizeof(*ev->signals));
    if (!ev->signals)
        return vg_json_nomem(errstr, errstr_size);
    for (i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        int x = 0;

        snprintf(path, sizeof(path), "signals[%zu]", i);
        /* null means "absent" for a field, but an array element cannot be
         * absent. */
        if (json_is_null(e))
            return vg_json_type_error(path, "a string", e, errstr,
                                      errstr_size);
        err = vg_json_get_enum(e, path, &vg_json_signal, &x, errstr,
                               errstr_size);
        if (err)
            return err;
        ev->signals[ev->n_signals++] = (Vigil__V1__Signal)x;
    }
    return VG_OK;
}

static vg_err_t vg_json_get_consents(const json_t *v,
                                     Vigil__V1__InteractionEvent *ev,
                                     char *errstr, size_t errstr_size) {
    size_t i, n;
    char path[48];

    if (json_is_null(v))
        return VG_OK;
    if (!json_is_array(v))
        return vg_json_type_error("consents", "an array", v, errstr,
                                  errstr_size);
    n = json_array_size(v);
    if (n == 0)
        return VG_OK;
    ev->consents = calloc(n, sizeof(*ev->consents));
    if (!ev->consents)
        return vg_json_nomem(errstr, errstr_size);
    for (i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        char *s;

        if (!json_is_string(e)) {
            snprintf(path, sizeof(path), "consents[%zu]", i);
            return vg_json_type_error(path, "a string", e, errstr,
                                      errstr_size);
        }
        s = strdup(json_string_value(e));
        if (!s)
            return vg_json_nomem(errstr, errstr_size);
        ev->consents[ev->n_consents++] = s;
    }
    return VG_OK;
}

static vg_err_t vg_json_get_descriptive(json_t *v,
                                        Vigil__V1__InteractionEvent *ev,
                                        char *errstr, size_t errstr_size) {
    Vigil__V1__Descriptive *d;
    const char *key;
    json_t *f;
    char path[160];
    vg_err_t err = VG_OK;

    if (json_is_null(v))
        return VG_OK;
    if (!json_is_object(v))
        return vg_json_type_error("descriptive", "an object", v, errstr,
                                  errstr_size);
    d = malloc(sizeof(*d));
    if (!d)
        return vg_json_nomem(errstr, errstr_size);
    vigil__v1__descriptive__init(d);
    ev->descriptive = d;

    json_object_foreach(v, key, f) {
        snprintf(path, sizeof(path), "descriptive.%s", key);
        if (strcmp(key, "value_tier") == 0) {
            int x = (int)d->value_tier;

            err = vg_json_get_enum(f, path, &vg_json_tier, &x, errstr,
                                   errstr_size);
            d->value_tier = (Vigil__V1__ValueTier)x;
        } else if (strcmp(key, "tenure_months") == 0) {
            int64_t x = d->tenure_months;

            err = vg_json_get_int64(f, path, 0, UINT32_MAX, &x, errstr,
                                    errstr_size);
            d->tenure_months = (uint32_t)x;
        } else if (strcmp(key, "segment") == 0) {
            err = vg_json_get_string(f, path, &d->segment, errstr,
                                     errstr_size);
        } else if (strcmp(key, "revenue_weight") == 0) {
            err = vg_json_get_double(f, path, &d->revenue_weight, errstr,
                                     errstr_size);
        } else if (strcmp(key, "churn_risk") == 0) {
            err = vg_json_get_double(f, path, &d->churn_risk, errstr,
                                     errstr_size);
        } else {
            vg_errstr_set(errstr, errstr_size,
                          "field \"%s\": unknown field (expected value_tier, "
                          "tenure_months, segment, revenue_weight, "
                          "churn_risk)",
                          path);
            err = VG_ERR_INVALID;
        }
        if (err)
            return err;
    }
    return VG_OK;
}

static vg_err_t vg_json_get_attributes(json_t *v,
                                       Vigil__V1__InteractionEvent *ev,
                                       char *errstr, size_t errstr_size) {
    const char *key;
    json_t *f;
    size_t n;
    char path[160];

    if (json_is_null(v))
        return VG_OK;
    if (!json_is_object(v))
        return vg_json_type_error("attributes", "an object", v, errstr,
                                  errstr_size);
    n = json_object_size(v);
    if (n == 0)
        return VG_OK;
    ev->attributes = calloc(n, sizeof(*ev->attributes));
    if (!ev->attributes)
        return vg_json_nomem(errstr, errstr_size);
    /* jansson iterates in insertion order, so attributes keep the order
     * they were written in. */
    json_object_foreach(v, key, f) {
        Vigil__V1__Attribute *a;

        if (!json_is_string(f)) {
            snprintf(path, sizeof(path), "attributes.%s", key);
            return vg_json_type_error(path, "a string", f, errstr,
                                      errstr_size);
        }
        a = malloc(sizeof(*a));
        if (!a)
            return vg_json_nomem(errstr, errstr_size);
        vigil__v1__attribute__init(a);
        ev->attributes[ev->n_attributes++] = a;
        a->key = strdup(key);
        if (!a->key) {
            a->key = (char *)protobuf_c_empty_string;
            return vg_json_nomem(errstr, errstr_size);
        }
        a->value = strdup(json_string_value(f));
        if (!a->value) {
            a->value = (char *)protobuf_c_empty_string;
            return vg_json_nomem(errstr, errstr_size);
        }
    }
    return VG_OK;
}

/* Fill ev from root. On error ev may be partly filled; it is always in a
 * state vg_json_event_free() can release. */
static vg_err_t vg_json_parse_event(json_t *root,
                                    Vigil__V1__InteractionEvent *ev,
                                    char *errstr, size_t errstr_size) {
    const char *key;
    json_t *v;
    vg_err_t err = VG_OK;

    json_object_foreach(root, key, v) {
        if (strcmp(key, "event_id") == 0) {
            err = vg_json_get_string(v, key, &ev->event_id, errstr,
                                     errstr_size);
        } else if (strcmp(key, "customer_id") == 0) {
            err = vg_json_get_string(v, key, &ev->customer_id, errstr,
                                     errstr_size);
        } else if (strcmp(key, "tenant") == 0) {
            err = vg_json_get_string(v, key, &ev->tenant, errstr,
                                     errstr_size);
        } else if (strcmp(key, "event_time_ms") == 0) {
            err = vg_json_get_int64(v, key, INT64_MIN, INT64_MAX,
                                    &ev->event_time_ms, errstr, errstr_size);
        } else if (strcmp(key, "channel") == 0) {
            int x = (int)ev->channel;

            err = vg_json_get_enum(v, key, &vg_json_channel, &x, errstr,
                                   errstr_size);
            ev->channel = (Vigil__V1__Channel)x;
        } else if (strcmp(key, "event_type") == 0) {
            err = vg_json_get_string(v, key, &ev->event_type, errstr,
                                     errstr_size);
        } else if (strcmp(key, "outcome") == 0) {
            int x = (int)ev->outcome;

            err = vg_json_get_enum(v, key, &vg_json_outcome, &x, errstr,
                                   errstr_size);
            ev->outcome = (Vigil__V1__Outcome)x;
        } else if (strcmp(key, "error_code") == 0) {
            err = vg_json_get_string(v, key, &ev->error_code, errstr,
                                     errstr_size);
        } else if (strcmp(key, "signals") == 0) {
            err = vg_json_get_signals(v, ev, errstr, errstr_size);
        } else if (strcmp(key, "consents") == 0) {
            err = vg_json_get_consents(v, ev, errstr, errstr_size);
        } else if (strcmp(key, "descriptive") == 0) {
            err = vg_json_get_descriptive(v, ev, errstr, errstr_size);
        } else if (strcmp(key, "attributes") == 0) {
            err = vg_json_get_attributes(v, ev, errstr, errstr_size);
        } else {
            vg_errstr_set(errstr, errstr_size,
                          "field \"%s\": unknown field (not in "
                          "vigil.v1.InteractionEvent)",
                          key);
            err = VG_ERR_INVALID;
        }
        if (err)
            return err;
    }
    return VG_OK;
}

vg_err_t vg_json_to_event(const char *text, size_t len,
                          Vigil__V1__InteractionEvent **out, char *errstr,
                          size_t errstr_size) {
    Vigil__V1__InteractionEvent *ev;
    json_error_t jerr;
    json_t *root;
    vg_err_t err;

    if (!out) {
        vg_errstr_set(errstr, errstr_size, "no output pointer");
        return VG_ERR_INVALID;
    }
    *out = NULL;
    if (!text) {
        vg_errstr_set(errstr, errstr_size, "no input text");
        return VG_ERR_INVALID;
    }
    /* A repeated key would silently drop one of the values; a person who
     * typed it twice wants to hear about it. JSON_DECODE_ANY lets a bare
     * string or number through to the clearer "expected a JSON object"
     * message below. */
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                      &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return vg_json_nomem(errstr, errstr_size);
        vg_errstr_set(errstr, errstr_size,
                      "invalid JSON at line %d, column %d: %s", jerr.line,
                      jerr.column, jerr.text);
        return VG_ERR_INVALID;
    }
    if (!json_is_object(root)) {
        vg_errstr_set(errstr, errstr_size,
                      "expected a JSON object at top level, got %s",
                      vg_json_type_name(root));
        json_decref(root);
        return VG_ERR_INVALID;
    }
    ev = malloc(sizeof(*ev));
    if (!ev) {
        json_decref(root);
        return vg_json_nomem(errstr, errstr_size);
    }
    vigil__v1__interaction_event__init(ev);
    err = vg_json_parse_event(root, ev, errstr, errstr_size);
    json_decref(root);
    if (err) {
        vg_json_event_free(ev);
        return err;
    }
    *out = ev;
    return VG_OK;
}

void vg_json_event_free(Vigil__V1__InteractionEvent *ev) {
    size_t i;

    if (!ev)
        return;
    vg_json_free_str(ev->event_id);
    vg_json_free_str(ev->customer_id);
    vg_json_free_str(ev->tenant);
    vg_json_free_str(ev->event_type);
    vg_json_free_str(ev->error_code);
    free(ev->signals);
    for (i = 0; i < ev->n_consents; i++)
        vg_json_free_str(ev->consents[i]);
    free(ev->consents);
    if (ev->descriptive) {
        vg_json_free_str(ev->descriptive->segment);
        free(ev->descriptive);
    }
    for (i = 0; i < ev->n_attributes; i++) {
        if (!ev->attributes[i])
            continue;
        vg_json_free_str(ev->attributes[i]->key);
        vg_json_free_str(ev->attributes[i]->value);
        free(ev->attributes[i]);
    }
    free(ev->attributes);
    free(ev);
}

/* ---- protobuf -> JSON ------------------------------------------------- */

/* One rendering in progress. Building never stops at the first failure:
 * jansson's *_set_new() calls accept NULL values (and release what they
 * were given), so the builders run to the end and `failed` decides. */
typedef struct vg_json_out_s {
    int failed;
    int precision; /* digits needed so every double reads back exactly */
} vg_json_out_t;

/* Copy s with each byte that does not start a valid UTF-8 sequence
 * replaced by U+FFFD. Caller frees with free(). */
static char *vg_json_utf8_sanitize(const char *s) {
    size_t n = strlen(s), i = 0, o = 0;
    const unsigned char *u = (const unsigned char *)s;
    char *out = malloc(n * 3 + 1); /* each bad byte becomes 3 bytes */

    if (!out)
        return NULL;
    while (i < n) {
        size_t len = 0, k;
        uint32_t cp = 0;

        if (u[i] < 0x80) {
            len = 1;
            cp = u[i];
        } else if ((u[i] & 0xE0) == 0xC0) {
            len = 2;
            cp = u[i] & 0x1F;
        } else if ((u[i] & 0xF0) == 0xE0) {
            len = 3;
            cp = u[i] & 0x0F;
        } else if ((u[i] & 0xF8) == 0xF0) {
            len = 4;
            cp = u[i] & 0x07;
        }
        for (k = 1; len && k < len; k++) {
            if (i + k >= n || (u[i + k] & 0xC0) != 0x80) {
                len = 0;
                break;
            }
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        /* Reject overlong forms, surrogates and values past U+10FFFF, as
         * jansson does. */
        if (len == 2 && cp < 0x80)
            len = 0;
        else if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            len = 0;
        else if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
            len = 0;
        if (len == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        }
    }
    out[o] = '\0';
    return out;
}

static json_t *vg_json_str(vg_json_out_t *o, const char *s) {
    json_t *j;
    char *clean;

    if (!s)
        s = "";
    j = json_string(s);
    if (j)
        return j;
    /* json_string() refuses invalid UTF-8 (and fails when out of memory);
     * protobuf-c never checked the bytes, so repair and retry. */
    clean = vg_json_utf8_sanitize(s);
    j = clean ? json_string(clean) : NULL;
    free(clean);
    if (!j)
        o->failed = 1;
    return j;
}

/* Digits (15..17) that make "%.*g" read back as exactly d. */
static int vg_json_digits_for(double d) {
    char buf[40];
    int p;

    for (p = 15; p < 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, d);
        if (strtod(buf, NULL) == d)
            return p;
    }
    return 17;
}

static json_t *vg_json_real(vg_json_out_t *o, double d) {
    json_t *j;
    int p;

    if (isnan(d))
        j = json_string("NaN");
    else if (isinf(d))
        j = json_string(d > 0 ? "Infinity" : "-Infinity");
    else {
        p = vg_json_digits_for(d);
        if (p > o->precision)
            o->precision = p;
        j = json_real(d);
    }
    if (!j)
        o->failed = 1;
    return j;
}

static json_t *vg_json_int(vg_json_out_t *o, int64_t x) {
    json_t *j = json_integer((json_int_t)x);

    if (!j)
        o->failed = 1;
    return j;
}

static json_t *vg_json_uint64(vg_json_out_t *o, uint64_t x) {
    char buf[24];

    /* json_int_t is signed 64-bit; the top half of the range can only be
     * written exactly as a string (proto3 JSON does the same). */
    if (x <= (uint64_t)INT64_MAX)
        return vg_json_int(o, (int64_t)x);
    snprintf(buf, sizeof(buf), "%" PRIu64, x);
    return vg_json_str(o, buf);
}

static json_t *vg_json_enum_value(vg_json_out_t *o, const vg_json_enum_t *e,
                                  int x) {
    /* A value from a newer schema has no name here: print its number, which
     * vg_json_to_event() accepts back. */
    if (x >= 0 && (size_t)x < e->count)
        return vg_json_str(o, e->names[x]);
    return vg_json_int(o, x);
}

static void vg_json_set(vg_json_out_t *o, json_t *obj, const char *key,
                        json_t *value) {
    if (json_object_set_new(obj, key, value) != 0)
        o->failed = 1;
}

static void vg_json_append(vg_json_out_t *o, json_t *arr, json_t *value) {
    if (json_array_append_new(arr, value) != 0)
        o->failed = 1;
}

static json_t *vg_json_obj(vg_json_out_t *o) {
    json_t *j = json_object();

    if (!j)
        o->failed = 1;
    return j;
}

static json_t *vg_json_arr(vg_json_out_t *o) {
    json_t *j = json_array();

    if (!j)
        o->failed = 1;
    return j;
}

static json_t *vg_json_null(void) {
    return json_null(); /* a static singleton: cannot fail */
}

static json_t *vg_json_strings(vg_json_out_t *o, char *const *v, size_t n) {
    json_t *a = vg_json_arr(o);
    size_t i;

    for (i = 0; i < n; i++)
        vg_json_append(o, a, vg_json_str(o, v[i]));
    return a;
}

static json_t *vg_json_channels(vg_json_out_t *o, const Vigil__V1__Channel *v,
                                size_t n) {
    json_t *a = vg_json_arr(o);
    size_t i;

    for (i = 0; i < n; i++)
        vg_json_append(o, a, vg_json_enum_value(o, &vg_json_channel, v[i]));
    return a;
}

static json_t *vg_json_int64s(vg_json_out_t *o, const int64_t *v, size_t n) {
    json_t *a = vg_json_arr(o);
    size_t i;

    for (i = 0; i < n; i++)
        vg_json_append(o, a, vg_json_int(o, v[i]));
    return a;
}

static json_t *vg_json_descriptive(vg_json_out_t *o,
                                   const Vigil__V1__Descriptive *d) {
    json_t *j;

    /* proto3 tracks presence of a message field: absent and present-but-
     * empty are different, and null keeps them apart. */
    if (!d)
        return vg_json_null();
    j = vg_json_obj(o);
    vg_json_set(o, j, "value_tier",
                vg_json_enum_value(o, &vg_json_tier, d->value_tier));
    vg_json_set(o, j, "tenure_months", vg_json_int(o, d->tenure_months));
    vg_json_set(o, j, "segment", vg_json_str(o, d->segment));
    vg_json_set(o, j, "revenue_weight", vg_json_real(o, d->revenue_weight));
    vg_json_set(o, j, "churn_risk", vg_json_real(o, d->churn_risk));
    return j;
}

static json_t *vg_json_event_obj(vg_json_out_t *o,
                                 const Vigil__V1__InteractionEvent *ev) {
    json_t *j = vg_json_obj(o), *a;
    size_t i;

    vg_json_set(o, j, "event_id", vg_json_str(o, ev->event_id));
    vg_json_set(o, j, "customer_id", vg_json_str(o, ev->customer_id));
    vg_json_set(o, j, "tenant", vg_json_str(o, ev->tenant));
    vg_json_set(o, j, "event_time_ms", vg_json_int(o, ev->event_time_ms));
    vg_json_set(o, j, "channel",
                vg_json_enum_value(o, &vg_json_channel, ev->channel));
    vg_json_set(o, j, "event_type", vg_json_str(o, ev->event_type));
    vg_json_set(o, j, "outcome",
                vg_json_enum_value(o, &vg_json_outcome, ev->outcome));
    vg_json_set(o, j, "error_code", vg_json_str(o, ev->error_code));
    a = vg_json_arr(o);
    for (i = 0; i < ev->n_signals; i++)
        vg_json_append(o, a,
                       vg_json_enum_value(o, &vg_json_signal, ev->signals[i]));
    vg_json_set(o, j, "signals", a);
    vg_json_set(o, j, "consents",
                vg_json_strings(o, ev->consents, ev->n_consents));
    vg_json_set(o, j, "descriptive", vg_json_descriptive(o, ev->descriptive));
    /* A JSON object cannot hold a key twice: with repeated attribute keys
     * the last value wins, as in proto3's own map semantics. */
    a = vg_json_obj(o);
    for (i = 0; i < ev->n_attributes; i++) {
        const Vigil__V1__Attribute *at = ev->attributes[i];
        const char *key;
        json_t *v;

        if (!at)
            continue;
        key = at->key ? at->key : "";
        v = vg_json_str(o, at->value);
        if (json_object_set(a, key, v) != 0) {
            /* jansson refuses a key that is not valid UTF-8: repair it
             * rather than drop the attribute. */
            char *clean = vg_json_utf8_sanitize(key);

            if (!clean || json_object_set(a, clean, v) != 0)
                o->failed = 1;
            free(clean);
        }
        json_decref(v);
    }
    vg_json_set(o, j, "attributes", a);
    return j;
}

static json_t *vg_json_trigger_obj(vg_json_out_t *o,
                                   const Vigil__V1__InterventionTrigger *t) {
    json_t *j = vg_json_obj(o), *a;
    size_t i;

    vg_json_set(o, j, "trigger_id", vg_json_str(o, t->trigger_id));
    vg_json_set(o, j, "customer_id", vg_json_str(o, t->customer_id));
    vg_json_set(o, j, "tenant", vg_json_str(o, t->tenant));
    vg_json_set(o, j, "intervention", vg_json_str(o, t->intervention));
    vg_json_set(o, j, "score", vg_json_real(o, t->score));
    vg_json_set(o, j, "priority_score", vg_json_real(o, t->priority_score));
    vg_json_set(o, j, "priority",
                vg_json_enum_value(o, &vg_json_priority, t->priority));
    vg_json_set(o, j, "valid_until_ms", vg_json_int(o, t->valid_until_ms));
    a = vg_json_arr(o);
    for (i = 0; i < t->n_reasons; i++) {
        const Vigil__V1__ReasonCode *r = t->reasons[i];
        json_t *rj;

        if (!r)
            continue;
        rj = vg_json_obj(o);
        vg_json_set(o, rj, "code", vg_json_str(o, r->code));
        vg_json_set(o, rj, "contribution", vg_json_real(o, r->contribution));
        vg_json_set(o, rj, "detail", vg_json_str(o, r->detail));
        vg_json_append(o, a, rj);
    }
    vg_json_set(o, j, "reasons", a);
    if (t->lineage) {
        const Vigil__V1__Lineage *l = t->lineage;
        json_t *lj = vg_json_obj(o);

        vg_json_set(o, lj, "source_event_ids",
                    vg_json_strings(o, l->source_event_ids,
                                    l->n_source_event_ids));
        vg_json_set(o, lj, "channels",
                    vg_json_channels(o, l->channels, l->n_channels));
        vg_json_set(o, lj, "purpose", vg_json_str(o, l->purpose));
        vg_json_set(o, lj, "model_id", vg_json_str(o, l->model_id));
        vg_json_set(o, lj, "model_version", vg_json_str(o, l->model_version));
        vg_json_set(o, lj, "worker_id", vg_json_str(o, l->worker_id));
        vg_json_set(o, lj, "destination", vg_json_str(o, l->destination));
        vg_json_set(o, lj, "source_topic", vg_json_str(o, l->source_topic));
        vg_json_set(o, lj, "source_partition",
                    vg_json_int(o, l->source_partition));
        vg_json_set(o, lj, "source_offset", vg_json_int(o, l->source_offset));
        vg_json_set(o, j, "lineage", lj);
    } else {
        vg_json_set(o, j, "lineage", vg_json_null());
    }
    vg_json_set(o, j, "created_ms", vg_json_int(o, t->created_ms));
    vg_json_set(o, j, "channel",
                vg_json_enum_value(o, &vg_json_channel, t->channel));
    vg_json_set(o, j, "escalation_level",
                vg_json_int(o, t->escalation_level));
    return j;
}

/* Standard base64 with padding. Caller frees with free(). */
static char *vg_json_base64(const uint8_t *p, size_t n) {
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *w = out;
    size_t i;

    if (!out)
        return NULL;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) |
                     p[i + 2];

        *w++ = tab[(v >> 18) & 63];
        *w++ = tab[(v >> 12) & 63];
        *w++ = tab[(v >> 6) & 63];
        *w++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        *w++ = tab[(v >> 18) & 63];
        *w++ = tab[(v >> 12) & 63];
        *w++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *w++ = '=';
    }
    *w = '\0';
    return out;
}

static json_t *vg_json_decision_trigger(vg_json_out_t *o,
                                        const ProtobufCBinaryData *b) {
    Vigil__V1__InterventionTrigger *t;
    json_t *j;
    char *b64;

    t = vigil__v1__intervention_trigger__unpack(NULL, b->len, b->data);
    if (t) {
        j = vg_json_trigger_obj(o, t);
        vigil__v1__intervention_trigger__free_unpacked(t, NULL);
        return j;
    }
    /* Show the bytes rather than hide a corrupt decision from the person
     * debugging it. */
    b64 = vg_json_base64(b->data, b->len);
    if (!b64) {
        o->failed = 1;
        return NULL;
    }
    j = vg_json_str(o, b64);
    free(b64);
    return j;
}

static json_t *vg_json_state_obj(vg_json_out_t *o,
                                 const Vigil__V1__CustomerState *st) {
    json_t *j = vg_json_obj(o), *a;
    size_t i, k;

    vg_json_set(o, j, "version", vg_json_uint64(o, st->version));
    a = vg_json_arr(o);
    for (i = 0; i < st->n_applied; i++) {
        const Vigil__V1__AppliedOffset *ap = st->applied[i];
        json_t *e;

        if (!ap)
            continue;
        e = vg_json_obj(o);
        vg_json_set(o, e, "partition", vg_json_int(o, ap->partition));
        vg_json_set(o, e, "offset", vg_json_int(o, ap->offset));
        vg_json_append(o, a, e);
    }
    vg_json_set(o, j, "applied", a);
    a = vg_json_arr(o);
    for (i = 0; i < st->n_troubles; i++) {
        const Vigil__V1__TroubleWindow *tw = st->troubles[i];
        json_t *e;

        if (!tw)
            continue;
        e = vg_json_obj(o);
        vg_json_set(o, e, "kind", vg_json_str(o, tw->kind));
        vg_json_set(o, e, "times_ms",
                    vg_json_int64s(o, tw->times_ms, tw->n_times_ms));
        vg_json_set(o, e, "channels",
                    vg_json_channels(o, tw->channels, tw->n_channels));
        vg_json_set(o, e, "event_ids",
                    vg_json_strings(o, tw->event_ids, tw->n_event_ids));
        vg_json_append(o, a, e);
    }
    vg_json_set(o, j, "troubles", a);
    vg_json_set(o, j, "last_signal_ms", vg_json_int(o, st->last_signal_ms));
    a = vg_json_arr(o);
    for (i = 0; i < st->n_ledgers; i++) {
        const Vigil__V1__FireLedger *fl = st->ledgers[i];
        json_t *e;

        if (!fl)
            continue;
        e = vg_json_obj(o);
        vg_json_set(o, e, "intervention", vg_json_str(o, fl->intervention));
        vg_json_set(o, e, "channel",
                    vg_json_enum_value(o, &vg_json_channel, fl->channel));
        vg_json_set(o, e, "fired_ms",
                    vg_json_int64s(o, fl->fired_ms, fl->n_fired_ms));
        vg_json_append(o, a, e);
    }
    vg_json_set(o, j, "ledgers", a);
    a = vg_json_arr(o);
    for (i = 0; i < st->n_decisions; i++) {
        const Vigil__V1__Decision *d = st->decisions[i];
        json_t *e, *ts;

        if (!d)
            continue;
        e = vg_json_obj(o);
        vg_json_set(o, e, "partition", vg_json_int(o, d->partition));
        vg_json_set(o, e, "offset", vg_json_int(o, d->offset));
        ts = vg_json_arr(o);
        for (k = 0; k < d->n_triggers; k++)
            vg_json_append(o, ts, vg_json_decision_trigger(o, &d->triggers[k]));
        vg_json_set(o, e, "triggers", ts);
        vg_json_set(o, e, "timer", json_boolean(d->timer));
        if (d->timer)
            vg_json_set(o, e, "due_ms", vg_json_int(o, d->due_ms));
        vg_json_append(o, a, e);
    }
    vg_json_set(o, j, "decisions", a);
    a = vg_json_arr(o);
    for (i = 0; i < st->n_sequences; i++) {
        const Vigil__V1__SequenceProgress *sp = st->sequences[i];
        json_t *e;

        if (!sp)
            continue;
        e = vg_json_obj(o);
        vg_json_set(o, e, "name", vg_json_str(o, sp->name));
        vg_json_set(o, e, "progress", vg_json_int(o, sp->progress));
        vg_json_set(o, e, "start_ms", vg_json_int(o, sp->start_ms));
        vg_json_set(o, e, "event_ids", vg_json_strings(o, sp->event_ids, sp->n_event_ids));
        vg_json_set(o, e, "channels", vg_json_channels(o, sp->channels, sp->n_channels));
        vg_json_append(o, a, e);
    }
    vg_json_set(o, j, "sequences", a);
    a = vg_json_arr(o);
    for (i = 0; i < st->n_absences; i++) {
        const Vigil__V1__PendingAbsence *pa = st->absences[i];
        json_t *e;

        if (!pa)
            continue;
        e = vg_json_obj(o);
        vg_json_set(o, e, "name", vg_json_str(o, pa->name));
        vg_json_set(o, e, "start_ms", vg_json_int(o, pa->start_ms));
        vg_json_set(o, e, "due_ms", vg_json_int(o, pa->due_ms));
        vg_json_set(o, e, "event_id", vg_json_str(o, pa->event_id));
        vg_json_set(o, e, "channel", vg_json_enum_value(o, &vg_json_channel, pa->channel));
        vg_json_append(o, a, e);
    }
    vg_json_set(o, j, "absences", a);
    vg_json_set(o, j, "consents", vg_json_strings(o, st->consents, st->n_consents));
    /* Sealed with AES-256-GCM: only whether it is there, and its size. */
    vg_json_set(o, j, "sealed_identity_bytes", vg_json_int(o, (int64_t)st->sealed_identity.len));
    a = vg_json_arr(o);
    for (i = 0; i < st->n_recent_events; i++) {
        char hex[17];
        snprintf(hex, sizeof(hex), "%016" PRIx64, st->recent_events[i]);
        vg_json_append(o, a, vg_json_str(o, hex));
    }
    vg_json_set(o, j, "recent_event_hashes", a);
    a = vg_json_arr(o);
    for (i = 0; i < st->n_recent_ages_ms; i++)
        vg_json_append(o, a, vg_json_int(o, st->recent_ages_ms[i]));
    vg_json_set(o, j, "recent_event_ages_ms", a);
    vg_json_set(o, j, "last_event_ms", vg_json_int(o, st->last_event_ms));
    vg_json_set(o, j, "events_applied", vg_json_uint64(o, st->events_applied));
    vg_json_set(o, j, "descriptive", vg_json_descriptive(o, st->descriptive));
    {
        json_t *le = vg_json_obj(o);
        Vigil__V1__InteractionEvent *ev =
            st->last_event.len
                ? vigil__v1__interaction_event__unpack(NULL, st->last_event.len,
                                                       st->last_event.data)
                : NULL;

        vg_json_set(o, le, "event", ev ? vg_json_event_obj(o, ev) : vg_json_null());
        if (ev)
            vigil__v1__interaction_event__free_unpacked(ev, NULL);
        vg_json_set(o, le, "bytes", vg_json_int(o, (int64_t)st->last_event.len));
        if (st->last_event_next > 0) {
            vg_json_set(o, le, "partition", vg_json_int(o, st->last_event_partition));
            vg_json_set(o, le, "offset", vg_json_int(o, st->last_event_next - 1));
        }
        vg_json_set(o, le, "window_hit", vg_json_int(o, st->last_window_hit));
        vg_json_set(o, le, "seq_done", vg_json_int(o, st->last_seq_done));
        vg_json_set(o, le, "late", json_boolean(st->last_late));
        vg_json_set(o, le, "record_ms", vg_json_int(o, st->last_record_ms));
        vg_json_set(o, le, "fired", vg_json_str(o, st->last_fired));
        vg_json_set(o, le, "fired_channel",
                    vg_json_enum_value(o, &vg_json_channel, st->last_fired_channel));
        vg_json_set(o, j, "last", le);
    }
    if (st->last_timer) {
        json_t *ld = vg_json_obj(o);
        vg_json_set(o, ld, "absence_fired", vg_json_int(o, st->last_absence_fired));
        vg_json_set(o, ld, "due_ms", vg_json_int(o, st->last_due_ms));
        vg_json_set(o, ld, "watermark_ms", vg_json_int(o, st->last_watermark_ms));
        vg_json_set(o, ld, "fired", vg_json_str(o, st->last_fired));
        vg_json_set(o, j, "last_deadline", ld);
    }
    return j;
}

/* Serialise root (consumed) with the precision the document needs. */
static char *vg_json_finish(vg_json_out_t *o, json_t *root) {
    char *s = NULL;

    if (!o->failed && root)
        s = json_dumps(root, JSON_COMPACT |
                                 JSON_REAL_PRECISION(o->precision));
    json_decref(root);
    return s;
}

char *vg_json_from_event(const Vigil__V1__InteractionEvent *ev) {
    vg_json_out_t o = {0, 1};

    if (!ev)
        return NULL;
    return vg_json_finish(&o, vg_json_event_obj(&o, ev));
}

char *vg_json_from_trigger(const Vigil__V1__InterventionTrigger *t) {
    vg_json_out_t o = {0, 1};

    if (!t)
        return NULL;
    return vg_json_finish(&o, vg_json_trigger_obj(&o, t));
}

char *vg_json_from_state(const Vigil__V1__CustomerState *st) {
    vg_json_out_t o = {0, 1};

    if (!st)
        return NULL;
    return vg_json_finish(&o, vg_json_state_obj(&o, st));
}
