"""The controllers beyond Deployments and ReplicaSets, behind one face for SimCluster:
it tells them what was created, updated or removed, and asks them to sync what is
dirty. Also the objects a new cluster starts with (nodes, the default StorageClass)
and those each namespace gets (its `default` ServiceAccount, `kube-root-ca.crt`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.admission import namespace_defaults
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.cronjobs import CronJobController
from sandbox.cluster.sim.daemonsets import DaemonSetController
from sandbox.cluster.sim.hpa import HPAController
from sandbox.cluster.sim.jobs import JobController
from sandbox.cluster.sim.pods import Kubelet
from sandbox.cluster.sim.scheduling import Scheduler, node_names, node_object
from sandbox.cluster.sim.statefulsets import StatefulSetController
from sandbox.cluster.sim.volumes import VolumeController, default_storage_class
from sandbox.cluster.sim.workloads import Create, Remove, woken

# What pods may wait for: its creation wakes the namespace's waiting pods.
POD_NEEDS = ("ConfigMap", "Secret", "PersistentVolumeClaim")


class Controllers:
    def __init__(self, ctx: Ctx, kubelet: Kubelet, create: Create, remove: Remove,
                 nodes: int, kubernetes_version: str,
                 service_rps: Callable[[str, dict[str, str]], float]) -> None:
        self.ctx = ctx
        self.kubelet = kubelet
        self.create = create
        self.node_count = nodes
        self.kubernetes_version = kubernetes_version
        self.volumes = VolumeController(ctx, create, remove)
        self.scheduler = Scheduler(ctx, self.volumes.claim_ready)
        kubelet.scheduler = self.scheduler
        self.statefulsets = StatefulSetController(ctx, kubelet, create)
        self.hpa = HPAController(ctx, kubelet, service_rps, self._scaled)
        self.syncs: dict[str, Callable[[ObjRef], None]] = {
            "StatefulSet": self.statefulsets.sync,
            "DaemonSet": DaemonSetController(ctx, kubelet, self.scheduler, create).sync,
            "Job": JobController(ctx, kubelet, create, remove).sync,
            "CronJob": CronJobController(ctx, create, remove).sync,
            "HorizontalPodAutoscaler": self.hpa.sync,
            "PersistentVolumeClaim": self.volumes.sync,
        }

    def owned_fields(self, ref: ObjRef) -> tuple[str, ...]:
        """Spec fields another controller owns: an apply that leaves them out keeps
        them, as server-side apply keeps another manager's fields. An HPA's target's
        replicas are the HPA's."""
        if ref.kind in ("Deployment", "StatefulSet", "ReplicaSet") and self.hpa.targets(ref):
            return ("replicas",)
        return ()

    def _scaled(self, target: ObjRef) -> None:
        if target.kind == "Deployment":
            self.ctx.dirty_deploy.add(target)
        else:
            self.owner_changed(target)

    # -- what a cluster starts with ---------------------------------------------------

    def ensure_defaults(self) -> None:
        """Create the nodes and the default StorageClass if missing (a new cluster, or
        one saved by a version that had none), and each namespace's defaults."""
        store = self.ctx.store
        for i, name in enumerate(node_names(self.node_count)):
            if store.get(ObjRef("Node", name)) is None:
                self.create(node_object(name, i, self.kubernetes_version, self.ctx.stamp()))
        if not store.of_kind("StorageClass"):
            self.create(default_storage_class())
        for ref in sorted(store.of_kind("Namespace")):
            self.namespace_created(ref.name)

    def namespace_created(self, namespace: str) -> None:
        for obj in namespace_defaults(namespace):
            if self.ctx.store.get(ObjRef.of(obj)) is None:
                self.create(obj)

    # -- API events -------------------------------------------------------------------

    def created(self, obj: dict[str, Any]) -> None:
        ref = ObjRef.of(obj)
        if ref.kind == "PersistentVolumeClaim":
            self.volumes.admit(obj)
        if ref.kind in self.syncs:
            obj.setdefault("status", {})
            self.ctx.dirty_work.add(ref)
        self._wake_waiters(ref)

    def updated(self, ref: ObjRef) -> None:
        if ref.kind in self.syncs:
            self.ctx.dirty_work.add(ref)
        self._wake_waiters(ref)

    def removed(self, obj: dict[str, Any]) -> None:
        ref = ObjRef.of(obj)
        self.ctx.ctl.pop(ref, None)
        if ref.kind == "PersistentVolumeClaim":
            self.volumes.removed(obj)

    def _wake_waiters(self, ref: ObjRef) -> None:
        ctx = self.ctx
        if ref.kind in POD_NEEDS:
            self.kubelet.kick(ref.namespace)
        elif ref.kind == "Node":
            for ds in ctx.store.of_kind("DaemonSet"):
                ctx.dirty_work.add(ds)
        elif ref.kind == "ServiceAccount":
            for owner in sorted(ctx.blocked.pop(ref.namespace, set())):
                (ctx.dirty_rs if owner.kind == "ReplicaSet" else ctx.dirty_work).add(owner)
        elif ref.kind == "StorageClass":
            for pvc in ctx.store.of_kind("PersistentVolumeClaim"):
                ctx.dirty_work.add(pvc)
            for namespace in sorted(self.kubelet.waiting):
                self.kubelet.kick(namespace)

    # -- time -------------------------------------------------------------------------

    def owner_changed(self, owner: ObjRef) -> None:
        """One of the owner's pods changed or went away."""
        (self.ctx.dirty_rs if owner.kind == "ReplicaSet" else self.ctx.dirty_work).add(owner)

    def timer(self, ref: ObjRef) -> None:
        woken(self.ctx, ref)
        self.ctx.dirty_work.add(ref)

    def sync_dirty(self) -> None:
        refs, self.ctx.dirty_work = sorted(self.ctx.dirty_work), set()
        for ref in refs:
            sync = self.syncs.get(ref.kind)
            if sync is not None:
                sync(ref)

    def restored(self) -> None:
        """After a restore: re-arm the saved wake-ups and let every controller look once."""
        ctx = self.ctx
        for ref, state in sorted(ctx.ctl.items()):
            for at in state.get("wakes") or []:
                ctx.timers.push(float(at), "work", ref)
            if state.get("refused"):
                ctx.blocked.setdefault(ref.namespace, set()).add(ref)
        for kind in self.syncs:
            ctx.dirty_work.update(ctx.store.of_kind(kind))
        self.scheduler.recount(self.kubelet.pods)
        self.kubelet.relist()
