"""StatefulSets, nodes and claims in the simulated cluster, over simulated time."""

from __future__ import annotations

from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.monitor import Health, health_of
from sandbox.registry import PROFILES

IMAGES = {"db:1": PROFILES["default"], "db:2": PROFILES["default"]}
DB = ObjRef("StatefulSet", "db", "default")


def statefulset(image: str = "db:1", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"replicas": replicas, "serviceName": "db",
                     "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                         "containers": [{"name": "db", "image": image}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}],
                     **spec}}


def make(seed: int = 3, **kwargs: Any) -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, IMAGES.get, seed=seed, **kwargs)


def run(clock: VirtualClock, cluster: SimCluster, seconds: float, tick: float = 0.5) -> None:
    for _ in range(int(seconds / tick)):
        clock.advance(tick)
        cluster.step()


def pods(cluster: SimCluster) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in cluster.list("Pod", "default")}


def revisions(cluster: SimCluster) -> dict[str, str]:
    return {name: p["metadata"]["labels"]["controller-revision-hash"]
            for name, p in pods(cluster).items() if not p["metadata"].get("deletionTimestamp")}


def test_nodes_are_objects_with_kubelet_status_and_pods_spread_over_them() -> None:
    clock, cluster = make(kubernetes_version="1.29.4")
    nodes = cluster.list("Node")
    assert [n["metadata"]["name"] for n in nodes] == ["sim-node-1", "sim-node-2", "sim-node-3"]
    ready = [c for c in nodes[0]["status"]["conditions"] if c["type"] == "Ready"][0]
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"] == "v1.29.4"
    assert nodes[0]["status"]["allocatable"]["pods"] == "110"
    cluster.apply([statefulset()])
    run(clock, cluster, 20)
    assert sorted(p["spec"]["nodeName"] for p in pods(cluster).values()) == [
        "sim-node-1", "sim-node-2", "sim-node-3"]
    one = make(nodes=1)[1]
    assert [n["metadata"]["name"] for n in one.list("Node")] == ["sim-node-1"]


def test_ordered_ready_creates_one_pod_at_a_time_with_its_claim() -> None:
    clock, cluster = make()
    cluster.apply([statefulset()])
    seen: list[list[str]] = []
    for _ in range(40):
        clock.advance(0.5)
        cluster.step()
        names = sorted(pods(cluster))
        if not seen or seen[-1] != names:
            seen.append(names)
    assert seen == [["db-0"], ["db-0", "db-1"], ["db-0", "db-1", "db-2"]]
    claims = {c["metadata"]["name"]: c for c in cluster.list("PersistentVolumeClaim")}
    assert sorted(claims) == ["data-db-0", "data-db-1", "data-db-2"]
    assert all(c["status"]["phase"] == "Bound" for c in claims.values())
    assert all(c["spec"]["storageClassName"] == "standard" for c in claims.values())
    assert len(cluster.list("PersistentVolume")) == 3
    vols = pods(cluster)["db-1"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in vols
    messages = [e.message for e in cluster.events(DB)]
    assert messages[:2] == ["create Claim data-db-0 Pod db-0 in StatefulSet db success",
                            "create Pod db-0 in StatefulSet db successful"]
    status = cluster.get(DB)["status"]  # type: ignore[index]
    assert (status["readyReplicas"], status["currentReplicas"]) == (3, 3)
    assert health_of(cluster.get(DB))[0] is Health.HEALTHY


def test_parallel_creates_all_pods_at_once() -> None:
    clock, cluster = make()
    cluster.apply([statefulset(podManagementPolicy="Parallel")])
    run(clock, cluster, 0.5)
    assert sorted(pods(cluster)) == ["db-0", "db-1", "db-2"]


def test_rolling_update_goes_from_the_highest_ordinal_and_stops_at_the_partition() -> None:
    clock, cluster = make()
    cluster.apply([statefulset(updateStrategy={"type": "RollingUpdate",
                                               "rollingUpdate": {"partition": 1}})])
    run(clock, cluster, 30)
    old = revisions(cluster)["db-0"]
    cluster.apply([statefulset("db:2", updateStrategy={"type": "RollingUpdate",
                                                       "rollingUpdate": {"partition": 1}})])
    order: list[str] = []
    for _ in range(80):
        clock.advance(0.5)
        cluster.step()
        for name, rev in revisions(cluster).items():
            if rev != old and name not in order:
                order.append(name)
    assert order == ["db-2", "db-1"]  # db-0 sits below the partition
    assert revisions(cluster)["db-0"] == old
    status = cluster.get(DB)["status"]  # type: ignore[index]
    assert status["updatedReplicas"] == 2 and status["currentRevision"] == old
    assert health_of(cluster.get(DB)) == (
        Health.HEALTHY, "partitioned roll out complete: 2 new pods have been updated...")


def test_on_delete_replaces_a_pod_only_when_it_is_deleted() -> None:
    clock, cluster = make()
    cluster.apply([statefulset(updateStrategy={"type": "OnDelete"})])
    run(clock, cluster, 30)
    old = revisions(cluster)
    cluster.apply([statefulset("db:2", updateStrategy={"type": "OnDelete"})])
    run(clock, cluster, 30)
    assert revisions(cluster) == old
    # Argo CD calls an OnDelete set Healthy whatever revision its pods run.
    assert health_of(cluster.get(DB)) == (Health.HEALTHY, "statefulset has 3 ready pods")
    cluster.delete(ObjRef("Pod", "db-1", "default"))
    run(clock, cluster, 10)
    now = revisions(cluster)
    assert now["db-1"] != old["db-1"] and now["db-0"] == old["db-0"]


def test_scale_down_removes_the_highest_ordinal_and_keeps_its_claim() -> None:
    clock, cluster = make()
    cluster.apply([statefulset()])
    run(clock, cluster, 30)
    cluster.apply([statefulset(replicas=1)])
    gone: list[str] = []
    for _ in range(20):
        clock.advance(0.5)
        cluster.step()
        for name in ("db-1", "db-2"):
            if name not in pods(cluster) and name not in gone:
                gone.append(name)
    assert gone == ["db-2", "db-1"]
    assert len(cluster.list("PersistentVolumeClaim")) == 3  # claims are retained


def test_the_same_seed_gives_the_same_cluster() -> None:
    def story(seed: int) -> list[tuple[str, str]]:
        clock, cluster = make(seed)
        cluster.apply([statefulset()])
        run(clock, cluster, 30)
        return [(e.reason, e.message) for e in cluster.events()]
    assert story(5) == story(5)
