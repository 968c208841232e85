"""The monitor: health in Argo CD's words, rollout progress and alerts.

It reads the cluster through the backend protocol only, so it judges the simulated
cluster and a kind cluster alike, and it publishes to the event bus only when
something changed, so subscribers see transitions, not a heartbeat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from sandbox.cluster.base import ClusterBackend, ObjRef

Publish = Callable[[str, str, str, dict[str, Any]], None]


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


class Monitor:
    """Evaluates the health of what the reconciler applied and tells the bus what changed:
    "health.changed", "rollout.progress" and "alert.fired" (all with stage "monitor").

    With a backend that can watch (the simulated cluster), it re-evaluates only the
    objects the cluster changed since the last look, as an informer-driven controller
    would; `evaluations` counts the objects judged, so tests can see an idle tick do
    nothing. A backend that cannot watch is judged in full every time."""

    def __init__(self, cluster: ClusterBackend, publish: Publish,
                 error_threshold: float = 0.05, min_requests: int = 20) -> None:
        self.cluster = cluster
        self.publish = publish
        self.error_threshold = error_threshold
        self.min_requests = min_requests  # too few requests make an error rate noise
        self._lock = threading.Lock()
        self._health: dict[ObjRef, tuple[Health, str]] = {}
        self._rollout: dict[ObjRef, tuple[int, int, int, int]] = {}
        self._alerting: set[tuple[ObjRef, str]] = set()
        watch = getattr(cluster, "watch", None)
        self._watch = watch() if callable(watch) else None
        self._results: dict[ObjRef, tuple[Health, str]] = {}
        self._expected: list[ObjRef] = []
        self._expected_src: list[ObjRef] | None = None  # the caller's list, by identity
        self._deployments: dict[str, ObjRef] = {}  # "namespace/name" of those expected
        self._wanted: set[ObjRef] = set()
        self._unjudged: set[ObjRef] = set()
        self.evaluations = 0  # objects judged since the start
        self.version = 0  # moves whenever a verdict or its message changed

    def resync(self) -> None:
        """Judge everything again at the next evaluation (the periodic safety net)."""
        if self._watch is not None:
            self._watch.relist()

    def evaluate(self, expected: list[ObjRef]) -> dict[ObjRef, tuple[Health, str]]:
        with self._lock:
            changed = self._watch.take() if self._watch is not None else None
            # The engine hands the same list while the inventory stands: an idle tick
            # must not even compare thousands of refs.
            if expected is not self._expected_src and expected != self._expected:
                wanted = set(expected)
                # Forget what the reconciler no longer expects, so a comeback is news.
                for ref in [r for r in self._results if r not in wanted]:
                    self._results.pop(ref, None)
                    self._health.pop(ref, None)
                    self._rollout.pop(ref, None)
                self._alerting = {a for a in self._alerting if a[0] in wanted}
                self._expected = list(expected)
                self._results = {ref: self._results[ref] for ref in expected
                                 if ref in self._results}
                self._deployments = {f"{r.namespace}/{r.name}": r for r in expected
                                     if r.kind == "Deployment"}
                self._wanted = wanted
                self._unjudged = {r for r in expected if r not in self._results}
                self.version += 1
            self._expected_src = expected
            if changed is None:
                todo = list(expected)
            else:
                # What changed, and what was never judged (new in the inventory).
                todo = sorted({r for r in changed if r in self._wanted}
                              | self._unjudged)
            self._unjudged = set()
            for ref in todo:
                obj = self.cluster.get(ref)
                health = health_of(obj)
                self.evaluations += 1
                if self._results.get(ref) != health:
                    self.version += 1
                self._results[ref] = health
                self._health_changed(ref, health)
                if ref.kind == "Deployment" and obj is not None:
                    self._progress(ref, obj)
            self._error_rates(expected)
            return self._results

    def _error_rates(self, expected: list[ObjRef]) -> None:
        metrics_of = getattr(self.cluster, "metrics", None)
        if not callable(metrics_of):
            return
        candidates = getattr(self.cluster, "error_candidates", None)
        if callable(candidates):
            # Only Deployments with pods that fail more than a fifth of the threshold
            # (the background noise of a healthy image is far below), and those
            # alerting, to clear them: the others cannot realistically cross it.
            names = (candidates(self.error_threshold / 5)
                     | {f"{r.namespace}/{r.name}" for r, _ in self._alerting})
            deployments = [self._deployments[n] for n in sorted(names)
                           if n in self._deployments]
            if not deployments:
                return
            metrics = metrics_of([f"{r.namespace}/{r.name}" for r in deployments])
        else:
            deployments = list(self._deployments.values())
            metrics = metrics_of()
        for ref in deployments:
            if ref in self._results and self._results[ref][0] is not Health.MISSING:
                self._error_rate(ref, metrics.get(f"{ref.namespace}/{ref.name}"))

    def seed(self, known: dict[ObjRef, tuple[str, str]]) -> None:
        """Take health (as last published: name, message) as already announced, and the
        rollout counts as they are now, so a restarted engine reports only changes."""
        with self._lock:
            for ref, (health, message) in known.items():
                try:
                    self._health[ref] = (Health(health), message)
                except ValueError:
                    continue
                obj = self.cluster.get(ref) if ref.kind == "Deployment" else None
                if obj is not None:
                    self._rollout[ref] = _counts(obj)
            self.version += 1

    def overall(self, results: dict[ObjRef, tuple[Health, str]] | None = None
                ) -> tuple[Health, str]:
        """The aggregate health (worst wins) and the message of the object that set it."""
        with self._lock:
            results = dict(self._health) if results is None else results
        if not results:
            return Health.HEALTHY, "nothing to watch"
        rank = {h: i for i, h in enumerate(SEVERITY)}
        ref, (health, message) = min(results.items(),
                                     key=lambda kv: (rank[kv[1][0]], kv[0]))
        if health is Health.HEALTHY:
            return health, f"{len(results)} objects healthy"
        return health, f"{ref.short}: {message}" if message else f"{ref.short} is {health}"

    def _health_changed(self, ref: ObjRef, health: tuple[Health, str]) -> None:
        prev = self._health.get(ref)
        self._health[ref] = health
        if prev is not None and prev[0] == health[0]:
            return
        text = f"{ref.short} is {health[0]}" + (f": {health[1]}" if health[1] else "")
        self.publish("health.changed", "monitor", text, {
            **_ref_data(ref), "health": health[0].value, "message": health[1],
            "previous": prev[0].value if prev else None})
        if health[0] is Health.DEGRADED:
            self._fire(ref, "degraded", f"{ref.short} is Degraded: {health[1]}",
                       {"health": health[0].value, "message": health[1]})
        else:
            self._alerting.discard((ref, "degraded"))

    def _progress(self, ref: ObjRef, obj: dict[str, Any]) -> None:
        counts = _counts(obj)
        desired = counts[0]
        if self._rollout.get(ref) == counts:
            return
        self._rollout[ref] = counts
        self.publish("rollout.progress", "monitor",
                     f"{ref.short} {counts[1]}/{desired} updated, {counts[2]} ready", {
                         **_ref_data(ref), "desired": desired, "updated": counts[1],
                         "ready": counts[2], "available": counts[3],
                         "revision": ((obj.get("metadata") or {}).get("annotations") or {})
                         .get("deployment.kubernetes.io/revision")})

    def _error_rate(self, ref: ObjRef, m: dict[str, Any] | None) -> None:
        if not m:
            return
        rate, requests = float(m.get("error_rate", 0.0)), int(m.get("requests", 0))
        if requests >= self.min_requests and rate > self.error_threshold:
            self._fire(ref, "error_rate",
                       f"{ref.short} error rate {rate:.1%} is above {self.error_threshold:.0%}",
                       {"error_rate": rate, "threshold": self.error_threshold,
                        "requests": requests, "versions": {
                            v: d.get("error_rate") for v, d in (m.get("versions") or {}).items()}})
        elif rate <= self.error_threshold:
            self._alerting.discard((ref, "error_rate"))

    def _fire(self, ref: ObjRef, alert: str, message: str, data: dict[str, Any]) -> None:
        # One alert per episode: it fires again only after the condition cleared.
        if (ref, alert) in self._alerting:
            return
        self._alerting.add((ref, alert))
        self.publish("alert.fired", "monitor", message,
                     {**_ref_data(ref), "alert": alert, **data})


def _counts(obj: dict[str, Any]) -> tuple[int, int, int, int]:
    """(desired, updated, ready, available) replicas of a Deployment."""
    status = obj.get("status") or {}
    return (int((obj.get("spec") or {}).get("replicas", 1)),
            int(status.get("updatedReplicas", 0)), int(status.get("readyReplicas", 0)),
            int(status.get("availableReplicas", 0)))


def _ref_data(ref: ObjRef) -> dict[str, Any]:
    return {"ref": str(ref), "kind": ref.kind, "name": ref.name, "namespace": ref.namespace}
