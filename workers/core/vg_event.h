/*
 * vg_event.h - decode and validate InteractionEvents.
 *
 * A record that fails here is poison: the pipeline sends it to the
 * dead-letter topic with the error text as the reason and moves on.
 *
 * Every limit on the event is enforced here, at the edge, and everything
 * stored or emitted later (state, triggers) is sized to these limits, so
 * nothing is ever cut on the way (docs/triggers.md, "Input limits").
 */
#ifndef VG_EVENT_H
#define VG_EVENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_err.h"
#include "vigil/v1/event.pb-c.h"

typedef Vigil__V1__InteractionEvent vg_event_t;

/* Input limits, in bytes of UTF-8 unless said otherwise. */
#define VG_EVENT_ID_MAX 128          /* event_id, customer_id, tenant, event_type, error_code */
#define VG_EVENT_SEGMENT_MAX 64      /* descriptive.segment */
#define VG_EVENT_MAX_CONSENTS 16     /* entries of consents */
#define VG_EVENT_PURPOSE_MAX 48      /* one consent purpose */
#define VG_EVENT_MAX_SIGNALS 16      /* entries of signals */
#define VG_EVENT_MAX_ATTRIBUTES 32   /* entries of attributes */
#define VG_EVENT_ATTR_KEY_MAX 64
#define VG_EVENT_ATTR_VALUE_MAX 256
#define VG_EVENT_MAX_BYTES 65536     /* the whole record value */
#define VG_EVENT_MIN_TIME_MS 946684800000LL /* 2000-01-01T00:00:00Z */
#define VG_EVENT_MAX_FUTURE_MS_DEFAULT 86400000LL

/* Decode buf into *evp and validate it, by the decoder written by hand
 * (vg_event_wire.c). allocator may be NULL (malloc) or an arena (see
 * vg_arena): the event, its arrays and its strings are one allocation of
 * it. On success the caller frees with vg_event_free(*evp, allocator). On error *evp is NULL and errstr says
 * what is wrong and where (field name). key, when not NULL, must equal
 * the event's customer id (events are keyed by customer). not_after_ms,
 * when > 0, is the latest event time accepted (the record's broker
 * timestamp plus event.max_future_ms): a later event would poison the
 * partition's watermark. Unknown enum values are set to UNSPECIFIED. */
vg_err_t vg_event_decode(const void *buf, size_t len, const void *key, size_t key_len,
                         int64_t not_after_ms, ProtobufCAllocator *allocator, vg_event_t **evp,
                         char *errstr, size_t errstr_size);

/* The same by protobuf-c's generated code, then vg_event_check_wire(): the
 * reference the decoder by hand must match (test_event, fuzz_event): the
 * same records accepted, the same errors, the same events. Free with
 * vg_event_free_pb(). */
vg_err_t vg_event_decode_pb(const void *buf, size_t len, const void *key, size_t key_len,
                            int64_t not_after_ms, ProtobufCAllocator *allocator, vg_event_t **evp,
                            char *errstr, size_t errstr_size);

void vg_event_free_pb(vg_event_t *ev, ProtobufCAllocator *allocator);

/* What both decoders do before and after the bytes: a record's size
 * (empty, or above VG_EVENT_MAX_BYTES), then vg_event_validate(), the key
 * against customer_id and vg_event_normalise(). */
vg_err_t vg_event_check_record(const void *buf, size_t len, char *errstr, size_t errstr_size);
vg_err_t vg_event_finish(vg_event_t *ev, const void *key, size_t key_len, int64_t not_after_ms,
                         char *errstr, size_t errstr_size);

/* Check the encoded bytes: every string field valid UTF-8 without NUL or
 * control characters and within its limit, every repeated field within
 * its count (the record's total size is vg_event_decode's). protobuf-c
 * keeps strings as C strings, so an embedded NUL or an invalid byte can
 * only be seen here. errstr names the field. */
vg_err_t vg_event_check_wire(const void *buf, size_t len, char *errstr, size_t errstr_size);

/* Check what the wire check cannot: required fields, times, ranges.
 * Call after vg_event_check_wire(); errstr names the field at fault. */
vg_err_t vg_event_validate(const vg_event_t *ev, int64_t not_after_ms, char *errstr,
                           size_t errstr_size);

/* Set unknown enum values (channel, outcome, value tier, signals) to
 * UNSPECIFIED, as proto3 readers of an older schema should. Returns how
 * many were changed. */
unsigned vg_event_normalise(vg_event_t *ev);

/* One string field of n bytes at s: at most max bytes, and the text rules
 * of vg_event_text_ok(). errstr names the field: name, name[idx] (idx >=
 * 0) or name[idx].sub. For both decoders. */
vg_err_t vg_event_check_text(const char *name, long idx, const char *sub, const uint8_t *s,
                             size_t n, size_t max, char *errstr, size_t errstr_size);

/* True when s (n bytes) is valid UTF-8 with no NUL and no control
 * character (C0, DEL, C1). *bad gets the offending byte offset. */
int vg_event_text_ok(const uint8_t *s, size_t n, size_t *bad);

void vg_event_free(vg_event_t *ev, ProtobufCAllocator *allocator);

/* True when the event carries signal s. */
int vg_event_has_signal(const vg_event_t *ev, Vigil__V1__Signal s);

/* True when purpose is among the event's consents. */
int vg_event_has_consent(const vg_event_t *ev, const char *purpose);

#endif
