"""Issue 8, point 4: bounds on everything a push or a command can carry, refused at the
PR check (naming the HLD file and line) and again by the cluster, with repositories,
database and cluster left as they were."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandbox import limits
from sandbox.cli import main
from sandbox.clock import VirtualClock
from sandbox.cluster.base import ClusterError, ObjRef
from sandbox.cluster.sim import SimCluster
from sandbox.facade import Sandbox, SandboxError
from sandbox.gitutil import refs
from sandbox.hld import HldError, generate
from sandbox.pipelines import CIRunner, enqueue
from sandbox.registry import ImageProfile
from sandbox.validation import check as check_module
from sandbox.validation import check_hld
from sandbox.validation.bounds import Deadline, within
from sandbox.workspace import Settings

from .conftest import repos, rows


def ci(sb: Sandbox) -> CIRunner:
    return CIRunner(sb.ws, sb.bus, sb.prs)


def pr_with(sb: Sandbox, branch: str, files: dict[str, str]) -> int:
    sb.commit_files(branch, files, f"Change {branch}")
    return sb.open_pr(branch).id


def deployment(replicas: Any, name: str = "web", **meta: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", **meta},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": "img:1"}]}}},
    }


def sim(**kwargs: Any) -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, lambda image: ImageProfile(), seed=1, **kwargs)


# -- replicas ------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "message"), [
    ("99999999999", "must be at most 1000"),
    ("-5", "must be 0 or more"),
])
def test_replicas_out_of_bounds_fail_the_pr_check(sb: Sandbox, value: str, message: str) -> None:
    sb.change("replicas", [f"replicas={value}"], subcomponent="web")
    pr = sb.open_pr("replicas")
    before = repos(sb)
    ci(sb).run_pending()
    pr = sb.get_pr(pr.id)
    assert pr.checks_state == "failure"
    summary = pr.checks[0].summary
    assert "web/deployment.yaml:" in summary and "spec.replicas" in summary
    assert message in summary
    sb.approve_pr(pr.id, "reviewer")
    with pytest.raises(Exception, match="checks failed"):
        sb.merge_pr(pr.id, "operator")
    assert repos(sb) == before


def test_cluster_refuses_replicas_past_its_maximum() -> None:
    _, cluster = sim(max_replicas=50)
    results = cluster.apply([deployment(51)])
    assert results[0].action == "invalid"
    assert "spec.replicas" in str(results[0].error) and "at most 50" in str(results[0].error)
    assert cluster.apply([deployment(-5)])[0].action == "invalid"
    assert cluster.list("Deployment") == [] and cluster.list("Pod") == []


def test_direct_scale_past_the_maximum_is_refused_by_the_cluster() -> None:
    _, cluster = sim(max_replicas=50)
    cluster.apply([deployment(1)])
    ref = ObjRef("Deployment", "web", "default")
    with pytest.raises(ClusterError, match="at most 50"):
        cluster.scale(ref, 3_000_000)
    with pytest.raises(ClusterError, match="0 or more"):
        cluster.scale(ref, -5)
    assert cluster.get(ref)["spec"]["replicas"] == 1  # type: ignore[index]


@pytest.mark.parametrize(("replicas", "message"), [
    ("3000000", "must be at most 1000"), ("-5", "must be 0 or more")])
def test_cli_scale_out_of_bounds_is_refused(sb: Sandbox, capsys: pytest.CaptureFixture[str],
                                            replicas: str, message: str) -> None:
    before, jobs = repos(sb), rows(sb, "jobs")
    code = main(["cluster", "scale", "deployment/web", "--replicas", replicas,
                 "-w", str(sb.root)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --replicas") and message in err
    assert "Traceback" not in err
    assert repos(sb) == before and rows(sb, "jobs") == jobs  # never reached the queue


def test_facade_scale_on_a_running_engine_is_refused(tmp_path: Path) -> None:
    sb = Sandbox.init(tmp_path / "fast", settings=Settings(clock_speed=50.0))
    engine = sb.start_engine()
    ref = ObjRef("Deployment", "web", "demo")
    try:
        sb.wait_for_deployment(sb.branches()["main"], timeout=60)
        _refused_on_the_engine(sb, engine, ref)
    finally:
        sb.close()


def _refused_on_the_engine(sb: Sandbox, engine: Any, ref: ObjRef) -> None:
    before = engine.cluster.get(ref)["spec"]["replicas"]  # type: ignore[index]
    with pytest.raises(SandboxError, match="at most 1000"):
        sb.scale("deployment/web", 3_000_000)
    # The engine-side check refuses too, for callers that reach it without the facade.
    from sandbox import clusterops

    with pytest.raises(clusterops.OperationError, match="at most 1000"):
        clusterops.perform(engine, {"action": "scale", "target": "deployment/web",
                                    "replicas": 3_000_000, "namespace": "demo"})
    assert engine.cluster.get(ref)["spec"]["replicas"] == before  # type: ignore[index]


# -- the pod cap ---------------------------------------------------------------------------

def test_pods_past_the_cluster_cap_are_not_created_and_say_so() -> None:
    clock, cluster = sim(max_pods=10)
    cluster.apply([deployment(8, "a"), deployment(8, "b")])
    clock.advance(5)
    cluster.step()
    assert len(cluster.list("Pod")) == 10
    failed = [e for e in cluster.events() if e.reason == "FailedCreate"]
    assert failed and failed[0].type == "Warning"
    assert "at most 10 pods" in failed[0].message and "max_pods" in failed[0].message
    # Room again: the ReplicaSet left short gets its pods.
    cluster.scale(ObjRef("Deployment", "a", "default"), 2)
    clock.advance(60)
    cluster.step()
    pods = cluster.list("Pod")
    assert sum(p["metadata"]["name"].startswith("b-") for p in pods) == 8


def test_a_direct_pod_past_the_cap_is_refused() -> None:
    _, cluster = sim(max_pods=1)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "img:1"}]}}
    second = {**pod, "metadata": {"name": "q", "namespace": "default"}}
    results = cluster.apply([pod, second])
    assert [r.action for r in results] == ["created", "invalid"]
    assert "at most 1 pods" in str(results[1].error)


# -- deep nesting and the CI time budget ---------------------------------------------------

DEEP = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"  # 200 KB of nested brackets


def test_deep_nesting_fails_fast_and_the_queue_moves_on(
        sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # yamllint may run in a child process: it leaves a mark on disk for each HLD it reads.
    marks = tmp_path / "linted"
    marks.mkdir()
    real_lint = check_module.lint_hld

    def marking_lint(hld: Path, **kwargs: Any) -> list[Any]:
        deep = (hld / "web" / "deep.yaml").exists()
        (marks / f"{'deep' if deep else 'other'}-{hld.parent.name}").touch()
        return real_lint(hld, **kwargs)

    monkeypatch.setattr(check_module, "lint_hld", marking_lint)
    deep = pr_with(sb, "deep", {"web/deep.yaml": DEEP})
    good = pr_with(sb, "good", {"README.md": "a harmless change\n"})
    ci(sb).run_pending()
    first, second = sb.get_pr(deep), sb.get_pr(good)
    assert first.checks_state == "failure"
    assert "web/deep.yaml:1" in first.checks[0].summary
    assert "nested more than 100 levels" in first.checks[0].summary
    assert second.checks_state == "success"
    # yamllint never saw the deep file (the good head touches no YAML: nothing to lint).
    seen = [p.name for p in marks.iterdir()]
    assert not any(name.startswith("deep") for name in seen)


def test_a_check_past_its_time_budget_names_the_slowest_phase(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    real_lint = check_module.lint_hld

    def slow_lint(hld: Path) -> list[Any]:
        now[0] += 1000.0  # this yamllint run takes "1000 s" of a fake clock
        return real_lint(hld)

    monkeypatch.setattr(check_module, "lint_hld", slow_lint)
    root = _static_hld(tmp_path / "hld", configmap("a"))
    report = check_hld(root, ["prod"], deadline=Deadline(60, lambda: now[0], hard=False))
    budget = [f for f in report.findings if f.rule == "time-budget"]
    assert not report.ok and len(budget) == 1
    assert "time budget of 60s" in budget[0].message
    assert "stopped after yamllint" in budget[0].message
    assert "slowest: yamllint (1000.0s)" in budget[0].message


@pytest.mark.timeout(60)  # without the hard deadline this run would never end
def test_a_job_stuck_past_its_budget_is_stopped_and_the_queue_moves_on(
        sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    real_lint = check_module.lint_hld

    def stuck_lint(hld: Path, **kwargs: Any) -> list[Any]:
        if (hld / "web" / "stuck.yaml").exists():
            threading.Event().wait()  # never returns: only the deadline ends this run
        return real_lint(hld, **kwargs)

    monkeypatch.setattr(check_module, "lint_hld", stuck_lint)
    stuck = pr_with(sb, "stuck", {"web/stuck.yaml": "a: 1\n"})
    good = pr_with(sb, "good", {"README.md": "a harmless change\n"})
    runner = ci(sb)
    sb.ws.settings = replace(sb.ws.settings, ci_job_seconds=3.0)
    first_job = min(j["id"] for j in sb.jobs(10))
    runner.run(first_job)
    check = sb.get_pr(stuck).checks[0]
    assert check.status == "failure"
    assert "went past its time budget of 3s" in check.summary
    sb.ws.settings = replace(sb.ws.settings, ci_job_seconds=120.0)
    assert runner.run_pending() == 1  # the next job in the queue runs
    assert sb.get_pr(good).checks_state == "success"
    assert [j["status"] for j in sorted(sb.jobs(10), key=lambda j: j["id"])] == [
        "failure", "success"]


def test_a_generate_past_its_budget_fails_before_pushing_and_the_queue_moves_on(
        sb: Sandbox) -> None:
    sha = sb.branches()["main"]
    manifests_before = refs(sb.ws.manifests_git, "refs/")
    runner = ci(sb)
    ticks = iter(range(0, 10_000, 50))  # every reading of the job's clock is 50 s later
    runner.monotonic = lambda: float(next(ticks))
    sb.ws.settings = replace(sb.ws.settings, ci_job_seconds=60.0)
    slow = enqueue(sb.ws, "generate", sha=sha)
    good = enqueue(sb.ws, "validate", pr=pr_with(sb, "good", {"README.md": "fine\n"}),
                   sha=sb.branches()["good"])
    runner.run(slow)
    job = sb.job(slow)
    assert job["status"] == "failure"
    assert "went past its time budget of 60s" in job["result"]["error"]
    assert "slowest:" in job["result"]["error"]
    assert refs(sb.ws.manifests_git, "refs/") == manifests_before  # nothing was pushed
    runner.monotonic = time.monotonic
    sb.ws.settings = replace(sb.ws.settings, ci_job_seconds=120.0)
    runner.run(good)
    assert sb.job(good)["status"] == "success"


def test_the_stoppable_child_keeps_none_of_the_engines_files(tmp_path: Path) -> None:
    # An inherited descriptor of engine.lock would keep the lock after the engine died.
    with open(tmp_path / "engine.lock", "w") as held:
        def still_open() -> bool:
            try:
                os.fstat(held.fileno())
            except OSError:
                return False
            return True

        assert within(Deadline(30), "probe", still_open) is False
        assert still_open()


# -- objects, components, files, labels, kinds ---------------------------------------------

def _static_hld(root: Path, manifest: str, name: str = "m.yaml") -> Path:
    (root / "m").mkdir(parents=True)
    (root / "component.yaml").write_text("name: app\ntype: static\npath: ./m\n")
    (root / "m" / name).write_text(manifest)
    return root


def _errors(root: Path) -> list[str]:
    return [str(f) for f in check_hld(root, ["prod"]).findings if f.severity == "error"]


def configmap(name: str, **meta: Any) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}",
             "  namespace: demo"]
    for key, values in meta.items():
        lines.append(f"  {key}:")
        lines.extend(f"    {k!r}: {v!r}" for k, v in values.items())
    return "\n".join(lines) + "\n"


def test_too_many_objects_through_the_pr_check(sb: Sandbox,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_OBJECTS_PER_COMMIT", 20)  # the real one is 30,000
    many = "---\n".join(configmap(f"c{i}") for i in range(21))
    pr = pr_with(sb, "many", {"app-config/many.yaml": many})
    before = repos(sb)
    ci(sb).run_pending()
    check = sb.get_pr(pr).checks[0]
    assert check.status == "failure"
    assert "app-config/many.yaml:" in check.summary and "more than 20 objects" in check.summary
    assert repos(sb) == before


def test_too_many_components(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_COMPONENTS", 30)  # the real one is 1000
    (tmp_path / "m").mkdir()
    subs = "".join(f"  - name: c{i}\n    type: static\n    path: ./m\n" for i in range(31))
    (tmp_path / "component.yaml").write_text(f"name: app\nsubcomponents:\n{subs}")
    with pytest.raises(HldError, match="more than 30 components"):
        generate(tmp_path, ["prod"])


def test_oversize_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _static_hld(tmp_path / "hld", configmap("a"))
    (root / "m" / "big.yaml").write_text("# padding\n" * 300_000)  # 3 MB
    monkeypatch.setattr(check_module, "generate", lambda *a, **k: pytest.fail("parsed"))
    errors = _errors(root)
    assert any("m/big.yaml: error: file is 3000000 bytes, over the limit" in e for e in errors)


@pytest.mark.parametrize(("meta", "message"), [
    ({"labels": {"a" * 64: "x"}}, "name part is 64 characters"),
    ({"labels": {"x" * 254 + "/a": "x"}}, "prefix must be a DNS subdomain"),
    ({"labels": {"app": "v" * 64}}, "value is 64 characters"),
    ({"labels": {"app": "a b"}}, "value must be letters"),
    ({"annotations": {"big": "x" * (256 * 1024)}}, "over Kubernetes' limit of 262144"),
])
def test_oversize_labels_and_annotations(tmp_path: Path, meta: dict[str, Any],
                                         message: str) -> None:
    root = _static_hld(tmp_path / "hld", configmap("a", **meta))
    errors = _errors(root)
    assert any(e.startswith("m/m.yaml:1: error: ConfigMap/demo/a:") and message in e
               for e in errors), errors
    # The cluster refuses the same object with the same words.
    _, cluster = sim()
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "a", "namespace": "default", **meta}}
    result = cluster.apply([obj])[0]
    assert result.action == "invalid" and message in str(result.error)
    # Only each namespace's own kube-root-ca.crt, as in every namespace.
    assert {c["metadata"]["name"] for c in cluster.list("ConfigMap")} == {"kube-root-ca.crt"}


@pytest.mark.parametrize("kind", ["../../../../etc/passwd", "Config Map", "x/y", "1Pod"])
def test_bad_kind_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    root = _static_hld(tmp_path / "hld", f"apiVersion: v1\nkind: {kind!r}\nmetadata:\n"
                       "  name: a\n")
    looked_up: list[str] = []
    from sandbox.validation import schema

    real = schema.validator_for
    monkeypatch.setattr(schema, "validator_for",
                        lambda v, k, a: looked_up.append(k) or real(v, k, a))
    errors = _errors(root)
    assert any(e.startswith("m/m.yaml:1: error: kind") and "is not a valid kind name" in e
               for e in errors), errors
    assert kind not in looked_up  # never turned into a schema file name
    _, cluster = sim()
    result = cluster.apply([{"apiVersion": "v1", "kind": kind, "metadata": {"name": "a"}}])[0]
    assert result.action == "invalid" and "not a valid kind name" in str(result.error)


def test_cluster_refuses_an_apply_past_the_object_limit() -> None:
    _, cluster = sim()
    objects = [{"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"c{i}", "namespace": "default"}}
               for i in range(limits.MAX_OBJECTS_PER_COMMIT + 1)]
    results = cluster.apply(objects)
    assert {r.action for r in results} == {"invalid"}
    most = limits.MAX_OBJECTS_PER_COMMIT
    assert f"{most + 1} objects, over the limit of {most}" in str(results[0].error)
    assert {c["metadata"]["name"] for c in cluster.list("ConfigMap")} == {"kube-root-ca.crt"}
