#include "vg_event.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Events from before 2000 are bugs upstream, not interactions; so are
 * events after 2100 whatever the record says (and their deadlines would
 * overflow). The real future limit is relative: not_after_ms. */
#define VG_EVENT_MAX_TIME_MS 4102444800000LL

/* --- text ------------------------------------------------------------------ */

enum { VG_TEXT_OK = 0, VG_TEXT_UTF8, VG_TEXT_NUL, VG_TEXT_CONTROL };

#define VG_EVENT_HIGH 0x8080808080808080ULL

/* Eight printable ASCII bytes at p, checked at once: no high bit; each
 * byte + 0x60 reaches 0x80 (>= 0x20); none + 1 reaches it (not 0x7f).
 * Without high bits no addition carries across bytes. */
static inline bool vg_event_printable8(const uint8_t *p) {
    uint64_t w;

    memcpy(&w, p, 8);
    return !(w & VG_EVENT_HIGH) &&
           ((w + 0x6060606060606060ULL) & VG_EVENT_HIGH) == VG_EVENT_HIGH &&
           !((w + 0x0101010101010101ULL) & VG_EVENT_HIGH);
}

static int vg_event_text_check(const uint8_t *s, size_t n, size_t *bad) {
    size_t i = 0;

    while (i < n) {
        uint8_t c;
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;

        if (n - i >= 8) {
            if (vg_event_printable8(s + i)) {
                i += 8;
                continue;
            }
        } else if (n >= 8 && vg_event_printable8(s + n - 8)) {
            /* The last few bytes, in the word that ends the text: when
             * all eight are printable ASCII, so is the rest from i (the
             * bytes before i were checked already). */
            return VG_TEXT_OK;
        }
        c = s[i];
        if (c >= 0x20 && c < 0x7f) {
            i++; /* printable ASCII: most bytes of a text shorter than a word */
            continue;
        }
        *bad = i;
        if (c < 0x80) {
            if (c == 0)
                return VG_TEXT_NUL;
            if (c < 0x20 || c == 0x7f)
                return VG_TEXT_CONTROL;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return VG_TEXT_UTF8;
        }
        if (n - i <= need || s[i + 1] < lo || s[i + 1] > hi)
            return VG_TEXT_UTF8;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return VG_TEXT_UTF8;
        if (c == 0xc2 && s[i + 1] <= 0x9f)
            return VG_TEXT_CONTROL; /* C1 controls, U+0080..U+009F */
        i += need + 1;
    }
    return VG_TEXT_OK;
}

int vg_event_text_ok(const uint8_t *s, size_t n, size_t *bad) {
    size_t b = 0;
    int rc = vg_event_text_check(s, n, &b);

    if (bad)
        *bad = b;
    return rc == VG_TEXT_OK;
}

/* The path of a field for an error: name, name[idx] or name[idx].sub. */
static void vg_event_path(char *path, size_t size, const char *name, long idx, const char *sub) {
    if (idx < 0)
        snprintf(path, size, "%s", name);
    else if (sub)
        snprintf(path, size, "%s[%ld].%s", name, idx, sub);
    else
        snprintf(path, size, "%s[%ld]", name, idx);
}

/* The path is formatted only for an error: this runs for every string of
 * every event. */
vg_err_t vg_event_check_text(const char *name, long idx, const char *sub, const uint8_t *s,
                                    size_t n, size_t max, char *errstr, size_t errstr_size) {
    char path[64];
    size_t bad = 0;
    int rc;

    if (n > max) {
        vg_event_path(path, sizeof(path), name, idx, sub);
        vg_errstr_set(errstr, errstr_size, "field \"%s\": %zu bytes, longer than %zu", path, n,
                      max);
        return VG_ERR_INVALID;
    }
    if ((rc = vg_event_text_check(s, n, &bad)) == VG_TEXT_OK)
        return VG_OK;
    vg_event_path(path, sizeof(path), name, idx, sub);
    vg_errstr_set(errstr, errstr_size, "field \"%s\": %s at byte %zu", path,
                  rc == VG_TEXT_NUL       ? "NUL byte"
                  : rc == VG_TEXT_CONTROL ? "control character"
                                          : "invalid UTF-8",
                  bad);
    return VG_ERR_INVALID;
}

/* --- wire ------------------------------------------------------------------ */

typedef struct vg_wire_s {
    const uint8_t *p, *end;
} vg_wire_t;

typedef struct vg_wire_field_s {
    uint32_t number, type;
    const uint8_t *data; /* type 2: the bytes */
    size_t len;
} vg_wire_field_t;

static int vg_wire_varint(vg_wire_t *w, uint64_t *v) {
    uint64_t r = 0;

    for (unsigned s = 0; s < 64 && w->p < w->end; s += 7) {
        uint8_t b = *w->p++;
        r |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* 1: a field in *f; 0: end of the message; -1: malformed. */
static int vg_wire_next(vg_wire_t *w, vg_wire_field_t *f) {
    uint64_t tag, v;

    if (w->p >= w->end)
        return 0;
    if (vg_wire_varint(w, &tag))
        return -1;
    f->number = (uint32_t)(tag >> 3);
    f->type = (uint32_t)(tag & 7);
    f->data = NULL;
    f->len = 0;
    switch (f->type) {
    case 0:
        return vg_wire_varint(w, &v) ? -1 : 1;
    case 1:
    case 5: {
        size_t k = f->type == 1 ? 8 : 4;
        if ((size_t)(w->end - w->p) < k)
            return -1;
        w->p += k;
        return 1;
    }
    case 2:
        if (vg_wire_varint(w, &v) || v > (uint64_t)(w->end - w->p))
            return -1;
        f->data = w->p;
        f->len = (size_t)v;
        w->p += v;
        return 1;
    default:
        return -1; /* groups: not proto3 */
    }
}

static vg_err_t vg_wire_malformed(const char *where, char *errstr, size_t errstr_size) {
    vg_errstr_set(errstr, errstr_size, "malformed protobuf in %s", where);
    return VG_ERR_DECODE;
}

static vg_err_t vg_event_check_descriptive(const uint8_t *p, size_t n, char *errstr,
                                           size_t errstr_size) {
    vg_wire_t w = {p, p + n};
    vg_wire_field_t f;
    vg_err_t err;
    int rc;

    while ((rc = vg_wire_next(&w, &f)) > 0)
        if (f.number == 3 && f.type == 2 &&
            (err = vg_event_check_text("descriptive.segment", -1, NULL, f.data, f.len,
                                       VG_EVENT_SEGMENT_MAX, errstr, errstr_size)))
            return err;
    return rc < 0 ? vg_wire_malformed("field \"descriptive\"", errstr, errstr_size) : VG_OK;
}

static vg_err_t vg_event_check_attribute(long idx, const uint8_t *p, size_t n, char *errstr,
                                         size_t errstr_size) {
    vg_wire_t w = {p, p + n};
    vg_wire_field_t f;
    vg_err_t err;
    int rc;

    size_t key_len = 0; /* the last key's: it is the one decoded */

    while ((rc = vg_wire_next(&w, &f)) > 0) {
        if (f.type != 2 || (f.number != 1 && f.number != 2))
            continue;
        if (f.number == 1)
            key_len = f.len;
        if ((err = vg_event_check_text("attributes", idx, f.number == 1 ? "key" : "value", f.data,
                                       f.len,
                                       f.number == 1 ? VG_EVENT_ATTR_KEY_MAX
                                                     : VG_EVENT_ATTR_VALUE_MAX,
                                       errstr, errstr_size)))
            return err;
    }
    if (rc < 0)
        return vg_wire_malformed("field \"attributes\"", errstr, errstr_size);
    if (key_len == 0) {
        vg_errstr_set(errstr, errstr_size, "field \"attributes[%ld].key\": required but empty",
                      idx);
        return VG_ERR_INVALID;
    }
    return VG_OK;
}

vg_err_t vg_event_check_wire(const void *buf, size_t len, char *errstr, size_t errstr_size) {
    static const char *const names[] = {[1] = "event_id",   [2] = "customer_id", [3] = "tenant",
                                        [6] = "event_type", [8] = "error_code"};
    vg_wire_t w = {buf, (const uint8_t *)buf + len};
    vg_wire_field_t f;
    size_t n_consents = 0, n_signals = 0, n_attributes = 0;
    vg_err_t err;
    int rc;

    while ((rc = vg_wire_next(&w, &f)) > 0) {
        switch (f.number) {
        case 1:
        case 2:
        case 3:
        case 6:
        case 8:
            if (f.type == 2 && (err = vg_event_check_text(names[f.number], -1, NULL, f.data, f.len,
                                                          VG_EVENT_ID_MAX, errstr, errstr_size)))
                return err;
            break;
        case 9: /* signals: packed, or one varint per entry */
            if (f.type == 2) {
                for (size_t i = 0; i < f.len; i++)
                    n_signals += !(f.data[i] & 0x80);
            } else {
                n_signals++;
            }
            break;
        case 10:
            if (f.type != 2)
                break;
            if (++n_consents > VG_EVENT_MAX_CONSENTS) {
                vg_errstr_set(errstr, errstr_size, "field \"consents\": more than %d entries",
                              VG_EVENT_MAX_CONSENTS);
                return VG_ERR_INVALID;
            }
            if (f.len == 0) {
                vg_errstr_set(errstr, errstr_size, "field \"consents[%zu]\": empty purpose",
                              n_consents - 1);
                return VG_ERR_INVALID;
            }
            if ((err = vg_event_check_text("consents", (long)n_consents - 1, NULL, f.data, f.len,
                                           VG_EVENT_PURPOSE_MAX, errstr, errstr_size)))
                return err;
            break;
        case 11:
            if (f.type == 2 && (err = vg_event_check_descriptive(f.data, f.len, errstr,
                                                                 errstr_size)))
                return err;
            break;
        case 12:
            if (f.type != 2)
                break;
            if (++n_attributes > VG_EVENT_MAX_ATTRIBUTES) {
                vg_errstr_set(errstr, errstr_size, "field \"attributes\": more than %d entries",
                              VG_EVENT_MAX_ATTRIBUTES);
                return VG_ERR_INVALID;
            }
            if ((err = vg_event_check_attribute((long)n_attributes - 1, f.data, f.len, errstr,
                                                errstr_size)))
                return err;
            break;
        default:
            break; /* unknown fields are ignored, as proto3 readers do */
        }
        if (n_signals > VG_EVENT_MAX_SIGNALS) {
            vg_errstr_set(errstr, errstr_size, "field \"signals\": more than %d entries",
                          VG_EVENT_MAX_SIGNALS);
            return VG_ERR_INVALID;
        }
    }
    return rc < 0 ? vg_wire_malformed("the event", errstr, errstr_size) : VG_OK;
}

/* --- fields ---------------------------------------------------------------- */

/* Text, lengths and counts were checked on the wire (vg_event_check_wire);
 * what is left is what only the decoded event shows. */
static vg_err_t vg_event_check_id(const char *field, const char *v, char *errstr,
                                  size_t errstr_size) {
    if (!v || !*v) {
        vg_errstr_set(errstr, errstr_size, "field \"%s\": required but empty", field);
        return VG_ERR_INVALID;
    }
    return VG_OK;
}

vg_err_t vg_event_validate(const vg_event_t *ev, int64_t not_after_ms, char *errstr,
                           size_t errstr_size) {
    vg_err_t err;

    if ((err = vg_event_check_id("event_id", ev->event_id, errstr, errstr_size)) ||
        (err = vg_event_check_id("customer_id", ev->customer_id, errstr, errstr_size)) ||
        (err = vg_event_check_id("tenant", ev->tenant, errstr, errstr_size)) ||
        (err = vg_event_check_id("event_type", ev->event_type, errstr, errstr_size)))
        return err;
    if (ev->event_time_ms < VG_EVENT_MIN_TIME_MS || ev->event_time_ms > VG_EVENT_MAX_TIME_MS) {
        vg_errstr_set(errstr, errstr_size,
                      "field \"event_time_ms\": %lld is not a plausible Unix time in ms",
                      (long long)ev->event_time_ms);
        return VG_ERR_INVALID;
    }
    if (not_after_ms > 0 && ev->event_time_ms > not_after_ms) {
        vg_errstr_set(errstr, errstr_size,
                      "field \"event_time_ms\": %lld is after %lld, the record's timestamp plus "
                      "event.max_future_ms",
                      (long long)ev->event_time_ms, (long long)not_after_ms);
        return VG_ERR_INVALID;
    }
    if (ev->descriptive) {
        const Vigil__V1__Descriptive *d = ev->descriptive;
        if (d->churn_risk < 0.0 || d->churn_risk > 1.0 || d->churn_risk != d->churn_risk) {
            vg_errstr_set(errstr, errstr_size, "field \"descriptive.churn_risk\": %g not in [0,1]",
                          d->churn_risk);
            return VG_ERR_INVALID;
        }
        if (d->revenue_weight < 0.0 || d->revenue_weight > 1000.0 ||
            d->revenue_weight != d->revenue_weight) {
            vg_errstr_set(errstr, errstr_size,
                          "field \"descriptive.revenue_weight\": %g not in [0,1000]",
                          d->revenue_weight);
            return VG_ERR_INVALID;
        }
    }
    return VG_OK;
}

unsigned vg_event_normalise(vg_event_t *ev) {
    unsigned n = 0;

    if (ev->channel < 0 || ev->channel > VIGIL__V1__CHANNEL__CHANNEL_STORE) {
        ev->channel = VIGIL__V1__CHANNEL__CHANNEL_UNSPECIFIED;
        n++;
    }
    if (ev->outcome < 0 || ev->outcome > VIGIL__V1__OUTCOME__OUTCOME_TIMEOUT) {
        ev->outcome = VIGIL__V1__OUTCOME__OUTCOME_UNSPECIFIED;
        n++;
    }
    if (ev->descriptive && (ev->descriptive->value_tier < 0 ||
                            ev->descriptive->value_tier > VIGIL__V1__VALUE_TIER__VALUE_TIER_PLATINUM)) {
        ev->descriptive->value_tier = VIGIL__V1__VALUE_TIER__VALUE_TIER_UNSPECIFIED;
        n++;
    }
    for (size_t i = 0; i < ev->n_signals; i++) {
        if (ev->signals[i] < 0 || ev->signals[i] > VIGIL__V1__SIGNAL__SIGNAL_DETRACTOR) {
            ev->signals[i] = VIGIL__V1__SIGNAL__SIGNAL_UNSPECIFIED;
            n++;
        }
    }
    return n;
}

vg_err_t vg_event_check_record(const void *buf, size_t len, char *errstr, size_t errstr_size) {
    if (!buf || len == 0) {
        vg_errstr_set(errstr, errstr_size, "empty payload");
        return VG_ERR_DECODE;
    }
    if (len > VG_EVENT_MAX_BYTES) {
        vg_errstr_set(errstr, errstr_size, "record value of %zu bytes, larger than %d", len,
                      VG_EVENT_MAX_BYTES);
        return VG_ERR_INVALID;
    }
    return VG_OK;
}

vg_err_t vg_event_finish(vg_event_t *ev, const void *key, size_t key_len, int64_t not_after_ms,
                         char *errstr, size_t errstr_size) {
    vg_err_t err;

    if ((err = vg_event_validate(ev, not_after_ms, errstr, errstr_size)))
        return err;
    if (key && (key_len != strlen(ev->customer_id) || memcmp(key, ev->customer_id, key_len))) {
        vg_errstr_set(errstr, errstr_size,
                      "record key does not match field \"customer_id\" (events must be keyed by "
                      "customer)");
        return VG_ERR_INVALID;
    }
    vg_event_normalise(ev);
    return VG_OK;
}

vg_err_t vg_event_decode_pb(const void *buf, size_t len, const void *key, size_t key_len,
                            int64_t not_after_ms, ProtobufCAllocator *allocator, vg_event_t **evp,
                            char *errstr, size_t errstr_size) {
    vg_event_t *ev;
    vg_err_t err;

    *evp = NULL;
    if ((err = vg_event_check_record(buf, len, errstr, errstr_size)))
        return err;
    ev = vigil__v1__interaction_event__unpack(allocator, len, buf);
    if (!ev) {
        vg_errstr_set(errstr, errstr_size,
                      "payload of %zu bytes is not a vigil.v1.InteractionEvent", len);
        return VG_ERR_DECODE;
    }
    if ((err = vg_event_check_wire(buf, len, errstr, errstr_size)) ||
        (err = vg_event_finish(ev, key, key_len, not_after_ms, errstr, errstr_size))) {
        vigil__v1__interaction_event__free_unpacked(ev, allocator);
        return err;
    }
    *evp = ev;
    return VG_OK;
}

void vg_event_free_pb(vg_event_t *ev, ProtobufCAllocator *allocator) {
    if (ev)
        vigil__v1__interaction_event__free_unpacked(ev, allocator);
}

int vg_event_has_signal(const vg_event_t *ev, Vigil__V1__Signal s) {
    for (size_t i = 0; i < ev->n_signals; i++)
        if (ev->signals[i] == s)
            return 1;
    return 0;
}

int vg_event_has_consent(const vg_event_t *ev, const char *purpose) {
    for (size_t i = 0; i < ev->n_consents; i++)
        if (ev->consents[i] && strcmp(ev->consents[i], purpose) == 0)
            return 1;
    return 0;
}
