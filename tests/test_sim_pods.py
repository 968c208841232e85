"""Pods in the simulated cluster: image pull failures, crash loops with back-off,
readiness, deletion and recreation, Services' endpoints, ConfigMap changes."""

from __future__ import annotations

from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.monitor import Health, health_of
from sandbox.registry import PROFILES, ImageProfile

WEB = ObjRef("Deployment", "web", "default")


def deployment(image: str, replicas: int = 2, name: str = "web",
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": name, "image": image}]}}},
    }


def service(name: str = "web", selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": selector or {"app": name},
                     "ports": [{"port": 80, "targetPort": 8080}]}}


def make(images: dict[str, ImageProfile]) -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, images.get, seed=3)


def run(clock: VirtualClock, cluster: SimCluster, seconds: float, tick: float = 0.5) -> None:
    for _ in range(int(seconds / tick)):
        clock.advance(tick)
        cluster.step()


def waiting_reason(pod: dict[str, Any]) -> str | None:
    state = pod["status"]["containerStatuses"][0]["state"]
    return state.get("waiting", {}).get("reason")


def test_unknown_tag_goes_to_image_pull_back_off_and_heals_after_push() -> None:
    images = {"web:v1": PROFILES["default"]}
    clock, cluster = make(images)
    cluster.apply([deployment("web:v9", replicas=1)])
    seen: list[str] = []
    for _ in range(10):
        clock.advance(0.5)
        cluster.step()
        reason = waiting_reason(cluster.list("Pod")[0])
        if reason and (not seen or seen[-1] != reason):
            seen.append(reason)
    assert seen == ["ContainerCreating", "ErrImagePull", "ImagePullBackOff"]
    pod = cluster.list("Pod")[0]
    assert health_of(pod)[0] is Health.DEGRADED
    assert pod["status"]["phase"] == "Pending"
    ref = ObjRef.of(pod)
    reasons = [e.reason for e in cluster.events(ref)]
    assert "Failed" in reasons and "BackOff" in reasons
    images["web:v9"] = PROFILES["fast"]  # the image gets pushed; the next retry pulls it
    run(clock, cluster, 30)
    pod = cluster.list("Pod")[0]
    assert pod["status"]["phase"] == "Running"
    assert health_of(pod)[0] is Health.HEALTHY


def test_crash_loop_back_off_grows_and_counts_restarts() -> None:
    clock, cluster = make({"web:crash": PROFILES["crash"]})
    cluster.apply([deployment("web:crash", replicas=1)])
    starts: list[float] = []
    restarts = 0
    for _ in range(int(200 / 0.5)):
        clock.advance(0.5)
        for e in cluster.step():
            if e.reason == "Started":
                starts.append(e.time)
        pod = cluster.list("Pod")[0]
        restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    assert restarts == len(starts) - 1 >= 4
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # Each run lives ~1.5-2.5 s, then waits 10, 20, 40, 80 s before the next start.
    for gap, backoff in zip(gaps, (10, 20, 40, 80), strict=False):
        assert backoff + 1.5 <= gap <= backoff + 2.5
    pod = cluster.list("Pod")[0]
    assert waiting_reason(pod) == "CrashLoopBackOff" or pod["status"]["containerStatuses"][0][
        "state"].get("running")
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "Error"
    assert any(e.reason == "BackOff" and e.type == "Warning" for e in cluster.events())
    dep = cluster.get(WEB)
    assert dep is not None and dep["status"]["readyReplicas"] == 0


def test_crash_back_off_is_capped_at_five_minutes() -> None:
    clock, cluster = make({"web:crash": PROFILES["crash"]})
    cluster.apply([deployment("web:crash", replicas=1)])
    clock.advance(3600)
    cluster.step()
    starts = [e.time for e in cluster.events() if e.reason == "Started"]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert max(gaps) <= 300 + 2.5
    assert gaps[-1] >= 300


def test_unready_image_runs_but_never_becomes_ready() -> None:
    clock, cluster = make({"web:unready": PROFILES["unready"]})
    cluster.apply([deployment("web:unready", replicas=1), service()])
    run(clock, cluster, 30)
    pod = cluster.list("Pod")[0]
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    assert health_of(pod)[0] is Health.PROGRESSING
    assert any(e.reason == "Unhealthy" for e in cluster.events(ObjRef.of(pod)))
    ep = cluster.get(ObjRef("Endpoints", "web", "default"))
    assert ep is not None
    assert "addresses" not in ep["subsets"][0]
    assert len(ep["subsets"][0]["notReadyAddresses"]) == 1


def test_service_endpoints_are_the_ready_pods() -> None:
    images = {"web:v1": ImageProfile("s4", startup_seconds=4.0), "db:v1": PROFILES["fast"]}
    clock, cluster = make(images)
    cluster.apply([deployment("web:v1", replicas=3), deployment("db:v1", 1, name="db"),
                   service()])
    svc = cluster.get(ObjRef("Service", "web", "default"))
    assert svc is not None and svc["spec"]["clusterIP"].startswith("10.96.")
    run(clock, cluster, 2.0)
    ep = cluster.get(ObjRef("Endpoints", "web", "default"))
    assert ep is not None and not any(s.get("addresses") for s in ep["subsets"])
    run(clock, cluster, 6.0)
    ep = cluster.get(ObjRef("Endpoints", "web", "default"))
    assert ep is not None
    names = sorted(a["targetRef"]["name"] for a in ep["subsets"][0]["addresses"])
    ready = sorted(p["metadata"]["name"] for p in cluster.list("Pod", labels={"app": "web"})
                   if p["status"]["containerStatuses"][0]["ready"])
    assert names == ready and len(names) == 3
    assert ep["subsets"][0]["ports"][0]["port"] == 8080
    # Deleting the Service takes its Endpoints with it.
    cluster.delete(ObjRef("Service", "web", "default"))
    assert cluster.get(ObjRef("Endpoints", "web", "default")) is None


def test_deleted_pod_is_recreated_by_its_replicaset() -> None:
    clock, cluster = make({"web:v1": PROFILES["default"]})
    cluster.apply([deployment("web:v1", replicas=2)])
    run(clock, cluster, 10)
    victim = cluster.list("Pod")[0]
    ref = ObjRef.of(victim)
    assert cluster.delete(ref) is True
    pods = cluster.list("Pod")
    assert len(pods) == 3
    gone = cluster.get(ref)
    assert gone is not None and gone["metadata"].get("deletionTimestamp")
    assert any(e.reason == "Killing" for e in cluster.events(ref))
    run(clock, cluster, 10)
    names = {p["metadata"]["name"] for p in cluster.list("Pod")}
    assert len(names) == 2 and ref.name not in names
    dep = cluster.get(WEB)
    assert dep is not None and dep["status"]["readyReplicas"] == 2
    assert cluster.delete(ref) is False


def test_configmap_change_does_not_restart_pods() -> None:
    clock, cluster = make({"web:v1": PROFILES["default"]})
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "web-config", "namespace": "default"},
          "data": {"GREETING": "hello"}}
    dep = deployment("web:v1")
    dep["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "web-config"}}]
    cluster.apply([cm, dep])
    run(clock, cluster, 10)
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in cluster.list("Pod")}
    cm2 = {**cm, "data": {"GREETING": "bonjour"}}
    results = cluster.apply([cm2, dep])
    assert [r.action for r in results] == ["configured", "unchanged"]
    run(clock, cluster, 30)
    after = {p["metadata"]["name"]: p["metadata"]["uid"] for p in cluster.list("Pod")}
    assert after == before
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0
               for p in cluster.list("Pod"))
    stored = cluster.get(ObjRef("ConfigMap", "web-config", "default"))
    assert stored is not None and stored["data"] == {"GREETING": "bonjour"}


def test_multi_container_pod_fails_on_its_bad_image() -> None:
    clock, cluster = make({"web:v1": PROFILES["default"]})
    dep = deployment("web:v1", replicas=1)
    dep["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "side:x"})
    cluster.apply([dep])
    run(clock, cluster, 5)
    pod = cluster.list("Pod")[0]
    reasons = {cs["name"]: cs["state"]["waiting"]["reason"]
               for cs in pod["status"]["containerStatuses"]}
    assert reasons == {"web": "ContainerCreating", "sidecar": "ImagePullBackOff"}


def test_a_named_target_port_is_the_pods_container_port_number() -> None:
    clock, cluster = make({"web:v1": PROFILES["fast"]})
    dep = deployment("web:v1", replicas=1)
    dep["spec"]["template"]["spec"]["containers"][0]["ports"] = [
        {"name": "http", "containerPort": 8080}]
    svc = service()
    svc["spec"]["ports"] = [{"name": "web", "port": 80, "targetPort": "http"},
                            {"name": "nope", "port": 81, "targetPort": "metrics"}]
    cluster.apply([dep, svc])
    run(clock, cluster, 2.0)
    ep = cluster.get(ObjRef("Endpoints", "web", "default"))
    assert ep is not None and ep["subsets"][0]["addresses"]
    # As the endpoints controller does: the name resolved in the pod, and a name no pod
    # declares serves nothing.
    assert ep["subsets"][0]["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
