/*
 * vg_event.h - decode and validate InteractionEvents.
 *
 * A record that fails here is poison: the pipeline sends it to the
 * dead-letter topic with the error text as the reason and moves on.
 */
#ifndef VG_EVENT_H
#define VG_EVENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_err.h"
#include "vigil/v1/event.pb-c.h"

typedef Vigil__V1__InteractionEvent vg_event_t;

/* Longest accepted id (event id, customer id, tenant, event type). */
#define VG_EVENT_ID_MAX 128

/* Decode buf into *evp and validate it. allocator may be NULL (malloc) or
 * an arena (see vg_arena). On success the caller frees with
 * vg_event_free(*evp, allocator). On error *evp is NULL and errstr says
 * what is wrong and where (field name). key, when not NULL, must equal
 * the event's customer id (events are keyed by customer). */
vg_err_t vg_event_decode(const void *buf, size_t len, const void *key, size_t key_len,
                         ProtobufCAllocator *allocator, vg_event_t **evp, char *errstr,
                         size_t errstr_size);

/* Check required fields and ranges; errstr names the field at fault. */
vg_err_t vg_event_validate(const vg_event_t *ev, char *errstr, size_t errstr_size);

void vg_event_free(vg_event_t *ev, ProtobufCAllocator *allocator);

/* True when the event carries signal s. */
int vg_event_has_signal(const vg_event_t *ev, Vigil__V1__Signal s);

/* True when purpose is among the event's consents. */
int vg_event_has_consent(const vg_event_t *ev, const char *purpose);

#endif
