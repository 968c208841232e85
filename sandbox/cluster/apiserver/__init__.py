"""A Kubernetes API server in front of the simulated cluster, so that the real kubectl
and client libraries work against the sandbox unchanged.

The engine starts one (`start_for`) on the loopback address, on a port chosen at
start and written to the workspace; `gitops-sandbox kubeconfig` points kubectl at it.
The simulation knows nothing of HTTP: this package reads and writes it through the
cluster's own calls and hears of every change through its store's listener.

Server-side apply, the subset served (see `ssa.py`): field managers, conflicts and
`force`; fields are owned per manager for writes made through this server, and the
fields of an object the reconciler applied belong to it until someone else forces
them (the reconciler's drift correction gives them back).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from sandbox.cluster.discovery import Resource

from . import apis, patch, podlogs, protobuf, ssa
from . import errors as E
from .handlers import Api, Caller, Gate, Record, ref_of, with_version
from .routing import Target, truthy
from .selectors import label_selector
from .server import HttpServer
from .stamps import Mapping, WallTime
from .watch import WatchHub
from .watching import Watches

__all__ = ["ApiServer", "Caller"]


class ApiServer(Watches):
    def __init__(self, cluster: Any, discovery: Any, authenticate: Callable[[str], Caller | None],
                 gate: Gate, record: Record, kubernetes_version: str) -> None:
        self.cluster = cluster
        self.discovery = discovery
        self.authenticate = authenticate
        self.kubernetes_version = kubernetes_version
        self.api = Api(cluster, gate, record)
        self.managers = ssa.Managers()
        self.hub = WatchHub(0)
        self.stopped = False
        self._http: HttpServer | None = None
        self.address = ""
        self.scheme = "https"
        self.shift_times = True
        self.wall_time = WallTime(lambda: float(self.cluster.now()))
        # Server time spent on requests (seconds, count): the bench's "server share".
        self.busy = [0.0, 0]
        self.resolve_image: Callable[[str], Any] = lambda image: None

    # -- life cycle -------------------------------------------------------------------
    def start(self, port: int = 0, tls: Any = None) -> ApiServer:
        def listener(type_: str, obj: dict[str, Any]) -> None:
            self.hub.record(type_, obj)
            self.managers.observe(type_, obj)

        self.hub = WatchHub(self.cluster.listen(listener))
        self._http = HttpServer(self, "127.0.0.1", port, tls).start()
        self.scheme = "https" if tls is not None else "http"
        self.address = f"{self._http.host}:{self._http.port}"
        return self

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    @property
    def port(self) -> int:
        return self._http.port if self._http else 0

    def stop(self) -> None:
        self.stopped = True
        self.hub.close()
        self.cluster.listen(None)
        if self._http is not None:
            self._http.stop()

    def time_map(self) -> Mapping | None:
        """How simulated stamps go out (see stamps.py); None leaves them as they are."""
        return self.wall_time.mapping() if self.shift_times else None

    def served(self, seconds: float) -> None:
        self.busy[0] += seconds
        self.busy[1] += 1

    def resources(self) -> list[Resource]:
        have = list(self.discovery.all_versions())
        keys = {(r.group, r.plural) for r in have}
        out = have + [r for r in apis.VIRTUAL if (r.group, r.plural) not in keys]
        # A real server gives "ev" to core events only; kubectl warns about a shared one.
        return [dataclasses.replace(r, short_names=()) if r.group == "events.k8s.io" else r
                for r in out]

    # -- one request ------------------------------------------------------------------
    def handle(self, target: Target, query: dict[str, str], body: bytes | None,
               caller: Caller, ctype: str, agent: str) -> tuple[int, dict[str, Any]]:
        with self.managers.through_api():
            code, out = self._handle(target, query, body, caller, ctype, agent)
        if target.verb == "get" and not target.subresource and out.get("metadata"):
            fields = self.managers.managed_fields(out)
            if fields:
                out["metadata"]["managedFields"] = fields
        return code, out

    def _handle(self, target: Target, query: dict[str, str], body: bytes | None,
                caller: Caller, ctype: str, agent: str) -> tuple[int, dict[str, Any]]:
        dry_run = query.get("dryRun") == "All"
        r = target.resource
        verb = target.verb
        if target.subresource not in ("", "status", "scale"):
            raise E.ApiError(405, "MethodNotAllowed",
                             f"{target.subresource} is not available in the simulated cluster: "
                             "its containers are simulated and run no processes")
        if r.group == "metrics.k8s.io":
            return 200, self.metrics(target, query)
        if verb == "get":
            if target.subresource == "scale":
                return 200, self.api.scale(target)
            return 200, self.api.get(target)
        if verb == "list":
            with self.cluster.lock:
                items = self.api.list(target, query)
                # Events are numbered apart from objects: a watch from this list's
                # version resumes with the events that came after it.
                rv = str(self.api.event_version() if r.kind == "Event" else self.hub.last)
            return 200, {"kind": f"{r.kind}List", "apiVersion": r.api_version,
                         "metadata": {"resourceVersion": rv}, "items": items}
        if r.kind == "Event" and verb not in ("get", "list", "watch"):
            raise E.method_not_allowed(verb, r.kind)
        if verb == "create" and r.kind in ("SelfSubjectAccessReview", "SelfSubjectReview"):
            return 201, self.review(r, decode(body, ctype), caller)
        if r.group in ("authorization.k8s.io", "authentication.k8s.io"):
            raise E.method_not_allowed(verb, r.kind)  # reviews are asked, never stored
        manager = query.get("fieldManager") or agent.split("/", 1)[0] or "unknown"
        if verb == "create":
            obj = self.api.create(target, decode(body, ctype), caller, dry_run)
            if not dry_run:
                self.managers.wrote(obj, manager, "Update", None)
            return 201, obj
        if verb == "update":
            before = None if target.subresource else self._live(target)
            obj = self.api.update(target, decode(body, ctype), caller, dry_run)
            if not dry_run and before is not None:
                self.managers.wrote(obj, manager, "Update", before)
            return 200, obj
        if verb == "patch":
            return 200, self._patch(target, query, body or b"", ctype, caller, dry_run, manager)
        if verb == "delete":
            options = decode(body, ctype) if body and body.strip() else {}
            if not isinstance(options, dict):
                raise E.bad_request("the body of a delete is DeleteOptions, an object")
            policy = query.get("propagationPolicy") or options.get("propagationPolicy") or (
                "Orphan" if options.get("orphanDependents") else "Background")
            if policy not in ("Orphan", "Background", "Foreground"):
                raise E.invalid("DeleteOptions", "", [(
                    "propagationPolicy", "FieldValueNotSupported",
                    f'Unsupported value: "{policy}": supported values: "Foreground", '
                    '"Background", "Orphan"')])
            dry_run = dry_run or options.get("dryRun") == ["All"]
            return 200, self.api.delete(target, caller, dry_run, orphan=policy == "Orphan")
        if verb == "deletecollection":
            items = self.api.list(target, query)
            for item in items:
                meta = item["metadata"]
                one = Target(r, meta.get("namespace", ""), meta["name"], "", "delete")
                self.api.delete(one, caller, dry_run)
            return 200, {"kind": f"{r.kind}List", "apiVersion": r.api_version,
                         "metadata": {"resourceVersion": str(self.hub.last)}, "items": items}
        raise E.method_not_allowed(verb, r.kind)

    def _live(self, target: Target) -> dict[str, Any] | None:
        try:
            return self.api.get(target)
        except E.ApiError:
            return None

    def _patch(self, target: Target, query: dict[str, str], body: bytes, ctype: str,
               caller: Caller, dry_run: bool, manager: str) -> dict[str, Any]:
        kind = ctype.split(";")[0].strip().lower()
        r = target.resource
        if kind == patch.APPLY_CBOR:
            raise E.unsupported_media(ctype)
        if kind not in patch.PATCH_TYPES:
            raise E.ApiError(415, "UnsupportedMediaType",
                             f"the body of the request was in an unknown format - accepted "
                             f"media types include: {', '.join(patch.PATCH_TYPES)}")
        if kind == patch.STRATEGIC and r.group not in patch.BUILTIN_GROUPS:
            raise E.ApiError(415, "UnsupportedMediaType",
                             "strategic merge patch is not supported for custom resources; "
                             "use a JSON merge patch or a JSON patch")
        if kind == patch.APPLY_YAML:
            if not query.get("fieldManager"):
                raise E.bad_request("PATCH requests of type apply require fieldManager")
            return ssa.apply(self, target, parse_yaml(body), caller, query.get("fieldManager", ""),
                             truthy(query.get("force")), dry_run)
        doc = parse_yaml(body) if kind != patch.JSON_PATCH else parse_json(body)
        self.api.gate(caller, "patch", target)
        with self.cluster.lock:
            if target.subresource == "scale":
                live = self.api.scale(target)
            else:
                live = self.api.get(target)
            if kind == patch.MERGE_PATCH:
                new = patch.merge_patch(live, doc)
            elif kind == patch.JSON_PATCH:
                new = patch.json_patch(live, doc)
            else:
                new = patch.strategic(live, doc)
            if not isinstance(new, dict):
                raise E.bad_request("the patch made the object something other than an object")
            if target.subresource == "scale":
                new.setdefault("metadata", {}).pop("resourceVersion", None)
                return self.api.write_scale(target, new, caller, dry_run)
            if target.subresource == "status":
                return live
            want = (doc.get("metadata") or {}).get("resourceVersion") if isinstance(
                doc, dict) else None
            if want and want != live["metadata"].get("resourceVersion"):
                raise E.conflict(r.plural, target.name, E.STALE, r.group)
            new = with_version(new, r)
            new["metadata"]["name"] = target.name
            out = self.api.replace(target, new, caller, dry_run)
        if not dry_run:
            self.managers.wrote(out, manager, "Update", live)
        return out

    # -- who am I, may I (kubectl auth whoami|can-i) -----------------------------------
    def review(self, r: Resource, body: Any, caller: Caller) -> dict[str, Any]:
        groups = ["system:authenticated"]
        if r.kind == "SelfSubjectReview":
            return {"kind": r.kind, "apiVersion": r.api_version, "metadata": {},
                    "status": {"userInfo": {"username": caller.name, "groups": groups}}}
        spec = (body or {}).get("spec") if isinstance(body, dict) else None
        attrs = (spec or {}).get("resourceAttributes") or {}
        verb = str(attrs.get("verb", ""))
        allowed, reason = True, ""
        if verb not in ("get", "list", "watch", "*") and attrs:
            try:
                target = Target(Resource(str(attrs.get("group", "")), "v1", "", str(
                    attrs.get("resource", "")), "", (), True, ()), str(attrs.get(
                        "namespace", "")), str(attrs.get("name", "")), "", verb)
                self.api.gate(caller, verb, target)
            except E.ApiError as err:
                allowed, reason = False, err.message.split(": ", 1)[-1]
        return {"kind": r.kind, "apiVersion": r.api_version, "metadata": {},
                "spec": spec or {}, "status": {"allowed": allowed, "denied": not allowed,
                                               **({"reason": reason} if reason else {})}}

    # -- pods/log and metrics.k8s.io ---------------------------------------------------
    def logs(self, target: Target, query: dict[str, str]) -> Iterator[list[str]]:
        """Batches of log lines: all there are, then (with follow) new ones as simulated
        time moves, until the container restarts or the pod goes."""
        pod = self.api.get(Target(target.resource, target.namespace, target.name, "", "get"))
        container = query.get("container", "")
        previous = truthy(query.get("previous"))
        now = self.api.now()
        lines = podlogs.log_lines(pod, container, previous, now, self.resolve_image)
        yield podlogs.render(lines, query, now, self.time_map())
        if not truthy(query.get("follow")) or previous:
            return
        sent = len(lines)
        uid = pod["metadata"].get("uid")
        while not self.stopped:
            time.sleep(0.2)
            live = self.cluster.get(ref_of(target))
            if live is None or live["metadata"].get("uid") != uid:
                return
            try:
                lines = podlogs.log_lines(live, container, False, self.api.now(),
                                          self.resolve_image)
            except E.ApiError:
                return  # the container stopped: a real follower ends there too
            if len(lines) < sent:
                return
            if len(lines) > sent:
                yield podlogs.render(lines[sent:], {"timestamps": query.get("timestamps", "")},
                                     self.api.now(), self.time_map())
                sent = len(lines)
            else:
                yield []

    def metrics(self, target: Target, query: dict[str, str]) -> dict[str, Any]:
        now = self.api.now()
        pods = [p for p in self.cluster.list("Pod", target.namespace or None)
                if not target.namespace or p["metadata"].get("namespace") == target.namespace]
        sampled = getattr(self.cluster, "usage", None)
        live = sampled() if callable(sampled) else {}
        usage = [(p, u) for p in pods if (u := podlogs.pod_usage(
            p, now, self.resolve_image,
            live.get(f"{p['metadata'].get('namespace')}/{p['metadata']['name']}")))]
        if target.resource.kind == "PodMetrics":
            labels = label_selector(query.get("labelSelector"))
            items = [u for p, u in usage if labels(p["metadata"].get("labels") or {})]
        else:
            nodes = sorted({str((p.get("spec") or {}).get("nodeName") or "") for p, _ in usage}
                           | {n["metadata"]["name"] for n in self.cluster.list("Node")} - {""})
            items = [podlogs.node_usage(n, [u for p, u in usage
                                            if (p.get("spec") or {}).get("nodeName") == n], now)
                     for n in nodes]
        if target.name:
            found = [i for i in items if i["metadata"]["name"] == target.name]
            if not found:
                raise E.not_found(target.resource.plural, target.name, "metrics.k8s.io")
            return found[0]
        return {"kind": f"{target.resource.kind}List", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {}, "items": items}


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise E.bad_request(f"the body is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise E.bad_request(f"couldn't get version/kind; json parse error: {exc.msg} at line "
                            f"{exc.lineno} column {exc.colno}") from None


def parse_yaml(body: bytes) -> Any:
    text = body.decode("utf-8", errors="replace")
    if text.lstrip().startswith(("{", "[")):
        return parse_json(body)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise E.bad_request(f"error converting YAML to JSON: yaml: "
                            f"{getattr(exc, 'problem', None) or exc}{where}") from None


def decode(body: bytes | None, ctype: str) -> Any:
    kind = ctype.split(";")[0].strip().lower()
    if kind in ("", "application/json", "*/*"):
        return parse_json(body or b"")
    if kind in ("application/yaml", "application/x-yaml", "text/yaml"):
        return parse_yaml(body or b"")
    if kind == protobuf.PROTOBUF:
        return protobuf.decode(body or b"")
    raise E.unsupported_media(ctype)
