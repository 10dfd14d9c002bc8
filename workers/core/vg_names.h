/*
 * vg_names.h - the one table of names of each enum in schemas/vigil/v1,
 * as the model, JSON and explain spell them: lowercase, without the enum
 * prefix ("web", "failure", "frustration", "gold", "high"). Each table is
 * NULL-terminated and indexed by the enum value.
 */
#ifndef VG_NAMES_H
#define VG_NAMES_H

#include <stddef.h>

extern const char *const vg_names_channel[];    /* Channel */
extern const char *const vg_names_outcome[];    /* Outcome */
extern const char *const vg_names_signal[];     /* Signal */
extern const char *const vg_names_value_tier[]; /* ValueTier */
extern const char *const vg_names_priority[];   /* Priority */

#define VG_NAMES_CHANNEL_N 8
#define VG_NAMES_OUTCOME_N 6
#define VG_NAMES_SIGNAL_N 6
#define VG_NAMES_VALUE_TIER_N 5
#define VG_NAMES_PRIORITY_N 5

/* names[v], or "?" when v is outside the table of n names. */
const char *vg_names_get(const char *const *names, size_t n, int v);

/* The value named s in names, or -1. */
int vg_names_find(const char *const *names, const char *s);

#endif
