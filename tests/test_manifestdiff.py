"""Object-by-object manifest diff."""

from __future__ import annotations

import copy

from sandbox.manifestdiff import diff_objects


def obj(kind: str, name: str, namespace: str | None = "demo", **spec: object) -> dict:
    meta: dict = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": dict(spec)}


BASE = [obj("Namespace", "demo", None), obj("Deployment", "web", image="web:1.0.0", replicas=2),
        obj("Deployment", "api", image="api:1.0.0"), obj("Service", "old")]


def test_identical_sets_in_any_order_are_empty() -> None:
    diff = diff_objects(BASE, list(reversed(copy.deepcopy(BASE))))
    assert diff.empty
    assert diff.summary() == "0 added, 0 changed, 0 removed"
    assert diff.text() == "no changes\n"


def test_added_changed_removed() -> None:
    head = copy.deepcopy(BASE[:3]) + [obj("ConfigMap", "app-config")]
    head[1]["spec"]["image"] = "web:1.1.0"
    head[2]["spec"]["image"] = "api:1.1.0"
    diff = diff_objects(BASE, head)
    assert not diff.empty
    assert diff.summary() == "1 added, 2 changed, 1 removed"
    assert [c.ref for c in diff.changed] == ["Deployment/demo/api", "Deployment/demo/web"]
    assert "-  image: web:1.0.0\n+  image: web:1.1.0\n" in diff.changed[1].diff
    text = diff.text()
    assert text.splitlines()[0] == "+ ConfigMap/demo/app-config (added)"
    assert "~ Deployment/demo/web (changed)" in text
    assert "- Service/demo/old (removed)" in text
    assert text.rstrip().endswith("1 added, 2 changed, 1 removed")


def test_same_name_in_other_namespace_or_kind_is_another_object() -> None:
    diff = diff_objects([obj("Service", "web")], [obj("Service", "web", "prod"),
                                                  obj("Deployment", "web")])
    assert diff.summary() == "2 added, 0 changed, 1 removed"


def test_cluster_scoped_objects_have_no_namespace_in_their_ref() -> None:
    diff = diff_objects([], [obj("Namespace", "demo", None)])
    assert diff.text().startswith("+ Namespace/demo (added)")
