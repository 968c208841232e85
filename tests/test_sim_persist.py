"""The simulated cluster's journal: a cluster restored from the workspace's SQLite is the
cluster that was saved, and it goes on exactly as the original would have."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.sim import persist
from sandbox.registry import PROFILES, ImageProfile
from sandbox.store import Store

IMAGES: dict[str, ImageProfile] = {"web:v1": PROFILES["default"], "web:v2": PROFILES["slow"],
                                   "web:crash": PROFILES["crash"]}


def deployment(image: str, replicas: int = 3, name: str = "web") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}}}}


SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "default"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


def run(clock: VirtualClock, cluster: SimCluster, seconds: float) -> None:
    for _ in range(int(seconds / 0.5)):
        clock.advance(0.5)
        cluster.step()


def started(tmp_path: Path) -> tuple[VirtualClock, SimCluster, Store]:
    store = Store(tmp_path / "state.db")
    clock = VirtualClock()
    cluster = SimCluster(clock, IMAGES.get, seed=3)
    cluster.journal_to(persist.sink(store, lambda: 0.0))
    cluster.apply([deployment("web:v1"), SERVICE, deployment("web:crash", 2, "bad")])
    run(clock, cluster, 20)
    # Mid-rollout, with crash back-offs pending: the hard case for a restore.
    cluster.apply([deployment("web:v2"), SERVICE, deployment("web:crash", 2, "bad")])
    run(clock, cluster, 7)
    return clock, cluster, store


def restored(store: Store, at: float) -> tuple[VirtualClock, SimCluster]:
    saved = persist.load(store)
    assert saved is not None
    clock = VirtualClock(at)
    cluster = SimCluster(clock, IMAGES.get, seed=3)
    cluster.restore(saved)
    cluster.journal_to(persist.sink(store, lambda: 0.0))
    return clock, cluster


def view(cluster: SimCluster) -> str:
    return json.dumps(cluster.list(), sort_keys=True)


def test_a_restored_cluster_is_the_saved_one_and_goes_on_the_same_way(tmp_path: Path) -> None:
    clock, original, store = started(tmp_path)
    twin_clock, twin = restored(store, clock.now())
    assert view(twin) == view(original)
    assert [e.message for e in twin.events()] == [e.message for e in original.events()]
    # Same pod names, same timings, same crash back-offs from here on: the RNG, the
    # pending transitions and the rollout's progress came back with the objects.
    run(clock, original, 400)
    run(twin_clock, twin, 400)
    assert view(twin) == view(original)
    assert twin.get(ObjRef("Deployment", "web", "default"))["status"]["updatedReplicas"] == 3


def test_only_what_changed_is_written(tmp_path: Path) -> None:
    clock, cluster, store = started(tmp_path)
    run(clock, cluster, 400)  # settled: the crashing pods are in a long back-off
    writes: list[persist.Delta] = []
    cluster.journal_to(writes.append)
    clock.advance(0.5)
    cluster.step()
    assert len(writes) <= 1 and all(len(d.upserts) <= 2 for d in writes)
    cluster.scale(ObjRef("Deployment", "web", "default"), 4)
    assert "Deployment/default/web" in writes[-1].upserts
    assert "Pod" not in " ".join(k.split("/")[0] for k in writes[-1].upserts if "web" not in k)


def test_request_rates_are_written_only_when_a_service_changes_them(tmp_path: Path) -> None:
    # Each Service's base rate is as big as the cluster: written with every change it
    # would make a one-object write cost the whole cluster (issue 10).
    clock, cluster, store = started(tmp_path)
    run(clock, cluster, 30)
    writes: list[persist.Delta] = []
    sink = persist.sink(store, lambda: 0.0)
    cluster.journal_to(lambda d: (writes.append(d), sink(d)))
    assert writes and writes[0].traffic is not None  # a new journal writes them once
    del writes[:]
    cluster.scale(ObjRef("Deployment", "web", "default"), 4)
    run(clock, cluster, 5)
    assert writes and all(d.traffic is None for d in writes)
    assert all("traffic_base" not in json.loads(d.state) for d in writes)
    cluster.apply([{**SERVICE, "metadata": {"name": "front", "namespace": "default"}}])
    run(clock, cluster, 5)
    assert any(d.traffic is not None for d in writes)
    saved = persist.load(store)
    assert saved is not None
    assert saved.state["traffic_base"] == cluster._traffic._base
    assert "default/front" in saved.state["traffic_base"]


def test_every_change_is_in_the_workspace_before_the_call_returns(tmp_path: Path) -> None:
    clock, cluster, store = started(tmp_path)
    cluster.delete(ObjRef("Deployment", "bad", "default"))
    cluster.scale(ObjRef("Deployment", "web", "default"), 1)
    # No flush, no stop: what a SIGKILL right now would leave behind.
    _, twin = restored(store, clock.now())
    assert view(twin) == view(cluster)
    assert twin.get(ObjRef("Deployment", "bad", "default")) is None


def test_time_carries_on_by_the_wall_time_away(tmp_path: Path) -> None:
    clock, cluster, store = started(tmp_path)
    saved = persist.load(store)
    assert saved is not None
    # Written with the last change, and stamped with the wall time of that write.
    at = float(saved.state["now"])
    assert 0 < at <= clock.now()
    saved.wall = 1000.0
    assert persist.resume_time(saved, 10.0, 1003.0) == at + 30.0
    assert persist.resume_time(saved, 10.0, 900.0) == at  # a wall clock set back


def test_a_damaged_state_is_refused_with_a_reason(tmp_path: Path) -> None:
    _, _, store = started(tmp_path)
    store.set_meta("cluster.state", "{not json")
    try:
        persist.load(store)
    except ValueError as exc:
        assert "damaged" in str(exc)
    else:
        raise AssertionError("a damaged state was accepted")


def test_a_failed_write_is_retried_with_the_next_one(tmp_path: Path) -> None:
    clock, cluster, store = started(tmp_path)
    real = persist.sink(store, lambda: 0.0)
    failing = {"on": False}

    def flaky(delta: persist.Delta) -> None:
        if failing["on"]:
            raise OSError("disk full")
        real(delta)

    cluster.journal_to(flaky)
    failing["on"] = True
    try:
        cluster.scale(ObjRef("Deployment", "web", "default"), 1)
    except OSError:
        pass
    failing["on"] = False
    clock.advance(0.5)
    cluster.step()  # nothing new to say about web, but the failed write is due again
    _, twin = restored(store, clock.now())
    assert twin.get(ObjRef("Deployment", "web", "default"))["spec"]["replicas"] == 1
    assert view(twin) == view(cluster)


def test_a_real_cluster_keeps_its_own_state(tmp_path: Path) -> None:
    from sandbox.clusterstate import ClusterState
    from sandbox.workspace import Settings, init_workspace

    sim = init_workspace(tmp_path / "sim")
    assert ClusterState.load(sim) is not None
    kind = init_workspace(tmp_path / "kind", settings=Settings(cluster="kind"))
    assert ClusterState.load(kind) is None
