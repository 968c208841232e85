"""DaemonSets (a pod per node, rolling node by node) and the HorizontalPodAutoscaler
(replicas from simulated CPU, with tolerance and the scale-down window)."""

from __future__ import annotations

from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.monitor import Health, health_of
from sandbox.registry import PROFILES, ImageProfile

IMAGES = {"agent:1": PROFILES["default"], "agent:2": PROFILES["default"],
          "web:busy": ImageProfile("busy", cpu_millicores=150.0),
          "web:idle": ImageProfile("idle", cpu_millicores=10.0)}
DS = ObjRef("DaemonSet", "agent", "kube-system")
HPA = ObjRef("HorizontalPodAutoscaler", "web", "default")
WEB = ObjRef("Deployment", "web", "default")


def make(**kwargs: Any) -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, IMAGES.get, seed=8, **kwargs)


def run(clock: VirtualClock, cluster: SimCluster, seconds: float, tick: float = 0.5) -> None:
    for _ in range(int(seconds / tick)):
        clock.advance(tick)
        cluster.step()


def daemonset(image: str = "agent:1", **strategy: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "agent"}},
                            "template": {"metadata": {"labels": {"app": "agent"}},
                                         "spec": {"containers": [{"name": "a", "image": image}]}}}
    if strategy:
        spec["updateStrategy"] = strategy
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "kube-system"}, "spec": spec}


def agent_pods(cluster: SimCluster) -> list[dict[str, Any]]:
    return [p for p in cluster.list("Pod", "kube-system")
            if not p["metadata"].get("deletionTimestamp")]


def test_one_pod_per_node_and_status_counts() -> None:
    clock, cluster = make(nodes=4)
    cluster.apply([daemonset()])
    run(clock, cluster, 10)
    pods = agent_pods(cluster)
    assert sorted(p["spec"]["nodeName"] for p in pods) == [
        "sim-node-1", "sim-node-2", "sim-node-3", "sim-node-4"]
    status = cluster.get(DS)["status"]  # type: ignore[index]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"],
            status["numberReady"], status["updatedNumberScheduled"]) == (4, 4, 4, 4)
    assert health_of(cluster.get(DS))[0] is Health.HEALTHY


def test_rolling_update_keeps_max_unavailable() -> None:
    clock, cluster = make()
    cluster.apply([daemonset()])
    run(clock, cluster, 10)
    cluster.apply([daemonset("agent:2")])
    most_down = 0
    for _ in range(60):
        clock.advance(0.5)
        cluster.step()
        status = cluster.get(DS)["status"]  # type: ignore[index]
        most_down = max(most_down, status["desiredNumberScheduled"] - status["numberAvailable"])
    assert most_down == 1
    assert {p["spec"]["containers"][0]["image"] for p in agent_pods(cluster)} == {"agent:2"}
    assert health_of(cluster.get(DS))[0] is Health.HEALTHY


def test_on_delete_waits_for_the_user() -> None:
    clock, cluster = make()
    cluster.apply([daemonset(type="OnDelete")])
    run(clock, cluster, 10)
    cluster.apply([daemonset("agent:2", type="OnDelete")])
    run(clock, cluster, 20)
    assert {p["spec"]["containers"][0]["image"] for p in agent_pods(cluster)} == {"agent:1"}
    assert health_of(cluster.get(DS)) == (
        Health.HEALTHY, "daemon set 0 out of 3 new pods have been updated")


def web(image: str, replicas: int | None = 1, cpu: str | None = "100m") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "web", "image": image}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [container]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec}


def hpa(low: int = 2, high: int = 6, target: int = 50, **behavior: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": low, "maxReplicas": high,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": target}}}]}
    if behavior:
        spec["behavior"] = behavior
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec}


def replicas(cluster: SimCluster) -> int:
    return int(cluster.get(WEB)["spec"]["replicas"])  # type: ignore[index]


def test_hpa_raises_to_min_then_scales_on_cpu_up_to_max() -> None:
    clock, cluster = make()
    cluster.apply([web("web:busy"), hpa()])
    run(clock, cluster, 1)
    assert replicas(cluster) == 2  # below minReplicas: raised at once
    run(clock, cluster, 120)
    # 150m used of 100m requested is 150 % against 50 %: up, capped at 6.
    assert replicas(cluster) == 6
    status = cluster.get(HPA)["status"]  # type: ignore[index]
    assert status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 150
    assert health_of(cluster.get(HPA))[0] is Health.HEALTHY
    limited = [c for c in status["conditions"] if c["type"] == "ScalingLimited"][0]
    assert limited["reason"] == "TooManyReplicas"
    rescales = [e.message for e in cluster.events(HPA) if e.reason == "SuccessfulRescale"]
    assert rescales[1] == ("New size: 6; reason: cpu resource utilization (percentage of "
                           "request) above target")


def test_hpa_waits_out_the_scale_down_window_and_flux_does_not_fight_it() -> None:
    clock, cluster = make()
    cluster.apply([web("web:busy", replicas=None), hpa()])
    run(clock, cluster, 60)
    assert replicas(cluster) == 6
    # A new image that uses little CPU: the HPA wants 2, but holds 6 for 300 s.
    cluster.apply([web("web:idle", replicas=None), hpa()])
    assert replicas(cluster) == 6  # the apply leaves the HPA's replicas alone
    run(clock, cluster, 200)
    assert replicas(cluster) == 6
    run(clock, cluster, 150)
    assert replicas(cluster) == 2
    assert cluster.apply([web("web:idle", replicas=None), hpa()],
                         dry_run=True)[0].action == "unchanged"  # no drift to correct


def test_hpa_tolerance_keeps_replicas_near_the_target() -> None:
    clock, cluster = make()
    # 150m of 300m is 50 % against 47 %: 6 % over, within the 10 % tolerance (without
    # it, ceil(3 * 50 / 47) would be 4).
    cluster.apply([web("web:busy", cpu="300m"), hpa(low=3, target=47)])
    run(clock, cluster, 120)
    assert replicas(cluster) == 3


def test_hpa_without_cpu_requests_is_degraded_with_the_controller_text() -> None:
    clock, cluster = make()
    cluster.apply([web("web:busy", replicas=2, cpu=None), hpa()])
    run(clock, cluster, 40)
    health, message = health_of(cluster.get(HPA))
    assert health is Health.DEGRADED
    assert message.startswith("failed to get cpu utilization: missing request for cpu in "
                              "container web of Pod web-")


def test_hpa_for_a_missing_target() -> None:
    clock, cluster = make()
    cluster.apply([hpa()])
    run(clock, cluster, 20)
    assert health_of(cluster.get(HPA)) == (
        Health.DEGRADED, "the HPA controller was unable to get the target's current scale: "
        'deployments.apps "web" not found')
