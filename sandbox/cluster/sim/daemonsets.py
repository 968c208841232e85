"""The DaemonSet controller: one pod on every Ready node.

As the daemonset-controller does: a node without the set's pod gets one (bound to it,
as the controller's node affinity does); a RollingUpdate replaces old pods node by node
with at most `maxUnavailable` (1, or a percentage of the nodes) unavailable at once,
old pods that are not available going first; OnDelete replaces a pod only when someone
deletes it.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.admission import refuse_pod
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.deployments import scaled_value, template_hash
from sandbox.cluster.sim.pods import Kubelet, PodSim
from sandbox.cluster.sim.scheduling import Scheduler
from sandbox.cluster.sim.workloads import (
    Create,
    owner_reference,
    pod_from,
    pods_of,
    random_suffix,
    room_for_pods,
)

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"


class DaemonSetController:
    def __init__(self, ctx: Ctx, kubelet: Kubelet, scheduler: Scheduler,
                 create: Create) -> None:
        self.ctx = ctx
        self.kubelet = kubelet
        self.scheduler = scheduler
        self.create = create

    def sync(self, ref: ObjRef) -> None:
        ctx = self.ctx
        ds = ctx.store.get(ref)
        if ds is None:
            return
        spec = ds.get("spec") or {}
        rev = template_hash(spec.get("template") or {})
        nodes = self.scheduler.nodes()
        by_node: dict[str, list[tuple[dict[str, Any], PodSim]]] = {}
        for pod, ps in pods_of(ctx, self.kubelet, ds):
            by_node.setdefault(str(pod["spec"].get("nodeName", "")), []).append((pod, ps))
        for node in nodes:
            live = [p for p in by_node.get(node, []) if not p[1].terminating]
            if not live and not by_node.get(node):
                if not self._create_pod(ref, ds, spec, node, rev):
                    break
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") != "OnDelete":
            self._roll(ref, spec, strategy, nodes, by_node, rev)
        self._status(ref, ds, nodes, rev)

    def _roll(self, ref: ObjRef, spec: dict[str, Any], strategy: dict[str, Any],
              nodes: list[str], by_node: dict[str, list[tuple[dict[str, Any], PodSim]]],
              rev: str) -> None:
        budget = scaled_value((strategy.get("rollingUpdate") or {}).get("maxUnavailable"),
                              len(nodes), False, "1") or 1
        old: list[PodSim] = []
        unavailable = 0
        for node in nodes:
            pods = by_node.get(node, [])
            if not any(ps.ready and not ps.terminating for _, ps in pods):
                unavailable += 1
            old += [ps for pod, ps in pods if not ps.terminating
                    and (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) != rev]
        # Old pods that are not available cost nothing to replace; then the budget.
        for ps in sorted(old, key=lambda p: (p.ready, p.ref.name)):
            was_ready = ps.ready
            if was_ready and unavailable >= budget:
                break
            self.kubelet.terminate(ps.ref)
            self.ctx.emit("SuccessfulDelete", ref, f"Deleted pod: {ps.ref.name}")
            if was_ready:
                unavailable += 1

    def _create_pod(self, ref: ObjRef, ds: dict[str, Any], spec: dict[str, Any],
                    node: str, rev: str) -> bool:
        ctx = self.ctx
        template = spec.get("template") or {}
        if refuse_pod(ctx, ref, f"{ref.name}-", template.get("spec") or {}):
            return False
        if not room_for_pods(ctx, self.kubelet, ref):
            return False
        name = random_suffix(ctx, f"{ref.name}-", ref.namespace)
        pod = pod_from(template, name, ref.namespace,
                       owner_reference("DaemonSet", "apps/v1", ds),
                       {REVISION_LABEL: rev,
                        GENERATION_LABEL: str(ds["metadata"].get("generation", 1))},
                       generate_name=f"{ref.name}-")
        pod["spec"]["nodeName"] = node
        self.create(pod)
        ctx.emit("SuccessfulCreate", ref, f"Created pod: {name}")
        return True

    def _status(self, ref: ObjRef, ds: dict[str, Any], nodes: list[str], rev: str) -> None:
        scheduled, ready, updated = set(), set(), set()
        for pod, ps in pods_of(self.ctx, self.kubelet, ds):
            if ps.terminating:
                continue
            node = str(pod["spec"].get("nodeName", ""))
            scheduled.add(node)
            if ps.ready:
                ready.add(node)
            if (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) == rev:
                updated.add(node)
        status: dict[str, Any] = {
            "currentNumberScheduled": len(scheduled & set(nodes)),
            "desiredNumberScheduled": len(nodes),
            "numberMisscheduled": len(scheduled - set(nodes)),
            "numberReady": len(ready), "numberAvailable": len(ready),
            "updatedNumberScheduled": len(updated),
            "observedGeneration": ds["metadata"].get("generation", 1)}
        if len(nodes) - len(ready):
            status["numberUnavailable"] = len(nodes) - len(ready)
        if status != ds.get("status"):
            ds["status"] = status
            self.ctx.store.touch(ds)
