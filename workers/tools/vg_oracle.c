#include "vg_oracle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_event.h"
#include "vg_hash.h"
#include "vg_step.h"

typedef struct vg_oracle_entry_s {
    char *id; /* tenant NUL customer, as one string "tenant\x1fcustomer" */
    vg_state_t *st;
    bool pending;             /* listed in its partition's pending list */
} vg_oracle_entry_t;

/* One partition: its watermark, next offset, and the customers with a
 * deadline pending (by id: entries move when the table grows). */
typedef struct vg_oracle_part_s {
    int64_t wm, next_offset;
    char **pending;
    size_t n_pending, cap_pending;
} vg_oracle_part_t;

#define VG_ORACLE_PARTS_MAX 1024

struct vg_oracle_s {
    vg_model_t model;
    vg_oracle_entry_t *tab;
    size_t cap, n;
    size_t triggers, dead, deadline_triggers;
    vg_step_result_t step;
    vg_oracle_part_t parts[VG_ORACLE_PARTS_MAX];
    char (*fired)[33];        /* every trigger id, in firing order */
    size_t n_fired, cap_fired;
};

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
    for (size_t p = 0; p < VG_ORACLE_PARTS_MAX; p++) {
        for (size_t i = 0; i < o->parts[p].n_pending; i++)
            free(o->parts[p].pending[i]);
        free(o->parts[p].pending);
    }
    free(o->fired);
    for (size_t i = 0; i < o->cap; i++) {
        free(o->tab[i].id);
        free(o->tab[i].st);
    }
    free(o->tab);
    free(o);
}

static vg_oracle_entry_t *vg_oracle_find(const vg_oracle_t *o, const char *id) {
    size_t i = (size_t)vg_hash_str(id) & (o->cap - 1);

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

static void vg_oracle_record(vg_oracle_t *o, const char *id) {
    if (o->n_fired == o->cap_fired) {
        size_t nc = o->cap_fired ? o->cap_fired * 2 : 1024;
        char(*nf)[33] = realloc(o->fired, nc * sizeof(*nf));
        if (!nf) {
            fprintf(stderr, "oracle: out of memory\n");
            abort();
        }
        o->fired = nf;
        o->cap_fired = nc;
    }
    memcpy(o->fired[o->n_fired++], id, 33);
    o->triggers++;
}

/* What vg_step_customer() decided: the oracle only records trigger ids
 * (replays cannot happen here: it never fails). */
typedef struct vg_oracle_sink_s {
    vg_oracle_t *o;
    bool own_fired;           /* the record's own event fired */
    char own_id[33];
} vg_oracle_sink_t;

static vg_err_t vg_oracle_sink(void *opaque, vg_step_what_t what, const vg_step_record_t *rec,
                               const vg_step_result_t *res, vg_err_t err) {
    vg_oracle_sink_t *sk = opaque;

    (void)rec;
    (void)err;
    if (!res->fired || what == VG_STEP_TIMER_REPLAY || res->replayed)
        return VG_OK;
    vg_oracle_record(sk->o, res->trigger_id);
    if (what == VG_STEP_DEADLINE) {
        sk->o->deadline_triggers++;
    } else if (what == VG_STEP_EVENT) {
        sk->own_fired = true;
        memcpy(sk->own_id, res->trigger_id, 33);
    }
    return VG_OK;
}

/* Run one customer's step for the record (mine: whether it is theirs). */
static void vg_oracle_step(vg_oracle_t *o, vg_oracle_entry_t *e, const vg_step_batch_t *b,
                           bool mine, vg_oracle_sink_t *sk) {
    const char *sep = strchr(e->id, '\x1f');
    char tenant[VG_EVENT_ID_MAX + 1];
    static const uint32_t first = 0;
    bool changed = false;

    snprintf(tenant, sizeof(tenant), "%.*s", (int)(sep - e->id), e->id);
    vg_step_customer(e->st, tenant, sep + 1, b, &first, mine ? 1 : 0, &o->model, &o->step,
                     vg_oracle_sink, sk, &changed);
}

static void vg_oracle_watch(vg_oracle_part_t *pp, vg_oracle_entry_t *e) {
    if (e->pending || !vg_state_next_due(e->st))
        return;
    if (pp->n_pending == pp->cap_pending) {
        size_t nc = pp->cap_pending ? pp->cap_pending * 2 : 64;
        char **np = realloc(pp->pending, nc * sizeof(*np));
        if (!np) {
            fprintf(stderr, "oracle: out of memory\n");
            abort();
        }
        pp->pending = np;
        pp->cap_pending = nc;
    }
    pp->pending[pp->n_pending++] = strdup(e->id);
    e->pending = true;
}

bool vg_oracle_feed_at(vg_oracle_t *o, int32_t partition, const void *key, size_t key_len,
                       const void *payload, size_t len, bool *fired, char trigger_id[33]) {
    vg_event_t *ev = NULL;
    vg_oracle_entry_t *e = NULL;
    vg_oracle_part_t *pp;
    vg_oracle_sink_t sk = {o, false, ""};
    vg_step_record_t rec;
    vg_step_batch_t b;
    char id[2 * VG_EVENT_ID_MAX + 2];
    int64_t offset;
    bool valid = true;

    *fired = false;
    trigger_id[0] = '\0';
    if (partition < 0 || partition >= VG_ORACLE_PARTS_MAX)
        partition = 0;
    pp = &o->parts[partition];
    offset = pp->next_offset++;
    if (vg_event_decode(payload, len, key, key_len, 0, NULL, &ev, NULL, 0)) {
        o->dead++;
        valid = false;
    } else {
        snprintf(id, sizeof(id), "%s\x1f%s", ev->tenant, ev->customer_id);
        if ((o->n + 1) * 2 > o->cap && !vg_oracle_grow(o)) {
            fprintf(stderr, "oracle: out of memory\n");
            abort();
        }
        e = vg_oracle_find(o, id);
        if (!e->id) {
            e->id = strdup(id);
            e->st = malloc(sizeof(*e->st));
            vg_state_init(e->st);
            o->n++;
        }
        if (ev->event_time_ms > pp->wm)
            pp->wm = ev->event_time_ms;
    }
    /* The record as a batch of one: the worker's order, by the same code. */
    rec = (vg_step_record_t){ev, payload, len, offset, 0, pp->wm, 0};
    b = (vg_step_batch_t){"oracle", partition, &rec, 1, "oracle", "oracle", false, 0};
    if (valid) {
        vg_oracle_step(o, e, &b, true, &sk);
        vg_oracle_watch(pp, e);
        *fired = sk.own_fired;
        memcpy(trigger_id, sk.own_id, 33);
    }
    /* Everyone else on the partition whose deadline the watermark passed. */
    for (size_t i = 0; i < pp->n_pending;) {
        vg_oracle_entry_t *pe = vg_oracle_find(o, pp->pending[i]);
        int64_t d = vg_state_next_due(pe->st);
        if (d > 0 && d <= pp->wm)
            vg_oracle_step(o, pe, &b, false, &sk);
        if (!vg_state_next_due(pe->st)) {
            pe->pending = false;
            free(pp->pending[i]);
            pp->pending[i] = pp->pending[--pp->n_pending];
        } else {
            i++;
        }
    }
    vg_event_free(ev, NULL);
    return valid;
}

bool vg_oracle_feed(vg_oracle_t *o, const void *key, size_t key_len, const void *payload,
                    size_t len, bool *fired, char trigger_id[33]) {
    return vg_oracle_feed_at(o, 0, key, key_len, payload, len, fired, trigger_id);
}

size_t vg_oracle_fired_count(const vg_oracle_t *o) { return o->n_fired; }

const char *vg_oracle_fired_id(const vg_oracle_t *o, size_t i) {
    return i < o->n_fired ? o->fired[i] : NULL;
}

size_t vg_oracle_triggers(const vg_oracle_t *o) { return o->triggers; }
size_t vg_oracle_dead(const vg_oracle_t *o) { return o->dead; }
size_t vg_oracle_deadline_triggers(const vg_oracle_t *o) { return o->deadline_triggers; }
size_t vg_oracle_customers(const vg_oracle_t *o) { return o->n; }

const vg_state_t *vg_oracle_state(const vg_oracle_t *o, const char *tenant, const char *customer) {
    char id[2 * VG_EVENT_ID_MAX + 2];
    vg_oracle_entry_t *e;

    snprintf(id, sizeof(id), "%s\x1f%s", tenant, customer);
    e = vg_oracle_find(o, id);
    return e->id ? e->st : NULL;
}
