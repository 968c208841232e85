"""Adoption of orphans, as kube-controller-manager's ControllerRefManager does it.

After `kubectl delete deployment X --cascade=orphan` the ReplicaSets (and their pods)
stay without a controller. A Deployment created again with the same selector claims
them instead of making new ones: an object in its namespace that its selector matches
and that no controller owns gets it as controller owner; the Deployment then finds its
template's ReplicaSet by the pod-template-hash label as usual. The ReplicaSet
controller claims orphan pods the same way. Objects being deleted and owners being
deleted take no part, as in Kubernetes.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.sim.context import Ctx


def claim(ctx: Ctx, owner: dict[str, Any], kind: str) -> int:
    """Adopt the orphans of `kind` that `owner` selects; how many were adopted."""
    meta = owner["metadata"]
    selector = (owner.get("spec") or {}).get("selector")
    if meta.get("deletionTimestamp") or not selector:
        return 0
    adopted = 0
    for ref in ctx.store.select(kind, meta.get("namespace", ""), selector):
        obj = ctx.store.get(ref)
        if obj is None or obj["metadata"].get("deletionTimestamp") or any(
                o.get("controller") for o in obj["metadata"].get("ownerReferences") or []):
            continue
        ctx.store.unindex(ref)  # the owner index follows the new reference on put
        obj["metadata"].setdefault("ownerReferences", []).append({
            "apiVersion": owner.get("apiVersion", "apps/v1"), "kind": owner["kind"],
            "name": meta["name"], "uid": meta["uid"], "controller": True,
            "blockOwnerDeletion": True})
        ctx.store.put(obj)
        adopted += 1
    return adopted
