"""The analysis window matters (issue 12 point 6): a latency regression that starts a
while after the rollout passes the first checks and fails the later ones, and a window
that ends before it starts lets it through. The simulated cluster, the metric sampler
and the analysis on one simulated clock, with no engine and no sleeps."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sandbox.analysis import Analyzer, Objectives
from sandbox.clock import VirtualClock
from sandbox.cluster import SimCluster
from sandbox.metrics import MetricsSampler
from sandbox.registry import PROFILES
from sandbox.store import Store


def deployment(tag: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "containers": [{"name": "web", "image": f"web:{tag}"}]}}}}


SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "demo"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}


def judge(tmp_path: Path, count: int, after: float = 50.0) -> dict[str, Any]:
    """Release web:2 (late-latency) over web:1, start the analysis when the rollout is
    done, sample every 15 s: the verdict with its analysis."""
    clock = VirtualClock()
    images = {"web:1": PROFILES["default"],
              "web:2": replace(PROFILES["late-latency"], regress_after=after)}
    cluster = SimCluster(clock, images.get, seed=4)
    sampler = MetricsSampler(Store(tmp_path / f"state-{count}.db"), cluster, clock.now)
    published: list[tuple[str, dict[str, Any]]] = []
    settings = SimpleNamespace(analysis_interval_seconds=15.0, analysis_count=count,
                               analysis_failure_limit=1)
    analyzer = Analyzer(lambda kind, message, **data: published.append((kind, data)),
                        lambda sha: {}, Objectives, lambda: settings)
    sampler.listeners.append(analyzer.on_sample)

    def run(seconds: float) -> None:
        for _ in range(int(seconds * 2)):
            clock.advance(0.5)
            cluster.step()
            if sampler.due(clock.now()):
                sampler.sample()

    cluster.apply([NAMESPACE, SERVICE, deployment("1")])
    run(30)
    cluster.apply([deployment("2")])
    analyzer.on_event("sync.finished", {"new_revision": True, "revision": "m2",
                                        "hld_sha": "h2",
                                        "changed": ["Deployment/demo/web configured"]},
                      clock.now())
    while any(p["status"]["containerStatuses"][0]["image"] != "web:2" or
              not p["status"]["containerStatuses"][0]["ready"]
              for p in cluster.list("Pod")) and clock.now() < 120:
        run(0.5)
    analyzer.on_event("health.check", {"revision": "m2", "result": "Passed"}, clock.now())
    started = clock.now()
    while not any(k == "analysis.finished" for k, _ in published) and clock.now() < 400:
        run(0.5)
    done = [d for k, d in published if k == "analysis.finished"]
    assert len(done) == 1, published
    return {**done[0], "started": started}


def test_a_late_latency_regression_is_caught_after_the_first_checks_pass(
        tmp_path: Path) -> None:
    done = judge(tmp_path, count=5)
    assert done["verdict"] == "Failed", done
    checks = done["analysis"]["checks"]
    assert checks[0]["broken"] == [] and checks[1]["broken"] == []  # before it started
    assert checks[0]["workloads"]["demo/web"]["p95_ms"] < 150
    assert done["reason"].startswith("web: p95 latency ")
    assert "ms is above its SLO of 500ms in 2 of " in done["reason"], done["reason"]
    late = [c for c in checks if c["broken"]][0]["sim"] - done["started"]
    assert late > 30 and f"first broken {late:.0f}s into the analysis" in done["reason"]
    assert all(c["sim"] > done["started"] for c in checks)


def test_a_window_that_ends_before_the_regression_lets_it_through(tmp_path: Path) -> None:
    done = judge(tmp_path, count=2)
    assert done["verdict"] == "Succeeded", done
    assert done["analysis"]["failed_checks"] == 0


def test_the_same_seed_and_clock_give_the_same_verdict(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = judge(tmp_path / "a", count=5), judge(tmp_path / "b", count=5)
    assert first["analysis"]["checks"] == second["analysis"]["checks"]
