"""Request bodies in Kubernetes' protobuf encoding, for the few kinds kubectl's typed
commands send that way (`kubectl create namespace|configmap|secret`, `kubectl auth
can-i|whoami`). Field numbers from the API's generated.proto files; any other kind
is refused with 415, as a server without that encoding would."""

from __future__ import annotations

import base64
from typing import Any

from . import errors as E

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"
Schema = dict[int, tuple[str, Any]]  # field number -> (name, type: "str" | "bytes" | ...)

_META: Schema = {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
                 11: ("labels", "map"), 12: ("annotations", "map")}
_ATTRS: Schema = {1: ("namespace", "str"), 2: ("verb", "str"), 3: ("group", "str"),
                  4: ("version", "str"), 5: ("resource", "str"), 6: ("subresource", "str"),
                  7: ("name", "str")}
KINDS: dict[str, Schema] = {
    "ConfigMap": {1: ("metadata", _META), 2: ("data", "map"), 3: ("binaryData", "bmap"),
                  4: ("immutable", "bool")},
    "Secret": {1: ("metadata", _META), 2: ("data", "bmap"), 3: ("type", "str"),
               4: ("stringData", "map"), 5: ("immutable", "bool")},
    "Namespace": {1: ("metadata", _META)},
    "SelfSubjectAccessReview": {1: ("metadata", _META),
                                2: ("spec", {1: ("resourceAttributes", _ATTRS)})},
    "SelfSubjectReview": {1: ("metadata", _META)},
}


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.append((number, wire, value))
    return out


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _message(data: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, _, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, dict):
            out[name] = _message(value, kind)
        elif kind == "str":
            out[name] = value.decode()
        elif kind == "bool":
            out[name] = bool(value)
        elif kind in ("map", "bmap"):
            entry = {n: v for n, _, v in _fields(value)}
            raw = entry.get(2, b"")
            out.setdefault(name, {})[entry.get(1, b"").decode()] = (
                base64.b64encode(raw).decode() if kind == "bmap" else raw.decode())
    return out


def decode(body: bytes) -> dict[str, Any]:
    try:
        if not body.startswith(MAGIC):
            raise ValueError("no k8s protobuf envelope")
        envelope = {n: v for n, _, v in _fields(body[len(MAGIC):])}
        type_meta = {n: v.decode() for n, _, v in _fields(envelope.get(1, b""))}
        api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
        schema = KINDS.get(kind)
        if schema is None:
            raise E.unsupported_media(f"{PROTOBUF} ({kind})")
        obj = _message(envelope.get(2, b""), schema)
    except (ValueError, UnicodeDecodeError, IndexError) as exc:
        raise E.bad_request(f"unable to decode the protobuf body: {exc}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
