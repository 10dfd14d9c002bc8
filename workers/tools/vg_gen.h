/*
 * vg_gen.h - deterministic synthetic interaction traffic.
 *
 * Feeds benchmarks, integration tests and demos with realistic events: a
 * population of customers with stable descriptive data and consents, each
 * living through journeys across channels (browse, log in, check out, pay,
 * chat, call, answer a survey) with ordinary one-off failures, plus a share
 * of journeys with planted trouble that Vigil is meant to catch, plus a
 * share of malformed records that must go to the dead-letter topic.
 *
 * Same configuration (seed included) -> byte-identical records, on any
 * machine: the generator uses its own PRNG and no clock, no I/O, no global
 * state.
 *
 * Event time: per customer it strictly increases. Across customers, records
 * are in event-time order up to 2 x step_ms (at most 5 s) of disorder, as
 * from several producers. Event time advances by about step_ms per record
 * as long as the population can keep up: a journey's steps are seconds to
 * minutes apart, so the pace holds while customers >= ~40000 / step_ms
 * (e.g. 2000 customers at 20 ms, 40000 at 1 ms; measured). With fewer
 * customers all of them are busy and event time advances faster than
 * step_ms per record.
 *
 * Per-record work allocates nothing once the journey heap has reached its
 * working size, so the generator can drive throughput benchmarks.
 *
 * A vg_gen_t is not thread-safe; use one per thread.
 */
#ifndef VG_GEN_H
#define VG_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_err.h"
#include "vigil/v1/event.pb-c.h"

typedef struct vg_gen_s vg_gen_t;

typedef struct vg_gen_conf_s {
    uint64_t seed;
    uint32_t customers;    /* population size, >= 1, e.g. 10000 */
    uint64_t events;       /* how many records to generate in total */
    double trouble_rate;   /* share of journeys with planted trouble, 0..1 */
    double malformed_rate; /* share of records that are malformed, 0..1 */
    int64_t start_ms;      /* event time of the first event, > 0 */
    int64_t step_ms;       /* mean event-time gap between records, >= 0 */
    const char *tenant;    /* non-empty; copied by vg_gen_new() */
} vg_gen_conf_t;

/* Planted trouble: what Vigil should detect. A journey carries at most
 * one kind. */
typedef enum vg_gen_trouble_e {
    VG_GEN_TROUBLE_NONE = 0,
    /* (a) 2 or 3 payment failures with the same error code within 7
     *     minutes; half the time a chat with a frustration detection
     *     follows within 4 minutes. */
    VG_GEN_TROUBLE_PAYMENT_REPEAT,
    /* (b) 3 to 5 login failures with the same error code, within 5
     *     minutes. */
    VG_GEN_TROUBLE_LOGIN_REPEAT,
    /* (c) a failure on web, then a failed chat, then a failed phone call,
     *     all within 30 minutes; the call carries anger 30% of the time. */
    VG_GEN_TROUBLE_CHANNEL_HOP,
    /* (d) checkout started (outcome pending), no payment, and 11 to 30
     *     minutes later a checkout event with outcome abandoned. */
    VG_GEN_TROUBLE_CHECKOUT_ABANDON,
    /* (e) a "survey" event with the detractor signal. */
    VG_GEN_TROUBLE_DETRACTOR,
    VG_GEN_TROUBLE__COUNT
} vg_gen_trouble_t;

typedef enum vg_gen_malformed_e {
    VG_GEN_MALFORMED_NONE = 0,
    VG_GEN_MALFORMED_TRUNCATED,           /* an encoded event cut mid-field */
    VG_GEN_MALFORMED_GARBAGE,             /* random bytes, never decodable */
    VG_GEN_MALFORMED_EMPTY,               /* zero-length value */
    VG_GEN_MALFORMED_MISSING_CUSTOMER_ID, /* decodes; customer_id empty */
    VG_GEN_MALFORMED_MISSING_EVENT_ID,    /* decodes; event_id empty */
    VG_GEN_MALFORMED_BAD_EVENT_TIME,      /* decodes; event_time_ms <= 0 */
    VG_GEN_MALFORMED__COUNT
} vg_gen_malformed_t;

typedef struct vg_gen_record_s {
    const char *key; /* customer id (the Kafka key), NUL-terminated */
    size_t key_len;
    const uint8_t *payload; /* encoded InteractionEvent, or garbage */
    size_t len;
    bool malformed;
    const char *malformed_kind; /* vg_gen_malformed_name(), NULL if fine */
    vg_gen_malformed_t malformed_id;
    /* The event the payload decodes to when !malformed, else NULL. */
    const Vigil__V1__InteractionEvent *event;
    /* Ground truth: the planted trouble of the journey this event belongs
     * to (VG_GEN_TROUBLE_NONE for ordinary traffic and malformed records).
     * It is not in the payload, so a worker cannot see it. */
    vg_gen_trouble_t trouble;
    /* Ground truth: the journey this event belongs to, numbered from 1 in
     * start order; 0 for malformed records. Lets a test or an oracle
     * group a journey's events without guessing. */
    uint64_t journey;
    uint64_t seq; /* 0-based record number */
} vg_gen_record_t; /* all pointers borrowed, valid until the next
                      vg_gen_next() or vg_gen_destroy() */

typedef struct vg_gen_stats_s {
    uint64_t records;   /* produced so far */
    uint64_t events;    /* well-formed records */
    uint64_t malformed; /* sum of malformed_by_kind */
    uint64_t malformed_by_kind[VG_GEN_MALFORMED__COUNT];
    uint64_t journeys; /* journeys started */
    /* Planted troubles whose defining events have all been emitted (a
     * journey cut off by the end of the run is not counted). Index by
     * vg_gen_trouble_t; [VG_GEN_TROUBLE_NONE] stays 0. */
    uint64_t troubles[VG_GEN_TROUBLE__COUNT];
    uint64_t frustration_followups; /* (a) followed by a frustrated chat */
    uint64_t isolated_failures; /* one-off failures in ordinary journeys */
} vg_gen_stats_t;

/* Fill conf with defaults: seed 1, 10000 customers, 1000000 events,
 * trouble_rate 0.05, malformed_rate 0.001, start_ms 1700000000000
 * (2023-11-14), step_ms 20, tenant "acme". */
void vg_gen_conf_init(vg_gen_conf_t *conf);

/* Make a generator. conf is borrowed (tenant is copied). Returns NULL and
 * fills errstr when conf is out of range or memory runs out. Caller frees
 * with vg_gen_destroy(). */
vg_gen_t *vg_gen_new(const vg_gen_conf_t *conf, char *errstr,
                     size_t errstr_size);

/* NULL is a no-op. */
void vg_gen_destroy(vg_gen_t *g);

/* Produce the next record into *rec (its pointers are borrowed, valid until
 * the next vg_gen_next() or vg_gen_destroy()). Returns false, leaving *rec
 * untouched, once conf.events records have been produced. */
bool vg_gen_next(vg_gen_t *g, vg_gen_record_t *rec);

/* Copy the counters so far into *stats. */
void vg_gen_stats(const vg_gen_t *g, vg_gen_stats_t *stats);

/* Short static names: "payment_repeat", "login_repeat", "channel_hop",
 * "checkout_abandon", "detractor" ("none" for NONE); and "truncated",
 * "garbage", "empty", "missing_customer_id", "missing_event_id",
 * "bad_event_time". NULL for an out-of-range value. */
const char *vg_gen_trouble_name(vg_gen_trouble_t t);
const char *vg_gen_malformed_name(vg_gen_malformed_t k);

#endif
