"""Issue 12 point 1: metrics over time. The simulated cluster's rate, errors, latency,
CPU and memory are sampled on the clock into SQLite, per workload and per pod, with each
sample's simulated time; retention bounds the table; `gitops-sandbox metrics` prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.cli import main
from sandbox.clock import VirtualClock
from sandbox.cluster import SimCluster
from sandbox.metrics import MetricsError, MetricsSampler, parse_duration, query
from sandbox.registry import PROFILES, ImageProfile
from sandbox.store import Store
from sandbox.workspace import init_workspace

IMAGES: dict[str, ImageProfile] = {"web:v1": PROFILES["fast"], "api:bad": PROFILES["errors"]}


def deployment(name: str, image: str, replicas: int = 2) -> dict[str, Any]:
    resources = {"requests": {"cpu": "50m", "memory": "64Mi"},
                 "limits": {"cpu": "250m", "memory": "128Mi"}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "demo"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image,
                                                           "resources": resources}]}}}}


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name,
                                                               "namespace": "demo"},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}


@pytest.fixture
def cluster() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    sim = SimCluster(clock, IMAGES.get)
    sim.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}},
               deployment("web", "web:v1"), service("web"),
               deployment("api", "api:bad", 1), service("api")])
    run(clock, sim, 30)
    return clock, sim


def run(clock: VirtualClock, sim: SimCluster, seconds: int) -> None:
    for _ in range(seconds):
        clock.advance(1)
        sim.step()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.db")


def by_target(rows: list[Any]) -> dict[str, Any]:
    return {f"{r.kind}/{r.name}": r for r in rows}


def test_each_sample_has_its_simulated_time_per_workload_and_pod(
        cluster: tuple[VirtualClock, SimCluster], store: Store) -> None:
    clock, sim = cluster
    sampler = MetricsSampler(store, sim, clock.now, interval=15, retention=600)
    first = by_target(sampler.sample())
    web_pods = [k for k, s in first.items() if s.workload == "Deployment/demo/web"
                and s.kind == "Pod"]
    assert len(web_pods) == 2 and "Deployment/web" in first and "Deployment/api" in first
    # A pod's rate is measured between two of its samples: the first has none yet.
    assert first[web_pods[0]].values["rps"] is None
    assert first[web_pods[0]].values["cpu_m"] and first[web_pods[0]].values["memory_mib"]
    run(clock, sim, 15)
    assert sampler.due(clock.now())
    second = by_target(sampler.sample())
    pod = second[web_pods[0]].values
    assert pod["rps"] and pod["rps"] > 0 and pod["error_rate"] is not None
    assert 0 < pod["p50_ms"] <= pod["p95_ms"] <= pod["p99_ms"]
    assert 2.0 <= pod["cpu_m"] <= 250 and 0 < pod["memory_mib"] <= 128
    api = second["Deployment/api"].values
    assert 0.15 < api["error_rate"] < 0.35 and api["rps"] > 0
    web = second["Deployment/web"].values
    assert web["error_rate"] < 0.05
    assert web["cpu_m"] == pytest.approx(sum(
        s.values["cpu_m"] for k, s in second.items() if k in web_pods), abs=0.2)
    sims = [r["sim"] for r in store.query("SELECT DISTINCT sim FROM metric_samples ORDER BY sim")]
    assert sims == [30.0, 45.0]


def test_retention_keeps_the_table_to_its_window(
        cluster: tuple[VirtualClock, SimCluster], store: Store) -> None:
    clock, sim = cluster
    sampler = MetricsSampler(store, sim, clock.now, interval=15, retention=120)
    sizes = []
    for _ in range(30):  # 7.5 simulated minutes, retention two
        sampler.sample()
        sizes.append(int(store.one("SELECT COUNT(*) AS n FROM metric_samples")["n"]))
        run(clock, sim, 15)
    sims = [r["sim"] for r in store.query("SELECT DISTINCT sim FROM metric_samples")]
    assert max(sims) - min(sims) <= 120 and len(sims) == 9
    assert max(sizes[12:]) == min(sizes[12:]), "flat once the window is full"


def test_a_reset_cluster_drops_samples_from_its_old_future(
        cluster: tuple[VirtualClock, SimCluster], store: Store) -> None:
    clock, sim = cluster
    MetricsSampler(store, sim, clock.now, interval=15).sample()
    restarted = MetricsSampler(store, sim, lambda: 5.0, interval=15)
    restarted.sample()
    assert [r["sim"] for r in store.query("SELECT DISTINCT sim FROM metric_samples")] == [5.0]


def test_query_by_target_since_and_pods(
        cluster: tuple[VirtualClock, SimCluster], store: Store) -> None:
    clock, sim = cluster
    sampler = MetricsSampler(store, sim, clock.now, interval=15)
    for _ in range(5):
        sampler.sample()
        run(clock, sim, 15)
    everything = query(store, since=3600)
    assert {r["kind"] for r in everything} == {"Deployment"} and len(everything) == 10
    assert len(query(store, since=parse_duration("30s"))) == 6  # samples at 60, 75, 90
    web = query(store, "web", since=3600)
    assert {r["name"] for r in web} == {"web"}
    assert query(store, "Deployment/demo/web", since=3600) == web
    with_pods = query(store, "deploy/web", since=3600, pods=True)
    assert {r["kind"] for r in with_pods} == {"Deployment", "Pod"}
    pod = next(r["name"] for r in with_pods if r["kind"] == "Pod")
    assert {r["name"] for r in query(store, pod, since=3600)} == {pod}
    with pytest.raises(MetricsError, match="workloads sampled: Deployment/demo/api"):
        query(store, "nosuch", since=3600)
    with pytest.raises(MetricsError, match="90s, 5m"):
        parse_duration("five minutes")


def test_the_command_prints_and_refuses_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        cluster: tuple[VirtualClock, SimCluster]) -> None:
    ws = init_workspace(tmp_path / "ws")
    w = ["-w", str(ws.root)]
    assert main(["metrics", *w]) == 0
    assert "no samples yet" in capsys.readouterr().out
    clock, sim = cluster
    sampler = MetricsSampler(ws.store, sim, clock.now, interval=15)
    for _ in range(3):
        sampler.sample()
        run(clock, sim, 15)
    assert main(["metrics", "web", "--pods", *w]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["SIM", "TIME", "TARGET", "RPS", "ERRORS", "P50",
                                           "P95", "P99", "CPU", "MEMORY"]
    assert "0h00m30s" in out and "Deployment/demo/web" in out and "Pod/demo/web-" in out
    assert main(["metrics", "api", "--json", "--since", "10m", *w]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["sim"] for r in rows] == [30.0, 45.0, 60.0]
    assert all(r["name"] == "api" and r["error_rate"] > 0.1 for r in rows)
    assert main(["metrics", "nosuch", *w]) == 1
    err = capsys.readouterr().err
    assert "no metrics for 'nosuch'" in err and "Traceback" not in err
    assert main(["metrics", "--since", "yesterday", *w]) == 1
    assert "write a duration" in capsys.readouterr().err


def test_settings_of_metrics_are_range_checked() -> None:
    from sandbox.workspace import Settings

    with pytest.raises(ValueError, match="metrics_interval_seconds must be between"):
        Settings().with_value("metrics_interval_seconds", "0.5")
    assert Settings().with_value("metrics_retention_seconds", "3600").metrics_retention_seconds \
        == 3600


class FakeCluster:
    """A backend with StatefulSets and DaemonSets (and no copy-free reader)."""

    def __init__(self) -> None:
        def pod(name: str, kind: str, owner: str) -> dict[str, Any]:
            return {"kind": "Pod", "metadata": {
                "name": name, "namespace": "data", "uid": name,
                "ownerReferences": [{"kind": kind, "name": owner}]},
                "spec": {"containers": [{"resources": {"requests": {"memory": "1Gi"}}}]},
                "status": {"phase": "Running"}}

        self.objects = {
            "StatefulSet": [{"kind": "StatefulSet",
                             "metadata": {"name": "db", "namespace": "data"}}],
            "DaemonSet": [{"kind": "DaemonSet",
                           "metadata": {"name": "agent", "namespace": "data"}}],
            "Pod": [pod("db-0", "StatefulSet", "db"), pod("db-1", "StatefulSet", "db"),
                    pod("agent-x", "DaemonSet", "agent")],
        }

    def metrics(self) -> dict[str, Any]:
        return {}

    def list(self, kind: str) -> list[dict[str, Any]]:
        return self.objects.get(kind, [])


def test_statefulsets_and_daemonsets_are_workloads_with_their_pods(store: Store) -> None:
    sampler = MetricsSampler(store, FakeCluster(), lambda: 60.0)
    samples = by_target(sampler.sample())
    assert samples["Pod/db-0"].workload == "StatefulSet/data/db"
    assert samples["Pod/agent-x"].workload == "DaemonSet/data/agent"
    db = samples["StatefulSet/db"].values
    assert db["memory_mib"] == pytest.approx(
        samples["Pod/db-0"].values["memory_mib"] + samples["Pod/db-1"].values["memory_mib"])
    assert 460 < samples["Pod/db-0"].values["memory_mib"] < 565  # near half of 1 GiB
    assert {r["name"] for r in query(store, "sts/db", pods=True)} == {"db", "db-0", "db-1"}
    assert {r["kind"] for r in query(store, "ds/agent")} == {"DaemonSet"}
