"""`Table` answers (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`): the columns
a real API server's printers give each kind, so `kubectl get` and `-o wide` print what
they print against a real cluster. The cells of the default columns come from
`kubectl_format`, which the sandbox's own CLI prints too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.cluster import kubectl_format as fmt
from sandbox.cluster.sim.store import clone

Col = tuple[str, str, int]  # name, type, priority (1: only with -o wide)
Cells = Callable[[dict[str, Any], float], list[Any]]

_AGE: Col = ("Age", "string", 0)


def _images(o: dict[str, Any]) -> tuple[str, str]:
    spec = ((o.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers") or []
    return (",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers))


def _selector(o: dict[str, Any]) -> str:
    sel = (o.get("spec") or {}).get("selector") or {}
    labels = sel.get("matchLabels", sel) if isinstance(sel, dict) else {}
    text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if isinstance(v, str))
    return text or "<none>"


def _workload(base: Callable[[dict[str, Any], float], list[str]]) -> Cells:
    return lambda o, now: [*base(o, now), *_images(o), _selector(o)]


def _pod(o: dict[str, Any], now: float) -> list[Any]:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    return [*fmt._pod_row(o, now), st.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>", "<none>"]


def _service(o: dict[str, Any], now: float) -> list[Any]:
    sel = (o.get("spec") or {}).get("selector") or {}
    return [*fmt._svc_row(o, now),
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"]


def _node(o: dict[str, Any], now: float) -> list[Any]:
    st = o.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), {})
    status = "Ready" if ready.get("status") == "True" else "NotReady"
    if (o.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = (o.get("metadata") or {}).get("labels") or {}
    roles = ",".join(sorted(k.split("/", 1)[1] for k in labels
                            if k.startswith("node-role.kubernetes.io/"))) or "<none>"
    info = st.get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    return [fmt._name(o), status, roles, fmt.age(o, now), info.get("kubeletVersion", ""),
            addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"),
            info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
            info.get("containerRuntimeVersion", "<unknown>")]


def _event(o: dict[str, Any], now: float) -> list[Any]:
    inv = o.get("involvedObject") or {}
    last = fmt.parse_time(o.get("lastTimestamp") or o.get("eventTime"))
    seen = "<unknown>" if last is None else fmt.human_age(now - last)
    return [seen, o.get("type", ""), o.get("reason", ""),
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}", o.get("message", "")]


TABLES: dict[str, tuple[list[Col], Cells]] = {
    "Pod": ([("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0),
             ("Restarts", "string", 0), _AGE, ("IP", "string", 1), ("Node", "string", 1),
             ("Nominated Node", "string", 1), ("Readiness Gates", "string", 1)], _pod),
    "Deployment": ([("Name", "string", 0), ("Ready", "string", 0), ("Up-to-date", "string", 0),
                    ("Available", "string", 0), _AGE, ("Containers", "string", 1),
                    ("Images", "string", 1), ("Selector", "string", 1)],
                   _workload(fmt._deploy_row)),
    "ReplicaSet": ([("Name", "string", 0), ("Desired", "integer", 0), ("Current", "integer", 0),
                    ("Ready", "integer", 0), _AGE, ("Containers", "string", 1),
                    ("Images", "string", 1), ("Selector", "string", 1)],
                   _workload(fmt._rs_row)),
    "Service": ([("Name", "string", 0), ("Type", "string", 0), ("Cluster-IP", "string", 0),
                 ("External-IP", "string", 0), ("Port(s)", "string", 0), _AGE,
                 ("Selector", "string", 1)], _service),
    "Node": ([("Name", "string", 0), ("Status", "string", 0), ("Roles", "string", 0), _AGE,
              ("Version", "string", 0), ("Internal-IP", "string", 1),
              ("External-IP", "string", 1), ("OS-Image", "string", 1),
              ("Kernel-Version", "string", 1), ("Container-Runtime", "string", 1)], _node),
    "Event": ([("Last Seen", "string", 0), ("Type", "string", 0), ("Reason", "string", 0),
               ("Object", "string", 0), ("Message", "string", 0)], _event),
}
for _kind in ("Endpoints", "Namespace", "ConfigMap", "Secret"):
    _header, _row = fmt._TABLES[_kind]
    TABLES[_kind] = ([(h.capitalize() if h != "ENDPOINTS" else "Endpoints", "string", 0)
                      for h in _header], _row)
TABLES["Namespace"][0][1] = ("Status", "string", 0)
_DEFAULT: tuple[list[Col], Cells] = ([("Name", "string", 0), ("Age", "string", 0)],
                                     lambda o, now: [fmt._name(o), fmt.age(o, now)])


def columns_of(kind: str) -> list[Col]:
    return TABLES.get(kind, _DEFAULT)[0]


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
          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    cols, cells = TABLES.get(kind, _DEFAULT)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells(obj, now)}
        ro = _row_object(obj, include)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    out: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                           "metadata": {"resourceVersion": rv, **(extra or {})},
                           "columnDefinitions": [], "rows": rows}
    if headers:
        out["columnDefinitions"] = [
            {"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n,
             "priority": p} for n, t, p in cols]
    return out
