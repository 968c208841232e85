"""Metrics over time (issue 12 point 1): what sampling costs and what it stores.

- Sampling cost at 1,000 pods: 500 Deployments of 2 replicas, each behind a Service,
  on the simulated cluster (virtual clock); the median time of one sample (read the
  cluster, compute every workload's and pod's values, write them to SQLite, apply the
  retention), and what it amounts to per engine tick (a tick every 50 ms at 1x, a sample
  every `metrics_interval_seconds`).
- SQLite growth per simulated hour: 100 pods sampled every 15 s for three simulated
  hours (a leaking image, so every sample differs), once with a one-hour retention and once keeping everything; the database's
  used pages at the end of each hour. With the retention it stays flat after the first.
Anchor: Prometheus' default scrape interval (15 s on most installs, 1 m in its own).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import child_python, median

PODS_DEPLOYMENTS = 500  # x 2 replicas = 1,000 pods
GROWTH_DEPLOYMENTS = 50  # x 2 replicas = 100 pods
TICK_S = 0.05
INTERVAL_S = 15.0


def objects(deployments: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": "bench"}}]
    resources = {"requests": {"cpu": "50m", "memory": "64Mi"},
                 "limits": {"cpu": "250m", "memory": "128Mi"}}
    for i in range(deployments):
        name, labels = f"svc-{i:04d}", {"app": f"svc-{i:04d}"}
        out.append({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": "bench"},
                    "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                             "template": {"metadata": {"labels": labels}, "spec": {
                                 "containers": [{"name": "app", "image": "web:1",
                                                 "resources": resources}]}}}})
        out.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": "bench"},
                    "spec": {"selector": labels, "ports": [{"port": 80}]}})
    return out


def _cluster(deployments: int, profile: str = "fast") -> Any:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.registry import PROFILES

    clock = VirtualClock()
    cluster = SimCluster(clock, {"web:1": PROFILES[profile]}.get, max_pods=5000)
    cluster.apply(objects(deployments))
    for _ in range(20):
        clock.advance(1)
        cluster.step()
    return clock, cluster


def _used_mb(store: Any) -> float:
    pages = store.one("PRAGMA page_count")[0] - store.one("PRAGMA freelist_count")[0]
    return float(pages * store.one("PRAGMA page_size")[0]) / 1e6


def child_cost(tmp: str, profile: str) -> None:
    from sandbox.metrics import MetricsSampler
    from sandbox.store import Store

    clock, cluster = _cluster(PODS_DEPLOYMENTS, profile)
    store = Store(Path(tmp) / "state.db")
    sampler = MetricsSampler(store, cluster, clock.now, interval=INTERVAL_S)
    times = []
    for _ in range(8):
        clock.advance(INTERVAL_S)
        cluster.step()
        started = time.perf_counter()
        rows = sampler.sample()
        times.append(time.perf_counter() - started)
    pods = sum(1 for r in rows if r.kind == "Pod")
    print(json.dumps({"sample_s": median(times[1:]), "pods": pods, "rows": len(rows)}))


def child_growth(tmp: str, retention: float) -> None:
    from sandbox.metrics import MetricsSampler
    from sandbox.store import Store

    # A leaking image: every sample differs, so nothing is stored as a repeat and the
    # rows grow as they would with live traffic.
    clock, cluster = _cluster(GROWTH_DEPLOYMENTS, "leak")
    store = Store(Path(tmp) / "state.db")
    sampler = MetricsSampler(store, cluster, clock.now, interval=INTERVAL_S,
                             retention=retention)
    hourly = []
    per_hour = int(3600 / INTERVAL_S)
    for _hour in range(3):
        for _ in range(per_hour):
            clock.advance(INTERVAL_S)
            cluster.step()
            sampler.sample()
        rows = int(store.one("SELECT COUNT(*) FROM metric_samples")[0])
        hourly.append({"rows": rows, "used_mb": _used_mb(store)})
    print(json.dumps({"hourly": hourly}))


def run(quick: bool = False) -> dict[str, float]:
    result: dict[str, float] = {}
    # Steady traffic repeats the last sample (stored as one small row, not computed
    # again); a leaking image changes every pod's memory, so every sample is computed.
    for profile, what in (("fast", "steady traffic, a repeat"),
                          ("leak", "every value changing, computed in full")):
        with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
            cost = child_python("bench.metrics", "--cost", tmp, profile)
        per_tick_ms = cost["sample_s"] * 1000 * TICK_S / INTERVAL_S
        print(f"metrics sampling, {what}: {cost['pods']:.0f} pods in {PODS_DEPLOYMENTS} "
              f"Deployments ({cost['rows']:.0f} rows per sample)")
        print(f"  one sample: median {cost['sample_s'] * 1000:.1f} ms; one every "
              f"{INTERVAL_S:g} s of simulated time, so {per_tick_ms:.3f} ms per 50 ms engine "
              f"tick at 1x ({per_tick_ms / (TICK_S * 1000):.2%} of a core; Prometheus' "
              f"default scrape interval is 15 s)")
        result[f"sample_ms_{profile}"] = cost["sample_s"] * 1000
        result[f"per_tick_ms_{profile}"] = per_tick_ms
    for label, retention in (("retention 1 h", 3600.0), ("no retention", 1e9)):
        with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
            growth = child_python("bench.metrics", "--growth", tmp, str(retention))
        hours = growth["hourly"]
        print(f"  SQLite, {GROWTH_DEPLOYMENTS * 2} pods every {INTERVAL_S:g} s, {label}: "
              + ", ".join(f"hour {i + 1}: {h['rows']:,} rows {h['used_mb']:.2f} MB"
                          for i, h in enumerate(hours))
              + f"; growth in hour 3: {hours[2]['used_mb'] - hours[1]['used_mb']:+.2f} MB")
        result[f"growth_mb_{'kept' if retention < 1e8 else 'all'}"] = (
            hours[2]["used_mb"] - hours[1]["used_mb"])
    return result


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--cost":
        child_cost(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 3 and sys.argv[1] == "--growth":
        child_growth(sys.argv[2], float(sys.argv[3]))
    else:
        run()
