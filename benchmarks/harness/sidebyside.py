#!/usr/bin/env python3
"""Vigil side by side with its peers, on one stack and one input (issue 10).

  sidebyside.py --stack-env FILE --build DIR --out DIR [options]

Run by benchmarks/run.sh (which builds, starts the stack and stops it);
README.md beside this file says what is measured and how. Contestants, each
a process of its own, each with its own consumer group (or Kafka Streams
application id), triggers topic and Redis key prefix:

  passthrough   vg_bench_e2e passthrough: consume, produce 1:1, commit
  vigil         vigil-worker, delivery.mode at_least_once / exactly_once
  python        benchmarks/peers/python/run.sh, both modes
  kstreams      benchmarks/peers/kstreams/run.sh, both modes

Throughput: per round, the same generated input (vigilctl gen) to a fresh
4-partition topic, then every contestant reads it whole, in an order that
rotates from round to round. Latency: vg_bench_e2e latency paces generated
events to a fresh topic and times each trigger with a read_committed reader.
Agreement: benchmarks/peers/compare.py on the triggers of Vigil and of each
peer, same round, same mode.

Writes into --out: results.json (everything), runs.csv, latency.csv,
summary.csv, table.md, samples/ (latencies, ms), logs/ (each process's
stdout and stderr) and the charts (charts.py). Prints the table on stdout.
"""
import argparse
import csv
import json
import os
import platform
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PARTITIONS = 4
CLK_TCK = os.sysconf("SC_CLK_TCK")
MODES = ("at_least_once", "exactly_once")
SHORT = {"at_least_once": "alo", "exactly_once": "eos"}
NAMES = ("passthrough", "vigil", "python", "kstreams")
PEERS = ("python", "kstreams")
# Below this, a peer's triggers are not the same work as Vigil's (issue 10).
AGREEMENT_MIN = 0.99


def log(msg):
    sys.stderr.write("# %s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# --- /proc ------------------------------------------------------------------

def proc_cpu_s(pid):
    """utime + stime of every thread of pid, in seconds (None if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()  # fields[0] is the state (field 3)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid, name):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Sampler(threading.Thread):
    """The latest VmHWM and CPU time of a process, read every 50 ms: what
    it held and had spent just before it exited."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.hwm_kb, self.cpu_s, self.stop = pid, None, None, False

    def run(self):
        while not self.stop:
            hwm, cpu = proc_status_kb(self.pid, "VmHWM"), proc_cpu_s(self.pid)
            if hwm is not None:
                self.hwm_kb = hwm
            if cpu is not None:
                self.cpu_s = cpu
            if hwm is None and cpu is None:
                return
            time.sleep(0.05)


# --- processes ----------------------------------------------------------------

class Child:
    """A contestant or instrument process, stdout and stderr to files, in
    a session of its own; reaped with wait4 for its rusage."""

    live = {}

    def __init__(self, argv, out_path, err_path, stdin=None, stdout_pipe=False, env=None):
        self.out_path, self.err_path = out_path, err_path
        self.err = open(err_path, "wb")
        self.out = None if stdout_pipe else open(out_path, "wb")
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE if stdout_pipe else self.out,
                                  stderr=self.err, start_new_session=True, env=env, cwd=ROOT)
        self.pid = self.p.pid
        self.status = None
        self.rusage = None
        self.buf = b""
        Child.live[self.pid] = self

    def poll(self):
        if self.status is None:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status, self.rusage = os.waitstatus_to_exitcode(status), ru
                self.p.returncode = self.status
                Child.live.pop(self.pid, None)
                for f in (self.err, self.out):
                    if f:
                        f.close()
        return self.status

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.status

    def stop(self, timeout=60):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                log("pid %d did not stop in %d s: SIGKILL" % (self.pid, timeout))
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait(30)
        return self.status

    def readline(self, timeout):
        """A line of a piped stdout, or None after timeout or at EOF."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            self.buf += chunk
            with open(self.out_path, "ab") as f:
                f.write(chunk)
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def tell(self, line):
        try:
            self.p.stdin.write((line + "\n").encode())
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    @classmethod
    def kill_all(cls):
        for ch in list(cls.live.values()):
            ch.stop(10)


def kv_line(path_or_text, tag):
    """The key=value pairs of the first line starting with tag."""
    text = path_or_text
    if os.path.exists(path_or_text):
        with open(path_or_text, errors="replace") as f:
            text = f.read()
    for line in text.splitlines():
        if line.startswith(tag + " "):
            return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    return None


def tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).rstrip()
    except OSError:
        return ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the stack ------------------------------------------------------------------

class Stack:
    def __init__(self, env_file):
        env = {}
        with open(env_file) as f:
            for line in f:
                if "=" in line:
                    k, v = line.strip().split("=", 1)
                    env[k] = v
        self.bootstrap = env["VIGIL_KAFKA_BOOTSTRAP"]
        self.redis_addr = env["VIGIL_REDIS_ADDR"]
        self.redis_host, port = self.redis_addr.rsplit(":", 1)
        self.redis_port = int(port)
        self.admin = AdminClient({"bootstrap.servers": self.bootstrap})
        self.broker_pid = None
        d = env.get("VIGIL_STACK_DIR")
        if d and os.path.exists(os.path.join(d, "kafka-1.pid")) and not os.path.exists(
                os.path.join(d, "kafka-2.pid")):
            with open(os.path.join(d, "kafka-1.pid")) as f:
                pid = int(f.read().strip() or 0)
            if proc_cpu_s(pid) is not None:
                self.broker_pid = pid
        import redis  # the venv has it (the Python peer's client)
        self.redis = redis.Redis(host=self.redis_host, port=self.redis_port)

    def create_topics(self, names):
        fs = self.admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in names])
        for t, f in fs.items():
            f.result()

    def delete_topics(self, prefix):
        names = [t for t in self.admin.list_topics(timeout=30).topics if t.startswith(prefix)]
        if names:
            for f in self.admin.delete_topics(names).values():
                try:
                    f.result()
                except Exception as e:  # already gone, or the broker is slow: not fatal
                    log("delete topic: %s" % e)

    def group_assigned(self, group, topic):
        """Partitions of topic assigned in group, if the group is stable."""
        try:
            d = self.admin.describe_consumer_groups([group])[group].result()
        except Exception:
            return 0
        if str(d.state).split(".")[-1] != "STABLE":
            return 0
        return sum(1 for m in d.members if m.assignment
                   for tp in m.assignment.topic_partitions if tp.topic == topic)

    def committed(self, group, topic):
        """Records of topic (fresh, from offset 0) covered by group's commits."""
        req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])
        try:
            res = self.admin.list_consumer_group_offsets([req])[group].result()
        except Exception:
            return 0
        return sum(max(0, tp.offset) for tp in res.topic_partitions)

    def redis_cpu_s(self):
        try:
            i = self.redis.info("cpu")
            return float(i["used_cpu_sys"]) + float(i["used_cpu_user"])
        except Exception:
            return None

    def broker_cpu_s(self):
        return proc_cpu_s(self.broker_pid) if self.broker_pid else None

    def drop_keys(self, prefix):
        n = 0
        pipe = self.redis.pipeline(transaction=False)
        for k in self.redis.scan_iter(match=prefix + "*", count=2000):
            pipe.unlink(k)
            n += 1
            if n % 2000 == 0:
                pipe.execute()
        pipe.execute()
        return n


# --- contestants ----------------------------------------------------------------

class Contestant:
    def __init__(self, name, mode):
        self.name, self.mode = name, mode
        self.key = name if name == "passthrough" else "%s-%s" % (name, SHORT[mode])
        self.label = "passthrough" if name == "passthrough" else "%s %s" % (name, mode)

    def argv(self, h, events, triggers, side, group, prefix, expect, http_port):
        b = h.stack.bootstrap
        if self.name == "passthrough":
            return [h.e2e, "passthrough", "--bootstrap", b, "--events-topic", events, "--out-topic",
                    triggers, "--group", group, "--expect", str(expect)]
        if self.name == "vigil":
            sets = {
                "kafka.bootstrap.servers": b, "redis.host": h.stack.redis_host,
                "redis.port": h.stack.redis_port, "topic.events": events, "topic.triggers": triggers,
                "topic.dead_letter": side, "group.id": group, "redis.key_prefix": prefix,
                "delivery.mode": self.mode, "worker.id": group, "log.level": "warn",
                "http.port": http_port,
            }
            argv = [os.path.join(h.build, "vigil-worker")]
            for k, v in sets.items():
                argv += ["--set", "%s=%s" % (k, v)]
            return argv
        if self.name == "python":
            return ["bash", os.path.join(ROOT, "benchmarks/peers/python/run.sh"), "--bootstrap", b,
                    "--redis", h.stack.redis_addr, "--events-topic", events, "--triggers-topic", triggers,
                    "--group", group, "--mode", self.mode, "--expect", str(expect), "--key-prefix", prefix]
        return ["bash", os.path.join(ROOT, "benchmarks/peers/kstreams/run.sh"), "--bootstrap", b,
                "--events-topic", events, "--triggers-topic", triggers, "--app-id", group,
                "--mode", self.mode, "--expect", str(expect)]

    @property
    def self_exits(self):
        return self.name != "vigil"


def vigil_consumed(port):
    """vigil_events_consumed_total of a worker's /metrics, or None."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=0.5) as r:
            body = r.read().decode()
    except Exception:
        return None
    m = re.search(r"^vigil_events_consumed_total (\d+)", body, re.M)
    return int(m.group(1)) if m else None


def vigil_metrics(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
            return r.read().decode()
    except Exception as e:
        return "# /metrics: %s\n" % e


# --- the harness ---------------------------------------------------------------

class Harness:
    def __init__(self, a):
        self.a = a
        self.stack = Stack(a.stack_env)
        self.build = a.build
        self.e2e = os.path.join(a.build, "benchmarks", "vg_bench_e2e")
        self.vigilctl = os.path.join(a.build, "vigilctl")
        self.py = sys.executable
        self.out = a.out
        self.logs = os.path.join(a.out, "logs")
        self.samples = os.path.join(a.out, "samples")
        os.makedirs(self.logs, exist_ok=True)
        os.makedirs(self.samples, exist_ok=True)
        self.run_id = "sbs%d" % (int(time.time()) % 10**8)
        self.skipped = {}  # contestant name -> why
        self.runs, self.latency, self.agreement = [], [], []

    # --- preflight ---

    def preflight(self, names):
        for path in (self.e2e, os.path.join(self.build, "vigil-worker"), self.vigilctl):
            if not os.access(path, os.X_OK):
                raise SystemExit("sidebyside: %s is missing (build it first)" % path)
        if "python" in names:
            try:
                import hiredis, google.protobuf, grpc_tools  # noqa: F401
            except ImportError as e:
                self.skipped["python"] = "the venv lacks %s (run ops/setup.sh)" % e.name
        if "kstreams" in names:
            # run.sh builds the jar when it is missing or stale, then runs it;
            # with no arguments the run is a usage error: only the build is left.
            log("kstreams: building the jar if needed (benchmarks/peers/kstreams/run.sh)")
            path = os.path.join(self.logs, "kstreams-build.log")
            with open(path, "wb") as f:
                subprocess.run(["bash", os.path.join(ROOT, "benchmarks/peers/kstreams/run.sh")],
                               stdout=f, stderr=f, cwd=ROOT, timeout=1800)
            jar = os.path.join(ROOT, "benchmarks/peers/kstreams/target/vigil-kstreams-peer.jar")
            kdir = os.path.join(ROOT, "benchmarks/peers/kstreams")
            stale = os.path.exists(jar) and subprocess.run(
                ["find", os.path.join(kdir, "pom.xml"), os.path.join(kdir, "src"), os.path.join(ROOT, "schemas"),
                 "-newer", jar, "-type", "f", "-print", "-quit"], capture_output=True, text=True).stdout.strip()
            if not os.path.exists(jar) or stale:
                why = [l for l in tail(path, 40).splitlines() if "ERROR" in l or "error" in l][:2]
                self.skipped["kstreams"] = "its jar could not be built (%s; see %s)" % (
                    "; ".join(why) or "mvn failed", path)
            elif subprocess.run(["java", "-version"], capture_output=True).returncode != 0:
                self.skipped["kstreams"] = "no java on PATH"
        for n, why in self.skipped.items():
            log("%s: skipped: %s" % (n, why))

    # --- one throughput run ---

    def names(self, tag, c):
        base = "%s.%s.%s" % (self.run_id, tag, c.key)
        return (base + ".triggers", base + ".side", base, "%s:%s:%s" % (self.run_id, tag, c.key))

    def start(self, c, tag, events, expect):
        triggers, side, group, prefix = self.names(tag, c)
        self.stack.create_topics([triggers] + ([side] if c.name == "vigil" else []))
        port = free_port() if c.name == "vigil" else 0
        argv = c.argv(self, events, triggers, side, group, prefix, expect, port)
        lp = os.path.join(self.logs, "%s.%s" % (tag, c.key))
        with open(lp + ".cmd", "w") as f:
            f.write(" ".join(argv) + "\n")
        ch = Child(argv, lp + ".out", lp + ".err", stdin=subprocess.DEVNULL)
        return ch, group, triggers, prefix, port, lp

    def wait_ready(self, c, ch, group, events, port, timeout=180):
        """Until the group is stable with every partition assigned (and, for
        vigil-worker, its first record is counted). Returns (t_ready, t_first)."""
        t_ready = t_first = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ch.poll() is not None:
                raise RuntimeError("exited (%s) before its group was ready" % ch.status)
            if t_ready is None and self.stack.group_assigned(group, events) >= PARTITIONS:
                t_ready = time.monotonic()
            if c.name == "vigil" and t_first is None:
                n = vigil_consumed(port)
                if n:
                    t_first = time.monotonic()
            if t_ready is not None and (c.name != "vigil" or t_first is not None):
                return t_ready, t_first
            time.sleep(0.01)
        raise RuntimeError("its group was not ready in %d s" % timeout)

    def wait_done(self, ch, group, events, expect, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stack.committed(group, events) >= expect:
                return time.monotonic()
            if ch.poll() is not None:
                # A peer exits once it has seen its own commit: look once more.
                if self.stack.committed(group, events) >= expect:
                    return time.monotonic()
                raise RuntimeError("exited (%s) before committing every record" % ch.status)
            time.sleep(0.01)
        raise RuntimeError("did not commit %d records in %d s" % (expect, timeout))

    def finish(self, c, ch, port, lp):
        """Stop (vigil-worker) or wait for (the others) the process."""
        if c.name == "vigil":
            with open(lp + ".metrics", "w") as f:
                f.write(vigil_metrics(port))
            ch.stop(60)
        elif ch.wait(120) is None:
            log("%s: still running 120 s after its commit: stopping it" % c.label)
            ch.stop(30)

    def throughput_run(self, c, rnd, events, n):
        tag = "r%d" % rnd
        row = {"round": rnd, "contestant": c.key, "name": c.name, "mode": c.mode, "events": n,
               "load1": loadavg()[0], "ok": False}
        ch = None
        try:
            ch, group, triggers, prefix, port, lp = self.start(c, tag, events, n)
            row["triggers_topic"] = triggers
            samp = Sampler(ch.pid)
            samp.start()
            t_ready, t_first = self.wait_ready(c, ch, group, events, port)
            cpu0, redis0, broker0 = proc_cpu_s(ch.pid), self.stack.redis_cpu_s(), self.stack.broker_cpu_s()
            t_done = self.wait_done(ch, group, events, n, max(300, n / 500))
            cpu1, redis1, broker1 = proc_cpu_s(ch.pid), self.stack.redis_cpu_s(), self.stack.broker_cpu_s()
            hwm = proc_status_kb(ch.pid, "VmHWM") or samp.hwm_kb
            if cpu1 is None:  # it exited as it committed: its last reading
                cpu1 = samp.cpu_s
            self.finish(c, ch, port, lp)
            samp.stop = True
            hwm = max(hwm or 0, samp.hwm_kb or 0)
            peer = kv_line(lp + ".out", "PEER") or {}
            if c.self_exits and not peer:
                raise RuntimeError("no PEER line (exit %s): %s" % (ch.status, tail(lp + ".err", 3)))
            # events/s: from the first record to the commit that covers the
            # last (the peers' own figure; for vigil-worker, its first record
            # counted on /metrics to the commit seen by the harness).
            secs = float(peer["seconds"]) if peer else t_done - t_first
            ru = ch.rusage
            row.update({
                "ok": True, "seconds": secs, "eps": n / secs,
                "ready_to_commit_s": t_done - t_ready,
                "cpu_s": cpu1 - cpu0, "cpu_s_per_m": (cpu1 - cpu0) / n * 1e6,
                "events_per_cpu_s": n / (cpu1 - cpu0) if cpu1 > cpu0 else None,
                "redis_cpu_s_per_m": (redis1 - redis0) / n * 1e6 if redis0 is not None and redis1 is not None else None,
                "broker_cpu_s_per_m": (broker1 - broker0) / n * 1e6 if broker0 is not None and broker1 is not None else None,
                "peak_rss_mb": hwm / 1024.0 if hwm else None,
                "process_cpu_s": (ru.ru_utime + ru.ru_stime) if ru else None,
                "exit": ch.status, "triggers": int(peer["triggers"]) if peer.get("triggers") else None,
            })
            log("%-24s r%d %8.0f events/s  %6.2f CPU s/M  RSS %5.0f MB  (load %.1f)" % (
                c.label, rnd, row["eps"], row["cpu_s_per_m"], row["peak_rss_mb"] or 0, row["load1"]))
            if c.name in ("vigil", "python"):
                self.stack.drop_keys(prefix)
        except Exception as e:
            row["error"] = str(e)
            log("%s r%d FAILED: %s (logs: %s)" % (c.label, rnd, e, self.logs))
            if ch:
                ch.stop(20)
        self.runs.append(row)
        return row

    def gen_input(self, topic, n):
        argv = [self.vigilctl, "--set", "kafka.bootstrap.servers=" + self.stack.bootstrap,
                "--set", "topic.events=" + topic, "gen", "--events", str(n),
                "--customers", str(self.a.customers), "--seed", str(self.a.seed)]
        with open(os.path.join(self.logs, "gen.log"), "ab") as f:
            subprocess.run(argv, stdout=f, stderr=f, check=True, cwd=ROOT)

    def compare(self, vigil_topic, peer_topic, tag):
        argv = [self.py, os.path.join(ROOT, "benchmarks/peers/compare.py"), "--bootstrap",
                self.stack.bootstrap, "--vigil-topic", vigil_topic, "--peer-topic", peer_topic, "--show", "3"]
        r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
        with open(os.path.join(self.logs, "compare.%s.log" % tag), "w") as f:
            f.write(r.stdout + r.stderr)
        kv = kv_line(r.stdout, "AGREEMENT")
        if not kv:
            return None
        return {"value": float(kv["value"]), "vigil_ids": int(kv["vigil"]), "peer_ids": int(kv["peer"]),
                "both_ids": int(kv["both"])}

    def rounds(self, contestants):
        n = self.a.events
        for rnd in range(1, self.a.rounds + 1):
            events = "%s.r%d.events" % (self.run_id, rnd)
            log("round %d/%d: %d events (seed %d, %d customers) to %s" % (
                rnd, self.a.rounds, n, self.a.seed, self.a.customers, events))
            self.stack.create_topics([events])
            self.gen_input(events, n)
            k = (rnd - 1) % len(contestants)
            order = contestants[k:] + contestants[:k]
            done = {}
            for c in order:
                done[c.key] = self.throughput_run(c, rnd, events, n)
            for peer in PEERS:
                for mode in MODES:
                    v, p = done.get("vigil-" + SHORT[mode]), done.get("%s-%s" % (peer, SHORT[mode]))
                    if v and p and v["ok"] and p["ok"]:
                        ag = self.compare(v["triggers_topic"], p["triggers_topic"],
                                          "r%d.%s-%s" % (rnd, peer, SHORT[mode]))
                        if ag:
                            ag.update({"round": rnd, "peer": peer, "mode": mode})
                            self.agreement.append(ag)
                            log("agreement vigil/%s %s r%d: %.4f (%d/%d/%d)" % (
                                peer, mode, rnd, ag["value"], ag["vigil_ids"], ag["peer_ids"], ag["both_ids"]))
            if not self.a.keep_topics:
                self.stack.delete_topics("%s.r%d." % (self.run_id, rnd))

    # --- one latency run ---

    def latency_run(self, c, rate, label):
        tag = "lat%d" % int(rate)
        n = int(round(rate * (self.a.lat_seconds + self.a.lat_warmup_ms / 1000.0)))
        events = "%s.%s.%s.events" % (self.run_id, tag, c.key)
        row = {"contestant": c.key, "name": c.name, "mode": c.mode, "rate_label": label, "rate": rate,
               "events": n, "load1": loadavg()[0], "ok": False}
        tool = ch = None
        try:
            self.stack.create_topics([events])
            _, _, _, prefix = self.names(tag, c)
            samples = os.path.join(self.samples, "%s.%s.txt" % (c.key, label.replace("%", "pct")))
            lp = os.path.join(self.logs, "%s.%s" % (tag, c.key))
            triggers = self.names(tag, c)[0]
            self.stack.create_topics([triggers])
            tool = Child([self.e2e, "latency", "--bootstrap", self.stack.bootstrap, "--events-topic", events,
                          "--triggers-topic", triggers, "--rate", "%.0f" % rate, "--events", str(n),
                          "--warmup-ms", str(self.a.lat_warmup_ms), "--seed", str(self.a.seed),
                          "--customers", str(self.a.customers), "--samples", samples],
                         lp + ".lat.out", lp + ".lat.err", stdin=subprocess.PIPE, stdout_pipe=True)
            # start() creates the triggers topic again: already there, so skip it.
            port = free_port() if c.name == "vigil" else 0
            group = self.names(tag, c)[2]
            side = self.names(tag, c)[1]
            if c.name == "vigil":
                self.stack.create_topics([side])
            argv = c.argv(self, events, triggers, side, group, prefix, n, port)
            if c.name == "passthrough":
                argv.append("--lineage")  # a trigger per record: the latency floor
            with open(lp + ".cmd", "w") as f:
                f.write(" ".join(argv) + "\n")
            ch = Child(argv, lp + ".out", lp + ".err", stdin=subprocess.DEVNULL)
            samp = Sampler(ch.pid)
            samp.start()
            if tool.readline(120) != "READY":
                raise RuntimeError("the latency reader did not start: %s" % tail(lp + ".lat.err", 3))
            # vigil-worker's first record is still to come: wait for the group only.
            deadline = time.monotonic() + 180
            while self.stack.group_assigned(group, events) < PARTITIONS:
                if ch.poll() is not None:
                    raise RuntimeError("exited (%s) before its group was ready" % ch.status)
                if time.monotonic() > deadline:
                    raise RuntimeError("its group was not ready in 180 s")
                time.sleep(0.02)
            tool.tell("GO")
            line = tool.readline(self.a.lat_seconds * 4 + 120)
            if not line or not line.startswith("PRODUCED"):
                raise RuntimeError("the paced producer did not finish: %s" % tail(lp + ".lat.err", 3))
            self.wait_done(ch, group, events, n, 300)
            self.finish(c, ch, port, lp)
            samp.stop = True
            tool.tell("DONE")
            tool.p.stdin.close()
            line = tool.readline(180)
            tool.wait(30)
            lat = kv_line(line or "", "LAT")
            if not lat:
                raise RuntimeError("no LAT line: %s" % tail(lp + ".lat.err", 3))
            row.update({k: float(v) for k, v in lat.items()})
            row.update({"ok": True, "rate": rate, "peak_rss_mb": (samp.hwm_kb or 0) / 1024.0,
                        "samples_file": os.path.relpath(samples, self.out)})
            log("%-24s at %6.0f/s (%s): p50 %.1f  p99 %.1f  p99.9 %.1f ms, %d samples (load %.1f)" % (
                c.label, rate, label, row["p50_ms"], row["p99_ms"], row["p999_ms"], row["samples"], row["load1"]))
            if c.name in ("vigil", "python"):
                self.stack.drop_keys(prefix)
        except Exception as e:
            row["error"] = str(e)
            log("latency %s at %.0f/s FAILED: %s" % (c.label, rate, e))
            for x in (ch, tool):
                if x:
                    x.stop(20)
        if not self.a.keep_topics:
            self.stack.delete_topics("%s.%s.%s" % (self.run_id, tag, c.key))
        self.latency.append(row)
        return row

    def latencies(self, contestants, summary):
        for spec in self.a.rates:
            for c in contestants:
                if c.name == "passthrough" and spec.endswith("%"):
                    continue  # the floor's latency at the fixed rates only
                best = summary.get(c.key, {}).get("eps")
                if spec.endswith("%"):
                    if not best:
                        continue
                    rate, label = float(spec[:-1]) / 100.0 * best, spec
                else:
                    rate, label = float(spec), spec
                if best and rate > 0.9 * best:
                    self.latency.append({"contestant": c.key, "name": c.name, "mode": c.mode,
                                         "rate_label": label, "rate": rate, "ok": False,
                                         "error": "n/a: above 90%% of its maximum (%.0f events/s)" % best})
                    continue
                self.latency_run(c, rate, label)


# --- summary, table, targets ---------------------------------------------------------

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(h, contestants):
    s = {}
    by = {}
    for r in h.runs:
        by.setdefault(r["contestant"], []).append(r)
    floor = {r["round"]: r["eps"] for r in by.get("passthrough", []) if r["ok"]}
    for c in contestants:
        rows = [r for r in by.get(c.key, []) if r["ok"]]
        e = {"label": c.label, "name": c.name, "mode": c.mode, "rounds_ok": len(rows),
             "rounds": len(by.get(c.key, []))}
        if c.name in h.skipped:
            e["skipped"] = h.skipped[c.name]
        if rows:
            e["eps"] = median([r["eps"] for r in rows])
            e["eps_min"], e["eps_max"] = min(r["eps"] for r in rows), max(r["eps"] for r in rows)
            e["x_floor"] = median([r["eps"] / floor[r["round"]] for r in rows if r["round"] in floor])
            e["cpu_s_per_m"] = median([r["cpu_s_per_m"] for r in rows])
            e["events_per_cpu_s"] = median([r["events_per_cpu_s"] for r in rows])
            e["redis_cpu_s_per_m"] = median([r.get("redis_cpu_s_per_m") for r in rows])
            e["broker_cpu_s_per_m"] = median([r.get("broker_cpu_s_per_m") for r in rows])
            e["peak_rss_mb"] = max(r["peak_rss_mb"] or 0 for r in rows)
            e["load1"] = median([r["load1"] for r in rows])
        elif "skipped" not in e:
            errs = [r.get("error") for r in by.get(c.key, []) if r.get("error")]
            e["failed"] = errs[0] if errs else "not run"
        s[c.key] = e
    # Vigil against each peer, same mode, the median of the per-round ratios.
    for c in contestants:
        if c.name not in PEERS:
            continue
        vk = "vigil-" + SHORT[c.mode]
        v = {r["round"]: r for r in by.get(vk, []) if r["ok"]}
        p = {r["round"]: r for r in by.get(c.key, []) if r["ok"]}
        both = sorted(set(v) & set(p))
        if both:
            s[c.key]["vigil_x_eps"] = median([v[k]["eps"] / p[k]["eps"] for k in both])
            s[c.key]["vigil_x_cpu"] = median([v[k]["cpu_s_per_m"] / p[k]["cpu_s_per_m"] for k in both])
            s[c.key]["vigil_x_ev_per_cpu"] = median([p[k]["cpu_s_per_m"] / v[k]["cpu_s_per_m"] for k in both])
            vr = [v[k]["cpu_s_per_m"] + (v[k].get("redis_cpu_s_per_m") or 0) for k in both]
            pr = [p[k]["cpu_s_per_m"] + (p[k].get("redis_cpu_s_per_m") or 0) for k in both]
            s[c.key]["vigil_x_cpu_with_redis"] = median([a / b for a, b in zip(vr, pr)])
        ags = [a for a in h.agreement if a["peer"] == c.name and a["mode"] == c.mode]
        if ags:
            s[c.key]["agreement"] = min(a["value"] for a in ags)
            s[c.key]["agreement_valid"] = s[c.key]["agreement"] >= AGREEMENT_MIN
    for r in h.latency:
        e = s.get(r["contestant"])
        if e is None:
            continue
        cell = e.setdefault("latency", {})
        if r["ok"]:
            cell[r["rate_label"]] = {k: r.get(k) for k in ("rate", "p50_ms", "p99_ms", "p999_ms", "samples")}
        else:
            cell[r["rate_label"]] = {"rate": r.get("rate"), "error": r.get("error")}
    return s


def fmt(x, spec="%.0f", none="-"):
    return none if x is None else spec % x


def lat_cell(cell):
    if not cell:
        return "-"
    if "error" in cell:
        return "n/a" if cell["error"].startswith("n/a") else "failed"
    def g(x):
        return "%.1f" % x if x < 100 else "%.0f" % x
    return "%s/%s/%s" % (g(cell["p50_ms"]), g(cell["p99_ms"]), g(cell["p999_ms"]))


def table(h, contestants, s):
    rates = h.a.rates
    head = ["contestant", "events/s", "x floor", "Vigil x (events/s)", "CPU s/M ev", "events/CPU s",
            "Vigil x (events/CPU s)", "+Redis CPU s/M", "peak RSS MB", "agreement"] + \
           ["p50/p99/p99.9 ms @%s" % r for r in rates]
    rows = []
    for c in contestants:
        e = s[c.key]
        if "skipped" in e or "failed" in e:
            why = "skipped: " + e["skipped"] if "skipped" in e else "FAILED: " + e["failed"]
            rows.append([c.label, why] + [""] * (len(head) - 2))
            continue
        ag = "-"
        if "agreement" in e:
            ag = "%.4f" % e["agreement"] + ("" if e["agreement_valid"] else " NOT VALID")
        lat = e.get("latency", {})
        cpu_redis = e["cpu_s_per_m"] + e["redis_cpu_s_per_m"] if e.get("redis_cpu_s_per_m") is not None else None
        rows.append([
            c.label, fmt(e["eps"]), fmt(e.get("x_floor"), "%.3f"), fmt(e.get("vigil_x_eps"), "%.2f"),
            fmt(e["cpu_s_per_m"], "%.2f"), fmt(e["events_per_cpu_s"]), fmt(e.get("vigil_x_ev_per_cpu"), "%.2f"),
            fmt(cpu_redis if c.name != "kstreams" else None, "%.2f"), fmt(e["peak_rss_mb"], "%.0f"), ag,
        ] + [lat_cell(lat.get(r)) if c.name != "passthrough" or not r.endswith("%") else "-"
             for r in rates])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def targets(h, s):
    """The issue's targets that this run measures: (what, figure, verdict)."""
    out = []
    def get(key, *path):
        x = s.get(key, {})
        for p in path:
            x = x.get(p) if isinstance(x, dict) else None
        return x
    def verdict(ok):
        return "n/a" if ok is None else ("MET" if ok else "NOT MET")
    for mode, want in (("alo", 0.6), ("eos", 0.5)):
        x = get("vigil-" + mode, "x_floor")
        out.append(("Vigil %s >= %.1f of the passthrough" % (mode, want), fmt(x, "%.3f"),
                    verdict(None if x is None else x >= want)))
    for mode in ("alo", "eos"):
        k = "kstreams-" + mode
        why = get(k, "skipped") or get(k, "failed")
        valid = get(k, "agreement_valid")
        note = "" if valid in (None, True) else " (agreement below %.2f: comparison not valid)" % AGREEMENT_MIN
        x = get(k, "vigil_x_eps")
        out.append(("Vigil %s >= 1.5x Kafka Streams events/s" % mode,
                    ("skipped: " + why) if why else fmt(x, "%.2fx") + note,
                    verdict(None if x is None or why else x >= 1.5)))
        x = get(k, "vigil_x_cpu")
        out.append(("Vigil %s <= 1/3 of Kafka Streams' CPU per event (worker process)" % mode,
                    ("skipped: " + why) if why else fmt(x, "%.2f") + note,
                    verdict(None if x is None or why else x <= 1 / 3.0)))
    for mode in ("alo", "eos"):
        k = "python-" + mode
        why = get(k, "skipped") or get(k, "failed")
        x = get(k, "vigil_x_ev_per_cpu")
        valid = get(k, "agreement_valid")
        note = "" if valid in (None, True) else " (agreement below %.2f: comparison not valid)" % AGREEMENT_MIN
        out.append(("Vigil %s >= 10x Python's events per CPU second" % mode,
                    ("skipped: " + why) if why else fmt(x, "%.1fx") + note,
                    verdict(None if x is None or why else x >= 10)))
    for mode, checks in (("alo", (("p50_ms", 5), ("p99_ms", 20))), ("eos", (("p99_ms", 150),))):
        cell = get("vigil-" + mode, "latency", "2000")
        for q, lim in checks:
            x = cell.get(q) if cell and "error" not in cell else None
            floor = get("passthrough", "latency", "2000")
            fx = floor.get(q) if floor and "error" not in floor else None
            note = "" if fx is None else " (the passthrough: %.1f ms)" % fx
            out.append(("Vigil %s %s <= %d ms at 2000 events/s" % (mode, q[:-3], lim),
                        fmt(x, "%.1f ms") + note if cell else "not measured (2000 not in --rates)",
                        verdict(None if x is None else x <= lim)))
    rss = [get("vigil-" + m, "peak_rss_mb") for m in ("alo", "eos")]
    rss = [x for x in rss if x is not None]
    out.append(("vigil-worker peak RSS <= 64 MB (10k customers)", fmt(max(rss) if rss else None, "%.0f MB"),
                verdict(None if not rss else max(rss) <= 64)))
    return out


def write_outputs(h, contestants, s, meta):
    with open(os.path.join(h.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "summary": s, "runs": h.runs, "latency": h.latency,
                   "agreement": h.agreement}, f, indent=1, default=str)
    for name, rows in (("runs.csv", h.runs), ("latency.csv", h.latency)):
        keys = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        with open(os.path.join(h.out, name), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
    keys = ["contestant", "eps", "eps_min", "eps_max", "x_floor", "vigil_x_eps", "cpu_s_per_m",
            "events_per_cpu_s", "vigil_x_ev_per_cpu", "vigil_x_cpu", "redis_cpu_s_per_m",
            "broker_cpu_s_per_m", "peak_rss_mb", "agreement", "load1", "skipped", "failed"]
    with open(os.path.join(h.out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for c in contestants:
            w.writerow(dict(s[c.key], contestant=c.key))


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack-env", required=True)
    ap.add_argument("--build", required=True, help="a Release build with vigil-worker, vigilctl, vg_bench_e2e")
    ap.add_argument("--out", required=True, help="results folder")
    ap.add_argument("--events", type=int, default=200000, help="input per round (200000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--customers", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--contestants", default=",".join(NAMES), help="of " + ",".join(NAMES))
    ap.add_argument("--rates", default="1000,2000,5000,20000,80%",
                    help="latency rates, events/s, or N%% of each one's maximum")
    ap.add_argument("--lat-seconds", type=int, default=10, help="sampled seconds per latency run (10)")
    ap.add_argument("--lat-warmup-ms", type=int, default=15000, help="produced but not sampled (15000)")
    ap.add_argument("--keep-topics", action="store_true")
    ap.add_argument("--no-charts", action="store_true")
    a = ap.parse_args(argv)
    a.names = [n for n in a.contestants.split(",") if n]
    bad = [n for n in a.names if n not in NAMES]
    if bad or a.events < 1000 or a.rounds < 1:
        ap.error("unknown contestant %s, or --events < 1000, or --rounds < 1" % bad)
    a.rates = [r.strip() for r in a.rates.split(",") if r.strip()]
    for r in a.rates:
        if not re.fullmatch(r"\d+(\.\d+)?%?", r):
            ap.error("--rates: %r is not events/s nor N%%" % r)
    return a


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1048576
    return "%d cores, %s, %.0f GiB, %s %s" % (os.cpu_count(), model, mem, platform.system(), platform.release())


def main(argv=None):
    a = parse_args(argv)
    h = Harness(a)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(130))
    contestants = []
    for n in a.names:
        if n == "passthrough":
            contestants.append(Contestant(n, "at_least_once"))
        else:
            contestants += [Contestant(n, m) for m in MODES]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
            "dirty": bool(dirty), "machine": machine(), "load_before": loadavg(),
            "events": a.events, "rounds": a.rounds, "customers": a.customers, "seed": a.seed,
            "partitions": PARTITIONS, "rates": a.rates, "lat_seconds": a.lat_seconds,
            "lat_warmup_ms": a.lat_warmup_ms, "run_id": h.run_id}
    t0 = time.monotonic()
    try:
        h.preflight(a.names)
        live = [c for c in contestants if c.name not in h.skipped]
        h.rounds(live)
        s = summarize(h, contestants)
        if a.rates:
            h.latencies(live, s)
    finally:
        Child.kill_all()
    s = summarize(h, contestants)
    meta.update({"load_after": loadavg(), "minutes": (time.monotonic() - t0) / 60,
                 "load_during": median([r["load1"] for r in h.runs + h.latency if "load1" in r])})
    write_outputs(h, contestants, s, meta)
    tbl = table(h, contestants, s)
    tg = targets(h, s)
    lines = [
        "# side by side: %s, commit %s%s, %s" % (meta["date"], commit, " (dirty tree)" if dirty else "",
                                                 meta["machine"]),
        "# %d events x %d rounds (seed %d, %d customers, %d partitions); latency %d s (+%d ms warm-up) per rate;"
        " %.1f min" % (a.events, a.rounds, a.seed, a.customers, PARTITIONS, a.lat_seconds, a.lat_warmup_ms,
                       meta["minutes"]),
        "# load average: before %s, during (median 1-min at each run's start) %.1f, after %s" % (
            " ".join("%.2f" % x for x in meta["load_before"]), meta["load_during"] or 0,
            " ".join("%.2f" % x for x in meta["load_after"])),
        "", tbl, "",
        "events/s: median of the rounds, first record to the commit covering the last; x floor: median of the",
        "per-round ratios to the passthrough; Vigil x: Vigil's figure over the peer's, same mode and round",
        "(median); CPU: the process's utime+stime from its group's assignment to that commit; +Redis: and",
        "redis-server's CPU in the same window; peak RSS: VmHWM, highest of the rounds; agreement: the",
        "lowest of the rounds (compare.py, absence triggers left out); latency: event CreateTime to a",
        "read_committed reader, p50/p99/p99.9 in ms at the paced rate (N% = of its own events/s).",
        "", "targets (issue 10):"]
    lines += ["  %-72s %-22s %s" % t for t in tg]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(h.out, "table.md"), "w") as f:
        f.write(text)
    if not a.no_charts:
        try:
            import charts
            charts.draw(os.path.join(h.out, "results.json"), h.out)
        except Exception as e:  # the numbers matter more than the pictures
            log("charts: %s" % e)
    sys.stdout.write(text)
    return 0 if all(s[c.key].get("rounds_ok") or "skipped" in s[c.key] for c in contestants) else 1


if __name__ == "__main__":
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    sys.path.insert(0, HERE)
    sys.exit(main())
