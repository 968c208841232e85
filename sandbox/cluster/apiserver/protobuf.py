"""Request bodies in Kubernetes' protobuf encoding.

kubectl's typed commands (`create deployment|service|job|cronjob`, `run`, `autoscale`,
`create namespace|configmap|secret`, `auth can-i`) go through client-go's generated
clientsets, which send `application/vnd.kubernetes.protobuf` for built-in kinds and do
not retry in JSON after a 415 (client-go falls back only from CBOR). So the server
reads them: the `k8s\\0` envelope (runtime.Unknown: TypeMeta, raw object), then the
object by the field numbers in cluster/data/protobuf.json, which come from the struct
tags of kubectl itself (see cluster/data/protobuf_fields.py). The result is the JSON
that Go's encoding/json would give for the same object (omitempty honoured, inlined
fields merged), so the rest of the server cannot tell the two encodings apart. Custom
resources have no protobuf encoding: one in protobuf is refused with 415.
"""

from __future__ import annotations

import base64
import functools
import json
import struct
import time
from importlib import resources
from typing import Any

from . import errors as E

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"
META = "k8s.io/apimachinery/pkg/apis/meta/v1."
Field = tuple[str, str, str]  # json name, flags ("o" omitempty, "i" inline), type
# Package directories under k8s.io/api/ whose name is not the group's first label.
_DIRS = {"": "core", "rbac.authorization.k8s.io": "rbac",
         "internal.apiserver.k8s.io": "apiserverinternal",
         "flowcontrol.apiserver.k8s.io": "flowcontrol"}
# Zero time.Time as protobuf seconds (year 1); encoding/json writes it as null.
_ZERO_TIME = -62135596800


@functools.cache
def _schema() -> dict[str, dict[int, Field]]:
    text = resources.files("sandbox.cluster.data").joinpath("protobuf.json").read_text()
    return {key: {n: (name, flags, typ) for n, name, flags, typ in fields}
            for key, fields in json.loads(text)["structs"].items()}


def struct_for(api_version: str, kind: str) -> str | None:
    """The Go type of a built-in kind: k8s.io/api/<dir>/<version>.<Kind>, or a meta/v1
    options type."""
    group, _, version = api_version.rpartition("/")
    schema = _schema()
    key = f"k8s.io/api/{_DIRS.get(group, group.split('.')[0])}/{version}.{kind}"
    if key in schema:
        return key
    found = [k for k in schema if k.startswith("k8s.io/api/") and k.endswith(f"/{version}.{kind}")]
    if len(found) == 1:
        return found[0]
    # Options sent as bodies (DeleteOptions in a typed delete or an eviction) are
    # meta/v1 types, registered in every group version.
    return META + kind if version == "v1" and META + kind in schema else None


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            if i + size > len(data):
                raise ValueError("truncated field")
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


def _signed(v: int, bits: int) -> int:
    v &= (1 << 64) - 1
    v = v - (1 << 64) if v >= 1 << 63 else v
    return v if bits == 64 else ((v + (1 << 31)) % (1 << 32)) - (1 << 31)


def _scalar(value: Any, wire: int, typ: str) -> Any:
    if typ == "string":
        return bytes(value).decode()
    if typ == "bytes":
        return base64.b64encode(value).decode()
    if typ == "bool":
        return bool(value)
    if typ in ("int32", "int64"):
        return _signed(int(value), 32 if typ == "int32" else 64)
    if typ == "float64":
        return struct.unpack("<d", value)[0] if wire == 1 else float(value)
    if typ == "any":
        raise ValueError("a field of interface type has no protobuf encoding")
    return _message(bytes(value), typ)


def _value(value: Any, wire: int, typ: str) -> Any:
    return _scalar(value, wire, typ.lstrip("*"))


def _repeated(value: Any, wire: int, elem: str) -> list[Any]:
    elem = elem.lstrip("*")
    if wire == 2 and elem in ("bool", "int32", "int64"):  # packed numbers
        out, i = [], 0
        while i < len(value):
            v, i = _varint(value, i)
            out.append(_scalar(v, 0, elem))
        return out
    return [_scalar(value, wire, elem)]


def _map_entry(value: bytes, typ: str) -> tuple[Any, Any]:
    key_type, value_type = typ[4:].split("]", 1)
    key: Any = "" if key_type == "string" else 0
    val: Any = None
    for number, wire, v in _fields(value):
        if number == 1:
            key = _value(v, wire, key_type)
        elif number == 2:
            val = _value(v, wire, value_type)
    if val is None:
        val = _value(b"", 2, value_type) if not value_type.startswith("[]") else []
    return key, val


def _special(data: bytes, typ: str) -> tuple[bool, Any]:
    """Types with their own JSON form (and, for Time, a hand-written protobuf one)."""
    name = typ.rsplit("/", 1)[-1]
    f = {n: v for n, _, v in _fields(data)}
    if name in ("v1.Time", "v1.MicroTime") and typ.startswith(META):
        seconds, nanos = _signed(f.get(1, 0), 64), f.get(2, 0)
        if seconds in (0, _ZERO_TIME) and not nanos:
            return True, None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        return True, stamp + (f".{nanos // 1000:06d}Z" if name == "v1.MicroTime" else "Z")
    if name == "v1.Duration" and typ.startswith(META):
        return True, _duration(_signed(f.get(1, 0), 64))
    if name == "resource.Quantity":
        return True, bytes(f.get(1, b"0")).decode()
    if name == "intstr.IntOrString":
        return True, (bytes(f.get(3, b"")).decode() if f.get(1) else _signed(f.get(2, 0), 32))
    if name in ("runtime.RawExtension", "v1.FieldsV1"):
        raw = bytes(f.get(1, b""))
        return True, json.loads(raw) if raw else None
    return False, None


def _duration(ns: int) -> str:
    """Go's time.Duration.String for whole units, as metav1.Duration marshals."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        return f"{sign}{ns / 1e6:g}ms"
    h, rest = divmod(ns, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    s = f"{rest / 1e9:g}s"
    return sign + (f"{h}h{m}m{s}" if h else f"{m}m{s}" if m else s)


def _message(data: bytes, typ: str) -> Any:
    handled, value = _special(data, typ)
    if handled:
        return value
    schema = _schema().get(typ)
    if schema is None:
        raise ValueError(f"no protobuf fields known for {typ}")
    out: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        if number not in schema:
            continue  # a newer client's field: a real server drops unknown fields too
        name, flags, ftyp = schema[number]
        if ftyp.startswith("[]"):
            out.setdefault(name, []).extend(_repeated(value, wire, ftyp[2:]))
        elif ftyp.startswith("map["):
            k, v = _map_entry(value, ftyp)
            out.setdefault(name, {})[k] = v
        else:
            out[name] = _value(value, wire, ftyp)
    for name, flags, ftyp in schema.values():
        if name not in out:
            continue
        if "o" in flags and not ftyp.startswith("*") and out[name] in ("", 0, False, [], {}) \
                and not isinstance(out[name], float) and _omittable(ftyp):
            del out[name]  # encoding/json's omitempty: zero scalars, empty lists and maps
        elif "i" in flags:
            inner = out.pop(name)
            if isinstance(inner, dict):
                out.update(inner)
    return out


def _omittable(typ: str) -> bool:
    return typ in ("string", "bool", "int32", "int64", "float64", "bytes") or typ.startswith(
        ("[]", "map["))


def decode(body: bytes) -> dict[str, Any]:
    try:
        if not body.startswith(MAGIC):
            raise ValueError("no k8s protobuf envelope")
        envelope = {n: v for n, _, v in _fields(body[len(MAGIC):])}
        type_meta = {n: bytes(v).decode() for n, _, v in _fields(envelope.get(1, b""))}
        api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
        key = struct_for(api_version, kind)
        if key is None:
            raise E.unsupported_media(f"{PROTOBUF} ({kind})")
        obj = _message(bytes(envelope.get(2, b"")), key)
    except (ValueError, UnicodeDecodeError, IndexError, struct.error) as exc:
        raise E.bad_request(f"unable to decode the protobuf body: {exc}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
