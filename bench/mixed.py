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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import reconcile
from .common import child_python, hermetic_env, median
from .cpuclock import Stopwatch

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


IMAGE = "localhost:5001/web:1.0.0"
TASK = "localhost:5001/task:1.0.0"  # runs to completion in 10 simulated seconds


def _pod_template(app: str, image: str = IMAGE, **spec: Any) -> Obj:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": image}], **spec}}


def _statefulset(i: int) -> list[Obj]:
    name = f"db-{i:02d}"
    mount = {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    template = _pod_template(name)
    template["spec"]["containers"][0].update(mount)
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name),
         "spec": {"clusterIP": "None", "selector": {"app": name},
                  "ports": [{"port": 5432}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(name),
         "spec": {"serviceName": name, "replicas": 2, "selector": {"matchLabels": {"app": name}},
                  "template": template,
                  "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                      "accessModes": ["ReadWriteOnce"],
                      "resources": {"requests": {"storage": "1Gi"}}}}]}}]


def _daemonset(i: int) -> list[Obj]:
    name = f"agent-{i:02d}"
    return [{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta(name),
             "spec": {"selector": {"matchLabels": {"app": name}},
                      "updateStrategy": {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": 1}},
                      "template": _pod_template(name)}}]


def _job_and_cronjob(i: int) -> list[Obj]:
    job, cron = f"migrate-{i:02d}", f"report-{i:02d}"
    return [
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(job),
         "spec": {"completions": 1, "backoffLimit": 2,
                  "template": _pod_template(job, TASK, restartPolicy="Never")}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(cron),
         "spec": {"schedule": "0 3 * * *", "concurrencyPolicy": "Forbid",
                  "jobTemplate": {"spec": {"template": _pod_template(
                      cron, TASK, restartPolicy="OnFailure")}}}}]


def _autoscaled(i: int) -> list[Obj]:
    name = f"api-{i:02d}"
    template = _pod_template(name)
    template["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    return [
        # No replicas: the HPA owns them, as charts ship an autoscaled Deployment.
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name),
         "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}},
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name),
         "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": _meta(name),
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": name},
                  "minReplicas": 2, "maxReplicas": 4,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                      "type": "Utilization", "averageUtilization": 60}}}]}}]


def _claimed(i: int) -> list[Obj]:
    # The default class binds on first consumer: a claim alone would stay Pending.
    name = f"files-{i:02d}"
    return [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": _meta(name),
         "spec": {"accessModes": ["ReadWriteOnce"],
                  "resources": {"requests": {"storage": "1Gi"}}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name),
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                  "template": _pod_template(name, volumes=[
                      {"name": "files", "persistentVolumeClaim": {"claimName": name}}])}}]


CR_PER_CRD = 15


def _crd(i: int) -> list[Obj]:
    # The last two serve one kind in two groups, as two operators may (store keyed by
    # group and kind): their same-named resources must stay two objects.
    group, kind = f"ops{i}.example.test", f"Widget{min(i, 3)}"
    plural = kind.lower() + "s"
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1},
            "tier": {"type": "string", "enum": ["gold", "silver"], "default": "silver"}}}}}
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"{plural}.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                              "listKind": f"{kind}List"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": schema}}]}}
    return [crd] + [{"apiVersion": f"{group}/v1", "kind": kind,
                     "metadata": _meta(f"w-{j:02d}"), "spec": {"size": j + 1}}
                    for j in range(CR_PER_CRD)]


# kind -> (factory of one unit's objects, units, enabled). A kind is enabled once the
# simulated cluster has its controller, so that "converged" means what it says.
MIXED: dict[str, tuple[Callable[[int], list[Obj]], int, bool]] = {
    "Deployment+Service+ConfigMap+Secret+ServiceAccount+Ingress": (_deployment, 115, True),
    "LoadBalancer Service": (_load_balancer, 20, True),
    "StatefulSet (+headless Service, claim templates)": (_statefulset, 20, True),
    "DaemonSet": (_daemonset, 10, True),
    "Job/CronJob": (_job_and_cronjob, 20, True),
    "HorizontalPodAutoscaler (+Deployment, Service)": (_autoscaled, 20, True),
    "PersistentVolumeClaim (+Deployment mounting it)": (_claimed, 20, True),
    "CustomResourceDefinition + custom resources": (_crd, 5, True),
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
    ws.registry.push("task", "1.0.0", "fast")
    docs = manifests()
    repo = BotRepo(ws, root / "clone")
    repo.commit({"prod/mixed.yaml": docs})
    repo.stop()
    clock = VirtualClock()
    cluster = SimCluster(clock, ws.registry.resolve)
    flux = Reconciler(ws, cluster, EventBus(ws.store))
    monitor = Monitor(cluster, lambda *args: None)
    watch = Stopwatch()
    status = flux.reconcile("bench")
    assert status.ready, status.errors[:3]
    applied = watch.span()
    simulated = 0
    while True:
        health, why = monitor.overall(monitor.evaluate(status.refs()))
        if health is Health.HEALTHY:
            break
        assert simulated < 300, why
        clock.advance(1.0)
        cluster.step()
        simulated += 1
    took = watch.span()
    kinds = sorted({str(d["kind"]) for d in docs})
    print(json.dumps({**took.as_dict("converged_"), **applied.as_dict("reconcile_"),
                      "simulated_s": simulated, "objects": len(docs), "kinds": kinds,
                      "pods": len(cluster.list("Pod"))}))


def run(rounds: int = 3) -> dict[str, float]:
    runs: list[dict[str, Any]] = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-mixed-") as tmp:
            runs.append(child_python("bench.mixed", "--child", tmp))

    # The run of median wall time, shown whole (medians of each part would not add up).
    runs.sort(key=lambda d: float(d["converged_wall_s"]))
    data = runs[len(runs) // 2]
    # What an unloaded machine would take: the CPU plus any wait that is not the run
    # queue (sleeps, I/O, git); the run queue's share is the neighbours' (cpuclock.py).
    unloaded = median([float(d["converged_cpu_s"]) + float(d["converged_other_s"])
                       for d in runs])
    result = {"converged_s": float(data["converged_wall_s"]),
              "cpu_s": float(data["converged_cpu_s"]), "unloaded_s": unloaded,
              "reconcile_s": float(data["reconcile_wall_s"]),
              "peak_mb": max(d["peak_mb"] for d in runs)}
    print(f"mixed: {int(data['objects'])} objects of {len(data['kinds'])} kinds "
          f"({', '.join(data['kinds'])}), {int(data['pods'])} pods")
    print(f"  reconciled to converged ({int(data['simulated_s'])} simulated s), the median "
          f"of {rounds} runs: {data['converged_wall_s']:.3f}s wall = "
          f"{data['converged_cpu_s']:.3f} CPU s + {data['converged_queued_s']:.3f}s waiting "
          f"for a CPU + {data['converged_other_s']:.3f}s other (git, I/O); of which the "
          f"reconcile {data['reconcile_wall_s']:.3f}s wall")
    print(f"  on an unloaded machine (CPU + other, median): {unloaded:.3f}s (goal <= 2 s); "
          f"peak {result['peak_mb']:.0f} MB (goal <= 300 MB)")
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
