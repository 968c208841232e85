"""An ingress controller: Ingresses get a load-balancer address once a controller for
their class exists.

In a real cluster an Ingress is only an object until an ingress controller (ingress-nginx,
Traefik...) claims it; that controller's IngressClass is how it says so. Here an
IngressClass stands for its controller: an Ingress naming an existing class, or naming
none while a class is marked default, gets the node's address in
status.loadBalancer.ingress (as ingress-nginx on kind publishes it); any other Ingress
stays without an address, as it would on a cluster with no controller. The controller
watches only Ingresses and IngressClasses and looks at what changed.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.pods import HOST_IP

DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
KINDS = frozenset({"Ingress", "IngressClass"})


class IngressController:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self._watch = ctx.store.watch(kinds=KINDS)

    def flush(self) -> None:
        changed = self._watch.take()
        if changed is not None and not changed:
            return
        store = self.ctx.store
        if changed is None or any(r.kind == "IngressClass" for r in changed):
            todo = sorted(store.of_kind("Ingress"))  # a class came or went: all look again
        else:
            todo = sorted(changed)
        classes = store.of_kind("IngressClass")
        default = next((ref.name for ref, c in sorted(classes.items())
                        if ((c.get("metadata") or {}).get("annotations") or {}).get(
                            DEFAULT_CLASS) == "true"), None)
        for ref in todo:
            ing = store.get(ref)
            if ing is not None:
                self._sync(ref, ing, classes, default)
        self._watch.take()  # our own status writes are no news

    def _sync(self, ref: ObjRef, ing: dict[str, Any], classes: dict[ObjRef, Any],
              default: str | None) -> None:
        spec = ing.get("spec") or {}
        annotations = (ing.get("metadata") or {}).get("annotations") or {}
        name = (spec.get("ingressClassName")
                or annotations.get("kubernetes.io/ingress.class") or default)
        # By name: IngressClass is cluster-scoped, whatever namespace a ref carries.
        served = name is not None and any(c.name == str(name) for c in classes)
        lb: dict[str, Any] = {"ingress": [{"ip": HOST_IP}]} if served else {}
        status = ing.get("status") or {}
        if status.get("loadBalancer") == lb and "loadBalancer" in status:
            return
        ing["status"] = {**status, "loadBalancer": lb}
        self.ctx.store.touch(ing)
        if served:
            self.ctx.emit("Sync", ref, "Scheduled for sync", source="ingress-controller")
