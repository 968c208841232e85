"""Following the cluster from another process by what changed (as an informer does):
a poll with nothing changed reads no object, a poll after a change reads only the rows
that changed, and objects that went away are named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.sim import persist
from sandbox.clusterfollow import JournalFollower
from sandbox.registry import PROFILES
from sandbox.workspace import Workspace, init_workspace

SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "default"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


def deployment(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "web:v1"}]}}}}


def run(clock: VirtualClock, cluster: SimCluster, seconds: float) -> None:
    for _ in range(int(seconds / 0.5)):
        clock.advance(0.5)
        cluster.step()


def _journaled(tmp_path: Path) -> tuple[Workspace, VirtualClock, SimCluster]:
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "component.yaml").write_text("name: tiny\n")
    ws = init_workspace(tmp_path / "ws", sample=sample)
    clock = VirtualClock()
    cluster = SimCluster(clock, {"web:v1": PROFILES["default"]}.get, seed=3)
    cluster.journal_to(persist.sink(ws.store, lambda: 0.0))
    cluster.apply([deployment(3), SERVICE])
    run(clock, cluster, 20)
    return ws, clock, cluster


def test_a_poll_reads_only_what_changed(tmp_path: Path) -> None:
    ws, clock, cluster = _journaled(tmp_path)
    follower = JournalFollower(ws, running=lambda: False)
    first = follower.poll()
    assert first.full and "Deployment/default/web" in first.changed
    everything = len(first.changed)
    assert follower.rows_read == everything

    assert not follower.poll()  # nothing changed: nothing read
    assert follower.rows_read == everything

    cluster.apply([deployment(4), SERVICE])
    run(clock, cluster, 1)
    changed = follower.poll()
    assert not changed.full and "Deployment/default/web" in changed.changed
    assert 0 < follower.rows_read - everything < everything
    assert changed.now is not None and 20.0 < changed.now <= clock.now()  # its last write


def test_deleted_objects_are_named(tmp_path: Path) -> None:
    ws, clock, cluster = _journaled(tmp_path)
    follower = JournalFollower(ws, running=lambda: False)
    follower.poll()
    cluster.delete(ObjRef("Service", "web", "default"))
    run(clock, cluster, 1)
    changes = follower.poll()
    assert "Service/default/web" in changes.deleted
    assert "Service/default/web" not in changes.changed
