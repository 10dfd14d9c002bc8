"""A tiny protobuf wire encoder for vigil.v1.InteractionEvent.

Python's protobuf runtime refuses to serialise a string field that is not
valid UTF-8, so the hostile events (invalid UTF-8, surrogates, overlong
forms) are encoded here by hand: tag = field << 3 | wire type, varint
lengths, raw bytes. Valid events go through the same encoder, and the suite
checks that for them it gives the very bytes Python's protobuf gives
(test_wire_encoder_matches_protobuf), so the encoder itself is tested.

An event is a dict with the keys of event.proto (strings may be str or
bytes; bytes are written as they are), plus "_unknown": [(field, bytes)]
for unknown length-delimited fields (padding a record to a size).
"""

import struct

VARINT, I64, LEN = 0, 1, 2

# event.proto field numbers
EVENT_FIELDS = {
    "event_id": 1, "customer_id": 2, "tenant": 3, "event_time_ms": 4, "channel": 5,
    "event_type": 6, "outcome": 7, "error_code": 8, "signals": 9, "consents": 10,
    "descriptive": 11, "attributes": 12,
}
DESCRIPTIVE_FIELDS = {"value_tier": 1, "tenure_months": 2, "segment": 3,
                      "revenue_weight": 4, "churn_risk": 5}


def varint(n):
    if n < 0:  # int64/enum negatives: ten-byte two's complement
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wire_type):
    return varint(field << 3 | wire_type)


def raw(s):
    return s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8")


def len_field(field, payload):
    payload = raw(payload)
    return tag(field, LEN) + varint(len(payload)) + payload


def varint_field(field, n):
    return tag(field, VARINT) + varint(n)


def double_field(field, x):
    return tag(field, I64) + struct.pack("<d", x)


def encode_descriptive(d):
    out = b""
    if d.get("value_tier"):
        out += varint_field(1, d["value_tier"])
    if d.get("tenure_months"):
        out += varint_field(2, d["tenure_months"])
    if d.get("segment"):
        out += len_field(3, d["segment"])
    if d.get("revenue_weight"):
        out += double_field(4, d["revenue_weight"])
    if d.get("churn_risk"):
        out += double_field(5, d["churn_risk"])
    return out


def encode_event(ev):
    """Encode ev in field-number order, as protobuf runtimes do (proto3:
    default values are not written, repeated enums are packed)."""
    out = b""
    for name in ("event_id", "customer_id", "tenant"):
        if ev.get(name):
            out += len_field(EVENT_FIELDS[name], ev[name])
    if ev.get("event_time_ms"):
        out += varint_field(4, ev["event_time_ms"])
    if ev.get("channel"):
        out += varint_field(5, ev["channel"])
    if ev.get("event_type"):
        out += len_field(6, ev["event_type"])
    if ev.get("outcome"):
        out += varint_field(7, ev["outcome"])
    if ev.get("error_code"):
        out += len_field(8, ev["error_code"])
    if ev.get("signals"):
        out += len_field(9, b"".join(varint(s) for s in ev["signals"]))
    for c in ev.get("consents", ()):
        out += len_field(10, c)
    d = encode_descriptive(ev.get("descriptive") or {})
    if d:
        out += len_field(11, d)
    for k, v in ev.get("attributes", ()):
        a = b""
        if k:
            a += len_field(1, k)
        if v:
            a += len_field(2, v)
        out += len_field(12, a)
    for field, payload in ev.get("_unknown", ()):
        out += len_field(field, payload)
    return out


def to_protobuf(ev, event_pb2):
    """The same event built with Python's protobuf (valid UTF-8 only)."""
    m = event_pb2.InteractionEvent()
    for name in ("event_id", "customer_id", "tenant", "event_type", "error_code"):
        if ev.get(name):
            setattr(m, name, ev[name])
    if ev.get("event_time_ms"):
        m.event_time_ms = ev["event_time_ms"]
    if ev.get("channel"):
        m.channel = ev["channel"]
    if ev.get("outcome"):
        m.outcome = ev["outcome"]
    m.signals.extend(ev.get("signals", ()))
    m.consents.extend(ev.get("consents", ()))
    d = ev.get("descriptive")
    if d:
        for k in DESCRIPTIVE_FIELDS:
            if d.get(k):
                setattr(m.descriptive, k, d[k])
    for k, v in ev.get("attributes", ()):
        m.attributes.add(key=k, value=v)
    return m
