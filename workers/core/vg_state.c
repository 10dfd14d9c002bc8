#include "vg_state.h"

#include <string.h>

#include "vg_hash.h"
#include "vg_str.h"
#include "vigil/v1/state.pb-c.h"

void vg_state_init(vg_state_t *st) {
    /* Only the counters need clearing: arrays past n_* are never read. */
    st->version = 0;
    st->n_applied = 0;
    st->n_troubles = 0;
    st->n_sequences = 0;
    st->n_absences = 0;
    st->n_consents = 0;
    st->last_signal_ms = 0;
    st->n_ledgers = 0;
    st->n_decisions = 0;
    st->last_event_ms = 0;
    st->events_applied = 0;
    st->value_tier = 0;
    st->tenure_months = 0;
    st->revenue_weight = 0;
    st->churn_risk = 0;
    st->sealed_len = 0;
    st->last_event_partition = 0;
    st->last_event_next = 0;
    st->last_event_len = 0;
    st->last_window_hit = st->last_seq_done = 0;
    st->last_late = false;
    st->last_record_ms = 0;
    st->last_fired[0] = '\0';
    st->last_fired_channel = 0;
    st->last_timer = false;
    st->last_event_sealed = false;
    st->last_absence_fired = 0;
    st->last_due_ms = st->last_watermark_ms = 0;
    st->n_recent = 0;
}

static void vg_state_copy_str(char *dst, size_t cap, const char *src) {
    size_t n = src ? strlen(src) : 0;

    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

vg_err_t vg_state_decode_pb(vg_state_t *st, const void *buf, size_t len, char *errstr,
                            size_t errstr_size) {
    Vigil__V1__CustomerState *m;

    vg_state_init(st);
    if (len == 0)
        return VG_OK;
    m = vigil__v1__customer_state__unpack(NULL, len, buf);
    if (!m) {
        vg_errstr_set(errstr, errstr_size, "stored state of %zu bytes is not a CustomerState", len);
        return VG_ERR_DECODE;
    }
    vg_state_msg_event_place(m);
    st->version = m->version;
    for (size_t i = 0; i < m->n_applied && st->n_applied < VG_STATE_MAX_PARTITIONS; i++) {
        st->applied_partition[st->n_applied] = m->applied[i]->partition;
        st->applied_offset[st->n_applied++] = m->applied[i]->offset;
    }
    for (size_t i = 0; i < m->n_troubles && st->n_troubles < VG_STATE_MAX_TROUBLES; i++) {
        const Vigil__V1__TroubleWindow *tw = m->troubles[i];
        vg_state_window_t *w = &st->troubles[st->n_troubles++];
        /* Keep the newest entries if a newer build stored more. */
        size_t skip = tw->n_times_ms > VG_STATE_WINDOW_MAX ? tw->n_times_ms - VG_STATE_WINDOW_MAX : 0;

        vg_state_copy_str(w->kind, sizeof(w->kind), tw->kind);
        w->n = 0;
        for (size_t j = skip; j < tw->n_times_ms; j++, w->n++) {
            w->times_ms[w->n] = tw->times_ms[j];
            w->channels[w->n] = j < tw->n_channels ? (int32_t)tw->channels[j] : 0;
            vg_state_copy_str(w->event_ids[w->n], VG_STATE_EVID_MAX,
                              j < tw->n_event_ids ? tw->event_ids[j] : "");
        }
    }
    st->last_signal_ms = m->last_signal_ms;
    for (size_t i = 0; i < m->n_ledgers && st->n_ledgers < VG_STATE_MAX_LEDGERS; i++) {
        const Vigil__V1__FireLedger *fl = m->ledgers[i];
        vg_state_ledger_t *l = &st->ledgers[st->n_ledgers++];
        size_t skip = fl->n_fired_ms > VG_STATE_LEDGER_MAX ? fl->n_fired_ms - VG_STATE_LEDGER_MAX : 0;

        vg_state_copy_str(l->intervention, sizeof(l->intervention), fl->intervention);
        l->channel = (int32_t)fl->channel;
        l->n = 0;
        for (size_t j = skip; j < fl->n_fired_ms; j++)
            l->fired_ms[l->n++] = fl->fired_ms[j];
    }
    for (size_t i = 0; i < m->n_decisions && st->n_decisions < VG_STATE_MAX_DECISIONS; i++) {
        const Vigil__V1__Decision *d = m->decisions[i];
        vg_state_decision_t *sd = &st->decisions[st->n_decisions];

        if (d->n_triggers < 1 ||
            d->triggers[0].len > VG_TRIGGER_MAX_BYTES + (d->sealed ? VG_STATE_SEAL_OVERHEAD : 0))
            continue;
        sd->sealed = d->sealed;
        sd->partition = d->partition;
        sd->offset = d->offset;
        sd->timer = d->timer;
        sd->due_ms = d->due_ms;
        sd->len = d->triggers[0].len;
        if (sd->len) /* an empty decision (unencodable: dead-letter on replay) has no data */
            memcpy(sd->trigger, d->triggers[0].data, sd->len);
        st->n_decisions++;
    }
    for (size_t i = 0; i < m->n_sequences && st->n_sequences < VG_STATE_MAX_SEQUENCES; i++) {
        vg_state_sequence_t *q = &st->sequences[st->n_sequences++];
        const Vigil__V1__SequenceProgress *sp = m->sequences[i];

        vg_state_copy_str(q->name, sizeof(q->name), sp->name);
        q->progress = sp->progress <= VG_STATE_SEQ_STEPS ? sp->progress : 0;
        q->start_ms = sp->start_ms;
        for (uint32_t j = 0; j < q->progress; j++) {
            vg_state_copy_str(q->event_ids[j], VG_STATE_EVID_MAX,
                              j < sp->n_event_ids ? sp->event_ids[j] : "");
            q->channels[j] = j < sp->n_channels ? (int32_t)sp->channels[j] : 0;
        }
    }
    for (size_t i = 0; i < m->n_absences && st->n_absences < VG_STATE_MAX_ABSENCES; i++) {
        vg_state_absence_t *a = &st->absences[st->n_absences++];
        vg_state_copy_str(a->name, sizeof(a->name), m->absences[i]->name);
        a->start_ms = m->absences[i]->start_ms;
        a->due_ms = m->absences[i]->due_ms;
        a->channel = (int32_t)m->absences[i]->channel;
        vg_state_copy_str(a->event_id, sizeof(a->event_id), m->absences[i]->event_id);
    }
    for (size_t i = 0; i < m->n_consents && st->n_consents < VG_STATE_MAX_CONSENTS; i++)
        vg_state_copy_str(st->consents[st->n_consents++], VG_STATE_PURPOSE_MAX, m->consents[i]);
    if (m->sealed_identity.len <= VG_STATE_SEALED_MAX) {
        st->sealed_len = (uint32_t)m->sealed_identity.len;
        if (st->sealed_len)
            memcpy(st->sealed_identity, m->sealed_identity.data, st->sealed_len);
    }
    if (m->last_event.len <= VG_STATE_LAST_EVENT_MAX) {
        st->last_event_len = (uint32_t)m->last_event.len;
        if (st->last_event_len)
            memcpy(st->last_event, m->last_event.data, st->last_event_len);
    }
    st->last_event_partition = m->last_event_partition;
    st->last_event_next = m->last_event_next;
    st->last_window_hit = m->last_window_hit;
    st->last_seq_done = m->last_seq_done;
    st->last_late = m->last_late;
    st->last_record_ms = m->last_record_ms;
    vg_state_copy_str(st->last_fired, sizeof(st->last_fired), m->last_fired);
    st->last_fired_channel = (int32_t)m->last_fired_channel;
    st->last_timer = m->last_timer;
    st->last_event_sealed = m->last_event_sealed;
    st->last_absence_fired = m->last_absence_fired;
    st->last_due_ms = m->last_due_ms;
    st->last_watermark_ms = m->last_watermark_ms;
    {
        size_t skip = m->n_recent_events > VG_STATE_RECENT_MAX
                          ? m->n_recent_events - VG_STATE_RECENT_MAX
                          : 0;
        bool aged = m->n_recent_ages_ms == m->n_recent_events;
        for (size_t i = skip; i < m->n_recent_events; i++) {
            int64_t age = aged ? m->recent_ages_ms[i] : -1;
            st->recent[st->n_recent] = m->recent_events[i];
            st->recent_ms[st->n_recent++] = age >= 0 ? m->last_event_ms - age : 0;
        }
    }
    st->last_event_ms = m->last_event_ms;
    st->events_applied = m->events_applied;
    if (m->descriptive) {
        st->value_tier = (int32_t)m->descriptive->value_tier;
        st->tenure_months = m->descriptive->tenure_months;
        st->revenue_weight = m->descriptive->revenue_weight;
        st->churn_risk = m->descriptive->churn_risk;
    }
    vigil__v1__customer_state__free_unpacked(m, NULL);
    return VG_OK;
}

bool vg_state_event_is_applied(const vg_state_t *st) {
    return st->n_applied == 1 && st->last_event_next > 0 &&
           st->last_event_partition == st->applied_partition[0] &&
           st->last_event_next == st->applied_offset[0] + 1;
}

void vg_state_msg_event_place(Vigil__V1__CustomerState *m) {
    if (m->last_event_is_applied && m->n_applied >= 1) {
        m->last_event_partition = m->applied[0]->partition;
        m->last_event_next = m->applied[0]->offset + 1;
    }
}

void vg_state_event_from_applied(vg_state_t *st, bool is_applied) {
    if (is_applied && st->n_applied >= 1) {
        st->last_event_partition = st->applied_partition[0];
        st->last_event_next = st->applied_offset[0] + 1;
    }
}

size_t vg_state_encoded_max(void) {
    /* Generous upper bound: every bounded field at its maximum plus tags. */
    return sizeof(vg_state_t) + 4096;
}

vg_err_t vg_state_encode_pb(const vg_state_t *st, uint8_t *buf, size_t cap, size_t *lenp) {
    /* Build the protobuf view on the stack, pointing into st: no heap. */
    Vigil__V1__CustomerState m = VIGIL__V1__CUSTOMER_STATE__INIT;
    Vigil__V1__AppliedOffset ao[VG_STATE_MAX_PARTITIONS], *aop[VG_STATE_MAX_PARTITIONS];
    Vigil__V1__TroubleWindow tw[VG_STATE_MAX_TROUBLES], *twp[VG_STATE_MAX_TROUBLES];
    Vigil__V1__Channel twch[VG_STATE_MAX_TROUBLES][VG_STATE_WINDOW_MAX];
    char *twid[VG_STATE_MAX_TROUBLES][VG_STATE_WINDOW_MAX];
    int64_t twt[VG_STATE_MAX_TROUBLES][VG_STATE_WINDOW_MAX];
    Vigil__V1__FireLedger fl[VG_STATE_MAX_LEDGERS], *flp[VG_STATE_MAX_LEDGERS];
    int64_t flt[VG_STATE_MAX_LEDGERS][VG_STATE_LEDGER_MAX];
    int64_t ages[VG_STATE_RECENT_MAX];
    Vigil__V1__Decision dd[VG_STATE_MAX_DECISIONS], *ddp[VG_STATE_MAX_DECISIONS];
    ProtobufCBinaryData ddb[VG_STATE_MAX_DECISIONS];
    Vigil__V1__SequenceProgress sq[VG_STATE_MAX_SEQUENCES], *sqp[VG_STATE_MAX_SEQUENCES];
    char *sqid[VG_STATE_MAX_SEQUENCES][VG_STATE_SEQ_STEPS];
    Vigil__V1__Channel sqch[VG_STATE_MAX_SEQUENCES][VG_STATE_SEQ_STEPS];
    Vigil__V1__PendingAbsence pa[VG_STATE_MAX_ABSENCES], *pap[VG_STATE_MAX_ABSENCES];
    char *cons[VG_STATE_MAX_CONSENTS];
    Vigil__V1__Descriptive desc = VIGIL__V1__DESCRIPTIVE__INIT;
    size_t need;

    m.version = st->version;
    for (uint32_t i = 0; i < st->n_applied; i++) {
        vigil__v1__applied_offset__init(&ao[i]);
        ao[i].partition = st->applied_partition[i];
        ao[i].offset = st->applied_offset[i];
        aop[i] = &ao[i];
    }
    m.n_applied = st->n_applied;
    m.applied = aop;
    for (uint32_t i = 0; i < st->n_troubles; i++) {
        const vg_state_window_t *w = &st->troubles[i];
        vigil__v1__trouble_window__init(&tw[i]);
        twp[m.n_troubles] = &tw[i];
        m.n_troubles += w->n > 0; /* not stored (vg_state.h) */
        tw[i].kind = (char *)w->kind;
        for (uint32_t j = 0; j < w->n; j++) {
            twt[i][j] = w->times_ms[j];
            twch[i][j] = (Vigil__V1__Channel)w->channels[j];
            twid[i][j] = (char *)w->event_ids[j];
        }
        tw[i].n_times_ms = tw[i].n_channels = tw[i].n_event_ids = w->n;
        tw[i].times_ms = twt[i];
        tw[i].channels = twch[i];
        tw[i].event_ids = twid[i];
    }
    m.troubles = twp;
    m.last_signal_ms = st->last_signal_ms;
    for (uint32_t i = 0; i < st->n_ledgers; i++) {
        const vg_state_ledger_t *l = &st->ledgers[i];
        vigil__v1__fire_ledger__init(&fl[i]);
        fl[i].intervention = (char *)l->intervention;
        fl[i].channel = (Vigil__V1__Channel)l->channel;
        for (uint32_t j = 0; j < l->n; j++)
            flt[i][j] = l->fired_ms[j];
        fl[i].n_fired_ms = l->n;
        fl[i].fired_ms = flt[i];
        flp[i] = &fl[i];
    }
    m.n_ledgers = st->n_ledgers;
    m.ledgers = flp;
    for (uint32_t i = 0; i < st->n_decisions; i++) {
        const vg_state_decision_t *d = &st->decisions[i];
        vigil__v1__decision__init(&dd[i]);
        dd[i].partition = d->partition;
        dd[i].offset = d->offset;
        dd[i].timer = d->timer;
        dd[i].due_ms = d->due_ms;
        dd[i].sealed = d->sealed;
        ddb[i].data = (uint8_t *)d->trigger;
        ddb[i].len = d->len;
        dd[i].n_triggers = 1;
        dd[i].triggers = &ddb[i];
        ddp[i] = &dd[i];
    }
    m.n_decisions = st->n_decisions;
    m.decisions = ddp;
    for (uint32_t i = 0; i < st->n_sequences; i++) {
        vigil__v1__sequence_progress__init(&sq[i]);
        sqp[m.n_sequences] = &sq[i];
        m.n_sequences += st->sequences[i].progress > 0; /* not stored (vg_state.h) */
        sq[i].name = (char *)st->sequences[i].name;
        sq[i].progress = st->sequences[i].progress;
        sq[i].start_ms = st->sequences[i].start_ms;
        for (uint32_t j = 0; j < st->sequences[i].progress && j < VG_STATE_SEQ_STEPS; j++) {
            sqid[i][j] = (char *)st->sequences[i].event_ids[j];
            sqch[i][j] = (Vigil__V1__Channel)st->sequences[i].channels[j];
        }
        sq[i].n_event_ids = sq[i].n_channels =
            st->sequences[i].progress < VG_STATE_SEQ_STEPS ? st->sequences[i].progress
                                                           : VG_STATE_SEQ_STEPS;
        sq[i].event_ids = sqid[i];
        sq[i].channels = sqch[i];
    }
    m.sequences = sqp;
    for (uint32_t i = 0; i < st->n_absences; i++) {
        vigil__v1__pending_absence__init(&pa[i]);
        pa[i].name = (char *)st->absences[i].name;
        pa[i].start_ms = st->absences[i].start_ms;
        pa[i].due_ms = st->absences[i].due_ms;
        pa[i].channel = (Vigil__V1__Channel)st->absences[i].channel;
        pa[i].event_id = (char *)st->absences[i].event_id;
        pap[i] = &pa[i];
    }
    m.n_absences = st->n_absences;
    m.absences = pap;
    for (uint32_t i = 0; i < st->n_consents; i++)
        cons[i] = (char *)st->consents[i];
    m.n_consents = st->n_consents;
    m.consents = cons;
    m.sealed_identity.data = (uint8_t *)st->sealed_identity;
    m.sealed_identity.len = st->sealed_len;
    m.last_event.data = (uint8_t *)st->last_event;
    m.last_event.len = st->last_event_len;
    if (!(m.last_event_is_applied = vg_state_event_is_applied(st))) {
        m.last_event_partition = st->last_event_partition;
        m.last_event_next = st->last_event_next;
    }
    m.last_window_hit = st->last_window_hit;
    m.last_seq_done = st->last_seq_done;
    m.last_late = st->last_late;
    m.last_record_ms = st->last_record_ms;
    m.last_fired = (char *)st->last_fired;
    m.last_fired_channel = (Vigil__V1__Channel)st->last_fired_channel;
    m.last_timer = st->last_timer;
    m.last_event_sealed = st->last_event_sealed;
    m.last_absence_fired = st->last_absence_fired;
    m.last_due_ms = st->last_due_ms;
    m.last_watermark_ms = st->last_watermark_ms;
    m.n_recent_events = st->n_recent;
    m.recent_events = (uint64_t *)st->recent;
    for (uint32_t i = 0; i < st->n_recent; i++)
        ages[i] = st->recent_ms[i] ? st->last_event_ms - st->recent_ms[i] : -1;
    m.n_recent_ages_ms = st->n_recent;
    m.recent_ages_ms = ages;
    m.last_event_ms = st->last_event_ms;
    m.events_applied = st->events_applied;
    desc.value_tier = (Vigil__V1__ValueTier)st->value_tier;
    desc.tenure_months = st->tenure_months;
    desc.revenue_weight = st->revenue_weight;
    desc.churn_risk = st->churn_risk;
    m.descriptive = &desc;

    need = vigil__v1__customer_state__get_packed_size(&m);
    if (need > cap)
        return VG_ERR_OVERFLOW;
    *lenp = vigil__v1__customer_state__pack(&m, buf);
    return VG_OK;
}

int64_t vg_state_applied(const vg_state_t *st, int32_t partition) {
    for (uint32_t i = 0; i < st->n_applied; i++)
        if (st->applied_partition[i] == partition)
            return st->applied_offset[i];
    return -1;
}

void vg_state_set_applied(vg_state_t *st, int32_t partition, int64_t offset) {
    uint32_t i;

    for (i = 0; i < st->n_applied; i++)
        if (st->applied_partition[i] == partition)
            break;
    if (i == st->n_applied) {
        /* A customer moves partition only if the topic is repartitioned;
         * forget the oldest slot rather than refuse. */
        if (st->n_applied == VG_STATE_MAX_PARTITIONS) {
            memmove(&st->applied_partition[0], &st->applied_partition[1],
                    sizeof(st->applied_partition[0]) * (VG_STATE_MAX_PARTITIONS - 1));
            memmove(&st->applied_offset[0], &st->applied_offset[1],
                    sizeof(st->applied_offset[0]) * (VG_STATE_MAX_PARTITIONS - 1));
            i = VG_STATE_MAX_PARTITIONS - 1;
        } else {
            st->n_applied++;
        }
        st->applied_partition[i] = partition;
    }
    st->applied_offset[i] = offset;
}

const vg_state_decision_t *vg_state_find_decision(const vg_state_t *st, int32_t partition,
                                                  int64_t offset) {
    for (uint32_t i = 0; i < st->n_decisions; i++)
        if (!st->decisions[i].timer && st->decisions[i].partition == partition &&
            st->decisions[i].offset == offset)
            return &st->decisions[i];
    return NULL;
}

int64_t vg_state_index_due(const vg_state_t *st) {
    int64_t due = vg_state_next_due(st);

    for (uint32_t i = 0; i < st->n_decisions; i++)
        if (st->decisions[i].timer && st->decisions[i].due_ms > 0 &&
            (!due || st->decisions[i].due_ms < due))
            due = st->decisions[i].due_ms;
    return due;
}

uint64_t vg_state_event_hash(const char *event_id) { return vg_hash_str(event_id); }

bool vg_state_seen_event(const vg_state_t *st, const char *event_id) {
    return vg_state_seen_hash(st, vg_state_event_hash(event_id));
}

bool vg_state_seen_hash(const vg_state_t *st, uint64_t hash) {
    for (uint32_t i = 0; i < st->n_recent; i++)
        if (st->recent[i] == hash)
            return true;
    return false;
}

void vg_state_remember_event(vg_state_t *st, const char *event_id, int64_t event_ms,
                             int64_t since_ms) {
    vg_state_remember_hash(st, vg_state_event_hash(event_id), event_ms, since_ms);
}

void vg_state_remember_hash(vg_state_t *st, uint64_t hash, int64_t event_ms, int64_t since_ms) {
    uint32_t n = 0;

    for (uint32_t i = 0; i < st->n_recent; i++) {
        if (st->recent_ms[i] && st->recent_ms[i] < since_ms)
            continue;
        st->recent[n] = st->recent[i];
        st->recent_ms[n++] = st->recent_ms[i];
    }
    st->n_recent = n;
    if (event_ms < since_ms)
        return;
    if (st->n_recent == VG_STATE_RECENT_MAX) {
        memmove(&st->recent[0], &st->recent[1], sizeof(st->recent[0]) * (VG_STATE_RECENT_MAX - 1));
        memmove(&st->recent_ms[0], &st->recent_ms[1],
                sizeof(st->recent_ms[0]) * (VG_STATE_RECENT_MAX - 1));
        st->n_recent--;
    }
    st->recent[st->n_recent] = hash;
    st->recent_ms[st->n_recent++] = event_ms;
}

vg_state_sequence_t *vg_state_sequence(vg_state_t *st, const char *name) {
    vg_state_sequence_t *q;

    for (uint32_t i = 0; i < st->n_sequences; i++)
        if (vg_str_eq(st->sequences[i].name, name))
            return &st->sequences[i];
    /* A sequence the model no longer has loses its slot first. */
    q = st->n_sequences < VG_STATE_MAX_SEQUENCES ? &st->sequences[st->n_sequences++]
                                                 : &st->sequences[0];
    vg_state_copy_str(q->name, sizeof(q->name), name);
    q->progress = 0;
    q->start_ms = 0;
    return q;
}

vg_state_absence_t *vg_state_absence(vg_state_t *st, const char *name) {
    for (uint32_t i = 0; i < st->n_absences; i++)
        if (vg_str_eq(st->absences[i].name, name))
            return &st->absences[i];
    return NULL;
}

int64_t vg_state_next_due(const vg_state_t *st) {
    int64_t due = 0;

    for (uint32_t i = 0; i < st->n_absences; i++)
        if (!due || st->absences[i].due_ms < due)
            due = st->absences[i].due_ms;
    return due;
}

vg_err_t vg_state_add_decision(vg_state_t *st, int32_t partition, int64_t offset, bool timer,
                               const uint8_t *trigger, size_t len, bool *evicted) {
    vg_state_decision_t *d;

    *evicted = false;
    if (len > VG_TRIGGER_MAX_BYTES)
        return VG_ERR_OVERFLOW;
    if (st->n_decisions == VG_STATE_MAX_DECISIONS) {
        memmove(&st->decisions[0], &st->decisions[1],
                sizeof(st->decisions[0]) * (VG_STATE_MAX_DECISIONS - 1));
        st->n_decisions--;
        *evicted = true;
    }
    d = &st->decisions[st->n_decisions++];
    d->partition = partition;
    d->offset = offset;
    d->timer = timer;
    d->sealed = false;
    d->len = len;
    if (len)
        memcpy(d->trigger, trigger, len);
    return VG_OK;
}

void vg_state_trim_decisions(vg_state_t *st, int32_t partition, int64_t floor) {
    uint32_t o = 0;

    for (uint32_t i = 0; i < st->n_decisions; i++) {
        if (st->decisions[i].partition == partition && st->decisions[i].offset < floor)
            continue;
        if (o != i)
            st->decisions[o] = st->decisions[i];
        o++;
    }
    st->n_decisions = o;
}

vg_state_window_t *vg_state_window(vg_state_t *st, const char *kind) {
    uint32_t i, oldest = 0;
    int64_t oldest_t = INT64_MAX;
    vg_state_window_t *w;

    for (i = 0; i < st->n_troubles; i++) {
        w = &st->troubles[i];
        if (w->kind[0] == kind[0] && strncmp(w->kind, kind, sizeof(w->kind) - 1) == 0)
            return w;
        {
            int64_t t = w->n ? w->times_ms[w->n - 1] : INT64_MIN;
            if (t < oldest_t) {
                oldest_t = t;
                oldest = i;
            }
        }
    }
    w = st->n_troubles < VG_STATE_MAX_TROUBLES ? &st->troubles[st->n_troubles++]
                                               : &st->troubles[oldest];
    vg_state_copy_str(w->kind, sizeof(w->kind), kind);
    w->n = 0;
    return w;
}

vg_state_ledger_t *vg_state_ledger(vg_state_t *st, const char *intervention, int32_t channel) {
    uint32_t i, oldest = 0;
    int64_t oldest_t = INT64_MAX;
    vg_state_ledger_t *l;

    for (i = 0; i < st->n_ledgers; i++) {
        l = &st->ledgers[i];
        if (l->channel == channel && l->intervention[0] == intervention[0] &&
            strncmp(l->intervention, intervention, sizeof(l->intervention) - 1) == 0)
            return l;
        {
            int64_t t = l->n ? l->fired_ms[l->n - 1] : INT64_MIN;
            if (t < oldest_t) {
                oldest_t = t;
                oldest = i;
            }
        }
    }
    l = st->n_ledgers < VG_STATE_MAX_LEDGERS ? &st->ledgers[st->n_ledgers++]
                                             : &st->ledgers[oldest];
    vg_state_copy_str(l->intervention, sizeof(l->intervention), intervention);
    l->channel = channel;
    l->n = 0;
    return l;
}
