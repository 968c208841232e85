"""Health in Argo CD's words, and the monitor's events: only on change."""

from __future__ import annotations

from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.monitor import Health, Monitor, health_of, worst
from sandbox.registry import PROFILES

WEB = ObjRef("Deployment", "web", "default")
SVC = ObjRef("Service", "web", "default")
CM = ObjRef("ConfigMap", "web", "default")


def deployment(image: str, replicas: int = 2, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": image}]}},
                 **spec},
    }


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


def dep_obj(generation: int = 1, observed: int = 1, replicas: int = 3, updated: int = 3,
            total: int = 3, available: int = 3, **extra: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": replicas, **extra.pop("spec", {})},
            "status": {"observedGeneration": observed, "replicas": total,
                       "updatedReplicas": updated, "availableReplicas": available, **extra}}


def test_health_words_for_deployments() -> None:
    assert health_of(None) == (Health.MISSING, "not found in the cluster")
    assert health_of(dep_obj()) == (Health.HEALTHY, "")
    assert health_of(dep_obj(generation=2))[0] is Health.PROGRESSING
    assert health_of(dep_obj(updated=1))[1] == (
        "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...")
    assert "old replicas are pending termination" in health_of(dep_obj(total=4))[1]
    assert "2 of 3 updated replicas are available" in health_of(dep_obj(available=2))[1]
    assert health_of(dep_obj(spec={"paused": True}))[0] is Health.SUSPENDED
    stuck = dep_obj(updated=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])
    assert health_of(stuck)[0] is Health.DEGRADED
    assert Health.DEGRADED == "Degraded" and str(Health.HEALTHY) == "Healthy"


def test_health_words_for_pods_and_simple_kinds() -> None:
    def pod(phase: str, waiting: str | None = None, ready: bool = False) -> dict[str, Any]:
        state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
        return {"kind": "Pod", "metadata": {"name": "p"}, "status": {
            "phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}],
            "containerStatuses": [{"name": "c", "state": state}]}}
    assert health_of(pod("Running", "CrashLoopBackOff"))[0] is Health.DEGRADED
    assert health_of(pod("Pending", "ImagePullBackOff"))[0] is Health.DEGRADED
    assert health_of(pod("Pending", "ContainerCreating"))[0] is Health.PROGRESSING
    assert health_of(pod("Running", ready=True))[0] is Health.HEALTHY
    assert health_of(pod("Running"))[0] is Health.PROGRESSING
    assert health_of(pod("Failed"))[0] is Health.DEGRADED
    for kind in ("Service", "ConfigMap", "Secret", "Namespace", "ServiceAccount"):
        assert health_of({"kind": kind, "metadata": {"name": "x"}})[0] is Health.HEALTHY
    lb = {"kind": "Service", "metadata": {"name": "x"}, "spec": {"type": "LoadBalancer"}}
    assert health_of(lb)[0] is Health.PROGRESSING


def test_worst_wins() -> None:
    assert worst([Health.HEALTHY, Health.PROGRESSING, Health.MISSING]) is Health.MISSING
    assert worst([Health.SUSPENDED, Health.UNKNOWN, Health.HEALTHY]) is Health.SUSPENDED
    assert worst([Health.MISSING, Health.DEGRADED]) is Health.DEGRADED
    assert worst([]) is Health.HEALTHY


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, dict[str, Any]]] = []

    def __call__(self, kind: str, stage: str, message: str, data: dict[str, Any]) -> None:
        self.events.append((kind, stage, message, data))

    def take(self, kind: str | None = None) -> list[tuple[str, str, str, dict[str, Any]]]:
        out = [e for e in self.events if kind is None or e[0] == kind]
        self.events = [e for e in self.events if e not in out]
        return out


def setup() -> tuple[VirtualClock, SimCluster, Monitor, Recorder]:
    clock = VirtualClock()
    images = {"web:v1": PROFILES["default"], "web:errors": PROFILES["errors"],
              "web:crash": PROFILES["crash"]}
    cluster = SimCluster(clock, images.get, seed=11)
    rec = Recorder()
    return clock, cluster, Monitor(cluster, rec), rec


def test_monitor_publishes_health_changes_only_on_change() -> None:
    clock, cluster, monitor, rec = setup()
    expected = [WEB, SVC, CM]
    results = monitor.evaluate(expected)
    assert {r: h for r, (h, _) in results.items()} == {
        WEB: Health.MISSING, SVC: Health.MISSING, CM: Health.MISSING}
    assert len(rec.take("health.changed")) == 3
    assert monitor.evaluate(expected) and rec.take("health.changed") == []
    assert monitor.overall()[0] is Health.MISSING
    cluster.apply([deployment("web:v1"), SERVICE,
                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"}}])
    monitor.evaluate(expected)
    changed = {e[3]["ref"]: e[3]["health"] for e in rec.take("health.changed")}
    assert changed == {str(WEB): "Progressing", str(SVC): "Healthy", str(CM): "Healthy"}
    assert monitor.overall() == (
        Health.PROGRESSING, "Deployment/web: Waiting for rollout to finish: "
        "0 of 2 updated replicas are available...")
    for _ in range(20):
        clock.advance(0.5)
        cluster.step()
        monitor.evaluate(expected)
    changed_events = rec.take("health.changed")
    assert [(e[3]["ref"], e[3]["previous"], e[3]["health"]) for e in changed_events] == [
        (str(WEB), "Progressing", "Healthy")]
    assert changed_events[0][1] == "monitor"
    progress = [e[2] for e in rec.take("rollout.progress")]
    assert progress[-1] == "Deployment/web 2/2 updated, 2 ready"
    assert len(progress) == len(set(progress))  # one event per change of counts
    assert monitor.overall() == (Health.HEALTHY, "3 objects healthy")


def test_monitor_alerts_on_error_rate_once_per_episode() -> None:
    clock, cluster, monitor, rec = setup()
    cluster.apply([deployment("web:errors"), SERVICE])
    for _ in range(30):
        clock.advance(1)
        cluster.step()
        monitor.evaluate([WEB, SVC])
    alerts = rec.take("alert.fired")
    assert len(alerts) == 1
    kind, stage, message, data = alerts[0]
    assert stage == "monitor" and data["alert"] == "error_rate"
    assert "error rate" in message and data["error_rate"] > 0.05
    # The revert heals it; once the bad requests leave the window the alert re-arms.
    cluster.apply([deployment("web:v1")])
    for _ in range(120):
        clock.advance(1)
        cluster.step()
        monitor.evaluate([WEB, SVC])
    assert rec.take("alert.fired") == []
    assert cluster.metrics()["default/web"]["error_rate"] < 0.05


def test_monitor_alerts_when_a_deployment_turns_degraded() -> None:
    clock, cluster, monitor, rec = setup()
    cluster.apply([deployment("web:v1", progressDeadlineSeconds=20)])
    for _ in range(10):
        clock.advance(1)
        cluster.step()
        monitor.evaluate([WEB])
    cluster.apply([deployment("web:crash", progressDeadlineSeconds=20)])
    for _ in range(40):
        clock.advance(1)
        cluster.step()
        monitor.evaluate([WEB])
    health = monitor.evaluate([WEB])[WEB]
    assert health[0] is Health.DEGRADED
    alerts = rec.take("alert.fired")
    assert [a[3]["alert"] for a in alerts] == ["degraded"]
    assert "progress deadline" in alerts[0][2]
    words = [e[3]["health"] for e in rec.take("health.changed")]
    assert words == ["Progressing", "Healthy", "Progressing", "Degraded"]
