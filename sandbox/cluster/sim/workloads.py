"""What the StatefulSet, DaemonSet, Job, CronJob, HPA and volume controllers share, and
the one place the cluster hands their objects to them.

Each controller has `sync(ref)`, run when its object or one of its pods changed or when
a timer it set (`"work"`) fires. Their memory between syncs lives in `ctx.ctl[ref]`
(JSON-ready, persisted with the object), so a restarted cluster carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.pods import Kubelet, PodSim
from sandbox.cluster.sim.replicasets import SAFE_CHARS
from sandbox.cluster.sim.store import clone

Create = Callable[[dict[str, Any]], None]
Remove = Callable[[ObjRef], None]


def pods_of(ctx: Ctx, kubelet: Kubelet, owner: dict[str, Any]
            ) -> list[tuple[dict[str, Any], PodSim]]:
    """The owner's pods that the kubelet runs (terminating ones included)."""
    out = []
    for ref in ctx.store.children(owner["metadata"]["uid"]):
        if ref.kind != "Pod":
            continue
        pod, ps = ctx.store.get(ref), kubelet.pods.get(ref)
        if pod is not None and ps is not None:
            out.append((pod, ps))
    return out


def random_suffix(ctx: Ctx, prefix: str, namespace: str, kind: str = "Pod") -> str:
    while True:
        name = prefix + "".join(ctx.rng.choice(SAFE_CHARS) for _ in range(5))
        if ctx.store.get(ObjRef(kind, name, namespace)) is None:
            return name


def owner_reference(kind: str, api_version: str, owner: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def pod_from(template: dict[str, Any], name: str, namespace: str,
             owner_ref: dict[str, Any], labels: dict[str, str] | None = None,
             generate_name: str | None = None) -> dict[str, Any]:
    """A pod as a controller creates it from its template."""
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {
        "name": name, "namespace": namespace,
        "labels": {**(tmeta.get("labels") or {}), **(labels or {})},
        "annotations": dict(tmeta.get("annotations") or {}),
        "ownerReferences": [owner_ref]}
    if generate_name:
        meta["generateName"] = generate_name
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
           "spec": clone(template.get("spec") or {})}
    pod["spec"].setdefault("restartPolicy", "Always")
    return pod


def room_for_pods(ctx: Ctx, kubelet: Kubelet, owner: ObjRef) -> bool:
    """The cluster's pod capacity (setting max_pods), as the ReplicaSets honour it."""
    if len(kubelet.pods) < ctx.max_pods:
        return True
    ctx.starved.add(owner)
    return False


def wake(ctx: Ctx, ref: ObjRef, at: float) -> None:
    """Have `ref` synced again at `at` (kept in its state, so a restore re-arms it)."""
    state = ctx.ctl.setdefault(ref, {})
    wakes = sorted({*state.get("wakes", []), at})
    state["wakes"] = [w for w in wakes if w >= ctx.now - 1e-9]
    ctx.store.changed.add(ref)
    ctx.timers.push(at, "work", ref)


def woken(ctx: Ctx, ref: ObjRef) -> None:
    """Forget the wake-ups that are due."""
    state = ctx.ctl.get(ref)
    if state and state.get("wakes"):
        left = [w for w in state["wakes"] if w > ctx.now + 1e-9]
        if left != state["wakes"]:
            state["wakes"] = left
            ctx.store.changed.add(ref)


def set_condition(conditions: list[dict[str, Any]], ctype: str, status: str, reason: str,
                  message: str, stamp: str, probe: bool = False) -> list[dict[str, Any]]:
    """Conditions with one set, keeping lastTransitionTime while its status holds."""
    out, seen = [], False
    for cond in conditions:
        if cond.get("type") == ctype:
            seen = True
            same = cond.get("status") == status
            cond = {**cond, "status": status, "reason": reason, "message": message,
                    "lastTransitionTime": cond.get("lastTransitionTime") if same else stamp}
            if probe:
                cond["lastProbeTime"] = stamp
        out.append(cond)
    if not seen:
        cond = {"type": ctype, "status": status, "reason": reason, "message": message,
                "lastTransitionTime": stamp}
        if probe:
            cond["lastProbeTime"] = stamp
        out.append(cond)
    return out
