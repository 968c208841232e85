"""One reconcile of 200 services / 1,000 objects (issue: a reconciler like Flux).

Each service is a Deployment, a Service, a ConfigMap, a Secret and a ServiceAccount.
The manifests are committed to a real manifests.git; the reconciler reads them from
git, validates all of them with a dry run, applies them to the simulated cluster and
moves the flux-sync tag. Measured in a child process so its peak memory is its own.
Goals: <= 2 s, <= 300 MB.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from .common import child_python, hermetic_env, median
from .cpuclock import Stopwatch

SERVICES = 200


def objects_for(i: int) -> list[dict[str, object]]:
    name, ns = f"svc-{i:03d}", "bench"
    labels = {"app": name}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name,
                                                                    "namespace": ns},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "serviceAccountName": name,
                      "containers": [{"name": "app", "image": "localhost:5001/web:1.0.0"}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
         "data": {"INDEX": str(i)}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
         "type": "Opaque", "data": {"token": "c2VjcmV0"}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": name, "namespace": ns}},
    ]


def child(tmp: str) -> None:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.events import EventBus
    from sandbox.flux import Reconciler
    from sandbox.workspace import init_workspace

    from .botrepo import BotRepo

    root = Path(tmp)
    hermetic_env(root / "home")
    ws = init_workspace(root / "ws")
    docs: list[dict[str, object]] = [{"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "bench"}}]
    for i in range(SERVICES):
        docs += objects_for(i)
    # Pushed as the generation job does: the reconciler refuses anything else.
    repo = BotRepo(ws, root / "clone")
    repo.commit({"prod/all.yaml": docs})  # type: ignore[dict-item]
    repo.stop()
    clock = VirtualClock()
    cluster = SimCluster(clock, ws.registry.resolve)
    flux = Reconciler(ws, cluster, EventBus(ws.store))
    watch = Stopwatch()
    status = flux.reconcile("bench")
    first = watch.span()
    assert status.ready, status.errors
    clock.advance(30)
    cluster.step()
    t0 = time.perf_counter()
    flux.reconcile("periodic resync")
    resync = time.perf_counter() - t0
    print(json.dumps({"reconcile_s": first.wall, "reconcile_cpu_s": first.cpu,
                      "reconcile_queued_s": first.queued, "resync_s": resync, "objects": len(docs),
                      "pods": len(cluster.list("Pod"))}))


def run(rounds: int = 3) -> dict[str, float]:
    firsts, resyncs, peaks, cpus, queued = [], [], [], [], []
    objects = 0
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
            data = child_python("bench.reconcile", "--child", tmp)
        firsts.append(data["reconcile_s"])
        cpus.append(data["reconcile_cpu_s"])
        queued.append(data["reconcile_queued_s"])
        resyncs.append(data["resync_s"])
        peaks.append(data["peak_mb"])
        objects = int(data["objects"])
    result = {"reconcile_s": median(firsts), "resync_s": median(resyncs),
              "cpu_s": median(cpus), "queued_s": median(queued),
              "peak_mb": max(peaks), "objects": objects}
    print(f"reconcile: {SERVICES} services, {objects} objects, simulated cluster")
    print(f"  first reconcile (read git, dry-run, apply, tag): median "
          f"{result['reconcile_s']:.3f}s over {rounds} runs (goal <= 2 s): "
          f"{result['cpu_s']:.3f} CPU s, {result['queued_s']:.3f}s waiting for a CPU")
    print(f"  resync with nothing changed: median {result['resync_s']:.3f}s")
    print(f"  peak memory of the process: {result['peak_mb']:.0f} MB (goal <= 300 MB)")
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        run()
