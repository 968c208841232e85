"""The reconciler against real git and the simulated cluster, on a virtual clock."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.base import ApplyResult
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
    assert finished.startswith("Reconciliation finished in ") and "next run in 10m0s" in finished


def test_prunes_only_what_it_owns_and_honours_opt_out(setup) -> None:  # type: ignore[no-untyped-def]
    ws, man, cluster, flux, _ = setup
    keep = cm("keep", annotations={PRUNE_ANNOTATION: "disabled"})
    man.commit([NS, cm("a"), cm("taken"), cm("gone"), keep])
    flux.reconcile()
    # Someone else takes one of ours over (their apply drops our label) and makes one
    # of their own: neither is ours to delete, though both sit beside ours.
    cluster.apply([cm("taken"), cm("hand-made")])
    assert MANAGED_BY not in (cluster.get(ObjRef("ConfigMap", "taken", "demo")) or {}
                              )["metadata"].get("labels", {})
    man.commit([NS, cm("a")])
    status = flux.reconcile()
    names = {o["metadata"]["name"] for o in cluster.list("ConfigMap")}
    assert names == {"a", "keep", "taken", "hand-made", "kube-root-ca.crt"}
    assert ObjRef("ConfigMap", "gone", "demo") not in status.refs()
    finished = read_events(ws.store, kinds=("sync.finished",))[-1]
    assert finished.data["pruned"] == ["ConfigMap/demo/gone"]


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


# -- apply and prune order -------------------------------------------------------------

CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                    "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                        "type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}}
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget",
          "metadata": {"name": "w", "namespace": "demo"}, "spec": {"size": 1}}


class OneByOne(SimCluster):
    """An API server fed one object at a time, as `kubectl apply -f` feeds a stream: an
    object whose namespace, or whose kind's CRD, comes later in the stream is refused.
    Records the order of applies and deletes."""

    def __init__(self, clock: VirtualClock, ws: Workspace) -> None:
        super().__init__(clock, ws.registry.resolve, seed=1)
        self.applied: list[str] = []
        self.deleted: list[str] = []

    def _kinds_served(self, batch: list[dict[str, Any]] | None = None) -> set[str]:
        crds = self.list("CustomResourceDefinition") + [
            o for o in batch or [] if o.get("kind") == "CustomResourceDefinition"]
        return {str(c["spec"]["names"]["kind"]) for c in crds}

    def _unknown(self, obj: dict[str, Any], served: set[str]) -> ApplyResult | None:
        if obj.get("kind") == "Widget" and "Widget" not in served:
            return ApplyResult(ObjRef.of(obj), "invalid",
                               'no matches for kind "Widget" in version "example.com/v1"')
        return None

    def apply(self, objects: list[dict[str, Any]], dry_run: bool = False) -> list[ApplyResult]:
        if dry_run:  # a dry run sees the whole batch, as the reconciler's validation does
            served = self._kinds_served(objects)
            checked = super().apply(objects, dry_run=True)
            return [self._unknown(o, served) or r for o, r in zip(objects, checked, strict=True)]
        results: list[ApplyResult] = []
        for obj in objects:
            self.applied.append(str(ObjRef.of(obj)))
            refused = self._unknown(obj, self._kinds_served())
            results += [refused] if refused else super().apply([obj])
        return results

    def delete(self, ref: ObjRef) -> bool:
        self.deleted.append(str(ref))
        return super().delete(ref)


def test_crds_then_namespaces_apply_first_and_prune_last(
        tmp_path: Path, serve, clone_as) -> None:  # type: ignore[no-untyped-def]
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "component.yaml").write_text("name: tiny\n")
    ws = init_workspace(tmp_path / "ws", sample=sample)
    cluster = OneByOne(VirtualClock(), ws)
    flux = Reconciler(ws, cluster, EventBus(ws.store))
    serve(ws.root)
    man = Manifests(ws, clone_as(ws.root, "generate-bot", "manifests"))
    # File order puts every dependant before what it depends on.
    man.commit([deploy("web"), WIDGET, cm("a"), CRD, NS])
    status = flux.reconcile()
    assert status.ready, status.errors
    first, second, *rest = cluster.applied
    assert (first, second) == ("CustomResourceDefinition/widgets.example.com", "Namespace/demo")
    assert sorted(rest) == ["ConfigMap/demo/a", "Deployment/demo/web", "Widget/demo/w"]
    assert cluster.get(ObjRef("Widget", "w", "demo")) is not None
    man.commit([])
    status = flux.reconcile()
    assert status.ready and status.inventory == []
    *workloads, namespace, crd = cluster.deleted
    assert sorted(workloads) == sorted(rest)
    assert (namespace, crd) == (second, first)
    pruned = read_events(ws.store, kinds=("sync.finished",))[-1].data["pruned"]
    assert sorted(pruned) == sorted(cluster.deleted)
