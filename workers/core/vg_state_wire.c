/*
 * vg_state_wire.c - CustomerState to and from the protobuf wire format by
 * hand, straight between the bytes and vg_state_t.
 *
 * protobuf-c's generic unpack, its allocations and its free were a sixth
 * of a worker's CPU, and its size pass and pack another tenth
 * (benchmarks/RESULTS.md, "Where a worker's CPU goes"). This codec is
 * specialised to state.proto; protobuf-c's generated code stays the
 * reference (vg_state_decode_pb, vg_state_encode_pb in vg_state.c):
 * test_state and fuzz_state check that both write the same bytes and read
 * the same state back (docs/decisions.md, "A state codec by hand").
 *
 * The encoder writes what protobuf-c writes: fields in number order,
 * proto3 defaults left out, repeated scalars packed. The decoder reads any
 * valid encoding (packed or not, fields in any order, repeated or merged
 * as protobuf says, unknown fields skipped) and refuses what is not wire
 * format, as protobuf-c does. Where protobuf-c departs from the protobuf
 * rules (a message met twice: its scalars replaced, not merged), this
 * follows protobuf-c.
 */
#include "vg_state.h"

#include <string.h>

#include "vg_wire.h"

/* --- writing ----------------------------------------------------------- */

typedef struct vg_w_s {
    uint8_t *p, *end;
    bool full;
} vg_w_t;

/* Room for n more bytes. Once short, the writer stays full and writes
 * nothing more (the encoding is refused as a whole). */
static inline bool vg_w_room(vg_w_t *w, size_t n) {
    if (w->full || (size_t)(w->end - w->p) < n) {
        w->full = true;
        return false;
    }
    return true;
}

static inline void vg_w_bytes(vg_w_t *w, const void *data, size_t n) {
    if (!vg_w_room(w, n))
        return;
    memcpy(w->p, data, n);
    w->p += n;
}

/* The length of v as a varint, 1 to 10 bytes. */
static inline size_t vg_w_varint_len(uint64_t v) {
    return 1 + (size_t)(63 - __builtin_clzll(v | 1)) / 7;
}

/* Written in place: no staging copy, and one bounds check while the
 * longest varint fits (its exact length is counted only near the end). */
static void vg_w_varint_long(vg_w_t *w, uint64_t v) {
    if ((w->full || (size_t)(w->end - w->p) < 10) && !vg_w_room(w, vg_w_varint_len(v)))
        return;
    while (v >= 0x80) {
        *w->p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *w->p++ = (uint8_t)v;
}

/* Most varints here are tags and small counts, of one byte, and most tags
 * are constants: that case is a store where it is written. */
static inline void vg_w_varint(vg_w_t *w, uint64_t v) {
    if (v < 0x80 && !w->full && w->p < w->end)
        *w->p++ = (uint8_t)v;
    else
        vg_w_varint_long(w, v);
}

static inline void vg_w_tag(vg_w_t *w, uint32_t field, uint32_t wire) {
    vg_w_varint(w, (uint64_t)field << 3 | wire);
}

/* int32 and enums: a negative value is its 64-bit two's complement. */
static inline uint64_t vg_w_i32(int32_t v) { return (uint64_t)(int64_t)v; }

static inline void vg_w_u64_field(vg_w_t *w, uint32_t field, uint64_t v) {
    if (!v)
        return;
    vg_w_tag(w, field, 0);
    vg_w_varint(w, v);
}

static inline void vg_w_i32_field(vg_w_t *w, uint32_t field, int32_t v) {
    vg_w_u64_field(w, field, vg_w_i32(v));
}

static inline void vg_w_bool_field(vg_w_t *w, uint32_t field, bool v) {
    vg_w_u64_field(w, field, v ? 1 : 0);
}

static inline void vg_w_len_field(vg_w_t *w, uint32_t field, const void *data, size_t n) {
    vg_w_tag(w, field, 2);
    vg_w_varint(w, n);
    vg_w_bytes(w, data, n);
}

/* A proto3 string: left out when empty. */
static inline void vg_w_str_field(vg_w_t *w, uint32_t field, const char *s) {
    if (s[0])
        vg_w_len_field(w, field, s, strlen(s));
}

static inline void vg_w_double_field(vg_w_t *w, uint32_t field, double v) {
    uint8_t b[8];

    if (v == 0)
        return;
    memcpy(b, &v, 8); /* little-endian hosts only (as protobuf-c's fast path) */
    vg_w_tag(w, field, 1);
    vg_w_bytes(w, b, 8);
}

/* A length-delimited field whose length is known only once its content is
 * written: the content goes one byte after the tag, and moves up when its
 * length needs a longer varint. vg_w_open() returns where it starts. */
static inline uint8_t *vg_w_open(vg_w_t *w, uint32_t field) {
    vg_w_tag(w, field, 2);
    vg_w_bytes(w, "", 1);
    return w->p;
}

static void vg_w_close(vg_w_t *w, uint8_t *start) {
    size_t n, extra;

    if (w->full)
        return;
    n = (size_t)(w->p - start);
    if (n < 0x80) { /* the byte kept for it is enough: most messages here */
        start[-1] = (uint8_t)n;
        return;
    }
    extra = vg_w_varint_len(n) - 1;
    if ((size_t)(w->end - w->p) < extra) {
        w->full = true;
        return;
    }
    memmove(start + extra, start, n);
    w->p += extra;
    for (uint8_t *q = start - 1; n >= 0x80; n >>= 7)
        *q++ = (uint8_t)(n | 0x80);
    start[extra - 1] = (uint8_t)n;
}

/* Packed repeated varints of n values (left out when n is 0). */
static inline void vg_w_packed_i64(vg_w_t *w, uint32_t field, const int64_t *v, uint32_t n) {
    uint8_t *at;

    if (!n)
        return;
    at = vg_w_open(w, field);
    for (uint32_t i = 0; i < n; i++)
        vg_w_varint(w, (uint64_t)v[i]);
    vg_w_close(w, at);
}

static inline void vg_w_packed_i32(vg_w_t *w, uint32_t field, const int32_t *v, uint32_t n) {
    uint8_t *at;

    if (!n)
        return;
    at = vg_w_open(w, field);
    for (uint32_t i = 0; i < n; i++)
        vg_w_varint(w, vg_w_i32(v[i]));
    vg_w_close(w, at);
}

vg_err_t vg_state_encode(const vg_state_t *st, uint8_t *buf, size_t cap, size_t *lenp) {
    vg_w_t w = {buf, buf + cap, false};
    uint8_t *at, *sub;

    vg_w_u64_field(&w, 1, st->version);
    for (uint32_t i = 0; i < st->n_applied; i++) {
        at = vg_w_open(&w, 2);
        vg_w_i32_field(&w, 1, st->applied_partition[i]);
        vg_w_u64_field(&w, 2, (uint64_t)st->applied_offset[i]);
        vg_w_close(&w, at);
    }
    for (uint32_t i = 0; i < st->n_troubles; i++) {
        const vg_state_window_t *t = &st->troubles[i];
        if (!t->n)
            continue; /* not stored (vg_state.h) */
        at = vg_w_open(&w, 3);
        vg_w_str_field(&w, 1, t->kind);
        vg_w_packed_i64(&w, 2, t->times_ms, t->n);
        vg_w_packed_i32(&w, 3, t->channels, t->n);
        for (uint32_t j = 0; j < t->n; j++)
            vg_w_len_field(&w, 4, t->event_ids[j], strlen(t->event_ids[j]));
        vg_w_close(&w, at);
    }
    vg_w_u64_field(&w, 4, (uint64_t)st->last_signal_ms);
    for (uint32_t i = 0; i < st->n_ledgers; i++) {
        const vg_state_ledger_t *l = &st->ledgers[i];
        at = vg_w_open(&w, 5);
        vg_w_str_field(&w, 1, l->intervention);
        vg_w_i32_field(&w, 2, l->channel);
        vg_w_packed_i64(&w, 3, l->fired_ms, l->n);
        vg_w_close(&w, at);
    }
    for (uint32_t i = 0; i < st->n_decisions; i++) {
        const vg_state_decision_t *d = &st->decisions[i];
        at = vg_w_open(&w, 6);
        vg_w_i32_field(&w, 1, d->partition);
        vg_w_u64_field(&w, 2, (uint64_t)d->offset);
        vg_w_len_field(&w, 3, d->trigger, d->len); /* a repeated element, even empty */
        vg_w_bool_field(&w, 4, d->timer);
        vg_w_u64_field(&w, 5, (uint64_t)d->due_ms);
        vg_w_bool_field(&w, 6, d->sealed);
        vg_w_close(&w, at);
    }
    vg_w_u64_field(&w, 7, (uint64_t)st->last_event_ms);
    vg_w_u64_field(&w, 8, st->events_applied);
    /* Descriptive: always present (the protobuf-c path sets it). */
    sub = vg_w_open(&w, 9);
    vg_w_i32_field(&w, 1, st->value_tier);
    vg_w_u64_field(&w, 2, st->tenure_months);
    vg_w_double_field(&w, 4, st->revenue_weight);
    vg_w_double_field(&w, 5, st->churn_risk);
    vg_w_close(&w, sub);
    for (uint32_t i = 0; i < st->n_sequences; i++) {
        const vg_state_sequence_t *q = &st->sequences[i];
        uint32_t n = q->progress < VG_STATE_SEQ_STEPS ? q->progress : VG_STATE_SEQ_STEPS;
        if (!q->progress)
            continue; /* not stored (vg_state.h) */
        at = vg_w_open(&w, 10);
        vg_w_str_field(&w, 1, q->name);
        vg_w_u64_field(&w, 2, q->progress);
        vg_w_u64_field(&w, 3, (uint64_t)q->start_ms);
        for (uint32_t j = 0; j < n; j++)
            vg_w_len_field(&w, 4, q->event_ids[j], strlen(q->event_ids[j]));
        vg_w_packed_i32(&w, 5, q->channels, n);
        vg_w_close(&w, at);
    }
    for (uint32_t i = 0; i < st->n_absences; i++) {
        const vg_state_absence_t *a = &st->absences[i];
        at = vg_w_open(&w, 11);
        vg_w_str_field(&w, 1, a->name);
        vg_w_u64_field(&w, 2, (uint64_t)a->start_ms);
        vg_w_u64_field(&w, 3, (uint64_t)a->due_ms);
        vg_w_str_field(&w, 4, a->event_id);
        vg_w_i32_field(&w, 5, a->channel);
        vg_w_close(&w, at);
    }
    for (uint32_t i = 0; i < st->n_consents; i++)
        vg_w_len_field(&w, 12, st->consents[i], strlen(st->consents[i]));
    if (st->sealed_len)
        vg_w_len_field(&w, 13, st->sealed_identity, st->sealed_len);
    if (st->last_event_len)
        vg_w_len_field(&w, 14, st->last_event, st->last_event_len);
    vg_w_u64_field(&w, 15, st->last_window_hit);
    vg_w_u64_field(&w, 16, st->last_seq_done);
    vg_w_bool_field(&w, 17, st->last_late);
    vg_w_u64_field(&w, 18, (uint64_t)st->last_record_ms);
    vg_w_str_field(&w, 19, st->last_fired);
    vg_w_i32_field(&w, 20, st->last_fired_channel);
    if (st->n_recent) {
        at = vg_w_open(&w, 21);
        for (uint32_t i = 0; i < st->n_recent; i++) {
            uint8_t b[8];
            memcpy(b, &st->recent[i], 8);
            vg_w_bytes(&w, b, 8);
        }
        vg_w_close(&w, at);
    }
    vg_w_bool_field(&w, 22, st->last_timer);
    vg_w_u64_field(&w, 23, st->last_absence_fired);
    vg_w_u64_field(&w, 24, (uint64_t)st->last_due_ms);
    vg_w_u64_field(&w, 25, (uint64_t)st->last_watermark_ms);
    vg_w_bool_field(&w, 26, st->last_event_sealed);
    if (!vg_state_event_is_applied(st)) {
        vg_w_i32_field(&w, 27, st->last_event_partition);
        vg_w_u64_field(&w, 28, (uint64_t)st->last_event_next);
    }
    if (st->n_recent) {
        at = vg_w_open(&w, 29);
        for (uint32_t i = 0; i < st->n_recent; i++) {
            int64_t age = st->recent_ms[i] ? st->last_event_ms - st->recent_ms[i] : -1;
            vg_w_varint(&w, ((uint64_t)age << 1) ^ (uint64_t)(age >> 63)); /* zigzag */
        }
        vg_w_close(&w, at);
    }
    vg_w_bool_field(&w, 30, vg_state_event_is_applied(st));
    if (w.full)
        return VG_ERR_OVERFLOW;
    *lenp = (size_t)(w.p - buf);
    return VG_OK;
}

/* --- reading ----------------------------------------------------------- */

/* A bool, as protobuf-c reads one: of any wire type, true when any byte
 * after the tag (a length's prefix included) has a bit of its 7 low ones
 * set. */
static bool vg_r_bool(const vg_f_t *f) {
    for (size_t i = 0; i < f->raw_len; i++)
        if (f->raw[i] & 0x7f)
            return true;
    return false;
}

/* The elements of a repeated varint field: one element (wire 0) or a
 * packed run (wire 2), through each(). As protobuf-c counts a packed run
 * by its ending bytes, an unfinished varint at its end is ignored. False:
 * a wire type the field cannot have. */
typedef void (*vg_r_each_fn)(void *ctx, uint64_t v);

static bool vg_r_varints(const vg_f_t *f, vg_r_each_fn each, void *ctx) {
    const uint8_t *p, *end;
    uint64_t v;

    if (f->wire == 0) {
        each(ctx, f->v);
        return true;
    }
    if (f->wire != 2)
        return false;
    for (p = f->data, end = f->data + f->len; p < end && vg_r_varint(&p, end, 10, &v);)
        each(ctx, v);
    return true;
}

/* A C string field into dst (cap bytes): cut at cap - 1, and at a NUL as
 * the protobuf-c path's strlen cuts it. */
static void vg_r_str(char *dst, size_t cap, const vg_f_t *f) {
    size_t n = f->len < cap - 1 ? f->len : cap - 1;

    memcpy(dst, f->data, n);
    dst[n] = '\0';
}

#define VG_R_NEED(f, w)                                                                          \
    do {                                                                                         \
        if ((f)->wire != (w))                                                                    \
            return false;                                                                        \
    } while (0)

/* Counters for repeated varints read through vg_r_varints(). */
typedef struct vg_r_count_s {
    size_t n;
} vg_r_count_t;

static void vg_r_count(void *ctx, uint64_t v) {
    (void)v;
    ((vg_r_count_t *)ctx)->n++;
}

/* Elements [from, from + cap) of a repeated field into out, as int64. */
typedef struct vg_r_pick_s {
    size_t i, from, cap;
    int64_t *i64;
    int32_t *i32;
} vg_r_pick_t;

static void vg_r_pick(void *ctx, uint64_t v) {
    vg_r_pick_t *k = ctx;

    if (k->i >= k->from && k->i - k->from < k->cap) {
        if (k->i64)
            k->i64[k->i - k->from] = (int64_t)v;
        else
            k->i32[k->i - k->from] = (int32_t)(uint32_t)v;
    }
    k->i++;
}

static bool vg_r_applied(vg_state_t *st, const vg_f_t *m) {
    const uint8_t *p = m->data, *end = m->data + m->len;
    int32_t part = 0;
    int64_t off = 0;
    vg_f_t f;
    int r;

    while ((r = vg_r_field(&p, end, &f)) > 0) {
        if (f.num == 1) {
            VG_R_NEED(&f, 0);
            part = (int32_t)(uint32_t)f.v;
        } else if (f.num == 2) {
            VG_R_NEED(&f, 0);
            off = (int64_t)f.v;
        }
    }
    if (r < 0)
        return false;
    if (st->n_applied < VG_STATE_MAX_PARTITIONS) {
        st->applied_partition[st->n_applied] = part;
        st->applied_offset[st->n_applied++] = off;
    }
    return true;
}

/* A TroubleWindow: the newest VG_STATE_WINDOW_MAX entries (times, and the
 * channel and event id at the same index). Two passes: the count first. */
static bool vg_r_trouble(vg_state_t *st, const vg_f_t *m) {
    const uint8_t *p = m->data, *end = m->data + m->len;
    vg_state_window_t *w = st->n_troubles < VG_STATE_MAX_TROUBLES ? &st->troubles[st->n_troubles]
                                                                  : NULL;
    vg_r_count_t times = {0};
    size_t skip, ids = 0;
    vg_r_pick_t tk, ck;
    vg_f_t f;
    int r;

    while ((r = vg_r_field(&p, end, &f)) > 0) {
        if (f.num == 1) {
            VG_R_NEED(&f, 2);
        } else if (f.num == 2) {
            if (!vg_r_varints(&f, vg_r_count, &times))
                return false;
        } else if (f.num == 3) {
            if (f.wire != 0 && f.wire != 2)
                return false;
        } else if (f.num == 4) {
            VG_R_NEED(&f, 2);
        }
    }
    if (r < 0)
        return false;
    if (!w)
        return true;
    skip = times.n > VG_STATE_WINDOW_MAX ? times.n - VG_STATE_WINDOW_MAX : 0;
    w->kind[0] = '\0';
    w->n = (uint32_t)(times.n - skip);
    for (uint32_t j = 0; j < w->n; j++) {
        w->channels[j] = 0;
        w->event_ids[j][0] = '\0';
    }
    tk = (vg_r_pick_t){0, skip, w->n, w->times_ms, NULL};
    ck = (vg_r_pick_t){0, skip, w->n, NULL, w->channels};
    for (p = m->data; vg_r_field(&p, end, &f) > 0;) {
        if (f.num == 1)
            vg_r_str(w->kind, sizeof(w->kind), &f);
        else if (f.num == 2)
            vg_r_varints(&f, vg_r_pick, &tk);
        else if (f.num == 3)
            vg_r_varints(&f, vg_r_pick, &ck);
        else if (f.num == 4 && ids++ >= skip && ids - 1 - skip < w->n)
            vg_r_str(w->event_ids[ids - 1 - skip], VG_STATE_EVID_MAX, &f);
    }
    st->n_troubles++;
    return true;
}

/* A FireLedger: the newest VG_STATE_LEDGER_MAX fire times. */
static bool vg_r_ledger(vg_state_t *st, const vg_f_t *m) {
    const uint8_t *p = m->data, *end = m->data + m->len;
    vg_state_ledger_t *l = st->n_ledgers < VG_STATE_MAX_LEDGERS ? &st->ledgers[st->n_ledgers]
                                                                : NULL;
    vg_r_count_t fired = {0};
    vg_r_pick_t fk;
    size_t skip;
    vg_f_t f;
    int r;

    while ((r = vg_r_field(&p, end, &f)) > 0) {
        if (f.num == 1) {
            VG_R_NEED(&f, 2);
        } else if (f.num == 2) {
            VG_R_NEED(&f, 0);
        } else if (f.num == 3 && !vg_r_varints(&f, vg_r_count, &fired)) {
            return false;
        }
    }
    if (r < 0)
        return false;
    if (!l)
        return true;
    skip = fired.n > VG_STATE_LEDGER_MAX ? fired.n - VG_STATE_LEDGER_MAX : 0;
    l->intervention[0] = '\0';
    l->channel = 0;
    l->n = (uint32_t)(fired.n - skip);
    fk = (vg_r_pick_t){0, skip, l->n, l->fired_ms, NULL};
    for (p = m->data; vg_r_field(&p, end, &f) > 0;) {
        if (f.num == 1)
            vg_r_str(l->intervention, sizeof(l->intervention), &f);
        else if (f.num == 2)
            l->channel = (int32_t)(uint32_t)f.v;
        else if (f.num == 3)
            vg_r_varints(&f, vg_r_pick, &fk);
    }
    st->n_ledgers++;
    return true;
}

/* A Decision: kept when its first trigger fits (sealed: with the seal's
 * overhead); a decision without a trigger is dropped. */
static bool vg_r_decision(vg_state_t *st, const vg_f_t *m) {
    const uint8_t *p = m->data, *end = m->data + m->len;
    struct {
        int32_t partition;
        int64_t offset, due_ms;
        bool timer, sealed;
    } d = {0, 0, 0, false, false};
    const uint8_t *trig = NULL;
    size_t trig_len = 0;
    vg_f_t f;
    int r;

    while ((r = vg_r_field(&p, end, &f)) > 0) {
        switch (f.num) {
        case 1:
            VG_R_NEED(&f, 0);
            d.partition = (int32_t)(uint32_t)f.v;
            break;
        case 2:
            VG_R_NEED(&f, 0);
            d.offset = (int64_t)f.v;
            break;
        case 3:
            VG_R_NEED(&f, 2);
            if (!trig)
                trig = f.data, trig_len = f.len;
            break;
        case 4:
            d.timer = vg_r_bool(&f);
            break;
        case 5:
            VG_R_NEED(&f, 0);
            d.due_ms = (int64_t)f.v;
            break;
        case 6:
            d.sealed = vg_r_bool(&f);
            break;
        default:
            break;
        }
    }
    if (r < 0)
        return false;
    if (st->n_decisions >= VG_STATE_MAX_DECISIONS || !trig ||
        trig_len > VG_TRIGGER_MAX_BYTES + (d.sealed ? VG_STATE_SEAL_OVERHEAD : 0))
        return true;
    {
        vg_state_decision_t *sd = &st->decisions[st->n_decisions++];
        sd->partition = d.partition;
        sd->offset = d.offset;
        sd->timer = d.timer;
        sd->due_ms = d.due_ms;
        sd->sealed = d.sealed;
        sd->len = trig_len;
        if (trig_len)
            memcpy(sd->trigger, trig, trig_len);
    }
    return true;
}

/* Descriptive. Met twice, the later one's numbers replace the earlier's,
 * zeros included: protobuf-c's merge of proto3 scalars. */
static bool vg_r_descriptive(vg_state_t *st, const vg_f_t *m) {
    const uint8_t *p = m->data, *end = m->data + m->len;
    vg_f_t f;
    int r;

    st->value_tier = 0;
    st->tenure_months = 0;
    st->revenue_weight = st->churn_risk = 0;
    while ((r = vg_r_field(&p, end, &f)) > 0) {
        if (f.num == 1) {
            VG_R_NEED(&f, 0);
            st->value_tier = (int32_t)(uint32_t)f.v;
        } else if (f.num == 2) {
            VG_R_NEED(&f, 0);
            st->tenure_months = (uint32_t)f.v;
        } else if (f.num == 3) {
            VG_R_NEED(&f, 2);
        } else if (f.num == 4 || f.num == 5) {
            VG_R_NEED(&f, 1);
            memcpy(f.num == 4 ? &st->revenue_weight : &st->churn_risk, f.data, 8);
        }
    }
    return r == 0;
}

/* A SequenceProgress: its first VG_STATE_SEQ_STEPS event ids and channels
 * (a progress beyond that is not a progress: 0). */
static bool vg_r_sequence(vg_state_t *st, const vg_f_t *m) {
    const uint8_t *p = m->data, *end = m->data + m->len;
    vg_state_sequence_t spare; /* where one beyond the bound is read, and dropped */
    vg_state_sequence_t *q =
        st->n_sequences < VG_STATE_MAX_SEQUENCES ? &st->sequences[st->n_sequences] : &spare;
    vg_r_pick_t ck = {0, 0, VG_STATE_SEQ_STEPS, NULL, q->channels};
    size_t n_ids = 0;
    uint64_t progress = 0;
    vg_f_t f;
    int r;

    q->name[0] = '\0';
    q->start_ms = 0;
    while ((r = vg_r_field(&p, end, &f)) > 0) {
        switch (f.num) {
        case 1:
            VG_R_NEED(&f, 2);
            vg_r_str(q->name, sizeof(q->name), &f);
            break;
        case 2:
            VG_R_NEED(&f, 0);
            progress = (uint32_t)f.v;
            break;
        case 3:
            VG_R_NEED(&f, 0);
            q->start_ms = (int64_t)f.v;
            break;
        case 4:
            VG_R_NEED(&f, 2);
            if (n_ids < VG_STATE_SEQ_STEPS)
                vg_r_str(q->event_ids[n_ids], VG_STATE_EVID_MAX, &f);
            n_ids++;
            break;
        case 5:
            if (!vg_r_varints(&f, vg_r_pick, &ck))
                return false;
            break;
        default:
            break;
        }
    }
    if (r < 0)
        return false;
    if (q == &spare)
        return true;
    q->progress = progress <= VG_STATE_SEQ_STEPS ? (uint32_t)progress : 0;
    for (uint32_t j = 0; j < q->progress; j++) {
        if (j >= n_ids)
            q->event_ids[j][0] = '\0';
        if (j >= ck.i)
            q->channels[j] = 0;
    }
    st->n_sequences++;
    return true;
}

static bool vg_r_absence(vg_state_t *st, const vg_f_t *m) {
    const uint8_t *p = m->data, *end = m->data + m->len;
    vg_state_absence_t spare, *a = st->n_absences < VG_STATE_MAX_ABSENCES
                                        ? &st->absences[st->n_absences]
                                        : &spare;
    vg_f_t f;
    int r;

    a->name[0] = a->event_id[0] = '\0';
    a->start_ms = a->due_ms = 0;
    a->channel = 0;
    while ((r = vg_r_field(&p, end, &f)) > 0) {
        switch (f.num) {
        case 1:
            VG_R_NEED(&f, 2);
            vg_r_str(a->name, sizeof(a->name), &f);
            break;
        case 2:
            VG_R_NEED(&f, 0);
            a->start_ms = (int64_t)f.v;
            break;
        case 3:
            VG_R_NEED(&f, 0);
            a->due_ms = (int64_t)f.v;
            break;
        case 4:
            VG_R_NEED(&f, 2);
            vg_r_str(a->event_id, sizeof(a->event_id), &f);
            break;
        case 5:
            VG_R_NEED(&f, 0);
            a->channel = (int32_t)(uint32_t)f.v;
            break;
        default:
            break;
        }
    }
    if (r < 0)
        return false;
    if (a != &spare)
        st->n_absences++;
    return true;
}

/* The recent event ids and their ages: the newest VG_STATE_RECENT_MAX
 * (counted over the whole message first: fields 21 and 29 may come in
 * any order and any number of runs). */
typedef struct vg_r_recent_s {
    size_t i, from;
    vg_state_t *st;
    int64_t ages[VG_STATE_RECENT_MAX];
} vg_r_recent_t;

static void vg_r_age(void *ctx, uint64_t v) {
    vg_r_recent_t *k = ctx;

    if (k->i >= k->from && k->i - k->from < VG_STATE_RECENT_MAX)
        k->ages[k->i - k->from] = (int64_t)((v >> 1) ^ -(v & 1)); /* zigzag */
    k->i++;
}

/* One run of field 21 (packed fixed64, or one unpacked element). */
static bool vg_r_hashes(const vg_f_t *f, size_t *count, size_t from, vg_state_t *st) {
    const uint8_t *d = f->data;
    size_t n;

    if (f->wire == 1)
        n = 1;
    else if (f->wire == 2 && f->len % 8 == 0)
        n = f->len / 8;
    else
        return false;
    for (size_t i = 0; st && i < n; i++) {
        size_t at = *count + i;
        if (at >= from && at - from < VG_STATE_RECENT_MAX)
            memcpy(&st->recent[at - from], d + 8 * i, 8);
    }
    *count += n;
    return true;
}

/* The wire type each top-level field must have, by number; -1: any (the
 * bools, read by vg_r_bool, and number 0, which only a tag of several
 * bytes can name and which is skipped as unknown). Fields 21 and 29 are
 * read apart; numbers beyond the table are unknown, of any wire type. */
static const int8_t vg_state_field_wire[31] = {
    [0] = -1, [2] = 2,   [3] = 2,   [5] = 2,   [6] = 2,   [9] = 2,  [10] = 2, [11] = 2,
    [12] = 2, [13] = 2,  [14] = 2,  [19] = 2,  [17] = -1, [22] = -1, [26] = -1, [30] = -1,
};

vg_err_t vg_state_decode(vg_state_t *st, const void *buf, size_t len, char *errstr,
                         size_t errstr_size) {
    const uint8_t *p = buf, *end = (const uint8_t *)buf + len, *at = p, *recent = NULL;
    size_t n_hashes = 0, at_hash = 0; /* the hashes counted, then placed */
    vg_r_count_t ages = {0};
    vg_f_t f;
    int r;
    bool ok = true, is_applied = false;

    vg_state_init(st);
    while (ok && (r = vg_r_field(&p, end, &f)) > 0) {
        const uint8_t *tag = at;

        at = p;
        if (f.num == 21 || f.num == 29) {
            if (!recent)
                recent = tag; /* the second pass starts there */
            ok = f.num == 21 ? vg_r_hashes(&f, &n_hashes, 0, NULL)
                             : vg_r_varints(&f, vg_r_count, &ages);
            continue;
        }
        if (f.num < sizeof(vg_state_field_wire) && vg_state_field_wire[f.num] >= 0 &&
            f.wire != (uint32_t)vg_state_field_wire[f.num]) {
            ok = false;
            break;
        }
        switch (f.num) {
        case 1: st->version = f.v; break;
        case 2: ok = vg_r_applied(st, &f); break;
        case 3: ok = vg_r_trouble(st, &f); break;
        case 4: st->last_signal_ms = (int64_t)f.v; break;
        case 5: ok = vg_r_ledger(st, &f); break;
        case 6: ok = vg_r_decision(st, &f); break;
        case 7: st->last_event_ms = (int64_t)f.v; break;
        case 8: st->events_applied = f.v; break;
        case 9: ok = vg_r_descriptive(st, &f); break;
        case 10: ok = vg_r_sequence(st, &f); break;
        case 11: ok = vg_r_absence(st, &f); break;
        case 12:
            if (st->n_consents < VG_STATE_MAX_CONSENTS)
                vg_r_str(st->consents[st->n_consents++], VG_STATE_PURPOSE_MAX, &f);
            break;
        case 13:
            st->sealed_len = f.len <= VG_STATE_SEALED_MAX ? (uint32_t)f.len : 0;
            memcpy(st->sealed_identity, f.data, st->sealed_len);
            break;
        case 14:
            st->last_event_len = f.len <= VG_STATE_LAST_EVENT_MAX ? (uint32_t)f.len : 0;
            memcpy(st->last_event, f.data, st->last_event_len);
            break;
        case 15: st->last_window_hit = (uint32_t)f.v; break;
        case 16: st->last_seq_done = (uint32_t)f.v; break;
        case 17: st->last_late = vg_r_bool(&f); break;
        case 18: st->last_record_ms = (int64_t)f.v; break;
        case 19: vg_r_str(st->last_fired, sizeof(st->last_fired), &f); break;
        case 20: st->last_fired_channel = (int32_t)(uint32_t)f.v; break;
        case 22: st->last_timer = vg_r_bool(&f); break;
        case 23: st->last_absence_fired = (uint32_t)f.v; break;
        case 24: st->last_due_ms = (int64_t)f.v; break;
        case 25: st->last_watermark_ms = (int64_t)f.v; break;
        case 26: st->last_event_sealed = vg_r_bool(&f); break;
        case 27: st->last_event_partition = (int32_t)(uint32_t)f.v; break;
        case 28: st->last_event_next = (int64_t)f.v; break;
        case 30: is_applied = vg_r_bool(&f); break;
        default: break; /* unknown: skipped */
        }
    }
    if (!ok || r < 0) {
        vg_errstr_set(errstr, errstr_size, "stored state of %zu bytes is not a CustomerState", len);
        vg_state_init(st);
        return VG_ERR_DECODE;
    }
    if (n_hashes) {
        size_t from = n_hashes > VG_STATE_RECENT_MAX ? n_hashes - VG_STATE_RECENT_MAX : 0;
        /* ages is not cleared: when aged, the second pass writes each of
         * its n_recent entries (it counts as the first did), and
         * otherwise none is read. */
        vg_r_recent_t rk;
        bool aged = ages.n == n_hashes;

        rk.i = 0;
        rk.from = from;
        rk.st = st;

        at_hash = 0;
        for (p = recent; vg_r_field(&p, end, &f) > 0;) {
            if (f.num == 21)
                vg_r_hashes(&f, &at_hash, from, st);
            else if (f.num == 29 && aged)
                vg_r_varints(&f, vg_r_age, &rk);
        }
        st->n_recent = (uint32_t)(n_hashes - from);
        for (uint32_t i = 0; i < st->n_recent; i++)
            st->recent_ms[i] = aged && rk.ages[i] >= 0 ? st->last_event_ms - rk.ages[i] : 0;
    }
    vg_state_event_from_applied(st, is_applied);
    return VG_OK;
}
