"""The plumbing of the contract suite: the stack, topics, one vigil-worker,
a producer, read_committed readers and vigilctl. Nothing here knows what
Vigil should decide; that is vgc_scenario.py and test_contract.py.

Every wait is on a condition (the worker group's committed offsets, the
end of a topic), with a deadline and a message saying what did not happen.
"""

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PSEUDONYM_KEY = "contract-test-key-0123456789abcdef"


def now_ms():
    return int(time.time() * 1000)


def mono():
    return time.monotonic()


def trigger_id(tenant, customer_id, intervention, cause):
    """The documented recipe: lowercase hex of the first 16 bytes of
    SHA-256("vigil.trigger.v1" 0 tenant 0 customer_id 0 intervention 0 cause 0)."""
    h = hashlib.sha256()
    for part in ("vigil.trigger.v1", tenant, customer_id, intervention, cause):
        h.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:32]


def signature(secret, key, value):
    """The documented recipe (docs/triggers.md, "Signatures"): lowercase hex
    HMAC-SHA-256 of "vigil.signature.v1" 0 | u32 big-endian key length |
    key | value."""
    import hmac
    import struct
    key = key or b""
    msg = b"vigil.signature.v1\0" + struct.pack(">I", len(key)) + key + value
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def verify(secrets, header, key, value):
    """'valid', 'missing', 'malformed', 'unknown_key' or 'mismatch'."""
    import hmac
    if header is None:
        return "missing"
    parts = header.decode("ascii", "replace").split(":")
    if len(parts) != 3 or parts[0] != "v1" or len(parts[2]) != 64:
        return "malformed"
    if parts[1] not in secrets:
        return "unknown_key"
    good = hmac.compare_digest(signature(secrets[parts[1]], key, value), parts[2])
    return "valid" if good else "mismatch"


def parse_stack_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_durations(text):
    units = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text.strip())
    if not m:
        raise ValueError("not a duration: %r" % text)
    return int(m.group(1)) * units[m.group(2)]


def model_validity(model_path):
    """{intervention: valid_for in ms} from a model YAML (the default one),
    read with a line scanner so the suite needs no YAML library."""
    out, name = {}, None
    with open(model_path) as f:
        for line in f:
            m = re.match(r"\s*-\s*name:\s*([A-Za-z0-9_.-]+)", line)
            if m:
                name = m.group(1)
                continue
            m = re.match(r"\s*valid_for:\s*(\S+)", line)
            if m and name:
                out[name] = parse_durations(m.group(1))
    return out


def wait_for(probe, timeout_s, interval_s=0.2):
    """Ask probe() -> (done, detail) until done or timeout_s passed;
    returns (done, the last detail, seconds waited). A condition, never a
    fixed sleep: the interval only paces the asking."""
    start = mono()
    while True:
        done, detail = probe()
        if done or mono() - start > timeout_s:
            return done, detail, mono() - start
        time.sleep(interval_s)


class Msg:
    """One record read back: key, value, headers (dict, last wins) and where."""

    def __init__(self, m):
        self.topic = m.topic()
        self.partition = m.partition()
        self.offset = m.offset()
        self.key = m.key()
        self.value = m.value() if m.value() is not None else b""
        self.headers = {}
        self.header_list = m.headers() or []
        for k, v in self.header_list:
            self.headers[k] = v


class Run:
    """One run of the suite in one delivery mode: its own topics, group,
    Redis key prefix and worker."""

    def __init__(self, mode, stack_env_path, worker_bin, repo, out_dir, partitions=4,
                 name="contract"):
        env = parse_stack_env(stack_env_path)
        self.bootstrap = env.get("VIGIL_KAFKA_BOOTSTRAP")
        redis = env.get("VIGIL_REDIS_ADDR", "")
        if not self.bootstrap or ":" not in redis:
            raise RuntimeError("%s lacks VIGIL_KAFKA_BOOTSTRAP or VIGIL_REDIS_ADDR" % stack_env_path)
        self.redis_host, port = redis.rsplit(":", 1)
        self.redis_port = int(port)
        self.mode = mode
        self.worker_bin = worker_bin
        self.vigilctl_bin = os.path.join(os.path.dirname(worker_bin), "vigilctl")
        self.repo = repo
        self.partitions = partitions
        self.suffix = "%s-%s-%d-%d" % (name, mode.replace("_", "-"), os.getpid(), int(time.time()))
        self.topic_events = "events." + self.suffix
        self.topic_triggers = "triggers." + self.suffix
        self.topic_dlq = "dlq." + self.suffix
        self.group = "workers." + self.suffix
        self.prefix = "vigil-contract:" + self.suffix
        self.worker_id = "%s-%s" % (name, mode.replace("_", "-"))
        os.makedirs(out_dir, exist_ok=True)
        self.log_path = os.path.join(out_dir, "worker-%s.log" % self.suffix)
        self.worker = None
        self.drain_timeout_ms = 20000
        self.http_port = free_port()
        self.props = {"bootstrap.servers": self.bootstrap}
        print("contract %s: kafka %s, redis %s:%d, topics *.%s, worker log %s"
              % (mode, self.bootstrap, self.redis_host, self.redis_port, self.suffix,
                 self.log_path), flush=True)

    # --- topics -------------------------------------------------------------
    def create_topics(self, configs=None):
        """The three topics of the run; configs: {topic: {topic config}}."""
        admin = AdminClient(self.props)
        configs = configs or {}
        topics = [NewTopic(t, num_partitions=self.partitions, replication_factor=1,
                           config=configs.get(t, {}))
                  for t in (self.topic_events, self.topic_triggers, self.topic_dlq)]
        for name, fut in admin.create_topics(topics, operation_timeout=30).items():
            fut.result(timeout=60)
        # Wait until every partition has a leader the clients can see.
        deadline = mono() + 30
        while True:
            md = admin.list_topics(timeout=10)
            ok = all(t in md.topics and not md.topics[t].error
                     and len(md.topics[t].partitions) == self.partitions
                     and all(p.leader >= 0 for p in md.topics[t].partitions.values())
                     for t in (self.topic_events, self.topic_triggers, self.topic_dlq))
            if ok:
                return
            if mono() > deadline:
                raise RuntimeError("topics of %s have no leaders after 30 s" % self.suffix)
            time.sleep(0.1)  # metadata only changes on the broker's side: ask again

    # --- the worker -----------------------------------------------------------
    def worker_settings(self):
        return [
            "kafka.bootstrap.servers=%s" % self.bootstrap,
            "redis.host=%s" % self.redis_host,
            "redis.port=%d" % self.redis_port,
            "redis.key_prefix=%s" % self.prefix,
            "pseudonym.key=%s" % PSEUDONYM_KEY,
        ]

    def start_worker(self, extra=()):
        """Start vigil-worker on the run's topics; extra: more --set settings."""
        args = [self.worker_bin]
        for s in self.worker_settings() + [
            "topic.events=%s" % self.topic_events,
            "topic.triggers=%s" % self.topic_triggers,
            "topic.dead_letter=%s" % self.topic_dlq,
            "group.id=%s" % self.group,
            "worker.id=%s" % self.worker_id,
            "delivery.mode=%s" % self.mode,
            "http.port=%d" % self.http_port,
            "shutdown.drain_timeout_ms=%d" % self.drain_timeout_ms,
        ] + list(extra):
            args += ["--set", s]
        self.log = open(self.log_path, "ab")
        self.worker = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        print("started vigil-worker pid %d (%s)" % (self.worker.pid, self.mode), flush=True)
        # Started means: the process answers /healthz (or it died: say why).
        deadline = mono() + 30
        while mono() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError("vigil-worker exited with %s at start; log %s:\n%s"
                                   % (self.worker.returncode, self.log_path, self.log_tail()))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.http_port,
                                            timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)  # the worker's HTTP port is only observable by asking
        raise RuntimeError("vigil-worker did not answer /healthz within 30 s; log:\n%s"
                           % self.log_tail())

    def stop_worker(self, timeout_s=30):
        """SIGTERM, then the exit status (None: it had to be killed)."""
        if not self.worker:
            return None
        if self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
                self.log.close()
                return None
        self.log.close()
        return self.worker.returncode

    def kill_worker(self):
        if self.worker and self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self, needle):
        return [ln for ln in self.log_text().splitlines() if needle in ln]

    # --- the HTTP side port -------------------------------------------------------
    def http_get(self, path, timeout_s=2):
        """(status, body) of GET path on the worker's HTTP port; (None, why)
        when it does not answer."""
        url = "http://127.0.0.1:%d%s" % (self.http_port, path)
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except OSError as e:
            return None, str(e)

    def metric(self, name):
        """The value of an unlabelled metric from /metrics (None: absent)."""
        status, body = self.http_get("/metrics")
        if status != 200:
            return None
        for line in body.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == name:
                return float(parts[1])
        return None

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"

    # --- producing ------------------------------------------------------------
    def produce(self, records):
        """Produce records (vgc_scenario.Record) in order, each to its own
        partition, and fill in rec.offset from the delivery reports."""
        p = Producer(dict(self.props, **{
            "enable.idempotence": True,
            "linger.ms": 5,
            # The huge record (1,000,000-byte event id) must get through.
            "message.max.bytes": 2000000,
        }))
        errors = []

        def on_delivery(rec):
            def cb(err, msg):
                if err:
                    errors.append("%s: %s" % (rec.label, err))
                else:
                    rec.offset = msg.offset()
                    rec.partition = msg.partition()
            return cb

        for rec in records:
            kw = {}
            if rec.timestamp_ms:
                kw["timestamp"] = rec.timestamp_ms
            while True:
                try:
                    p.produce(self.topic_events, key=rec.key, value=rec.value,
                              partition=rec.partition, on_delivery=on_delivery(rec), **kw)
                    break
                except BufferError:
                    p.poll(0.1)
            p.poll(0)   # serve delivery reports; idempotence keeps each partition's order
        left = p.flush(60)
        if left or errors:
            raise RuntimeError("produce: %d undelivered; %s" % (left, "; ".join(errors[:5])))

    # --- waiting for the worker -------------------------------------------------
    def end_offsets(self, topic):
        c = Consumer(dict(self.props, **{"group.id": "contract-wm." + self.suffix,
                                          "enable.auto.commit": False}))
        try:
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10,
                                               cached=False)[1]
                    for p in range(self.partitions)}
        finally:
            c.close()

    def committed(self):
        """{partition: the worker group's committed offset} of the events
        topic (a negative offset: nothing committed)."""
        c = Consumer(dict(self.props, **{"group.id": self.group, "enable.auto.commit": False}))
        try:
            tps = c.committed([TopicPartition(self.topic_events, p)
                               for p in range(self.partitions)], timeout=10)
            return {tp.partition: tp.offset for tp in tps}
        finally:
            c.close()

    def wait_processed(self, timeout_s, partitions=None):
        """True once the worker group has committed every record of the
        events topic (so every trigger and dead letter of them is written
        and, in exactly_once, committed); partitions: only those."""
        end = self.end_offsets(self.topic_events)
        if partitions is not None:
            end = {p: o for p, o in end.items() if p in partitions}
        deadline = mono() + timeout_s
        got = {}
        while mono() < deadline:
            if self.worker and self.worker.poll() is not None:
                print("vigil-worker exited with %s while processing; log:\n%s"
                      % (self.worker.returncode, self.log_tail()), flush=True)
                return False, end, got
            try:
                got = self.committed()
            except KafkaException as e:
                print("committed offsets: %s" % e, flush=True)
            # A partition without records has nothing to commit.
            if all(end[p] == 0 or got.get(p, -1) >= end[p] for p in end):
                return True, end, got
            time.sleep(0.2)  # the group's progress is only observable by asking
        return False, end, got

    # --- reading back -------------------------------------------------------------
    def read_all(self, topic, timeout_s=30):
        """Every committed record of topic, from the start to the end of
        every partition (read_committed)."""
        end = self.end_offsets(topic)
        c = Consumer(dict(self.props, **{
            "group.id": "contract-reader.%s.%d" % (self.suffix, int(mono() * 1000)),
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 8 * 1024 * 1024,
        }))
        msgs = []
        at_end = {}
        try:
            c.assign([TopicPartition(topic, p, 0) for p in range(self.partitions)])
            deadline = mono() + timeout_s
            while mono() < deadline:
                m = c.poll(0.2)
                if m is None:
                    pass
                elif m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        at_end[m.partition()] = m.offset()
                    else:
                        raise RuntimeError("read %s: %s" % (topic, m.error()))
                else:
                    msgs.append(Msg(m))
                    at_end.pop(m.partition(), None)
                # Done: every partition reported its end at or past the
                # end offset measured before reading (a commit marker is
                # the last offset of an exactly_once partition).
                if all(p in at_end and at_end[p] >= end[p] for p in range(self.partitions)):
                    return msgs
                if all(p in at_end for p in range(self.partitions)):
                    end = self.end_offsets(topic)
            raise RuntimeError("read %s: not at the end of every partition after %d s "
                               "(at %s, end %s)" % (topic, timeout_s, at_end, end))
        finally:
            c.close()

    # --- vigilctl ---------------------------------------------------------------------
    def vigilctl(self, *args):
        cmd = [self.vigilctl_bin]
        # The state keys hold the events topic and partition (vg_keys.h).
        for s in self.worker_settings() + ["topic.events=%s" % self.topic_events]:
            cmd += ["--set", s]
        cmd += list(args)
        r = subprocess.run(cmd, capture_output=True, timeout=60)
        return (r.returncode, r.stdout.decode("utf-8", "replace"),
                r.stderr.decode("utf-8", "replace"))


def find_keys(doc, key):
    """Every value under `key` anywhere in a JSON document."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == key:
                out.append(v)
            out.extend(find_keys(v, key))
    elif isinstance(doc, list):
        for v in doc:
            out.extend(find_keys(v, key))
    return out


def find_prefixed(doc, prefix, exclude=()):
    """{key: value} of every key starting with prefix anywhere in doc."""
    out = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k.startswith(prefix) and k not in exclude:
                out[k] = v
            out.update(find_prefixed(v, prefix, exclude))
    elif isinstance(doc, list):
        for v in doc:
            out.update(find_prefixed(v, prefix, exclude))
    return out


def parse_json_output(text):
    """vigilctl prints one JSON document; tolerate surrounding lines."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        if start >= 0 and end > start:
            return json.loads(text[start:end + 1])
        raise
