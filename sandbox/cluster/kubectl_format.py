"""kubectl-like views of cluster objects: `get` tables and `describe` text.

Works on plain Kubernetes-shaped dicts, so it serves both backends. `now` is on the
same scale as the objects' timestamps (the simulated clock for the sim, Unix time for
a real cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sandbox.cluster.base import ClusterEvent, ObjRef
from sandbox.cluster.kubectl_tables import _name, _spec, _status, tables

Row = list[str]


def parse_time(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def human_age(seconds: float) -> str:
    """kubectl's HumanDuration: 45s, 3m20s, 15m, 3h20m, 26h, 3d4h, 40d."""
    if seconds < -1:
        return "<invalid>"
    s = max(0, int(seconds))
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    return f"{days // 365}y{days % 365}d" if days < 2920 else f"{days // 365}y"


def age(obj: dict[str, Any], now: float) -> str:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return "<unknown>" if created is None else human_age(now - created)


def pod_status(pod: dict[str, Any]) -> str:
    """The STATUS column: Terminating, a container's waiting/terminated reason, or phase."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    status = _status(pod)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            return str(state["waiting"]["reason"])
        if state.get("terminated"):
            return str(state["terminated"].get("reason") or "Error")
    return str(reason)


def _pod_row(p: dict[str, Any], now: float) -> Row:
    statuses = _status(p).get("containerStatuses") or []
    total = len(_spec(p).get("containers") or []) or len(statuses)
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    restart_text = str(restarts)
    finished = [parse_time(((cs.get("lastState") or {}).get("terminated") or {})
                           .get("finishedAt")) for cs in statuses]
    last = max((f for f in finished if f is not None), default=None)
    if restarts and last is not None:
        restart_text += f" ({human_age(now - last)} ago)"
    return [_name(p), f"{ready}/{total}", pod_status(p), restart_text, age(p, now)]


def _deploy_row(d: dict[str, Any], now: float) -> Row:
    st = _status(d)
    return [_name(d), f"{st.get('readyReplicas', 0)}/{_spec(d).get('replicas', 1)}",
            str(st.get("updatedReplicas", 0)), str(st.get("availableReplicas", 0)), age(d, now)]


def _rs_row(r: dict[str, Any], now: float) -> Row:
    st = _status(r)
    return [_name(r), str(_spec(r).get("replicas", 1)), str(st.get("replicas", 0)),
            str(st.get("readyReplicas", 0)), age(r, now)]


def _ports(spec: dict[str, Any]) -> str:
    parts = []
    for p in spec.get("ports") or []:
        text = str(p.get("port"))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        parts.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _svc_row(s: dict[str, Any], now: float) -> Row:
    spec = _spec(s)
    ingress = (_status(s).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress)
    if not external:
        external = "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    return [_name(s), str(spec.get("type", "ClusterIP")), str(spec.get("clusterIP", "<none>")),
            external, _ports(spec), age(s, now)]


def _ep_row(e: dict[str, Any], now: float) -> Row:
    addrs = []
    for subset in e.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for a in subset.get("addresses") or []:
            addrs += [f"{a.get('ip')}:{p}" if p is not None else str(a.get("ip")) for p in ports]
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [_name(e), text or "<none>", age(e, now)]


def _data_count(o: dict[str, Any]) -> str:
    return str(len(o.get("data") or {}) + len(o.get("binaryData") or {}))


_TABLES: dict[str, tuple[Row, Callable[[dict[str, Any], float], Row]]] = {
    "Pod": (["NAME", "READY", "STATUS", "RESTARTS", "AGE"], _pod_row),
    "Deployment": (["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], _deploy_row),
    "ReplicaSet": (["NAME", "DESIRED", "CURRENT", "READY", "AGE"], _rs_row),
    "Service": (["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], _svc_row),
    "Endpoints": (["NAME", "ENDPOINTS", "AGE"], _ep_row),
    "Namespace": (["NAME", "STATUS", "AGE"],
                  lambda o, now: [_name(o), str(_status(o).get("phase", "Active")), age(o, now)]),
    "ConfigMap": (["NAME", "DATA", "AGE"], lambda o, now: [_name(o), _data_count(o), age(o, now)]),
    "Secret": (["NAME", "TYPE", "DATA", "AGE"],
               lambda o, now: [_name(o), str(o.get("type", "Opaque")), _data_count(o),
                               age(o, now)]),
}
_TABLES.update(tables(age, human_age, parse_time))
_GENERIC: tuple[Row, Callable[[dict[str, Any], float], Row]] = (
    ["NAME", "AGE"], lambda o, now: [_name(o), age(o, now)])


def _render(header: Row, rows: Sequence[Row]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)


def format_table(objects: list[dict[str, Any]], kind: str | None, now: float) -> str:
    """`kubectl get KIND` (or `kubectl get all`-style sections when kind is None).
    A NAMESPACE column appears when the objects span several namespaces."""
    if kind is not None:
        objects = [o for o in objects if o.get("kind") == kind]
    if not objects:
        return "No resources found."
    namespaces = {(o.get("metadata") or {}).get("namespace", "") for o in objects}
    show_ns = len(namespaces) > 1
    kinds = [kind] if kind else sorted({str(o.get("kind")) for o in objects}, key=_kind_order)
    sections = []
    for k in kinds:
        header, row_of = _TABLES.get(k, _GENERIC)
        rows = []
        for o in sorted((o for o in objects if o.get("kind") == k),
                        key=lambda o: (str((o.get("metadata") or {}).get("namespace", "")),
                                       _name(o))):
            row = row_of(o, now)
            if kind is None:
                row[0] = f"{k.lower()}/{row[0]}"
            if show_ns:
                row.insert(0, str((o.get("metadata") or {}).get("namespace", "")))
            rows.append(row)
        sections.append(_render(["NAMESPACE", *header] if show_ns else header, rows))
    return "\n\n".join(sections)


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
