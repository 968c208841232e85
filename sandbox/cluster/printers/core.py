"""Printers of the core/v1 and apps/v1 kinds, as kube-apiserver's
pkg/printers/internalversion defines their Table columns and cells."""

from __future__ import annotations

from typing import Any

from .base import (
    Obj,
    Printer,
    age,
    cols,
    human_age,
    labels_text,
    name,
    parse_time,
    selector_text,
    since,
    spec,
    status,
    template_images,
)

_WIDE_TEMPLATE = (("Containers", "string", 1), ("Images", "string", 1),
                  ("Selector", "string", 1))


def pod_status(pod: Obj) -> str:
    """The STATUS column: Terminating, a container's waiting/terminated reason, or phase."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    st = status(pod)
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            return str(state["waiting"]["reason"])
        if state.get("terminated"):
            return str(state["terminated"].get("reason") or "Error")
    return str(reason)


def _pod(p: Obj, now: float) -> list[Any]:
    st, sp = status(p), spec(p)
    statuses = st.get("containerStatuses") or []
    total = len(sp.get("containers") or []) or len(statuses)
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    restart_text = str(restarts)
    finished = [parse_time(((cs.get("lastState") or {}).get("terminated") or {})
                           .get("finishedAt")) for cs in statuses]
    last = max((f for f in finished if f is not None), default=None)
    if restarts and last is not None:
        restart_text += f" ({human_age(now - last)} ago)"
    gates = sp.get("readinessGates") or []
    true = {c.get("type") for c in st.get("conditions") or [] if c.get("status") == "True"}
    gate_text = (f"{sum(1 for g in gates if g.get('conditionType') in true)}/{len(gates)}"
                 if gates else "<none>")
    return [name(p), f"{ready}/{total}", pod_status(p), restart_text, age(p, now),
            st.get("podIP") or "<none>", sp.get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>", gate_text]


def _deployment(d: Obj, now: float) -> list[Any]:
    st = status(d)
    return [name(d), f"{st.get('readyReplicas', 0)}/{spec(d).get('replicas', 1)}",
            int(st.get("updatedReplicas", 0)), int(st.get("availableReplicas", 0)),
            age(d, now), *template_images(d), selector_text(spec(d).get("selector"))]


def _replicaset(r: Obj, now: float) -> list[Any]:
    st = status(r)
    return [name(r), int(spec(r).get("replicas", 1)), int(st.get("replicas", 0)),
            int(st.get("readyReplicas", 0)), age(r, now), *template_images(r),
            selector_text(spec(r).get("selector"))]


def _rc(r: Obj, now: float) -> list[Any]:
    row = _replicaset(r, now)
    row[-1] = labels_text(spec(r).get("selector"))
    return row


def _statefulset(o: Obj, now: float) -> list[Any]:
    return [name(o), f"{status(o).get('readyReplicas', 0)}/{spec(o).get('replicas', 1)}",
            age(o, now), *template_images(o)]


def _daemonset(o: Obj, now: float) -> list[Any]:
    st = status(o)
    node_selector = ((spec(o).get("template") or {}).get("spec") or {}).get("nodeSelector")
    return [name(o), *(int(st.get(k, 0)) for k in (
                "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                "updatedNumberScheduled", "numberAvailable")),
            labels_text(node_selector), age(o, now), *template_images(o),
            selector_text(spec(o).get("selector"))]


def service_ports(sp: Obj) -> str:
    parts = []
    for p in sp.get("ports") or []:
        text = str(p.get("port"))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        parts.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(parts) or "<none>"


def _service(s: Obj, now: float) -> list[Any]:
    sp = spec(s)
    ingress = (status(s).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join([*(sp.get("externalIPs") or []),
                         *(i.get("ip") or i.get("hostname", "") for i in ingress)])
    if not external:
        external = "<pending>" if sp.get("type") == "LoadBalancer" else "<none>"
    return [name(s), str(sp.get("type", "ClusterIP")), str(sp.get("clusterIP", "<none>")),
            external, service_ports(sp), age(s, now), labels_text(sp.get("selector"))]


def _endpoints(e: Obj, now: float) -> list[Any]:
    addrs = []
    for subset in e.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for a in subset.get("addresses") or []:
            addrs += [f"{a.get('ip')}:{p}" if p is not None else str(a.get("ip")) for p in ports]
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [name(e), text or "<none>", age(e, now)]


def _node(o: Obj, now: float) -> list[Any]:
    st = status(o)
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), {})
    state = "Ready" if ready.get("status") == "True" else "NotReady"
    if spec(o).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = (o.get("metadata") or {}).get("labels") or {}
    roles = ",".join(sorted(k.split("/", 1)[1] for k in labels
                            if k.startswith("node-role.kubernetes.io/"))) or "<none>"
    info = st.get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    return [name(o), state, roles, age(o, now), info.get("kubeletVersion", ""),
            addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"),
            info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
            info.get("containerRuntimeVersion", "<unknown>")]


def _event(o: Obj, now: float) -> list[Any]:
    inv = o.get("involvedObject") or o.get("regarding") or {}
    source = o.get("source") or {}
    src = ", ".join(str(v) for v in (source.get("component"), source.get("host")) if v)
    last = o.get("lastTimestamp") or o.get("eventTime")
    first = o.get("firstTimestamp") or o.get("eventTime")
    return [since(last, now), o.get("type", ""), o.get("reason", ""),
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}",
            inv.get("fieldPath", ""), src or o.get("reportingController", ""),
            o.get("message") or o.get("note", ""), since(first, now),
            int(o.get("count") or 1), name(o)]


def _data_count(o: Obj) -> int:
    return len(o.get("data") or {}) + len(o.get("binaryData") or {})


_TEMPLATED = cols("Name", ("Desired", "integer"), ("Current", "integer"),
                  ("Ready", "integer"), "Age", *_WIDE_TEMPLATE)

PRINTERS: dict[str, Printer] = {
    "Pod": Printer(cols("Name", "Ready", "Status", "Restarts", "Age", ("IP", "string", 1),
                        ("Node", "string", 1), ("Nominated Node", "string", 1),
                        ("Readiness Gates", "string", 1)), _pod),
    "Deployment": Printer(cols("Name", "Ready", ("Up-to-date", "integer"),
                               ("Available", "integer"), "Age", *_WIDE_TEMPLATE), _deployment),
    "ReplicaSet": Printer(_TEMPLATED, _replicaset),
    "ReplicationController": Printer(_TEMPLATED, _rc),
    "StatefulSet": Printer(cols("Name", "Ready", "Age", *_WIDE_TEMPLATE[:2]), _statefulset),
    "DaemonSet": Printer(cols("Name", ("Desired", "integer"), ("Current", "integer"),
                              ("Ready", "integer"), ("Up-to-date", "integer"),
                              ("Available", "integer"), "Node Selector", "Age",
                              *_WIDE_TEMPLATE), _daemonset),
    "Service": Printer(cols("Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age",
                            ("Selector", "string", 1)), _service),
    "Endpoints": Printer(cols("Name", "Endpoints", "Age"), _endpoints),
    "Node": Printer(cols("Name", "Status", "Roles", "Age", "Version",
                         ("Internal-IP", "string", 1), ("External-IP", "string", 1),
                         ("OS-Image", "string", 1), ("Kernel-Version", "string", 1),
                         ("Container-Runtime", "string", 1)), _node),
    "Event": Printer(cols("Last Seen", "Type", "Reason", "Object", ("Subobject", "string", 1),
                          ("Source", "string", 1), "Message", ("First Seen", "string", 1),
                          ("Count", "string", 1), ("Name", "string", 1)), _event),
    "Namespace": Printer(cols("Name", "Status", "Age"), lambda o, now: [
        name(o), str(status(o).get("phase", "Active")), age(o, now)]),
    "ConfigMap": Printer(cols("Name", ("Data", "integer"), "Age"), lambda o, now: [
        name(o), _data_count(o), age(o, now)]),
    "Secret": Printer(cols("Name", "Type", ("Data", "integer"), "Age"), lambda o, now: [
        name(o), str(o.get("type", "Opaque")), _data_count(o), age(o, now)]),
    "ServiceAccount": Printer(cols("Name", ("Secrets", "integer"), "Age"), lambda o, now: [
        name(o), len(o.get("secrets") or []), age(o, now)]),
}
