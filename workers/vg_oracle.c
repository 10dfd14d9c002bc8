#include "vg_oracle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_event.h"
#include "vg_step.h"

typedef struct vg_oracle_entry_s {
    char *id; /* tenant NUL customer, as one string "tenant\x1fcustomer" */
    vg_state_t *st;
    int64_t next_offset;
} vg_oracle_entry_t;

struct vg_oracle_s {
    vg_model_t model;
    vg_oracle_entry_t *tab;
    size_t cap, n;
    size_t triggers, dead;
    vg_step_result_t step;
};

static uint64_t vg_oracle_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

vg_oracle_t *vg_oracle_new(const vg_model_t *model) {
    vg_oracle_t *o = calloc(1, sizeof(*o));

    if (!o)
        return NULL;
    o->model = *model;
    o->cap = 1024;
    o->tab = calloc(o->cap, sizeof(*o->tab));
    if (!o->tab) {
        free(o);
        return NULL;
    }
    return o;
}

void vg_oracle_destroy(vg_oracle_t *o) {
    if (!o)
        return;
    for (size_t i = 0; i < o->cap; i++) {
        free(o->tab[i].id);
        free(o->tab[i].st);
    }
    free(o->tab);
    free(o);
}

static vg_oracle_entry_t *vg_oracle_find(const vg_oracle_t *o, const char *id) {
    size_t i = (size_t)vg_oracle_hash(id) & (o->cap - 1);

    while (o->tab[i].id) {
        if (strcmp(o->tab[i].id, id) == 0)
            return &o->tab[i];
        i = (i + 1) & (o->cap - 1);
    }
    return &o->tab[i]; /* the empty slot where it would go */
}

static bool vg_oracle_grow(vg_oracle_t *o) {
    vg_oracle_t tmp = *o;
    vg_oracle_entry_t *old = o->tab;
    size_t old_cap = o->cap;

    tmp.cap = o->cap * 2;
    tmp.tab = calloc(tmp.cap, sizeof(*tmp.tab));
    if (!tmp.tab)
        return false;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].id)
            *vg_oracle_find(&tmp, old[i].id) = old[i];
    free(old);
    o->tab = tmp.tab;
    o->cap = tmp.cap;
    return true;
}

bool vg_oracle_feed(vg_oracle_t *o, const void *key, size_t key_len, const void *payload,
                    size_t len, bool *fired, char trigger_id[33]) {
    vg_event_t *ev = NULL;
    vg_oracle_entry_t *e;
    char id[2 * VG_EVENT_ID_MAX + 2];
    vg_step_ctx_t ctx = {"oracle", "oracle", "oracle", 0, 0, 0};

    *fired = false;
    trigger_id[0] = '\0';
    if (vg_event_decode(payload, len, key, key_len, NULL, &ev, NULL, 0)) {
        o->dead++;
        return false;
    }
    snprintf(id, sizeof(id), "%s\x1f%s", ev->tenant, ev->customer_id);
    if ((o->n + 1) * 2 > o->cap && !vg_oracle_grow(o)) {
        vg_event_free(ev, NULL);
        return false;
    }
    e = vg_oracle_find(o, id);
    if (!e->id) {
        e->id = strdup(id);
        e->st = malloc(sizeof(*e->st));
        vg_state_init(e->st);
        o->n++;
    }
    /* Offsets only need to grow per customer for the oracle. */
    ctx.offset = e->next_offset++;
    if (vg_step_apply(e->st, ev, &o->model, &ctx, &o->step) == VG_OK && o->step.fired) {
        *fired = true;
        memcpy(trigger_id, o->step.trigger_id, 33);
        o->triggers++;
    }
    /* Keep the ring from filling: the oracle commits every record. */
    vg_state_trim_decisions(e->st, 0, e->next_offset);
    vg_event_free(ev, NULL);
    return true;
}

size_t vg_oracle_triggers(const vg_oracle_t *o) { return o->triggers; }
size_t vg_oracle_dead(const vg_oracle_t *o) { return o->dead; }
size_t vg_oracle_customers(const vg_oracle_t *o) { return o->n; }

const vg_state_t *vg_oracle_state(const vg_oracle_t *o, const char *tenant, const char *customer) {
    char id[2 * VG_EVENT_ID_MAX + 2];
    vg_oracle_entry_t *e;

    snprintf(id, sizeof(id), "%s\x1f%s", tenant, customer);
    e = vg_oracle_find(o, id);
    return e->id ? e->st : NULL;
}
