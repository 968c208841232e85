"""`Table` answers (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the columns
a real API server gives each kind, so `kubectl get` and `-o wide` print what they print
against a real cluster. The definitions live in `sandbox.cluster.printers`, which the
sandbox's own CLI prints from too."""

from __future__ import annotations

from typing import Any

from sandbox.cluster.printers import Printer, printer_for
from sandbox.cluster.sim.store import clone


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    # Copies: the rows may be built from the live objects, under the cluster's lock.
    if include == "None":
        return None
    if include == "Object":
        return clone(obj)
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": clone(obj.get("metadata") or {})}


def table(objects: list[dict[str, Any]], kind: str, now: float, rv: str, *,
          include: str = "Metadata", headers: bool = True,
          extra: dict[str, Any] | None = None, printer: Printer | None = None
          ) -> dict[str, Any]:
    """`printer`: a custom resource's (from its CRD); a built-in kind's by default."""
    printer = printer or printer_for(kind)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": printer.cells(obj, now)}
        ro = _row_object(obj, include)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    out: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                           "metadata": {"resourceVersion": rv, **(extra or {})},
                           "columnDefinitions": [], "rows": rows}
    if headers:
        out["columnDefinitions"] = [
            {"name": c.name, "type": c.type, "format": "name" if i == 0 and c.name == "Name"
             else "", "description": c.description or c.name, "priority": c.priority}
            for i, c in enumerate(printer.columns)]
    return out
