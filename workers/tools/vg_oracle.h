/*
 * vg_oracle.h - the reference result: the same records through the same
 * pure functions (vg_event, vg_step) in one process, one customer at a
 * time, with no Kafka, no Redis, no failures. Tests compare what the
 * workers published against it: the set of trigger ids must be equal.
 */
#ifndef VG_ORACLE_H
#define VG_ORACLE_H

#include <stdbool.h>
#include <stddef.h>

#include "vg_score.h"
#include "vg_state.h"

typedef struct vg_oracle_s vg_oracle_t;

/* model is copied. Caller frees with vg_oracle_destroy(). */
vg_oracle_t *vg_oracle_new(const vg_model_t *model);
void vg_oracle_destroy(vg_oracle_t *o);

/* Feed the next record of partition as the worker would see it. Returns
 * true when the record is valid; then *fired says whether the record's
 * own event fired and trigger_id has that id. An invalid record (would be
 * dead-lettered) returns false. Every trigger the record caused, its own
 * and the deadlines of any customer of the partition that the partition's
 * event-time watermark passed at this record, is appended to the list
 * read with vg_oracle_fired_id(). Records of one partition must be fed in
 * the order Kafka holds them. */
bool vg_oracle_feed_at(vg_oracle_t *o, int32_t partition, const void *key, size_t key_len,
                       const void *payload, size_t len, bool *fired, char trigger_id[33]);

/* vg_oracle_feed_at() on partition 0 (a one-partition topic). */
bool vg_oracle_feed(vg_oracle_t *o, const void *key, size_t key_len, const void *payload,
                    size_t len, bool *fired, char trigger_id[33]);

/* Every trigger id fired so far, in firing order: count and the i-th. */
size_t vg_oracle_fired_count(const vg_oracle_t *o);
const char *vg_oracle_fired_id(const vg_oracle_t *o, size_t i);

/* Counts so far. */
size_t vg_oracle_triggers(const vg_oracle_t *o);
size_t vg_oracle_dead(const vg_oracle_t *o);
/* Of vg_oracle_triggers(), those fired by a deadline (absence). */
size_t vg_oracle_deadline_triggers(const vg_oracle_t *o);
size_t vg_oracle_customers(const vg_oracle_t *o);

/* The state of (tenant, customer), or NULL if never seen. Borrowed. */
const vg_state_t *vg_oracle_state(const vg_oracle_t *o, const char *tenant, const char *customer);

#endif
