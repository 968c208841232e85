"""The cluster view: what `kubectl get deploy,pods,svc` would show, from the facade.
Its cursor picks the object that `d`, `s`, `e` and `ctrl+d` act on.

Like k9s, it repaints only the rows that changed. `ClusterRows` runs in the refresh
worker, off the UI thread: it takes what changed in the cluster (the facade's follower)
and the monitor's health, and works out the cells of the rows that differ, ages
included (each row's AGE is worked out again only when its text changes: "5m" once a
minute). `ClusterTable.apply` hands those rows to a virtualised table (`RowTable`) that
draws only the lines on screen that changed; it refills the whole table only on the
first data and when the filter changes.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from sandbox.facade import ClusterChanges

from ..keys import CLUSTER
from .format import (
    age,
    age_changes_at,
    cluster_now,
    health_text,
    health_word,
    image_of,
    parse_time,
    ready_column,
    status_column,
)
from .rowtable import RowTable

KINDS = ("Deployment", "Pod", "Service")
ORDER = {k: i for i, k in enumerate(KINDS)}
COLUMNS = ("KIND", "NAMESPACE", "NAME", "READY", "STATUS", "IMAGE", "AGE")
AGE = COLUMNS.index("AGE")

Cells = tuple[Any, ...]


def _order(cells: Cells) -> tuple[int, str, str]:
    """Rows sort by kind (Deployments, Pods, Services), then namespace and name."""
    return ORDER.get(str(cells[0]), len(ORDER)), str(cells[1]), str(cells[2])


@dataclass
class RowsDelta:
    """What the table must change: cells of new or changed rows, rows gone."""

    cells: dict[str, Cells] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    full: bool = False

    def __bool__(self) -> bool:
        return bool(self.cells or self.removed or self.full)


class ClusterRows:
    """The rows' contents, kept off the UI thread (one refresh worker at a time)."""

    def __init__(self) -> None:
        # What the keys act on (`handle`), not the whole objects: this process keeps
        # 1,200 small dicts instead of 1,200 full objects, which the cyclic collector
        # would scan again and again while the UI waits.
        self.objects: dict[str, dict[str, Any]] = {}
        self._base: dict[str, tuple[Any, ...]] = {}  # cells that need no health
        self.cells: dict[str, Cells] = {}
        self._health: dict[str, Any] = {}
        self._created: dict[str, float | None] = {}
        self._now: float | None = None
        # When each row's AGE text changes next, soonest first; an entry is current
        # while `_due` holds the same time for its key (the rest are skipped).
        self._ages: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self.ages_computed = 0  # how many AGE texts were worked out, for the tests

    def update(self, changes: ClusterChanges, health: dict[str, Any] | None) -> RowsDelta:
        health = health or {}
        delta = RowsDelta(full=changes.full)
        if changes.full:
            self.objects, self.cells, self._created, self._base = {}, {}, {}, {}
            self._ages, self._due = [], {}
        dirty: set[str] = set()
        for key, obj in changes.changed.items():
            if obj.get("kind") in ORDER:
                self.objects[key] = handle(obj)
                meta = obj.get("metadata") or {}
                self._created[key] = parse_time(meta.get("creationTimestamp"))
                self._base[key] = (
                    str(obj.get("kind")), str(meta.get("namespace") or ""),
                    str(meta.get("name")), ready_column(obj), status_column(obj, None),
                    image_of(obj) if obj.get("kind") != "Service" else "")
                dirty.add(key)
        for key in changes.deleted:
            if self.objects.pop(key, None) is not None:
                self.cells.pop(key, None)
                self._base.pop(key, None)
                self._created.pop(key, None)
                self._due.pop(key, None)
                delta.removed.append(key)
        # A health verdict that moved repaints its row even when the object did not.
        dirty |= {k for k in self.objects if health.get(k) != self._health.get(k)}
        self._health = {k: health.get(k) for k in self.objects}
        now = changes.now
        if now is None:  # no clock from the backend: the latest stamp objects carry
            now = cluster_now(list(changes.changed.values())) if changes.changed else self._now
        self._now = now if now is not None else self._now
        for key in dirty:
            cells = self._cells(key, health.get(key))
            if cells != self.cells.get(key):
                self.cells[key] = cells
                delta.cells[key] = cells
                delta.objects[key] = self.objects[key]
        for key in delta.cells:
            self._schedule_age(key)
        self._tick_ages(delta)
        return delta

    def _schedule_age(self, key: str) -> None:
        if self._now is None:
            return
        due = age_changes_at(self._created.get(key), self._now)
        if due == float("inf"):
            self._due.pop(key, None)
            return
        self._due[key] = due
        heapq.heappush(self._ages, (due, key))

    def _tick_ages(self, delta: RowsDelta) -> None:
        """Ages move with the clock alone: only the rows whose AGE text is due to change
        are looked at, and only those whose text did change are sent."""
        now = self._now
        if now is None:
            return
        while self._ages and self._ages[0][0] <= now:
            due, key = heapq.heappop(self._ages)
            if self._due.get(key) != due or key not in self.cells:
                continue  # superseded, or the row is gone
            del self._due[key]
            self.ages_computed += 1
            cells = self.cells[key]
            shown = age(self._created.get(key), now)
            if shown != cells[AGE]:
                cells = (*cells[:AGE], shown)
                self.cells[key] = cells
                delta.cells[key] = cells
            self._schedule_age(key)
            if self._due.get(key, float("inf")) <= now:  # a float's rounding at the edge
                self._due[key] = now + 0.001
                heapq.heappush(self._ages, (now + 0.001, key))

    def _cells(self, key: str, health: Any) -> Cells:
        kind, namespace, name, ready, status, image = self._base[key]
        if health is not None and kind != "Pod":  # as status_column: health wins
            status = health_text(health_word(health))
        return (kind, namespace, name, ready, status, image,
                age(self._created.get(key), self._now))


def handle(obj: dict[str, Any]) -> dict[str, Any]:
    """The part of an object the Cluster tab's keys use: kind and name (describe,
    delete), replicas (scale) and the template's containers (set image)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    small: dict[str, Any] = {"kind": obj.get("kind"),
                             "metadata": {"name": meta.get("name"),
                                          "namespace": meta.get("namespace")}}
    kept: dict[str, Any] = {}
    if "replicas" in spec:
        kept["replicas"] = spec["replicas"]
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers")
    if containers:
        kept["template"] = {"spec": {"containers": [
            {"name": c.get("name"), "image": c.get("image")} for c in containers]}}
    if kept:
        small["spec"] = kept
    return small


class ClusterTable(RowTable):
    BINDINGS = [*RowTable.BINDINGS, *CLUSTER]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(COLUMNS, _order, order_columns=3, **kwargs)  # kind, ns, name
        self.filter_text = ""
        self.objects: dict[str, dict[str, Any]] = {}
        self._all: dict[str, Cells] = {}  # every row's cells, shown or filtered out
        # How often the table was refilled, and how many cells changed in place: the
        # tests hold the view to repainting only what changed.
        self.rebuilds = 0
        self.cell_updates = 0

    def _visible(self, key: str, cells: Cells) -> bool:
        needle = self.filter_text.lower()
        status = cells[4].plain if isinstance(cells[4], Text) else str(cells[4])
        return not needle or needle in f"{key} {status}".lower()

    def apply(self, delta: RowsDelta) -> None:
        """Change the rows that changed; the cursor stays on the object it was on."""
        if not delta:
            return
        if delta.full:
            self.objects, self._all = {}, {}
        self.objects.update(delta.objects)
        self._all.update(delta.cells)
        for key in delta.removed:
            self.objects.pop(key, None)
            self._all.pop(key, None)
        if delta.full:
            self.rebuild()
            return
        shown = {k: c for k, c in delta.cells.items() if self._visible(k, c)}
        hidden = [k for k in delta.cells if k not in shown]
        self.cell_updates += self.patch(shown, [*delta.removed, *hidden])

    def rebuild(self) -> None:
        """Fill again: the first data, a new filter."""
        self.rebuilds += 1
        self.replace_rows((k, c) for k, c in self._all.items() if self._visible(k, c))

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.rebuild()

    @property
    def selected_object(self) -> dict[str, Any] | None:
        key = self.selected_key
        return self.objects.get(key) if key else None
