"""The simulated controllers work from indexes and react to what changed, as informers
let Kubernetes' controllers do: a pod change costs the Services that select it, not
every Service; the label index answers selectors for any kind."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.sim import services
from sandbox.cluster.sim.index import LabelIndex, SelectorIndex
from sandbox.registry import PROFILES


def _objects(i: int) -> list[dict[str, Any]]:
    name = f"svc-{i}"
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": "default"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name, "tier": "web"}},
                               "spec": {"containers": [{"name": "c", "image": "web:v1"}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": "default"},
         "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}},
    ]


def _converged(n: int) -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    cluster = SimCluster(clock, lambda image: PROFILES["default"], seed=3)
    cluster.apply([o for i in range(n) for o in _objects(i)])
    clock.advance(30)
    cluster.step()
    return clock, cluster


def test_a_pod_change_rechecks_only_the_services_that_select_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock, cluster = _converged(40)
    calls = [0]
    real = services.matches_selector

    def counting(labels: dict[str, Any], selector: dict[str, Any] | None) -> bool:
        calls[0] += 1
        return real(labels, selector)

    monkeypatch.setattr(services, "matches_selector", counting)
    before = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
              for o in cluster.list("Endpoints")}
    pod = next(p for p in cluster.list("Pod") if p["metadata"]["labels"]["app"] == "svc-7")
    cluster.delete(ObjRef("Pod", pod["metadata"]["name"], "default"))
    clock.advance(30)
    cluster.step()
    after = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
             for o in cluster.list("Endpoints")}
    assert {n for n in after if after[n] != before[n]} == {"svc-7"}
    # The quadratic controller matched every Service against every changed pod (40+
    # calls per pod); the indexed one looks at the one Service whose term the pod has.
    assert 0 < calls[0] <= 6
    listed = cluster.get(ObjRef("Endpoints", "svc-7", "default"))
    assert listed and listed["subsets"][0]["addresses"][0]["targetRef"]["name"] != (
        pod["metadata"]["name"])


def test_a_service_selecting_by_expression_or_relabelled_pods_still_finds_them() -> None:
    clock, cluster = _converged(3)
    cluster.apply([{"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "all-web", "namespace": "default"},
                    "spec": {"selector": {"tier": "web"}, "ports": [{"port": 80}]}}])
    clock.advance(1)
    cluster.step()
    ep = cluster.get(ObjRef("Endpoints", "all-web", "default"))
    assert ep and len(ep["subsets"][0]["addresses"]) == 3
    # A pod relabelled by hand leaves the Service that selected it by that label.
    store = cluster._store
    ref = sorted(store.select("Pod", "default", {"app": "svc-1"}))[0]
    cluster.apply([{**cluster.get(ref), "metadata": {  # type: ignore[dict-item]
        "name": ref.name, "namespace": "default", "labels": {"app": "svc-1"},
        "ownerReferences": cluster.get(ref)["metadata"]["ownerReferences"]}}])  # type: ignore[index]
    clock.advance(1)
    cluster.step()
    ep = cluster.get(ObjRef("Endpoints", "all-web", "default"))
    assert ep and len(ep["subsets"][0]["addresses"]) == 2


def test_label_index_answers_selectors_for_any_kind() -> None:
    index = LabelIndex()
    a, b, c = (ObjRef("Widget", n, "ns") for n in "abc")
    index.add(a, {"app": "x", "tier": "web"})
    index.add(b, {"app": "y", "tier": "web"})
    index.add(c, {"app": "x"})
    assert index.candidates("Widget", "ns", {"tier": "web"}) == {a, b}
    assert index.candidates("Widget", "ns", {"matchLabels": {"app": "x", "tier": "web"}}) == {a}
    assert index.candidates("Widget", "other", {"app": "x"}) == set()
    index.add(a, {"app": "y"})  # relabelled in place
    assert index.candidates("Widget", "ns", {"app": "x"}) == {c}
    index.discard(c)
    assert index.candidates("Widget", "ns", {"app": "x"}) == set()
    # Expressions only: every object of the namespace is a candidate, checked after.
    assert index.candidates("Widget", "ns", {"matchExpressions": [
        {"key": "app", "operator": "Exists"}]}) == {a, b}


def test_selector_index_finds_who_selects_a_set_of_labels() -> None:
    index = SelectorIndex()
    s1, s2, s3 = (ObjRef("Service", n, "ns") for n in ("one", "two", "any"))
    index.set(s1, {"app": "one"})
    index.set(s2, {"matchLabels": {"app": "two", "tier": "web"}})
    index.set(s3, {"matchExpressions": [{"key": "tier", "operator": "Exists"}]})
    assert index.candidates("ns", {"app": "one"}) == {s1, s3}
    assert s2 in index.candidates("ns", {"app": "two", "tier": "web"})
    index.discard(s3)
    assert index.candidates("ns", {"app": "zzz"}) == set()
    assert index.candidates("elsewhere", {"app": "one"}) == set()


def test_store_select_uses_the_index_and_checks_expressions() -> None:
    clock, cluster = _converged(3)
    store = cluster._store
    assert len(store.select("Pod", "default", {"tier": "web"})) == 3
    assert store.select("Pod", "default", {"matchLabels": {"tier": "web"}, "matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["svc-0", "svc-1"]}]}) == \
        store.select("Pod", "default", {"app": "svc-2"})
    assert store.select("Pod", "default", {}) == []
