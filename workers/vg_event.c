#include "vg_event.h"

#include <string.h>

/* Events from before 2000 or more than a day in the future are bugs upstream,
 * not interactions: refusing them keeps windows and cooldowns meaningful. */
#define VG_EVENT_MIN_TIME_MS 946684800000LL
#define VG_EVENT_MAX_FUTURE_MS (366LL * 100 * 86400 * 1000)

static vg_err_t vg_event_check_id(const char *field, const char *v, char *errstr,
                                  size_t errstr_size) {
    size_t n;

    if (!v || !*v) {
        vg_errstr_set(errstr, errstr_size, "field \"%s\": required but empty", field);
        return VG_ERR_INVALID;
    }
    n = strlen(v);
    if (n > VG_EVENT_ID_MAX) {
        vg_errstr_set(errstr, errstr_size, "field \"%s\": %zu bytes, longer than %d", field, n,
                      VG_EVENT_ID_MAX);
        return VG_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f) {
            vg_errstr_set(errstr, errstr_size, "field \"%s\": control character at byte %zu",
                          field, i);
            return VG_ERR_INVALID;
        }
    }
    return VG_OK;
}

vg_err_t vg_event_validate(const vg_event_t *ev, char *errstr, size_t errstr_size) {
    vg_err_t err;

    if ((err = vg_event_check_id("event_id", ev->event_id, errstr, errstr_size)) ||
        (err = vg_event_check_id("customer_id", ev->customer_id, errstr, errstr_size)) ||
        (err = vg_event_check_id("tenant", ev->tenant, errstr, errstr_size)) ||
        (err = vg_event_check_id("event_type", ev->event_type, errstr, errstr_size)))
        return err;
    if (ev->event_time_ms < VG_EVENT_MIN_TIME_MS || ev->event_time_ms > VG_EVENT_MAX_FUTURE_MS) {
        vg_errstr_set(errstr, errstr_size,
                      "field \"event_time_ms\": %lld is not a plausible Unix time in ms",
                      (long long)ev->event_time_ms);
        return VG_ERR_INVALID;
    }
    if (ev->channel < 0 || ev->channel > VIGIL__V1__CHANNEL__CHANNEL_STORE) {
        vg_errstr_set(errstr, errstr_size, "field \"channel\": unknown value %d", (int)ev->channel);
        return VG_ERR_INVALID;
    }
    if (ev->outcome < 0 || ev->outcome > VIGIL__V1__OUTCOME__OUTCOME_TIMEOUT) {
        vg_errstr_set(errstr, errstr_size, "field \"outcome\": unknown value %d", (int)ev->outcome);
        return VG_ERR_INVALID;
    }
    if (ev->error_code && strlen(ev->error_code) > VG_EVENT_ID_MAX) {
        vg_errstr_set(errstr, errstr_size, "field \"error_code\": longer than %d", VG_EVENT_ID_MAX);
        return VG_ERR_INVALID;
    }
    if (ev->descriptive) {
        const Vigil__V1__Descriptive *d = ev->descriptive;
        if (d->churn_risk < 0.0 || d->churn_risk > 1.0 || d->churn_risk != d->churn_risk) {
            vg_errstr_set(errstr, errstr_size, "field \"descriptive.churn_risk\": %g not in [0,1]",
                          d->churn_risk);
            return VG_ERR_INVALID;
        }
        if (d->revenue_weight < 0.0 || d->revenue_weight > 1000.0 ||
            d->revenue_weight != d->revenue_weight) {
            vg_errstr_set(errstr, errstr_size,
                          "field \"descriptive.revenue_weight\": %g not in [0,1000]",
                          d->revenue_weight);
            return VG_ERR_INVALID;
        }
    }
    return VG_OK;
}

vg_err_t vg_event_decode(const void *buf, size_t len, const void *key, size_t key_len,
                         ProtobufCAllocator *allocator, vg_event_t **evp, char *errstr,
                         size_t errstr_size) {
    vg_event_t *ev;
    vg_err_t err;

    *evp = NULL;
    if (!buf || len == 0) {
        vg_errstr_set(errstr, errstr_size, "empty payload");
        return VG_ERR_DECODE;
    }
    ev = vigil__v1__interaction_event__unpack(allocator, len, buf);
    if (!ev) {
        vg_errstr_set(errstr, errstr_size,
                      "payload of %zu bytes is not a vigil.v1.InteractionEvent", len);
        return VG_ERR_DECODE;
    }
    if ((err = vg_event_validate(ev, errstr, errstr_size))) {
        vigil__v1__interaction_event__free_unpacked(ev, allocator);
        return err;
    }
    if (key && (key_len != strlen(ev->customer_id) || memcmp(key, ev->customer_id, key_len))) {
        vg_errstr_set(errstr, errstr_size,
                      "record key does not match field \"customer_id\" (events must be keyed by "
                      "customer)");
        vigil__v1__interaction_event__free_unpacked(ev, allocator);
        return VG_ERR_INVALID;
    }
    *evp = ev;
    return VG_OK;
}

void vg_event_free(vg_event_t *ev, ProtobufCAllocator *allocator) {
    if (ev)
        vigil__v1__interaction_event__free_unpacked(ev, allocator);
}

int vg_event_has_signal(const vg_event_t *ev, Vigil__V1__Signal s) {
    for (size_t i = 0; i < ev->n_signals; i++)
        if (ev->signals[i] == s)
            return 1;
    return 0;
}

int vg_event_has_consent(const vg_event_t *ev, const char *purpose) {
    for (size_t i = 0; i < ev->n_consents; i++)
        if (ev->consents[i] && strcmp(ev->consents[i], purpose) == 0)
            return 1;
    return 0;
}
