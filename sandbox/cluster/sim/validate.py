"""What the simulated API server refuses, with messages close to the real ones."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sandbox import limits
from sandbox.cluster.discovery import unserved
from sandbox.cluster.sim.cron import CronError
from sandbox.cluster.sim.cron import parse as parse_schedule
from sandbox.cluster.sim.store import is_namespaced, matches_selector

if TYPE_CHECKING:
    from sandbox.cluster.discovery import Discovery

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # DNS-1123 label


def validate(obj: Any, namespaces: set[str],
             max_replicas: int = limits.DEFAULT_MAX_REPLICAS,
             served: Discovery | None = None) -> str | None:
    """None when the object would be accepted; otherwise why not. With ``served`` (the
    server's API discovery), a kind or apiVersion it does not serve is refused."""
    if not isinstance(obj, dict):
        return "object is not a mapping"
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        return "Object 'Kind' is missing"
    if limits.kind_problem(kind):
        return str(limits.kind_problem(kind))
    if not isinstance(obj.get("apiVersion"), str) or not obj["apiVersion"]:
        return f"{kind}: apiVersion is missing"
    if limits.api_version_problem(obj["apiVersion"]):
        return f"{kind}: {limits.api_version_problem(obj['apiVersion'])}"
    if served is not None and served.lookup(obj["apiVersion"], kind) is None:
        return unserved(served, obj["apiVersion"], kind)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return f"{kind}: metadata is missing"
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        return f"{kind}: metadata.name: Required value: name is required"
    if len(name) > 253 or not _NAME_RE.match(name):
        return (f"{kind} {name!r} is invalid: metadata.name: Invalid value: a lowercase "
                "RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                "'-' or '.'")
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and (not isinstance(value, dict)
                                  or not all(isinstance(v, str) for v in value.values())):
            return f"{kind} {name!r} is invalid: metadata.{field} must map strings to strings"
    for problem in limits.metadata_problems(meta):
        return f"{kind} {name!r} is invalid: metadata: {problem}"
    if isinstance(obj.get("spec"), dict) and "replicas" in obj["spec"]:
        problem = limits.replicas_problem(obj["spec"]["replicas"], max_replicas)
        if problem:
            return f"{kind} {name!r} is invalid: {problem}"
    if is_namespaced(kind):
        ns = meta.get("namespace") or "default"
        if ns not in namespaces:
            return f'namespaces "{ns}" not found'
    elif kind == "Namespace" and not _LABEL_NAME_RE.match(name):
        return f"Namespace {name!r} is invalid: a lowercase RFC 1123 label is required"
    check = _CHECKS.get(kind)
    if check is not None:
        problem = check(obj.get("spec"), obj)
        if problem:
            return f"{kind} {name!r} is invalid: {problem}"
    return None


def _pod_spec(spec: Any, where: str) -> str | None:
    if not isinstance(spec, dict):
        return f"{where}: Required value"
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return f"{where}.containers: Required value"
    seen: set[str] = set()
    for i, c in enumerate(containers):
        if not isinstance(c, dict):
            return f"{where}.containers[{i}]: must be a mapping"
        cname = c.get("name")
        if not isinstance(cname, str) or not cname:
            return f"{where}.containers[{i}].name: Required value"
        if cname in seen:
            return f"{where}.containers[{i}].name: Duplicate value: {cname!r}"
        seen.add(cname)
        if not isinstance(c.get("image"), str) or not c["image"].strip():
            return f"{where}.containers[{i}].image: Required value"
    return None


def _workload(spec: Any, obj: dict[str, Any]) -> str | None:
    if not isinstance(spec, dict):
        return "spec: Required value"
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        return "spec.replicas: Invalid value: must be a non-negative integer"
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels")
                                              or selector.get("matchExpressions")):
        return "spec.selector: Required value"
    template = spec.get("template")
    if not isinstance(template, dict):
        return "spec.template: Required value"
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not matches_selector(labels, selector):
        return ("spec.template.metadata.labels: Invalid value: "
                f"{labels!r}: `selector` does not match template `labels`")
    if obj.get("kind") == "Deployment":
        strategy = spec.get("strategy") or {}
        if strategy.get("type", "RollingUpdate") not in ("RollingUpdate", "Recreate"):
            return (f"spec.strategy.type: Unsupported value: {strategy.get('type')!r}: "
                    'supported values: "Recreate", "RollingUpdate"')
        for key in ("maxSurge", "maxUnavailable"):
            value = (strategy.get("rollingUpdate") or {}).get(key)
            if value is not None and not _int_or_percent(value):
                return f"spec.strategy.rollingUpdate.{key}: Invalid value: {value!r}"
    return _pod_spec(template.get("spec"), "spec.template.spec")


def _int_or_percent(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value >= 0
    return isinstance(value, str) and re.fullmatch(r"\d+%", value) is not None


def _pod(spec: Any, obj: dict[str, Any]) -> str | None:
    return _pod_spec(spec, "spec")


def _service(spec: Any, obj: dict[str, Any]) -> str | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        return "spec: must be a mapping"
    selector = spec.get("selector")
    if selector is not None and not isinstance(selector, dict):
        return "spec.selector: must map label names to values"
    for i, port in enumerate(spec.get("ports") or []):
        if not isinstance(port, dict) or not isinstance(port.get("port"), int):
            return f"spec.ports[{i}].port: Required value"
    return None


def _data(spec: Any, obj: dict[str, Any]) -> str | None:
    for field in ("data", "stringData", "binaryData"):
        value = obj.get(field)
        if value is not None and not isinstance(value, dict):
            return f"{field}: must be a mapping"
        for key, v in (value or {}).items():
            if not isinstance(v, str):
                return f"{field}[{key}]: must be a string"
    return None


def _job_template(spec: Any, where: str) -> str | None:
    if not isinstance(spec, dict) or not isinstance(spec.get("template"), dict):
        return f"{where}.template: Required value"
    pod_spec = spec["template"].get("spec")
    problem = _pod_spec(pod_spec, f"{where}.template.spec")
    if problem:
        return problem
    policy = pod_spec.get("restartPolicy", "Always")
    if policy not in ("OnFailure", "Never"):
        return (f'{where}.template.spec.restartPolicy: Unsupported value: "{policy}": '
                'supported values: "OnFailure", "Never"')
    return None


def _job(spec: Any, obj: dict[str, Any]) -> str | None:
    return _job_template(spec, "spec")


def _cronjob(spec: Any, obj: dict[str, Any]) -> str | None:
    if not isinstance(spec, dict):
        return "spec: Required value"
    schedule = spec.get("schedule")
    if not isinstance(schedule, str) or not schedule.strip():
        return "spec.schedule: Required value"
    try:
        parse_schedule(schedule)
    except CronError as exc:
        return f'spec.schedule: Invalid value: "{schedule}": {exc}'
    return _job_template((spec.get("jobTemplate") or {}).get("spec"), "spec.jobTemplate.spec")


def _hpa(spec: Any, obj: dict[str, Any]) -> str | None:
    if not isinstance(spec, dict):
        return "spec: Required value"
    target = spec.get("scaleTargetRef")
    if not isinstance(target, dict) or not target.get("kind") or not target.get("name"):
        return "spec.scaleTargetRef: Required value"
    high, low = spec.get("maxReplicas"), spec.get("minReplicas", 1)
    if not isinstance(high, int) or isinstance(high, bool) or high < 1:
        return "spec.maxReplicas: Invalid value: must be greater than 0"
    if not isinstance(low, int) or isinstance(low, bool) or low < 1:
        return "spec.minReplicas: Invalid value: must be greater than or equal to 1"
    if high < low:
        return f"spec.maxReplicas: Invalid value: {high}: must be greater than or equal to minReplicas"
    return None


_CHECKS = {"Deployment": _workload, "ReplicaSet": _workload, "Pod": _pod,
           "Service": _service, "ConfigMap": _data, "Secret": _data,
           "StatefulSet": _workload, "DaemonSet": _workload, "Job": _job,
           "CronJob": _cronjob, "HorizontalPodAutoscaler": _hpa}
