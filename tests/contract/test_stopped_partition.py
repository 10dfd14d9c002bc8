"""A dead letter that cannot be written stops one partition, not the worker
(docs/triggers.md "Dead letters", docs/runbook.md "VigilPartitionStopped"),
asserted from the outside against a real worker, Kafka and Redis.

The dead-letter topic is created with max.message.bytes=2000, so the broker
refuses (asynchronously) the dead letter of a 3,000-byte invalid event on
P0. The worker retries the batch; after dead_letter.max_retries (3 here)
failed attempts at that record it must pause P0 alone: P1 and P2 keep
deciding, /readyz answers 503, vigil_partitions_stopped is 1, the log says
"STOPPED at offset", and P0's committed offset stays at the bad record.
The traffic is vgc_scenario.StoppedPartitionScenario.

The scenario runs once per module (the `stopped` fixture below, which
only records what it saw); each test checks one promise.
"""

import collections
import os
import re
import time

import pytest

import vgc_harness as h
import vgc_scenario as sc
import vgc_wire as wire

MAX_RETRIES = 3
DLQ_MAX_MESSAGE_BYTES = 2000
DRAIN_TIMEOUT_MS = 10000
STOP_WAIT_S = 30                      # a worker that counts right stops within ~1 s
STOPPED_LINE = "STOPPED at offset"
OTHERS = (1, 2)                       # the partitions that must keep moving


class Seen:
    """What the fixture observed; the tests assert on it."""


def _snapshot(run):
    status, body = run.http_get("/readyz")
    return {"vigil_partitions_stopped": run.metric("vigil_partitions_stopped"),
            "vigil_dead_letter_errors_total": run.metric("vigil_dead_letter_errors_total"),
            "vigil_batch_retries_total": run.metric("vigil_batch_retries_total"),
            "readyz": status, "readyz_body": (body or "").strip(),
            "committed": run.committed()}


def _stopped_lines(run):
    return run.log_lines(STOPPED_LINE)


def _attempts(run, bad):
    """(attempts at dead-lettering the bad record before the STOPPED line,
    in all, and why batches were abandoned: {reason: count}) from the log."""
    lines = run.log_text().splitlines()
    stop = next((i for i, ln in enumerate(lines) if STOPPED_LINE in ln), len(lines))
    needle = "dead-letter %s [%d] @%d:" % (run.topic_events, bad.partition, bad.offset)
    reasons = collections.Counter()
    for ln in lines:
        m = re.search(r'abandoned, will retry: (.*?)"}?$', ln)
        if m:
            why = m.group(1).replace(run.suffix, "*")
            reasons[re.sub(r"\d+", "N", why)[:140]] += 1
    return (sum(needle in ln for ln in lines[:stop]), sum(needle in ln for ln in lines),
            dict(reasons))


@pytest.fixture(scope="module")
def stopped(request):
    from vigil.v1 import trigger_pb2

    mode = request.config.getoption("--vigil-mode")
    repo = os.environ["VIGIL_REPO"]
    out_dir = request.config.getoption("--vigil-out") or os.path.join(
        os.environ.get("TMPDIR", "/tmp"), "vigil-contract")
    t0 = time.monotonic()
    run = h.Run(mode, os.environ["VIGIL_STACK_ENV"], os.environ["VIGIL_WORKER_BIN"], repo,
                out_dir, partitions=3, name="stopped")
    run.drain_timeout_ms = DRAIN_TIMEOUT_MS
    r = Seen()
    r.mode, r.run = mode, run
    r.sc = sc.StoppedPartitionScenario(h.now_ms() - 5000, wire.encode_event)
    bad = r.sc.by_label["bad"]

    def say(what):
        print("stopped_partition %s: %s (%.1f s)" % (mode, what, time.monotonic() - t0),
              flush=True)

    try:
        run.create_topics({run.topic_dlq: {"max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)}})
        run.start_worker(["dead_letter.max_retries=%d" % MAX_RETRIES])

        # Phase 1: ordinary ladders on P0 and P1; P0 is committed up to 3.
        run.produce(r.sc.phases[1])
        r.processed1 = run.wait_processed(60)
        # Readiness comes from real round trips; ask until it says ready.
        def ready():
            snap = _snapshot(run)
            return snap["readyz"] == 200, snap
        _, r.before, _ = h.wait_for(ready, 10)
        say("phase 1 processed=%s, before the bad record: %s" % (r.processed1[0], r.before))

        # Phase 2: the bad record on P0, ladders after it on P0, P1, P2.
        run.produce(r.sc.phases[2])
        say("bad record at %d:%d (%d bytes)" % (bad.partition, bad.offset, len(bad.value)))
        def stopped_line():
            lines = _stopped_lines(run)
            return bool(lines) or run.worker.poll() is not None, lines
        _, r.stop_lines, r.stop_s = h.wait_for(stopped_line, STOP_WAIT_S)
        r.stop_seen = bool(r.stop_lines)
        # Once it failed to stop, later waits only need to show what happens.
        later = 60 if r.stop_seen else 10
        say("stopped line %s after %.1f s: %s" % ("seen" if r.stop_seen else "NOT seen",
                                                 r.stop_s, r.stop_lines[:2]))
        r.processed2 = run.wait_processed(later, partitions=OTHERS)
        # The metric and readiness follow the stop at once; ask until both say so.
        def says_stopped():
            snap = _snapshot(run)
            return snap["vigil_partitions_stopped"] == 1 and snap["readyz"] == 503, snap
        _, r.during, _ = h.wait_for(says_stopped, 10 if r.stop_seen else 2)
        say("phase 2: others processed=%s; while stopped: %s" % (r.processed2[0], r.during))

        # Phase 3, produced after the stop: P1 and P2 must still move, P0 not.
        run.produce(r.sc.phases[3])
        r.processed3 = run.wait_processed(later, partitions=OTHERS)
        r.after = _snapshot(run)
        say("phase 3: others processed=%s; still stopped: %s" % (r.processed3[0], r.after))

        r.trigger_msgs = run.read_all(run.topic_triggers)
        r.dlq = run.read_all(run.topic_dlq)
        r.triggers = []
        for m in r.trigger_msgs:
            t = trigger_pb2.InterventionTrigger()
            t.ParseFromString(m.value)
            r.triggers.append(t)
        r.retry_lines = len(run.log_lines("abandoned, will retry"))
        r.attempts_before_stop, r.attempts, r.abandoned = _attempts(run, bad)

        start = time.monotonic()
        r.exit_code = run.stop_worker(DRAIN_TIMEOUT_MS / 1000.0 + 5)
        r.exit_s = time.monotonic() - start
        r.committed_after_exit = run.committed()
        say("read %d triggers, %d dead letters; %d abandoned batches; worker exit %s in %.1f s"
            % (len(r.trigger_msgs), len(r.dlq), r.retry_lines, r.exit_code, r.exit_s))
    except Exception:
        print("worker log tail:\n" + run.log_tail(), flush=True)
        raise
    finally:
        run.kill_worker()
    r.log_tail = run.log_tail(40)
    r.runtime_s = time.monotonic() - t0
    say("%d attempts at the bad record before the STOPPED line (%d in all); batches abandoned "
        "because: %s" % (r.attempts_before_stop, r.attempts, r.abandoned))
    return r


# --- helpers ------------------------------------------------------------------------------

def _want_id(r, customer):
    exp = [e for e in r.sc.expected if e.customer == customer][0]
    return h.trigger_id(exp.tenant, exp.customer, exp.intervention, exp.cause)


def _of(r, customer):
    return [t for t in r.triggers if t.tenant == sc.TENANT and t.customer_id == customer]


def _fired(r, customer):
    return any(t.trigger_id == _want_id(r, customer) for t in _of(r, customer))


def _bad(r):
    return r.sc.by_label["bad"]


# --- the tests ----------------------------------------------------------------------------

def test_phase_1_processed_before_the_bad_record(stopped):
    ok, end, committed = stopped.processed1
    assert ok, "the group did not commit phase 1 within 60 s: committed %s, end %s" % (
        committed, end)
    assert stopped.before["readyz"] == 200 and stopped.before["vigil_partitions_stopped"] == 0, \
        "before the bad record: %s" % stopped.before
    missing = [c for c in ("pre0", "pre1") if not _fired(stopped, c)]
    assert not missing, "no trigger for %s" % missing


def test_broker_refuses_the_dead_letter(stopped):
    """The provocation works: the dead-letter topic holds nothing (the
    3,000-byte dead letter is over its max.message.bytes)."""
    assert not stopped.dlq, "%d dead letter(s) were written: %s" % (
        len(stopped.dlq), [(m.partition, m.offset, len(m.value)) for m in stopped.dlq])


def test_partition_stops_after_max_retries(stopped):
    """One log line "STOPPED at offset" naming P0, the bad record's offset
    and dead_letter.max_retries failed attempts."""
    bad = _bad(stopped)
    lines = stopped.stop_lines
    assert lines, ("no %r line within %.0f s of the bad record (%d:%d): %d attempts at its dead "
                   "letter, batches abandoned because %s; metrics then: %s"
                   % (STOPPED_LINE, stopped.stop_s, bad.partition, bad.offset,
                      stopped.attempts, stopped.abandoned, stopped.during))
    assert len(lines) == 1, "%d STOPPED lines: %s" % (len(lines), lines)
    line = lines[0]
    assert re.search(r"\[%d\] %s %d\b" % (bad.partition, STOPPED_LINE, bad.offset), line), \
        "the line does not name partition %d at offset %d: %s" % (bad.partition, bad.offset, line)
    m = re.search(r"failed (\d+) times", line)
    assert m and int(m.group(1)) == MAX_RETRIES, \
        "want %d failed attempts (dead_letter.max_retries): %s" % (MAX_RETRIES, line)


def test_stops_at_the_max_retries_th_attempt(stopped):
    """The partition stops at the dead_letter.max_retries-th attempt at the
    record, not later (each attempt logs "dead-letter <topic> [p] @offset"),
    and the record is not tried again once stopped."""
    bad = _bad(stopped)
    assert stopped.stop_lines, ("never stopped: %d attempts at the dead letter of %d:%d "
                                "(dead_letter.max_retries=%d); batches abandoned because %s"
                                % (stopped.attempts, bad.partition, bad.offset, MAX_RETRIES,
                                   stopped.abandoned))
    assert (stopped.attempts_before_stop, stopped.attempts) == (MAX_RETRIES, MAX_RETRIES), (
        "%d attempts at the dead letter of %d:%d before the STOPPED line (%d in all), want %d "
        "(dead_letter.max_retries); it stopped %.1f s after the record was produced; batches "
        "abandoned because %s" % (stopped.attempts_before_stop, bad.partition, bad.offset,
                                  stopped.attempts, MAX_RETRIES, stopped.stop_s,
                                  stopped.abandoned))


def test_metric_partitions_stopped_is_1(stopped):
    got = [stopped.during["vigil_partitions_stopped"], stopped.after["vigil_partitions_stopped"]]
    assert got == [1, 1], ("vigil_partitions_stopped %s (after the stop, after phase 3), want "
                           "[1, 1]; metrics then: %s" % (got, stopped.during))


def test_readyz_503_while_stopped(stopped):
    got = [stopped.during["readyz"], stopped.after["readyz"]]
    assert got == [503, 503], "/readyz %s (after the stop, after phase 3), want [503, 503]: %s" % (
        got, stopped.during["readyz_body"])


def test_other_partitions_keep_moving(stopped):
    """P1 and P2 are committed to their end after phase 2 and after phase 3
    (produced once P0 had stopped), and their ladders fire."""
    problems = []
    for name, (ok, end, committed) in (("phase 2", stopped.processed2),
                                       ("phase 3", stopped.processed3)):
        if not ok:
            problems.append("%s: P1/P2 not committed to their end: committed %s, end %s"
                            % (name, committed, end))
    missing = [c for c in ("mid1", "mid2", "late1", "late2") if not _fired(stopped, c)]
    if missing:
        problems.append("no trigger for %s" % missing)
    assert not problems, "; ".join(problems)


def test_stopped_partition_publishes_nothing_after_the_bad_record(stopped):
    """late0 (produced after the stop) decides nothing. mid0 (fetched with
    the bad record, so part of every failed attempt) neither in
    exactly_once, where each attempt's transaction is aborted. In
    at_least_once a failed attempt has published its triggers before its
    commit failed, so mid0's trigger may be there: only as repeats of the
    id it will have when the partition resumes (docs/guarantees.md), at
    most once per failed attempt."""
    got = {c: collections.Counter(t.trigger_id for t in _of(stopped, c))
           for c in ("mid0", "late0", "bad")}
    problems = ["%s: %s" % (c, dict(n)) for c, n in got.items() if n and c != "mid0"]
    mid0 = got["mid0"]
    if mid0 and stopped.mode == "exactly_once":
        problems.append("mid0: %s" % dict(mid0))
    elif mid0:
        want = h.trigger_id(sc.TENANT, "mid0", sc.CALLBACK, "mid0-3")
        if set(mid0) != {want} or mid0[want] > MAX_RETRIES:
            problems.append("mid0: %s (at most %d copies of %s allowed in at_least_once)"
                            % (dict(mid0), MAX_RETRIES, want))
    assert not problems, ("triggers of records after the bad one on P0 {trigger_id: copies}: %s"
                          % "; ".join(problems))


def test_committed_offset_stays_at_the_bad_record(stopped):
    bad = _bad(stopped)
    got = [stopped.during["committed"].get(bad.partition),
           stopped.after["committed"].get(bad.partition),
           stopped.committed_after_exit.get(bad.partition)]
    assert got == [bad.offset] * 3, (
        "P%d committed offset %s (after the stop, after phase 3, after exit), want %d, the bad "
        "record's" % (bad.partition, got, bad.offset))


def test_worker_exits_0_on_sigterm_within_the_drain_timeout(stopped):
    assert stopped.exit_code == 0 and stopped.exit_s <= DRAIN_TIMEOUT_MS / 1000.0, (
        "exit status %s after %.1f s (drain timeout %d ms); log tail:\n%s"
        % (stopped.exit_code, stopped.exit_s, DRAIN_TIMEOUT_MS, stopped.log_tail))
