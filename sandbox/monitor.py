"""The monitor: health in Argo CD's words, rollout progress and alerts.

It reads the cluster through the backend protocol only, so it judges the simulated
cluster and a kind cluster alike, and it publishes to the event bus only when
something changed, so subscribers see transitions, not a heartbeat. The per-kind rules
live in health.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sandbox.cluster.base import ClusterBackend, ObjRef
from sandbox.health import SEVERITY, Health, health_of, worst

__all__ = ["SEVERITY", "Health", "Monitor", "Publish", "health_of", "worst"]

Publish = Callable[[str, str, str, dict[str, Any]], None]


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
