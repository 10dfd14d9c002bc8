#!/usr/bin/env python3
"""The Python peer of Vigil's worker (issue 10): the same job, written as a
team would write it in Python.

  peer.py --bootstrap HOST:PORT --redis HOST:PORT --events-topic T
          --triggers-topic T2 --group G --mode at_least_once|exactly_once
          --expect N [--key-prefix P] [--batch 500]
          [--commit-interval-ms 100] [--dead-letter-topic T3]

confluent-kafka consumes InteractionEvents (protobuf classes generated from
schemas/ at start, schema.py), a batch at a time. Per batch: decode and
validate; group by customer; one MGET of the batch's customers' states
(compact JSON, one key per customer under the key prefix); the default
model's rules (rules.py) per event in offset order; one MULTI/EXEC pipeline
of SETs for the states that changed; the triggers produced keyed by
customer id. Then:

  at_least_once  flush the producer, commit the batch's offsets (sync).
  exactly_once   a transactional producer; the consumed offsets go into
                 the transaction (send_offsets_to_transaction with the
                 consumer group metadata); a transaction spans the batches
                 of --commit-interval-ms (default 100 ms, as Kafka Streams
                 under EOS).

The state keeps the last applied offset per partition and the triggers of
decisions not yet known to be committed, so a batch replayed after a crash
or an aborted transaction is not applied twice and re-emits the same
triggers (Vigil's replay rule, DESIGN.md). There is no compare-and-set:
unlike Vigil, a zombie instance is not fenced at Redis. Checkout deadlines
are decided at the customer's next record once the partition's event-time
watermark (kept in the commit metadata, "wm=<ms>") has passed them
(rules.fire_due): there is no deadline index.

It consumes from the earliest offset with the given (fresh) group, stops
once it has consumed and committed N records (valid or not), and prints one
line on stdout:

  PEER name=python mode=<mode> events=<N> seconds=<s> eps=<N/s> triggers=<count>

seconds runs from the first record polled to the last commit. Progress and
counts go to stderr.
"""
import argparse
import base64
import json
import os
import resource
import signal
import socket
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from google.protobuf.message import DecodeError
import redis

import rules
import schema

STATE_TTL_S = 7 * 86400          # Vigil's state.ttl_s default
JUMP_MS = 3600 * 1000            # watermark jumps kept (see Peer.at_watermark)
# One compact encoder, made once (json.dumps with options builds one per call).
encode_state = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def log(fmt, *args):
    sys.stderr.write("[peer-python] " + (fmt % args if args else fmt) + "\n")
    sys.stderr.flush()


def host_port(s):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % s)
    return host, int(port)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Vigil's Python peer (benchmarks/peers/python)")
    ap.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, HOST:PORT")
    ap.add_argument("--redis", required=True, type=host_port, help="Redis HOST:PORT")
    ap.add_argument("--events-topic", required=True)
    ap.add_argument("--triggers-topic", required=True)
    ap.add_argument("--group", required=True, help="consumer group (fresh: starts at earliest)")
    ap.add_argument("--mode", required=True, choices=("at_least_once", "exactly_once"))
    ap.add_argument("--expect", required=True, type=int, help="stop after N records committed")
    ap.add_argument("--key-prefix", default="peer-python", help="Redis key prefix")
    ap.add_argument("--batch", type=int, default=500, help="records per batch (default 500)")
    ap.add_argument("--commit-interval-ms", type=int, default=100,
                    help="exactly_once: a transaction spans this long (default 100)")
    ap.add_argument("--dead-letter-topic", default=None,
                    help="send invalid records there (default: skip and count them)")
    a = ap.parse_args(argv)
    if a.expect < 1 or a.batch < 1 or a.commit_interval_ms < 0:
        ap.error("--expect and --batch must be positive, --commit-interval-ms >= 0")
    return a


class Peer:
    def __init__(self, args):
        self.a = args
        self.eos = args.mode == "exactly_once"
        self.event_pb2, self.trigger_pb2 = schema.load()
        self.Event = self.event_pb2.InteractionEvent
        self.Trigger = self.trigger_pb2.InterventionTrigger
        self.worker_id = "python-peer-%s-%d" % (socket.gethostname(), os.getpid())
        self.stop = False

        common = {"bootstrap.servers": args.bootstrap}
        self.consumer = Consumer(dict(common, **{
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            "fetch.wait.max.ms": 50,
        }))
        pconf = dict(common, **{
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.timeout.ms": 60000,
            "on_delivery": self._delivered,
        })
        if self.eos:
            pconf["transactional.id"] = "vigil-peer-python-%s" % args.group
        self.producer = Producer(pconf)
        self.redis = redis.Redis(host=args.redis[0], port=args.redis[1])
        self.redis.ping()

        # Offsets: next to consume per partition, consumed but not yet
        # committed, and the committed floor (decisions below it are known
        # committed and trimmed from the states).
        self.pending = {}
        self.floor = {}
        # Event-time watermark per partition (the highest event time of its
        # valid records, for the checkout deadlines), at the committed
        # offset, and its jumps of more than an hour.
        self.wm = {}
        self.wm_floor = {}
        self.jumps = {}
        self.in_txn = False
        self.txn_started = 0.0
        self.delivery_errors = 0
        # Records and triggers of the open transaction: an abort takes them back.
        self.uncommitted = [0, 0]
        self.counts = {"consumed": 0, "invalid": 0, "duplicate": 0,
                       "replayed": 0, "deadlines": 0, "triggers": 0, "batches": 0, "txns": 0}
        # Seconds spent per stage (stderr at the end).
        self.stages = dict.fromkeys(("poll", "decode", "load", "score", "store", "produce",
                                     "commit"), 0.0)

    # --- Kafka --------------------------------------------------------------

    def _delivered(self, err, msg):
        if err is not None:
            self.delivery_errors += 1
            log("delivery failed: %s", err)

    def _on_assign(self, consumer, parts):
        log("assigned %s", sorted(p.partition for p in parts))

    def _on_revoke(self, consumer, parts):
        # Everything consumed so far is processed: commit it before giving
        # the partitions up.
        log("revoked %s", sorted(p.partition for p in parts))
        if self.pending:
            self.commit()
        for tp in parts:   # a later owner starts from the committed offset and watermark
            for d in (self.floor, self.wm, self.wm_floor, self.jumps):
                d.pop(tp.partition, None)

    def produce(self, topic, key, value, headers=None):
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers)
                return
            except BufferError:
                self.producer.poll(0.05)   # the local queue is full: let it drain

    def commit(self):
        """Commit the pending offsets (and the open transaction)."""
        offsets = [TopicPartition(self.a.events_topic, p, o, metadata="wm=%d" % self.wm[p])
                   for p, o in self.pending.items()]
        if self.eos:
            if not self.in_txn:
                self.begin()
            try:
                self.producer.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata())
                self.producer.commit_transaction()
            except KafkaException as e:
                self.txn_failed(e)
                return False
            self.in_txn = False
            self.counts["txns"] += 1
        else:
            self.producer.flush()
            if self.delivery_errors:
                raise SystemExit("peer: %d trigger(s) not delivered" % self.delivery_errors)
            if offsets:
                self.consumer.commit(offsets=offsets, asynchronous=False)
        self.floor.update(self.pending)
        for p in self.pending:
            self.wm_floor[p] = self.wm[p]
        self.pending.clear()
        self.uncommitted = [0, 0]
        return True

    def begin(self):
        self.producer.begin_transaction()
        self.in_txn = True
        self.txn_started = time.monotonic()

    def txn_failed(self, e):
        """An abortable transaction error: abort, rewind to the committed
        offsets; the replay rule makes the retry exact."""
        err = e.args[0]
        if err.fatal() or not err.txn_requires_abort():
            raise SystemExit("peer: transaction failed: %s" % err)
        log("transaction aborted: %s; rewinding", err)
        self.producer.abort_transaction()
        self.in_txn = False
        for p in self.pending:
            self.consumer.seek(TopicPartition(self.a.events_topic, p, self.floor[p]))
            self.wm[p] = self.wm_floor[p]
        self.counts["consumed"] -= self.uncommitted[0]
        self.counts["triggers"] -= self.uncommitted[1]
        self.uncommitted = [0, 0]
        self.pending.clear()

    # --- one batch ------------------------------------------------------------

    def state_key(self, tenant, customer):
        return "%s:%d:%s:%s" % (self.a.key_prefix, len(tenant), tenant, customer)

    def decode(self, msg, record_ms):
        """(event, None) or (None, (kind, reason))."""
        value = msg.value()
        if not value:
            return None, ("decode", "empty payload")
        if len(value) > rules.EVENT_MAX_BYTES:
            return None, ("validate", "record value of %d bytes, larger than %d"
                          % (len(value), rules.EVENT_MAX_BYTES))
        try:
            ev = self.Event.FromString(value)
        except DecodeError as e:
            return None, ("decode", "payload of %d bytes is not a vigil.v1.InteractionEvent (%s)"
                          % (len(value), e))
        why = rules.validate(ev, msg.key(), record_ms)
        if why:
            return None, ("validate", why)
        return ev, None

    def dead_letter(self, msg, kind, why):
        self.counts["invalid"] += 1
        if self.a.dead_letter_topic:
            self.produce(self.a.dead_letter_topic, msg.key(), msg.value(), [
                ("vigil.error", why.encode()), ("vigil.error.kind", kind.encode()),
                ("vigil.source.topic", msg.topic().encode()),
                ("vigil.source.partition", str(msg.partition()).encode()),
                ("vigil.source.offset", str(msg.offset()).encode()),
                ("vigil.worker", self.worker_id.encode())])

    def trigger(self, tenant, customer_id, dec, partition, offset):
        """The encoded InterventionTrigger of a decision."""
        iv = dec.iv
        t = dec.created_ms
        trg = self.Trigger(
            trigger_id=rules.trigger_id(tenant, customer_id, iv.name, dec.cause),
            customer_id=customer_id, tenant=tenant, intervention=iv.name,
            score=dec.propensity, priority_score=dec.priority,
            priority=rules.priority_bucket(dec.priority), valid_until_ms=t + iv.valid_for,
            created_ms=t, channel=dec.channel, escalation_level=dec.level)
        for code, contribution, detail in dec.reasons:
            trg.reasons.add(code=code, contribution=contribution, detail=detail)
        lin = trg.lineage
        lin.source_event_ids.append(dec.cause_event_id)
        lin.channels.append(dec.cause_channel)
        lin.purpose = iv.purpose
        lin.model_id = rules.MODEL_ID
        lin.model_version = rules.MODEL_VERSION
        lin.worker_id = self.worker_id
        lin.destination = self.a.triggers_topic
        lin.source_topic = self.a.events_topic
        lin.source_partition = partition
        lin.source_offset = offset
        return trg.SerializeToString()

    # --- event-time watermarks ------------------------------------------------

    def watermark_start(self, p):
        """A partition's watermark where its committed offset left it: the
        commit metadata "wm=<ms>" (Vigil's convention), 0 if none."""
        tp = self.consumer.committed([TopicPartition(self.a.events_topic, p)], timeout=10)[0]
        md = tp.metadata or ""
        wm = int(md[3:]) if md.startswith("wm=") and md[3:].isdigit() else 0
        self.wm[p] = self.wm_floor[p] = wm
        self.jumps[p] = []
        log("partition %d: committed offset %d, watermark %d", p, tp.offset, wm)
        return wm

    def at_watermark(self, p, due):
        """The watermark of the first record of partition p that reached
        due. Only a jump of more than an hour (retention_offer's
        stale_after) can make that record stale, so only those are kept."""
        for prev, new in self.jumps[p]:
            if prev < due <= new:
                return new
        return due

    def decided(self, st, ev, dec, p, o, out):
        """Keep a decision's trigger in the state (for a replay) and send it."""
        value = self.trigger(ev.tenant, ev.customer_id, dec, p, o)
        st["x"].append([p, o, base64.b64encode(value).decode("ascii")])
        out.append((ev.customer_id, value))
        if dec.deadline:
            self.counts["deadlines"] += 1

    def process(self, msgs):
        t0 = time.perf_counter()
        counts = self.counts
        groups = {}
        for m in msgs:
            if m.error() is not None:
                err = m.error()
                if err.fatal():
                    raise SystemExit("peer: consumer: %s" % err)
                log("consumer: %s", err)
                continue
            counts["consumed"] += 1
            self.uncommitted[0] += 1
            p, o = m.partition(), m.offset()
            self.pending[p] = o + 1
            self.floor.setdefault(p, o)    # below the first record: committed already
            ts = m.timestamp()[1]
            record_ms = ts if ts > 0 else 0
            ev, bad = self.decode(m, record_ms)
            if bad:
                self.dead_letter(m, *bad)
                continue
            wm = self.wm.get(p)
            if wm is None:
                wm = self.watermark_start(p)
            t = ev.event_time_ms
            if t > wm:
                if t - wm > JUMP_MS:
                    jumps = self.jumps[p]
                    jumps.append((wm, t))
                    del jumps[:-64]
                self.wm[p] = wm = t
            g = groups.get((ev.tenant, ev.customer_id))
            if g is None:
                groups[(ev.tenant, ev.customer_id)] = g = []
            g.append((ev, p, o, record_ms, wm))
        clock = time.perf_counter
        stages = self.stages
        t1 = clock()
        stages["decode"] += t1 - t0
        if not groups:
            return

        keys = [self.state_key(t, c) for t, c in groups]
        blobs = self.redis.mget(keys)
        t2 = clock()
        stages["load"] += t2 - t1
        pipe = self.redis.pipeline(transaction=True)
        out = []
        floor = self.floor
        for key, blob, items in zip(keys, blobs, groups.values()):
            st = json.loads(blob) if blob else rules.new_state()
            changed = False
            x = st["x"]
            if x:   # decisions below the committed offsets will not be replayed
                keep = [d for d in x if d[1] >= floor.get(d[0], 0)]
                if len(keep) != len(x):
                    st["x"] = keep
                    changed = True
            applied = st["a"]
            for ev, p, o, record_ms, wm in items:
                sp = str(p)
                # A checkout deadline the watermark passed is decided first.
                if st["b"] is not None and st["b"][1] <= wm:
                    changed = True
                    dec = rules.fire_due(st, wm, self.at_watermark(p, st["b"][1]))
                    if dec is not None:
                        self.decided(st, ev, dec, p, o, out)
                if o <= applied.get(sp, -1):
                    # Applied before (a replay): re-emit its stored triggers.
                    counts["replayed"] += 1
                    for d in st["x"]:
                        if d[0] == p and d[1] == o:
                            out.append((ev.customer_id, base64.b64decode(d[2])))
                    continue
                changed = True
                applied[sp] = o
                if rules.seen(st, ev.event_id):
                    counts["duplicate"] += 1
                    continue
                dec = rules.apply_event(st, ev, record_ms)
                rules.remember(st, ev.event_id)
                if dec is not None:
                    self.decided(st, ev, dec, p, o, out)
                # A deadline this event set already behind the watermark.
                if st["b"] is not None and st["b"][1] <= wm:
                    dec = rules.fire_due(st, wm, self.at_watermark(p, st["b"][1]))
                    if dec is not None:
                        self.decided(st, ev, dec, p, o, out)
            if changed:
                pipe.execute_command("SET", key, encode_state(st),
                                     "EX", STATE_TTL_S)
        t3 = clock()
        stages["score"] += t3 - t2
        pipe.execute()
        t4 = clock()
        stages["store"] += t4 - t3

        if self.eos and not self.in_txn:
            self.begin()
        topic = self.a.triggers_topic
        for key, value in out:
            self.produce(topic, key.encode("utf-8"), value)
        counts["triggers"] += len(out)
        self.uncommitted[1] += len(out)
        self.producer.poll(0)
        stages["produce"] += clock() - t4

    # --- the loop ---------------------------------------------------------------

    def run(self):
        a = self.a
        if self.eos:
            self.producer.init_transactions()
        self.consumer.subscribe([a.events_topic], on_assign=self._on_assign,
                                on_revoke=self._on_revoke)
        counts = self.counts
        first = None
        last_commit = None
        last_log = time.monotonic()
        interval = a.commit_interval_ms / 1000.0
        while not self.stop:
            t_poll = time.monotonic()
            want = min(a.batch, a.expect - counts["consumed"])
            msgs = self.consumer.consume(num_messages=want, timeout=0.05) if want > 0 else []
            now = time.monotonic()
            if first is not None:
                self.stages["poll"] += now - t_poll
            if msgs:
                if first is None:
                    first = now
                    log("first record polled")
                if self.eos and not self.in_txn:
                    self.begin()
                self.process(msgs)
                counts["batches"] += 1
            done = counts["consumed"] >= a.expect
            if self.pending and (not self.eos or done or not msgs or
                                 time.monotonic() - self.txn_started >= interval):
                tc = time.monotonic()
                if self.commit():
                    last_commit = time.monotonic()
                    self.stages["commit"] += last_commit - tc
            if done and not self.pending:
                break
            if now - last_log >= 2.0:
                last_log = now
                el = now - first if first else 0.0
                log("consumed=%d triggers=%d invalid=%d eps=%.0f", counts["consumed"],
                    counts["triggers"], counts["invalid"], counts["consumed"] / el if el else 0.0)
        if self.eos and self.in_txn:
            self.producer.abort_transaction()   # stopped early: nothing of it is kept
        self.producer.flush()
        self.consumer.close()
        log("done: %s", " ".join("%s=%d" % kv for kv in counts.items()))
        log("seconds by stage: %s", " ".join("%s=%.3f" % kv for kv in self.stages.items()))
        ru = resource.getrusage(resource.RUSAGE_SELF)
        log("process cpu: user=%.2f s sys=%.2f s, max rss %d MB", ru.ru_utime, ru.ru_stime,
            ru.ru_maxrss // 1024)
        if self.stop and counts["consumed"] < a.expect:
            raise SystemExit("peer: stopped after %d of %d records" % (counts["consumed"], a.expect))
        seconds = (last_commit - first) if first is not None and last_commit else 0.0
        n = counts["consumed"]
        print("PEER name=python mode=%s events=%d seconds=%.3f eps=%.1f triggers=%d"
              % (a.mode, n, seconds, n / seconds if seconds > 0 else 0.0, counts["triggers"]),
              flush=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    peer = Peer(args)

    def on_signal(signum, frame):
        peer.stop = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    peer.run()


if __name__ == "__main__":
    main()
