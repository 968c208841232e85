"""Deployments in the simulated cluster: rollouts, rolling-update bounds, revisions,
progress deadline and the Recreate strategy. Time is virtual throughout."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.monitor import Health, health_of
from sandbox.registry import PROFILES, ImageProfile

WEB = ObjRef("Deployment", "web", "default")
IMAGES: dict[str, ImageProfile] = {
    "web:v1": PROFILES["default"],
    "web:v2": PROFILES["default"],
    "web:v3": PROFILES["default"],
    "web:slow": ImageProfile("slow5", startup_seconds=5.0),
    "web:crash": PROFILES["crash"],
    "web:unready": PROFILES["unready"],
}


def deployment(image: str = "web:v1", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": image}]}},
                 **spec},
    }


def make() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, IMAGES.get, seed=7)


def run(clock: VirtualClock, cluster: SimCluster, seconds: float, tick: float = 0.25) -> None:
    for _ in range(int(seconds / tick)):
        clock.advance(tick)
        cluster.step()


def status(cluster: SimCluster) -> dict[str, Any]:
    dep = cluster.get(WEB)
    assert dep is not None
    return dep["status"]


def active_pods(cluster: SimCluster) -> list[dict[str, Any]]:
    return [p for p in cluster.list("Pod", "default")
            if not p["metadata"].get("deletionTimestamp")]


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions") or [])


def image_of(obj: dict[str, Any]) -> str:
    spec = obj["spec"]
    spec = spec["template"]["spec"] if "template" in spec else spec
    return str(spec["containers"][0]["image"])


def test_rollout_becomes_ready_after_startup_time() -> None:
    clock, cluster = make()
    cluster.apply([deployment("web:slow")])
    run(clock, cluster, 4.0)
    assert status(cluster)["readyReplicas"] == 0
    pods = active_pods(cluster)
    assert len(pods) == 3 and all(p["status"]["phase"] == "Running" for p in pods)
    run(clock, cluster, 4.0)
    st = status(cluster)
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"],
            st["availableReplicas"]) == (3, 3, 3, 3)
    assert health_of(cluster.get(WEB))[0] is Health.HEALTHY
    reasons = {e.reason for e in cluster.events()}
    assert {"ScalingReplicaSet", "Scheduled", "Pulling", "Pulled", "Created",
            "Started"} <= reasons


@pytest.mark.parametrize("replicas,surge,unavailable,max_total,min_ready", [
    (4, 1, 1, 5, 3),
    (10, "30%", "20%", 13, 8),  # surge rounds up, unavailable rounds down
    (3, None, None, 4, 3),  # defaults 25%/25%: surge 1, unavailable 0
    (2, 0, 1, 2, 1),
])
def test_rolling_update_respects_surge_and_unavailable(
        replicas: int, surge: Any, unavailable: Any, max_total: int, min_ready: int) -> None:
    clock, cluster = make()
    ru = {k: v for k, v in (("maxSurge", surge), ("maxUnavailable", unavailable)) if v is not None}
    strategy = {"strategy": {"type": "RollingUpdate", "rollingUpdate": ru}} if ru else {}
    cluster.apply([deployment("web:v1", replicas, **strategy)])
    run(clock, cluster, 10)
    assert status(cluster)["readyReplicas"] == replicas
    cluster.apply([deployment("web:slow", replicas, **strategy)])
    seen_new = 0
    for _ in range(600):
        clock.advance(0.25)
        cluster.step()
        pods = active_pods(cluster)
        ready = [p for p in pods if is_ready(p)]
        assert len(pods) <= max_total, f"{len(pods)} pods at t={clock.now()}"
        assert len(ready) >= min_ready, f"{len(ready)} ready at t={clock.now()}"
        seen_new = max(seen_new, sum(1 for p in pods if image_of(p) == "web:slow"))
        if status(cluster).get("updatedReplicas") == replicas and len(ready) == replicas \
                and len(pods) == replicas:
            break
    assert seen_new == replicas
    assert all(image_of(p) == "web:slow" for p in active_pods(cluster))
    assert health_of(cluster.get(WEB))[0] is Health.HEALTHY


def test_revision_history_and_rollback() -> None:
    clock, cluster = make()
    for image in ("web:v1", "web:v2", "web:v3"):
        cluster.apply([deployment(image, revisionHistoryLimit=5)])
        run(clock, cluster, 20, tick=1.0)
    revisions = {image_of(rs): rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                 for rs in cluster.list("ReplicaSet")}
    assert revisions == {"web:v1": "1", "web:v2": "2", "web:v3": "3"}
    v1 = next(rs for rs in cluster.list("ReplicaSet") if image_of(rs) == "web:v1")
    assert v1["metadata"]["name"].startswith("web-")
    assert v1["metadata"]["ownerReferences"][0]["name"] == "web"
    # Going back to v1's template reuses its ReplicaSet as the newest revision.
    cluster.apply([deployment("web:v1", revisionHistoryLimit=1)])
    run(clock, cluster, 20, tick=1.0)
    rss = {rs["metadata"]["name"]: rs for rs in cluster.list("ReplicaSet")}
    assert v1["metadata"]["name"] in rss
    assert rss[v1["metadata"]["name"]]["metadata"]["annotations"][
        "deployment.kubernetes.io/revision"] == "4"
    assert rss[v1["metadata"]["name"]]["spec"]["replicas"] == 3
    assert len(rss) == 2  # the new one plus revisionHistoryLimit=1 old
    dep = cluster.get(WEB)
    assert dep is not None
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"


def test_progress_deadline_turns_degraded() -> None:
    clock, cluster = make()
    cluster.apply([deployment("web:v1", progressDeadlineSeconds=30)])
    run(clock, cluster, 10)
    cluster.apply([deployment("web:crash", progressDeadlineSeconds=30)])
    run(clock, cluster, 10)
    assert health_of(cluster.get(WEB))[0] is Health.PROGRESSING
    run(clock, cluster, 30, tick=1.0)
    conds = {c["type"]: c for c in status(cluster)["conditions"]}
    assert conds["Progressing"]["status"] == "False"
    assert conds["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    assert conds["Available"]["status"] == "True"  # old pods still serve
    assert health_of(cluster.get(WEB)) == (
        Health.DEGRADED, 'Deployment "web" exceeded its progress deadline')
    assert any(e.reason == "ProgressDeadlineExceeded" for e in cluster.events(WEB))
    # A revert is a new rollout: it progresses and completes.
    cluster.apply([deployment("web:v1", progressDeadlineSeconds=30)])
    run(clock, cluster, 10)
    assert health_of(cluster.get(WEB))[0] is Health.HEALTHY


def test_finished_rollout_does_not_time_out_later() -> None:
    clock, cluster = make()
    cluster.apply([deployment("web:v1", progressDeadlineSeconds=5)])
    run(clock, cluster, 60, tick=1.0)
    conds = {c["type"]: c for c in status(cluster)["conditions"]}
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"


def test_recreate_stops_old_pods_before_starting_new() -> None:
    clock, cluster = make()
    recreate = {"strategy": {"type": "Recreate"}}
    cluster.apply([deployment("web:v1", **recreate)])
    run(clock, cluster, 10)
    cluster.apply([deployment("web:v2", **recreate)])
    for _ in range(80):
        clock.advance(0.25)
        cluster.step()
        images = {image_of(p) for p in cluster.list("Pod")}
        assert len(images) <= 1, images
    assert {image_of(p) for p in cluster.list("Pod")} == {"web:v2"}
    assert status(cluster)["readyReplicas"] == 3


def test_scale_up_and_down_is_not_a_new_revision() -> None:
    clock, cluster = make()
    cluster.apply([deployment("web:v1", 2)])
    run(clock, cluster, 10)
    cluster.apply([deployment("web:v1", 5)])
    run(clock, cluster, 10)
    assert status(cluster)["readyReplicas"] == 5
    cluster.apply([deployment("web:v1", 1)])
    run(clock, cluster, 5)
    assert len(cluster.list("Pod")) == 1
    assert len(cluster.list("ReplicaSet")) == 1
