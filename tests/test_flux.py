"""The reconciler against real git and the simulated cluster, on a virtual clock."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.events import EventBus, read_events
from sandbox.flux import MANAGED_BY, PRUNE_ANNOTATION, Reconciler
from sandbox.gitutil import refs
from sandbox.workspace import Workspace, init_workspace

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}


def cm(name: str, **extra: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "demo", **extra}, "data": {"k": "v"}}


def deploy(name: str, replicas: int = 1) -> dict[str, object]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "demo"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": name, "image": "localhost:5001/web:1.0.0"}]}}}}


class Manifests:
    """Commits to manifests.git as the generation job makes them: pushed through the git
    server by generate-bot, each naming hld.git's main in its HLD-Commit trailer."""

    def __init__(self, ws: Workspace, work: Path) -> None:
        self.work = work
        self.trailer = f"HLD-Commit: {refs(ws.hld_git)['refs/heads/main']}"

    def commit(self, objects: list[dict[str, object]], message: str = "update") -> str:
        (self.work / "prod").mkdir(exist_ok=True)
        (self.work / "prod" / "all.yaml").write_text(yaml.safe_dump_all(objects))
        return self.push(message)

    def push(self, message: str) -> str:
        subprocess.run(["git", "add", "-A"], cwd=self.work, check=True)
        subprocess.run(["git", "commit", "-qm", message, "-m", self.trailer], cwd=self.work,
                       check=True)
        subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=self.work, check=True)
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.work, check=True,
                              capture_output=True, text=True).stdout.strip()


@pytest.fixture
def setup(tmp_path: Path, serve, clone_as  # type: ignore[no-untyped-def]
          ) -> tuple[Workspace, Manifests, SimCluster, Reconciler, VirtualClock]:
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "component.yaml").write_text("name: tiny\n")
    ws = init_workspace(tmp_path / "ws", sample=sample)
    serve(ws.root)
    man = Manifests(ws, clone_as(ws.root, "generate-bot", "manifests"))
    clock = VirtualClock()
    cluster = SimCluster(clock, ws.registry.resolve, seed=1)
    return ws, man, cluster, Reconciler(ws, cluster, EventBus(ws.store)), clock


def test_apply_labels_and_moves_the_sync_tag(setup) -> None:  # type: ignore[no-untyped-def]
    ws, man, cluster, flux, _ = setup
    sha = man.commit([deploy("web"), NS, cm("settings")])
    status = flux.reconcile("test")
    assert status.ready and status.last_applied == sha
    assert refs(ws.manifests_git)["refs/tags/flux-sync"] == sha
    obj = cluster.get(ObjRef("ConfigMap", "settings", "demo"))
    assert obj and obj["metadata"]["labels"][MANAGED_BY]
    assert ObjRef("Namespace", "demo") in status.refs()
    applied = read_events(ws.store, kinds=("sync.applied",))[-1].message.splitlines()
    assert "Deployment/web created" in applied and "Namespace/demo created" in applied
    finished = read_events(ws.store, kinds=("sync.finished",))[-1].message
    assert finished.startswith("Reconciliation finished in ") and "next run in 1m0s" in finished


def test_prunes_only_what_it_owns_and_honours_opt_out(setup) -> None:  # type: ignore[no-untyped-def]
    _, man, cluster, flux, _ = setup
    keep = cm("keep", annotations={PRUNE_ANNOTATION: "disabled"})
    man.commit([NS, cm("a"), cm("b"), keep])
    flux.reconcile()
    cluster.apply([cm("hand-made")])  # created by someone else, not ours
    man.commit([NS, cm("a")])
    status = flux.reconcile()
    names = {o["metadata"]["name"] for o in cluster.list("ConfigMap")}
    assert names == {"a", "keep", "hand-made"}
    assert ObjRef("ConfigMap", "b", "demo") not in status.refs()


def test_atomic_policy_applies_nothing_when_one_object_is_invalid(setup) -> None:  # type: ignore[no-untyped-def]
    ws, man, cluster, flux, _ = setup
    good = man.commit([NS, cm("a")])
    flux.reconcile()
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "broken",
                                                                      "namespace": "demo"},
           "spec": {"selector": {"matchLabels": {"app": "x"}},
                    "template": {"metadata": {"labels": {"app": "y"}},
                                 "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}
    attempted = man.commit([NS, cm("a"), cm("new"), bad])
    status = flux.reconcile()
    assert not status.ready
    assert status.last_applied == good and status.last_attempted == attempted
    assert refs(ws.manifests_git)["refs/tags/flux-sync"] == good
    assert cluster.get(ObjRef("ConfigMap", "new", "demo")) is None
    assert read_events(ws.store, kinds=("sync.failed",))


def test_partial_policy_applies_the_valid_objects(setup) -> None:  # type: ignore[no-untyped-def]
    _, man, cluster, flux, _ = setup
    flux.status.policy = "partial"
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    sha = man.commit([NS, cm("a"), bad])
    status = flux.reconcile()
    assert cluster.get(ObjRef("ConfigMap", "a", "demo")) is not None
    assert status.last_applied == sha and status.errors and not status.ready


def test_drift_is_detected_and_corrected_on_resync(setup) -> None:  # type: ignore[no-untyped-def]
    ws, man, cluster, flux, clock = setup
    man.commit([NS, deploy("web", replicas=2)])
    flux.reconcile()
    ref = ObjRef("Deployment", "web", "demo")
    cluster.scale(ref, 5)
    flux.reconcile("periodic resync")
    obj = cluster.get(ref)
    assert obj and obj["spec"]["replicas"] == 2
    kinds = [e.kind for e in read_events(ws.store)]
    assert "drift.detected" in kinds and "drift.corrected" in kinds


def test_bad_yaml_in_manifest_repo_is_a_failed_sync(setup) -> None:  # type: ignore[no-untyped-def]
    ws, man, cluster, flux, _ = setup
    (man.work / "prod").mkdir(exist_ok=True)
    (man.work / "prod" / "bad.yaml").write_text("kind: [\n")
    man.push("bad")
    status = flux.reconcile()
    assert not status.ready and "prod/bad.yaml" in status.errors[0]
    assert "refs/tags/flux-sync" not in refs(ws.manifests_git)
