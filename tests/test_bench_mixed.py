"""The mixed 1,000-object HLD of `python -m bench mixed` carries every kind issue 9
lists and converges: the bench's "converged" means every object Healthy."""

from __future__ import annotations

from bench import mixed
from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.monitor import Health, Monitor
from sandbox.registry import PROFILES

ISSUE_KINDS = {"Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount", "Ingress",
               "StatefulSet", "DaemonSet", "Job", "CronJob", "HorizontalPodAutoscaler",
               "PersistentVolumeClaim", "CustomResourceDefinition"}


def test_every_row_is_on_and_every_kind_of_the_issue_is_in_the_mix() -> None:
    assert all(on and units > 0 for _, units, on in mixed.MIXED.values())
    docs = mixed.manifests()
    assert len(docs) == mixed.TARGET
    kinds = {d["kind"] for d in docs}
    assert ISSUE_KINDS <= kinds
    assert any(k.startswith("Widget") for k in kinds)  # custom resources of those CRDs
    assert sum(1 for d in docs if d["kind"] == "Service"
               and d["spec"].get("type") == "LoadBalancer") == 20


def test_the_mixed_hld_converges_to_healthy() -> None:
    clock = VirtualClock()
    cluster = SimCluster(clock, lambda image: PROFILES["fast"])
    docs = mixed.manifests()
    results = cluster.apply(docs)
    assert [r.error for r in results if r.error] == []
    monitor = Monitor(cluster, lambda *args: None)
    refs = [r.ref for r in results]
    for _ in range(120):
        health, why = monitor.overall(monitor.evaluate(refs))
        if health is Health.HEALTHY:
            break
        clock.advance(1.0)
        cluster.step()
    assert health is Health.HEALTHY, why
    job = cluster.get(ObjRef("Job", "migrate-00", mixed.NS))
    assert job is not None and job["status"].get("succeeded") == 1
    assert len(cluster.list("PersistentVolumeClaim", mixed.NS)) == 20 + 20 * 2  # claim templates
    # Two CRDs serve Widget3 in two groups: 15 resources each, same names, apart.
    assert len(cluster.list("Widget3", mixed.NS)) == 2 * mixed.CR_PER_CRD
    assert cluster.get(ObjRef("Widget3", "w-00", mixed.NS, "ops4.example.test")) is not None
    hpa_target = cluster.get(ObjRef("Deployment", "api-00", mixed.NS))
    assert hpa_target is not None and hpa_target["spec"]["replicas"] >= 2
