"""The StatefulSet controller: ordered pods `name-0 .. name-(n-1)` with stable claims.

As kube-controller-manager does it: each replica's claims (`<template>-<set>-<ordinal>`)
are made before its pod; OrderedReady creates one pod at a time and waits for it to be
Running and Ready, scales down from the highest ordinal, and Parallel does neither; a
RollingUpdate replaces pods from the highest ordinal down to `partition`, one at a time,
each only when all others are Ready; OnDelete replaces a pod only when someone deletes
it. Claims outlive their pods (the default Retain policy).
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.admission import refuse_pod
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.deployments import template_hash
from sandbox.cluster.sim.pods import Kubelet, PodSim
from sandbox.cluster.sim.workloads import (
    Create,
    owner_reference,
    pod_from,
    pods_of,
    room_for_pods,
)

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
INDEX_LABEL = "apps.kubernetes.io/pod-index"


def revision(name: str, spec: dict[str, Any]) -> str:
    return f"{name}-{template_hash(spec.get('template') or {})}"


def _ordinal(set_name: str, pod_name: str) -> int | None:
    tail = pod_name[len(set_name) + 1:]
    return int(tail) if pod_name.startswith(set_name + "-") and tail.isdigit() else None


class StatefulSetController:
    def __init__(self, ctx: Ctx, kubelet: Kubelet, create: Create) -> None:
        self.ctx = ctx
        self.kubelet = kubelet
        self.create = create

    def sync(self, ref: ObjRef) -> None:
        ctx = self.ctx
        sts = ctx.store.get(ref)
        if sts is None:
            return
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        parallel = spec.get("podManagementPolicy") == "Parallel"
        strategy = spec.get("updateStrategy") or {}
        on_delete = strategy.get("type") == "OnDelete"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        status = sts.get("status") or {}
        update_rev = revision(ref.name, spec)
        current_rev = str(status.get("currentRevision") or update_rev)
        pods: dict[int, tuple[dict[str, Any], PodSim]] = {}
        for pod, ps in pods_of(ctx, self.kubelet, sts):
            ordinal = _ordinal(ref.name, ps.ref.name)
            if ordinal is not None:
                pods[ordinal] = (pod, ps)
        self._replicas(ref, sts, spec, pods, replicas, parallel, partition, on_delete,
                       current_rev, update_rev)
        if not on_delete:
            self._roll(ref, pods, replicas, partition, update_rev)
        self._status(ref, sts, replicas, current_rev, update_rev)

    def _replicas(self, ref: ObjRef, sts: dict[str, Any], spec: dict[str, Any],
                  pods: dict[int, tuple[dict[str, Any], PodSim]], replicas: int,
                  parallel: bool, partition: int, on_delete: bool, current_rev: str,
                  update_rev: str) -> None:
        for ordinal in range(replicas):
            have = pods.get(ordinal)
            if have is not None and have[1].stage == "failed" and not have[1].terminating:
                self.kubelet.terminate(have[1].ref)  # a failed pod is replaced
                self._event("delete", ref, have[1].ref.name)
            if have is None:
                rev = current_rev if (not on_delete and ordinal < partition) else update_rev
                if not self._create_pod(ref, sts, spec, ordinal, rev):
                    return
                if not parallel:
                    return  # OrderedReady: one at a time, each Running and Ready first
                continue
            if not parallel and (have[1].terminating or not have[1].ready):
                return
        condemned = sorted((o for o in pods if o >= replicas), reverse=True)
        if not parallel and condemned:
            # Scale down one at a time, and only with every remaining pod Ready.
            if any(ps.terminating for _, ps in pods.values()):
                return
            if any(not pods[o][1].ready for o in range(replicas) if o in pods):
                return
            condemned = condemned[:1]
        for ordinal in condemned:
            ps = pods[ordinal][1]
            if not ps.terminating:
                self.kubelet.terminate(ps.ref)
                self._event("delete", ref, ps.ref.name)

    def _roll(self, ref: ObjRef, pods: dict[int, tuple[dict[str, Any], PodSim]],
              replicas: int, partition: int, update_rev: str) -> None:
        live = {o: p for o, p in pods.items() if o < replicas}
        if len(live) < replicas or any(ps.terminating or not ps.ready
                                       for _, ps in live.values()):
            return  # one pod at a time, from a fully Ready set
        for ordinal in sorted(live, reverse=True):
            if ordinal < partition:
                break
            pod, ps = live[ordinal]
            if (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) != update_rev:
                self.kubelet.terminate(ps.ref)
                self._event("delete", ref, ps.ref.name)
                return

    def _create_pod(self, ref: ObjRef, sts: dict[str, Any], spec: dict[str, Any],
                    ordinal: int, rev: str) -> bool:
        ctx = self.ctx
        name = f"{ref.name}-{ordinal}"
        template = spec.get("template") or {}
        if rev != revision(ref.name, spec):
            template = (ctx.ctl.get(ref) or {}).get("templates", {}).get(rev, template)
        if refuse_pod(ctx, ref, name, template.get("spec") or {}):
            return False
        if not room_for_pods(ctx, self.kubelet, ref):
            return False
        selector_labels = ((spec.get("selector") or {}).get("matchLabels") or {})
        volumes = []
        for claim in spec.get("volumeClaimTemplates") or []:
            cname = str((claim.get("metadata") or {}).get("name", ""))
            claim_name = f"{cname}-{ref.name}-{ordinal}"
            volumes.append({"name": cname, "persistentVolumeClaim": {"claimName": claim_name}})
            if ctx.store.get(ObjRef("PersistentVolumeClaim", claim_name, ref.namespace)) is None:
                self.create({
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": claim_name, "namespace": ref.namespace,
                                 "labels": {**((claim.get("metadata") or {}).get("labels")
                                               or {}), **selector_labels}},
                    "spec": {**(claim.get("spec") or {})}})
                self._event("create Claim", ref, f"{claim_name} Pod {name}", claim=True)
        pod = pod_from(template, name, ref.namespace,
                       owner_reference("StatefulSet", "apps/v1", sts),
                       {REVISION_LABEL: rev, POD_NAME_LABEL: name, INDEX_LABEL: str(ordinal)})
        pod["spec"]["hostname"] = name
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        names = {v.get("name") for v in pod["spec"].get("volumes") or []}
        pod["spec"]["volumes"] = [*(pod["spec"].get("volumes") or []),
                                  *(v for v in volumes if v["name"] not in names)]
        self.create(pod)
        self._event("create", ref, name)
        return True

    def _event(self, verb: str, ref: ObjRef, what: str, claim: bool = False) -> None:
        if claim:
            msg = f"create Claim {what} in StatefulSet {ref.name} success"
        else:
            msg = f"{verb} Pod {what} in StatefulSet {ref.name} successful"
        reason = "SuccessfulDelete" if verb == "delete" else "SuccessfulCreate"
        self.ctx.emit(reason, ref, msg)

    def _status(self, ref: ObjRef, sts: dict[str, Any], replicas: int, current_rev: str,
                update_rev: str) -> None:
        ctx = self.ctx
        live = [(pod, ps) for pod, ps in pods_of(ctx, self.kubelet, sts)
                if not ps.terminating and ps.stage not in ("succeeded", "failed")]
        revs = [(pod["metadata"].get("labels") or {}).get(REVISION_LABEL) for pod, _ in live]
        ready = sum(1 for _, ps in live if ps.ready)
        updated = revs.count(update_rev)
        if updated == replicas == len(live) and ready == replicas:
            current_rev = update_rev  # the roll-out is complete: the update is current
        # Remember the templates by revision, so a partitioned set recreates the pods
        # below its partition from the revision they had.
        state = ctx.ctl.setdefault(ref, {})
        templates = state.setdefault("templates", {})
        if update_rev not in templates:
            templates[update_rev] = (sts.get("spec") or {}).get("template") or {}
            for old in [r for r in templates if r not in (update_rev, current_rev)]:
                del templates[old]
            ctx.store.changed.add(ref)
        status = {"observedGeneration": sts["metadata"].get("generation", 1),
                  "replicas": len(live), "readyReplicas": ready, "availableReplicas": ready,
                  "currentReplicas": revs.count(current_rev), "updatedReplicas": updated,
                  "currentRevision": current_rev, "updateRevision": update_rev,
                  "collisionCount": 0}
        if status != sts.get("status"):
            sts["status"] = status
            ctx.store.touch(sts)
