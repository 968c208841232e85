"""The cluster view: what `kubectl get deploy,pods,svc` would show, from the facade.
Its cursor picks the object that `d`, `s`, `e` and `ctrl+d` act on."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from ..keys import CLUSTER
from .format import age, cluster_now, image_of, ready_column, status_column
from .tables import selected_key, sync_rows

KINDS = ("Deployment", "Pod", "Service")


def _key(obj: dict[str, Any]) -> str:
    """`Kind/namespace/name`, the monitor's key for an object's health."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    kind, name = obj.get("kind"), meta.get("name")
    return f"{kind}/{ns}/{name}" if ns else f"{kind}/{name}"


class ClusterTable(DataTable[Any]):
    BINDINGS = CLUSTER

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.filter_text = ""
        self.objects: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        self.add_columns("KIND", "NAMESPACE", "NAME", "READY", "STATUS", "IMAGE", "AGE")

    def show(self, objects: list[dict[str, Any]],
             health: dict[str, Any] | None = None) -> None:
        health = health or {}
        now = cluster_now(objects)
        order = {k: i for i, k in enumerate(KINDS)}
        wanted = sorted((o for o in objects if o.get("kind") in order),
                        key=lambda o: (order[str(o.get("kind"))], _key(o)))
        needle = self.filter_text.lower()
        self.objects = {_key(o): o for o in wanted}
        rows = []
        for obj in wanted:
            meta = obj.get("metadata") or {}
            status = status_column(obj, health.get(_key(obj)))
            if needle and needle not in f"{_key(obj)} {status.plain}".lower():
                continue
            rows.append((_key(obj), (
                str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")),
                ready_column(obj), status,
                image_of(obj) if obj.get("kind") != "Service" else "",
                age(meta.get("creationTimestamp"), now))))
        sync_rows(self, rows)

    @property
    def selected_object(self) -> dict[str, Any] | None:
        key = selected_key(self)
        return self.objects.get(key) if key else None
