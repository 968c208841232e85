"""Services: a cluster IP at creation and an Endpoints object listing the ready pods.

Endpoints are recomputed once per step for the Services whose pods changed, rather
than at every simulated instant, because nothing inside the simulation reads them.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.pods import NODE, Kubelet
from sandbox.cluster.sim.store import matches_selector


class EndpointsController:
    def __init__(self, ctx: Ctx, kubelet: Kubelet) -> None:
        self.ctx = ctx
        self.kubelet = kubelet
        self._ips = 0

    def admit(self, svc: dict[str, Any]) -> None:
        """Fill in what the API server assigns to a new Service."""
        spec = svc.setdefault("spec", {})
        if spec.get("clusterIP") != "None":
            self._ips += 1
            ip = f"10.96.{self._ips // 250}.{self._ips % 250 + 1}"
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
        spec.setdefault("type", "ClusterIP")
        lb: dict[str, Any] = {}
        if spec["type"] == "LoadBalancer":
            # kind with a cloud-provider shim would hand out an address like this.
            lb = {"ingress": [{"ip": f"172.18.255.{self._ips % 250 + 1}"}]}
        svc["status"] = {"loadBalancer": lb}

    def flush(self) -> None:
        """Recompute Endpoints for Services whose selected pods changed."""
        ctx = self.ctx
        services = ctx.store.of_kind("Service")
        if ctx.dirty_pods:
            namespaces = {ref.namespace for ref in ctx.dirty_pods}
            by_ns: dict[str, list[tuple[ObjRef, dict[str, Any]]]] = {}
            for ref, svc in services.items():
                if ref.namespace in namespaces:
                    by_ns.setdefault(ref.namespace, []).append((ref, svc))
            for pref in ctx.dirty_pods:
                labels = self._labels(pref)
                for sref, svc in by_ns.get(pref.namespace, ()):
                    selector = (svc.get("spec") or {}).get("selector")
                    # A pod that is gone has no labels left: recheck whoever listed it.
                    if labels is None or matches_selector(labels, selector):
                        ctx.dirty_svc.add(sref)
            ctx.dirty_pods.clear()
        if not ctx.dirty_svc:
            return
        pods_by_ns: dict[str, list[dict[str, Any]]] = {}
        for pref, pod in ctx.store.of_kind("Pod").items():
            pods_by_ns.setdefault(pref.namespace, []).append(pod)
        for sref in sorted(ctx.dirty_svc):
            svc = services.get(sref)
            if svc is not None:
                self._sync(sref, svc, pods_by_ns.get(sref.namespace, []))
        ctx.dirty_svc.clear()

    def _labels(self, ref: ObjRef) -> dict[str, Any] | None:
        pod = self.ctx.store.get(ref)
        return None if pod is None else pod["metadata"].get("labels") or {}

    def _sync(self, ref: ObjRef, svc: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        ctx = self.ctx
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            return  # a Service without selector has hand-made endpoints
        ready: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        for pod in pods:
            if not matches_selector(pod["metadata"].get("labels") or {}, selector):
                continue
            ps = self.kubelet.pods.get(ObjRef.of(pod))
            if ps is None or not ps.pod_ip or ps.terminating:
                continue
            addr = {"ip": ps.pod_ip, "nodeName": ps.node or NODE, "targetRef": {
                "kind": "Pod", "name": ps.ref.name, "namespace": ps.ref.namespace,
                "uid": pod["metadata"]["uid"]}}
            (ready if ps.ready else not_ready).append(addr)
        ports = [{"name": p.get("name", ""), "port": _target_port(p),
                  "protocol": p.get("protocol", "TCP")}
                 for p in (svc.get("spec") or {}).get("ports") or []]
        subset: dict[str, Any] = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: a["targetRef"]["name"])
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["targetRef"]["name"])
        if subset:
            subset["ports"] = ports
        subsets = [subset] if subset else []
        eref = ObjRef("Endpoints", ref.name, ref.namespace)
        ep = ctx.store.get(eref)
        if ep is None:
            ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {
                "name": ref.name, "namespace": ref.namespace, "uid": ctx.store.new_uid(),
                "creationTimestamp": ctx.stamp(),
                # Owned by the Service so deleting it cascades; no copied labels, so a
                # label-based pruner never mistakes it for something it applied.
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": ref.name,
                                     "uid": svc["metadata"]["uid"]}]},
                "subsets": subsets}
            ctx.store.put(ep)
        elif ep.get("subsets") != subsets:
            ep["subsets"] = subsets
            ctx.store.touch(ep)

    def ready_pods(self, svc: dict[str, Any]) -> list[ObjRef]:
        ep = self.ctx.store.get(ObjRef("Endpoints", svc["metadata"]["name"],
                                       svc["metadata"].get("namespace", "default")))
        out = []
        for subset in (ep or {}).get("subsets") or []:
            for addr in subset.get("addresses") or []:
                t = addr["targetRef"]
                out.append(ObjRef("Pod", t["name"], t["namespace"]))
        return out


def _target_port(port: dict[str, Any]) -> Any:
    target = port.get("targetPort", port.get("port"))
    return target
