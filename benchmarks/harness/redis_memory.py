"""Redis memory per customer: MEMORY USAGE over a sample of state keys,
and the state's bytes by field (benchmarks/redis-memory.sh).

    redis_memory.py HOST PORT PREFIX [--sample N]

Prints one `MEM` line (keys, mean MEMORY USAGE, mean value bytes, Redis
encoding) and one line per CustomerState field with its mean encoded bytes
per state (its tag and length included), largest first. Values of the
string layout ("<version>\\n<state>") and of the older hash layout
({v, s}) are both read.
"""
import argparse
import atexit
import importlib
import os
import random
import shutil
import sys
import tempfile

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def state_class():
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="vigil-mem-pb-")
    atexit.register(shutil.rmtree, out, True)
    schemas = os.path.join(ROOT, "schemas")
    args = ["protoc", "-I" + schemas, "--python_out=" + out]
    args += [os.path.join(schemas, "vigil/v1", p) for p in ("event.proto", "state.proto")]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on state.proto")
    sys.path.insert(0, out)
    return importlib.import_module("vigil.v1.state_pb2").CustomerState


def repeated(fd):
    # protobuf 6 has is_repeated; older releases only label.
    if hasattr(fd, "is_repeated"):
        return fd.is_repeated
    return fd.label == fd.LABEL_REPEATED


def state_bytes(r, key):
    kind = r.type(key).decode()
    if kind == "hash":
        return kind, r.hget(key, "s") or b""
    value = r.get(key) or b""
    head, _, rest = value.partition(b"\n")
    return kind, rest if head.isdigit() else value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("prefix")
    ap.add_argument("--sample", type=int, default=500)
    a = ap.parse_args()
    r = redis.Redis(a.host, a.port)
    keys = [k for k in r.scan_iter(match=a.prefix + ":{*}:*", count=1000)
            if not k.endswith((b":due", b":applied"))]
    if not keys:
        sys.exit("no state keys under %s" % a.prefix)
    random.seed(1)
    sample = random.sample(keys, min(a.sample, len(keys)))
    Cls = state_class()
    usage = values = 0
    kinds, fields = {}, {}
    for k in sample:
        usage += r.memory_usage(k, samples=0)
        kind, data = state_bytes(r, k)
        kinds[kind] = kinds.get(kind, 0) + 1
        values += len(data)
        st = Cls.FromString(data)
        for fd, _ in st.ListFields():
            one = Cls()
            if repeated(fd):
                getattr(one, fd.name).extend(getattr(st, fd.name))
            elif fd.message_type:
                getattr(one, fd.name).CopyFrom(getattr(st, fd.name))
            else:
                setattr(one, fd.name, getattr(st, fd.name))
            fields[fd.name] = fields.get(fd.name, 0) + one.ByteSize()
    n = len(sample)
    print("MEM keys=%d sampled=%d memory_usage=%.0f state_bytes=%.0f encoding=%s"
          % (len(keys), n, usage / n, values / n,
             ",".join("%s:%d" % kv for kv in sorted(kinds.items()))))
    for name, total in sorted(fields.items(), key=lambda kv: -kv[1]):
        print("FIELD %-22s %6.1f" % (name, total / n))


if __name__ == "__main__":
    main()
