#!/usr/bin/env python3
"""Agreement between Vigil's triggers and a peer's, on the same input.

  compare.py --bootstrap HOST:PORT --vigil-topic T1 --peer-topic T2
             [--show N] [--min 0.99] [--require] [--idle-ms 3000]

Reads both triggers topics whole (read_committed, no consumer group
commits), decodes vigil.v1.InterventionTrigger (classes generated from
schemas/ at run time) and compares the sets of trigger_id. Absence
triggers are left out on both sides (the peers do not implement deadlines):
intervention retention_offer with a reason code checkout_abandoned.

Absence trigger ids are compared on stderr when the peer publishes some.
Prints one line on stdout:

  AGREEMENT value=<|both| / |union|> vigil=<ids> peer=<ids> both=<ids>

(value is 1 when both sides are empty). Details go to stderr: records read,
duplicates, absence triggers left out, and with --show N up to N ids found
on one side only, with their intervention, customer and cause. Exit status
0, or 1 with --require when value < --min (default 0.99), 2 on error.
"""
import argparse
import os
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))
import schema  # noqa: E402


def read_topic(bootstrap, topic, Trigger, idle_ms):
    """{trigger_id: trigger} of the non-absence triggers, the set of the
    absence trigger ids, and counts."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compare-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    try:
        md = c.list_topics(topic, timeout=10)
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None:
            raise SystemExit("compare: topic %s: %s" % (topic, tmd.error if tmd else "not found"))
        parts = sorted(tmd.partitions)
        c.assign([TopicPartition(topic, p, -2) for p in parts])   # -2: the beginning
        eof = set()
        got = {}
        absent = set()
        n = dup = absence = 0
        last = time.monotonic()
        while len(eof) < len(parts) and time.monotonic() - last < idle_ms / 1000.0:
            for m in c.consume(num_messages=1000, timeout=0.2):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                        continue
                    raise KafkaException(err)
                last = time.monotonic()
                eof.discard(m.partition())
                n += 1
                t = Trigger.FromString(m.value())
                if t.intervention == "retention_offer" and any(
                        r.code == "checkout_abandoned" for r in t.reasons):
                    absence += 1
                    absent.add(t.trigger_id)
                    continue
                if t.trigger_id in got:
                    dup += 1
                got[t.trigger_id] = t
        if len(eof) < len(parts):
            sys.stderr.write("compare: %s: stopped after %d ms without records before the end of "
                             "every partition\n" % (topic, idle_ms))
        return got, absent, {"records": n, "duplicates": dup, "absence": absence}
    finally:
        c.close()


def describe(t):
    return "%s %s customer=%s created_ms=%d channel=%d score=%.4f cause=%s" % (
        t.trigger_id, t.intervention, t.customer_id, t.created_ms, t.channel, t.score,
        t.lineage.source_event_ids[-1] if t.lineage.source_event_ids else "?")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--vigil-topic", required=True)
    ap.add_argument("--peer-topic", required=True)
    ap.add_argument("--show", type=int, default=0, help="list up to N ids found on one side only")
    ap.add_argument("--min", type=float, default=0.99)
    ap.add_argument("--require", action="store_true", help="exit 1 below --min")
    ap.add_argument("--idle-ms", type=int, default=3000)
    a = ap.parse_args(argv)

    _, trigger_pb2 = schema.load()
    Trigger = trigger_pb2.InterventionTrigger
    vigil, vigil_abs, vs = read_topic(a.bootstrap, a.vigil_topic, Trigger, a.idle_ms)
    peer, peer_abs, ps = read_topic(a.bootstrap, a.peer_topic, Trigger, a.idle_ms)
    both = vigil.keys() & peer.keys()
    union = vigil.keys() | peer.keys()
    value = len(both) / len(union) if union else 1.0
    sys.stderr.write("compare: vigil %s: %s\ncompare: peer %s: %s\n"
                     % (a.vigil_topic, vs, a.peer_topic, ps))
    if peer_abs:   # a peer that decides deadlines: its ids should be Vigil's
        sys.stderr.write("compare: absence triggers (left out): vigil=%d peer=%d both=%d\n"
                         % (len(vigil_abs), len(peer_abs), len(vigil_abs & peer_abs)))
    if a.show:
        for name, side, other in (("vigil only", vigil, peer), ("peer only", peer, vigil)):
            only = sorted(side.keys() - other.keys(), key=lambda k: (side[k].customer_id,
                                                                    side[k].created_ms))
            sys.stderr.write("compare: %s: %d\n" % (name, len(only)))
            for k in only[:a.show]:
                sys.stderr.write("  " + describe(side[k]) + "\n")
    print("AGREEMENT value=%.4f vigil=%d peer=%d both=%d" % (value, len(vigil), len(peer), len(both)),
          flush=True)
    return 1 if a.require and value < a.min else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KafkaException as e:
        sys.stderr.write("compare: %s\n" % e)
        sys.exit(2)
