"""Printers of the batch, autoscaling, storage, networking, RBAC, policy and scheduling
kinds (kube-apiserver's pkg/printers/internalversion), and of the kinds it has no
printer for (CustomResourceDefinition, ...), which get the default NAME, CREATED AT."""

from __future__ import annotations

from typing import Any

from .base import (
    Obj,
    Printer,
    access_modes,
    age,
    cols,
    created_at,
    human_age,
    name,
    parse_time,
    selector_text,
    since,
    spec,
    status,
    template_images,
)


def _more(items: list[str], limit: int = 3) -> str:
    text = ",".join(items[:limit])
    return text + (f" + {len(items) - limit} more..." if len(items) > limit else "")


def _job(o: Obj, now: float) -> list[Any]:
    sp, st = spec(o), status(o)
    conds = {c.get("type") for c in st.get("conditions") or [] if c.get("status") == "True"}
    state = ("Complete" if "Complete" in conds else "Failed" if "Failed" in conds
             else "Terminating" if (o.get("metadata") or {}).get("deletionTimestamp")
             else "Suspended" if sp.get("suspend") else "Running")
    done = int(st.get("succeeded", 0))
    if sp.get("completions") is not None:
        completions = f"{done}/{sp['completions']}"
    else:
        parallelism = int(sp.get("parallelism") or 0)
        completions = f"{done}/1 of {parallelism}" if parallelism > 1 else f"{done}/1"
    start, end = parse_time(st.get("startTime")), parse_time(st.get("completionTime"))
    duration = human_age((end if end is not None else now) - start) if start is not None else ""
    return [name(o), state, completions, duration, age(o, now), *template_images(o),
            selector_text(sp.get("selector"))]


def _cronjob(o: Obj, now: float) -> list[Any]:
    sp, st = spec(o), status(o)
    job = (sp.get("jobTemplate") or {}).get("spec") or {}
    return [name(o), str(sp.get("schedule", "")), str(sp.get("timeZone") or "<none>"),
            # kube-apiserver defaults suspend to false, so `<unset>` never shows there.
            str(bool(sp.get("suspend"))),
            len(st.get("active") or []), since(st.get("lastScheduleTime"), now, "<none>"),
            age(o, now), *template_images({"spec": job}), selector_text(job.get("selector"))]


def _metric(want: Obj, have: Obj, label: str) -> str:
    if want.get("type", "Utilization") == "Utilization" and "averageUtilization" in want:
        got = have.get("averageUtilization")
        return f"{label}{'<unknown>' if got is None else f'{got}%'}/{want['averageUtilization']}%"
    key = "averageValue" if "averageValue" in want else "value"
    return f"{label}{have.get(key, '<unknown>')}/{want.get(key)}"


def hpa_targets(o: Obj) -> str:
    """TARGETS as formatHPAMetrics writes it: `cpu: 40%/50%`, the first two metrics, then
    `+ N more...`; `<none>` without metrics."""
    current: dict[tuple[str, str], Obj] = {}
    for m in status(o).get("currentMetrics") or []:
        kind = str(m.get("type", ""))
        body = m.get(kind[:1].lower() + kind[1:]) or {}
        ident = str(body.get("name") or (body.get("metric") or {}).get("name", ""))
        current[(kind, ident)] = body.get("current") or {}
    parts = []
    for m in spec(o).get("metrics") or []:
        kind = str(m.get("type", ""))
        body = m.get(kind[:1].lower() + kind[1:]) or {}
        ident = str(body.get("name") or (body.get("metric") or {}).get("name", ""))
        label = f"{ident}: " if kind in ("Resource", "ContainerResource") else ""
        parts.append(_metric(body.get("target") or {}, current.get((kind, ident), {}), label))
    if not parts:
        return "<none>"
    return ", ".join(parts[:2]) + (f" + {len(parts) - 2} more..." if len(parts) > 2 else "")


def _hpa(o: Obj, now: float) -> list[Any]:
    sp = spec(o)
    ref = sp.get("scaleTargetRef") or {}
    return [name(o), f"{ref.get('kind')}/{ref.get('name')}", hpa_targets(o),
            int(sp.get("minReplicas", 1)), int(sp.get("maxReplicas", 0)),
            int(status(o).get("currentReplicas", 0)), age(o, now)]


def _pvc(o: Obj, now: float) -> list[Any]:
    sp, st = spec(o), status(o)
    phase = "Terminating" if (o.get("metadata") or {}).get("deletionTimestamp") else str(
        st.get("phase", "Pending"))
    bound = bool(sp.get("volumeName"))
    return [name(o), phase, str(sp.get("volumeName", "")),
            str((st.get("capacity") or {}).get("storage", "")) if bound else "",
            access_modes(st.get("accessModes")) if bound else "",
            str(sp.get("storageClassName", "")),
            str(sp.get("volumeAttributesClassName") or "<unset>"), age(o, now),
            str(sp.get("volumeMode", "Filesystem"))]


def _pv(o: Obj, now: float) -> list[Any]:
    sp, st = spec(o), status(o)
    claim = sp.get("claimRef") or {}
    return [name(o), str((sp.get("capacity") or {}).get("storage", "")),
            access_modes(sp.get("accessModes")),
            str(sp.get("persistentVolumeReclaimPolicy", "Retain")),
            str(st.get("phase", "Available")),
            f"{claim.get('namespace')}/{claim.get('name')}" if claim else "",
            str(sp.get("storageClassName", "")),
            str(sp.get("volumeAttributesClassName") or "<unset>"), str(st.get("reason", "")),
            age(o, now), str(sp.get("volumeMode", "Filesystem"))]


def _storageclass(o: Obj, now: float) -> list[Any]:
    default = ((o.get("metadata") or {}).get("annotations") or {}).get(
        "storageclass.kubernetes.io/is-default-class") == "true"
    return [name(o) + (" (default)" if default else ""), str(o.get("provisioner", "")),
            str(o.get("reclaimPolicy", "Delete")), str(o.get("volumeBindingMode", "Immediate")),
            str(bool(o.get("allowVolumeExpansion"))).lower(), age(o, now)]


def _ingress(o: Obj, now: float) -> list[Any]:
    sp = spec(o)
    klass = sp.get("ingressClassName") or ((o.get("metadata") or {}).get("annotations") or {}
                                           ).get("kubernetes.io/ingress.class") or "<none>"
    hosts = [str(r.get("host") or "*") for r in sp.get("rules") or []]
    lb = (status(o).get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(str(i.get("ip") or i.get("hostname", "")) for i in lb)
    return [name(o), str(klass), _more(hosts) or "*", address,
            "80, 443" if sp.get("tls") else "80", age(o, now)]


def _ingressclass(o: Obj, now: float) -> list[Any]:
    params = spec(o).get("parameters")
    text = "<none>"
    if isinstance(params, dict):
        group = f".{params['apiGroup']}" if params.get("apiGroup") else ""
        text = f"{params.get('kind')}{group}/{params.get('name')}"
    return [name(o), str(spec(o).get("controller", "")), text, age(o, now)]


def _binding(o: Obj, now: float) -> list[Any]:
    ref = o.get("roleRef") or {}
    subjects = o.get("subjects") or []

    def of(kind: str) -> str:
        return ", ".join((f"{s.get('namespace', '')}/{s.get('name')}"
                          if kind == "ServiceAccount" else str(s.get("name")))
                         for s in subjects if s.get("kind") == kind)
    return [name(o), f"{ref.get('kind')}/{ref.get('name')}", age(o, now), of("User"),
            of("Group"), of("ServiceAccount")]


def _endpointslice(o: Obj, now: float) -> list[Any]:
    ports = [str(p.get("port")) for p in o.get("ports") or [] if p.get("port") is not None]
    addrs = [str(a) for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    return [name(o), str(o.get("addressType", "")), ",".join(ports) or "<unset>",
            _more(addrs) or "<unset>", age(o, now)]


def _pdb(o: Obj, now: float) -> list[Any]:
    sp = spec(o)
    return [name(o), str(sp.get("minAvailable", "N/A")), str(sp.get("maxUnavailable", "N/A")),
            int(status(o).get("disruptionsAllowed", 0)), age(o, now)]


def _quota(o: Obj, now: float) -> list[Any]:
    hard, used = status(o).get("hard") or spec(o).get("hard") or {}, status(o).get("used") or {}
    request = [f"{k}: {used.get(k, 0)}/{v}" for k, v in sorted(hard.items())
               if not k.startswith("limits.")]
    limit = [f"{k}: {used.get(k, 0)}/{v}" for k, v in sorted(hard.items())
             if k.startswith("limits.")]
    return [name(o), age(o, now), ", ".join(request), ", ".join(limit)]


_CREATED = cols("Name", ("Created At", "date"))


def _created(o: Obj, _now: float) -> list[Any]:
    return [name(o), created_at(o)]


def _apiservice(o: Obj) -> str:
    svc = spec(o).get("service")
    return f"{svc.get('namespace')}/{svc.get('name')}" if isinstance(svc, dict) else "Local"


def _available(o: Obj) -> str:
    cond = next((c for c in status(o).get("conditions") or []
                 if c.get("type") == "Available"), None)
    if cond is None:
        return "Unknown"
    ok = cond.get("status") == "True"
    return "True" if ok else f"{cond.get('status')} ({cond.get('reason', '')})"


_WEBHOOKS = cols("Name", ("Webhooks", "integer"), "Age")


def _webhooks(o: Obj, now: float) -> list[Any]:
    return [name(o), len(o.get("webhooks") or []), age(o, now)]


_BINDING = cols("Name", "Role", "Age", ("Users", "string", 1), ("Groups", "string", 1),
                ("ServiceAccounts", "string", 1))

PRINTERS: dict[str, Printer] = {
    "Job": Printer(cols("Name", "Status", "Completions", "Duration", "Age",
                        ("Containers", "string", 1), ("Images", "string", 1),
                        ("Selector", "string", 1)), _job),
    "CronJob": Printer(cols("Name", "Schedule", "Timezone", ("Suspend", "boolean"),
                            ("Active", "integer"), "Last Schedule", "Age",
                            ("Containers", "string", 1), ("Images", "string", 1),
                            ("Selector", "string", 1)), _cronjob),
    "HorizontalPodAutoscaler": Printer(cols("Name", "Reference", "Targets",
                                            ("MinPods", "integer"), ("MaxPods", "integer"),
                                            ("Replicas", "integer"), "Age"), _hpa),
    "PersistentVolumeClaim": Printer(cols("Name", "Status", "Volume", "Capacity",
                                          "Access Modes", "StorageClass",
                                          "VolumeAttributesClass", "Age",
                                          ("VolumeMode", "string", 1)), _pvc),
    "PersistentVolume": Printer(cols("Name", "Capacity", "Access Modes", "Reclaim Policy",
                                     "Status", "Claim", "StorageClass", "VolumeAttributesClass",
                                     "Reason", "Age", ("VolumeMode", "string", 1)), _pv),
    "StorageClass": Printer(cols("Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode",
                                 "AllowVolumeExpansion", "Age"), _storageclass),
    "Ingress": Printer(cols("Name", "Class", "Hosts", "Address", "Ports", "Age"), _ingress),
    "IngressClass": Printer(cols("Name", "Controller", "Parameters", "Age"), _ingressclass),
    "NetworkPolicy": Printer(cols("Name", "Pod-Selector", "Age"), lambda o, now: [
        name(o), selector_text(spec(o).get("podSelector")), age(o, now)]),
    "Role": Printer(_CREATED, _created),
    "ClusterRole": Printer(_CREATED, _created),
    "RoleBinding": Printer(_BINDING, _binding),
    "ClusterRoleBinding": Printer(_BINDING, _binding),
    "EndpointSlice": Printer(cols("Name", "AddressType", "Ports", "Endpoints", "Age"),
                             _endpointslice),
    "PodDisruptionBudget": Printer(cols("Name", "Min Available", "Max Unavailable",
                                        ("Allowed Disruptions", "integer"), "Age"), _pdb),
    "ResourceQuota": Printer(cols("Name", "Age", "Request", "Limit"), _quota),
    "LimitRange": Printer(_CREATED, _created),
    "PriorityClass": Printer(cols("Name", ("Value", "integer"), ("Global-Default", "boolean"),
                                  "Age", "PreemptionPolicy"), lambda o, now: [
        name(o), int(o.get("value", 0)), bool(o.get("globalDefault", False)), age(o, now),
        str(o.get("preemptionPolicy", "PreemptLowerPriority"))]),
    "CustomResourceDefinition": Printer(_CREATED, _created),
    "APIService": Printer(cols("Name", "Service", "Available", "Age"), lambda o, now: [
        name(o), _apiservice(o), _available(o), age(o, now)]),
    "MutatingWebhookConfiguration": Printer(_WEBHOOKS, _webhooks),
    "ValidatingWebhookConfiguration": Printer(_WEBHOOKS, _webhooks),
    "Lease": Printer(cols("Name", "Holder", "Age"), lambda o, now: [
        name(o), str(spec(o).get("holderIdentity", "")), age(o, now)]),
}
