"""The API's verbs over the simulated cluster: get, list, create, update, delete and the
`status` and `scale` subresources. Patch lives in `patch.py`, watch in `watch.py`.

Every write holds the cluster's lock from the check (exists? resourceVersion?) to the
write, so two clients racing on one object get one success and one 409, as with etcd.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.cluster.base import ClusterError, ObjRef, api_group, custom_group
from sandbox.cluster.discovery import Resource
from sandbox.cluster.printers import Printer, printer_for
from sandbox.cluster.sim.store import clone, rfc3339

from . import errors as E
from .routing import Target
from .selectors import field_selector, label_selector
from .table import table as table_of

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NAME_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric "
                "character (e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


@dataclass(frozen=True)
class Caller:
    name: str
    role: str  # human | bot | reconciler

    @property
    def reconciler(self) -> bool:
        return self.role == "reconciler"


# (caller, verb, target, object before, object after) -> None; raises ApiError to refuse.
Gate = Callable[[Caller, str, Target], None]
Record = Callable[[Caller, str, Target, str], None]


def ref_of(target: Target, name: str | None = None) -> ObjRef:
    return ObjRef.grouped(target.resource.kind, name if name is not None else target.name,
                          target.namespace if target.resource.namespaced else "",
                          target.resource.group)


def not_found(target: Target, name: str | None = None) -> E.ApiError:
    r = target.resource
    return E.not_found(r.plural, name if name is not None else target.name, r.group)


def with_version(obj: dict[str, Any], r: Resource) -> dict[str, Any]:
    obj["apiVersion"] = r.api_version
    obj["kind"] = r.kind
    return obj


class Api:
    def __init__(self, cluster: Any, gate: Gate, record: Record) -> None:
        self.cluster = cluster
        self.gate = gate
        self.record = record

    # -- reads ------------------------------------------------------------------------
    def get(self, target: Target) -> dict[str, Any]:
        if target.resource.kind == "Event":
            for ev in self.events(target):
                if ev["metadata"]["name"] == target.name:
                    return ev
            raise not_found(target)
        obj = self.cluster.get(ref_of(target))
        if obj is None:
            raise not_found(target)
        return with_version(obj, target.resource)

    def list(self, target: Target, query: dict[str, str]) -> list[dict[str, Any]]:
        r = target.resource
        labels = label_selector(query.get("labelSelector"))
        fields = field_selector(query.get("fieldSelector"), r.kind, r.api_version)
        if r.kind == "Event":
            objects = self.events(target)
        else:
            # One group's objects: two CRDs may serve this kind in two groups.
            group = custom_group(r.group)
            objects = [o for o in self.cluster.list(r.kind, target.namespace or None)
                       if api_group(o.get("apiVersion")) == group]
        out = [with_version(obj, r) for obj in objects if selected(obj, target, labels, fields)]
        out.sort(key=order)
        return out

    def table(self, target: Target, query: dict[str, str], rv: Callable[[], int],
              include: str) -> dict[str, Any] | None:
        """A Table of a list, its rows made from the live objects under the cluster's
        lock (no copy of whole objects: a 1,000-pod `kubectl get` copies only metadata);
        None when the cluster cannot lend its objects so."""
        inspect = getattr(self.cluster, "inspect", None)
        r = target.resource
        # The quick path reads built-in kinds only (the store keys custom resources by
        # group too); a custom resource's list goes the ordinary way.
        if inspect is None or r.kind == "Event" or custom_group(r.group):
            return None
        labels = label_selector(query.get("labelSelector"))
        fields = field_selector(query.get("fieldSelector"), r.kind, r.api_version)
        now = self.now()
        printer = self.printer(r)

        def build(read: Callable[[str], list[dict[str, Any]]]) -> dict[str, Any]:
            objs = sorted((o for o in read(r.kind) if selected(o, target, labels, fields)),
                          key=order)
            return table_of(objs, r.kind, now, str(rv()), include=include, printer=printer)

        return inspect(build)

    def printer(self, r: Resource) -> Printer:
        """The Table columns of `r`: a custom resource's from its CRD (the
        `additionalPrinterColumns` of the served version), a built-in kind's otherwise."""
        crd = None
        if r.since is None and r.group:
            crd = self.cluster.get(ObjRef("CustomResourceDefinition", f"{r.plural}.{r.group}"))
        return printer_for(r.kind, crd, r.version)

    def event_version(self) -> int:
        """The number of the newest event: an event list's resourceVersion."""
        return self.event_log()[0]

    def event_log(self) -> tuple[int, list[Any]]:
        log = getattr(self.cluster, "event_log", None)
        if callable(log):
            return log()
        history = list(self.cluster.events())
        return len(history), history

    def events(self, target: Target) -> list[dict[str, Any]]:
        """The simulation's event history as Event objects (core/v1 or events.k8s.io),
        each with its number in the history as resourceVersion."""
        uids: dict[ObjRef, str] = {}
        out = []
        emitted, history = self.event_log()
        first = emitted - len(history) + 1
        for i, ev in enumerate(history):
            if target.namespace and (ev.ref.namespace or "default") != target.namespace:
                continue
            if ev.ref not in uids:
                live = self.cluster.get(ev.ref)
                uids[ev.ref] = ((live or {}).get("metadata") or {}).get("uid", "")
            out.append(event_object(ev, uids[ev.ref], target.resource.group, first + i))
        return out

    def now(self) -> float:
        return float(self.cluster.now())

    # -- writes -----------------------------------------------------------------------
    def create(self, target: Target, body: Any, caller: Caller, dry_run: bool) -> dict[str, Any]:
        r = target.resource
        obj = self._body(target, body, named=False)
        name = str(obj["metadata"].get("name") or "")
        target = Target(r, target.namespace, name, "", "create")
        self.gate(caller, "create", target)
        with self.cluster.lock:
            if self.cluster.get(ref_of(target)) is not None:
                raise E.already_exists(r.plural, name, r.group)
            self._apply(target, obj, dry_run)
            out = obj if dry_run else self.get(target)
        if not dry_run:
            self.record(caller, "create", target, "")
        return with_version(out, r)

    def update(self, target: Target, body: Any, caller: Caller, dry_run: bool) -> dict[str, Any]:
        r = target.resource
        obj = self._body(target, body, named=True)
        self.gate(caller, "update", target)
        if target.subresource == "scale":
            return self.write_scale(target, obj, caller, dry_run)
        with self.cluster.lock:
            live = self.get(target)
            want = obj["metadata"].get("resourceVersion")
            if want and want != live["metadata"].get("resourceVersion"):
                raise E.conflict(r.plural, target.name, E.STALE, r.group)
            if target.subresource == "status":
                return live  # the simulated controllers own every status
            self._apply(target, obj, dry_run)
            out = self.get(target) if not dry_run else obj
        if not dry_run and out["metadata"].get("resourceVersion") != live["metadata"].get(
                "resourceVersion"):
            self.record(caller, "update", target, "")
        return out

    def replace(self, target: Target, obj: dict[str, Any], caller: Caller, dry_run: bool,
                verb: str = "patch") -> dict[str, Any]:
        """Write a whole new version of an existing object (what a patch computed);
        the caller holds the lock and has passed the gate."""
        before = self.get(target)["metadata"].get("resourceVersion")
        self._apply(target, obj, dry_run)
        out = self.get(target) if not dry_run else with_version(obj, target.resource)
        if not dry_run and out["metadata"].get("resourceVersion") != before:
            self.record(caller, verb, target, "")
        return out

    def delete(self, target: Target, caller: Caller, dry_run: bool,
               orphan: bool = False) -> dict[str, Any]:
        self.gate(caller, "delete", target)
        with self.cluster.lock:
            live = self.get(target)
            if dry_run:
                return live
            try:
                if orphan:
                    self.cluster.orphan(ref_of(target))
                self.cluster.delete(ref_of(target))
            except ClusterError as exc:
                raise E.ApiError(403, "Forbidden", str(exc)) from exc
            after = self.cluster.get(ref_of(target))
        self.record(caller, "delete", target, "")
        return with_version(after, target.resource) if after is not None else live

    # -- scale ------------------------------------------------------------------------
    def scale(self, target: Target) -> dict[str, Any]:
        obj = self.get(target)
        meta = obj["metadata"]
        sel = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                             "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
                             "creationTimestamp": meta.get("creationTimestamp")},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                           "selector": ",".join(f"{k}={v}" for k, v in sorted(sel.items()))}}

    def write_scale(self, target: Target, scale: dict[str, Any], caller: Caller,
                    dry_run: bool) -> dict[str, Any]:
        r = target.resource
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise E.invalid("Scale", target.name, [(
                "spec.replicas", "FieldValueInvalid",
                f"Invalid value: {replicas!r}: must be greater than or equal to 0")], "autoscaling")
        with self.cluster.lock:
            current = self.scale(target)
            want = (scale.get("metadata") or {}).get("resourceVersion")
            if want and want != current["metadata"]["resourceVersion"]:
                raise E.conflict(r.plural, target.name, E.STALE, r.group)
            if dry_run or current["spec"]["replicas"] == replicas:
                current["spec"]["replicas"] = replicas
                return current
            try:
                self.cluster.scale(ref_of(target), replicas)
            except ClusterError as exc:
                raise E.invalid("Scale", target.name, [("spec.replicas", "FieldValueInvalid",
                                                        str(exc))], "autoscaling") from exc
            out = self.scale(target)
        self.record(caller, "scale", target, f"replicas={replicas}")
        return out

    # -- helpers ----------------------------------------------------------------------
    def _body(self, target: Target, body: Any, named: bool) -> dict[str, Any]:
        r = target.resource
        if not isinstance(body, dict):
            raise E.bad_request("the body of the request is not a Kubernetes object")
        if target.subresource == "scale":
            return body
        kind, api_version = body.get("kind"), body.get("apiVersion")
        if kind and kind != r.kind:
            raise E.bad_request(f"the kind in the data ({kind}) does not match the expected "
                                f"kind ({r.kind})")
        if api_version and api_version != r.api_version:
            raise E.bad_request(f"the API version in the data ({api_version}) does not match "
                                f"the expected API version ({r.api_version})")
        obj = clone(body)
        obj["kind"], obj["apiVersion"] = r.kind, r.api_version
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise E.bad_request("metadata: must be an object")
        if not meta.get("name") and meta.get("generateName") and not named:
            suffix = hashlib.sha1(repr(sorted(meta.items())).encode()
                                  + str(self.cluster.now()).encode()).hexdigest()[:5]
            meta["name"] = f"{meta['generateName']}{suffix}"
        name = meta.get("name")
        if named:
            if name and name != target.name:
                raise E.bad_request(f"the name of the object ({name}) does not match the name "
                                    f"on the URL ({target.name})")
            meta["name"] = name = target.name
        if not name:
            raise E.invalid(r.kind, "", [("metadata.name", "FieldValueRequired",
                                         "Required value: name or generateName is required")],
                            r.group)
        if not isinstance(name, str) or len(name) > 253 or not _NAME.match(name):
            raise E.invalid(r.kind, str(name), [("metadata.name", "FieldValueInvalid",
                                                f'Invalid value: "{name}": {NAME_MESSAGE}')],
                            r.group)
        if r.namespaced:
            ns = meta.get("namespace")
            if ns and target.namespace and ns != target.namespace:
                raise E.bad_request("the namespace of the provided object does not match the "
                                    "namespace sent on the request")
            meta["namespace"] = target.namespace or ns or "default"
        else:
            meta.pop("namespace", None)
        return obj

    def _apply(self, target: Target, obj: dict[str, Any], dry_run: bool) -> None:
        r = target.resource
        results = self.cluster.apply([obj], dry_run=True)
        if results and results[0].error:
            raise _refusal(r, str(obj["metadata"].get("name")), results[0].error)
        if not dry_run:
            results = self.cluster.apply([obj])
            if results and results[0].error:
                raise _refusal(r, str(obj["metadata"].get("name")), results[0].error)


def selected(obj: dict[str, Any], target: Target, labels: Callable[[dict[str, Any]], bool],
             fields: Callable[[dict[str, Any]], bool]) -> bool:
    meta = obj.get("metadata") or {}
    if target.namespace and meta.get("namespace", "") != target.namespace:
        return False
    return labels(meta.get("labels") or {}) and fields(obj)


def order(obj: dict[str, Any]) -> tuple[str, str]:
    """A real API server lists in storage key order: namespace, then name."""
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


_NS_MISSING = re.compile(r'^namespaces "([^"]+)" not found$')


def _refusal(r: Resource, name: str, error: str) -> E.ApiError:
    """The simulated cluster's refusal as the Status a real server would give."""
    m = _NS_MISSING.match(error)
    if m:
        return E.not_found("namespaces", m.group(1))
    if "forbidden" in error:
        return E.ApiError(403, "Forbidden", error)
    detail = error.split(" is invalid: ", 1)[-1]
    field, sep, message = detail.partition(": ")
    if not sep or " " in field:
        field, message = "", detail
    reason = "FieldValueRequired" if "Required value" in message else "FieldValueInvalid"
    return E.invalid(r.kind, name, [(field, reason, message)], r.group)


def event_object(ev: Any, uid: str, group: str, seq: int = 0) -> dict[str, Any]:
    ref = ev.ref
    ns = ref.namespace or "default"
    digest = hashlib.sha1(f"{ev.time}|{ref}|{ev.reason}|{ev.message}".encode()).hexdigest()
    name = f"{ref.name}.{digest[:16]}"
    stamp = rfc3339(ev.time)
    source = str(ev.data.get("source", "sim"))
    involved = {"kind": ref.kind, "name": ref.name, "uid": uid,
                "apiVersion": "apps/v1" if ref.kind in ("Deployment", "ReplicaSet") else "v1",
                **({"namespace": ref.namespace} if ref.namespace else {})}
    meta = {"name": name, "namespace": ns, "uid": digest[:8] + "-0000-4000-8000-" + digest[8:20],
            "resourceVersion": str(seq), "creationTimestamp": stamp}
    if group == "events.k8s.io":
        return {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": meta,
                "eventTime": None, "reportingController": source, "reportingInstance": source,
                "action": ev.reason, "reason": ev.reason, "regarding": involved,
                "note": ev.message, "type": ev.type, "deprecatedSource": {"component": source},
                "deprecatedFirstTimestamp": stamp, "deprecatedLastTimestamp": stamp,
                "deprecatedCount": 1}
    return {"apiVersion": "v1", "kind": "Event", "metadata": meta, "involvedObject": involved,
            "reason": ev.reason, "message": ev.message, "type": ev.type,
            "source": {"component": source}, "firstTimestamp": stamp, "lastTimestamp": stamp,
            "count": 1, "reportingComponent": source, "reportingInstance": ""}
