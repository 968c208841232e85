"""A mixed 1,000-object HLD reconciled to converged (issue: a cluster that behaves like
Kubernetes), beside the 1,001-object reconcile of bench/reconcile.py.

The manifests carry the kinds real HLDs carry, each from a small factory in `MIXED`;
the reconciler applies them from a real manifests.git to the simulated cluster, which
is then played forward in one-second steps until the monitor finds every object
Healthy. Measured in a child process so its peak memory is its own.
Goals: <= 2 s, <= 300 MB.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import reconcile
from .common import child_python, hermetic_env, median

NS = "mixed"
TARGET = 1000
Obj = dict[str, Any]


def _meta(name: str, **extra: Any) -> Obj:
    return {"name": name, "namespace": NS, **extra}


def _deployment(i: int) -> list[Obj]:
    name, labels = f"app-{i:03d}", {"app": f"app-{i:03d}"}
    service_types = ({"type": "ClusterIP"}, {"type": "NodePort"}, {"clusterIP": "None"})
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name),
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "serviceAccountName": name,
                      "containers": [{"name": "app", "image": "localhost:5001/web:1.0.0"}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name),
         "spec": {**service_types[i % 3], "selector": labels,
                  "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name),
         "data": {"INDEX": str(i)}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(name), "type": "Opaque",
         "stringData": {"token": f"t{i}"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name)},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": _meta(name),
         "spec": {"rules": [{"host": f"{name}.example.test", "http": {"paths": [{
             "path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": name, "port": {"number": 80}}}}]}}]}},
    ]


def _load_balancer(i: int) -> list[Obj]:
    name = f"edge-{i:02d}"
    return [{"apiVersion": "v1", "kind": "Service", "metadata": _meta(name),
             "spec": {"type": "LoadBalancer", "selector": {"app": f"app-{i:03d}"},
                      "ports": [{"port": 443, "targetPort": 8443}]}}]


# kind -> (factory of one unit's objects, units, enabled). A kind is enabled once the
# simulated cluster has its controller, so that "converged" means what it says; the
# workload and CRD kinds join here as their controllers land (set enabled=True).
MIXED: dict[str, tuple[Callable[[int], list[Obj]], int, bool]] = {
    "Deployment+Service+ConfigMap+Secret+ServiceAccount+Ingress": (_deployment, 160, True),
    "LoadBalancer Service": (_load_balancer, 20, True),
    "StatefulSet": (lambda i: [], 0, False),
    "DaemonSet": (lambda i: [], 0, False),
    "Job/CronJob": (lambda i: [], 0, False),
    "HorizontalPodAutoscaler": (lambda i: [], 0, False),
    "PersistentVolumeClaim": (lambda i: [], 0, False),
    "CustomResourceDefinition + custom resources": (lambda i: [], 0, False),
}


def manifests() -> list[Obj]:
    docs: list[Obj] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": "nginx", "annotations": {
             "ingressclass.kubernetes.io/is-default-class": "true"}},
         "spec": {"controller": "k8s.io/ingress-nginx"}}]
    for factory, units, enabled in MIXED.values():
        if enabled:
            for i in range(units):
                docs += factory(i)
    # Fill up to the target with ConfigMaps, so the count stays put as kinds join.
    docs += [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"extra-{i:03d}"),
              "data": {"i": str(i)}} for i in range(max(0, TARGET - len(docs)))]
    return docs


def child(tmp: str) -> None:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.events import EventBus
    from sandbox.flux import Reconciler
    from sandbox.monitor import Health, Monitor
    from sandbox.workspace import init_workspace

    from .botrepo import BotRepo

    root = Path(tmp)
    hermetic_env(root / "home")
    ws = init_workspace(root / "ws")
    ws.registry.push("web", "1.0.0", "fast")
    docs = manifests()
    repo = BotRepo(ws, root / "clone")
    repo.commit({"prod/mixed.yaml": docs})
    repo.stop()
    clock = VirtualClock()
    cluster = SimCluster(clock, ws.registry.resolve)
    flux = Reconciler(ws, cluster, EventBus(ws.store))
    monitor = Monitor(cluster, lambda *args: None)
    started, cpu = time.perf_counter(), time.process_time()
    status = flux.reconcile("bench")
    assert status.ready, status.errors[:3]
    applied = time.perf_counter() - started
    simulated = 0
    while True:
        health, why = monitor.overall(monitor.evaluate(status.refs()))
        if health is Health.HEALTHY:
            break
        assert simulated < 300, why
        clock.advance(1.0)
        cluster.step()
        simulated += 1
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    kinds = sorted({str(d["kind"]) for d in docs})
    print(json.dumps({"converged_s": took, "cpu_s": cpu, "reconcile_s": applied, "simulated_s": simulated,
                      "objects": len(docs), "kinds": kinds}))


def run(rounds: int = 3) -> dict[str, float]:
    times, applies, peaks, cpus = [], [], [], []
    data: dict[str, Any] = {}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-mixed-") as tmp:
            data = child_python("bench.mixed", "--child", tmp)
        times.append(data["converged_s"])
        applies.append(data["reconcile_s"])
        cpus.append(data["cpu_s"])
        peaks.append(data["peak_mb"])
    result = {"converged_s": median(times), "reconcile_s": median(applies),
              "cpu_s": median(cpus), "peak_mb": max(peaks)}
    print(f"mixed: {int(data['objects'])} objects of {len(data['kinds'])} kinds "
          f"({', '.join(data['kinds'])})")
    print(f"  reconciled to converged ({int(data['simulated_s'])} simulated s): median "
          f"{result['converged_s']:.3f}s ({result['cpu_s']:.3f} CPU s), of which the reconcile "
          f"{result['reconcile_s']:.3f}s (goal <= 2 s); peak {result['peak_mb']:.0f} MB (goal <= 300 MB)")
    disabled = [k for k, (_, _, on) in MIXED.items() if not on]
    if disabled:
        print(f"  not yet in the mix (no controller in the simulated cluster): "
              f"{', '.join(disabled)}")
    print("  beside it, the 1,001-object reconcile:")
    reconcile.run(rounds)
    return result


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        run()
