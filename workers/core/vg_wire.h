/*
 * vg_wire.h - reading the protobuf wire format as protobuf-c 1.4 reads it,
 * for the codecs written by hand (vg_state_wire.c, vg_event_wire.c).
 *
 * The limits are protobuf-c's, so that a hand codec accepts exactly what
 * the generated code accepts: a tag of at most 5 bytes whose first byte
 * has a field number, a varint of at most 10 bytes, a length prefix of at
 * most 5 bytes below 2 GiB that fits, wire types 0, 1, 2 and 5 (no
 * groups). Header-only: the readers are on every event's path.
 */
#ifndef VG_WIRE_H
#define VG_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One field as read: its number, wire type and value (a varint, fixed
 * bytes, or a length-delimited span). */
typedef struct vg_f_s {
    uint32_t num, wire;
    uint64_t v;
    const uint8_t *data; /* wire 1, 2, 5: the bytes */
    size_t len;
    const uint8_t *raw;  /* everything after the tag (a length's prefix included) */
    size_t raw_len;
} vg_f_t;

/* A varint of at most max bytes at *p (< end); false if it does not end. */
static inline bool vg_r_varint(const uint8_t **p, const uint8_t *end, unsigned max, uint64_t *out) {
    uint64_t v = 0;
    unsigned shift = 0;

    if (*p < end && !(**p & 0x80)) { /* most are one byte */
        *out = *(*p)++;
        return true;
    }
    if (max <= 10 && (size_t)(end - *p) >= max) {
        /* All max bytes are there: no bounds check per byte (times and
         * offsets take six or more). As below, a varint that does not
         * end within max bytes consumes them. */
        const uint8_t *q = *p;
        for (unsigned i = 0; i < max; i++) {
            v |= (uint64_t)(q[i] & 0x7f) << (7 * i);
            if (!(q[i] & 0x80)) {
                *p = q + i + 1;
                *out = v;
                return true;
            }
        }
        *p = q + max;
        return false;
    }
    for (unsigned i = 0; i < max && *p < end; i++) {
        uint8_t b = *(*p)++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The next field of [*p, end); 0 at the end, 1 read, -1 not wire format
 * (protobuf-c's limits: a tag of at most 5 bytes and not 0, a varint of at
 * most 10, a length of at most 5 and below 2 GiB, wire types 0, 1, 2, 5). */
static inline int vg_r_field(const uint8_t **p, const uint8_t *end, vg_f_t *f) {
    uint64_t key;

    if (*p >= end)
        return 0;
    if ((**p & 0xf8) == 0 || !vg_r_varint(p, end, 5, &key))
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    f->raw = *p;
    switch (f->wire) {
    case 0:
        if (!vg_r_varint(p, end, 10, &f->v))
            return -1;
        f->raw_len = (size_t)(*p - f->raw);
        return 1;
    case 1:
    case 5: {
        size_t n = f->wire == 1 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return -1;
        f->data = *p;
        f->len = n;
        f->v = 0;
        memcpy(&f->v, *p, n);
        *p += n;
        f->raw_len = n;
        return 1;
    }
    case 2: {
        uint64_t n;
        if (!vg_r_varint(p, end, 5, &n) || n > 0x7fffffff || n > (uint64_t)(end - *p))
            return -1;
        f->data = *p;
        f->len = (size_t)n;
        *p += n;
        f->raw_len = (size_t)(*p - f->raw);
        return 1;
    }
    default:
        return -1;
    }
}

#endif
