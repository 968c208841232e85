"""`kind: List` unpacked as kubectl does, wherever manifests are read; a kustomization
file in a static folder is named for what it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.lists import unpack, unpack_all
from sandbox.hld import generate
from sandbox.registry import PROFILES
from sandbox.validation import check_hld


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": {"k": "v"}}


def test_a_list_is_its_items_and_nested_lists_flatten() -> None:
    inner = {"apiVersion": "v1", "kind": "List", "items": [cm("b"), cm("c")]}
    outer = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [cm("a"), inner]}
    assert [o["metadata"]["name"] for o in unpack(outer)] == ["a", "b", "c"]
    assert unpack(cm("a")) == [cm("a")]


def test_a_typed_lists_items_take_its_kind_where_they_have_none() -> None:
    typed = {"apiVersion": "v1", "kind": "ConfigMapList",
             "items": [{"metadata": {"name": "a"}}, cm("b")]}
    first, second = unpack(typed)
    assert (first["apiVersion"], first["kind"]) == ("v1", "ConfigMap")
    assert second == cm("b")


def test_a_kind_ending_in_list_without_items_is_an_object() -> None:
    odd = {"apiVersion": "example.com/v1", "kind": "AllowList", "metadata": {"name": "x"},
           "spec": {}}
    assert unpack_all([odd]) == [odd]


def test_the_simulated_cluster_applies_a_lists_items() -> None:
    cluster = SimCluster(VirtualClock(), lambda image: PROFILES["default"])
    results = cluster.apply([{"apiVersion": "v1", "kind": "List",
                              "items": [cm("a"), cm("b")]}])
    assert [(r.action, r.ref.short) for r in results] == [
        ("created", "ConfigMap/a"), ("created", "ConfigMap/b")]
    assert cluster.get(ObjRef("ConfigMap", "b", "default")) is not None


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


LIST_YAML = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: one
      namespace: default
  - apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: two
      namespace: default
    spec:
      replica: 2
"""


def static(root: Path, files: dict[str, str]) -> Path:
    write(root / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    for name, text in files.items():
        write(root / "m" / name, text)
    return root


def test_static_components_unpack_lists_with_each_items_line(tmp_path: Path) -> None:
    result = generate(static(tmp_path, {"list.yaml": LIST_YAML}), ["common"])
    assert [(d.obj["kind"], d.source_file, d.source_line) for d in result.documents] == [
        ("ConfigMap", "m/list.yaml", 4), ("Deployment", "m/list.yaml", 9)]
    assert result.problems == []


def test_the_check_points_at_the_item_inside_the_list(tmp_path: Path) -> None:
    report = check_hld(static(tmp_path, {"list.yaml": LIST_YAML}), ["common"])
    schema = [f for f in report.errors if f.rule == "schema"]
    assert schema and all((f.file, f.line) == ("m/list.yaml", 9) for f in schema)
    assert all(f.object == "Deployment/default/two" for f in schema)


KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - cm.yaml
"""
CM_YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n  namespace: default\n"


def test_a_kustomization_file_is_named_for_what_it_is(tmp_path: Path) -> None:
    root = static(tmp_path, {"cm.yaml": CM_YAML, "kustomization.yaml": KUSTOMIZATION})
    report = check_hld(root, ["common"])
    [error] = report.errors
    assert (error.file, error.line, error.rule) == ("m/kustomization.yaml", 1, "manifest")
    assert "a kustomize file (kustomization.yaml), not a Kubernetes object" in error.message
    assert "static components do not run kustomize" in error.message
    assert "kustomize build" in error.message
    assert "metadata.name" not in error.message
    assert [d.obj["metadata"]["name"] for d in report.documents] == ["one"]


def test_a_kustomization_without_apiversion_is_recognised_by_its_name(tmp_path: Path) -> None:
    root = static(tmp_path, {"cm.yaml": CM_YAML, "kustomization.yml": "resources:\n  - cm.yaml\n"})
    [error] = check_hld(root, ["common"]).errors
    assert error.file == "m/kustomization.yml" and "kustomize file" in error.message


def test_a_flux_kustomization_is_a_custom_resource_not_a_kustomize_file(tmp_path: Path) -> None:
    flux = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
            "metadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 10m\n")
    result = generate(static(tmp_path, {"flux.yaml": flux}), ["common"])
    assert result.problems == [] and result.documents[0].obj["kind"] == "Kustomization"


def test_the_reconciler_applies_a_lists_items(tmp_path: Path, serve, clone_as) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    import yaml

    from sandbox.events import EventBus
    from sandbox.flux import Reconciler
    from sandbox.gitutil import refs
    from sandbox.workspace import init_workspace

    sample = tmp_path / "sample"
    write(sample / "component.yaml", "name: tiny\n")
    ws = init_workspace(tmp_path / "ws", sample=sample)
    serve(ws.root)
    work = clone_as(ws.root, "generate-bot", "manifests")
    typed = {"apiVersion": "v1", "kind": "ConfigMapList",
             "items": [{"metadata": {"name": "b", "namespace": "default"}}]}
    write(work / "prod" / "all.yaml", yaml.safe_dump_all(
        [{"apiVersion": "v1", "kind": "List", "items": [cm("a"), typed]}]))
    trailer = f"HLD-Commit: {refs(ws.hld_git)['refs/heads/main']}"
    for command in (["add", "-A"], ["commit", "-qm", "a list", "-m", trailer],
                    ["push", "-q", "origin", "HEAD:main"]):
        subprocess.run(["git", *command], cwd=work, check=True)
    cluster = SimCluster(VirtualClock(), ws.registry.resolve, seed=1)
    flux = Reconciler(ws, cluster, EventBus(ws.store))
    # Every backend gets the items (kind's kubectl too), not only the simulated cluster.
    objects, errors = flux.load(refs(ws.manifests_git)["refs/heads/main"])
    assert errors == [] and [o["kind"] for o in objects] == ["ConfigMap", "ConfigMap"]
    status = flux.reconcile("test")
    assert status.ready, status.errors
    assert sorted(tuple(ref) for ref in status.inventory) == [
        ("ConfigMap", "a", "default"), ("ConfigMap", "b", "default")]
    assert cluster.get(ObjRef("ConfigMap", "b", "default")) is not None
