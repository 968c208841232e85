"""Services: a cluster IP at creation, node ports and load-balancer addresses by type,
and an Endpoints object listing the ready pods.

Endpoints are recomputed once per step for the Services whose pods changed, rather
than at every simulated instant, because nothing inside the simulation reads them.
As kube-controller-manager's endpoints controller does, a changed pod is mapped to the
Services that select it through an index of their selectors, and a Service's pods come
from the store's label index: the cost follows what changed, not the cluster's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.index import SelectorIndex
from sandbox.cluster.sim.pods import NODE, Kubelet
from sandbox.cluster.sim.store import matches_selector

# The apiserver's default --service-node-port-range.
NODE_PORTS = range(30000, 32768)
# A MetalLB-style address pool, on the network kind gives its nodes (172.18.0.0/16).
LB_POOL = [f"172.18.255.{i}" for i in range(200, 251)]
CLUSTER_DOMAIN = "cluster.local"


def headless(svc: dict[str, Any]) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def pod_dns_name(pod: dict[str, Any]) -> str | None:
    """The stable DNS name a pod gets from its governing headless Service (a
    StatefulSet's pods: `web-0.nginx.default.svc.cluster.local`), or None."""
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    if not spec.get("hostname") or not spec.get("subdomain"):
        return None
    return (f"{spec['hostname']}.{spec['subdomain']}."
            f"{meta.get('namespace', 'default')}.svc.{CLUSTER_DOMAIN}")


def keep_allocated(old_spec: dict[str, Any] | None, new_spec: dict[str, Any]) -> None:
    """An apply that leaves nodePort out keeps the allocated one, as the API server does
    for a port it already assigned (matched by port number and protocol)."""
    if not isinstance(new_spec, dict) or not isinstance(old_spec, dict):
        return
    if new_spec.get("type", old_spec.get("type")) not in ("NodePort", "LoadBalancer"):
        return
    had = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
           for p in old_spec.get("ports") or [] if isinstance(p, dict)}
    for p in new_spec.get("ports") or []:
        if isinstance(p, dict) and "nodePort" not in p:
            allocated = had.get((p.get("port"), p.get("protocol", "TCP")))
            if allocated:
                p["nodePort"] = allocated


def without_allocated(have: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """The live spec with the node ports the manifest does not ask for taken out, so an
    unchanged manifest compares equal to what the API server filled in."""
    want_ports = {(p.get("port"), p.get("protocol", "TCP")): p
                  for p in want.get("ports") or [] if isinstance(p, dict)}
    ports = []
    for p in have.get("ports") or []:
        mine = want_ports.get((p.get("port"), p.get("protocol", "TCP"))) if isinstance(
            p, dict) else None
        if isinstance(p, dict) and "nodePort" in p and (mine is None or "nodePort" not in mine):
            p = {k: v for k, v in p.items() if k != "nodePort"}
        ports.append(p)
    return {**have, "ports": ports} if "ports" in have else have


class EndpointsController:
    def __init__(self, ctx: Ctx, kubelet: Kubelet) -> None:
        self.ctx = ctx
        self.kubelet = kubelet
        self._ips = 0
        self.selectors = SelectorIndex()
        self._indexed = False  # built from the store on first use (after a restore too)
        self._lb_waiting: set[ObjRef] = set()
        # Pod -> the Services whose Endpoints list it (rebuilt from the store when None).
        self._listed_pods: dict[ObjRef, set[ObjRef]] | None = None
        # Told before a Service's Endpoints change or it goes; `changed` collects them.
        self.before_change: Callable[[ObjRef], None] | None = None
        self._changed: set[ObjRef] = set()

    def reindex(self) -> None:
        """The store was replaced (a restore): build the indexes from it again."""
        self.selectors = SelectorIndex()
        self._indexed = False
        self._listed_pods = None

    def take_changed(self) -> set[ObjRef]:
        """Services whose Endpoints changed (or that went away) since the last call."""
        changed, self._changed = self._changed, set()
        return changed

    def _changing(self, sref: ObjRef) -> None:
        if self.before_change is not None:
            self.before_change(sref)
        self._changed.add(sref)

    def admit(self, svc: dict[str, Any]) -> None:
        """Fill in what the API server assigns to a new Service."""
        spec = svc.setdefault("spec", {})
        if spec.get("clusterIP") != "None":
            self._ips += 1
            ip = f"10.96.{self._ips // 250}.{self._ips % 250 + 1}"
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
        spec.setdefault("type", "ClusterIP")
        svc["status"] = {"loadBalancer": {}}
        self._allocate(ObjRef.of(svc), svc)

    # -- types ------------------------------------------------------------------------

    def _allocate(self, ref: ObjRef, svc: dict[str, Any]) -> None:
        """Node ports for NodePort and LoadBalancer Services, an address from the pool
        for LoadBalancer ones; a Service that changed type gives its address back."""
        spec = svc.get("spec") or {}
        kind = spec.get("type", "ClusterIP")
        if kind in ("NodePort", "LoadBalancer"):
            used: set[int] | None = None
            for port in spec.get("ports") or []:
                if isinstance(port, dict) and not port.get("nodePort"):
                    used = self._used_node_ports() if used is None else used
                    free = next((p for p in self._node_port_order() if p not in used), None)
                    if free is not None:
                        port["nodePort"] = free
                        used.add(free)
        else:
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.pop("nodePort", None)
        status = svc.setdefault("status", {})
        if kind != "LoadBalancer":
            status["loadBalancer"] = {}
            self._lb_waiting.discard(ref)
            return
        if (status.get("loadBalancer") or {}).get("ingress"):
            return
        taken = {i.get("ip") for s in self.ctx.store.of_kind("Service").values()
                 for i in ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress")
                 or []}
        address = next((ip for ip in LB_POOL if ip not in taken), None)
        if address is None:
            # As MetalLB says it; the Service keeps <pending> until an address frees up.
            if ref not in self._lb_waiting:
                self.ctx.emit("AllocationFailed", ref, f'Failed to allocate IP for '
                              f'"{ref.namespace}/{ref.name}": no available IPs', "Warning",
                              source="metallb-controller")
            self._lb_waiting.add(ref)
            return
        self._lb_waiting.discard(ref)
        status["loadBalancer"] = {"ingress": [{"ip": address, "ipMode": "VIP"}]}
        self.ctx.emit("IPAllocated", ref, f'Assigned IP ["{address}"]',
                      source="metallb-controller")

    def _node_port_order(self) -> list[int]:
        # The API server picks at random; the seed's generator keeps it repeatable.
        start = self.ctx.rng.randrange(len(NODE_PORTS))
        return [*NODE_PORTS[start:], *NODE_PORTS[:start]]

    def _used_node_ports(self) -> set[int]:
        return {p["nodePort"] for s in self.ctx.store.of_kind("Service").values()
                for p in (s.get("spec") or {}).get("ports") or []
                if isinstance(p, dict) and p.get("nodePort")}

    # -- endpoints --------------------------------------------------------------------

    def _index_all(self) -> None:
        for ref, svc in self.ctx.store.of_kind("Service").items():
            self.selectors.set(ref, (svc.get("spec") or {}).get("selector"))
        self._indexed = True

    def flush(self) -> None:
        """Recompute Endpoints for Services whose selected pods changed."""
        ctx = self.ctx
        store = ctx.store
        if not self._indexed:
            self._index_all()
        freed = False
        for sref in ctx.dirty_svc:
            svc = store.get(sref)
            if svc is None:
                self.selectors.discard(sref)
                self._lb_waiting.discard(sref)
                self._changing(sref)
                freed = True
            else:
                self.selectors.set(sref, (svc.get("spec") or {}).get("selector"))
                self._allocate(sref, svc)
        if freed and self._lb_waiting:
            for wref in sorted(self._lb_waiting):
                waiting = store.get(wref)
                if waiting is not None:
                    self._allocate(wref, waiting)
                    store.touch(waiting)
        if ctx.dirty_pods:
            for pref in ctx.dirty_pods:
                pod = store.get(pref)
                if pod is None:
                    # A pod that is gone has no labels left: recheck whoever listed it.
                    ctx.dirty_svc.update(self._listed().pop(pref, set()))
                    continue
                labels = pod["metadata"].get("labels") or {}
                for sref in self.selectors.candidates(pref.namespace, labels):
                    svc = store.get(sref)
                    if svc is not None and matches_selector(
                            labels, (svc.get("spec") or {}).get("selector")):
                        ctx.dirty_svc.add(sref)
                # Its labels may have changed: Services that listed it look again.
                ctx.dirty_svc.update(self._listed().get(pref, ()))
            ctx.dirty_pods.clear()
        if not ctx.dirty_svc:
            return
        for sref in sorted(ctx.dirty_svc):
            svc = store.get(sref)
            if svc is not None:
                self._sync(sref, svc)
        ctx.dirty_svc.clear()

    def _listed(self) -> dict[ObjRef, set[ObjRef]]:
        """Pod -> the Services whose Endpoints name it now."""
        listed = self._listed_pods
        if listed is None:
            listed = self._listed_pods = {}
            for eref, ep in self.ctx.store.of_kind("Endpoints").items():
                for pref in _targets(ep):
                    listed.setdefault(pref, set()).add(ObjRef("Service", eref.name,
                                                              eref.namespace))
        return listed

    def _relist(self, sref: ObjRef, before: set[ObjRef], after: set[ObjRef]) -> None:
        listed = self._listed()
        for pref in before - after:
            owners = listed.get(pref)
            if owners is not None:
                owners.discard(sref)
                if not owners:
                    del listed[pref]
        for pref in after - before:
            listed.setdefault(pref, set()).add(sref)

    def _sync(self, ref: ObjRef, svc: dict[str, Any]) -> None:
        ctx = self.ctx
        spec = svc.get("spec") or {}
        selector = spec.get("selector")
        if not selector:
            return  # a Service without selector has hand-made endpoints
        ready: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        for pref in ctx.store.select("Pod", ref.namespace, selector):
            pod = ctx.store.get(pref)
            ps = self.kubelet.pods.get(pref)
            if pod is None or ps is None or not ps.pod_ip or ps.terminating:
                continue
            addr: dict[str, Any] = {"ip": ps.pod_ip, "nodeName": ps.node or NODE, "targetRef": {
                "kind": "Pod", "name": ps.ref.name, "namespace": ps.ref.namespace,
                "uid": pod["metadata"]["uid"]}}
            pod_spec = pod.get("spec") or {}
            # The pod's hostname is published when the Service governs its subdomain:
            # what gives a StatefulSet's pods their stable DNS names.
            if pod_spec.get("hostname") and pod_spec.get("subdomain") == ref.name:
                addr = {"hostname": pod_spec["hostname"], **addr}
            (ready if ps.ready else not_ready).append(addr)
        members = [ctx.store.get(ObjRef("Pod", a["targetRef"]["name"], a["targetRef"]["namespace"]))
                   for a in ready + not_ready]
        ports = [{"name": p.get("name", ""), "port": port, "protocol": p.get("protocol", "TCP")}
                 for p in spec.get("ports") or []
                 if (port := _target_port(p, members)) is not None]
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
        before = _targets(ep) if ep is not None else set()
        if ep is None:
            ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {
                "name": ref.name, "namespace": ref.namespace, "uid": ctx.store.new_uid(),
                "creationTimestamp": ctx.stamp(),
                # Owned by the Service so deleting it cascades; no copied labels, so a
                # label-based pruner never mistakes it for something it applied.
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": ref.name,
                                     "uid": svc["metadata"]["uid"]}]},
                "subsets": subsets}
            if headless(svc):
                ep["metadata"]["labels"] = {"service.kubernetes.io/headless": ""}
            self._changing(ref)
            ctx.store.put(ep)
        elif ep.get("subsets") != subsets:
            self._changing(ref)
            ep["subsets"] = subsets
            ctx.store.touch(ep)
        self._relist(ref, before, _targets(ep))

    def ready_pods(self, svc: dict[str, Any]) -> list[ObjRef]:
        ep = self.ctx.store.get(ObjRef("Endpoints", svc["metadata"]["name"],
                                       svc["metadata"].get("namespace", "default")))
        out = []
        for subset in (ep or {}).get("subsets") or []:
            for addr in subset.get("addresses") or []:
                t = addr["targetRef"]
                out.append(ObjRef("Pod", t["name"], t["namespace"]))
        return out


def _targets(ep: dict[str, Any]) -> set[ObjRef]:
    out = set()
    for subset in ep.get("subsets") or []:
        for key in ("addresses", "notReadyAddresses"):
            for addr in subset.get(key) or []:
                t = addr.get("targetRef") or {}
                out.add(ObjRef("Pod", str(t.get("name")), str(t.get("namespace"))))
    return out


def _target_port(port: dict[str, Any], pods: list[dict[str, Any] | None]) -> int | None:
    """The number the endpoints serve: a named targetPort is looked up in the pods'
    container ports, as the endpoints controller does (a name no pod declares gives no
    port)."""
    target = port.get("targetPort", port.get("port"))
    if not isinstance(target, str) or target.isdigit():
        return int(target) if isinstance(target, (int, str)) else None
    for pod in pods:
        for c in ((pod or {}).get("spec") or {}).get("containers") or []:
            for cp in c.get("ports") or []:
                if isinstance(cp, dict) and cp.get("name") == target:
                    return cp.get("containerPort")
    return None
