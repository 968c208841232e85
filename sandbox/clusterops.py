"""Direct actions on the live cluster and the reconciler, as an operator would take
them with kubectl or the flux CLI: scale, set image, delete (which create drift),
suspend, resume, reconcile now. They run inside the engine, which owns the cluster;
other processes send them through the job queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import limits
from .cluster.base import ClusterError, ObjRef, UnknownResourceType, resolve_kind

if TYPE_CHECKING:
    from .cluster.discovery import Discovery
    from .engine import Engine

ACTIONS = ("scale", "set-image", "delete", "suspend", "resume", "reconcile", "metrics")


class OperationError(ValueError):
    pass


def parse_target(target: str, namespace: str = "demo",
                 found: Discovery | None = None) -> ObjRef:
    """`deployment/web`, `deploy/web`, `sts/db`, `pod/web-abc` -> ObjRef (namespace from
    -n); the kind is any name kubectl accepts on a server that ``found`` describes."""
    kind, sep, name = target.partition("/")
    if not sep or not name:
        raise OperationError(f"{target!r}: name the object as KIND/NAME, e.g. deployment/web")
    try:
        resolved = resolve_kind(kind, found) or kind
    except UnknownResourceType as exc:
        raise OperationError(str(exc)) from exc
    return ObjRef.of({"kind": resolved, "metadata": {"name": name, "namespace": namespace}})


def engine_discovery(engine: Engine) -> Discovery:
    """The running cluster's API discovery (with the CRDs it learned) when it keeps one,
    else the chosen Kubernetes version's built-in resources."""
    from .cluster import discovery

    own = getattr(engine.cluster, "discovery", None)
    if isinstance(own, discovery.Discovery):
        return own
    return discovery.for_version(engine.ws.settings.kubernetes_version)


def check_replicas(value: Any, maximum: int) -> int:
    """A replica count from a command, within 0..max_replicas, or OperationError."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 30:
        value = int(value)
    problem = limits.replicas_problem(value if value is not None else "", maximum,
                                      "--replicas")
    if problem:
        raise OperationError(problem)
    return int(value)


def command_line(action: str, params: dict[str, Any]) -> str:
    """The kubectl or flux command this action stands for (shown before it runs)."""
    target, ns = params.get("target", ""), params.get("namespace", "demo")
    if action == "scale":
        return f"kubectl -n {ns} scale {target} --replicas={params.get('replicas')}"
    if action == "set-image":
        return (f"kubectl -n {ns} set image {target} "
                f"{params.get('container')}={params.get('image')}")
    if action == "delete":
        return f"kubectl -n {ns} delete {target}"
    if action == "reconcile":
        return "flux reconcile kustomization sandbox --with-source"
    if action == "metrics":
        return "gitops-sandbox cluster metrics"
    return f"flux {action} kustomization sandbox"


def perform(engine: Engine, params: dict[str, Any]) -> dict[str, Any]:
    action = str(params.get("action", ""))
    if action not in ACTIONS:
        raise OperationError(f"unknown action {action!r}; choose one of {', '.join(ACTIONS)}")
    shown = command_line(action, params)
    if action in ("suspend", "resume"):
        engine.flux.set_suspended(action == "suspend")
        if action == "resume":
            engine.reconcile_now()
        return {"ok": True, "command": shown}
    if action == "reconcile":
        engine.reconcile_now()
        return {"ok": True, "command": shown}
    if action == "metrics":  # a read: only the live cluster knows its traffic
        metrics = getattr(engine.cluster, "metrics", None)
        return {"ok": True, "command": shown, "metrics": metrics() if callable(metrics) else {}}
    ref = parse_target(str(params.get("target", "")), str(params.get("namespace", "demo")),
                       engine_discovery(engine))
    cluster = engine.cluster
    if cluster.get(ref) is None:
        raise OperationError(f"{ref} not found in the cluster (see 'gitops-sandbox cluster get')")
    if getattr(engine, "apiserver", None) is not None:
        # The same path as kubectl's edits: policy, audit record and drift alike.
        from .cluster.apiserver.glue import direct_edit

        if action == "scale":
            params["replicas"] = check_replicas(params.get("replicas"),
                                                engine.ws.settings.max_replicas)
        try:
            direct_edit(engine, str(params.get("user") or engine.ws.configured_user), action,
                        ref, params, shown)
        except ValueError as exc:
            raise OperationError(str(exc)) from exc
        return {"ok": True, "command": shown, "object": str(ref)}
    try:
        if action == "scale":
            replicas = check_replicas(params.get("replicas"), engine.ws.settings.max_replicas)
            cluster.scale(ref, replicas)  # type: ignore[attr-defined]
        elif action == "set-image":
            cluster.set_image(ref, str(params.get("container")),  # type: ignore[attr-defined]
                              str(params.get("image")))
        else:
            cluster.delete(ref)
    except ClusterError as exc:
        raise OperationError(str(exc)) from exc
    engine.bus.publish("cluster.edited", "cluster", f"{shown} (a direct edit, outside git)",
                       command=shown, object=str(ref), action=action)
    engine.check_drift_soon()
    return {"ok": True, "command": shown, "object": str(ref)}
