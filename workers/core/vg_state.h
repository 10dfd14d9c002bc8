/*
 * vg_state.h - a customer's session state, as the pure core sees it.
 *
 * The state is a plain bounded C struct, so the transition and scoring
 * functions mutate it without allocating; it is stored in Redis as a
 * protobuf vigil.v1.CustomerState (vg_state_encode / vg_state_decode).
 *
 * Bounds are deliberate: windows keep the newest entries, the decision
 * ring keeps only decisions that produced a trigger and are not yet known
 * to be committed (DESIGN.md, "Delivery guarantee").
 */
#ifndef VG_STATE_H
#define VG_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vg_err.h"
#include "vg_event.h"

#include <protobuf-c/protobuf-c.h>

/* Sizes follow the input limits of vg_event.h, so whatever an accepted
 * event carries is stored whole: nothing is cut between the edge and the
 * trigger (docs/triggers.md, "Input limits"). */
#define VG_STATE_MAX_PARTITIONS 4   /* partitions a customer was seen on */
#define VG_STATE_MAX_TROUBLES 8     /* distinct trouble kinds tracked */
#define VG_STATE_WINDOW_MAX 8       /* entries kept per trouble kind */
#define VG_STATE_MAX_LEDGERS 8      /* (intervention, channel) fire ledgers */
#define VG_STATE_LEDGER_MAX 8       /* fire times kept per ledger */
#define VG_STATE_MAX_DECISIONS 8    /* uncommitted trigger-producing decisions */
#define VG_STATE_NAME_MAX 48        /* kind / intervention names (VG_MODEL_NAME_MAX) */
#define VG_STATE_EVID_MAX (VG_EVENT_ID_MAX + 1)
#define VG_TRIGGER_MAX_BYTES 6144   /* one encoded trigger, every field at its limit */
/* What a vg_pseudo_seal_bytes() seal adds (VG_SEAL_OVERHEAD). */
#define VG_STATE_SEAL_OVERHEAD 29
#define VG_STATE_MAX_SEQUENCES 4
#define VG_STATE_SEQ_STEPS 4        /* VG_MODEL_MAX_SEQ_STEPS */
#define VG_STATE_MAX_ABSENCES 4
#define VG_STATE_MAX_CONSENTS VG_EVENT_MAX_CONSENTS
#define VG_STATE_PURPOSE_MAX (VG_EVENT_PURPOSE_MAX + 1)
#define VG_STATE_RECENT_MAX 16      /* event ids remembered to drop duplicates */
#define VG_STATE_SEALED_MAX 320     /* sealed (tenant, customer id) */
#define VG_STATE_LAST_EVENT_MAX 1536 /* the latest event, kept if it fits */

typedef struct vg_state_window_s {
    char kind[VG_STATE_NAME_MAX];
    uint32_t n;
    int64_t times_ms[VG_STATE_WINDOW_MAX];
    int32_t channels[VG_STATE_WINDOW_MAX];
    char event_ids[VG_STATE_WINDOW_MAX][VG_STATE_EVID_MAX];
} vg_state_window_t;

typedef struct vg_state_ledger_s {
    char intervention[VG_STATE_NAME_MAX];
    int32_t channel;
    uint32_t n;
    int64_t fired_ms[VG_STATE_LEDGER_MAX];
} vg_state_ledger_t;

typedef struct vg_state_sequence_s {
    char name[VG_STATE_NAME_MAX];
    uint32_t progress;
    int64_t start_ms;
    /* The events of the steps matched so far (lineage); after the last
     * step they stay until the next start, for the trigger it fires. */
    int32_t channels[VG_STATE_SEQ_STEPS];
    char event_ids[VG_STATE_SEQ_STEPS][VG_STATE_EVID_MAX];
} vg_state_sequence_t;

typedef struct vg_state_absence_s {
    char name[VG_STATE_NAME_MAX];
    int64_t start_ms, due_ms;
    int32_t channel;
    char event_id[VG_STATE_EVID_MAX];
} vg_state_absence_t;

typedef struct vg_state_decision_s {
    int32_t partition;
    int64_t offset;
    bool timer;                 /* fired by a deadline (vg_step_expire) */
    int64_t due_ms;             /* timer: the deadline that fired */
    size_t len;
    /* The worker seals it before it stores (and opens it when it loads):
     * room for the seal's overhead. */
    bool sealed;
    uint8_t trigger[VG_TRIGGER_MAX_BYTES + VG_STATE_SEAL_OVERHEAD];
} vg_state_decision_t;

typedef struct vg_state_s {
    uint64_t version;           /* as loaded; the CAS compares against it */
    uint32_t n_applied;
    int32_t applied_partition[VG_STATE_MAX_PARTITIONS];
    int64_t applied_offset[VG_STATE_MAX_PARTITIONS];
    /* Window entries, one set per model window (by name). */
    uint32_t n_troubles;
    vg_state_window_t troubles[VG_STATE_MAX_TROUBLES];
    uint32_t n_sequences;
    vg_state_sequence_t sequences[VG_STATE_MAX_SEQUENCES];
    uint32_t n_absences;
    vg_state_absence_t absences[VG_STATE_MAX_ABSENCES];
    uint32_t n_consents;
    char consents[VG_STATE_MAX_CONSENTS][VG_STATE_PURPOSE_MAX];
    int64_t last_signal_ms;
    uint32_t n_ledgers;
    vg_state_ledger_t ledgers[VG_STATE_MAX_LEDGERS];
    int64_t last_event_ms;
    uint64_t events_applied;
    /* Descriptive data last seen (value tier etc.). */
    int32_t value_tier;
    uint32_t tenure_months;
    double revenue_weight;
    double churn_risk;
    /* (tenant, customer) sealed by vg_pseudo_seal, set by the worker while
     * a deadline is pending; opaque to the pure core. */
    uint32_t sealed_len;
    uint8_t sealed_identity[VG_STATE_SEALED_MAX];
    /* The latest applied event, for vigilctl explain: where it is in the
     * events topic (its partition, and its offset + 1; 0: none), what it
     * changed and what it fired. Its bytes are not stored (vigilctl reads
     * them from Kafka into last_event); states of older workers hold them. */
    int32_t last_event_partition;
    int64_t last_event_next;
    uint32_t last_event_len;
    uint8_t last_event[VG_STATE_LAST_EVENT_MAX];
    /* last_event holds a vg_pseudo_seal_bytes() seal, not the event: the
     * worker seals before it stores (Redis never holds it in clear). */
    bool last_event_sealed;
    uint32_t last_window_hit, last_seq_done;
    bool last_late;
    int64_t last_record_ms;
    char last_fired[VG_STATE_NAME_MAX];
    int32_t last_fired_channel;
    /* The latest decision was a deadline's, after the latest event: which
     * absences came due (bit per model absence), the deadline, and the
     * watermark that passed it (vigilctl explain). */
    bool last_timer;
    uint32_t last_absence_fired;
    int64_t last_due_ms, last_watermark_ms;
    /* Hashes of the customer's latest applied event ids, newest last: an
     * event id seen again is a duplicate and is not applied twice. With
     * each, its event time (0: unknown, from an older worker's state):
     * one older than the lateness allowance is forgotten. */
    uint32_t n_recent;
    uint64_t recent[VG_STATE_RECENT_MAX];
    int64_t recent_ms[VG_STATE_RECENT_MAX];
    /* Last: the ring is large (8 x 6 KB) and mostly empty, so the fields
     * every batch touches share a few pages (the pipeline's states are
     * allocated for its largest batch and touched as used). */
    uint32_t n_decisions;
    vg_state_decision_t decisions[VG_STATE_MAX_DECISIONS];
} vg_state_t;

/* Reset to the empty state of a customer never seen. */
void vg_state_init(vg_state_t *st);

/* Decode a stored CustomerState (len 0 means no state: init). errstr says
 * why a blob is refused. No allocation. The wire format read by hand
 * (vg_state_wire.c). */
vg_err_t vg_state_decode(vg_state_t *st, const void *buf, size_t len, char *errstr,
                         size_t errstr_size);

/* Encode into buf (capacity cap); *lenp gets the length. VG_ERR_OVERFLOW if
 * cap is too small: vg_state_encoded_max() is always enough. Written by
 * hand (vg_state_wire.c): the bytes protobuf-c would write.
 * Not stored: an empty trouble window and a
 * sequence at progress 0, which read back as absent, and absent is the
 * same to the model (the next match makes them afresh); a Redis byte
 * saved for every customer. */
vg_err_t vg_state_encode(const vg_state_t *st, uint8_t *buf, size_t cap, size_t *lenp);
size_t vg_state_encoded_max(void);

/* Shared by both codecs: whether the latest event is the state's one
 * applied record (then its place is not stored twice), and setting its
 * place back from applied when the stored state says so. */
bool vg_state_event_is_applied(const vg_state_t *st);
void vg_state_event_from_applied(vg_state_t *st, bool is_applied);

/* The same on an unpacked CustomerState (the reference decoder, and
 * vigilctl state, which shows the message itself). */
struct Vigil__V1__CustomerState;
void vg_state_msg_event_place(struct Vigil__V1__CustomerState *m);

/* The reference: the same through protobuf-c's generated code, which the
 * codec above must match (test_state, fuzz_state). */
vg_err_t vg_state_decode_pb(vg_state_t *st, const void *buf, size_t len, char *errstr,
                            size_t errstr_size);
vg_err_t vg_state_encode_pb(const vg_state_t *st, uint8_t *buf, size_t cap, size_t *lenp);

/* Last applied offset for partition, or -1 when none. */
int64_t vg_state_applied(const vg_state_t *st, int32_t partition);
void vg_state_set_applied(vg_state_t *st, int32_t partition, int64_t offset);

/* The stored event decision for (partition, offset), or NULL (timer
 * decisions are not returned: they belong to no event). */
const vg_state_decision_t *vg_state_find_decision(const vg_state_t *st, int32_t partition,
                                                  int64_t offset);

/* Record a trigger-producing decision. When the ring is full the oldest
 * entry is dropped and *evicted is set: a replay of that offset would then
 * emit nothing, so callers count it. */
vg_err_t vg_state_add_decision(vg_state_t *st, int32_t partition, int64_t offset, bool timer,
                               const uint8_t *trigger, size_t len, bool *evicted);

/* The deadline index score of st: the earliest of its pending deadlines
 * and of the deadlines behind its uncommitted timer decisions (so a replay
 * finds the customer again); 0 when none. */
int64_t vg_state_index_due(const vg_state_t *st);

/* The hash under which an event id is remembered (64-bit FNV-1a). */
uint64_t vg_state_event_hash(const char *event_id);

/* True when event_id is among the customer's remembered latest events. */
bool vg_state_seen_event(const vg_state_t *st, const char *event_id);

/* Remember event_id, of event time event_ms, as applied. Entries whose
 * event time is known and before since_ms are forgotten first (a repeat of
 * one would be late), and so is this one if it is; then the oldest when
 * full. */
void vg_state_remember_event(vg_state_t *st, const char *event_id, int64_t event_ms,
                             int64_t since_ms);

/* The two above by the event id's hash (vg_state_event_hash), for a
 * caller that asks both about one event and hashes it once. */
bool vg_state_seen_hash(const vg_state_t *st, uint64_t hash);
void vg_state_remember_hash(vg_state_t *st, uint64_t hash, int64_t event_ms, int64_t since_ms);

/* Find or create the progress of sequence name. */
vg_state_sequence_t *vg_state_sequence(vg_state_t *st, const char *name);

/* The pending absence name, or NULL. */
vg_state_absence_t *vg_state_absence(vg_state_t *st, const char *name);

/* Earliest due time of the pending absences, or 0 when none. */
int64_t vg_state_next_due(const vg_state_t *st);

/* Drop decisions of partition below floor (known committed: DESIGN rule 4). */
void vg_state_trim_decisions(vg_state_t *st, int32_t partition, int64_t floor);

/* Find or create the trouble window of kind; NULL never (the oldest-used
 * kind is recycled when full). */
vg_state_window_t *vg_state_window(vg_state_t *st, const char *kind);

/* Find or create the ledger of (intervention, channel). */
vg_state_ledger_t *vg_state_ledger(vg_state_t *st, const char *intervention, int32_t channel);

#endif
