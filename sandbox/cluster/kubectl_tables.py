"""`kubectl get` columns for the workload, storage and node kinds (as kubectl 1.30
prints them), beside the core ones in kubectl_format.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Row = list[str]
Age = Callable[[dict[str, Any], float], str]
Human = Callable[[float], str]
Parse = Callable[[Any], float | None]


def _name(o: dict[str, Any]) -> str:
    return str((o.get("metadata") or {}).get("name", ""))


def _spec(o: dict[str, Any]) -> dict[str, Any]:
    return o.get("spec") or {}


def _status(o: dict[str, Any]) -> dict[str, Any]:
    return o.get("status") or {}


def _selector(sel: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((sel or {}).items())) or "<none>"


def tables(age: Age, human: Human, parse_time: Parse
           ) -> dict[str, tuple[Row, Callable[[dict[str, Any], float], Row]]]:
    def sts(o: dict[str, Any], now: float) -> Row:
        return [_name(o), f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}",
                age(o, now)]

    def ds(o: dict[str, Any], now: float) -> Row:
        st = _status(o)
        node_selector = ((_spec(o).get("template") or {}).get("spec") or {}).get("nodeSelector")
        return [_name(o), str(st.get("desiredNumberScheduled", 0)),
                str(st.get("currentNumberScheduled", 0)), str(st.get("numberReady", 0)),
                str(st.get("updatedNumberScheduled", 0)), str(st.get("numberAvailable", 0)),
                _selector(node_selector), age(o, now)]

    def job(o: dict[str, Any], now: float) -> Row:
        st = _status(o)
        conds = {c.get("type") for c in st.get("conditions") or [] if c.get("status") == "True"}
        state = ("Complete" if "Complete" in conds else "Failed" if "Failed" in conds
                 else "Suspended" if _spec(o).get("suspend") else "Running")
        completions = _spec(o).get("completions")
        done = f"{st.get('succeeded', 0)}/{completions if completions is not None else 1}"
        start = parse_time(st.get("startTime"))
        end = parse_time(st.get("completionTime"))
        duration = human((end if end is not None else now) - start) if start is not None else ""
        return [_name(o), state, done, duration, age(o, now)]

    def cronjob(o: dict[str, Any], now: float) -> Row:
        spec, st = _spec(o), _status(o)
        last = parse_time(st.get("lastScheduleTime"))
        return [_name(o), str(spec.get("schedule", "")), str(spec.get("timeZone") or "<none>"),
                str(bool(spec.get("suspend"))).capitalize(), str(len(st.get("active") or [])),
                human(now - last) if last is not None else "<none>", age(o, now)]

    def hpa(o: dict[str, Any], now: float) -> Row:
        spec, st = _spec(o), _status(o)
        target = spec.get("scaleTargetRef") or {}
        current = {m["resource"]["name"]: m["resource"].get("current") or {}
                   for m in st.get("currentMetrics") or [] if m.get("resource")}
        parts = []
        for m in spec.get("metrics") or []:
            res = m.get("resource") or {}
            name, want = str(res.get("name", "")), res.get("target") or {}
            have = current.get(name, {})
            if want.get("type", "Utilization") == "Utilization":
                got = have.get("averageUtilization")
                parts.append(f"{name}: {'<unknown>' if got is None else f'{got}%'}/"
                             f"{want.get('averageUtilization')}%")
            else:
                parts.append(f"{name}: {have.get('averageValue', '<unknown>')}/"
                             f"{want.get('averageValue')}")
        return [_name(o), f"{target.get('kind')}/{target.get('name')}",
                ", ".join(parts) or "<none>", str(spec.get("minReplicas", 1)),
                str(spec.get("maxReplicas", "")), str(st.get("currentReplicas", 0)),
                age(o, now)]

    def modes(values: list[str] | None) -> str:
        short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                 "ReadWriteOncePod": "RWOP"}
        return ",".join(short.get(m, m) for m in values or [])

    def pvc(o: dict[str, Any], now: float) -> Row:
        spec, st = _spec(o), _status(o)
        return [_name(o), str(st.get("phase", "Pending")), str(spec.get("volumeName", "")),
                str((st.get("capacity") or {}).get("storage", "")),
                modes(st.get("accessModes")), str(spec.get("storageClassName", "")),
                "<unset>", age(o, now)]

    def pv(o: dict[str, Any], now: float) -> Row:
        spec, st = _spec(o), _status(o)
        claim = spec.get("claimRef") or {}
        return [_name(o), str((spec.get("capacity") or {}).get("storage", "")),
                modes(spec.get("accessModes")),
                str(spec.get("persistentVolumeReclaimPolicy", "Retain")),
                str(st.get("phase", "Available")),
                f"{claim.get('namespace')}/{claim.get('name')}" if claim else "",
                str(spec.get("storageClassName", "")), "<unset>", "", age(o, now)]

    def sc(o: dict[str, Any], now: float) -> Row:
        default = ((o.get("metadata") or {}).get("annotations") or {}).get(
            "storageclass.kubernetes.io/is-default-class") == "true"
        return [_name(o) + (" (default)" if default else ""), str(o.get("provisioner", "")),
                str(o.get("reclaimPolicy", "Delete")),
                str(o.get("volumeBindingMode", "Immediate")),
                str(bool(o.get("allowVolumeExpansion"))).lower(), age(o, now)]

    def node(o: dict[str, Any], now: float) -> Row:
        st = _status(o)
        ready = [c for c in st.get("conditions") or [] if c.get("type") == "Ready"]
        state = "Ready" if ready and ready[0].get("status") == "True" else "NotReady"
        if _spec(o).get("unschedulable"):
            state += ",SchedulingDisabled"
        roles = sorted(k.split("/", 1)[1] for k in (o.get("metadata") or {}).get("labels") or {}
                       if k.startswith("node-role.kubernetes.io/"))
        return [_name(o), state, ",".join(roles) or "<none>", age(o, now),
                str((st.get("nodeInfo") or {}).get("kubeletVersion", ""))]

    return {
        "StatefulSet": (["NAME", "READY", "AGE"], sts),
        "DaemonSet": (["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE",
                       "NODE SELECTOR", "AGE"], ds),
        "Job": (["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], job),
        "CronJob": (["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE",
                     "AGE"], cronjob),
        "HorizontalPodAutoscaler": (["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                     "REPLICAS", "AGE"], hpa),
        "PersistentVolumeClaim": (["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES",
                                   "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"], pvc),
        "PersistentVolume": (["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS",
                              "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON",
                              "AGE"], pv),
        "StorageClass": (["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                          "ALLOWVOLUMEEXPANSION", "AGE"], sc),
        "Node": (["NAME", "STATUS", "ROLES", "AGE", "VERSION"], node),
        "ServiceAccount": (["NAME", "SECRETS", "AGE"],
                           lambda o, now: [_name(o), str(len(o.get("secrets") or [])),
                                           age(o, now)]),
    }
