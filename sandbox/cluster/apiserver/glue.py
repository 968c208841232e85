"""The API server inside the engine: the `direct_changes` policy, the audit records in
the event log, the address written to the workspace, and the one path every direct
edit takes (kubectl's and the sandbox's own `cluster scale|set-image|delete`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.cluster.base import ObjRef

from . import ApiServer
from . import errors as E
from .handlers import Caller
from .identity import Tokens
from .routing import Target
from .tls import context

if TYPE_CHECKING:
    from sandbox.engine import Engine

KEY = "api_server"
HOST = "127.0.0.1"
MODES = ("allow", "audit", "deny")


def recorded(root: Path) -> dict[str, Any] | None:
    from sandbox.workspace import MARKER

    try:
        data = json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    entry = data.get(KEY)
    return entry if isinstance(entry, dict) and isinstance(entry.get("port"), int) else None


def _record_port(root: Path, port: int) -> None:
    from sandbox.workspace import MARKER

    path = Path(root) / MARKER
    data = json.loads(path.read_text())
    data[KEY] = {"host": HOST, "port": port}
    tmp = path.with_suffix(".api.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


class Policy:
    """`direct_changes`, read again from the workspace file whenever it changed, so that
    `gitops-sandbox settings direct_changes deny` takes effect on a running engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._mode = engine.ws.settings.direct_changes
        self._stamp: tuple[int, int] | None = None

    def mode(self) -> str:
        from sandbox.workspace import MARKER, Settings

        path = self.engine.ws.root / MARKER
        try:
            st = path.stat()
        except OSError:
            return self._mode
        if (st.st_mtime_ns, st.st_size) != self._stamp:
            try:
                self._mode = Settings.load(path).direct_changes
                self._stamp = (st.st_mtime_ns, st.st_size)
            except Exception:  # noqa: BLE001 - a half-written file: keep the last mode
                pass
        return self._mode

    def gate(self, caller: Caller, verb: str, target: Target) -> None:
        if caller.reconciler or self.mode() != "deny":
            return
        r = target.resource
        raise E.forbidden(
            caller.name, verb, r.plural, target.name, target.namespace,
            "direct changes to the cluster are denied in this sandbox (direct_changes: deny). "
            "Change it the GitOps way: edit the HLD on a branch (gitops-sandbox change BRANCH "
            "KEY=VALUE), open a pull request (gitops-sandbox pr open BRANCH), get it reviewed "
            "and merge it; the reconciler applies what main holds", r.group)

    def record(self, caller: Caller, verb: str, target: Target, detail: str) -> None:
        if caller.reconciler:
            return
        ref = ObjRef.grouped(target.resource.kind, target.name, target.namespace,
                             target.resource.group)
        if self.mode() == "audit":
            extra = f" ({detail})" if detail else ""
            self.engine.bus.publish(
                "cluster.edited", "cluster",
                f"{caller.name}: {verb} {ref}{extra} (a direct edit, outside git)",
                user=caller.name, verb=verb, object=str(ref), action=verb, detail=detail)
        self.engine.check_drift_soon()


def start_for(engine: Engine) -> ApiServer | None:
    """The engine's API server, for the simulated cluster (a real one has its own)."""
    if engine.cluster.name != "sim":
        return None
    from sandbox.clusterops import engine_discovery

    ws = engine.ws
    tokens = Tokens(ws.root)
    policy = Policy(engine)
    discovery = engine_discovery(engine)
    server = ApiServer(engine.cluster, discovery, tokens.caller, policy.gate, policy.record,
                       ws.settings.kubernetes_version)
    server.policy = policy  # type: ignore[attr-defined]
    server.resolve_image = ws.registry.resolve
    previous = recorded(ws.root)
    tls = context(ws.root)
    try:
        server.start(int(previous["port"]) if previous else 0, tls)
    except OSError:
        server.start(0, tls)  # the last port is taken: a new one (rewrite the kubeconfig)
    _record_port(ws.root, server.port)
    return server


def direct_edit(engine: Engine, user: str, action: str, ref: ObjRef, params: dict[str, Any],
                shown: str) -> None:
    """`cluster scale|set-image|delete` through the API server's own handlers, so they
    meet the same policy and leave the same audit record as kubectl's; ValueError with
    the server's message when refused."""
    from sandbox.users import Users

    server: ApiServer = engine.apiserver
    found = Users(engine.ws.store).find(user)
    caller = Caller(found.name if found else user, found.role if found else "human")
    resource = next((r for r in server.resources() if r.kind == ref.kind), None)
    if resource is None:
        raise ValueError(f"the server doesn't have a resource type for {ref.kind}")
    target = Target(resource, ref.namespace, ref.name, "", "patch")
    try:
        with server.managers.through_api():
            if action == "scale":
                server.api.gate(caller, "patch", target)
                target.subresource = "scale"
                server.api.write_scale(target, {"spec": {"replicas": int(params["replicas"])}},
                                       caller, False)
            elif action == "set-image":
                container, image = str(params.get("container")), str(params.get("image"))
                live = server.api.get(target)
                pod = ((live.get("spec") or {}).get("template") or {}).get("spec") or {}
                names = [c.get("name") for c in (pod.get("containers") or [])
                         + (pod.get("initContainers") or [])]
                if container not in names:
                    raise ValueError(f'unable to find container named "{container}" in {ref}')
                patch = {"spec": {"template": {"spec": {"containers": [
                    {"name": container, "image": image}]}}}}
                server.handle(target, {"fieldManager": "gitops-sandbox-cli"},
                              json.dumps(patch).encode(), caller,
                              "application/strategic-merge-patch+json", "gitops-sandbox")
            else:
                target.verb = "delete"
                server.api.delete(target, caller, False)
    except E.ApiError as err:
        raise ValueError(err.message) from None
