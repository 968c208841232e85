"""The patch formats on plain objects (no server): what kubectl and client libraries
send, merged as the real API server merges them."""

from __future__ import annotations

import pytest

from sandbox.cluster.apiserver import patch, ssa
from sandbox.cluster.apiserver.errors import ApiError
from sandbox.cluster.apiserver.selectors import field_selector, label_selector

LIVE = {"spec": {"replicas": 2, "template": {"spec": {"containers": [
    {"name": "web", "image": "web:1", "ports": [{"containerPort": 80}],
     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
    {"name": "side", "image": "side:1"}]}}}}


def test_strategic_merge_uses_the_merge_keys_and_directives() -> None:
    out = patch.strategic(LIVE, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "web:2", "env": [{"name": "B", "$patch": "delete"},
                                                  {"name": "C", "value": "3"}]},
        {"name": "side", "$patch": "delete"}]}}}})
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]
    assert containers[0]["image"] == "web:2" and containers[0]["ports"] == [{"containerPort": 80}]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert patch.strategic(LIVE, {"spec": {"replicas": None}})["spec"].get("replicas") is None
    replaced = patch.strategic(LIVE, {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "x"}, {"$patch": "replace"}]}}}})
    assert replaced["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "x"}]
    assert LIVE["spec"]["replicas"] == 2  # the live object is never touched


def test_merge_patch_replaces_lists_and_null_deletes() -> None:
    out = patch.merge_patch(LIVE, {"spec": {"replicas": 3, "template": {"spec": {
        "containers": [{"name": "x", "image": "x"}]}}}})
    assert out["spec"]["replicas"] == 3
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "x", "image": "x"}]
    assert "replicas" not in patch.merge_patch(LIVE, {"spec": {"replicas": None}})["spec"]


def test_json_patch_operations_and_errors() -> None:
    out = patch.json_patch(LIVE, [
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
         "value": {"name": "D", "value": "4"}},
        {"op": "remove", "path": "/spec/template/spec/containers/1"},
        {"op": "test", "path": "/spec/replicas", "value": 5}])
    assert out["spec"]["replicas"] == 5
    assert out["spec"]["template"]["spec"]["containers"][0]["env"][-1]["name"] == "D"
    assert len(out["spec"]["template"]["spec"]["containers"]) == 1
    with pytest.raises(ApiError) as info:
        patch.json_patch(LIVE, [{"op": "remove", "path": "/spec/nothing"}])
    assert info.value.code == 422 and "doc is missing path" in info.value.message
    with pytest.raises(ApiError) as info:
        patch.json_patch(LIVE, {"op": "add"})
    assert info.value.code == 400


def test_field_paths_and_conflict_messages() -> None:
    fields = ssa.leaves(LIVE)
    key = ("spec", "template", "spec", "containers", 'k:{"name": "web"}', "image")
    assert fields[key] == "web:1"
    assert ssa.dotted(key) == '.spec.template.spec.containers[name="web"].image'
    err = ssa._conflict({"kubectl": [("spec", "replicas")]}, "apps/v1")
    assert (err.code, err.message) == (409, 'Apply failed with 1 conflict: conflict with '
                                             '"kubectl" using apps/v1: .spec.replicas')


def test_selectors() -> None:
    match = label_selector("app in (web,api),tier!=db,!legacy,env")
    assert match({"app": "web", "env": "prod"})
    assert not match({"app": "web"}) and not match({"app": "x", "env": "p"})
    assert not match({"app": "web", "env": "p", "legacy": "1"})
    with pytest.raises(ApiError) as info:
        label_selector("app in web")
    assert info.value.code == 400 and info.value.message.startswith("unable to parse requirement")
    pod = {"metadata": {"name": "a", "namespace": "demo"}, "status": {"phase": "Running"}}
    assert field_selector("status.phase=Running,metadata.name!=b", "Pod", "v1")(pod)
    with pytest.raises(ApiError) as info:
        field_selector("spec.replicas=2", "Deployment", "apps/v1")
    assert info.value.message == "field label not supported: spec.replicas"
