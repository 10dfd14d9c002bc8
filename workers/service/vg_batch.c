#include "vg_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_hash.h"

static void *vg_batch_calloc(size_t n, size_t size, bool *ok) {
    void *v = calloc(n ? n : 1, size);

    *ok &= v != NULL;
    return v;
}

vg_batch_t *vg_batch_new(size_t max, size_t max_groups) {
    vg_batch_t *b = calloc(1, sizeof(*b));
    bool ok = true;

    if (!b)
        return NULL;
    b->max = max;
    b->max_groups = max_groups;
    b->hcap = 16;
    while (b->hcap < max_groups * 2)
        b->hcap <<= 1;
    b->msgs = vg_batch_calloc(max, sizeof(*b->msgs), &ok);
    b->msg_part = vg_batch_calloc(max, sizeof(*b->msg_part), &ok);
    b->wm_at = vg_batch_calloc(max, sizeof(*b->wm_at), &ok);
    b->events = vg_batch_calloc(max, sizeof(*b->events), &ok);
    b->next = vg_batch_calloc(max, sizeof(*b->next), &ok);
    b->htab = vg_batch_calloc(b->hcap, sizeof(*b->htab), &ok);
    b->groups = vg_batch_calloc(max_groups, sizeof(*b->groups), &ok);
    b->state = vg_batch_calloc(1, sizeof(*b->state), &ok);
    b->loaded_due = vg_batch_calloc(max_groups, sizeof(*b->loaded_due), &ok);
    b->recs = vg_batch_calloc(max, sizeof(*b->recs), &ok);
    b->rec_of = vg_batch_calloc(max, sizeof(*b->rec_of), &ok);
    b->mine = vg_batch_calloc(max, sizeof(*b->mine), &ok);
    b->loaded = vg_batch_calloc(max_groups, sizeof(*b->loaded), &ok);
    b->loaded_miss = vg_batch_calloc(max_groups, sizeof(*b->loaded_miss), &ok);
    b->miss = vg_batch_calloc(max_groups, sizeof(*b->miss), &ok);
    b->keys = vg_batch_calloc(max_groups, sizeof(*b->keys), &ok);
    b->writes = vg_batch_calloc(max_groups, sizeof(*b->writes), &ok);
    b->enc_off = vg_batch_calloc(max_groups, sizeof(*b->enc_off), &ok);
    b->write_group = vg_batch_calloc(max_groups, sizeof(*b->write_group), &ok);
    /* A record fires at most one trigger, and so does each deadline
     * resolution and replay; bounded by records + woken customers x ring. */
    b->outs = vg_batch_calloc(max + max_groups * (VG_STATE_MAX_DECISIONS + 2), sizeof(*b->outs),
                              &ok);
    b->arena = vg_arena_new(256 * 1024);
    if (!ok || !b->arena) {
        vg_batch_destroy(b);
        return NULL;
    }
    return b;
}

void vg_batch_destroy(vg_batch_t *b) {
    if (!b)
        return;
    free(b->msgs);
    free(b->msg_part);
    free(b->wm_at);
    free(b->events);
    free(b->next);
    free(b->htab);
    free(b->groups);
    free(b->state);
    free(b->loaded_due);
    free(b->recs);
    free(b->rec_of);
    free(b->mine);
    free(b->loaded);
    free(b->loaded_miss);
    free(b->miss);
    free(b->keys);
    free(b->writes);
    free(b->enc_off);
    free(b->write_group);
    free(b->enc_buf);
    free(b->outs);
    free(b->out_buf);
    vg_arena_destroy(b->arena);
    free(b);
}

void vg_batch_reset(vg_batch_t *b) {
    /* The events live in the arena: its reset frees them all at once
     * (walking each to free it into the arena freed nothing, for 2% of
     * a worker's CPU). */
    for (size_t i = 0; i < b->n; i++)
        b->events[i] = NULL;
    vg_arena_reset(b->arena);
    memset(b->htab, 0, b->hcap * sizeof(*b->htab));
    b->n = 0;
    b->n_groups = 0;
    b->n_parts = 0;
    b->n_outs = 0;
    b->out_len = 0;
    b->n_writes = 0;
    b->enc_used = 0;
    b->errstr[0] = '\0';
}

int32_t vg_batch_group(vg_batch_t *b, const char *key) {
    size_t n = strlen(key), mask = b->hcap - 1;
    uint64_t h = vg_hash_mem(key, n);

    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        int32_t g = b->htab[i];
        if (g == 0) {
            vg_group_t *grp;
            if (b->n_groups == b->max_groups)
                return -1;
            grp = &b->groups[b->n_groups];
            if (n >= sizeof(grp->key))
                n = sizeof(grp->key) - 1;
            memcpy(grp->key, key, n); /* once per customer per batch: no printf */
            grp->key[n] = '\0';
            grp->hash = h;
            grp->key_len = n;
            grp->first = grp->last = -1;
            grp->dirty = false;
            b->htab[i] = (int32_t)++b->n_groups;
            return (int32_t)b->n_groups - 1;
        }
        /* Keys share their first ~30 bytes (prefix, topic, partition):
         * the hash first. */
        if (b->groups[g - 1].hash == h && strcmp(b->groups[g - 1].key, key) == 0)
            return g - 1;
    }
}

vg_part_t *vg_batch_part(vg_batch_t *b, const vg_kafka_msg_t *m, const char *prefix) {
    vg_part_t *part;
    int n;

    for (size_t i = 0; i < b->n_parts; i++)
        if (b->parts[i].partition == m->partition && strcmp(b->parts[i].topic, m->topic) == 0)
            return &b->parts[i];
    if (b->n_parts == VG_BATCH_PARTS_MAX)
        return NULL;
    part = &b->parts[b->n_parts++];
    part->topic = m->topic;
    part->partition = m->partition;
    part->min_offset = part->max_offset = m->offset;
    part->wm = -1;
    part->n_recs = 0;
    part->quiet_below = 0;
    vg_keys_due(part->due_key, sizeof(part->due_key), prefix, m->topic, m->partition);
    vg_keys_mark(part->mark_key, sizeof(part->mark_key), prefix, m->topic, m->partition);
    n = vg_keys_state(part->state_head, sizeof(part->state_head), prefix, m->topic, m->partition,
                      "");
    part->state_head_len = n > 0 ? (size_t)n : 0;
    return part;
}

vg_err_t vg_batch_reserve(uint8_t **buf, size_t *cap, size_t need) {
    uint8_t *nb;
    size_t nc;

    if (need <= *cap)
        return VG_OK;
    nc = *cap ? *cap : 65536;
    while (nc < need)
        nc *= 2;
    if (!(nb = realloc(*buf, nc)))
        return VG_ERR_NOMEM;
    *buf = nb;
    *cap = nc;
    return VG_OK;
}

vg_err_t vg_batch_emit(vg_batch_t *b, int32_t g, int32_t msg, const uint8_t *bytes, size_t len) {
    vg_out_t *o = &b->outs[b->n_outs];

    if (vg_batch_reserve(&b->out_buf, &b->out_cap, b->out_len + len))
        return VG_ERR_NOMEM;
    o->msg = msg;
    o->group = g;
    o->off = b->out_len;
    o->len = len;
    memcpy(b->out_buf + b->out_len, bytes, len);
    b->out_len += len;
    b->n_outs++;
    return VG_OK;
}

void vg_batch_index_records(vg_batch_t *b) {
    size_t at = 0;

    for (size_t k = 0; k < b->n_parts; k++) {
        b->parts[k].first_rec = at;
        at += b->parts[k].n_recs;
        b->parts[k].n_recs = 0;
    }
    for (size_t i = 0; i < b->n; i++) {
        const vg_kafka_msg_t *m = &b->msgs[i];
        vg_part_t *part;
        vg_step_record_t *r;

        if (b->msg_part[i] < 0)
            continue; /* a stopped partition's */
        part = &b->parts[b->msg_part[i]];
        r = &b->recs[part->first_rec + part->n_recs];
        b->rec_of[i] = (uint32_t)part->n_recs++;
        r->ev = b->events[i];
        r->payload = m->payload;
        r->len = m->len;
        r->offset = m->offset;
        r->record_ms = m->timestamp_ms > 0 ? m->timestamp_ms : 0;
        r->wm = b->wm_at[i];
        r->ref = (int32_t)i;
    }
}
