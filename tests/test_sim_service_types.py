"""Service types and ingress as a cluster with a load-balancer pool and an ingress
controller answers them: NodePort allocation, LoadBalancer addresses from a pool,
Ingress addresses only when a controller (an IngressClass) exists, and headless
Services publishing their pods' hostnames."""

from __future__ import annotations

from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.sim.services import LB_POOL, NODE_PORTS, pod_dns_name
from sandbox.monitor import Health, health_of
from sandbox.registry import PROFILES


def _cluster() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, lambda image: PROFILES["default"], seed=5)


def svc(name: str, type_: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": type_, "selector": {"app": name},
                     "ports": [{"port": 80, "targetPort": 8080}], **spec}}


def test_node_port_is_allocated_in_range_and_kept_by_the_next_apply() -> None:
    clock, cluster = _cluster()
    cluster.apply([svc("np", "NodePort")])
    live = cluster.get(ObjRef("Service", "np", "default"))
    assert live
    port = live["spec"]["ports"][0]["nodePort"]
    assert port in NODE_PORTS
    # The same manifest again changes nothing: the allocated port is the server's.
    assert [r.action for r in cluster.apply([svc("np", "NodePort")], dry_run=True)] == [
        "unchanged"]
    cluster.apply([svc("np", "NodePort", sessionAffinity="ClientIP")])
    live = cluster.get(ObjRef("Service", "np", "default"))
    assert live and live["spec"]["ports"][0]["nodePort"] == port
    # Turned into a ClusterIP Service, it gives the port back.
    cluster.apply([svc("np")])
    live = cluster.get(ObjRef("Service", "np", "default"))
    assert live and "nodePort" not in live["spec"]["ports"][0]


def test_load_balancer_gets_an_address_from_the_pool_until_it_runs_out() -> None:
    clock, cluster = _cluster()
    cluster.apply([svc("lb0", "LoadBalancer")])
    live = cluster.get(ObjRef("Service", "lb0", "default"))
    assert live and live["status"]["loadBalancer"]["ingress"][0]["ip"] == LB_POOL[0]
    assert live["spec"]["ports"][0]["nodePort"] in NODE_PORTS
    assert health_of(live)[0] is Health.HEALTHY
    cluster.apply([svc(f"lb{i}", "LoadBalancer") for i in range(1, len(LB_POOL) + 1)])
    late = ObjRef("Service", f"lb{len(LB_POOL)}", "default")
    pending = cluster.get(late)
    assert pending and not pending["status"]["loadBalancer"].get("ingress")
    assert health_of(pending)[0] is Health.PROGRESSING
    assert any(e.reason == "AllocationFailed" and "no available IPs" in e.message
               for e in cluster.events(late))
    # An address freed by a deleted Service goes to the one waiting.
    cluster.delete(ObjRef("Service", "lb0", "default"))
    pending = cluster.get(late)
    assert pending and pending["status"]["loadBalancer"]["ingress"][0]["ip"] == LB_POOL[0]


def _ingress(name: str, class_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": [{"host": f"{name}.example.test", "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    if class_name:
        spec["ingressClassName"] = class_name
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def _class(name: str, default: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if default:
        meta["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": meta,
            "spec": {"controller": "k8s.io/ingress-nginx"}}


def test_ingress_gets_an_address_only_when_a_controller_claims_its_class() -> None:
    clock, cluster = _cluster()
    cluster.apply([_ingress("named", "nginx"), _ingress("plain")])
    clock.advance(5)
    cluster.step()
    for name in ("named", "plain"):
        ing = cluster.get(ObjRef("Ingress", name, "default"))
        assert ing and not (ing.get("status") or {}).get("loadBalancer", {}).get("ingress")
        assert health_of(ing)[0] is Health.PROGRESSING
    cluster.apply([_class("nginx")])
    cluster.step()
    named = cluster.get(ObjRef("Ingress", "named", "default"))
    plain = cluster.get(ObjRef("Ingress", "plain", "default"))
    assert named and named["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert health_of(named)[0] is Health.HEALTHY
    assert plain and not plain["status"]["loadBalancer"].get("ingress")  # no default class
    cluster.apply([_class("nginx", default=True)])
    cluster.step()
    plain = cluster.get(ObjRef("Ingress", "plain", "default"))
    assert plain and plain["status"]["loadBalancer"]["ingress"]
    assert cluster.delete(ObjRef.of(cluster.list("IngressClass")[0]))
    cluster.step()
    named = cluster.get(ObjRef("Ingress", "named", "default"))
    assert named and not named["status"]["loadBalancer"].get("ingress")


def test_headless_service_publishes_pod_hostnames_for_stable_dns_names() -> None:
    clock, cluster = _cluster()
    pods = [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": f"db-{i}", "namespace": "default", "labels": {"app": "db"}},
             "spec": {"hostname": f"db-{i}", "subdomain": "db",
                      "containers": [{"name": "db", "image": "db:1"}]}} for i in range(2)]
    cluster.apply([svc("db", clusterIP="None"), *pods])
    clock.advance(30)
    cluster.step()
    live = cluster.get(ObjRef("Service", "db", "default"))
    assert live and live["spec"]["clusterIP"] == "None"
    ep = cluster.get(ObjRef("Endpoints", "db", "default"))
    assert ep and ep["metadata"]["labels"] == {"service.kubernetes.io/headless": ""}
    addresses = ep["subsets"][0]["addresses"]
    assert [a["hostname"] for a in addresses] == ["db-0", "db-1"]
    pod = cluster.get(ObjRef("Pod", "db-0", "default"))
    assert pod and pod_dns_name(pod) == "db-0.db.default.svc.cluster.local"
