"""The controller side of SimCluster: the objects' lifecycle (create, update, remove,
with what each write tells the controllers) and the scheduling that plays the controllers
forward through simulated time (`_advance`, `_settle`). The API side, in cluster.py,
checks and stores what callers ask for and leaves the moving to this class.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from typing import Any

from sandbox.clock import Clock
from sandbox.cluster.base import ObjRef
from sandbox.cluster.discovery import Discovery
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.controllers import Controllers
from sandbox.cluster.sim.crds import CRD_KIND, CrdRegistry
from sandbox.cluster.sim.deployments import DeploymentController
from sandbox.cluster.sim.ingress import IngressController
from sandbox.cluster.sim.pods import Kubelet
from sandbox.cluster.sim.replicasets import ReplicaSetController
from sandbox.cluster.sim.services import EndpointsController, keep_allocated, without_allocated
from sandbox.cluster.sim.store import (
    SYSTEM_ANNOTATION_PREFIXES,
    Store,
    Timers,
    canonical,
    clone,
    is_namespaced,
    matches_selector,
    owner_uid,
)
from sandbox.cluster.sim.traffic import Endpoint, Traffic
from sandbox.registry import ImageProfile

# Spec fields the API server fills in; an apply that leaves them out does not change them.
SERVER_FIELDS = {"Service": ("clusterIP", "clusterIPs", "type"),
                 "Pod": ("nodeName", "restartPolicy"),
                 "PersistentVolumeClaim": ("storageClassName", "volumeName", "volumeMode")}


class SimRuntime:
    """Store, controllers and traffic of one simulated cluster, moved by the clock."""

    def __init__(self, clock: Clock, discovery: Discovery, seed: int,
                 resolve_image: Callable[[str], ImageProfile | None], *, max_pods: int,
                 nodes: int, kubernetes_version: str) -> None:
        self.clock = clock
        self.seed = seed
        self._store = Store(seed)
        self._ctx = Ctx(self._store, Timers(), random.Random(seed), resolve_image,
                        now=clock.now(), max_pods=max_pods)
        self._kubelet = Kubelet(self._ctx)
        self._rsc = ReplicaSetController(self._ctx, self._kubelet)
        self._dc = DeploymentController(self._ctx, self._rsc)
        self._eps = EndpointsController(self._ctx, self._kubelet)
        self._eps.before_change = self._before_endpoints_change
        self._ingress = IngressController(self._ctx)
        self._traffic = Traffic(seed)
        self._crds = CrdRegistry(discovery)
        self._work = Controllers(self._ctx, self._kubelet, self._create,
                                 lambda ref: self._remove(ref, graceful=False), nodes,
                                 kubernetes_version, self._service_rps)

    def _advance(self) -> None:
        """Play every due transition up to the clock's now, in time order."""
        ctx, timers = self._ctx, self._ctx.timers
        target = max(ctx.now, self.clock.now())
        self._settle()
        while (due := timers.next_time()) is not None and due <= target:
            ctx.now = max(ctx.now, due)
            for what, ref, gen in timers.pop_until(ctx.now):
                if what == "pod":
                    owner = self._kubelet.fire(ref, gen)
                    if owner is not None:
                        self._work.owner_changed(owner)
                    if self._store.get(ref) is None:
                        self._traffic.forget_pod(f"{ref.namespace}/{ref.name}")
                        # Recreate and history cleanup wait for old pods to be gone.
                        rs = self._store.get(owner) if owner is not None else None
                        dep = self._store.by_uid(owner_uid(rs, "Deployment")) if rs else None
                        if dep is not None:
                            ctx.dirty_deploy.add(dep)
                elif what == "deadline":
                    ctx.dirty_deploy.add(ref)
                elif what == "work":
                    self._work.timer(ref)
            self._settle()
        ctx.now = target
        self._flush_endpoints()

    def _settle(self) -> None:
        """Run controllers until none has anything left to do at this instant."""
        ctx = self._ctx
        if ctx.starved and len(self._kubelet.pods) < ctx.max_pods:
            for owner in ctx.starved:  # room again: controllers left short try again
                self._work.owner_changed(owner)
            ctx.starved = set()
        while ctx.dirty_rs or ctx.dirty_deploy or ctx.dirty_work:
            if ctx.dirty_work and not ctx.dirty_rs:
                self._work.sync_dirty()
            elif ctx.dirty_rs:
                refs, ctx.dirty_rs = sorted(ctx.dirty_rs), set()
                for ref in refs:
                    self._rsc.sync(ref)
            else:
                refs, ctx.dirty_deploy = sorted(ctx.dirty_deploy), set()
                for ref in refs:
                    self._dc.sync(ref)
                    # Its rollout progress may have moved without a status change.
                    self._store.changed.add(ref)

    def _finish(self) -> None:
        self._settle()
        self._flush_endpoints()

    def _flush_endpoints(self) -> None:
        self._ingress.flush()
        self._eps.flush()
        for sref in self._eps.take_changed():
            self._serve(sref)

    def _before_endpoints_change(self, sref: ObjRef) -> None:
        # The traffic so far went to the endpoints the Service had until now.
        self._traffic.settle(self._ctx.now, f"{sref.namespace}/{sref.name}")

    def _serve(self, sref: ObjRef) -> None:
        """Tell the traffic which ready pods answer a Service now."""
        svc = self._store.get(sref)
        if svc is None:
            self._traffic.serve(f"{sref.namespace}/{sref.name}", None)
            return
        eps = []
        for pref in self._eps.ready_pods(svc):
            ps = self._kubelet.pods.get(pref)
            pod = self._store.get(pref)
            if ps is None or pod is None or ps.profile is None:
                continue
            image = str((pod["spec"].get("containers") or [{}])[0].get("image", ""))
            eps.append(Endpoint(f"{pref.namespace}/{pref.name}", ps.deployment,
                                ps.version, image, ps.profile, ps.ready_since))
        self._traffic.serve(f"{sref.namespace}/{sref.name}", eps)

    def _service_rps(self, namespace: str, labels: dict[str, str]) -> float:
        """The requests per second reaching pods with these labels, for the HPA."""
        total = 0.0
        for ref, svc in self._store.of_kind("Service").items():
            selector = (svc.get("spec") or {}).get("selector")
            if ref.namespace == namespace and selector and matches_selector(labels, selector):
                total += self._traffic.base_rps(f"{ref.namespace}/{ref.name}")
        return total

    def _create(self, obj: dict[str, Any]) -> None:
        ctx = self._ctx
        meta = obj["metadata"]
        meta.update(uid=self._store.new_uid(), generation=1, creationTimestamp=ctx.stamp())
        ref = ObjRef.of(obj)
        if ref.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
            self._store.put(obj)
            self._work.namespace_created(ref.name)
        elif ref.kind == "Deployment":
            obj["status"] = {}
            ctx.dirty_deploy.add(ref)
        elif ref.kind == "ReplicaSet":
            ctx.dirty_rs.add(ref)
        elif ref.kind == "Pod":
            self._kubelet.admit(obj)
            ctx.dirty_pods.add(ref)
        elif ref.kind == "Service":
            self._eps.admit(obj)
            ctx.dirty_svc.add(ref)
        elif ref.kind == CRD_KIND:
            self._crds.establish(obj, ctx.stamp())
        self._work.created(obj)
        self._store.put(obj)

    def _update(self, ref: ObjRef, existing: dict[str, Any], desired: dict[str, Any]) -> None:
        ctx = self._ctx
        old_spec_obj = clone(existing.get("spec"))
        old_spec = canonical(old_spec_obj)
        self._store.unindex(ref)  # its owner references may change
        for key in [k for k in existing if k not in ("metadata", "status")]:
            if key not in desired:
                del existing[key]
        server = {k: v for k, v in (existing.get("spec") or {}).items()
                  if k in SERVER_FIELDS.get(ref.kind, ()) + self._work.owned_fields(ref)}
        for key, value in desired.items():
            if key not in ("metadata", "status"):
                existing[key] = value
        if server and isinstance(existing.get("spec"), dict):
            existing["spec"] = {**server, **existing["spec"]}
        if ref.kind == "Service":
            keep_allocated(old_spec_obj, existing.get("spec"))
        meta, new_meta = existing["metadata"], desired["metadata"]
        old_labels = meta.get("labels")
        meta["labels"] = new_meta.get("labels") or {}
        meta["annotations"] = {**_system_annotations(meta), **(new_meta.get("annotations") or {})}
        if "ownerReferences" in new_meta:
            meta["ownerReferences"] = new_meta["ownerReferences"]
        if canonical(existing.get("spec")) != old_spec:
            meta["generation"] = meta.get("generation", 1) + 1
        if ref.kind == CRD_KIND:
            self._crds.establish(existing, ctx.stamp())
        self._store.put(existing)
        if ref.kind == "Deployment":
            ctx.dirty_deploy.add(ref)
        elif ref.kind == "ReplicaSet":
            ctx.dirty_rs.add(ref)
        elif ref.kind == "Service":
            ctx.dirty_svc.add(ref)
        elif ref.kind == "Pod" and old_labels != meta["labels"]:
            ctx.dirty_pods.add(ref)
        self._work.updated(ref)

    def _remove(self, ref: ObjRef, graceful: bool) -> None:
        """Delete one object and, through owner references, what it owns."""
        ctx = self._ctx
        obj = self._store.get(ref)
        if obj is None:
            return
        if ref.kind == "Pod" and graceful and ref in self._kubelet.pods:
            self._kubelet.terminate(ref)
        else:
            self._store.remove(ref)
            if ref.kind == "Pod":
                self._kubelet.forget(ref)
                self._traffic.forget_pod(f"{ref.namespace}/{ref.name}")
            for child in self._store.children(obj["metadata"]["uid"]):
                self._remove(child, graceful)
            self._work.removed(obj)
        # Controllers put back what they own: a deleted pod or ReplicaSet is recreated.
        if ref.kind == "Service":
            ctx.dirty_svc.add(ref)  # its endpoints controller lets go of it
        for kind, dirty in (("ReplicaSet", ctx.dirty_rs), ("Deployment", ctx.dirty_deploy),
                            ("Service", ctx.dirty_svc)):
            owner = self._store.by_uid(owner_uid(obj, kind))
            if owner is not None:
                dirty.add(owner)
        owner = self._store.by_uid(owner_uid(obj))
        if owner is not None and owner.kind in self._work.syncs:
            ctx.dirty_work.add(owner)
        if ref.kind == "Deployment":
            self._dc.forget(ref)


def _system_annotations(meta: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (meta.get("annotations") or {}).items()
            if k.startswith(SYSTEM_ANNOTATION_PREFIXES)}


def normalize(obj: dict[str, Any], ref: ObjRef) -> dict[str, Any]:
    """What gets stored from an applied manifest: no status, no server-owned metadata,
    Secret stringData folded into base64 data as the API server does."""
    out = {k: clone(v) for k, v in obj.items() if k not in ("metadata", "status")}
    meta = obj.get("metadata") or {}
    new_meta: dict[str, Any] = {"name": ref.name}
    if is_namespaced(ref.kind):
        new_meta["namespace"] = ref.namespace
    for key in ("labels", "annotations", "ownerReferences"):
        if meta.get(key):
            new_meta[key] = clone(meta[key])
    out["metadata"] = new_meta
    if ref.kind == "Secret" and out.get("stringData"):
        data = dict(out.get("data") or {})
        for key, value in out.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        out["data"] = data
    return out


def same_as_applied(existing: dict[str, Any], desired: dict[str, Any], owned: tuple[str, ...] = ()
          ) -> bool:
    kind = str(existing.get("kind"))
    have = {k: v for k, v in existing.items() if k not in ("metadata", "status")}
    want = {k: v for k, v in desired.items() if k != "metadata"}
    if isinstance(have.get("spec"), dict) and isinstance(want.get("spec"), dict):
        skip = [f for f in SERVER_FIELDS.get(kind, ()) + owned if f not in want["spec"]]
        have["spec"] = {k: v for k, v in have["spec"].items() if k not in skip}
        if kind == "Service":
            have["spec"] = without_allocated(have["spec"], want["spec"])
    meta, new_meta = existing["metadata"], desired["metadata"]
    user_annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                        if not k.startswith(SYSTEM_ANNOTATION_PREFIXES)}
    return (canonical(have) == canonical(want)
            and (meta.get("labels") or {}) == (new_meta.get("labels") or {})
            and user_annotations == (new_meta.get("annotations") or {}))
