"""The simulated cluster as another process reads it: from its journal in the workspace.

The simulated cluster writes every object it changes, each event and its clock into the
workspace's SQLite as it goes (sandbox/cluster/sim/persist.py), one transaction per
change, inside the call that made it. That journal already is the whole cluster, so the
engine writes no copy of it for other processes: it only says, in the small "cluster"
snapshot record, that readers should look here (`JOURNAL`). A reader takes one read
transaction, so it sees the cluster as it was before or after a change, never half of
one, whatever happened to the engine meanwhile. Reading a kind reads only its rows
(through the primary key), so `cluster get deployments` or discovery's CRD lookup do not
parse the whole cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from .cluster.base import ObjRef
from .workspace import Workspace

# The "cluster" snapshot record of an engine whose cluster journals itself.
JOURNAL = {"backend": "sim", "source": "journal"}
EVENTS = 200  # the events a snapshot showed (the newest), as the whole-cluster copy did


def from_journal(record: dict[str, Any] | None) -> bool:
    """Whether this "cluster" snapshot record sends readers to the journal."""
    return bool(record) and record.get("source") == JOURNAL["source"]  # type: ignore[union-attr]


def _rows(ws: Workspace, kind: str | None) -> list[str]:
    if kind is None:
        return [r["data"] for r in ws.store.query("SELECT data FROM cluster_objects")]
    # Rows are keyed `Kind/...`, a custom resource's `Kind.group/...` (ObjRef.key);
    # GLOB is case-sensitive as kinds are, and its fixed prefix uses the primary key.
    return [r["data"] for r in ws.store.query(
        "SELECT data FROM cluster_objects WHERE key GLOB ? OR key GLOB ?",
        f"{_glob(kind)}/*", f"{_glob(kind)}.*/*")]


def _glob(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def _objects(rows: list[str]) -> list[dict[str, Any]]:
    """The objects of these rows in the order SimCluster.list() gives them."""
    out = []
    for data in rows:
        try:
            obj = json.loads(data)["object"]
        except (ValueError, KeyError, TypeError):
            continue  # a damaged row: the restarting engine reports it, a view skips it
        out.append((ObjRef.of(obj), obj))
    out.sort(key=lambda item: item[0])
    return [obj for _, obj in out]


def objects(ws: Workspace, kind: str | None = None) -> list[dict[str, Any]]:
    """Every object (of one kind, of every group) with its status."""
    with ws.store.reading():
        return _objects(_rows(ws, kind))


def _state(ws: Workspace) -> dict[str, Any]:
    """The cluster's state record, with the wall time of the write that made it."""
    rows = {r["key"]: r["value"] for r in ws.store.query(
        "SELECT key, value FROM meta WHERE key IN ('cluster.state', 'cluster.wall')")}
    try:
        state = dict(json.loads(rows["cluster.state"])) if "cluster.state" in rows else {}
        state["wall"] = float(rows["cluster.wall"]) if "cluster.wall" in rows else None
    except (ValueError, TypeError):
        return {}
    return state


def _now(ws: Workspace, state: dict[str, Any], running: bool) -> float:
    """The simulated clock: its value at the last write, carried on at the clock's speed
    while an engine runs (a quiet cluster writes nothing, its time still goes on)."""
    at_write, wall = float(state.get("now") or 0.0), state.get("wall")
    if wall is not None and running:
        return at_write + max(0.0, time.time() - wall) * ws.settings.clock_speed
    return at_write


def now(ws: Workspace, running: bool = True) -> float:
    with ws.store.reading():  # the clock and the wall time of one write
        state = _state(ws)
    return _now(ws, state, running)


def _events(ws: Workspace, limit: int) -> list[dict[str, Any]]:
    rows = ws.store.query("SELECT data FROM cluster_events ORDER BY seq DESC LIMIT ?", limit)
    out = []
    for row in reversed(rows):
        try:
            e = json.loads(row["data"])
            kind, name, namespace = e["ref"][:3]
        except (ValueError, KeyError, TypeError):
            continue
        out.append({"reason": e.get("reason"), "kind": kind, "name": name,
                    "namespace": namespace, "message": e.get("message", ""),
                    "type": e.get("type", "Normal"), "time": e.get("time", 0.0),
                    "data": e.get("data") or {}})
    return out


def events(ws: Workspace, limit: int = EVENTS) -> list[dict[str, Any]]:
    """The newest events, oldest first, shaped as the cluster's snapshot gives them."""
    with ws.store.reading():
        return _events(ws, limit)


def snapshot(ws: Workspace, running: Callable[[], bool] | bool = True,
             kind: str | None = None) -> dict[str, Any]:
    """What SimCluster.snapshot() gives, metrics aside (only the live cluster has its
    traffic: see the facade's cluster_metrics), read in one transaction."""
    with ws.store.reading():
        state = _state(ws)
        rows = _rows(ws, kind)
        recent = _events(ws, EVENTS)
    alive = running() if callable(running) else running
    return {"backend": "sim", "now": _now(ws, state, alive), "objects": _objects(rows),
            "events": recent}
