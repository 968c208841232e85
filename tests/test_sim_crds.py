"""CRDs in the simulated cluster: validated and established as the API server does,
custom resources admitted through their schema, one batch with both, cascade delete,
and a restart that keeps serving the kinds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.sim import persist
from sandbox.store import Store

CRD_REF = ObjRef("CustomResourceDefinition", "widgets.example.com")
INVALID = 'CustomResourceDefinition.apiextensions.k8s.io "widgets.example.com" is invalid: '


def crd(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "group": "example.com", "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wg"],
                  "categories": ["all"]},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
            "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object", "required": ["size"], "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "color": {"type": "string", "default": "blue"}}}}}}}]}
    body.update(spec)
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"}, "spec": body}


def widget(name: str = "w", version: str = "v1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"example.com/{version}", "kind": "Widget",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"size": 1, **spec}}


def make() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, lambda image: None, seed=1)


def errors(cluster: SimCluster, objects: list[dict[str, Any]],
           dry_run: bool = False) -> list[str | None]:
    return [r.error for r in cluster.apply(objects, dry_run=dry_run)]


# -- the CRD itself ---------------------------------------------------------------------

def test_an_applied_crd_is_established_with_the_api_servers_status() -> None:
    _, cluster = make()
    assert errors(cluster, [crd()]) == [None]
    status = cluster.get(CRD_REF)["status"]  # type: ignore[index]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("NamesAccepted", "True", "NoConflicts"),
        ("Established", "True", "InitialNamesAccepted")]
    assert status["acceptedNames"] == {"plural": "widgets", "singular": "widget",
                                       "kind": "Widget", "listKind": "WidgetList",
                                       "shortNames": ["wg"], "categories": ["all"]}
    assert status["storedVersions"] == ["v1"]


def test_crd_validation_answers_as_the_api_server() -> None:
    _, cluster = make()
    bad = crd(group="example", scope="Global")
    assert errors(cluster, [bad]) == [INVALID + (
        '[metadata.name: Invalid value: "widgets.example.com": must be '
        'spec.names.plural+"."+spec.group, spec.group: Invalid value: "example": should be a '
        'domain with at least one dot, spec.scope: Unsupported value: "Global": supported '
        'values: "Cluster", "Namespaced"]')]
    two = crd()
    two["spec"]["versions"].append({**copy.deepcopy(two["spec"]["versions"][0]), "name": "v2"})
    assert errors(cluster, [two]) == [INVALID + (
        "spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{v1, v2}"
        ": must have exactly one version marked as storage version")]
    assert errors(cluster, [crd(versions=[])]) == [INVALID + (
        "spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion(nil): "
        "must have exactly one version marked as storage version")]
    no_schema = crd(versions=[{"name": "v1", "served": True, "storage": True}])
    assert errors(cluster, [no_schema]) == [INVALID + (
        "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required")]
    loose = crd(versions=[{"name": "v1", "served": True, "storage": True, "schema": {
        "openAPIV3Schema": {"type": "object", "properties": {"spec": {}}}}}])
    assert errors(cluster, [loose]) == [INVALID + (
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must "
        "not be empty for specified object fields")]
    assert cluster.list("CustomResourceDefinition") == []


def test_scope_and_kind_are_immutable_once_established() -> None:
    _, cluster = make()
    cluster.apply([crd()])
    assert errors(cluster, [crd(scope="Cluster")]) == [INVALID + (
        'spec.scope: Invalid value: "Cluster": field is immutable')]


def test_a_kind_taken_in_the_group_is_not_accepted_nor_served() -> None:
    _, cluster = make()
    cluster.apply([crd()])
    twin = crd(names={"kind": "Widget", "plural": "gadgets", "singular": "gadget"})
    twin["metadata"]["name"] = "gadgets.example.com"
    assert errors(cluster, [twin]) == [None]
    status = cluster.get(ObjRef("CustomResourceDefinition", "gadgets.example.com"))["status"]  # type: ignore[index]
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("NamesAccepted", "False", "KindConflict", '"Widget" is already in use'),
        ("Established", "False", "NotAccepted", "not all names are accepted")]


# -- custom resources -------------------------------------------------------------------

def test_a_custom_resource_is_pruned_defaulted_and_validated() -> None:
    _, cluster = make()
    cluster.apply([crd()])
    assert errors(cluster, [widget(size="big")]) == [
        'Widget.example.com "w" is invalid: spec.size: Invalid value: "string": spec.size in '
        'body must be of type integer: "string"']
    missing = widget()
    del missing["spec"]["size"]
    assert errors(cluster, [missing]) == [
        'Widget.example.com "w" is invalid: spec.size: Required value']
    assert errors(cluster, [widget(shape="round")]) == [None]
    stored = cluster.get(ObjRef("Widget", "w", "default"))
    assert stored is not None and stored["spec"] == {"size": 1, "color": "blue"}
    # Pruned and defaulted before comparing: the same manifest again changes nothing.
    assert [r.action for r in cluster.apply([widget(shape="round")])] == ["unchanged"]


def test_a_custom_resource_is_judged_by_its_schema_not_the_workload_rules() -> None:
    _, cluster = make()
    scaled = crd()
    scaled["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]["replicas"] = {"type": "integer"}
    cluster.apply([scaled])
    assert errors(cluster, [widget(replicas="three")]) == [
        'Widget.example.com "w" is invalid: spec.replicas: Invalid value: "string": '
        'spec.replicas in body must be of type integer: "string"']


def test_a_version_the_crd_does_not_serve_is_refused() -> None:
    _, cluster = make()
    served = crd()
    served["spec"]["versions"].append({**copy.deepcopy(served["spec"]["versions"][0]),
                                       "name": "v1beta1", "served": False, "storage": False})
    cluster.apply([served])
    [error] = errors(cluster, [widget(version="v1beta1")])
    assert error is not None and error.startswith(
        'no matches for kind "Widget" in version "example.com/v1beta1"')


def test_a_crd_and_its_resources_work_in_one_batch_whatever_the_order() -> None:
    _, cluster = make()
    batch = [widget("a"), widget("b", size=0), crd()]
    checked = cluster.apply(batch, dry_run=True)
    assert [(str(r.ref), r.error) for r in checked] == [
        ("Widget/default/a", None),
        ("Widget/default/b", 'Widget.example.com "b" is invalid: spec.size: Invalid value: 0: '
                             "spec.size in body should be greater than or equal to 1"),
        ("CustomResourceDefinition/widgets.example.com", None)]
    assert cluster.list("CustomResourceDefinition") == []  # a dry run leaves nothing behind
    other = crd(names={"kind": "Gadget", "plural": "gadgets"})
    other["metadata"]["name"] = "gadgets.example.com"
    cluster.apply([crd(), other], dry_run=True)
    assert cluster.discovery.lookup("example.com/v1", "Widget") is None
    assert cluster.discovery.lookup("example.com/v1", "Gadget") is None
    assert [r.action for r in cluster.apply([batch[0], batch[2]])] == ["created", "created"]
    stored = cluster.get(ObjRef("Widget", "a", "default"))
    assert stored is not None and stored["spec"]["color"] == "blue"  # admitted by its schema


def test_deleting_a_crd_deletes_its_resources() -> None:
    _, cluster = make()
    cluster.apply([crd(), widget("a"), widget("b")])
    assert cluster.delete(CRD_REF)
    assert cluster.list("Widget") == [] and cluster.list("CustomResourceDefinition") == []
    assert errors(cluster, [widget("c", size="x")]) != [
        'Widget.example.com "c" is invalid: spec.size: Invalid value: "string": spec.size in '
        'body must be of type integer: "string"']  # no schema applies any more


def test_crds_and_their_kinds_survive_an_engine_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    clock, cluster = make()
    cluster.journal_to(persist.sink(store, lambda: 0.0))
    cluster.apply([crd(), widget()])
    saved = persist.load(store)
    assert saved is not None
    twin = SimCluster(VirtualClock(clock.now()), lambda image: None, seed=1)
    twin.restore(saved)
    assert twin.get(ObjRef("Widget", "w", "default")) is not None
    assert errors(twin, [widget(size="big")]) == [
        'Widget.example.com "w" is invalid: spec.size: Invalid value: "string": spec.size in '
        'body must be of type integer: "string"']
    twin.delete(CRD_REF)
    assert twin.list("Widget") == []


def test_a_cluster_scoped_kind_lives_outside_namespaces() -> None:
    _, cluster = make()
    scoped = crd(scope="Cluster", names={"kind": "Fence", "plural": "fences"})
    scoped["metadata"]["name"] = "fences.example.com"
    fence = {"apiVersion": "example.com/v1", "kind": "Fence",
             "metadata": {"name": "f"}, "spec": {"size": 2}}
    checked = cluster.apply([fence, scoped], dry_run=True)
    assert [(str(r.ref), r.error) for r in checked] == [
        ("Fence/f", None), ("CustomResourceDefinition/fences.example.com", None)]
    assert [r.action for r in cluster.apply([fence, scoped])] == ["created", "created"]
    assert cluster.get(ObjRef("Fence", "f")) is not None
    assert cluster.discovery.resolve_name("fences")[0].namespaced is False
