"""pytest wiring of the contract suite: one session runs the whole scenario
once against one vigil-worker (in the mode given by --vigil-mode) and the
tests in test_contract.py assert on what came out.

Run it through run.py (ctest does), which checks the tools, generates the
Python protobuf classes from schemas/ and passes the options below.
"""

import os
import signal
import time

import pytest

import vgc_harness as h
import vgc_scenario as sc
import vgc_wire as wire


def pytest_addoption(parser):
    parser.addoption("--vigil-mode", default="exactly_once",
                     choices=["exactly_once", "at_least_once"])
    parser.addoption("--vigil-out", default=None, help="folder for worker logs")


class Results:
    pass


def _decode_all(msgs, trigger_pb2):
    out = []
    for m in msgs:
        t = trigger_pb2.InterventionTrigger()
        try:
            t.ParseFromString(m.value)   # upb validates UTF-8 of every string
            out.append((m, t, None))
        except Exception as e:  # DecodeError: keep it, test_every_trigger_decodes reports it
            out.append((m, None, "%s: %s" % (type(e).__name__, e)))
    return out


@pytest.fixture(scope="session")
def event_pb2():
    from vigil.v1 import event_pb2 as m
    return m


@pytest.fixture(scope="session")
def run(request):
    from vigil.v1 import trigger_pb2

    mode = request.config.getoption("--vigil-mode")
    repo = os.environ["VIGIL_REPO"]
    out_dir = request.config.getoption("--vigil-out") or os.path.join(
        os.environ.get("TMPDIR", "/tmp"), "vigil-contract")
    r = Results()
    r.mode = mode
    r.validity = h.model_validity(os.path.join(repo, "workers", "models", "default.yaml"))
    t0 = time.monotonic()
    run = h.Run(mode, os.environ["VIGIL_STACK_ENV"], os.environ["VIGIL_WORKER_BIN"], repo,
                out_dir)
    r.run = run
    # T: the Kafka timestamp of every record, a little before now.
    r.sc = sc.Scenario(h.now_ms() - 5000, wire.encode_event)
    # Signing keys: k1 signs phase 1; before phase 2 the file is rewritten
    # with a new key k2 first (a rotation) and the worker gets SIGHUP.
    os.makedirs(out_dir, exist_ok=True)
    r.keys_path = os.path.join(out_dir, "signing-%s.keys" % run.suffix)
    r.old_keys_path = os.path.join(out_dir, "signing-%s-k1.keys" % run.suffix)
    r.secrets = {"k1": os.urandom(32), "k2": os.urandom(48)}
    for path, kids in ((r.keys_path, ("k1",)), (r.old_keys_path, ("k1",))):
        with open(path, "w") as f:
            f.write("".join("%s %s\n" % (k, r.secrets[k].hex()) for k in kids))
    try:
        run.create_topics()
        run.start_worker(["signing.keys_file=%s" % r.keys_path])
        run.produce(r.sc.phase1)
        r.processed1 = run.wait_processed(60)
        print("phase 1: %d records, processed=%s (%.1f s)"
              % (len(r.sc.phase1), r.processed1[0], time.monotonic() - t0), flush=True)
        # Before phase 2, while the states are as phase 1 left them.
        r.state = {c: run.vigilctl("state", c, "--tenant", sc.TENANT)
                   for c in ("s", "dup", "a2")}
        r.explain_a2 = run.vigilctl("explain", "a2", "--tenant", sc.TENANT)
        r.explain_s = run.vigilctl("explain", "s", "--tenant", sc.TENANT)
        with open(r.keys_path + ".tmp", "w") as f:
            f.write("# rotated\nk2 %s\nk1 %s\n" % (r.secrets["k2"].hex(), r.secrets["k1"].hex()))
        os.replace(r.keys_path + ".tmp", r.keys_path)
        run.worker.send_signal(signal.SIGHUP)
        r.rotated, _, _ = h.wait_for(
            lambda: (bool(run.log_lines("signing with key k2")), None), 30)
        run.produce(r.sc.phase2)
        r.processed2 = run.wait_processed(30)
        print("phase 2: %d records, processed=%s (%.1f s)"
              % (len(r.sc.phase2), r.processed2[0], time.monotonic() - t0), flush=True)
        r.trigger_msgs = run.read_all(run.topic_triggers)
        r.dlq = run.read_all(run.topic_dlq)
        r.triggers = _decode_all(r.trigger_msgs, trigger_pb2)
        # vigilctl verify, as a consumer would run it: both keys, then the
        # old key alone (which must not know k2).
        r.verify_triggers = run.vigilctl("verify", "--topic", run.topic_triggers, "--keys",
                                         r.keys_path, "--timeout-ms", "2000")
        r.verify_dlq = run.vigilctl("verify", "--topic", run.topic_dlq, "--keys", r.keys_path,
                                    "--timeout-ms", "2000")
        r.verify_old = run.vigilctl("verify", "--topic", run.topic_triggers, "--keys",
                                    r.old_keys_path, "--timeout-ms", "2000")
        r.exit_code = run.stop_worker(30)
        print("read %d triggers, %d dead letters; worker exit %s (%.1f s in all)"
              % (len(r.trigger_msgs), len(r.dlq), r.exit_code, time.monotonic() - t0),
              flush=True)
    except Exception:
        print("worker log tail:\n" + run.log_tail(), flush=True)
        raise
    finally:
        run.kill_worker()
    r.worker_log_tail = run.log_tail(40)
    r.runtime_s = time.monotonic() - t0
    return r
