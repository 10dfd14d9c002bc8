"""Protobuf classes for vigil.v1, generated from schemas/ at run time.

grpc_tools.protoc compiles schemas/vigil/v1/{event,trigger}.proto into a
fresh temporary directory (removed at exit); nothing generated is committed.
"""
import atexit
import importlib
import os
import shutil
import sys
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "schemas"))
_PROTOS = ("vigil/v1/event.proto", "vigil/v1/trigger.proto")


def load(schemas=SCHEMAS):
    """Compile the schemas and return (event_pb2, trigger_pb2)."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="vigil-peer-pb-")
    atexit.register(shutil.rmtree, out, True)
    args = ["protoc", "-I" + schemas, "--python_out=" + out]
    args += [os.path.join(schemas, p) for p in _PROTOS]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on %s" % ", ".join(_PROTOS))
    sys.path.insert(0, out)
    try:
        event_pb2 = importlib.import_module("vigil.v1.event_pb2")
        trigger_pb2 = importlib.import_module("vigil.v1.trigger_pb2")
    finally:
        sys.path.remove(out)
    return event_pb2, trigger_pb2
