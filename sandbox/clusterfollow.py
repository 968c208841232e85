"""Following the live cluster from any process by what changed, as an informer does.

The simulated cluster writes every object it changes to the workspace's journal
(`cluster_objects`, see sandbox/cluster/sim/persist.py), each stamped with the cluster's
ever-growing resourceVersion, and the store indexes that stamp. A follower keeps the
cluster's version counter and object count it last saw: a poll with nothing changed
reads one small row, and a poll after a change reads only the rows stamped since
(through the index), plus the keys when some object may have gone. Other backends keep no journal: their follower
lists everything and hands on only what differs, so callers need one code path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .workspace import Workspace

# The same expression as the store's `cluster_objects_rv` index, so SQLite uses it.
RV = "CAST(json_extract(data, '$.object.metadata.resourceVersion') AS INTEGER)"


@dataclass
class ClusterChanges:
    """What changed since the previous poll. `full`: drop what you had, this is all."""

    changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    full: bool = False
    now: float | None = None  # the cluster's clock (simulated time), when known

    def __bool__(self) -> bool:
        return bool(self.changed or self.deleted or self.full)


def object_key(obj: dict[str, Any]) -> str:
    """`Kind/namespace/name` (`Kind/name` when cluster-wide), as the journal keys rows."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns}/{meta.get('name')}" if ns else \
        f"{obj.get('kind')}/{meta.get('name')}"


class JournalFollower:
    """Follows the simulated cluster's journal in the workspace's database."""

    def __init__(self, ws: Workspace, running: Callable[[], bool]) -> None:
        self.ws = ws
        self._running = running
        self._seen = -1  # the highest resourceVersion read
        self._count = -1
        self._keys: set[str] = set()
        self.rows_read = 0  # how many object rows the polls read, for tests and benches

    def poll(self) -> ClusterChanges:
        store = self.ws.store
        with store.reading():  # the engine may write between two of these queries
            # The cluster's own counter, not the highest stamp a row carries: that one
            # goes down when the newest object is deleted.
            top = store.one("SELECT json_extract(value, '$.rv') AS rv, json_extract(value, "
                            "'$.now') AS now, (SELECT COUNT(*) FROM cluster_objects) AS n "
                            "FROM meta WHERE key='cluster.state'")
            if top is None or top["rv"] is None:  # no cluster: not yet, or it was reset
                had, self._seen, self._count, self._keys = self._seen >= 0, -1, -1, set()
                return ClusterChanges(full=had)
            rv, count = int(top["rv"]), int(top["n"])
            now = self._now(float(top["now"]))
            if (rv, count) == (self._seen, self._count):
                return ClusterChanges(now=now)
            full = rv < self._seen or self._seen < 0  # a new or reset cluster starts over
            rows = store.query(f"SELECT key, data FROM cluster_objects WHERE {RV} > ?",
                               -1 if full else self._seen)
            known = self._keys | {r["key"] for r in rows}
            keys = known if not full and len(known) == count else \
                {r["key"] for r in store.query("SELECT key FROM cluster_objects")}
        changes = ClusterChanges(full=full, now=now, deleted=sorted(known - keys))
        for row in rows:
            try:
                changes.changed[row["key"]] = json.loads(row["data"])["object"]
            except (ValueError, KeyError, TypeError):
                continue  # a damaged row: the engine reports it, the view skips it
        self.rows_read += len(rows)
        self._keys, self._seen, self._count = keys, rv, count
        return changes

    def _now(self, at_write: float) -> float:
        """The simulated clock: its value at the last write, carried on at its speed
        while an engine runs."""
        wall = self.ws.store.get_meta("cluster.wall")
        if wall and self._running():
            return at_write + max(0.0, time.time() - float(wall)) * self.ws.settings.clock_speed
        return at_write


class ListFollower:
    """For backends without a journal (kind, kubectl): list all, hand on what differs."""

    def __init__(self, list_objects: Callable[[], list[dict[str, Any]]]) -> None:
        self._list = list_objects
        self._versions: dict[str, str] = {}
        self._first = True
        self.rows_read = 0

    def poll(self) -> ClusterChanges:
        objects = self._list()
        self.rows_read += len(objects)
        changes = ClusterChanges(full=self._first)
        versions: dict[str, str] = {}
        for obj in objects:
            key = object_key(obj)
            version = str((obj.get("metadata") or {}).get("resourceVersion") or id(obj))
            versions[key] = version
            if self._first or self._versions.get(key) != version:
                changes.changed[key] = obj
        changes.deleted = sorted(set(self._versions) - set(versions))
        self._versions, self._first = versions, False
        return changes


ClusterFollower = JournalFollower | ListFollower
