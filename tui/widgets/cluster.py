"""The cluster view: what `kubectl get deploy,pods,svc` would show, from the facade.
Its cursor picks the object that `d`, `s`, `e` and `ctrl+d` act on.

Like k9s, it repaints only the rows that changed. `ClusterRows` runs in the refresh
worker: it takes what changed in the cluster (the facade's follower) and the monitor's
health, and works out the cells of the rows that differ. `ClusterTable.apply` then
updates those cells, adds and removes rows, on the UI thread; the whole table is
rebuilt only on the first data and when the filter changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from sandbox.facade import ClusterChanges, object_key

from ..keys import CLUSTER
from .format import age, cluster_now, image_of, parse_time, ready_column, status_column
from .tables import selected_key

KINDS = ("Deployment", "Pod", "Service")
ORDER = {k: i for i, k in enumerate(KINDS)}
COLUMNS = ("KIND", "NAMESPACE", "NAME", "READY", "STATUS", "IMAGE", "AGE")
AGE = COLUMNS.index("AGE")

Cells = tuple[Any, ...]


def _key(obj: dict[str, Any]) -> str:
    """`Kind/namespace/name`, the monitor's key for an object's health."""
    return object_key(obj)


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
        self.objects: dict[str, dict[str, Any]] = {}
        self.cells: dict[str, Cells] = {}
        self._health: dict[str, Any] = {}
        self._created: dict[str, float | None] = {}
        self._now: float | None = None

    def update(self, changes: ClusterChanges, health: dict[str, Any] | None) -> RowsDelta:
        health = health or {}
        delta = RowsDelta(full=changes.full)
        if changes.full:
            self.objects, self.cells, self._created = {}, {}, {}
        dirty: set[str] = set()
        for key, obj in changes.changed.items():
            if obj.get("kind") in ORDER:
                self.objects[key] = obj
                self._created[key] = parse_time(
                    (obj.get("metadata") or {}).get("creationTimestamp"))
                dirty.add(key)
        for key in changes.deleted:
            if self.objects.pop(key, None) is not None:
                self.cells.pop(key, None)
                self._created.pop(key, None)
                delta.removed.append(key)
        # A health verdict that moved repaints its row even when the object did not.
        dirty |= {k for k in self.objects if health.get(k) != self._health.get(k)}
        self._health = {k: health.get(k) for k in self.objects}
        now = changes.now
        if now is None:  # no clock from the backend: the latest stamp objects carry
            now = cluster_now(list(changes.changed.values())) if changes.changed else self._now
        self._now = now if now is not None else self._now
        for key in dirty:
            cells = self._cells(self.objects[key], health.get(key))
            if cells != self.cells.get(key):
                self.cells[key] = cells
                delta.cells[key] = cells
                delta.objects[key] = self.objects[key]
        # Ages move with the clock alone; only the ones whose text changed are sent.
        for key, cells in self.cells.items():
            if key in delta.cells:
                continue
            shown = age(self._created.get(key), self._now)
            if shown != cells[AGE]:
                cells = (*cells[:AGE], shown)
                self.cells[key] = cells
                delta.cells[key] = cells
        return delta

    def _cells(self, obj: dict[str, Any], health: Any) -> Cells:
        meta = obj.get("metadata") or {}
        return (str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")),
                ready_column(obj), status_column(obj, health),
                image_of(obj) if obj.get("kind") != "Service" else "",
                age(self._created.get(_key(obj)), self._now))


class ClusterTable(DataTable[Any]):
    BINDINGS = CLUSTER

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.filter_text = ""
        self.objects: dict[str, dict[str, Any]] = {}
        self._cells: dict[str, Cells] = {}  # every row's cells, shown or filtered out
        self._columns: list[Any] = []
        # How often the table was cleared and filled again, and how many cells changed
        # in place: the tests hold the view to repainting only what changed.
        self.rebuilds = 0
        self.cell_updates = 0

    def on_mount(self) -> None:
        self._columns = list(self.add_columns(*COLUMNS))

    def _visible(self, key: str, cells: Cells) -> bool:
        needle = self.filter_text.lower()
        status = cells[4].plain if isinstance(cells[4], Text) else str(cells[4])
        return not needle or needle in f"{key} {status}".lower()

    def apply(self, delta: RowsDelta) -> None:
        """Change the rows that changed; keep the cursor on the object it was on."""
        if not delta:
            return
        if delta.full:
            self.objects, self._cells = {}, {}
        self.objects.update(delta.objects)
        self._cells.update(delta.cells)
        for key in delta.removed:
            self.objects.pop(key, None)
            self._cells.pop(key, None)
        if delta.full or not self._columns:
            self.rebuild()
            return
        selected = selected_key(self)
        at = self.cursor_row
        added = False
        for key in delta.removed:
            if key in self.rows:
                self.remove_row(key)
        for key, cells in delta.cells.items():
            visible = self._visible(key, cells)
            if key in self.rows:
                if not visible:
                    self.remove_row(key)
                    continue
                for column, cell in zip(self._columns, cells, strict=True):
                    if self.get_cell(key, column) != cell:
                        self.update_cell(key, column, cell, update_width=True)
                        self.cell_updates += 1
            elif visible:
                self.add_row(*cells, key=key)
                added = True
        if added:
            self.sort(*self._columns[:3], key=_order)
        self._keep_cursor(selected, at)

    def rebuild(self) -> None:
        """Clear and fill again: the first data, a new filter."""
        self.rebuilds += 1
        selected = selected_key(self)
        self.clear()
        if not self._columns:
            return
        for key in sorted(self._cells, key=lambda k: _order(self._cells[k])):
            if self._visible(key, self._cells[key]):
                self.add_row(*self._cells[key], key=key)
        self._keep_cursor(selected, 0)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.rebuild()

    def _keep_cursor(self, selected: str | None, fallback: int) -> None:
        if not self.row_count:
            return
        if selected is not None and selected in self.rows:
            row = self.get_row_index(selected)
        else:
            row = min(fallback, self.row_count - 1)
        if row != self.cursor_row:
            self.move_cursor(row=row, animate=False)

    @property
    def selected_object(self) -> dict[str, Any] | None:
        key = selected_key(self)
        return self.objects.get(key) if key else None
