/*
 * vg_keys.h - the names of what Vigil keeps outside itself, written once:
 * Redis keys, the offset commit metadata. docs/internals.md ("Redis key
 * layout") describes the layout and why.
 *
 *   state of a customer   <prefix>:{<topic>:<partition>}:<pseudonym>
 *   deadline index        <prefix>:{<topic>:<partition>}:due  (sorted set:
 *                         member = state key, score = earliest due ms)
 *   applied marker        <prefix>:{<topic>:<partition>}:applied  (the next
 *                         offset to apply, written with the states; state
 *                         healing compares it with the committed offset)
 *   commit metadata       wm=<ms>  (the partition's event-time watermark,
 *                         committed with its offset)
 *
 * The hash tag {<topic>:<partition>} puts every key of one events
 * partition in one Redis Cluster slot: a batch's writes for a partition
 * (states and deadline index together) are one script call on one node,
 * and the slot group is the partition. Kafka topic names cannot hold
 * '{' or '}', and redis.key_prefix may not (vg_config_validate).
 */
#ifndef VG_KEYS_H
#define VG_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* The longest key Vigil makes (prefix up to 63 bytes, topic up to 255). */
#define VG_KEYS_MAX 352

/* Each returns the length written, or -1 if size was too small. */
int vg_keys_state(char *out, size_t size, const char *prefix, const char *topic,
                  int32_t partition, const char *pseudonym);
int vg_keys_due(char *out, size_t size, const char *prefix, const char *topic, int32_t partition);
int vg_keys_mark(char *out, size_t size, const char *prefix, const char *topic, int32_t partition);
int vg_keys_commit_metadata(char *out, size_t size, int64_t watermark_ms);

/* The watermark in commit metadata, or 0 when there is none. */
int64_t vg_keys_parse_commit_metadata(const char *md);

#endif
