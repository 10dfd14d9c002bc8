#!/usr/bin/env python3
"""Run the contract suite (tests/contract/README.md).

    run.py [--mode exactly_once|at_least_once] [--suite hostile|stopped_partition]
           [--out DIR] [PYTEST_ARGS...]

Needs, from the environment (ctest sets them): VIGIL_STACK_ENV (the stack
fixture's stack.env), VIGIL_WORKER_BIN (vigilctl is next to it) and
VIGIL_REPO. Starts with any python3, then re-executes itself with the venv
ops/setup.sh makes (${VIGIL_CACHE:-~/.cache/vigil}/venv, or
VIGIL_CONTRACT_PYTHON), which has confluent-kafka, protobuf, grpcio-tools
and pytest from PyPI. Generates the Python protobuf classes from schemas/
into DIR/gen (never into the source tree), then runs pytest on the suite's
file: test_contract.py (hostile, the default) or test_stopped_partition.py.

Exit status: 0 passed, 1 failed, 77 skipped (no stack, no venv or a tool
missing from it; always said why), 2 bad usage.
"""

import argparse
import os
import subprocess
import sys

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ("confluent_kafka", "google.protobuf", "grpc_tools", "pytest")
SUITES = {"hostile": "test_contract.py", "stopped_partition": "test_stopped_partition.py"}


def skip(why):
    print("SKIP contract: " + why, flush=True)
    sys.exit(SKIP)


def venv_python():
    if os.environ.get("VIGIL_CONTRACT_PYTHON"):
        return os.environ["VIGIL_CONTRACT_PYTHON"]
    cache = os.environ.get("VIGIL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                          "vigil")
    return os.path.join(cache, "venv", "bin", "python")


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--mode", default="exactly_once", choices=["exactly_once", "at_least_once"])
    ap.add_argument("--suite", default="hostile", choices=sorted(SUITES))
    ap.add_argument("--out", default=None, help="generated classes and worker logs")
    args, pytest_args = ap.parse_known_args()

    stack_env = os.environ.get("VIGIL_STACK_ENV")
    if not stack_env or not os.access(stack_env, os.R_OK):
        skip("no stack (VIGIL_STACK_ENV=%s not readable); run it through ctest, whose "
             "`stack` fixture starts Kafka and Redis" % (stack_env or "(unset)"))
    worker = os.environ.get("VIGIL_WORKER_BIN", "")
    if not os.access(worker, os.X_OK):
        print("FAIL contract: VIGIL_WORKER_BIN=%r is not an executable" % worker, flush=True)
        sys.exit(1)
    repo = os.environ.get("VIGIL_REPO") or os.path.dirname(os.path.dirname(HERE))
    os.environ["VIGIL_REPO"] = repo

    # Into the venv (once).
    py = venv_python()
    if os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(py))):
        if not os.access(py, os.X_OK):
            skip("no Python venv at %s; run `bash ops/setup.sh` (it installs the suite's "
                 "PyPI tools there)" % py)
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])

    missing = []
    for mod in MODULES:
        try:
            __import__(mod)
        except ImportError as e:
            missing.append("%s (%s)" % (mod, e))
    if missing:
        skip("the venv %s lacks %s; run `bash ops/setup.sh`" % (sys.prefix, ", ".join(missing)))

    out = os.path.abspath(args.out or os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                   "vigil-contract-%d" % os.getuid()))
    gen = os.path.join(out, "gen")
    os.makedirs(gen, exist_ok=True)
    schemas = os.path.join(repo, "schemas")
    protos = [os.path.join(schemas, "vigil", "v1", p) for p in ("event.proto", "trigger.proto")]
    r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + schemas,
                        "--python_out=" + gen] + protos, capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL contract: protoc: %s" % r.stderr.strip(), flush=True)
        sys.exit(1)

    sys.dont_write_bytecode = True     # no __pycache__ in the source tree
    sys.path[:0] = [gen, HERE]
    import pytest
    rc = pytest.main([os.path.join(HERE, SUITES[args.suite]), "--rootdir", HERE,
                      "-p", "no:cacheprovider", "-v", "-s", "-rfEs", "--tb=short",
                      "--vigil-mode", args.mode, "--vigil-out", out] + pytest_args)
    # pytest: 0 passed, 1 failed, 2 interrupted, 3 internal error, 4 usage,
    # 5 nothing collected. Only 0 is a pass, and nothing here is a skip.
    sys.exit(0 if rc == 0 else 1)


if __name__ == "__main__":
    main()
