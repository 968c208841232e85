"""The ReplicaSet controller: keeps the number of live pods equal to spec.replicas."""

from __future__ import annotations

from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.admission import refuse_pod
from sandbox.cluster.sim.adopt import claim
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.pods import Kubelet, PodSim
from sandbox.cluster.sim.store import clone, owner_uid

# Kubernetes' alphabet for generated name suffixes (no vowels, no look-alikes).
SAFE_CHARS = "bcdfghjklmnpqrstvwxz2456789"


class ReplicaSetController:
    def __init__(self, ctx: Ctx, kubelet: Kubelet) -> None:
        self.ctx = ctx
        self.kubelet = kubelet
        # The uid each ReplicaSet last claimed orphan pods for (see adopt.py).
        self._claimed: dict[ObjRef, str] = {}

    def active_pods(self, rs: dict[str, Any]) -> list[PodSim]:
        out = []
        for ref in self.ctx.store.children(rs["metadata"]["uid"]):
            ps = self.kubelet.pods.get(ref)
            if ps is not None and not ps.terminating:
                out.append(ps)
        return out

    def counts(self, rs: dict[str, Any]) -> tuple[int, int]:
        """(live pods, ready pods); ready counts as available (minReadySeconds is 0)."""
        pods = self.active_pods(rs)
        return len(pods), sum(1 for p in pods if p.ready)

    def sync(self, ref: ObjRef) -> None:
        ctx = self.ctx
        rs = ctx.store.get(ref)
        if rs is None:
            self._claimed.pop(ref, None)
            return
        if self._claimed.get(ref) != rs["metadata"]["uid"]:
            self._claimed[ref] = rs["metadata"]["uid"]
            claim(ctx, rs, "Pod")
        desired = int(rs.get("spec", {}).get("replicas", 1))
        pods = self.active_pods(rs)
        template_spec = (rs.get("spec", {}).get("template") or {}).get("spec") or {}
        if len(pods) < desired and refuse_pod(ctx, ref, f"{ref.name}-", template_spec):
            pass  # no pod without its ServiceAccount; the namespace's next one wakes it
        elif len(pods) < desired:
            room = max(0, ctx.max_pods - len(self.kubelet.pods))
            for _ in range(min(desired - len(pods), room)):
                name = self._create_pod(ref, rs)
                ctx.emit("SuccessfulCreate", ref, f"Created pod: {name}")
            if desired - len(pods) > room:
                # Like a quota refusal: the ReplicaSet stays short and says so, and the
                # simulation's memory stays bounded whatever was applied.
                if ref not in ctx.starved:
                    ctx.emit("FailedCreate", ref, f'Error creating: pods "{ref.name}-" is '
                             f"forbidden: the cluster holds at most {ctx.max_pods} pods "
                             f"(setting max_pods); {desired - len(pods) - room} not created",
                             "Warning")
                ctx.starved.add(ref)
            else:
                ctx.starved.discard(ref)
        elif len(pods) > desired:
            for ps in sorted(pods, key=_deletion_rank)[: len(pods) - desired]:
                self.kubelet.terminate(ps.ref)
                ctx.emit("SuccessfulDelete", ref, f"Deleted pod: {ps.ref.name}")
        self.update_status(ref, rs)

    def update_status(self, ref: ObjRef, rs: dict[str, Any]) -> None:
        live, ready = self.counts(rs)
        status: dict[str, Any] = {
            "replicas": live, "fullyLabeledReplicas": live, "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
        refused = (self.ctx.ctl.get(ref) or {}).get("refused")
        if refused:
            old = [c for c in (rs.get("status") or {}).get("conditions") or []
                   if c.get("type") == "ReplicaFailure"]
            status["conditions"] = [{
                "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                "message": refused, "lastTransitionTime":
                    old[0]["lastTransitionTime"] if old else self.ctx.stamp()}]
        if status != rs.get("status"):
            rs["status"] = status
            self.ctx.store.touch(rs)
            owner = self.ctx.store.by_uid(owner_uid(rs, "Deployment"))
            if owner is not None:
                self.ctx.dirty_deploy.add(owner)

    def _create_pod(self, ref: ObjRef, rs: dict[str, Any]) -> str:
        ctx = self.ctx
        template = rs.get("spec", {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        while True:
            suffix = "".join(ctx.rng.choice(SAFE_CHARS) for _ in range(5))
            name = f"{ref.name}-{suffix}"
            if ctx.store.get(ObjRef("Pod", name, ref.namespace)) is None:
                break
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name, "generateName": f"{ref.name}-", "namespace": ref.namespace,
                "uid": ctx.store.new_uid(), "generation": 1,
                "creationTimestamp": ctx.stamp(),
                "labels": dict(tmeta.get("labels") or {}),
                "annotations": dict(tmeta.get("annotations") or {}),
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": ref.name,
                    "uid": rs["metadata"]["uid"], "controller": True,
                    "blockOwnerDeletion": True}],
            },
            "spec": clone(template.get("spec") or {}),
            "status": {},
        }
        pod["spec"].setdefault("restartPolicy", "Always")
        dep = ctx.store.by_uid(owner_uid(rs, "Deployment"))
        self.kubelet.admit(pod, f"{dep.namespace}/{dep.name}" if dep else "")
        ctx.store.put(pod)
        ctx.dirty_pods.add(ObjRef.of(pod))
        return name


def _deletion_rank(ps: PodSim) -> tuple[Any, ...]:
    """Kubernetes' order for scale-down: unscheduled, then not running, then not ready,
    then ready the shortest time, most restarts, newest first. Ready pods go last so a
    rolling update keeps its minimum availability."""
    return (ps.scheduled_at is not None, ps.stage == "running", ps.ready,
            -(ps.ready_since or 0.0), -ps.restarts, -ps.created)
