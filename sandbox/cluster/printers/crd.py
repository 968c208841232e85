"""Columns of custom resources: the CRD's `additionalPrinterColumns` for the served
version, evaluated as apiextensions-apiserver's table convertor does (a JSONPath per
column, `date` columns printed as an age, a missing value as an empty cell)."""

from __future__ import annotations

import re
from typing import Any

from .base import Col, Obj, Printer, age, name, since

_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\*|-?\d+)\]|\[\?\(@\.([\w.\-]+)\s*==\s*"
                   r"(?:\"([^\"]*)\"|'([^']*)'|([\w.\-]+))\)\]|\['([^']+)'\]")


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The values `path` (`.status.replicas`, `.spec.items[0].name`,
    `.status.conditions[?(@.type=="Ready")].status`) selects in `obj`; [] when none."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    path = path.removeprefix("$")
    values, pos = [obj], 0
    while pos < len(path) and values:
        m = _STEP.match(path, pos)
        if m is None:
            return []
        pos = m.end()
        field, index, fkey = m.group(1) or m.group(7), m.group(2), m.group(3)
        nxt: list[Any] = []
        for v in values:
            if field is not None:
                if isinstance(v, dict) and field in v:
                    nxt.append(v[field])
            elif index is not None:
                if isinstance(v, list):
                    if index == "*":
                        nxt.extend(v)
                    elif -len(v) <= int(index) < len(v):
                        nxt.append(v[int(index)])
                elif isinstance(v, dict) and index == "*":
                    nxt.extend(v.values())
            elif isinstance(v, list):
                want = next(g for g in m.group(4, 5, 6) if g is not None)
                for item in v:
                    got = jsonpath(item, "." + fkey)
                    if got and str(got[0]) == want:
                        nxt.append(item)
        values = nxt
    return values if pos >= len(path) else []


def _cell(values: list[Any], kind: str, now: float) -> Any:
    if not values:
        return None
    if kind == "date":
        return since(values[0], now)
    if kind in ("integer", "number", "boolean") and len(values) == 1:
        return values[0]
    return ",".join(v if isinstance(v, str) else str(v).lower() if isinstance(v, bool)
                    else str(v) for v in values)


def crd_printer(crd: Obj, version: str) -> Printer:
    spec = crd.get("spec") or {}
    entries = spec.get("versions") or []
    entry = next((v for v in entries if v.get("name") == version), None) or (
        entries[0] if entries else {})
    extra = entry.get("additionalPrinterColumns")
    if extra is None:  # v1beta1 CRDs named them once for every version
        extra = spec.get("additionalPrinterColumns")
    if not extra:
        return Printer((Col("Name"), Col("Age", "date")),
                       lambda o, now: [name(o), age(o, now)])
    columns = (Col("Name"), *(Col(str(c.get("name", "")), str(c.get("type", "string")),
                                  int(c.get("priority", 0)), str(c.get("description", "")))
                              for c in extra))
    paths = [(str(c.get("jsonPath") or c.get("JSONPath") or ""), str(c.get("type", "string")))
             for c in extra]

    def cells(o: Obj, now: float) -> list[Any]:
        return [name(o), *(_cell(jsonpath(o, p), t, now) for p, t in paths)]
    return Printer(columns, cells)
