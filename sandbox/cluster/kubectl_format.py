"""kubectl-like views of cluster objects: `get` tables and `describe` text.

Works on plain Kubernetes-shaped dicts, so it serves both backends. `now` is on the
same scale as the objects' timestamps (the simulated clock for the sim, Unix time for
a real cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sandbox.cluster.base import ClusterEvent, ObjRef
from sandbox.cluster.printers import (
    age,
    cell_text,
    human_age,
    parse_time,
    pod_status,
    printer_for,
)
from sandbox.cluster.printers import service_ports as _ports
from sandbox.cluster.printers.base import name as _name
from sandbox.cluster.printers.base import spec as _spec
from sandbox.cluster.printers.base import status as _status

Row = list[str]
__all__ = ["age", "describe", "format_table", "human_age", "parse_time", "pod_status"]


def _render(header: Row, rows: Sequence[Row]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)


def format_table(objects: list[dict[str, Any]], kind: str | None, now: float,
                 crds: Sequence[dict[str, Any]] = ()) -> str:
    """`kubectl get KIND` (or `kubectl get all`-style sections when kind is None), with
    the columns the API server's Table gives kubectl (its priority-0 ones), a custom
    resource's from its CRD in `crds`. A NAMESPACE column appears when the objects span
    several namespaces."""
    if kind is not None:
        objects = [o for o in objects if o.get("kind") == kind]
    if not objects:
        return "No resources found."
    namespaces = {(o.get("metadata") or {}).get("namespace", "") for o in objects}
    show_ns = len(namespaces) > 1
    kinds = [kind] if kind else sorted({str(o.get("kind")) for o in objects}, key=_kind_order)
    sections = []
    for k in kinds:
        printer = printer_for(k, *_crd_of(k, objects, crds))
        shown = [i for i, c in enumerate(printer.columns) if c.priority == 0]
        header = [printer.columns[i].name.upper() for i in shown]
        rows = []
        for o in sorted((o for o in objects if o.get("kind") == k),
                        key=lambda o: (str((o.get("metadata") or {}).get("namespace", "")),
                                       _name(o))):
            cells = printer.cells(o, now)
            row = [cell_text(cells[i]) for i in shown]
            if kind is None:
                row[0] = f"{k.lower()}/{row[0]}"
            if show_ns:
                row.insert(0, str((o.get("metadata") or {}).get("namespace", "")))
            rows.append(row)
        sections.append(_render(["NAMESPACE", *header] if show_ns else header, rows))
    return "\n\n".join(sections)


def _crd_of(kind: str, objects: list[dict[str, Any]], crds: Sequence[dict[str, Any]]
            ) -> tuple[dict[str, Any] | None, str]:
    """The CRD serving `kind` (matched by the group of its objects' apiVersion) and the
    version those objects are in."""
    api_version = next((str(o.get("apiVersion", "")) for o in objects
                        if o.get("kind") == kind), "")
    group, _, version = api_version.rpartition("/")
    crd = next((c for c in crds if (c.get("spec") or {}).get("group") == group
                and ((c.get("spec") or {}).get("names") or {}).get("kind") == kind), None)
    return crd, version


def _kind_order(kind: str) -> tuple[int, str]:
    order = ["Namespace", "Pod", "Service", "Endpoints", "Deployment", "ReplicaSet",
             "ConfigMap", "Secret"]
    return (order.index(kind) if kind in order else len(order), kind)


# The simulated clock starts at zero, so its timestamps fall before this instant; a real
# cluster's are Unix time, well after it.
SIMULATED_BEFORE = 10 * 365 * 86400.0


def created(stamp: Any, now: float | None) -> str:
    """A creation time a reader can use: an age on the simulated clock (whose dates are
    meaningless), a date and an age for a real cluster."""
    at = parse_time(stamp)
    if at is None:
        return "<unknown>"
    ago = f"{human_age(now - at)} ago" if now is not None else ""
    if at < SIMULATED_BEFORE:
        return f"{ago or human_age(at) + ' after the cluster started'} (simulated clock)"
    date = datetime.fromtimestamp(at).astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")
    return f"{date} ({ago})" if ago else date


def _mapping(values: dict[str, Any] | None, indent: int) -> list[str]:
    if not values:
        return ["<none>"]
    items = [f"{k}={v}" for k, v in sorted(values.items())]
    return [items[0]] + [" " * indent + i for i in items[1:]]


def describe(obj: dict[str, Any], events: list[ClusterEvent], now: float | None = None) -> str:
    """`kubectl describe`: the main fields of one object and its events."""
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind", ""))
    spec, status = _spec(obj), _status(obj)
    lines = [f"{'Name:':<15}{meta.get('name', '')}"]
    if meta.get("namespace"):
        lines.append(f"{'Namespace:':<15}{meta['namespace']}")
    lines.append(f"{'Labels:':<15}" + "\n".join(_mapping(meta.get("labels"), 15)))
    lines.append(f"{'Annotations:':<15}" + "\n".join(_mapping(meta.get("annotations"), 15)))
    lines.append(f"{'Created:':<15}{created(meta.get('creationTimestamp'), now)}")
    if meta.get("ownerReferences"):
        owner = meta["ownerReferences"][0]
        lines.append(f"{'Controlled By:':<15}{owner.get('kind')}/{owner.get('name')}")
    if kind in ("Deployment", "ReplicaSet"):
        sel = (spec.get("selector") or {}).get("matchLabels")
        lines.append(f"{'Selector:':<15}" + ",".join(f"{k}={v}" for k, v in (sel or {}).items()))
        lines.append(f"{'Replicas:':<15}{spec.get('replicas', 1)} desired | "
                     f"{status.get('updatedReplicas', status.get('replicas', 0))} updated | "
                     f"{status.get('replicas', 0)} total | "
                     f"{status.get('availableReplicas', 0)} available")
        if kind == "Deployment":
            strategy = spec.get("strategy") or {}
            lines.append(f"{'StrategyType:':<15}{strategy.get('type', 'RollingUpdate')}")
            ru = strategy.get("rollingUpdate") or {}
            lines.append(f"RollingUpdateStrategy:  {ru.get('maxUnavailable', '25%')} max "
                         f"unavailable, {ru.get('maxSurge', '25%')} max surge")
        pod_spec = (spec.get("template") or {}).get("spec") or {}
        lines.append("Pod Template:")
        lines += [f"  {c.get('name')}:  Image: {c.get('image')}"
                  for c in pod_spec.get("containers") or []]
    elif kind == "Pod":
        lines.append(f"{'Node:':<15}{spec.get('nodeName', '<none>')}")
        lines.append(f"{'Status:':<15}{pod_status(obj)}")
        lines.append(f"{'IP:':<15}{status.get('podIP', '')}")
        lines.append("Containers:")
        resources = {c.get("name"): c.get("resources") or {}
                     for c in spec.get("containers") or []}
        for cs in status.get("containerStatuses") or []:
            state = cs.get("state") or {}
            word = next(iter(state), "unknown")
            reason = (state.get(word) or {}).get("reason", "")
            lines += [f"  {cs.get('name')}:", f"    Image:          {cs.get('image')}",
                      f"    State:          {word.capitalize()}"
                      + (f"\n      Reason:       {reason}" if reason else "")]
            last = (cs.get("lastState") or {}).get("terminated")
            if last:  # why the previous run ended: OOMKilled (137), Error (1)...
                lines += ["    Last State:     Terminated",
                          f"      Reason:       {last.get('reason', '')}",
                          f"      Exit Code:    {last.get('exitCode', '')}",
                          f"      Started:      {created(last.get('startedAt'), now)}",
                          f"      Finished:     {created(last.get('finishedAt'), now)}"]
            lines += [f"    Ready:          {cs.get('ready', False)}",
                      f"    Restart Count:  {cs.get('restartCount', 0)}"]
            for which in ("limits", "requests"):
                values = resources.get(cs.get("name"), {}).get(which) or {}
                if values:
                    lines.append(f"    {which.capitalize()}:")
                    lines += [f"      {k}:  {v}" for k, v in sorted(values.items())]
    elif kind == "Service":
        lines += [f"{'Type:':<15}{spec.get('type', 'ClusterIP')}",
                  f"{'IP:':<15}{spec.get('clusterIP', '')}",
                  f"{'Selector:':<15}" + ",".join(f"{k}={v}" for k, v in
                                                 (spec.get("selector") or {}).items()),
                  f"{'Port(s):':<15}{_ports(spec)}"]
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        rows = [[str(c.get("type")), str(c.get("status")), str(c.get("reason", ""))]
                for c in conditions]
        lines += ["  " + line for line in _render(["Type", "Status", "Reason"], rows).split("\n")]
    lines.append(_events_block(obj, events, now))
    return "\n".join(lines)


def _events_block(obj: dict[str, Any], events: list[ClusterEvent], now: float | None) -> str:
    ref = ObjRef.of(obj)
    mine = [e for e in events if e.ref == ref]
    if not mine:
        return "Events:        <none>"
    now = max(e.time for e in mine) if now is None else now
    rows = [[e.type, e.reason, human_age(now - e.time), str(e.data.get("source", "")),
             e.message] for e in mine]
    body = _render(["Type", "Reason", "Age", "From", "Message"], rows)
    return "Events:\n" + "\n".join("  " + line for line in body.split("\n"))
