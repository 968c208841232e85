"""The simulated cluster's API side: apply semantics, dry-run validation, direct edits,
cascading deletes, determinism, big time jumps, speed, snapshots and metrics."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.clock import VirtualClock
from sandbox.cluster import ClusterBackend, ClusterError, ObjRef, SimCluster
from sandbox.cluster.discovery import Resource
from sandbox.cluster.sim.deployments import DeploymentController
from sandbox.cluster.sim.pods import Kubelet
from sandbox.cluster.sim.replicasets import ReplicaSetController
from sandbox.registry import PROFILES, ImageProfile

WEB = ObjRef("Deployment", "web", "default")
IMAGES: dict[str, ImageProfile] = {
    "web:v1": PROFILES["default"], "web:v2": PROFILES["default"],
    "web:errors": PROFILES["errors"], "web:slow": PROFILES["slow"],
}


def deployment(image: str = "web:v1", replicas: int = 3, name: str = "web",
               namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"team": "a"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": image}]}}},
    }


def service(name: str = "web", namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def make(seed: int = 0) -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, IMAGES.get, seed=seed)


def settle(clock: VirtualClock, cluster: SimCluster, seconds: float = 10) -> None:
    for _ in range(int(seconds)):
        clock.advance(1)
        cluster.step()


def test_is_a_cluster_backend() -> None:
    _, cluster = make()
    backend: ClusterBackend = cluster
    assert backend.name == "sim"
    assert {n["metadata"]["name"] for n in cluster.list("Namespace")} >= {"default"}


def test_apply_creates_configures_and_reports_unchanged() -> None:
    clock, cluster = make()
    assert [r.action for r in cluster.apply([deployment(), service()])] == ["created", "created"]
    settle(clock, cluster)
    assert [r.action for r in cluster.apply([deployment(), service()])] == [
        "unchanged", "unchanged"]
    dep = cluster.get(WEB)
    assert dep is not None
    meta = dep["metadata"]
    assert meta["generation"] == 1 and meta["uid"] and meta["resourceVersion"]
    assert meta["creationTimestamp"] == "1970-01-01T00:00:00Z"
    relabelled = deployment()
    relabelled["metadata"]["labels"] = {"team": "b"}
    assert cluster.apply([relabelled])[0].action == "configured"
    dep = cluster.get(WEB)
    assert dep is not None and dep["metadata"]["generation"] == 1  # labels are not spec
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert cluster.apply([deployment("web:v2")])[0].action == "configured"
    dep = cluster.get(WEB)
    assert dep is not None and dep["metadata"]["generation"] == 2
    assert dep["metadata"]["labels"] == {"team": "a"}


def test_dry_run_validates_and_changes_nothing() -> None:
    clock, cluster = make()
    cluster.apply([deployment()])
    settle(clock, cluster)
    before = json.dumps(cluster.snapshot(), sort_keys=True)
    bad_selector = deployment(name="bad")
    bad_selector["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    no_image = deployment(name="noimage")
    del no_image["spec"]["template"]["spec"]["containers"][0]["image"]
    results = cluster.apply([
        deployment("web:v2"),
        namespace("shop"), deployment(name="cart", namespace="shop"),
        deployment(name="lost", namespace="nowhere"),
        bad_selector, no_image,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}},
        {"apiVersion": "example.com/v1", "kind": "Widget",
         "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 3}},
    ], dry_run=True)
    actions = [(r.action, r.ref.short) for r in results]
    assert actions == [("configured", "Deployment/web"), ("created", "Namespace/shop"),
                       ("created", "Deployment/cart"), ("invalid", "Deployment/lost"),
                       ("invalid", "Deployment/bad"), ("invalid", "Deployment/noimage"),
                       ("invalid", "ConfigMap/"), ("invalid", "Widget/w")]
    errors = [r.error for r in results if r.action == "invalid"]
    assert errors[4].startswith('no matches for kind "Widget" in version "example.com/v1"')
    assert 'namespaces "nowhere" not found' in errors[0]
    assert "selector" in errors[1]
    assert "image" in errors[2]
    assert "name" in errors[3]
    assert errors[4] == ('no matches for kind "Widget" in version "example.com/v1": '
                         "ensure CRDs are installed first")
    assert json.dumps(cluster.snapshot(), sort_keys=True) == before


def test_generic_kinds_are_stored_as_given() -> None:
    _, cluster = make()
    cluster.discovery.register([Resource("example.com", "v1", "Widget", "widgets", "widget",
                                         (), True, ("create", "get", "list"))])
    widget = {"apiVersion": "example.com/v1", "kind": "Widget",
              "metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 3}}
    assert cluster.apply([widget])[0].action == "created"
    stored = cluster.get(ObjRef("Widget", "w", "default"))
    assert stored is not None and stored["spec"] == {"size": 3}
    assert cluster.apply([widget])[0].action == "unchanged"


@pytest.mark.parametrize(("api_version", "kind", "why"), [
    ("extensions/v1beta1", "Deployment", "was removed in Kubernetes 1.16; use apps/v1"),
    ("batch/v1beta1", "CronJob", "was removed in Kubernetes 1.25; use batch/v1"),
    ("apps/v1", "Deploymnet", ""),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease", "ensure CRDs are installed first"),
])
def test_kinds_the_server_does_not_serve_are_refused(api_version: str, kind: str,
                                                     why: str) -> None:
    _, cluster = make()
    obj = {**deployment(name="old"), "apiVersion": api_version, "kind": kind}
    [result] = cluster.apply([obj])
    assert result.action == "invalid"
    assert (result.error or "").startswith(
        f'no matches for kind "{kind}" in version "{api_version}"')
    assert why in (result.error or "")
    assert cluster.get(ObjRef(kind, "old", "default")) is None


def test_the_chosen_kubernetes_version_decides_what_is_served() -> None:
    clock = VirtualClock(0.0)
    old = SimCluster(clock, lambda image: PROFILES["default"], kubernetes_version="1.24.0")
    cron = {"apiVersion": "batch/v1beta1", "kind": "CronJob",
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "c", "image": "web:v1"}]}}}}}}
    assert old.apply([cron], dry_run=True)[0].action == "created"
    _, new = make()
    assert new.apply([cron], dry_run=True)[0].action == "invalid"


def test_secret_string_data_is_stored_base64_and_stays_unchanged() -> None:
    _, cluster = make()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "s", "namespace": "default"}, "stringData": {"pw": "hunter2"}}
    cluster.apply([secret])
    stored = cluster.get(ObjRef("Secret", "s", "default"))
    assert stored is not None and stored["data"] == {"pw": "aHVudGVyMg=="}
    assert "stringData" not in stored
    assert cluster.apply([secret])[0].action == "unchanged"


def test_direct_edits_drift_and_a_reapply_corrects_them() -> None:
    clock, cluster = make()
    cluster.apply([deployment()])
    settle(clock, cluster)
    cluster.scale(WEB, 5)
    settle(clock, cluster)
    dep = cluster.get(WEB)
    assert dep is not None and dep["status"]["readyReplicas"] == 5
    cluster.set_image(WEB, "web", "web:v2")
    settle(clock, cluster, 20)
    assert {p["spec"]["containers"][0]["image"] for p in cluster.list("Pod")} == {"web:v2"}
    assert cluster.apply([deployment()])[0].action == "configured"
    settle(clock, cluster, 20)
    pods = cluster.list("Pod")
    assert len(pods) == 3 and {p["spec"]["containers"][0]["image"] for p in pods} == {"web:v1"}
    with pytest.raises(ClusterError, match="unable to find container"):
        cluster.set_image(WEB, "nope", "x")
    with pytest.raises(ClusterError, match="not found"):
        cluster.scale(ObjRef("Deployment", "ghost", "default"), 1)


def test_deleting_a_deployment_cascades() -> None:
    clock, cluster = make()
    cluster.apply([deployment(), service()])
    settle(clock, cluster)
    assert cluster.delete(WEB) is True
    assert cluster.get(WEB) is None
    assert cluster.list("ReplicaSet") == []
    settle(clock, cluster, 3)
    assert cluster.list("Pod") == []
    ep = cluster.get(ObjRef("Endpoints", "web", "default"))
    assert ep is not None and ep["subsets"] == []
    assert cluster.delete(WEB) is False


def test_deleting_a_namespace_deletes_everything_in_it() -> None:
    clock, cluster = make()
    cluster.apply([namespace("shop"), deployment(namespace="shop"), service(namespace="shop"),
                   deployment(name="keep")])
    settle(clock, cluster)
    assert cluster.delete(ObjRef("Namespace", "shop")) is True
    left = {(o["kind"], o["metadata"].get("namespace")) for o in cluster.list()}
    assert not any(ns == "shop" for _, ns in left)
    assert cluster.get(ObjRef("Deployment", "keep", "default")) is not None
    settle(clock, cluster, 3)
    with pytest.raises(ClusterError, match="may not be deleted"):
        cluster.delete(ObjRef("Namespace", "default"))


def scenario(seed: int, big_jump: bool = False) -> SimCluster:
    clock, cluster = make(seed)
    cluster.apply([deployment(), service(), deployment(name="api", replicas=2),
                   service("api")])
    settle(clock, cluster)
    cluster.apply([deployment("web:slow"), deployment("web:errors", name="api", replicas=2)])
    if big_jump:
        clock.advance(300)
        cluster.step()
    else:
        for _ in range(1200):
            clock.advance(0.25)
            cluster.step()
    return cluster


def test_same_seed_gives_the_same_snapshot() -> None:
    a = json.dumps(scenario(42).snapshot(), sort_keys=True)
    b = json.dumps(scenario(42).snapshot(), sort_keys=True)
    c = json.dumps(scenario(43).snapshot(), sort_keys=True)
    assert a == b
    assert a != c


class Work:
    """Counts the controllers' work (kubelet transitions, ReplicaSet and Deployment
    syncs): what a test can assert instead of wall-clock time, which is the bench's."""

    TARGETS = ((Kubelet, "fire"), (ReplicaSetController, "sync"), (DeploymentController, "sync"))

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        for cls, name in self.TARGETS:
            monkeypatch.setattr(cls, name, self._counted(cls.__name__, getattr(cls, name)))

    def _counted(self, key: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[key] += 1
            return method(*args, **kwargs)
        return counted

    def take(self) -> collections.Counter[str]:
        done, self.counts = self.counts, collections.Counter()
        return done


def test_five_minute_rollout_settles_in_one_jump(monkeypatch: pytest.MonkeyPatch) -> None:
    work = Work(monkeypatch)
    jumped = scenario(5, big_jump=True)
    in_one_jump = work.take()
    stepped = scenario(5)
    # Work follows the rollout's transitions, not the number of steps: one jump over
    # five minutes does exactly what 1,200 quarter-second steps do.
    assert in_one_jump == work.take() and in_one_jump["Kubelet"] > 0
    for cluster in (jumped, stepped):
        dep = cluster.get(WEB)
        assert dep is not None
        st = dep["status"]
        assert (st["updatedReplicas"], st["readyReplicas"], st["replicas"]) == (3, 3, 3)
        assert {p["spec"]["containers"][0]["image"] for p in cluster.list(
            "Pod", labels={"app": "web"})} == {"web:slow"}
    # Pod lives depend only on simulated time, not on how often step() was called.
    def lives(c: SimCluster) -> list[tuple[str, str]]:
        return sorted((p["metadata"]["name"], p["metadata"]["creationTimestamp"])
                      for p in c.list("Pod"))
    assert lives(jumped) == lives(stepped)


def services_objects(count: int) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [namespace(f"team{i}") for i in range(5)]
    for i in range(count):
        ns = f"team{i % 5}"
        objects += [deployment(name=f"app{i}", namespace=ns), service(f"app{i}", ns),
                    {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"app{i}", "namespace": ns}, "data": {"k": "v"}},
                    {"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": f"app{i}", "namespace": ns}}]
    return objects


def test_a_thousand_objects_apply_and_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time is measured by `make bench` (section sim); here, the work done per service
    stays the same whatever the number of services."""
    work = Work(monkeypatch)
    per_service = []
    for count in (100, 200):
        clock, cluster = make()
        objects = services_objects(count)
        assert all(r.action == "created" for r in cluster.apply(objects, dry_run=True))
        assert all(r.action == "created" for r in cluster.apply(objects))
        for _ in range(10):
            clock.advance(1)
            cluster.step()
        done = work.take()
        per_service.append({k: v / count for k, v in done.items()})
        assert len(cluster.list("Pod")) == 3 * count
        assert all(d["status"]["readyReplicas"] == 3 for d in cluster.list("Deployment"))
        assert all(r.action == "unchanged" for r in cluster.apply(objects))
        assert sum(work.take().values()) == 0  # an unchanged apply gives controllers nothing
    assert per_service[0] == per_service[1] and per_service[0]["Kubelet"] > 0


def test_snapshot_is_json_and_metrics_show_errors_per_version() -> None:
    cluster = scenario(1)
    snap = cluster.snapshot()
    text = json.dumps(snap)
    assert json.loads(text)["backend"] == "sim"
    assert {o["kind"] for o in snap["objects"]} >= {
        "Deployment", "ReplicaSet", "Pod", "Service", "Endpoints", "Namespace"}
    metrics = snap["metrics"]
    api, web = metrics["default/api"], metrics["default/web"]
    assert 0.15 < api["error_rate"] < 0.35
    assert web["error_rate"] < 0.02
    assert api["rps"] > 0 and web["p95_ms"] >= web["p50_ms"] > 0
    assert set(api["versions"]) == {"errors"}
    assert api["versions"]["errors"]["image"] == "web:errors"
    assert len(api["pods"]) == 2
    assert all(p["requests"] > 0 for p in api["pods"].values())


def test_metrics_split_by_version_during_a_rollout() -> None:
    clock, cluster = make()
    cluster.apply([deployment(replicas=4), service()])
    settle(clock, cluster, 70)
    cluster.apply([deployment("web:slow", replicas=4)])
    settle(clock, cluster, 45)  # one new pod ready (30 s start), three old still serving
    versions = cluster.metrics()["default/web"]["versions"]
    assert set(versions) == {"v1", "slow"}
    assert versions["v1"]["requests"] > versions["slow"]["requests"] > 0


def test_apply_step_and_reads_from_different_threads() -> None:
    import threading

    clock, cluster = make()
    errors: list[BaseException] = []

    def guarded(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
        return run

    def reconciler() -> None:
        for i in range(40):
            cluster.apply([deployment("web:v1" if i % 2 else "web:v2"), service()])

    def ticker() -> None:
        for _ in range(200):
            clock.advance(0.5)
            cluster.step()

    def reader() -> None:
        for _ in range(100):
            json.dumps(cluster.snapshot())
            cluster.list("Pod")

    threads = [threading.Thread(target=guarded(f)) for f in (reconciler, ticker, reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    settle(clock, cluster, 30)
    dep = cluster.get(WEB)
    assert dep is not None and dep["status"]["readyReplicas"] == 3
