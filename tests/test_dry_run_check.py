"""Issue 9, point 5: the PR check dry-runs the head's objects against the live cluster,
as Flux does before it applies, and the simulated API server refuses changes to
immutable fields (apply and dry run alike), so a green check never leaves main stuck."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.facade import Sandbox
from sandbox.pipelines import CIRunner
from sandbox.registry import ImageProfile

SELECTOR_REFUSED = (
    'Deployment.apps "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{'
    'MatchLabels:map[string]string{"app":"web2"}, '
    "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")


def sim() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, lambda image: ImageProfile(), seed=1)


def workload(kind: str, app: str = "web", api: str = "apps/v1") -> dict[str, Any]:
    labels = {"app": app}
    spec: dict[str, Any] = {"selector": {"matchLabels": labels},
                            "template": {"metadata": {"labels": labels},
                                         "spec": {"containers": [{"name": "c",
                                                                  "image": "img:1"}]}}}
    if kind == "StatefulSet":
        spec["serviceName"] = "web"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "web", "namespace": "default"},
            "spec": spec}


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet"])
def test_a_selector_change_is_refused_as_the_api_server_does(kind: str) -> None:
    _, cluster = sim()
    assert cluster.apply([workload(kind)])[0].error is None
    before = cluster.get(ObjRef(kind, "web", "default"))
    changed = workload(kind, app="web2")
    for dry_run in (True, False):
        [result] = cluster.apply([changed], dry_run=dry_run)
        assert result.action == "invalid"
        assert result.error == SELECTOR_REFUSED.replace("Deployment.apps", f"{kind}.apps")
    assert cluster.get(ObjRef(kind, "web", "default")) == before  # nothing changed
    # Mutable fields still change.
    scaled = workload(kind)
    scaled["spec"]["replicas"] = 3
    assert cluster.apply([scaled])[0].action == "configured"


def test_legacy_extensions_deployments_kept_mutable_selectors() -> None:
    _, cluster = sim()
    cluster.apply([workload("Deployment", api="extensions/v1beta1")])
    [result] = cluster.apply([workload("Deployment", "web2", api="extensions/v1beta1")],
                             dry_run=True)
    assert "immutable" not in str(result.error)


def test_statefulset_job_service_and_claim_immutable_fields() -> None:
    _, cluster = sim()
    sts = workload("StatefulSet")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once",
                                                                "namespace": "default"},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "c", "image": "img:1"}]}}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web",
                                                              "namespace": "default"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "data", "namespace": "default"},
           "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}}
    assert all(r.error is None for r in cluster.apply([sts, job, svc, pvc]))

    sts2 = copy.deepcopy(sts)
    sts2["spec"]["serviceName"] = "other"
    job2 = copy.deepcopy(job)
    job2["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    live_ip = cluster.get(ObjRef("Service", "web", "default"))["spec"]["clusterIP"]  # type: ignore[index]
    svc2 = copy.deepcopy(svc)
    svc2["spec"]["clusterIP"] = "10.96.250.250"
    pvc2 = copy.deepcopy(pvc)
    pvc2["spec"]["accessModes"] = ["ReadWriteMany"]
    errors = [r.error for r in cluster.apply([sts2, job2, svc2, pvc2], dry_run=True)]
    assert errors == [
        'StatefulSet.apps "web" is invalid: spec: Forbidden: updates to statefulset spec for '
        "fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        'Job.batch "once" is invalid: spec.template: Invalid value: '
        "core.PodTemplateSpec{...}: field is immutable",
        'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: '
        '[]string{"10.96.250.250"}: may not change once set',
        'PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after '
        "creation except resources.requests and volumeAttributesClassName for bound claims",
    ]
    # What may change does: the same address, a larger claim, a new StatefulSet template.
    svc3 = copy.deepcopy(svc)
    svc3["spec"]["clusterIP"] = live_ip
    pvc3 = copy.deepcopy(pvc)
    pvc3["spec"]["resources"]["requests"]["storage"] = "2Gi"
    sts3 = copy.deepcopy(sts)
    sts3["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
    assert [r.error for r in cluster.apply([svc3, pvc3, sts3], dry_run=True)] == [None] * 3


# -- the PR check -----------------------------------------------------------------------

@pytest.fixture
def sb(tmp_path: Path, serve) -> Iterator[Sandbox]:  # type: ignore[no-untyped-def]
    sandbox = Sandbox.init(tmp_path / "ws")
    serve(sandbox.root)
    yield sandbox
    sandbox.close()


@pytest.fixture
def live(sb: Sandbox) -> tuple[CIRunner, SimCluster]:
    """A runner whose dry run talks to a cluster running main, as the engine's does."""
    _, cluster = sim()
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    main = runner._generated(sb.branches()["main"])
    assert all(r.error is None for r in cluster.apply([d.obj for d in main.documents]))
    runner.dry_run = lambda objects: cluster.apply(objects, dry_run=True)
    return runner, cluster


def check(sb: Sandbox, runner: CIRunner, branch: str, files: dict[str, str]) -> Any:
    sb.commit_files(branch, files, f"Change {branch}")
    pr = sb.open_pr(branch)
    runner.run_pending()
    return sb.get_pr(pr.id)


ISTIO = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mesh\n  namespace: istio-system\n"
         "data:\n  mesh: '{}'\n")


def test_an_object_in_a_namespace_nowhere_fails_the_check_at_its_file_and_line(
        sb: Sandbox, live: tuple[CIRunner, SimCluster]) -> None:
    runner, cluster = live
    pr = check(sb, runner, "mesh", {"web/mesh.yaml": ISTIO})
    assert pr.checks_state == "failure"
    summary = pr.checks[0].summary
    assert "web/mesh.yaml:1" in summary and "ConfigMap/istio-system/mesh" in summary
    assert 'namespaces "istio-system" not found' in summary
    assert "add the Namespace to the HLD" in summary
    # With the Namespace in the same commit the dry run passes, as Flux's would.
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n---\n"
    pr = check(sb, runner, "mesh-ns", {"web/mesh.yaml": namespace + ISTIO})
    assert pr.checks_state == "success", pr.checks[0].summary
    assert cluster.get(ObjRef("Namespace", "istio-system")) is None  # a dry run only


def test_an_immutable_selector_change_fails_the_check_at_its_file_and_line(
        sb: Sandbox, live: tuple[CIRunner, SimCluster]) -> None:
    runner, _ = live
    text = sb.hld_file("web/deployment.yaml").replace("app: web\n", "app: web2\n")
    pr = check(sb, runner, "relabel", {"web/deployment.yaml": text})
    assert pr.checks_state == "failure"
    job = sb.jobs(1)[0]
    [finding] = [f for f in job["result"]["findings"] if "[dry-run]" in f]
    assert finding.startswith("web/deployment.yaml:1: error: Deployment/demo/web: the cluster "
                              "refuses it (server-side dry run")
    assert SELECTOR_REFUSED in finding
    assert "server-side dry run against the live cluster" in job["log"]


def test_without_a_live_cluster_the_check_says_it_skipped_the_dry_run(sb: Sandbox) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    pr = check(sb, runner, "mesh", {"web/mesh.yaml": ISTIO})
    assert pr.checks_state == "success"
    assert "no live cluster" in sb.jobs(1)[0]["log"]


def test_the_engine_gives_its_cluster_to_the_check(sb: Sandbox) -> None:
    from sandbox.engine import Engine

    clock, cluster = sim()
    engine = Engine(sb.ws, clock=clock, cluster=cluster, poll=False)
    try:
        assert engine.ci.dry_run is not None
        [result] = engine.ci.dry_run([{"apiVersion": "v1", "kind": "ConfigMap",
                                       "metadata": {"name": "x", "namespace": "nowhere"}}])
        assert result.error == 'namespaces "nowhere" not found'
        assert cluster.get(ObjRef("ConfigMap", "x", "nowhere")) is None
    finally:
        close = getattr(engine, "close", None) or getattr(engine, "stop", None)
        if close is not None:
            close()
