/*
 * vg_json.h - JSON <-> protobuf for people and tools (vigilctl).
 *
 * The wire format everywhere in Vigil is protobuf; JSON exists so a person
 * can type an event, or read a trigger or a customer's state, in a terminal.
 *
 * Shape: keys are exactly the proto field names, in field-number order.
 * Enums are lowercase short strings ("web", "failure", "frustration",
 * "gold", "high"); the zero value prints as "unspecified". Attributes are a
 * JSON object of string -> string. int64 fields are JSON integers. Doubles
 * print with the fewest digits (15, 16 or 17) that give back the same
 * double for every number in the document, so output is exact and usually
 * short; NaN and infinities print as the strings "NaN", "Infinity",
 * "-Infinity" (as in the proto3 JSON mapping), since JSON has no such
 * numbers.
 *
 * Pure functions: no I/O, no global state, any thread.
 */
#ifndef VG_JSON_H
#define VG_JSON_H

#include <stddef.h>

#include "vg_err.h"
#include "vigil/v1/event.pb-c.h"
#include "vigil/v1/state.pb-c.h"
#include "vigil/v1/trigger.pb-c.h"

/* Parse one JSON object (text, len bytes, need not be NUL-terminated) into
 * a newly allocated InteractionEvent.
 *
 * Accepted beyond the printed shape, for hand-typed input: null for any
 * field means "absent" (the proto default); an enum may also be given as
 * its integer value; an integer field may be a decimal string (proto3 JSON
 * writes int64 that way); a double may be an integer or "NaN", "Infinity",
 * "-Infinity". Missing fields keep their defaults: which fields are required
 * is decided by the event validator, not here.
 *
 * Returns VG_OK and sets *out (caller frees with vg_json_event_free()).
 * Returns VG_ERR_INVALID for a JSON syntax error (errstr gives jansson's
 * line and column), a top-level value that is not an object, a duplicate
 * key, an unknown field, a value of the wrong type or out of range, or an
 * unknown enum string; errstr names the field, e.g.
 *   field "channel": unknown value "fax" (expected one of web, app, ...)
 *   field "descriptive.tenure_months": expected an integer, got string
 * Returns VG_ERR_NOMEM on allocation failure. On error *out is NULL. */
vg_err_t vg_json_to_event(const char *text, size_t len,
                          Vigil__V1__InteractionEvent **out, char *errstr,
                          size_t errstr_size);

/* Free an event made by vg_json_to_event(). Also frees an event made by
 * vigil__v1__interaction_event__unpack() with the default allocator: both
 * are built from malloc()ed parts. NULL is a no-op. */
void vg_json_event_free(Vigil__V1__InteractionEvent *ev);

/* Render an event as compact one-line JSON (no trailing newline), the same
 * shape vg_json_to_event() reads: vg_json_to_event(vg_json_from_event(e))
 * gives back e field for field. An absent descriptive prints as null.
 * ev is borrowed. Returns a NUL-terminated string (caller frees with
 * free()), or NULL on allocation failure or if ev is NULL. Strings that are
 * not valid UTF-8 (protobuf-c does not check) print with U+FFFD in place of
 * the bad bytes. */
char *vg_json_from_event(const Vigil__V1__InteractionEvent *ev);

/* Render a trigger as compact one-line JSON: every field, with reasons as
 * an array of {code, contribution, detail} and lineage as an object (null
 * if absent). t is borrowed. Returns a string (caller frees with free()),
 * or NULL on allocation failure or if t is NULL. */
char *vg_json_from_trigger(const Vigil__V1__InterventionTrigger *t);

/* Render a customer state as compact one-line JSON: every field. Each
 * stored decision trigger is decoded and printed as a nested trigger
 * object; bytes that do not decode as an InterventionTrigger print as a
 * base64 string instead, so the element's JSON type says which it is.
 * st is borrowed. Returns a string (caller frees with free()), or NULL on
 * allocation failure or if st is NULL. */
char *vg_json_from_state(const Vigil__V1__CustomerState *st);

#endif
