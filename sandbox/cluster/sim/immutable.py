"""Fields the API server refuses to change once an object exists, with its messages.

An update that touches one is refused whole, by apply and by a server-side dry run
alike, so the PR check finds it before a merge leaves the reconciler stuck on it. The
rules and wording follow Kubernetes' validation (ValidateDeploymentUpdate,
ValidateStatefulSetUpdate, ValidateDaemonSetUpdate, ValidateServiceUpdate,
ValidateJobUpdate, ValidatePersistentVolumeClaimUpdate). Go renders a refused value
with %#v: a label selector is shown in full, a pod template is shortened here to
`core.PodTemplateSpec{...}` (the server prints the whole struct).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# The kind as the server names it in "is invalid" messages: Kind.group.
_QUALIFIED = {"Deployment": "Deployment.apps", "StatefulSet": "StatefulSet.apps",
              "DaemonSet": "DaemonSet.apps", "ReplicaSet": "ReplicaSet.apps",
              "Job": "Job.batch", "Service": "Service",
              "PersistentVolumeClaim": "PersistentVolumeClaim"}
# StatefulSet fields an update may change (Kubernetes 1.27 and later).
_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
_PVC_MUTABLE = ("resources", "volumeAttributesClassName")


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _go_string(value: Any) -> str:
    return json.dumps(str(value))


def go_selector(selector: Any) -> str:
    """A label selector as Go's %#v prints a metav1.LabelSelector."""
    selector = selector if isinstance(selector, dict) else {}
    labels = selector.get("matchLabels")
    if isinstance(labels, dict) and labels:
        pairs = ", ".join(f"{_go_string(k)}:{_go_string(v)}" for k, v in sorted(labels.items()))
        match_labels = f"map[string]string{{{pairs}}}"
    else:
        match_labels = "map[string]string(nil)"
    expressions = selector.get("matchExpressions")
    if isinstance(expressions, list) and expressions:
        items = []
        for item in expressions:
            item = item if isinstance(item, dict) else {}
            values = item.get("values")
            shown = ("[]string{" + ", ".join(_go_string(v) for v in values) + "}"
                     if isinstance(values, list) and values else "[]string(nil)")
            items.append(f"v1.LabelSelectorRequirement{{Key:{_go_string(item.get('key', ''))}, "
                         f"Operator:{_go_string(item.get('operator', ''))}, Values:{shown}}}")
        match_expressions = "[]v1.LabelSelectorRequirement{" + ", ".join(items) + "}"
    else:
        match_expressions = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{match_labels}, MatchExpressions:{match_expressions}}}"


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _selector(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    before, after = _spec(old).get("selector"), _spec(new).get("selector")
    if after is None or _canon(before) == _canon(after):
        return None
    return f"spec.selector: Invalid value: {go_selector(after)}: field is immutable"


def _statefulset(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    before, after = _spec(old), _spec(new)
    for key in sorted(set(before) | set(after)):
        if key in _STS_MUTABLE or key not in after:
            continue  # left out of the apply: the server keeps what it has
        if _canon(before.get(key)) != _canon(after.get(key)):
            allowed = ", ".join(f"'{k}'" for k in _STS_MUTABLE[:-1])
            return (f"spec: Forbidden: updates to statefulset spec for fields other than "
                    f"{allowed} and '{_STS_MUTABLE[-1]}' are forbidden")
    return None


def _service(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    before, after = _spec(old).get("clusterIP"), _spec(new).get("clusterIP")
    if not after or not before or after == before:
        return None  # unset (or "") on update keeps the address the server gave it
    ips = _spec(new).get("clusterIPs") or [after]
    shown = "[]string{" + ", ".join(_go_string(ip) for ip in ips) + "}"
    return f"spec.clusterIPs[0]: Invalid value: {shown}: may not change once set"


def _job(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    selector = _selector(old, new)
    if selector:
        return selector
    before, after = _spec(old).get("template"), _spec(new).get("template")
    if after is not None and _canon(before) != _canon(after):
        return "spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"
    return None


def _claim(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    before, after = _spec(old), _spec(new)
    for key, value in after.items():
        if key not in _PVC_MUTABLE and key in before and _canon(before[key]) != _canon(value):
            return ("spec: Forbidden: spec is immutable after creation except "
                    "resources.requests and volumeAttributesClassName for bound claims")
    return None


_RULES: dict[str, Callable[[dict[str, Any], dict[str, Any]], str | None]] = {
    "Deployment": _selector, "DaemonSet": _selector, "ReplicaSet": _selector,
    "StatefulSet": _statefulset, "Service": _service, "Job": _job,
    "PersistentVolumeClaim": _claim,
}


def immutable_problem(existing: dict[str, Any], desired: dict[str, Any]) -> str | None:
    """Why the server refuses to update ``existing`` to ``desired``, or None."""
    kind = str(desired.get("kind", ""))
    rule = _RULES.get(kind)
    if rule is None or str(existing.get("apiVersion", "")).startswith("extensions/"):
        return None  # extensions/v1beta1 kept selectors mutable, for compatibility
    problem = rule(existing, desired)
    if problem is None:
        return None
    name = (desired.get("metadata") or {}).get("name", "")
    return f"{_QUALIFIED[kind]} {_go_string(name)} is invalid: {problem}"
