"""Vigil's default model (workers/models/default.yaml), hard-coded.

The rules as Vigil's core computes them (workers/core/vg_score.c and
vg_step.c), written directly in Python rather than interpreted from the
YAML: what a team re-implementing the default model would write.

- signals, the three trouble windows and their coincidence/pattern/trend
  ladder (counts at the customer's newest event time), 2 m lateness (a
  late event is applied but neither counted nor allowed to decide);
- the channel-hopping sequence (web, then chat, then phone within 30 m);
- the logistic score and its terms, reasons most contributing first;
- value weight, eligibility, thresholds, stale_after, consent (the
  purposes of the customer's latest event), cooldown, channel_cooldown,
  caps, channel masks; the highest priority wins, one trigger per event;
- duplicate event ids among the customer's 16 latest are not applied;
- the checkout_abandoned absence, but without a deadline index: a due
  deadline is decided at the customer's next record (fire_due), so its
  effect on later decisions (retention_offer's cooldown and cap) is
  Vigil's, while the trigger itself comes late or, for a customer who
  does not come back, never.

A customer's state is a plain dict, stored as compact JSON (see new_state).
"""
import hashlib
import math
import re

# --- enums (schemas/vigil/v1/event.proto) -----------------------------------
CH_WEB, CH_APP, CH_CHAT, CH_PHONE, CH_PAYMENT, CH_EMAIL, CH_STORE = 1, 2, 3, 4, 5, 6, 7
CHANNEL_MAX = 7
OUTCOME_SUCCESS, OUTCOME_FAILURE, OUTCOME_PENDING, OUTCOME_TIMEOUT = 1, 2, 4, 5
SIG_FRUSTRATION, SIG_ANGER, SIG_CONFUSION, SIG_DETRACTOR, SIGNAL_MAX = 1, 2, 3, 5, 5
TIER_GOLD, TIER_PLATINUM, TIER_MAX = 3, 4, 4

# --- the model ----------------------------------------------------------------
MODEL_ID = "vigil-default"
MODEL_VERSION = "2026.11.1"
MIN = 60000
HOUR = 60 * MIN
LATENESS_MS = 2 * MIN

# Windows, by index: (name, event_type of its signal, within, score weight,
# reason, signal name). Signal: that event type with outcome failure or timeout.
WINDOWS = (
    ("payment_trouble", "payment", 30 * MIN, 1.5, "payment_failure", "payment_failure"),
    ("login_trouble", "login", 30 * MIN, 1.5, "login_failure", "login_failure"),
    ("order_trouble", "order", 2 * HOUR, 1.2, "order_failure", "order_failure"),
)
W_PAYMENT, W_LOGIN, W_ORDER = 0, 1, 2
WINDOW_OF_TYPE = {w[1]: i for i, w in enumerate(WINDOWS)}
WITHIN = tuple(w[2] for w in WINDOWS)
PATTERN_AT, TREND_AT = 2, 3
WINDOW_MAX = 8          # entries kept per window, newest last
LADDER = ("", "coincidence", "pattern", "trend")

SEQ_STEPS = (CH_WEB, CH_CHAT, CH_PHONE)   # channel_hopping
SEQ_WITHIN = 30 * MIN
EMOTIONS = frozenset((SIG_FRUSTRATION, SIG_ANGER, SIG_CONFUSION))
OPEN_WITHIN = 30 * MIN

ABSENCE_WITHIN = 10 * MIN  # checkout_abandoned: checkout pending, no success within 10 m

BIAS = -4.0
W_EMOTION, W_DETRACTOR, W_HOPPING, W_ABSENCE, W_CHURN, W_HIGH_VALUE = 1.6, 2.2, 3.2, 4.2, 1.0, 0.4
DETAIL_EMOTION = "frustration, anger or confusion detected while a problem is open"
DETAIL_DETRACTOR = "detractor answer in a survey"
DETAIL_HOPPING = "web, then chat, then phone within 30 minutes"
DETAIL_ABSENCE = "checkout started, no payment within 10 minutes"
DETAIL_HIGH_VALUE = "gold or platinum value tier"
REASONS_MAX = 8
TIER_WEIGHT = (1.0, 1.0, 1.2, 1.5, 2.0)   # unspecified, bronze, silver, gold, platinum

RECENT_MAX = 16         # event ids remembered to drop duplicates
LEDGERS_MAX = 8         # (intervention, channel) fire ledgers
LEDGER_MAX = 8          # fire times kept per ledger


class Intervention:
    __slots__ = ("index", "name", "purpose", "channels", "default_channel", "threshold",
                 "cooldown", "channel_cooldown", "cap_count", "cap_window", "valid_for",
                 "stale_after", "context_weight")

    def __init__(self, index, name, purpose, channels, threshold, cooldown, channel_cooldown,
                 cap_count, cap_window, valid_for, stale_after, context_weight):
        self.index, self.name, self.purpose = index, name, purpose
        self.channels = frozenset(channels)
        self.default_channel = channels[0]      # the first listed is the fallback
        self.threshold = threshold
        self.cooldown, self.channel_cooldown = cooldown, channel_cooldown
        self.cap_count, self.cap_window = cap_count, cap_window
        self.valid_for, self.stale_after = valid_for, stale_after
        self.context_weight = context_weight


# The catalogue, in the model's order (ties in priority go to the first).
ESCALATE, CALLBACK, FIX, STATUS, RETENTION = range(5)
INTERVENTIONS = (
    Intervention(ESCALATE, "escalate_to_senior_agent", "service", (CH_PHONE, CH_CHAT),
                 0.7, 4 * HOUR, 4 * HOUR, 2, 24 * HOUR, 15 * MIN, 10 * MIN, 1.3),
    Intervention(CALLBACK, "proactive_callback", "service", (CH_PHONE,),
                 0.6, HOUR, HOUR, 3, 24 * HOUR, 30 * MIN, 15 * MIN, 1.2),
    Intervention(FIX, "fix_and_notify", "service", (CH_APP, CH_EMAIL, CH_WEB),
                 0.6, HOUR, 0, 3, 24 * HOUR, HOUR, 15 * MIN, 1.0),
    Intervention(STATUS, "status_update", "service", (CH_APP, CH_EMAIL, CH_WEB),
                 0.5, 2 * HOUR, 0, 4, 24 * HOUR, 2 * HOUR, 30 * MIN, 0.8),
    Intervention(RETENTION, "retention_offer", "marketing", (CH_EMAIL, CH_APP, CH_WEB),
                 0.5, 24 * HOUR, 0, 1, 7 * 24 * HOUR, 24 * HOUR, HOUR, 1.0),
)


def eligible(iv, levels, hit, seq_done, emotion, detractor, absence):
    """Does one of iv's eligibility rules hold, caused by this event (or
    deadline)? hit: the window this event was counted in (-1: none)."""
    i = iv.index
    if i == ESCALATE:      # { signal: emotion, level: [all three], min: pattern }
        return emotion and max(levels) >= PATTERN_AT
    if i == CALLBACK:      # payment trend | order trend | channel_hopping
        return ((hit == W_PAYMENT or hit == W_ORDER) and levels[hit] >= 3) or seq_done
    if i == FIX:           # login trend
        return hit == W_LOGIN and levels[hit] >= 3
    if i == STATUS:        # order pattern | payment pattern
        return (hit == W_ORDER or hit == W_PAYMENT) and levels[hit] >= 2
    return absence or detractor   # RETENTION: checkout_abandoned | { signal: detractor }


# --- the trigger id (docs/triggers.md, "The trigger id, byte by byte") -------

def trigger_id(tenant, customer_id, intervention, cause):
    data = b"".join(p.encode("utf-8") + b"\0"
                    for p in ("vigil.trigger.v1", tenant, customer_id, intervention, cause))
    return hashlib.sha256(data).hexdigest()[:32]


# --- validation (workers/core/vg_event.c; limits in docs/triggers.md) --------

EVENT_MAX_BYTES = 65536
ID_MAX = 128
MIN_TIME_MS = 946684800000          # 2000-01-01
MAX_TIME_MS = 4102444800000         # 2100-01-01
MAX_FUTURE_MS = 86400000            # event.max_future_ms default
_BAD_TEXT = re.compile("[\x00-\x1f\x7f-\x9f]")


def _blen(s):
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def _text(name, s, lo, hi):
    """None if s is acceptable text of lo..hi bytes, else the reason.
    (UTF-8 validity is checked by the protobuf parser.)"""
    n = _blen(s)
    if n < lo:
        return 'field "%s": required but empty' % name
    if n > hi:
        return 'field "%s": %d bytes, longer than %d' % (name, n, hi)
    if _BAD_TEXT.search(s):
        return 'field "%s": NUL byte or control character' % name
    return None


def validate(ev, key, record_ms):
    """None if the decoded event is valid, else the reason (dead letter)."""
    if _plainly_valid(ev, key, record_ms):
        return None
    return _why_invalid(ev, key, record_ms)


def _plainly_valid(ev, key, record_ms):
    """The common case in one pass: all text ASCII and printable, every
    limit held. False means "look closer" (_why_invalid), not "invalid"."""
    eid, cid, ten, et, ec = ev.event_id, ev.customer_id, ev.tenant, ev.event_type, ev.error_code
    if not (0 < len(eid) <= ID_MAX and 0 < len(cid) <= ID_MAX and 0 < len(ten) <= ID_MAX and
            0 < len(et) <= ID_MAX and len(ec) <= ID_MAX):
        return False
    t = ev.event_time_ms
    if t < MIN_TIME_MS or t > MAX_TIME_MS or (record_ms > 0 and t > record_ms + MAX_FUTURE_MS):
        return False
    consents, attrs = ev.consents, ev.attributes
    if len(consents) > 16 or len(ev.signals) > 16 or len(attrs) > 32:
        return False
    texts = [eid, cid, ten, et, ec]
    for c in consents:
        if not 0 < len(c) <= 48:
            return False
        texts.append(c)
    for a in attrs:
        k, v = a.key, a.value
        if not 0 < len(k) <= 64 or len(v) > 256:
            return False
        texts.append(k)
        texts.append(v)
    if ev.HasField("descriptive"):
        d = ev.descriptive
        seg = d.segment
        if len(seg) > 64 or not 0.0 <= d.churn_risk <= 1.0 or not 0.0 <= d.revenue_weight <= 1000.0:
            return False
        texts.append(seg)
    joined = " ".join(texts)
    if not joined.isascii() or _BAD_TEXT.search(joined):
        return False
    return key is None or key == cid.encode("ascii")


def _why_invalid(ev, key, record_ms):
    err = (_text("event_id", ev.event_id, 1, ID_MAX) or
           _text("customer_id", ev.customer_id, 1, ID_MAX) or
           _text("tenant", ev.tenant, 1, ID_MAX) or
           _text("event_type", ev.event_type, 1, ID_MAX) or
           _text("error_code", ev.error_code, 0, ID_MAX))
    if err:
        return err
    t = ev.event_time_ms
    if t < MIN_TIME_MS or t > MAX_TIME_MS:
        return 'field "event_time_ms": %d is not a plausible Unix time in ms' % t
    if record_ms > 0 and t > record_ms + MAX_FUTURE_MS:
        return 'field "event_time_ms": %d is after the record timestamp plus one day' % t
    if len(ev.consents) > 16:
        return 'field "consents": more than 16 entries'
    if len(ev.signals) > 16:
        return 'field "signals": more than 16 entries'
    if len(ev.attributes) > 32:
        return 'field "attributes": more than 32 entries'
    for i, c in enumerate(ev.consents):
        err = _text("consents[%d]" % i, c, 1, 48)
        if err:
            return err
    for i, a in enumerate(ev.attributes):
        err = (_text("attributes[%d].key" % i, a.key, 1, 64) or
               _text("attributes[%d].value" % i, a.value, 0, 256))
        if err:
            return err
    if ev.HasField("descriptive"):
        d = ev.descriptive
        err = _text("descriptive.segment", d.segment, 0, 64)
        if err:
            return err
        if not 0.0 <= d.churn_risk <= 1.0:             # NaN fails too
            return 'field "descriptive.churn_risk": %g not in [0,1]' % d.churn_risk
        if not 0.0 <= d.revenue_weight <= 1000.0:
            return 'field "descriptive.revenue_weight": %g not in [0,1000]' % d.revenue_weight
    if key is not None and key != ev.customer_id.encode("utf-8"):
        return 'record key does not match field "customer_id"'
    return None


# --- state ---------------------------------------------------------------------

def new_state():
    """The state of a customer never seen. Keys (kept short, it is JSON):
    a applied offset per partition, t newest event time, w window entry
    times (per window, in arrival order), q sequence [progress, start],
    b the pending checkout absence [start, due, channel, event id] or None,
    c consents, d [value tier, revenue weight, churn risk], f fire ledgers
    [[intervention, channel, [times]]], r latest event ids, x decisions
    not yet known committed [[partition, offset, trigger (base64)]]."""
    return {"a": {}, "t": 0, "w": [[], [], []], "q": [0, 0], "b": None, "c": [],
            "d": [0, 0.0, 0.0], "f": [], "r": [], "x": []}


class Decision:
    """What one event (or deadline) decided: the winner and what its
    trigger carries. cause is what the trigger id is computed over."""
    __slots__ = ("iv", "channel", "propensity", "priority", "level", "reasons", "deadline",
                 "cause", "cause_event_id", "cause_channel", "created_ms")

    def __init__(self, iv, channel, propensity, priority, level, reasons):
        self.iv, self.channel, self.propensity = iv, channel, propensity
        self.priority, self.level, self.reasons = priority, level, reasons
        self.deadline = False


def _ledger_fired(st, iv_index, channel, now, span):
    """Any ledger of the intervention (channel None: any channel) whose
    latest fire is within span of now."""
    for l in st["f"]:
        if l[0] == iv_index and (channel is None or l[1] == channel) and l[2]:
            if now - l[2][-1] < span:
                return True
    return False


def _fires_within(st, iv_index, now, span):
    n = 0
    for l in st["f"]:
        if l[0] == iv_index:
            for f in l[2]:
                if now - f < span:
                    n += 1
    return n


def _record_fire(st, iv_index, channel, t):
    ledgers = st["f"]
    oldest, oldest_t = 0, None
    for i, l in enumerate(ledgers):
        if l[0] == iv_index and l[1] == channel:
            break
        lt = l[2][-1] if l[2] else -(1 << 63)
        if oldest_t is None or lt < oldest_t:
            oldest, oldest_t = i, lt
    else:
        l = [iv_index, channel, []]
        if len(ledgers) < LEDGERS_MAX:
            ledgers.append(l)
        else:
            ledgers[oldest] = l   # recycle the least recently fired
    times = l[2]
    if len(times) == LEDGER_MAX:
        del times[0]
    times.append(t)


def seen(st, event_id):
    return event_id in st["r"]


def remember(st, event_id):
    r = st["r"]
    if len(r) == RECENT_MAX:
        del r[0]
    r.append(event_id)


def apply_event(st, ev, record_ms):
    """Apply one valid, not yet applied, not duplicate event to the state;
    return the Decision when it fires an intervention, else None."""
    t = ev.event_time_ms
    last = st["t"]
    now = t if t > last else last
    st["c"] = list(ev.consents)            # the customer's latest word, late or not
    if ev.HasField("descriptive"):
        d = ev.descriptive
        tier = d.value_tier
        st["d"] = [tier if 0 <= tier <= TIER_MAX else 0, d.revenue_weight, d.churn_risk]
    if last and t < last - LATENESS_MS:
        return None                        # late: applied, not counted, decides nothing
    st["t"] = now

    ch = ev.channel
    if not 0 <= ch <= CHANNEL_MAX:
        ch = 0
    et = ev.event_type
    oc = ev.outcome
    windows = st["w"]

    # Windows: forget what fell out, keep the newest entries, append.
    hit = -1
    if oc == OUTCOME_FAILURE or oc == OUTCOME_TIMEOUT:
        hit = WINDOW_OF_TYPE.get(et, -1)
        if hit >= 0:
            floor = now - WITHIN[hit]
            w = [x for x in windows[hit] if x > floor]
            if len(w) == WINDOW_MAX:
                del w[0]
            w.append(t)
            windows[hit] = w

    # The channel-hopping sequence.
    seq_done = False
    q = st["q"]
    if q[0] > 0 and t - q[1] > SEQ_WITHIN:
        q[0] = 0                           # too slow: start over
    if ch == SEQ_STEPS[q[0]]:
        if q[0] == 0:
            q[1] = t
        q[0] += 1
        if q[0] == len(SEQ_STEPS):
            seq_done = True
            q[0] = 0

    # The checkout absence: a payment or checkout success closes it, a
    # pending checkout opens one (its deadline: fire_due).
    pa = st["b"]
    if pa is not None and oc == OUTCOME_SUCCESS and (et == "checkout" or et == "payment") \
            and t >= pa[0]:
        st["b"] = pa = None
    if pa is None and oc == OUTCOME_PENDING and et == "checkout":
        st["b"] = [t, t + ABSENCE_WITHIN, ch, ev.event_id]

    emotion = False
    detractor = False
    signals = ev.signals
    if signals:
        for s in signals:
            if s in EMOTIONS:
                emotion = True
            elif s == SIG_DETRACTOR and et == "survey":
                detractor = True
    if hit < 0 and not seq_done and not emotion and not detractor:
        # No intervention can be eligible: every rule needs this event to
        # be counted in a window, complete the sequence, or carry an
        # emotion or a detractor answer. (Vigil scores it for explain only.)
        return None
    dec = _decide(st, now, record_ms, ch, hit, seq_done, emotion, detractor, False, None)
    if dec is not None:
        dec.cause = dec.cause_event_id = ev.event_id
        dec.cause_channel = ch
        dec.created_ms = t
    return dec


def fire_due(st, watermark, at_watermark):
    """The checkout deadline, if the partition's event-time watermark has
    passed it: decide it as Vigil does when the watermark reaches it, with
    the deadline as decision time. at_watermark: the watermark of the first
    record that reached the deadline (its stale check).

    Vigil fires a deadline at the first record of the partition whose
    watermark reaches it, even a record of another customer, through a
    deadline index in Redis. The peer has no index: it fires the deadline
    at the customer's next record instead (before applying it), with the
    same inputs (nothing of the customer changes in between), so every
    later decision is the same and the trigger has the same id; a customer
    who never comes back never gets it. Returns a Decision or None."""
    pa = st["b"]
    if pa is None or pa[1] > watermark:
        return None
    st["b"] = None
    start_ms, due, ch, event_id = pa
    dec = _decide(st, due, at_watermark, 0, -1, False, False, False, True, ch)
    if dec is not None:
        dec.deadline = True
        dec.cause = "absence:checkout_abandoned:" + event_id
        dec.cause_event_id = event_id
        dec.cause_channel = ch
        dec.created_ms = due
    return dec


def _decide(st, now, record_ms, ch, hit, seq_done, emotion, detractor, absence, absence_ch):
    """Score at time now and pick the intervention to fire (vg_score_compute)."""
    windows = st["w"]
    # Counts at the newest event time, and the ladder.
    levels = [0, 0, 0]
    counts = [0, 0, 0]
    for i in (0, 1, 2):
        w = windows[i]
        if w:
            floor = now - WITHIN[i]
            n = 0
            for x in w:
                if floor < x <= now:
                    n += 1
            counts[i] = n
            levels[i] = 3 if n >= TREND_AT else 2 if n >= PATTERN_AT else 1 if n else 0

    emotion_open = 0.0
    if emotion:                            # only while a problem is open
        floor = now - OPEN_WITHIN
        for w in windows:
            if w and w[-1] > floor:
                emotion_open = 1.0
                break

    tier, revenue, churn = st["d"]
    high_value = 1.0 if tier == TIER_GOLD or tier == TIER_PLATINUM else 0.0
    contrib = (WINDOWS[0][3] * levels[0], WINDOWS[1][3] * levels[1],
               WINDOWS[2][3] * levels[2], W_EMOTION * emotion_open,
               W_DETRACTOR * (1.0 if detractor else 0.0),
               W_HOPPING * (1.0 if seq_done else 0.0),
               W_ABSENCE * (1.0 if absence else 0.0),
               W_CHURN * churn, W_HIGH_VALUE * high_value)
    z = BIAS
    for c in contrib:
        z += c
    p = 1.0 / (1.0 + math.exp(-z))
    vw = TIER_WEIGHT[tier] * (revenue if revenue > 0.0 else 1.0)

    # Every eligible intervention gets a verdict; the highest priority that
    # no policy stops wins. A later candidate starts from the channel of the
    # winner so far (as vg_score_compute does).
    best = -1.0
    winner = None
    cur_ch = ch
    consents = st["c"]
    for iv in INTERVENTIONS:
        if not eligible(iv, levels, hit, seq_done, emotion, detractor, absence):
            continue
        c = cur_ch if cur_ch in iv.channels else iv.default_channel
        prio = p * vw * iv.context_weight
        if p < iv.threshold:
            continue                       # below_threshold
        if record_ms > 0 and record_ms - now > iv.stale_after:
            continue                       # stale_event
        if iv.purpose not in consents:
            continue                       # no_consent
        if iv.cooldown and _ledger_fired(st, iv.index, None, now, iv.cooldown):
            continue                       # cooldown
        if iv.channel_cooldown and _ledger_fired(st, iv.index, c, now, iv.channel_cooldown):
            continue                       # channel_cooldown
        if _fires_within(st, iv.index, now, iv.cap_window) >= iv.cap_count:
            continue                       # cap
        if prio > best:                    # else lower_priority
            best, winner, cur_ch = prio, iv, c
    if winner is None:
        return None
    if absence_ch is not None:             # a deadline: the absence's own channel if allowed
        cur_ch = absence_ch if absence_ch in winner.channels else winner.default_channel
    _record_fire(st, winner.index, cur_ch, now)
    return Decision(winner, cur_ch, p, best, max(levels), _reasons(contrib, counts, levels, churn))


def _reasons(contrib, counts, levels, churn):
    """[(code, contribution, detail)], most contributing first, ties in
    the model's term order, at most 8."""
    out = []
    for i, c in enumerate(contrib):
        if c <= 0.0:
            continue
        if i < 3:
            name, _, within, _, reason, signal = WINDOWS[i]
            lad = LADDER[levels[i]]
            out.append((reason + "_" + lad, c,
                        "%d %s within %d min (%s)" % (counts[i], signal, within // MIN, lad)))
        elif i == 3:
            out.append(("emotion_with_open_problem", c, DETAIL_EMOTION))
        elif i == 4:
            out.append(("detractor_survey", c, DETAIL_DETRACTOR))
        elif i == 5:
            out.append(("channel_hopping", c, DETAIL_HOPPING))
        elif i == 6:
            out.append(("checkout_abandoned", c, DETAIL_ABSENCE))
        elif i == 7:
            out.append(("churn_risk", c, "churn risk %.2f from the upstream model" % churn))
        elif i == 8:
            out.append(("high_value_at_risk", c, DETAIL_HIGH_VALUE))
    out.sort(key=lambda r: -r[1])          # stable: ties keep the model's order
    return out[:REASONS_MAX]


def priority_bucket(p):
    """LOW < 0.6 <= MEDIUM < 0.9 <= HIGH < 1.2 <= CRITICAL (enum values)."""
    return 4 if p >= 1.2 else 3 if p >= 0.9 else 2 if p >= 0.6 else 1
