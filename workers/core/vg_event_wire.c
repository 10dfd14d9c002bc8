/*
 * vg_event_wire.c - an InteractionEvent from the wire format by hand, in
 * one pass over the record that reads, checks the text rules and counts
 * at once, then one allocation for the event, its arrays and its strings.
 *
 * protobuf-c's generic unpack (a scan, a slab of members, an allocation
 * per string and per array) and the separate pass over the wire for the
 * text rules were an eighth of a worker's CPU (benchmarks/RESULTS.md,
 * "Where a worker's CPU goes"). protobuf-c stays the reference:
 * vg_event_decode_pb in vg_event.c decodes with the generated code, then
 * vg_event_check_wire. test_event and fuzz_event check that the two
 * accept the same records, refuse the rest with the same error, and
 * decode the same event (docs/decisions.md, "An event decoder by hand").
 *
 * What protobuf-c does, this does: the last of a repeated scalar or
 * string wins; signals packed or not; a Descriptive met twice keeps the
 * latter's scalars and the former's segment unless the latter has one
 * (protobuf-c's merge); unknown fields of any wire type but groups are
 * skipped; a known field of the wrong wire type is not the message.
 */
#include "vg_event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vg_wire.h"

/* A string as it is on the wire. */
typedef struct vg_span_s {
    const uint8_t *p;
    size_t n;
} vg_span_t;

/* The event as read, before it is laid out: spans into the record. */
typedef struct vg_ev_scan_s {
    /* Cleared for each record. */
    bool has_str[9];            /* by field number: 1, 2, 3, 6, 8 */
    bool has_desc, has_segment;
    int32_t channel, outcome, tier;
    uint32_t tenure;
    int64_t time_ms;
    uint64_t revenue_bits, churn_bits;
    size_t n_signals, n_consents, n_attributes; /* as met; kept up to the limits */
    vg_err_t err;               /* the first rule broken, in wire order */
    /* Read only where the fields above say so. */
    char *errstr;
    size_t errstr_size;
    vg_span_t str[9], segment;
    int32_t signals[VG_EVENT_MAX_SIGNALS];
    vg_span_t consents[VG_EVENT_MAX_CONSENTS];
    vg_span_t attr_key[VG_EVENT_MAX_ATTRIBUTES], attr_val[VG_EVENT_MAX_ATTRIBUTES];
    bool has_key[VG_EVENT_MAX_ATTRIBUTES], has_val[VG_EVENT_MAX_ATTRIBUTES];
} vg_ev_scan_t;

static const char *const vg_ev_names[9] = {[1] = "event_id",   [2] = "customer_id", [3] = "tenant",
                                           [6] = "event_type", [8] = "error_code"};

/* A text rule, checked only until the first is broken: that one is the
 * error, as vg_event_check_wire reports the first. */
static void vg_ev_text(vg_ev_scan_t *s, const char *name, long idx, const char *sub,
                       const uint8_t *p, size_t n, size_t max) {
    if (!s->err)
        s->err = vg_event_check_text(name, idx, sub, p, n, max, s->errstr, s->errstr_size);
}

/* A rule broken that is not text: a count, an empty value. */
static void vg_ev_rule(vg_ev_scan_t *s, const char *fmt, size_t n) {
    if (!s->err) {
        vg_errstr_set(s->errstr, s->errstr_size, fmt, n);
        s->err = VG_ERR_INVALID;
    }
}

/* An int32 or an enum from a varint: its low 32 bits, as protobuf-c. */
static int32_t vg_ev_i32(uint64_t v) { return (int32_t)(uint32_t)v; }

/* One Descriptive; false: not wire format. */
static bool vg_ev_descriptive(vg_ev_scan_t *s, const vg_f_t *m) {
    const uint8_t *p = m->data, *end = m->data + m->len;
    vg_f_t f;
    int rc;

    /* A second one replaces the scalars, and the segment only if it has
     * one (protobuf-c's merge_messages). */
    s->has_desc = true;
    s->tier = 0;
    s->tenure = 0;
    s->revenue_bits = s->churn_bits = 0;
    while ((rc = vg_r_field(&p, end, &f)) > 0) {
        switch (f.num) {
        case 1:
            if (f.wire != 0)
                return false;
            s->tier = vg_ev_i32(f.v);
            break;
        case 2:
            if (f.wire != 0)
                return false;
            s->tenure = (uint32_t)f.v;
            break;
        case 3:
            if (f.wire != 2)
                return false;
            s->segment = (vg_span_t){f.data, f.len};
            s->has_segment = true;
            vg_ev_text(s, "descriptive.segment", -1, NULL, f.data, f.len, VG_EVENT_SEGMENT_MAX);
            break;
        case 4:
        case 5:
            if (f.wire != 1)
                return false;
            *(f.num == 4 ? &s->revenue_bits : &s->churn_bits) = f.v;
            break;
        default:
            break;
        }
    }
    return rc == 0;
}

/* One Attribute; false: not wire format. */
static bool vg_ev_attribute(vg_ev_scan_t *s, const vg_f_t *m) {
    const uint8_t *p = m->data, *end = m->data + m->len;
    size_t i = s->n_attributes++;
    bool keep = i < VG_EVENT_MAX_ATTRIBUTES;
    vg_span_t key = {NULL, 0};
    vg_f_t f;
    int rc;

    if (keep)
        s->has_key[i] = s->has_val[i] = false;
    else
        vg_ev_rule(s, "field \"attributes\": more than %zu entries", VG_EVENT_MAX_ATTRIBUTES);
    while ((rc = vg_r_field(&p, end, &f)) > 0) {
        if (f.num != 1 && f.num != 2)
            continue;
        if (f.wire != 2)
            return false;
        vg_ev_text(s, "attributes", (long)i, f.num == 1 ? "key" : "value", f.data, f.len,
                   f.num == 1 ? VG_EVENT_ATTR_KEY_MAX : VG_EVENT_ATTR_VALUE_MAX);
        if (f.num == 1)
            key = (vg_span_t){f.data, f.len};
        if (!keep)
            continue;
        if (f.num == 1) {
            s->attr_key[i] = key;
            s->has_key[i] = true;
        } else {
            s->attr_val[i] = (vg_span_t){f.data, f.len};
            s->has_val[i] = true;
        }
    }
    if (rc < 0)
        return false;
    if (key.n == 0)
        vg_ev_rule(s, "field \"attributes[%zu].key\": required but empty", i);
    return true;
}

/* Signals: one varint (wire 0) or a packed run, every element of which
 * must end (protobuf-c's parse_packed_repeated_member). */
static bool vg_ev_signals(vg_ev_scan_t *s, const vg_f_t *f) {
    const uint8_t *p, *end;
    uint64_t v;

    if (f->wire == 0) {
        if (s->n_signals < VG_EVENT_MAX_SIGNALS)
            s->signals[s->n_signals] = vg_ev_i32(f->v);
        s->n_signals++;
        return true;
    }
    if (f->wire != 2)
        return false;
    for (p = f->data, end = f->data + f->len; p < end; s->n_signals++) {
        if (!vg_r_varint(&p, end, 10, &v))
            return false;
        if (s->n_signals < VG_EVENT_MAX_SIGNALS)
            s->signals[s->n_signals] = vg_ev_i32(v);
    }
    return true;
}

/* The whole record into s; false: not wire format. Rules broken are in
 * s->err, the first one. */
static bool vg_ev_scan(vg_ev_scan_t *s, const uint8_t *p, const uint8_t *end) {
    vg_f_t f;
    int rc;

    while ((rc = vg_r_field(&p, end, &f)) > 0) {
        switch (f.num) {
        case 1:
        case 2:
        case 3:
        case 6:
        case 8:
            if (f.wire != 2)
                return false;
            s->str[f.num] = (vg_span_t){f.data, f.len};
            s->has_str[f.num] = true;
            vg_ev_text(s, vg_ev_names[f.num], -1, NULL, f.data, f.len, VG_EVENT_ID_MAX);
            break;
        case 4:
            if (f.wire != 0)
                return false;
            s->time_ms = (int64_t)f.v;
            break;
        case 5:
        case 7:
            if (f.wire != 0)
                return false;
            *(f.num == 5 ? &s->channel : &s->outcome) = vg_ev_i32(f.v);
            break;
        case 9:
            if (!vg_ev_signals(s, &f))
                return false;
            break;
        case 10:
            if (f.wire != 2)
                return false;
            if (++s->n_consents > VG_EVENT_MAX_CONSENTS) {
                vg_ev_rule(s, "field \"consents\": more than %zu entries", VG_EVENT_MAX_CONSENTS);
                break;
            }
            s->consents[s->n_consents - 1] = (vg_span_t){f.data, f.len};
            if (f.len == 0)
                vg_ev_rule(s, "field \"consents[%zu]\": empty purpose", s->n_consents - 1);
            vg_ev_text(s, "consents", (long)s->n_consents - 1, NULL, f.data, f.len,
                       VG_EVENT_PURPOSE_MAX);
            break;
        case 11:
            if (f.wire != 2 || !vg_ev_descriptive(s, &f))
                return false;
            break;
        case 12:
            if (f.wire != 2 || !vg_ev_attribute(s, &f))
                return false;
            break;
        default:
            break; /* unknown fields are skipped, as proto3 readers do */
        }
        if (s->n_signals > VG_EVENT_MAX_SIGNALS)
            vg_ev_rule(s, "field \"signals\": more than %zu entries", VG_EVENT_MAX_SIGNALS);
    }
    return rc == 0;
}

/* --- layout ------------------------------------------------------------ */

typedef struct vg_ev_out_s {
    char *next; /* where the next string goes */
} vg_ev_out_t;

static char *vg_ev_str(vg_ev_out_t *o, const vg_span_t *sp) {
    char *s = o->next;

    memcpy(s, sp->p, sp->n);
    s[sp->n] = '\0';
    o->next += sp->n + 1;
    return s;
}

/* The scanned event in one block: the message, its Descriptive, its
 * arrays, then its strings. */
static vg_event_t *vg_ev_layout(const vg_ev_scan_t *s, ProtobufCAllocator *allocator) {
    size_t n_attr = s->n_attributes, size, chars = 0;
    vg_event_t *ev;
    char *at;
    vg_ev_out_t o;

    for (int k = 1; k < 9; k++)
        chars += s->has_str[k] ? s->str[k].n + 1 : 0;
    for (size_t i = 0; i < s->n_consents; i++)
        chars += s->consents[i].n + 1;
    for (size_t i = 0; i < n_attr; i++)
        chars += (s->has_key[i] ? s->attr_key[i].n + 1 : 0) +
                 (s->has_val[i] ? s->attr_val[i].n + 1 : 0);
    chars += s->has_segment ? s->segment.n + 1 : 0;
    size = sizeof(*ev) + (s->has_desc ? sizeof(Vigil__V1__Descriptive) : 0) +
           s->n_consents * sizeof(char *) + n_attr * (sizeof(void *) + sizeof(Vigil__V1__Attribute)) +
           s->n_signals * sizeof(Vigil__V1__Signal) + chars;
    if (!(at = allocator ? allocator->alloc(allocator->allocator_data, size) : malloc(size)))
        return NULL;
    ev = (vg_event_t *)at;
    at += sizeof(*ev);
    vigil__v1__interaction_event__init(ev);
    if (s->has_desc) {
        Vigil__V1__Descriptive *d = (Vigil__V1__Descriptive *)at;
        at += sizeof(*d);
        vigil__v1__descriptive__init(d);
        d->value_tier = (Vigil__V1__ValueTier)s->tier;
        d->tenure_months = s->tenure;
        memcpy(&d->revenue_weight, &s->revenue_bits, sizeof(double));
        memcpy(&d->churn_risk, &s->churn_bits, sizeof(double));
        ev->descriptive = d;
    }
    if (s->n_consents) {
        ev->consents = (char **)at;
        at += s->n_consents * sizeof(char *);
    }
    if (n_attr) {
        ev->attributes = (Vigil__V1__Attribute **)at;
        at += n_attr * sizeof(void *);
        for (size_t i = 0; i < n_attr; i++) {
            ev->attributes[i] = (Vigil__V1__Attribute *)at;
            at += sizeof(Vigil__V1__Attribute);
            vigil__v1__attribute__init(ev->attributes[i]);
        }
    }
    if (s->n_signals) {
        ev->signals = (Vigil__V1__Signal *)at;
        at += s->n_signals * sizeof(Vigil__V1__Signal);
        for (size_t i = 0; i < s->n_signals; i++)
            ev->signals[i] = (Vigil__V1__Signal)s->signals[i];
    }
    o.next = at;
    if (s->has_str[1])
        ev->event_id = vg_ev_str(&o, &s->str[1]);
    if (s->has_str[2])
        ev->customer_id = vg_ev_str(&o, &s->str[2]);
    if (s->has_str[3])
        ev->tenant = vg_ev_str(&o, &s->str[3]);
    if (s->has_str[6])
        ev->event_type = vg_ev_str(&o, &s->str[6]);
    if (s->has_str[8])
        ev->error_code = vg_ev_str(&o, &s->str[8]);
    if (s->has_segment)
        ev->descriptive->segment = vg_ev_str(&o, &s->segment);
    ev->event_time_ms = s->time_ms;
    ev->channel = (Vigil__V1__Channel)s->channel;
    ev->outcome = (Vigil__V1__Outcome)s->outcome;
    ev->n_signals = s->n_signals;
    ev->n_consents = s->n_consents;
    for (size_t i = 0; i < s->n_consents; i++)
        ev->consents[i] = vg_ev_str(&o, &s->consents[i]);
    ev->n_attributes = n_attr;
    for (size_t i = 0; i < n_attr; i++) {
        if (s->has_key[i])
            ev->attributes[i]->key = vg_ev_str(&o, &s->attr_key[i]);
        if (s->has_val[i])
            ev->attributes[i]->value = vg_ev_str(&o, &s->attr_val[i]);
    }
    return ev;
}

vg_err_t vg_event_decode(const void *buf, size_t len, const void *key, size_t key_len,
                         int64_t not_after_ms, ProtobufCAllocator *allocator, vg_event_t **evp,
                         char *errstr, size_t errstr_size) {
    vg_ev_scan_t s;
    vg_event_t *ev;
    vg_err_t err;

    *evp = NULL;
    if ((err = vg_event_check_record(buf, len, errstr, errstr_size)))
        return err;
    memset(&s, 0, offsetof(vg_ev_scan_t, errstr));
    s.errstr = errstr;
    s.errstr_size = errstr_size;
    if (!vg_ev_scan(&s, buf, (const uint8_t *)buf + len)) {
        vg_errstr_set(errstr, errstr_size,
                      "payload of %zu bytes is not a vigil.v1.InteractionEvent", len);
        return VG_ERR_DECODE;
    }
    if (s.err)
        return s.err;
    if (!(ev = vg_ev_layout(&s, allocator))) {
        vg_errstr_set(errstr, errstr_size, "out of memory decoding an event of %zu bytes", len);
        return VG_ERR_NOMEM;
    }
    if ((err = vg_event_finish(ev, key, key_len, not_after_ms, errstr, errstr_size))) {
        vg_event_free(ev, allocator);
        return err;
    }
    *evp = ev;
    return VG_OK;
}

void vg_event_free(vg_event_t *ev, ProtobufCAllocator *allocator) {
    if (!ev)
        return;
    if (allocator)
        allocator->free(allocator->allocator_data, ev);
    else
        free(ev);
}
