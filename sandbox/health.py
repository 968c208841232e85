"""Health in Argo CD's words: one rule per kind, after gitops-engine's checks, kstatus
for Flux's own kinds and Argo CD's generic reading for the rest.

Pure functions of one object, so the monitor, the CLI and tests judge alike.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any


class Health(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


# Worst first: the aggregate of several objects is the worst of them.
SEVERITY = [Health.DEGRADED, Health.MISSING, Health.PROGRESSING, Health.SUSPENDED,
            Health.UNKNOWN, Health.HEALTHY]

# Container waiting reasons that mean the pod will not get better by itself.
BAD_WAITING = frozenset({"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
                         "InvalidImageName", "CreateContainerConfigError",
                         "CreateContainerError", "RunContainerError"})


def health_of(obj: dict[str, Any] | None) -> tuple[Health, str]:
    """The health of one object and why, as Argo CD would put it."""
    if obj is None:
        return Health.MISSING, "not found in the cluster"
    check = _CHECKS.get(str(obj.get("kind", "")))
    if check is None:
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        check = _flux if group.endswith(FLUX_GROUP) else _generic
    return check(obj)


def _generation_observed(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    generation = (obj.get("metadata") or {}).get("generation")
    return observed is not None and (generation is None or observed >= generation)


def _deployment(obj: dict[str, Any]) -> tuple[Health, str]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("paused"):
        return Health.SUSPENDED, "Deployment is paused"
    if not _generation_observed(obj):
        return Health.PROGRESSING, ("Waiting for rollout to finish: observed deployment "
                                    "generation less than desired generation")
    name = (obj.get("metadata") or {}).get("name", "")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Health.DEGRADED, f'Deployment "{name}" exceeded its progress deadline'
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    replicas = int(status.get("replicas", 0))
    available = int(status.get("availableReplicas", 0))
    if updated < desired:
        return Health.PROGRESSING, (f"Waiting for rollout to finish: {updated} out of {desired} "
                                    "new replicas have been updated...")
    if replicas > updated:
        return Health.PROGRESSING, (f"Waiting for rollout to finish: {replicas - updated} old "
                                    "replicas are pending termination...")
    if available < updated:
        return Health.PROGRESSING, (f"Waiting for rollout to finish: {available} of {updated} "
                                    "updated replicas are available...")
    return Health.HEALTHY, ""


def _replicaset(obj: dict[str, Any]) -> tuple[Health, str]:
    status = obj.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return Health.DEGRADED, str(cond.get("message", "ReplicaFailure"))
    if not _generation_observed(obj):
        return Health.PROGRESSING, ("Waiting for rollout to finish: observed replica set "
                                    "generation less than desired generation")
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    available = int(status.get("availableReplicas", 0))
    if available < desired:
        return Health.PROGRESSING, (f"Waiting for rollout to finish: {available} out of "
                                    f"{desired} new replicas are available...")
    return Health.HEALTHY, ""


def _pod(obj: dict[str, Any]) -> tuple[Health, str]:
    status = obj.get("status") or {}
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health.PROGRESSING, "Pod is terminating"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in BAD_WAITING:
            return Health.DEGRADED, str(waiting.get("message") or waiting["reason"])
    phase = status.get("phase", "Pending")
    if phase == "Succeeded":
        return Health.HEALTHY, str(status.get("message", ""))
    if phase == "Failed":
        return Health.DEGRADED, str(status.get("message", "Pod failed"))
    if phase == "Running":
        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        if ready and ready[0].get("status") == "True":
            return Health.HEALTHY, ""
        return Health.PROGRESSING, "Waiting for the pod to become ready"
    return Health.PROGRESSING, f"Pod is {phase}"


def _service(obj: dict[str, Any]) -> tuple[Health, str]:
    if (obj.get("spec") or {}).get("type") == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if not ingress:
            return Health.PROGRESSING, "Waiting for the load balancer's address"
    return Health.HEALTHY, ""


def _ingress(obj: dict[str, Any]) -> tuple[Health, str]:
    # Argo CD: an Ingress is Healthy once a controller published its address.
    if ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
        return Health.HEALTHY, ""
    return Health.PROGRESSING, "Waiting for an ingress controller to publish an address"


def _statefulset(obj: dict[str, Any]) -> tuple[Health, str]:
    """gitops-engine's getAppsv1StatefulSetHealth (after kubectl rollout status)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if observed == 0 or generation > observed:
        return Health.PROGRESSING, "Waiting for statefulset spec update to be observed..."
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas", 0))
    updated = int(status.get("updatedReplicas", 0))
    if ready < desired:
        return Health.PROGRESSING, f"Waiting for {desired - ready} pods to be ready..."
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type", "RollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if kind == "RollingUpdate" and rolling is not None:
        if rolling.get("partition") is not None:
            want = desired - int(rolling["partition"])
            if updated < want:
                return Health.PROGRESSING, ("Waiting for partitioned roll out to finish: "
                                            f"{updated} out of {want} new pods have been "
                                            "updated...")
        return Health.HEALTHY, (f"partitioned roll out complete: {updated} new pods have "
                                "been updated...")
    if kind == "OnDelete":
        return Health.HEALTHY, f"statefulset has {ready} ready pods"
    if status.get("updateRevision") != status.get("currentRevision"):
        return Health.PROGRESSING, ("waiting for statefulset rolling update to complete "
                                    f"{updated} pods at revision "
                                    f"{status.get('updateRevision')}...")
    return Health.HEALTHY, (f"statefulset rolling update complete "
                            f"{status.get('currentReplicas', 0)} pods at revision "
                            f"{status.get('currentRevision')}...")


def _daemonset(obj: dict[str, Any]) -> tuple[Health, str]:
    """gitops-engine's getAppsv1DaemonSetHealth."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    if generation > int(status.get("observedGeneration") or 0):
        return Health.PROGRESSING, ("Waiting for rollout to finish: observed daemon set "
                                    "generation less then desired generation")
    desired = int(status.get("desiredNumberScheduled", 0))
    updated = int(status.get("updatedNumberScheduled", 0))
    available = int(status.get("numberAvailable", 0))
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return Health.HEALTHY, (f"daemon set {updated} out of {desired} new pods have been "
                                "updated")
    if updated < desired:
        return Health.PROGRESSING, (f'Waiting for daemon set "{name}" rollout to finish: '
                                    f"{updated} out of {desired} new pods have been updated...")
    if available < desired:
        return Health.PROGRESSING, (f'Waiting for daemon set "{name}" rollout to finish: '
                                    f"{available} of {desired} updated pods are available...")
    return Health.HEALTHY, ""


def _pvc(obj: dict[str, Any]) -> tuple[Health, str]:
    """gitops-engine's getCorev1PVCHealth: by phase only."""
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Bound":
        return Health.HEALTHY, ""
    if phase == "Lost":
        return Health.DEGRADED, ""
    if phase == "Pending":
        return Health.PROGRESSING, ""
    return Health.UNKNOWN, ""


def _job(obj: dict[str, Any]) -> tuple[Health, str]:
    """gitops-engine's getBatchv1JobHealth: Failed is Degraded, Complete Healthy."""
    failed, complete, message, fail_message = False, False, "", ""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Failed":
            failed = complete = True
            fail_message = str(cond.get("message", ""))
        elif cond.get("type") == "Complete":
            complete = True
            message = str(cond.get("message", ""))
    if not complete:
        return Health.PROGRESSING, message
    if failed:
        return Health.DEGRADED, fail_message
    return Health.HEALTHY, message


def _cronjob(obj: dict[str, Any]) -> tuple[Health, str]:
    """Argo CD's batch/CronJob health.lua."""
    if (obj.get("spec") or {}).get("suspend") is True:
        return Health.SUSPENDED, "CronJob is Suspended"
    status = obj.get("status")
    if status is None:
        return Health.PROGRESSING, "Waiting for CronJob"
    last = status.get("lastScheduleTime")
    if last is None:
        return Health.HEALTHY, "CronJob has not been scheduled yet"
    success = status.get("lastSuccessfulTime")
    if success is None:
        return Health.HEALTHY, "The Cronjob never completed succesfully. It may not be healthy"
    if status.get("active"):
        return Health.HEALTHY, ("The job is running. Its last execution may not have been "
                                "successful")
    if str(success) < str(last):
        return Health.DEGRADED, "CronJob has not completed its last execution successfully"
    return Health.HEALTHY, "CronJob has completed its last execution successfully"


_HPA_DEGRADED = {("AbleToScale", "FailedGetScale"), ("AbleToScale", "FailedUpdateScale"),
                 ("ScalingActive", "FailedGetResourceMetric"),
                 ("ScalingActive", "InvalidSelector")}
_HPA_HEALTHY = {("AbleToScale", "SucceededRescale"), ("ScalingLimited", "DesiredWithinRange"),
                ("ScalingLimited", "TooFewReplicas"), ("ScalingLimited", "TooManyReplicas")}


def _hpa(obj: dict[str, Any]) -> tuple[Health, str]:
    """gitops-engine's HPA health: the first condition that says Degraded or Healthy."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        key = (cond.get("type"), cond.get("reason"))
        if key in _HPA_DEGRADED:
            return Health.DEGRADED, str(cond.get("message", ""))
        if key in _HPA_HEALTHY:
            return Health.HEALTHY, str(cond.get("message", ""))
    return Health.PROGRESSING, "Waiting to Autoscale"


# Custom resources. The simulated cluster runs no controller for them, so they carry no
# status unless a test scenario writes one: without status, Argo CD reports an unknown
# kind as Healthy and kstatus calls a Flux object Current, and so do these.
FLUX_GROUP = ".toolkit.fluxcd.io"


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    items = (obj.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in items if isinstance(c, dict)}


def _behind(obj: dict[str, Any]) -> str | None:
    """kstatus' words when the controller has not yet seen the latest spec."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    generation = (obj.get("metadata") or {}).get("generation")
    if isinstance(observed, int) and isinstance(generation, int) and observed < generation:
        return (f"{obj.get('kind')} generation is {generation}, but latest observed "
                f"generation is {observed}")
    return None


def _generic(obj: dict[str, Any]) -> tuple[Health, str]:
    """Any other kind, after Argo CD's generic reading: Ready/Available conditions and
    observedGeneration; no status at all is Healthy."""
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health.PROGRESSING, "Pending deletion"
    behind = _behind(obj)
    if behind:
        return Health.PROGRESSING, behind
    found = [c for t, c in _conditions(obj).items() if t in ("Ready", "Available")]
    for status, health in (("False", Health.DEGRADED), ("Unknown", Health.PROGRESSING)):
        for cond in found:
            if cond.get("status") == status:
                return health, str(cond.get("message") or cond.get("reason") or "")
    return Health.HEALTHY, str(found[0].get("message") or "") if found else ""


def _flux(obj: dict[str, Any]) -> tuple[Health, str]:
    """Flux's own kinds (Kustomization, HelmRelease, GitRepository...) as Flux means them:
    kstatus' Stalled and Reconciling, then the Ready condition."""
    kind = str(obj.get("kind", ""))
    if (obj.get("spec") or {}).get("suspend") is True:
        return Health.SUSPENDED, f"{kind} is suspended"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health.PROGRESSING, "Pending deletion"
    behind = _behind(obj)
    if behind:
        return Health.PROGRESSING, behind
    conditions = _conditions(obj)
    stalled, reconciling = conditions.get("Stalled"), conditions.get("Reconciling")
    if stalled and stalled.get("status") == "True":
        return Health.DEGRADED, str(stalled.get("message") or stalled.get("reason") or "")
    if reconciling and reconciling.get("status") == "True":
        return Health.PROGRESSING, str(reconciling.get("message") or "")
    ready = conditions.get("Ready")
    if ready is None:
        return Health.HEALTHY, ""
    message = str(ready.get("message") or ready.get("reason") or "")
    if ready.get("status") == "True":
        return Health.HEALTHY, message
    return (Health.DEGRADED if ready.get("status") == "False" else Health.PROGRESSING), message


_CHECKS: dict[str, Callable[[dict[str, Any]], tuple[Health, str]]] = {
    "Deployment": _deployment, "ReplicaSet": _replicaset, "Pod": _pod, "Service": _service,
    "StatefulSet": _statefulset, "DaemonSet": _daemonset, "PersistentVolumeClaim": _pvc,
    "Ingress": _ingress,
    "Job": _job, "CronJob": _cronjob, "HorizontalPodAutoscaler": _hpa,
}


def worst(healths: list[Health]) -> Health:
    return min(healths, key=SEVERITY.index) if healths else Health.HEALTHY
