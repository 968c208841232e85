"""The Deployment controller: rolling updates, Recreate, revisions, progress deadline.

It follows kube-controller-manager's rolling-update arithmetic (reconcileNewReplicaSet,
reconcileOldReplicaSets, cleanupUnhealthyReplicas) so that the counts a learner sees
while a rollout runs are the ones a real cluster would show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.adopt import claim
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.replicasets import SAFE_CHARS, ReplicaSetController
from sandbox.cluster.sim.store import canonical, clone

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"


def template_hash(template: dict[str, Any]) -> str:
    """FNV-1a over the template, encoded like Kubernetes' SafeEncodeString."""
    h = 0x811C9DC5
    for byte in canonical(template).encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(SAFE_CHARS[ord(ch) % len(SAFE_CHARS)] for ch in str(h))


def scaled_value(value: Any, total: int, round_up: bool, default: str) -> int:
    """An IntOrString like maxSurge: 1 or "25%" of total (surge rounds up,
    unavailability rounds down, as in Kubernetes)."""
    if value is None:
        value = default
    if isinstance(value, str) and value.endswith("%"):
        pct = float(value[:-1] or 0) * total / 100.0
        return int(math.ceil(pct) if round_up else math.floor(pct))
    return int(value)


def rolling_bounds(spec: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas."""
    desired = int(spec.get("replicas", 1))
    ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(ru.get("maxSurge"), desired, True, "25%")
    unavailable = scaled_value(ru.get("maxUnavailable"), desired, False, "25%")
    if surge == 0 and unavailable == 0:
        unavailable = 1  # Kubernetes' fencepost rule: a rollout must be able to move
    return surge, unavailable


@dataclass
class Progress:
    rs_name: str = ""
    updated: int = 0
    available: int = 0
    old: int = 0
    last_progress: float = 0.0
    exceeded: bool = False


def _rev(rs: dict[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


class DeploymentController:
    def __init__(self, ctx: Ctx, replicasets: ReplicaSetController) -> None:
        self.ctx = ctx
        self.rsc = replicasets
        # The uid each Deployment last claimed orphan ReplicaSets for (see adopt.py):
        # once per object, not on every sync.
        self._claimed: dict[ObjRef, str] = {}
        self.progress: dict[ObjRef, Progress] = {}
        # Hashing the template is the costliest part of a sync; it only changes with the
        # generation, so remember it per (uid, generation).
        self._hashes: dict[ObjRef, tuple[tuple[str, int], str]] = {}

    def _template_hash(self, ref: ObjRef, dep: dict[str, Any]) -> str:
        key = (dep["metadata"]["uid"], int(dep["metadata"].get("generation", 1)))
        cached = self._hashes.get(ref)
        if cached is None or cached[0] != key:
            cached = self._hashes[ref] = (key, template_hash(
                (dep.get("spec") or {}).get("template") or {}))
        return cached[1]

    def forget(self, ref: ObjRef) -> None:
        self.progress.pop(ref, None)
        self._hashes.pop(ref, None)
        self._claimed.pop(ref, None)

    def sync(self, ref: ObjRef) -> None:
        ctx = self.ctx
        dep = ctx.store.get(ref)
        if dep is None:
            self.forget(ref)
            return
        if self._claimed.get(ref) != dep["metadata"]["uid"]:
            self._claimed[ref] = dep["metadata"]["uid"]
            claim(ctx, dep, "ReplicaSet")
        spec = dep.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        h = self._template_hash(ref, dep)
        rss = sorted((ctx.store.get(r) for r in ctx.store.children(dep["metadata"]["uid"])
                      if r.kind == "ReplicaSet"),
                     key=lambda rs: (rs["metadata"]["creationTimestamp"], rs["metadata"]["uid"]))
        new = next((rs for rs in rss if rs["metadata"]["labels"].get(HASH_LABEL) == h), None)
        olds = [rs for rs in rss if rs is not new]
        max_rev = max((_rev(rs) for rs in rss), default=0)
        created = False
        if not spec.get("paused"):
            if new is None:
                new = self._create_rs(ref, dep, h, max_rev + 1)
                created = True
            elif _rev(new) < max_rev:
                # Rolling back to an old template makes its ReplicaSet the newest revision.
                new["metadata"]["annotations"][REVISION] = str(max_rev + 1)
                ctx.store.touch(new)
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                self._recreate(ref, new, olds, desired)
            else:
                self._rolling(ref, spec, new, olds, desired)
            self._cleanup(olds, spec)
        if new is not None:
            dep["metadata"].setdefault("annotations", {})
            if dep["metadata"]["annotations"].get(REVISION) != _rev_s(new):
                dep["metadata"]["annotations"][REVISION] = _rev_s(new)
        self._status(ref, dep, spec, new, olds, desired, created)

    # -- strategies -------------------------------------------------------------------

    def _rolling(self, ref: ObjRef, spec: dict[str, Any], new: dict[str, Any],
                 olds: list[dict[str, Any]], desired: int) -> None:
        surge, unavailable = rolling_bounds(spec)
        all_rs = [new, *olds]
        if _replicas(new) < desired:
            total = sum(_replicas(rs) for rs in all_rs)
            if total < desired + surge:
                self._scale(ref, new, min(_replicas(new) + desired + surge - total, desired))
        elif _replicas(new) > desired:
            self._scale(ref, new, desired)
        if sum(_replicas(rs) for rs in olds) == 0:
            return
        total = sum(_replicas(rs) for rs in all_rs)
        min_available = desired - unavailable
        new_unavailable = _replicas(new) - self.rsc.counts(new)[1]
        max_down = total - min_available - new_unavailable
        if max_down <= 0:
            return
        # Old pods that are not available anyway go first: removing them costs nothing.
        for rs in olds:
            if max_down <= 0:
                break
            unhealthy = _replicas(rs) - self.rsc.counts(rs)[1]
            if _replicas(rs) == 0 or unhealthy <= 0:
                continue
            down = min(max_down, unhealthy)
            self._scale(ref, rs, _replicas(rs) - down)
            max_down -= down
        available = sum(self._available(rs) for rs in all_rs)
        budget = available - min_available
        for rs in olds:
            if budget <= 0:
                break
            if _replicas(rs) == 0:
                continue
            down = min(_replicas(rs), budget)
            self._scale(ref, rs, _replicas(rs) - down)
            budget -= down

    def _available(self, rs: dict[str, Any]) -> int:
        # Pods of a ReplicaSet being scaled down count only up to its new size.
        return min(self.rsc.counts(rs)[1], _replicas(rs))

    def _recreate(self, ref: ObjRef, new: dict[str, Any], olds: list[dict[str, Any]],
                  desired: int) -> None:
        if any(_replicas(rs) for rs in olds):
            for rs in olds:
                self._scale(ref, rs, 0)
            return
        if any(self.rsc.active_pods(rs) or self._terminating(rs) for rs in olds):
            return  # Recreate waits until every old pod is gone
        self._scale(ref, new, desired)

    def _terminating(self, rs: dict[str, Any]) -> bool:
        return any(r.kind == "Pod" for r in self.ctx.store.children(rs["metadata"]["uid"]))

    def _scale(self, ref: ObjRef, rs: dict[str, Any], replicas: int) -> None:
        before = _replicas(rs)
        if replicas == before:
            return
        rs["spec"]["replicas"] = replicas
        rs["metadata"]["generation"] = rs["metadata"].get("generation", 1) + 1
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = str(
            int(self.ctx.store.get(ref)["spec"].get("replicas", 1)))
        self.ctx.store.touch(rs)
        verb = "up" if replicas > before else "down"
        self.ctx.emit("ScalingReplicaSet", ref, f"Scaled {verb} replica set "
                      f"{rs['metadata']['name']} from {before} to {replicas}",
                      replicaset=rs["metadata"]["name"], replicas=replicas)
        rs_ref = ObjRef("ReplicaSet", rs["metadata"]["name"], ref.namespace)
        self.rsc.sync(rs_ref)

    def _create_rs(self, ref: ObjRef, dep: dict[str, Any], h: str,
                   revision: int) -> dict[str, Any]:
        ctx = self.ctx
        spec = dep.get("spec") or {}
        template = clone(spec.get("template") or {})
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: h}
        selector = clone(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: h}
        surge, _ = rolling_bounds(spec)
        desired = int(spec.get("replicas", 1))
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{ref.name}-{h}", "namespace": ref.namespace,
                "uid": ctx.store.new_uid(), "generation": 1, "creationTimestamp": ctx.stamp(),
                "labels": dict(tmeta["labels"]),
                "annotations": {REVISION: str(revision),
                                "deployment.kubernetes.io/desired-replicas": str(desired),
                                "deployment.kubernetes.io/max-replicas": str(desired + surge)},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": ref.name,
                    "uid": dep["metadata"]["uid"], "controller": True,
                    "blockOwnerDeletion": True}],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0, "observedGeneration": 1},
        }
        ctx.store.put(rs)
        return rs

    def _cleanup(self, olds: list[dict[str, Any]], spec: dict[str, Any]) -> None:
        """Keep only revisionHistoryLimit old, empty ReplicaSets (for rollbacks)."""
        limit = int(spec.get("revisionHistoryLimit", 10))
        empty = [rs for rs in olds if _replicas(rs) == 0 and not self._terminating(rs)]
        for rs in sorted(empty, key=_rev)[: max(0, len(empty) - limit)]:
            self.ctx.store.remove(ObjRef.of(rs))

    # -- status -----------------------------------------------------------------------

    def _status(self, ref: ObjRef, dep: dict[str, Any], spec: dict[str, Any],
                new: dict[str, Any] | None, olds: list[dict[str, Any]], desired: int,
                created: bool) -> None:
        ctx = self.ctx
        live = [self.rsc.counts(rs) for rs in olds if ctx.store.get(ObjRef.of(rs))]
        updated, new_ready = self.rsc.counts(new) if new is not None else (0, 0)
        old_live = sum(c[0] for c in live)
        ready = new_ready + sum(c[1] for c in live)
        _, unavailable = rolling_bounds(spec)
        rs_name = new["metadata"]["name"] if new is not None else ""
        prog = self.progress.setdefault(ref, Progress(last_progress=ctx.now))
        complete = (new is not None and updated == desired and old_live == 0
                    and new_ready == desired)
        progressed = (rs_name != prog.rs_name or updated > prog.updated
                      or ready > prog.available or old_live < prog.old)
        prog.rs_name, prog.updated, prog.available, prog.old = rs_name, updated, ready, old_live
        deadline = float(spec.get("progressDeadlineSeconds", 600))
        if spec.get("paused"):
            cond = ("Unknown", "DeploymentPaused", "Deployment is paused")
        elif complete:
            prog.exceeded = False
            ctx.timers.cancel("deadline", ref)  # a finished rollout has no deadline
            cond = ("True", "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.')
        elif progressed:
            prog.exceeded = False
            prog.last_progress = ctx.now
            ctx.timers.push(ctx.now + deadline, "deadline", ref)
            reason = "NewReplicaSetCreated" if created else "ReplicaSetUpdated"
            verb = "Created new replica set" if created else "ReplicaSet"
            cond = ("True", reason, f'{verb} "{rs_name}"'
                    + ("" if created else " is progressing."))
        elif prog.exceeded or (ctx.now >= prog.last_progress + deadline - 1e-9
                               and not self._was_complete(dep)):
            # As in Kubernetes, a finished rollout whose pods fail later does not time out:
            # only a rollout in progress has a deadline.
            if not prog.exceeded:
                ctx.emit("ProgressDeadlineExceeded", ref,
                         f'ReplicaSet "{rs_name}" has timed out progressing.', "Warning")
            prog.exceeded = True
            cond = ("False", "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.')
        else:
            cond = None  # no news: keep the current Progressing condition
        status: dict[str, Any] = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": updated + old_live, "updatedReplicas": updated,
            "readyReplicas": ready, "availableReplicas": ready,
            "unavailableReplicas": max(0, desired - ready),
        }
        old_status = dep.get("status") or {}
        conds = {c["type"]: c for c in old_status.get("conditions") or []}
        avail = (("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
                 if ready >= desired - unavailable else
                 ("False", "MinimumReplicasUnavailable",
                  "Deployment does not have minimum availability."))
        for ctype, value in (("Available", avail), ("Progressing", cond)):
            prev = conds.get(ctype)
            if value is None:
                continue
            same = prev is not None and (prev["status"], prev["reason"], prev["message"]) == value
            # As the controller does, any progress moves Progressing's lastUpdateTime:
            # the deadline (and its countdown) runs from there.
            if not same or (ctype == "Progressing" and progressed):
                changed_status = prev is None or prev["status"] != value[0]
                conds[ctype] = {
                    "type": ctype, "status": value[0], "reason": value[1],
                    "message": value[2], "lastUpdateTime": ctx.stamp(),
                    "lastTransitionTime": ctx.stamp() if changed_status
                    else prev["lastTransitionTime"]}
        status["conditions"] = [conds[t] for t in ("Available", "Progressing") if t in conds]
        if status != old_status:
            dep["status"] = status
            ctx.store.touch(dep)


    @staticmethod
    def _was_complete(dep: dict[str, Any]) -> bool:
        conds = (dep.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Progressing" and c["reason"] == "NewReplicaSetAvailable"
                   for c in conds)


def _replicas(rs: dict[str, Any]) -> int:
    return int(rs.get("spec", {}).get("replicas", 1))


def _rev_s(rs: dict[str, Any]) -> str:
    return str(_rev(rs))
