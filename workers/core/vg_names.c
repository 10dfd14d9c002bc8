#include "vg_names.h"

#include <string.h>

#include "vigil/v1/event.pb-c.h"
#include "vigil/v1/trigger.pb-c.h"

const char *const vg_names_channel[] = {"unspecified", "web",   "app",   "chat", "phone",
                                        "payment",     "email", "store", NULL};
const char *const vg_names_outcome[] = {"unspecified", "success", "failure", "abandoned",
                                        "pending",     "timeout", NULL};
const char *const vg_names_signal[] = {"unspecified", "frustration", "anger", "confusion",
                                       "urgency",     "detractor",   NULL};
const char *const vg_names_value_tier[] = {"unspecified", "bronze", "silver", "gold",
                                           "platinum",    NULL};
const char *const vg_names_priority[] = {"unspecified", "low", "medium", "high", "critical",
                                         NULL};

_Static_assert(VG_NAMES_CHANNEL_N == VIGIL__V1__CHANNEL__CHANNEL_STORE + 1, "channels");
_Static_assert(VG_NAMES_OUTCOME_N == VIGIL__V1__OUTCOME__OUTCOME_TIMEOUT + 1, "outcomes");
_Static_assert(VG_NAMES_SIGNAL_N == VIGIL__V1__SIGNAL__SIGNAL_DETRACTOR + 1, "signals");
_Static_assert(VG_NAMES_VALUE_TIER_N == VIGIL__V1__VALUE_TIER__VALUE_TIER_PLATINUM + 1, "tiers");
_Static_assert(VG_NAMES_PRIORITY_N == VIGIL__V1__PRIORITY__PRIORITY_CRITICAL + 1, "priorities");

const char *vg_names_get(const char *const *names, size_t n, int v) {
    return v >= 0 && (size_t)v < n ? names[v] : "?";
}

int vg_names_find(const char *const *names, const char *s) {
    for (int i = 0; s && names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}
