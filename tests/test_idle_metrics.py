"""A metric sample costs what changed: a steady cluster's samples compute no traffic
window and start no new run in the store, yet read back as one row per target and
sample; a change is written for the targets it touched only."""

from __future__ import annotations

from pathlib import Path

from test_metrics_over_time import IMAGES, deployment, run, service

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.metrics import MetricsSampler, query
from sandbox.store import Store

SERVICES = 6


def cluster() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    sim = SimCluster(clock, IMAGES.get, seed=3)
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}]
    for i in range(SERVICES):
        objects += [deployment(f"web-{i}", "web:v1"), service(f"web-{i}")]
    sim.apply(objects)
    run(clock, sim, 120)  # ready, and a whole traffic window since
    return clock, sim


def runs(store: Store) -> int:
    return int(store.one("SELECT COUNT(*) AS n FROM metric_runs")["n"])


def test_a_steady_cluster_samples_at_no_cost_and_reads_back_every_sample(
        tmp_path: Path) -> None:
    clock, sim = cluster()
    store = Store(tmp_path / "state.db")
    sampler = MetricsSampler(store, sim, clock.now, interval=15, retention=3600)
    for _ in range(3):  # the first samples of a pod have no rate yet
        sampler.sample()
        run(clock, sim, 15)
    computed, written, stored = sim._traffic.computed, sampler.writer.written, runs(store)
    targets = len(sampler.sample())  # the same numbers again: steady from here
    assert targets == SERVICES * 3  # a Deployment and its two pods each
    samples = sampler.computed
    for _ in range(10):
        run(clock, sim, 15)
        rows = sampler.sample()
        assert len(rows) == targets
    assert sampler.computed == samples  # each sample repeated the last one...
    assert sim._traffic.computed == computed  # ...with no traffic window recomputed
    assert sampler.writer.written == written and runs(store) == stored  # nothing stored
    # ...yet every sample reads back in full, with the same numbers each time.
    web = query(store, "Deployment/demo/web-2", since=150, pods=True)
    assert len({r["sim"] for r in web}) == 11 and len(web) == 11 * 3
    deployment_rows = [r for r in web if r["kind"] == "Deployment"]
    assert deployment_rows[0]["rps"] > 0
    assert len({(r["rps"], r["error_rate"], r["p95_ms"], r["cpu_m"])
                for r in deployment_rows}) == 1


def test_a_change_is_written_for_the_targets_it_touched(tmp_path: Path) -> None:
    clock, sim = cluster()
    store = Store(tmp_path / "state.db")
    sampler = MetricsSampler(store, sim, clock.now, interval=15, retention=3600)
    for _ in range(3):
        sampler.sample()
        run(clock, sim, 15)
    computed, written = sim._traffic.computed, sampler.writer.written
    samples = sampler.computed
    sim.scale(ObjRef("Deployment", "web-4", "demo"), 3)
    for _ in range(8):  # the new pod starts, and the window moves past the change
        run(clock, sim, 15)
        sampler.sample()
    assert sampler.computed > samples  # a change is computed again
    # Its new pod's rate is measured between two samples as ever, repeated or not.
    run(clock, sim, 15)
    new_pod = [r for r in sampler.sample() if r.kind == "Pod" and r.workload.endswith("web-4")]
    assert len(new_pod) == 3 and all(r.values["rps"] for r in new_pod)
    # Only web-4 (its window) was computed again, and only its targets were written.
    assert 1 <= sim._traffic.computed - computed <= 8
    changed = {r[0] for r in store.query("SELECT DISTINCT name FROM metric_runs WHERE id>?",
                                         written)}
    assert changed and all(name.startswith("web-4") for name in changed), changed
    assert query(store, "web-4", since=15, pods=True)[-1]["rps"] > 0
