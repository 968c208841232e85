"""Cost grows linearly with the cluster (issue: a cluster that behaves like Kubernetes).

300, 1,000 and 3,000 services (a Deployment, a Service and a ConfigMap each) applied to
the simulated cluster as the reconciler does (a dry run, then for real) and played
forward in one-second steps until every Deployment is available and every Service
lists its pod. Each size runs in a child process, so its memory is its own. The ratio
of the 3,000 time to the 1,000 time shows the growth: 3.0 is linear, 10 quadratic.
Goal: ratio <= 3.5.

Fair to each size: every service is the same three objects, every size converges in
the same simulated seconds (printed), and the figure is CPU seconds (wall time on a
shared machine mostly measures the neighbours), the median of a few rounds that
interleave the sizes, so a burst of load elsewhere hits all sizes alike.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .common import child_python, median
from .cpuclock import Stopwatch

SIZES = (300, 1000, 3000)
NAMESPACES = 10
BATCH = 4000  # under the cluster's per-commit object limit


def service_objects(i: int, namespace: str) -> list[dict[str, Any]]:
    name = f"svc-{i:04d}"
    labels = {"app": name, "tier": "web"}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": namespace, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "containers": [{"name": "app", "image": "web:1.0.0",
                                      "envFrom": [{"configMapRef": {"name": name}}]}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": namespace, "labels": labels},
         "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": name, "namespace": namespace}, "data": {"INDEX": str(i)}},
    ]


def manifests(services: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": f"team-{n}"}}
                                  for n in range(NAMESPACES)]
    for i in range(services):
        docs += service_objects(i, f"team-{i % NAMESPACES}")
    return docs


def converged(cluster: Any) -> bool:
    for dep in cluster._store.of_kind("Deployment").values():
        status = dep.get("status") or {}
        if status.get("availableReplicas", 0) < dep["spec"].get("replicas", 1):
            return False
    return True


def child(services: int) -> None:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.registry import PROFILES

    clock = VirtualClock()
    cluster = SimCluster(clock, lambda image: PROFILES["default"],
                         max_pods=services * 2 + 100)
    docs = manifests(services)
    watch = Stopwatch()
    for i in range(0, len(docs), BATCH):
        batch = docs[i:i + BATCH]
        results = cluster.apply(batch, dry_run=True)
        assert not [r for r in results if r.error], [r.error for r in results if r.error][:3]
        cluster.apply(batch)
    steps = 0
    while True:
        clock.advance(1.0)
        cluster.step()
        steps += 1
        if steps % 5 == 0 and converged(cluster):
            break
        assert steps < 600, "did not converge in ten simulated minutes"
    span = watch.span()
    listed = sum(1 for ep in cluster._store.of_kind("Endpoints").values()
                 if any(s.get("addresses") for s in ep.get("subsets") or []))
    assert listed == services, (listed, services)
    print(json.dumps({**span.as_dict("run_"), "objects": len(docs),
                      "pods": len(cluster._kubelet.pods), "simulated_s": steps}))


def run(rounds: int = 5) -> dict[str, float]:
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in SIZES}
    for _ in range(rounds):
        for n in SIZES:
            runs[n].append(child_python("bench.scale", "--child", str(n)))
    times: dict[int, float] = {}
    for n in SIZES:
        cpu = [d["run_cpu_s"] for d in runs[n]]
        data = runs[n][0]
        times[n] = median(cpu)
        print(f"scale: {n} services ({int(data['objects'])} objects, {int(data['pods'])} "
              f"pods) applied and converged in {data['simulated_s']:.0f} simulated s: "
              f"median {times[n]:.2f} CPU s of {rounds} (range {min(cpu):.2f}-{max(cpu):.2f}; "
              f"wall {median([d['run_wall_s'] for d in runs[n]]):.2f} s, of which waiting for a "
              f"CPU {median([d['run_queued_s'] for d in runs[n]]):.2f} s), peak "
              f"{max(d['peak_mb'] for d in runs[n]):.0f} MB", flush=True)
    ratio = times[3000] / times[1000]
    per_round = sorted(b["run_cpu_s"] / a["run_cpu_s"] for a, b in zip(runs[1000], runs[3000],
                                                               strict=True))
    print(f"  ratio 3,000/1,000: {ratio:.2f} (3.0 is linear; goal <= 3.5); "
          f"per round {', '.join(f'{r:.2f}' for r in per_round)}")
    return {"ratio": ratio, **{f"s_{n}": t for n, t in times.items()}}


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
    else:
        run()
