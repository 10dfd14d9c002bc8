"""Checks of the hard-coded rules against docs/model.md's worked example and
docs/triggers.md's trigger id vectors. Run: pytest benchmarks/peers/python"""
import math

import rules
import schema

event_pb2, _ = schema.load()
T0 = 1767225600000 + 12 * 3600 * 1000          # 12:00
MIN = 60000


def ev(eid, minute, event_type="payment", outcome=2, channel=1, consents=("service",),
       signals=(), tier=2, churn=0.2):
    e = event_pb2.InteractionEvent(event_id=eid, customer_id="c1", tenant="acme",
                                   event_time_ms=T0 + int(minute * MIN), channel=channel,
                                   event_type=event_type, outcome=outcome,
                                   consents=list(consents), signals=list(signals))
    e.descriptive.value_tier = tier
    e.descriptive.churn_risk = churn
    return e


def test_trigger_id_vectors():
    assert rules.trigger_id("acme", "c1", "proactive_callback", "ev-2") == \
        "a1ebac1cccadae31d1cb534da9719df3"
    assert rules.trigger_id("acme", "c1", "retention_offer", "absence:checkout_abandoned:ev-7") == \
        "058a822cfb1f0a90f9c3b0530cf3861d"


def test_worked_example():
    st = rules.new_state()
    rec = T0 + 10 * MIN                      # record times: not stale
    assert rules.apply_event(st, ev("e1", 0), rec) is None
    assert rules.apply_event(st, ev("e2", 5), rec) is None       # status_update below 0.5
    d = rules.apply_event(st, ev("e3", 9), rec)
    assert d.iv.name == "proactive_callback"
    assert d.channel == rules.CH_PHONE
    assert abs(d.propensity - 1 / (1 + math.exp(-0.7))) < 1e-9
    assert abs(d.priority - d.propensity * 1.2 * 1.2) < 1e-9
    assert d.level == 3
    assert [r[0] for r in d.reasons] == ["payment_failure_trend", "churn_risk"]
    assert d.reasons[0][2] == "3 payment_failure within 30 min (trend)"
    d = rules.apply_event(st, ev("e4", 10), rec)                  # callback in cooldown
    assert d.iv.name == "status_update" and d.channel == rules.CH_WEB


def test_late_and_consent():
    st = rules.new_state()
    rec = T0
    rules.apply_event(st, ev("e1", 10), rec)
    # Older than the newest event by more than 2 minutes: not counted.
    for i in range(3):
        assert rules.apply_event(st, ev("l%d" % i, 0), rec) is None
    assert st["w"][0] == [T0 + 10 * MIN]
    st = rules.new_state()
    for i in range(3):                                            # no consent: nothing fires
        assert rules.apply_event(st, ev("n%d" % i, i, consents=("marketing",)), rec) is None


def test_channel_hopping():
    st = rules.new_state()
    rec = T0
    assert rules.apply_event(st, ev("h1", 0, "page_view", 1, rules.CH_WEB), rec) is None
    assert rules.apply_event(st, ev("h2", 5, "chat", 1, rules.CH_CHAT), rec) is None
    d = rules.apply_event(st, ev("h3", 12, "call", 1, rules.CH_PHONE), rec)
    # z = -4 + 3.2 + 0.2 = -0.6: below the callback's 0.6.
    assert d is None
    st = rules.new_state()
    rules.apply_event(st, ev("g1", 0, "page_view", 1, rules.CH_WEB, tier=4, churn=0.9), rec)
    rules.apply_event(st, ev("g2", 5, "chat", 1, rules.CH_CHAT, tier=4, churn=0.9), rec)
    d = rules.apply_event(st, ev("g3", 12, "call", 1, rules.CH_PHONE, tier=4, churn=0.9), rec)
    assert d.iv.name == "proactive_callback"                       # -4+3.2+0.9+0.4 = 0.5


def test_checkout_abandoned():
    # docs/model.md: silver, churn 0.2, consents service and marketing;
    # checkout pending at 13:00, no payment; the watermark passes 13:10.
    st = rules.new_state()
    both = ("service", "marketing")
    start = ev("k1", 60, "checkout", 4, rules.CH_WEB, consents=both)
    assert rules.apply_event(st, start, T0) is None
    due = start.event_time_ms + 10 * MIN
    assert rules.fire_due(st, due - 1, due - 1) is None            # not yet
    d = rules.fire_due(st, due + 5, due + 5)
    assert d.iv.name == "retention_offer" and d.channel == rules.CH_WEB
    assert abs(d.propensity - 1 / (1 + math.exp(-0.4))) < 1e-9
    assert d.created_ms == due and d.cause == "absence:checkout_abandoned:k1"
    assert d.reasons[0][0] == "checkout_abandoned"
    assert st["b"] is None
    # Two failed payments and a detractor answer: z = -4 + 3.0 + 2.2 + 0.2,
    # enough for a retention_offer, but it is in its 24 h cooldown.
    rules.apply_event(st, ev("k3", 70, consents=both), T0)
    rules.apply_event(st, ev("k4", 72, consents=both), T0)
    survey = ev("k2", 80, "survey", 1, rules.CH_EMAIL, consents=both, signals=(5,))
    assert rules.apply_event(st, survey, T0) is None


def test_checkout_paid():
    st = rules.new_state()
    both = ("service", "marketing")
    rules.apply_event(st, ev("p1", 60, "checkout", 4, consents=both), T0)
    rules.apply_event(st, ev("p2", 62, "payment", 1, rules.CH_PAYMENT, consents=both), T0)
    assert st["b"] is None
    rules.apply_event(st, ev("p4", 70, consents=both), T0)
    rules.apply_event(st, ev("p5", 72, consents=both), T0)
    survey = ev("p3", 80, "survey", 1, rules.CH_EMAIL, consents=both, signals=(5,))
    d = rules.apply_event(st, survey, T0)
    assert d.iv.name == "retention_offer" and d.channel == rules.CH_EMAIL
