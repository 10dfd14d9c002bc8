"""The hand-written traffic of the contract suite and what Vigil must do
with it, under the default model (workers/models/default.yaml).

Every event is written here, field by field; none comes from Vigil's own
generator. Partitions are chosen explicitly so each story has a partition
(and so an event-time watermark) of known content:

  P0  checkout abandonment and the event-time watermark: two checkouts,
      two events dated two days ahead (dead letters), one checkout paid,
      then ordinary events that move the watermark past the deadline
  P1  the payment-failure ladder, a duplicate, channel hopping;
      phase 2: the 1,000,000-byte record, then a ladder after it
  P2  consents, out-of-order time, long ids, unknown enums, value tiers,
      a customer whose state is inspected with vigilctl; phase 2: a ladder
  P3  the hostile records (limits), then events dated up to a day ahead

All records carry the same Kafka timestamp T (CreateTime, set by the
producer), and event times are given relative to it.
"""

MIN = 60_000
DAY = 86_400_000

WEB, APP, CHAT, PHONE, PAYMENT, EMAIL, STORE = 1, 2, 3, 4, 5, 6, 7
SUCCESS, FAILURE, ABANDONED, PENDING, TIMEOUT = 1, 2, 3, 4, 5
FRUSTRATION, ANGER, CONFUSION, URGENCY, DETRACTOR = 1, 2, 3, 4, 5
GOLD = 3

TENANT = "contract"
LONG_TENANT = "\u00f1" * 64                      # 128 bytes of UTF-8
LONG_CUSTOMER = "long-" + "\u00fc" * 61          # 127 bytes
LONG_IDS = ["\u00e9" * 64,                       # 128 bytes, 64 characters
            "L" * 103,                           # 103 bytes of ASCII
            "\u20ac" * 42 + "zz"]                # 128 bytes, 3-byte characters

# What the default model decides, for the expectations below.
CALLBACK, RETENTION, STATUS = "proactive_callback", "retention_offer", "status_update"
ABSENCE = "checkout_abandoned"


class Record:
    def __init__(self, label, partition, key, value, ev=None, timestamp_ms=None):
        self.label = label
        self.partition = partition
        self.key = key if isinstance(key, (bytes, type(None))) else key.encode("utf-8")
        self.value = value
        self.ev = ev                  # the dict it was encoded from (None: raw)
        self.timestamp_ms = timestamp_ms
        self.offset = None            # filled in by the delivery report


class Expect:
    """One trigger that must be published, exactly (trigger id recomputed
    from the recipe with this cause)."""

    def __init__(self, tenant, customer, intervention, cause, created_ms, firing_label,
                 source_ids=None, channel=None, deadline=False):
        self.tenant = tenant
        self.customer = customer
        self.intervention = intervention
        self.cause = cause
        self.created_ms = created_ms
        self.firing_label = firing_label      # the record whose offset decided it
        self.source_ids = source_ids          # exact lineage.source_event_ids, if given
        self.channel = channel
        self.deadline = deadline


class DeadLetter:
    """A record that must be dead-lettered: kind `validate`, the error
    naming `field` (a regex over the quoted name; None: not checked)."""

    def __init__(self, field, must_truncate=False):
        self.field = field
        self.must_truncate = must_truncate


# The hostile records of P3, one limit each. label -> (field named, how).
# `how` takes the base event dict and returns the changed one (or raw bytes).
def _purposes(n, size):
    return [("p%02d-" % i).ljust(size, "x") for i in range(n)]


LIMIT_CASES = [
    # required ids, 1..128 bytes
    ("event_id-empty", "event_id", lambda e: dict(e, event_id="")),
    ("event_id-129-ascii", "event_id", lambda e: dict(e, event_id="i" * 129)),
    ("event_id-129-bytes-65-chars", "event_id", lambda e: dict(e, event_id="\u00e9" * 64 + "x")),
    ("customer_id-129", "customer_id", lambda e: dict(e, customer_id="c" * 129)),
    ("customer_id-empty", "customer_id", lambda e: dict(e, customer_id="")),
    ("tenant-empty", "tenant", lambda e: dict(e, tenant="")),
    ("tenant-129", "tenant", lambda e: dict(e, tenant="t" * 129)),
    ("event_type-empty", "event_type", lambda e: dict(e, event_type="")),
    ("event_type-129", "event_type", lambda e: dict(e, event_type="e" * 129)),
    # optional strings with a bound
    ("error_code-129", "error_code", lambda e: dict(e, error_code="E" * 129)),
    ("segment-65", r"(descriptive\.)?segment",
     lambda e: dict(e, descriptive={"segment": "s" * 65})),
    # repeated fields
    ("consents-17", "consents", lambda e: dict(e, consents=_purposes(16, 10) + ["service"])),
    ("consent-49-bytes", "consents", lambda e: dict(e, consents=["service", "m" * 49])),
    ("consent-empty", "consents", lambda e: dict(e, consents=["service", ""])),
    ("signals-17", "signals", lambda e: dict(e, signals=[FRUSTRATION] * 17)),
    ("attributes-33", "attributes",
     lambda e: dict(e, attributes=[("k%02d" % i, "v") for i in range(33)])),
    ("attribute-key-empty", "attributes", lambda e: dict(e, attributes=[("", "v")])),
    ("attribute-key-65", "attributes", lambda e: dict(e, attributes=[("k" * 65, "v")])),
    ("attribute-value-257", "attributes", lambda e: dict(e, attributes=[("k", "v" * 257)])),
    # not UTF-8, NUL, control characters (hand-encoded bytes)
    ("event_id-byte-ff", "event_id", lambda e: dict(e, event_id=b"ev-\xff-1")),
    ("event_id-overlong-slash", "event_id", lambda e: dict(e, event_id=b"ev-\xc0\xaf-1")),
    ("event_id-overlong-4-byte", "event_id", lambda e: dict(e, event_id=b"ev-\xf0\x80\x80\xaf")),
    ("event_id-above-u10ffff", "event_id", lambda e: dict(e, event_id=b"ev-\xf4\x90\x80\x80")),
    ("customer_id-surrogate", "customer_id",
     lambda e: dict(e, customer_id=b"cust-\xed\xa0\x80")),
    ("tenant-embedded-nul", "tenant", lambda e: dict(e, tenant=b"con\x00tract")),
    ("event_type-u0001", "event_type", lambda e: dict(e, event_type="page\x01view")),
    ("event_id-newline", "event_id", lambda e: dict(e, event_id="ev\nline")),
    ("error_code-del", "error_code", lambda e: dict(e, error_code="err\x7f")),
    ("error_code-c1-u0085", "error_code", lambda e: dict(e, error_code="err\u0085")),
    ("segment-truncated-utf8", r"(descriptive\.)?segment",
     lambda e: dict(e, descriptive={"segment": b"seg-\xe2\x82"})),
    ("consent-embedded-nul", "consents", lambda e: dict(e, consents=[b"serv\x00ice"])),
    ("attribute-value-u009f", "attributes", lambda e: dict(e, attributes=[("k", "v\u009f")])),
    ("attribute-key-bad-utf8", "attributes", lambda e: dict(e, attributes=[(b"k\xfe", "v")])),
    # event time
    ("event_time-before-2000", "event_time_ms", lambda e: dict(e, event_time_ms=946684799999)),
    ("event_time-missing", "event_time_ms", lambda e: dict(e, event_time_ms=0)),
]
LIMIT_LABELS = [c[0] for c in LIMIT_CASES]


class Scenario:
    def __init__(self, t_ms, encode):
        self.T = t_ms
        self.encode = encode
        self.phase1 = []
        self.phase2 = []
        self.expected = []            # Expect
        self.dead = {}                # label -> DeadLetter
        self.by_label = {}
        self.silent = []              # customers that must get no trigger
        self.build()

    # --- helpers ---------------------------------------------------------------
    def ev(self, eid, cid, dt, channel, etype, outcome, consents=("service",), tenant=TENANT,
           **kw):
        e = dict(event_id=eid, customer_id=cid, tenant=tenant, event_time_ms=self.T + dt,
                 channel=channel, event_type=etype, outcome=outcome, consents=list(consents))
        e.update(kw)
        return e

    def add(self, label, partition, ev, phase=1, value=None, key=None, dead=None):
        if label in self.by_label:
            raise ValueError("duplicate label " + label)
        value = value if value is not None else self.encode(ev)
        if key is None:
            cid = ev["customer_id"] if ev else b""
            key = cid
        rec = Record(label, partition, key, value, ev, self.T)
        (self.phase1 if phase == 1 else self.phase2).append(rec)
        self.by_label[label] = rec
        if dead:
            self.dead[label] = dead
        return rec

    def ladder(self, name, cid, partition, ids=None, times=(-9 * MIN, -5 * MIN, -1 * MIN),
               tenant=TENANT, consents=("service",), phase=1, expect=True, **kw):
        """Three failed web payments within 30 minutes: the third makes it a
        trend, and proactive_callback (threshold 0.6, z = -4 + 3 x 1.5) fires."""
        ids = ids or ["%s-%d" % (name, i + 1) for i in range(len(times))]
        for i, (eid, dt) in enumerate(zip(ids, times)):
            e = self.ev(eid, cid, dt, WEB, "payment", FAILURE, consents, tenant=tenant,
                        error_code="card_declined", **kw)
            self.add("%s-%d" % (name, i + 1), partition, e, phase)
        if expect:
            self.expected.append(Expect(tenant, cid, CALLBACK, ids[-1], self.T + times[-1],
                                        "%s-%d" % (name, len(ids)), source_ids=list(ids),
                                        channel=PHONE))
        return ids

    # --- the traffic ---------------------------------------------------------------
    def build(self):
        T = self.T
        # P0: checkout abandonment against the watermark. a1 pays in time, a2
        # never does. Two events dated two days ahead are dead letters and
        # must not move P0's watermark: a1's deadline must not fire before
        # a1-paid, and a2's fires at b-1, the first record whose event time
        # passes it (T-30m + 10m = T-20m).
        both = ("service", "marketing")
        self.add("a1-checkout", 0, self.ev("a1-checkout", "a1", -30 * MIN, WEB, "checkout",
                                           PENDING, both))
        self.add("a2-checkout", 0, self.ev("a2-checkout", "a2", -30 * MIN, WEB, "checkout",
                                           PENDING, both))
        self.add("f-future", 0, self.ev("f-future", "f", 2 * DAY, WEB, "page_view", SUCCESS),
                 dead=DeadLetter("event_time_ms"))
        self.add("a2-future", 0, self.ev("a2-future", "a2", 2 * DAY, WEB, "page_view", SUCCESS,
                                         both), dead=DeadLetter("event_time_ms"))
        self.add("a1-paid", 0, self.ev("a1-paid", "a1", -25 * MIN, WEB, "payment", SUCCESS,
                                       both))
        self.add("b-1", 0, self.ev("b-1", "b", -19 * MIN, APP, "page_view", SUCCESS))
        self.add("b-2", 0, self.ev("b-2", "b", -10 * MIN, APP, "page_view", SUCCESS))
        self.expected.append(Expect(TENANT, "a2", RETENTION, "absence:%s:a2-checkout" % ABSENCE,
                                    T - 20 * MIN, "b-1", channel=WEB, deadline=True))
        self.silent += [(TENANT, "a1"), (TENANT, "b"), (TENANT, "f")]

        # P1: the worked example of docs/model.md (without tier or churn):
        # z = -4 + 1.5 x 3 = 0.5, one reason payment_failure_trend of 4.5.
        self.ladder("pl", "pl", 1)
        # The same ladder, its third event produced twice: applied once.
        ids = self.ladder("dup", "dup", 1)
        third = self.by_label["dup-3"]
        self.add("dup-3-again", 1, third.ev, value=third.value)
        # Channel hopping: web, chat, phone within 30 minutes, gold tier,
        # churn risk 1: z = -4 + 3.2 + 1.0 + 0.4 = 0.6 -> proactive_callback.
        d = {"value_tier": GOLD, "churn_risk": 1.0, "revenue_weight": 1.0}
        for i, (dt, ch) in enumerate(((-6 * MIN, WEB), (-4 * MIN, CHAT), (-2 * MIN, PHONE))):
            self.add("ch-%d" % (i + 1), 1, self.ev("ch-%d" % (i + 1), "ch", dt, ch, "contact",
                                                   SUCCESS, descriptive=d))
        self.expected.append(Expect(TENANT, "ch", CALLBACK, "ch-3", T - 2 * MIN, "ch-3",
                                    source_ids=["ch-1", "ch-2", "ch-3"], channel=PHONE))

        # P2: a customer whose state vigilctl shows: two of three
        # channel-hopping steps, a pending checkout deadline (due T+9m, and
        # P2 never sees an event time that late), consents of the last event.
        many = ("service", "marketing", "analytics")
        self.add("s-1", 2, self.ev("s-1", "s", -3 * MIN, WEB, "page_view", SUCCESS, many))
        self.add("s-2", 2, self.ev("s-2", "s", -2 * MIN, CHAT, "page_view", SUCCESS, many))
        self.add("s-3", 2, self.ev("s-3", "s", -1 * MIN, APP, "checkout", PENDING,
                                   ("service", "marketing")))
        self.silent.append((TENANT, "s"))
        # `service` as the 5th and as the 16th consent (15 of 48 bytes first).
        self.ladder("c5", "c5", 2, consents=("a", "b", "c", "d", "service"))
        self.ladder("c16", "c16", 2, consents=tuple(_purposes(15, 48)) + ("service",))
        # The control: no `service` consent, no callback (and no status update).
        self.ladder("nocons", "nocons", 2, consents=("marketing",), expect=False)
        self.silent.append((TENANT, "nocons"))
        # Out of order: the third failure is 90 s older than the second
        # (within the model's 2 min lateness) and decides; created_ms is its time.
        # (Its lineage order is not asserted: "newest last" and "deciding
        # event last" disagree here; test_created_ms_of_an_out_of_order_event
        # checks the set and that the deciding event is last.)
        self.ladder("ooo", "ooo", 2, times=(-8 * MIN, -3 * MIN, -4 * MIN - 30_000))
        self.expected[-1].source_ids = None
        # Long ids: 128-byte tenant, 127-byte customer, event ids of 128
        # (multibyte), 103 and 128 bytes: all come back whole.
        self.ladder("long", LONG_CUSTOMER, 2, ids=LONG_IDS, tenant=LONG_TENANT)
        # Value tier 9 (unknown) scores exactly like no tier.
        self.ladder("vt9", "vt9", 2, descriptive={"value_tier": 9, "churn_risk": 0.25,
                                                  "revenue_weight": 1.0})
        self.ladder("vt0", "vt0", 2, descriptive={"churn_risk": 0.25, "revenue_weight": 1.0})
        # Unknown enum values are UNSPECIFIED, not dead letters: outcome 42
        # (not a failure), channel 99 and signal 77 on failures that count.
        self.add("unk-0", 2, self.ev("unk-0", "unk", -10 * MIN, WEB, "payment", 42))
        self.add("unk-1", 2, self.ev("unk-1", "unk", -9 * MIN, 99, "payment", FAILURE))
        self.add("unk-2", 2, self.ev("unk-2", "unk", -5 * MIN, WEB, "payment", FAILURE,
                                     signals=[77]))
        self.add("unk-3", 2, self.ev("unk-3", "unk", -1 * MIN, WEB, "payment", FAILURE))
        self.expected.append(Expect(TENANT, "unk", CALLBACK, "unk-3", T - MIN, "unk-3",
                                    source_ids=["unk-1", "unk-2", "unk-3"], channel=PHONE))
        # Every bound at its maximum, multibyte text: accepted.
        self.add("max-ok", 2, dict(
            event_id="\U0001F600" * 32,                        # 128 bytes, 4-byte characters
            customer_id="m" * 128, tenant="T" * 128, event_time_ms=T - 2 * MIN,
            channel=STORE, event_type="e" * 128, outcome=SUCCESS,
            error_code="\u20ac" * 42 + "ab",                   # 128 bytes
            signals=[URGENCY] * 16,
            consents=_purposes(16, 48),
            descriptive={"segment": "\u00a0" + "\U0001F600" * 15 + "xx", "tenure_months": 7},
            attributes=[(("k%02d" % i).ljust(64, "k"), "\u00fc" * 128) for i in range(32)]))
        self.silent.append(("T" * 128, "m" * 128))

        # P3: one limit broken per record.
        for label, field, how in LIMIT_CASES:
            n = len(self.dead)
            base = self.ev("bad-%02d" % n, "bad-%02d" % n, -MIN, WEB, "page_view", SUCCESS)
            e = how(base)
            self.add(label, 3, e, key=e["customer_id"] if isinstance(e["customer_id"], bytes)
                     else e["customer_id"].encode("utf-8"), dead=DeadLetter(field))
        # The record value: 65536 bytes is accepted, 65537 is not.
        for label, size in (("size-65536", 65536), ("size-65537", 65537)):
            e = self.ev(label, label, -MIN, WEB, "page_view", SUCCESS)
            e["_unknown"] = [(99, b"")]
            pad = size - len(self.encode(e))
            e["_unknown"] = [(99, b"p" * (pad - 2))]    # a 3-byte length instead of 1
            assert len(self.encode(e)) == size, (label, len(self.encode(e)))
            self.add(label, 3, e, dead=DeadLetter(None) if size > 65536 else None)
        # Event time against the record's Kafka timestamp: at most a day ahead.
        self.add("future-1d-1m", 3, self.ev("future-1d-1m", "fut-late", DAY + MIN, WEB,
                                            "page_view", SUCCESS),
                 dead=DeadLetter("event_time_ms"))
        self.add("future-1d-minus-1m", 3, self.ev("future-1d-minus-1m", "fut-ok", DAY - MIN, WEB,
                                                  "page_view", SUCCESS))
        self.silent.append((TENANT, "fut-ok"))

        # Phase 2: a 1,000,000-byte event id (a dead letter too large to
        # copy whole), then ordinary ladders on its partition and another.
        huge = self.ev("x" * 1_000_000, "huge", -MIN, WEB, "page_view", SUCCESS)
        self.huge_value = self.encode(huge)
        self.add("huge", 1, huge, phase=2, value=self.huge_value,
                 dead=DeadLetter("event_id", must_truncate=True))
        self.ladder("after1", "after1", 1, phase=2)
        self.ladder("after2", "after2", 2, phase=2)


class StoppedPartitionScenario(Scenario):
    """The traffic of test_stopped_partition.py: a record whose dead letter
    the broker refuses stops its partition (P0); P1 and P2 keep moving.

      phase 1  P0: ladder pre0 (offsets 0-2); P1: ladder pre1. Both fire,
               and the group commits P0 up to 3 before the bad record.
      phase 2  P0: `bad` at offset 3, an event whose event_id is 3,000
               random letters and digits (over the 128-byte limit, so it
               is dead-lettered whole, and the dead letter is over the
               dead-letter topic's max.message.bytes of 2000), then ladder
               mid0. P1: ladder mid1; P2: ladder mid2.
      phase 3  (produced once P0 is stopped) P0: ladder late0; P1: late1;
               P2: late2.

    The bad event_id is random text, not one letter repeated: the worker's
    producer compresses with lz4, and a run of one letter would shrink
    below the 2000 bytes the broker checks, so the broker would take it.
    """

    BAD_ID_BYTES = 3000

    def __init__(self, t_ms, encode):
        self.phases = {1: [], 2: [], 3: []}
        Scenario.__init__(self, t_ms, encode)

    def add(self, label, partition, ev, phase=1, value=None, key=None, dead=None):
        if label in self.by_label:
            raise ValueError("duplicate label " + label)
        value = value if value is not None else self.encode(ev)
        if key is None:
            key = ev["customer_id"] if ev else b""
        rec = Record(label, partition, key, value, ev, self.T)
        self.phases[phase].append(rec)
        self.by_label[label] = rec
        if dead:
            self.dead[label] = dead
        return rec

    def build(self):
        import random
        import string
        self.ladder("pre0", "pre0", 0, phase=1)
        self.ladder("pre1", "pre1", 1, phase=1)
        rnd = random.Random(8)   # fixed: the same bytes every run
        bad_id = "".join(rnd.choice(string.ascii_letters + string.digits)
                         for _ in range(self.BAD_ID_BYTES))
        self.add("bad", 0, self.ev(bad_id, "bad", -10 * MIN, WEB, "page_view", SUCCESS),
                 phase=2, dead=DeadLetter("event_id"))
        self.ladder("mid0", "mid0", 0, phase=2, expect=False)
        self.ladder("mid1", "mid1", 1, phase=2)
        self.ladder("mid2", "mid2", 2, phase=2)
        self.ladder("late0", "late0", 0, phase=3, expect=False)
        self.ladder("late1", "late1", 1, phase=3)
        self.ladder("late2", "late2", 2, phase=3)
        self.silent += [(TENANT, "mid0"), (TENANT, "late0"), (TENANT, "bad")]
