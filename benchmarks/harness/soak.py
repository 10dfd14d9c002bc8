#!/usr/bin/env python3
"""The soak (issue 10, section 4): one vigil-worker in at_least_once under a
paced stream of the generator's mix for a long time, sampled every window.

  soak.py --stack-env FILE --build DIR --out DIR --rate R|N% [options]

Run by benchmarks/soak.sh (which builds, starts the stack and stops it; its
header says how the defaults were chosen). The processes, each its own:

  vigil-worker          delivery.mode=at_least_once, its own group, topics
                        and Redis key prefix, /metrics on a free port
  vg_bench_e2e soak     the paced producer and the read_committed trigger
                        reader; prints a WIN line per window (p99 of the
                        triggers read in it)
  vg_bench_e2e audit    after the drain: the events topic through vg_oracle
                        against the trigger ids of the triggers topic

On each WIN line this samples: the lag (the events topic's end offsets
minus the group's committed offsets, and the worker's own
vigil_consumer_lag), the worker's
VmRSS and VmHWM and CPU (/proc), Redis INFO memory, DBSIZE and CPU, the
broker's CPU and the load average. Writes into --out: samples.csv (one row
per window), summary.json, summary.txt (what is printed), soak.png (4
panels, soak_charts.py) and logs/ (each process's command, stdout, stderr;
the worker's last /metrics).

Exit status: 0 when the run completed and the audit found no trigger
missing or extra; 1 otherwise (the reason is printed). The verdict on
"flat" is printed, not turned into the exit status: it is a measurement.
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import time

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sidebyside as sbs  # noqa: E402  (Child, Stack, /proc helpers)
import soak_charts  # noqa: E402

FIELDS = ["t_s", "phase", "produced", "end", "committed", "lag", "lag_metric", "rss_mb", "hwm_mb",
          "worker_cpu_pct", "triggers", "absence", "samples", "p50_ms", "p99_ms", "max_ms",
          "repeats", "inst_cpu_pct", "redis_used_mb", "redis_rss_mb", "redis_keys", "redis_cpu_pct",
          "broker_cpu_pct", "load1"]

# The verdict on "flat": over the last 3/4 of the production (the first
# quarter is warm-up: Redis filling with customers, caches, the first
# rebalance), the least-squares line of a figure may rise by at most this
# much from its start to its end (either bound suffices). Above it by more
# than two standard errors of the fit, the figure is RISING; in between,
# inconclusive (a short run, or a noisy machine).
FLAT = {
    "lag": ("events", 0.25, None),    # 25% of its mean, or one second of production
    "rss_mb": ("MB", 0.05, 2.0),     # 5% of its mean, or 2 MB
    "p99_ms": ("ms", 0.25, 5.0),     # 25% of its mean, or 5 ms
}


def log(msg):
    sbs.log(msg)


def kv(line):
    return dict(x.split("=", 1) for x in line.split()[1:] if "=" in x)


def committed_by_partition(stack, group, topic, partitions):
    """group's committed offset of each partition of topic (0 where none), or None."""
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])
    try:
        res = stack.admin.list_consumer_group_offsets([req])[group].result()
    except Exception:
        return None
    out = [0] * partitions
    for tp in res.topic_partitions:
        out[tp.partition] = max(0, tp.offset)
    return out


def committed(stack, group, topic, partitions):
    """Sum of group's committed offsets on topic (partitions without one: 0)."""
    c = committed_by_partition(stack, group, topic, partitions)
    return sum(c) if c is not None else None


def ends_by_partition(probe, topic, partitions):
    """The high watermark (records written) of each partition of topic, or None."""
    try:
        return [probe.get_watermark_offsets(TopicPartition(topic, p), timeout=5, cached=False)[1]
                for p in range(partitions)]
    except Exception:
        return None


def metric_sum(text, name):
    vals = [float(m.group(1)) for m in re.finditer(r"^%s(?:\{[^}]*\})? (\S+)$" % name, text, re.M)]
    return sum(vals) if vals else None


def fit_rise(xs, ys):
    """Rise of the least-squares line of ys over xs, from xs[0] to xs[-1],
    and its standard error: (rise, se), or (None, None)."""
    n = len(xs)
    if n < 3:
        return None, None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None, None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    res = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(xs, ys))
    span = xs[-1] - xs[0]
    return slope * span, (res / (n - 2) / sxx) ** 0.5 * span


class Soak:
    def __init__(self, a):
        self.a = a
        self.stack = sbs.Stack(a.stack_env)
        self.build = a.build
        self.e2e = os.path.join(a.build, "benchmarks", "vg_bench_e2e")
        self.worker_bin = os.path.join(a.build, "vigil-worker")
        self.vigilctl = os.path.join(a.build, "vigilctl")
        self.logs = os.path.join(a.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.id = "soak%d" % (int(time.time()) % 10**8)
        self.events = self.id + ".events"
        self.triggers = self.id + ".triggers"
        self.side = self.id + ".dlq"
        self.group = self.id
        self.prefix = self.id + ":"
        self.rows = []
        self.result = {"id": self.id, "args": vars(a), "failures": []}
        # Reads the events topic's end offsets; never joins a group.
        self.probe = Consumer({"bootstrap.servers": self.stack.bootstrap, "group.id": self.id + ".probe"})

    def fail(self, why):
        log("FAIL: " + why)
        self.result["failures"].append(why)

    def create_topics(self, names):
        fs = self.stack.admin.create_topics([NewTopic(t, self.a.partitions, 1) for t in names])
        for f in fs.values():
            f.result()

    def worker(self, tag, events, group, prefix, port):
        sets = {
            "kafka.bootstrap.servers": self.stack.bootstrap, "redis.host": self.stack.redis_host,
            "redis.port": self.stack.redis_port, "topic.events": events,
            "topic.triggers": self.triggers if tag == "soak" else events + ".triggers",
            "topic.dead_letter": self.side if tag == "soak" else events + ".dlq",
            "group.id": group, "redis.key_prefix": prefix, "delivery.mode": "at_least_once",
            "worker.id": group, "log.level": "warn", "http.port": port,
            # The generator puts 20 ms of event time between records: at
            # 10,000 events/s event time runs ~200x the wall clock and is
            # days ahead of CreateTime within the hour; the default limit
            # (one day) would dead-letter the stream after ~7 minutes.
            "event.max_future_ms": 31536000000,
        }
        argv = [self.worker_bin]
        for k, v in sets.items():
            argv += ["--set", "%s=%s" % (k, v)]
        lp = os.path.join(self.logs, "worker-" + tag)
        with open(lp + ".cmd", "w") as f:
            f.write(" ".join(argv) + "\n")
        return sbs.Child(argv, lp + ".out", lp + ".err", stdin=subprocess.DEVNULL), lp

    def wait_assigned(self, ch, group, topic, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ch.poll() is not None:
                raise RuntimeError("vigil-worker exited (%s) before owning its partitions; see %s"
                                   % (ch.status, ch.err_path))
            if self.stack.group_assigned(group, topic) >= self.a.partitions:
                return
            time.sleep(0.1)
        raise RuntimeError("vigil-worker's group was not stable in %d s" % timeout)

    # --- the optional maximum (--rate N%) ---

    def measure_max(self):
        """events/s of one worker reading a pre-produced topic whole (as
        sidebyside's throughput rounds, same customers)."""
        n = self.a.max_events
        topic = self.id + ".max"
        self.create_topics([topic, topic + ".triggers", topic + ".dlq"])
        argv = [self.vigilctl, "--set", "kafka.bootstrap.servers=" + self.stack.bootstrap,
                "--set", "topic.events=" + topic, "gen", "--events", str(n),
                "--customers", str(self.a.customers), "--seed", str(self.a.seed)]
        log("max: %d events to %s (vigilctl gen), then one worker reads them whole" % (n, topic))
        with open(os.path.join(self.logs, "max-gen.log"), "wb") as f:
            subprocess.run(argv, stdout=f, stderr=f, check=True)
        port = sbs.free_port()
        ch, lp = self.worker("max", topic, self.id + ".max", self.id + ".max:", port)
        try:
            t_first = None
            deadline = time.monotonic() + 120
            while t_first is None:
                if ch.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the worker did not start on %s; see %s" % (topic, ch.err_path))
                if sbs.vigil_consumed(port):
                    t_first = time.monotonic()
                time.sleep(0.01)
            deadline = time.monotonic() + max(300, n / 500)
            while (committed(self.stack, self.id + ".max", topic, self.a.partitions) or 0) < n:
                if ch.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the worker did not commit %d events; see %s" % (n, ch.err_path))
                time.sleep(0.01)
            eps = n / (time.monotonic() - t_first)
        finally:
            ch.stop(60)
            self.stack.drop_keys(self.id + ".max:")
            self.stack.delete_topics(topic)
        log("max: %.0f events/s" % eps)
        return eps

    # --- one sample ---

    def sample(self, t_s, phase, win, worker, port, prev, inst=None):
        now = time.monotonic()
        produced = int(win.get("produced", 0))
        # The ends first, then the commits: a partition's commit read a few
        # ms after its end may have passed it (the lag is then 0, not less).
        ends = ends_by_partition(self.probe, self.events, self.a.partitions)
        comms = committed_by_partition(self.stack, self.group, self.events, self.a.partitions)
        end = sum(ends) if ends is not None else None
        comm = sum(comms) if comms is not None else None
        lag = (sum(max(0, e - c) for e, c in zip(ends, comms))
               if ends is not None and comms is not None else None)
        metrics = sbs.vigil_metrics(port)
        cpu = sbs.proc_cpu_s(worker.pid)
        icpu = sbs.proc_cpu_s(inst.pid) if inst else None
        try:
            mem = self.stack.redis.info("memory")
            rcpu = self.stack.redis.info("cpu")
            rcpu = float(rcpu["used_cpu_sys"]) + float(rcpu["used_cpu_user"])
            keys = self.stack.redis.dbsize()
        except Exception as e:
            log("redis: %s" % e)
            mem, rcpu, keys = {}, None, None
        bcpu = self.stack.broker_cpu_s()

        def pct(cur, key):
            if cur is None or prev.get(key) is None or now <= prev["t"]:
                return None
            return 100.0 * (cur - prev[key]) / (now - prev["t"])

        rss = sbs.proc_status_kb(worker.pid, "VmRSS")
        hwm = sbs.proc_status_kb(worker.pid, "VmHWM")
        row = {
            "t_s": round(t_s, 1), "phase": phase, "produced": produced, "end": end, "committed": comm,
            "lag": lag,
            "lag_metric": metric_sum(metrics, "vigil_consumer_lag"),
            "rss_mb": rss / 1024.0 if rss else None, "hwm_mb": hwm / 1024.0 if hwm else None,
            "worker_cpu_pct": pct(cpu, "cpu"),
            "triggers": int(win["triggers"]) if "triggers" in win else None,
            "absence": int(win["absence"]) if "absence" in win else None,
            "samples": int(win["samples"]) if "samples" in win else None,
            "p50_ms": float(win["p50_ms"]) if int(win.get("samples", 0)) else None,
            "p99_ms": float(win["p99_ms"]) if int(win.get("samples", 0)) else None,
            "max_ms": float(win["max_ms"]) if int(win.get("samples", 0)) else None,
            "repeats": int(win["repeats"]) if "repeats" in win else None,
            "inst_cpu_pct": pct(icpu, "icpu"),
            "redis_used_mb": int(mem["used_memory"]) / 2**20 if "used_memory" in mem else None,
            "redis_rss_mb": int(mem["used_memory_rss"]) / 2**20 if "used_memory_rss" in mem else None,
            "redis_keys": keys, "redis_cpu_pct": pct(rcpu, "rcpu"),
            "broker_cpu_pct": pct(bcpu, "bcpu"), "load1": sbs.loadavg()[0],
        }
        prev.update({"t": now, "cpu": cpu, "icpu": icpu, "rcpu": rcpu, "bcpu": bcpu})
        return row

    def write_row(self, row, w, f):
        self.rows.append(row)
        w.writerow({k: ("%.3f" % v if isinstance(v, float) else v) for k, v in row.items()})
        f.flush()

    # --- the run ---

    def run(self, rate):
        a = self.a
        seconds = int(round(a.minutes * 60))
        self.result.update({"rate": rate, "seconds": seconds})
        self.create_topics([self.events, self.triggers, self.side])
        port = sbs.free_port()
        worker, wlp = self.worker("soak", self.events, self.group, self.prefix, port)
        argv = [self.e2e, "soak", "--bootstrap", self.stack.bootstrap, "--events-topic", self.events,
                "--triggers-topic", self.triggers, "--partitions", str(a.partitions),
                "--rate", "%.0f" % rate, "--seconds", str(seconds), "--customers", str(a.customers),
                "--seed", str(a.seed), "--window-ms", str(int(a.interval * 1000))]
        if a.trouble_rate is not None:
            argv += ["--trouble-rate", str(a.trouble_rate)]
        lp = os.path.join(self.logs, "soak")
        with open(lp + ".cmd", "w") as f:
            f.write(" ".join(argv) + "\n")
        inst = sbs.Child(argv, lp + ".out", lp + ".err", stdin=subprocess.PIPE, stdout_pipe=True)
        soak_line, produced_line = None, None
        t_prod_end = t_caught_up = None
        csv_path = os.path.join(a.out, "samples.csv")
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            self.wait_assigned(worker, self.group, self.events)
            if inst.readline(90) != "READY":
                raise RuntimeError("vg_bench_e2e soak not ready; see %s" % inst.err_path)
            prev = {}
            self.write_row(self.sample(0.0, "start", {}, worker, port, prev, inst), w, f)
            log("soak: %s events/s for %d s, %d customers, %d partitions; a sample every %g s"
                % ("%.0f" % rate, seconds, a.customers, a.partitions, a.interval))
            inst.tell("GO")
            t0 = time.monotonic()
            told_done = False
            drain_deadline = None
            while soak_line is None:
                line = inst.readline(1.0)
                if line is None and inst.poll() is not None:
                    raise RuntimeError("vg_bench_e2e soak exited (%s); see %s" % (inst.status, inst.err_path))
                if worker.poll() is not None:
                    raise RuntimeError("vigil-worker exited (%s) during the soak; see %s"
                                       % (worker.status, worker.err_path))
                if line and line.startswith("WIN "):
                    win = kv(line)
                    phase = "produce" if produced_line is None else "drain"
                    row = self.sample(float(win["t_s"]), phase, win, worker, port, prev, inst)
                    self.write_row(row, w, f)
                    if len(self.rows) % max(1, int(60 / a.interval)) == 0 or phase == "drain":
                        log("t=%5.0fs %-7s lag %7s  RSS %5.1f MB (HWM %5.1f)  p99 %7s ms  redis %6.1f MB %7s keys  load %.1f"
                            % (row["t_s"], phase, row["lag"], row["rss_mb"] or 0, row["hwm_mb"] or 0,
                               "%.1f" % row["p99_ms"] if row["p99_ms"] is not None else "-",
                               row["redis_used_mb"] or 0, row["redis_keys"], row["load1"]))
                elif line and line.startswith("PRODUCED "):
                    produced_line = kv(line)
                    t_prod_end = time.monotonic() - t0
                    drain_deadline = time.monotonic() + a.drain_timeout
                    log("produced %s events at %s/s; draining" % (produced_line["n"], produced_line["eps"]))
                elif line and line.startswith("SOAK "):
                    soak_line = kv(line)
                if produced_line and not told_done:
                    n = int(produced_line["n"])
                    c = committed(self.stack, self.group, self.events, a.partitions) or 0
                    if c >= n or time.monotonic() > drain_deadline:
                        if c < n:
                            self.fail("the worker had committed %d of %d events %d s after production ended"
                                      % (c, n, a.drain_timeout))
                        t_caught_up = time.monotonic() - t0
                        log("committed %d/%d, %.1f s after production ended" % (c, n, t_caught_up - t_prod_end))
                        inst.tell("DONE")
                        told_done = True
        if inst.wait(60) != 0:
            self.fail("vg_bench_e2e soak exited %s; see %s" % (inst.status, inst.err_path))
        with open(wlp + ".metrics", "w") as mf:
            mf.write(sbs.vigil_metrics(port))
        hwm_final = sbs.proc_status_kb(worker.pid, "VmHWM")
        st = worker.stop(60)
        if st != 0:
            self.fail("vigil-worker exited %s on SIGTERM; see %s" % (st, worker.err_path))
        self.result.update({
            "produced": produced_line, "soak": soak_line, "samples_csv": csv_path,
            "production_s": t_prod_end, "catch_up_s": (t_caught_up - t_prod_end) if t_caught_up else None,
            "final_hwm_mb": hwm_final / 1024.0 if hwm_final else None,
        })
        self.result["redis_memory_usage"] = self.memory_usage()
        if not self.a.no_audit:
            self.audit(int(produced_line["n"]))

    def memory_usage(self, want=1000):
        """MEMORY USAGE over the first `want` customer state keys SCAN finds."""
        sizes = []
        try:
            for k in self.stack.redis.scan_iter(match=self.prefix + "*", count=1000):
                u = self.stack.redis.memory_usage(k, samples=0)
                # A state is a string "<version>\n<bytes>" (a hash of the earlier layout until its
                # next write); the partitions' markers (":applied") and the health probe are strings
                # too, the deadline indexes sorted sets.
                t = self.stack.redis.type(k)
                if u and (t == b"hash" or (t == b"string" and not k.endswith(b":applied")
                                           and b":health:" not in k)):
                    sizes.append(u)
                if len(sizes) >= want:
                    break
        except Exception as e:
            log("MEMORY USAGE: %s" % e)
        return {"keys": len(sizes), "mean_bytes": statistics.mean(sizes) if sizes else None}

    def audit(self, n):
        argv = [self.e2e, "audit", "--bootstrap", self.stack.bootstrap, "--events-topic", self.events,
                "--triggers-topic", self.triggers, "--events", str(n)]
        lp = os.path.join(self.logs, "audit")
        with open(lp + ".cmd", "w") as f:
            f.write(" ".join(argv) + "\n")
        log("audit: %d events through vg_oracle, against the triggers topic (read_committed)" % n)
        ch = sbs.Child(argv, lp + ".out", lp + ".err", stdin=subprocess.DEVNULL)
        while ch.poll() is None:
            time.sleep(1)
        line = sbs.kv_line(lp + ".out", "AUDIT")
        self.result["audit"] = line
        if not line:
            self.fail("the audit printed no AUDIT line (exit %s): %s" % (ch.status, sbs.tail(lp + ".err", 3)))
            return
        if int(line["missing"]) or int(line["extra"]) or int(line["gaps"]):
            self.fail("triggers against the oracle: %s missing, %s extra (%s offset gaps)"
                      % (line["missing"], line["extra"], line["gaps"]))

    def cleanup(self):
        if self.a.keep:
            return
        try:
            self.stack.drop_keys(self.prefix)
            self.stack.delete_topics(self.id + ".")
        except Exception as e:
            log("cleanup: %s" % e)


# --- the summary ---------------------------------------------------------------

def series(rows, key, phases=("produce",)):
    return [(r["t_s"], r[key]) for r in rows if r["phase"] in phases and r[key] is not None]


def flat_verdict(rows, key, rate):
    """flat: the fitted rise is within the bound; rising: it is above the
    bound by more than two standard errors; otherwise noise decides
    (inconclusive: a short or noisy run)."""
    pts = series(rows, key)
    if len(pts) < 4:
        return {"verdict": "too few windows", "ok": None}
    t_end = pts[-1][0]
    tail = [(t, y) for t, y in pts if t >= t_end / 4]
    xs, ys = [t for t, _ in tail], [y for _, y in tail]
    rise, se = fit_rise(xs, ys)
    mean = statistics.mean(ys)
    unit, rel, absolute = FLAT[key]
    if key == "lag":
        absolute = rate  # one second of production
    bound = max(rel * mean, absolute)
    if rise is None:
        verdict, ok = "too few windows", None
    elif rise <= bound:
        verdict, ok = "flat", True
    elif rise - 2 * se > bound:
        verdict, ok = "RISING", False
    else:
        verdict, ok = "inconclusive", None
    return {"verdict": verdict, "ok": ok, "rise": rise, "se": se, "mean": mean, "bound": bound,
            "unit": unit, "from_s": xs[0], "to_s": xs[-1], "windows": len(xs)}


def summarize(s):
    rows, res, a = s.rows, s.result, s.a
    prod = [r for r in rows if r["phase"] == "produce"]
    out = {}

    def first_last_max(key, rs=prod):
        v = [r[key] for r in rs if r[key] is not None]
        return (v[0], v[-1], max(v)) if v else (None, None, None)

    out["lag"] = first_last_max("lag")
    out["lag_metric"] = first_last_max("lag_metric")
    out["rss"] = first_last_max("rss_mb")
    out["hwm"] = first_last_max("hwm_mb", rows)
    p99 = [r["p99_ms"] for r in prod if r["p99_ms"] is not None]
    out["p99"] = (p99[0], statistics.median(p99), max(p99)) if p99 else (None, None, None)
    out["redis_used"] = first_last_max("redis_used_mb", rows)
    out["redis_keys"] = first_last_max("redis_keys", rows)
    out["flat"] = {k: flat_verdict(rows, k, res["rate"]) for k in FLAT}
    # Redis over the second half of the production: still growing?
    pts = series(rows, "redis_used_mb")
    if len(pts) >= 4:
        half = [(t, y) for t, y in pts if t >= pts[-1][0] / 2]
        out["redis_rise_2nd_half_mb"] = fit_rise([t for t, _ in half], [y for _, y in half])[0]
    res["summary"] = out
    return out


def fmt(x, spec="%.1f"):
    return "-" if x is None else spec % x


def report(s, out):
    res, a = s.result, s.a
    p, sk, au = res.get("produced") or {}, res.get("soak") or {}, res.get("audit") or {}
    base = next((r for r in s.rows if r["phase"] == "start"), None)
    last = s.rows[-1] if s.rows else None
    lines = []
    L = lines.append
    L("# Soak: vigil-worker at_least_once, %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    L("duration      %d s of production (%.1f min), then %s s to catch up; %d windows of %g s"
      % (res["seconds"], res["seconds"] / 60, fmt(res.get("catch_up_s")), len(s.rows) - 1, a.interval))
    L("events        %s produced at %s/s (target %.0f/s), %d customers, %d partitions, seed %d"
      % (p.get("n", "-"), p.get("eps", "-"), res["rate"], a.customers, a.partitions, a.seed))
    if res.get("max_eps"):
        L("rate          %s of the at_least_once maximum measured at the start, %.0f events/s"
          % (a.rate, res["max_eps"]))
    L("triggers      %s read (%s absence, %s repeats); oracle: %s expected (%s by a deadline)"
      % (sk.get("triggers", "-"), sk.get("absence", "-"), sk.get("repeats", "-"),
         au.get("expected", "-"), au.get("deadline", "-")))
    L("vs oracle     missing %s, extra %s, duplicates %s (distinct %s of %s records); audit %s s, oracle %s MB"
      % (au.get("missing", "-"), au.get("extra", "-"), au.get("duplicates", "-"), au.get("distinct", "-"),
         au.get("got", "-"), au.get("seconds", "-"), au.get("oracle_mb", "-")))
    f, l, m = out["lag"]
    L("lag           first %s, last %s, max %s events (end offsets - committed); worker metric max %s"
      % (fmt(f, "%.0f"), fmt(l, "%.0f"), fmt(m, "%.0f"), fmt(out["lag_metric"][2], "%.0f")))
    f, l, m = out["rss"]
    L("worker RSS    first %s, last %s, max %s MB; VmHWM %s MB at the end"
      % (fmt(f), fmt(l), fmt(m), fmt(res.get("final_hwm_mb") or out["hwm"][2])))
    f, med, m = out["p99"]
    L("p99 latency   first %s, median %s, max %s ms over the windows; whole run p50 %s, p99 %s, p99.9 %s, max %s ms (%s samples)"
      % (fmt(f), fmt(med), fmt(m), sk.get("p50_ms", "-"), sk.get("p99_ms", "-"),
         sk.get("p999_ms", "-"), sk.get("max_ms", "-"), sk.get("samples", "-")))
    f, l, m = out["redis_used"]
    kf, kl, _ = out["redis_keys"]
    per_key = ((l - (base["redis_used_mb"] or 0)) * 2**20 / (kl - (base["redis_keys"] or 0))
               if l and kl and base and kl > (base["redis_keys"] or 0) else None)
    mu = res.get("redis_memory_usage") or {}
    L("Redis         used_memory first %s, last %s MB; keys %s -> %s; %s bytes of used_memory per key"
      " (baseline off), MEMORY USAGE %s bytes (mean of %s state keys); rise over the 2nd half %s MB"
      % (fmt(f), fmt(l), kf, kl, fmt(per_key, "%.0f"), fmt(mu.get("mean_bytes"), "%.0f"),
         mu.get("keys", 0), fmt(out.get("redis_rise_2nd_half_mb"))))
    verdicts = []
    for k, v in out["flat"].items():
        if "rise" not in v:
            verdicts.append("%s: %s" % (k, v["verdict"]))
        else:
            verdicts.append("%s %s (fitted rise %s +- %s %s over %.0f-%.0f s, bound %s, mean %s)" % (
                k, v["verdict"], fmt(v["rise"]), fmt(2 * v["se"]), v["unit"], v["from_s"], v["to_s"],
                fmt(v["bound"]), fmt(v["mean"])))
    L("flat          " + ";\n              ".join(verdicts))
    if last:
        L("load          load average %.1f at the end (2 cores)" % last["load1"])
    lost = au.get("missing")
    flat = out["flat"]
    if all(v["ok"] for v in flat.values()):
        shape = "lag, RSS and p99 flat"
    else:
        shape = ", ".join("%s %s" % (k, v["verdict"]) for k, v in flat.items())
    L("verdict       %s; %s" % (shape, "%s triggers lost" % lost if lost is not None else "no audit"))
    for why in res["failures"]:
        L("FAILED        " + why)
    return "\n".join(lines)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack-env", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--rate", required=True, help="events/s, or N%% of a maximum measured first")
    ap.add_argument("--customers", type=int, required=True)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--trouble-rate", type=float, default=None, help="default: the generator's (0.05)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds per sample")
    ap.add_argument("--max-events", type=int, default=300000, help="input of the --rate N%% measurement")
    ap.add_argument("--drain-timeout", type=int, default=600)
    ap.add_argument("--keep", action="store_true", help="leave topics and Redis keys")
    ap.add_argument("--no-audit", action="store_true", help="skip the audit (to try rates)")
    return ap.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    s = Soak(a)
    rc = 0
    try:
        if a.rate.endswith("%"):
            mx = s.measure_max()
            s.result["max_eps"] = mx
            rate = mx * float(a.rate[:-1]) / 100.0
        else:
            rate = float(a.rate)
        s.run(rate)
    except Exception as e:
        s.fail(str(e))
    finally:
        sbs.Child.kill_all()
        s.probe.close()
    if s.rows:
        out = summarize(s)
        text = report(s, out)
        print(text)
        with open(os.path.join(a.out, "summary.txt"), "w") as f:
            f.write(text + "\n")
        try:
            png = soak_charts.draw(os.path.join(a.out, "samples.csv"), os.path.join(a.out, "soak.png"),
                                   title="vigil-worker at_least_once, %.0f events/s, %d customers"
                                   % (s.result["rate"], a.customers))
            print("charts        " + png)
        except Exception as e:
            log("charts: %s" % e)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(s.result, f, indent=1, default=str)
    s.cleanup()
    if s.result["failures"]:
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
