/*
 * vg_test_events.h - build InteractionEvents for table-driven unit tests.
 * Header-only; everything lives in the caller's vg_tev_t.
 */
#ifndef VG_TEST_EVENTS_H
#define VG_TEST_EVENTS_H

#include <stdio.h>
#include <string.h>

#include "vg_event.h"

#define VG_T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define VG_MIN (60LL * 1000)

typedef struct vg_tev_s {
    Vigil__V1__InteractionEvent ev;
    Vigil__V1__Descriptive desc;
    Vigil__V1__Signal signals[4];
    char *consents[4];
    char id[32];
} vg_tev_t;

/* An event of customer "c1" at VG_T0 + at_min minutes. signal may be
 * SIGNAL_UNSPECIFIED for none; consent NULL for none. */
static inline Vigil__V1__InteractionEvent *vg_tev(vg_tev_t *t, int n, double at_min,
                                                   const char *type, Vigil__V1__Outcome outcome,
                                                   Vigil__V1__Signal signal, const char *consent,
                                                   Vigil__V1__ValueTier tier, double churn) {
    vigil__v1__interaction_event__init(&t->ev);
    vigil__v1__descriptive__init(&t->desc);
    snprintf(t->id, sizeof(t->id), "ev-%d", n);
    t->ev.event_id = t->id;
    t->ev.customer_id = "c1";
    t->ev.tenant = "acme";
    t->ev.event_time_ms = VG_T0 + (int64_t)(at_min * VG_MIN);
    t->ev.channel = VIGIL__V1__CHANNEL__CHANNEL_WEB;
    t->ev.event_type = (char *)type;
    t->ev.outcome = outcome;
    if (signal != VIGIL__V1__SIGNAL__SIGNAL_UNSPECIFIED) {
        t->signals[0] = signal;
        t->ev.signals = t->signals;
        t->ev.n_signals = 1;
    }
    if (consent) {
        t->consents[0] = (char *)consent;
        t->ev.consents = t->consents;
        t->ev.n_consents = 1;
    }
    t->desc.value_tier = tier;
    t->desc.churn_risk = churn;
    t->ev.descriptive = &t->desc;
    return &t->ev;
}

#define FAIL VIGIL__V1__OUTCOME__OUTCOME_FAILURE
#define OK_ VIGIL__V1__OUTCOME__OUTCOME_SUCCESS
#define ABANDON VIGIL__V1__OUTCOME__OUTCOME_ABANDONED
#define NOSIG VIGIL__V1__SIGNAL__SIGNAL_UNSPECIFIED
#define FRUST VIGIL__V1__SIGNAL__SIGNAL_FRUSTRATION
#define DETRACT VIGIL__V1__SIGNAL__SIGNAL_DETRACTOR
#define SILVER VIGIL__V1__VALUE_TIER__VALUE_TIER_SILVER
#define GOLD VIGIL__V1__VALUE_TIER__VALUE_TIER_GOLD
#define BRONZE VIGIL__V1__VALUE_TIER__VALUE_TIER_BRONZE

#endif
