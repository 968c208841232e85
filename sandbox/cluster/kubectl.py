"""A cluster backend over any kubeconfig context, through the kubectl CLI.

Every call names its context (and kubeconfig) explicitly, so the user's current
context is never read or changed. Objects go to the server with server-side apply
under one field manager; the server, not this module, decides what is valid.

kubectl's server-side apply prints "serverside-applied" whatever happened, so the
action (created / configured / unchanged) comes from comparing the live object before
the apply with what the server returned.
"""

from __future__ import annotations

import collections
import copy
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from sandbox.cluster.base import CLUSTER_SCOPED, ApplyResult, ClusterError, ClusterEvent, ObjRef
from sandbox.cluster.kubectl_format import parse_time

T = TypeVar("T")
FIELD_MANAGER = "gitops-sandbox"
INSTALL_KUBECTL = "install kubectl: https://kubernetes.io/docs/tasks/tools/"
# What `list()` with no kind shows: the kinds the reconciler and the monitor care about.
DEFAULT_KINDS = ("namespaces", "deployments", "replicasets", "pods", "services", "configmaps",
                 "secrets")
FIRST_KINDS = ("Namespace", "CustomResourceDefinition")

# stderr that means kubectl never got an answer from the API server. A server that
# answered says "Error from server", even when its message mentions "dial tcp" (a
# webhook that cannot be reached is a per-object error, not a dead cluster).
_UNREACHABLE = ("Unable to connect to the server", "was refused", "connection refused",
                "dial tcp", "i/o timeout", "no such host", "context deadline exceeded",
                "TLS handshake timeout", "Client.Timeout", "connection reset by peer",
                "no route to host", "certificate signed by unknown authority")
_NO_CONTEXT = re.compile(r'context was not found for specified context|context "[^"]*" does '
                         "not exist")
_UNKNOWN_TYPE = ("doesn't have a resource type", "no matches for kind", "resource mapping not")
_KLOG = re.compile(r"^[EIWF]\d{4} \d\d:\d\d:\d\d")
_STDIN = re.compile(r'error when [a-z ]+"STDIN": ')
# Fields that change on every write or that the server keeps for itself: an apply is
# "unchanged" when everything else matches the live object.
_VOLATILE = ("managedFields", "resourceVersion", "generation")


class KubectlCluster:
    """ClusterBackend over `kubectl --context CONTEXT`.

    Reads are cached for `cache_seconds` (the engine's tick asks for the same objects
    many times a second) and the cache is dropped by every apply and delete; events
    are read at most every `events_interval` seconds."""

    name = "kubectl"

    def __init__(self, context: str, kubeconfig: Path | None = None, kubectl: str = "kubectl",
                 *, timeout: float = 60.0, request_timeout: float = 10.0,
                 cache_seconds: float = 1.0, events_interval: float = 1.0,
                 events_since: float | None = None) -> None:
        self.context = context
        self.kubeconfig = Path(kubeconfig) if kubeconfig is not None else None
        self.kubectl = kubectl
        self.timeout = timeout
        self.request_timeout = request_timeout
        self.cache_seconds = cache_seconds
        self.events_interval = events_interval
        # Events older than the backend are history, not news; a little slack covers
        # clock skew between this machine and the API server.
        self.events_since = time.time() - 5 if events_since is None else events_since
        self.history: collections.deque[ClusterEvent] = collections.deque(maxlen=200)
        self._lock = threading.Lock()
        self._cache: dict[Hashable, tuple[float, Any]] = {}
        self._generation = 0
        self._seen: set[tuple[str, int]] = set()
        self._events_due = 0.0
        if shutil.which(kubectl) is None:
            raise self._missing()

    # -- running kubectl ---------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        """The full kubectl command line for `args`, as it would run."""
        cmd = [self.kubectl, "--context", self.context]
        if self.kubeconfig is not None:
            cmd += ["--kubeconfig", str(self.kubeconfig)]
        return cmd + [f"--request-timeout={self.request_timeout:g}s", *args]

    def check_hint(self) -> str:
        extra = f" --kubeconfig {self.kubeconfig}" if self.kubeconfig is not None else ""
        return f"kubectl --context {self.context} cluster-info{extra}"

    def run(self, args: list[str], stdin: str | None = None,
            timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raise ClusterError when kubectl is missing, times out or cannot
        reach the cluster. Other failures come back to the caller with rc != 0."""
        limit = self.timeout if timeout is None else timeout
        verb = " ".join(a for a in args[:2] if not a.startswith("-"))
        try:
            proc = subprocess.run(self.command(*args), input=stdin, capture_output=True,
                                  text=True, timeout=limit, check=False)
        except FileNotFoundError as exc:
            raise self._missing() from exc
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(
                f"kubectl {verb} timed out after {limit:g}s on context {self.context!r}; "
                f"check the cluster with: {self.check_hint()}") from exc
        if proc.returncode != 0:
            self._raise_if_unusable(proc.stderr)
        return proc

    def _missing(self) -> ClusterError:
        return ClusterError(f"kubectl not found (looked for {self.kubectl!r} on PATH); "
                            f"{INSTALL_KUBECTL}")

    def _raise_if_unusable(self, stderr: str) -> None:
        detail = clean_error(stderr)
        if "Error from server" in stderr and "Unauthorized" not in stderr:
            return
        if self.kubeconfig is not None and f"stat {self.kubeconfig}" in stderr:
            raise ClusterError(f"kubeconfig {self.kubeconfig} not found ({detail}) for "
                               f"context {self.context!r}")
        if _NO_CONTEXT.search(stderr):
            where = f" in {self.kubeconfig}" if self.kubeconfig else " in the kubeconfig"
            extra = f" --kubeconfig {self.kubeconfig}" if self.kubeconfig else ""
            raise ClusterError(f"context {self.context!r} not found{where} ({detail}); list "
                               f"the contexts with: kubectl config get-contexts{extra}")
        if "Unauthorized" in stderr or "must be logged in" in stderr:
            raise ClusterError(f"the cluster of context {self.context!r} rejected the "
                               f"credentials ({detail}); check them with: {self.check_hint()}")
        if any(m in stderr for m in _UNREACHABLE):
            raise ClusterError(f"cannot reach the cluster of context {self.context!r} "
                               f"({detail}); check it with: {self.check_hint()}")

    def _json(self, args: list[str]) -> list[dict[str, Any]] | None:
        """Items printed by a `-o json` command; None when the resource type is unknown."""
        proc = self.run([*args, "-o", "json"])
        if proc.returncode != 0:
            if any(m in proc.stderr for m in _UNKNOWN_TYPE):
                return None
            raise ClusterError(f"kubectl {' '.join(args[:2])} failed on context "
                               f"{self.context!r}: {clean_error(proc.stderr)}")
        return items_of(proc.stdout)

    def _cached(self, key: Hashable, read: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.cache_seconds:
                # Callers may change what they get; the cache must not change with it.
                return copy.deepcopy(hit[1])
            generation = self._generation
        value = read()
        with self._lock:
            # A write that happened while we read makes this value stale: do not keep it.
            if generation == self._generation and self.cache_seconds > 0:
                self._cache[key] = (now, copy.deepcopy(value))
        return value

    def _invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache.clear()

    def ping(self) -> str:
        """The server's version; raises ClusterError when the context does not answer."""
        proc = self.run(["get", "--raw", "/version"])
        if proc.returncode != 0:
            raise ClusterError(f"context {self.context!r} did not answer "
                               f"({clean_error(proc.stderr)}); check it with: {self.check_hint()}")
        return str(json.loads(proc.stdout or "{}").get("gitVersion", "unknown"))

    # -- ClusterBackend -----------------------------------------------------------------

    def apply(self, objects: list[dict[str, Any]], dry_run: bool = False) -> list[ApplyResult]:
        if not objects:
            return []
        prepared = [with_namespace(o) for o in objects]
        refs = [ObjRef.of(o) for o in prepared]
        before = self._live(prepared, refs)
        if dry_run:
            # The server cannot dry-run an object into a namespace that does not exist
            # yet, though a real apply would create that namespace first...
            new_ns = {r.name for r in refs if r.kind == "Namespace" and before[r] is None}
            staged = [i for i, r in enumerate(refs) if r.namespace in new_ns]
            direct = [i for i, r in enumerate(refs) if r.namespace not in new_ns]
        else:
            staged, direct = [], sorted(range(len(refs)),
                                        key=lambda i: refs[i].kind not in FIRST_KINDS)
        results: dict[int, ApplyResult] = {}
        flags = ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}",
                 "--force-conflicts", "-f", "-"] + (["--dry-run=server"] if dry_run else [])
        for i, out in self._batch(flags, prepared, direct).items():
            results[i] = self._result(refs[i], before[refs[i]], out)
        # ...so those are validated by the server as new objects in "default" instead;
        # "already exists" there means they passed validation.
        in_default = [{**o, "metadata": {**o["metadata"], "namespace": "default"}}
                      if i in staged else o for i, o in enumerate(prepared)]
        create = ["create", "-f", "-", "--dry-run=server"]
        for i, out in self._batch(create, in_default, staged).items():
            fine = isinstance(out, dict) or "already exists" in out
            results[i] = ApplyResult(refs[i], "created" if fine else "invalid",
                                     None if fine else str(out))
        if not dry_run:
            self._invalidate()
        return [results[i] for i in range(len(refs))]

    def _batch(self, flags: list[str], objects: list[dict[str, Any]],
               indexes: Iterable[int]) -> dict[int, dict[str, Any] | str]:
        """Send the objects at `indexes` in one kubectl call; when that fails, one call
        each, so every bad object gets its own error. Values: the server's object or
        the error text."""
        indexes = list(indexes)
        if not indexes:
            return {}
        proc = self.run([*flags, "-o", "json"], to_yaml(objects[i] for i in indexes))
        if proc.returncode == 0:
            printed = {ObjRef.of(o): o for o in items_of(proc.stdout)}
            found = {i: printed.get(ObjRef.of(objects[i])) for i in indexes}
            if all(found.values()):
                return {i: o for i, o in found.items() if o is not None}
        out: dict[int, dict[str, Any] | str] = {}
        for i in indexes:
            one = self.run([*flags, "-o", "json"], to_yaml([objects[i]]))
            items = items_of(one.stdout) if one.returncode == 0 else []
            out[i] = items[0] if items else (clean_error(one.stderr) or "kubectl printed nothing")
        return out

    @staticmethod
    def _result(ref: ObjRef, before: dict[str, Any] | None,
                out: dict[str, Any] | str) -> ApplyResult:
        if isinstance(out, str):
            return ApplyResult(ref, "invalid", out)
        if before is None:
            return ApplyResult(ref, "created")
        # Not the resourceVersion: controllers bump it (status updates) between our read
        # and our apply, and a dry run never bumps it.
        same = comparable(before) == comparable(out)
        return ApplyResult(ref, "unchanged" if same else "configured")

    def _live(self, objects: list[dict[str, Any]],
              refs: list[ObjRef]) -> dict[ObjRef, dict[str, Any] | None]:
        """The live version of each object, in one call when kubectl can."""
        live: dict[ObjRef, dict[str, Any] | None] = dict.fromkeys(refs)
        proc = self.run(["get", "-f", "-", "--ignore-not-found", "-o", "json"],
                        to_yaml(objects))
        if proc.returncode == 0:
            for item in items_of(proc.stdout):
                if ObjRef.of(item) in live:
                    live[ObjRef.of(item)] = item
            return live
        # One unknown kind or unnamed object fails the whole call: ask one by one, and
        # leave a bad object's own error to the apply that follows.
        for ref in refs:
            if ref.kind and ref.name:
                one = self.run(_get_args(ref) + ["-o", "json"])
                items = items_of(one.stdout) if one.returncode == 0 else []
                live[ref] = items[0] if items else None
        return live

    def delete(self, ref: ObjRef) -> bool:
        args = ["delete", ref.resource, ref.name, "--ignore-not-found", "--wait=false"]
        if ref.namespace:
            args += ["-n", ref.namespace]
        proc = self.run(args)
        self._invalidate()
        if proc.returncode != 0:
            if any(m in proc.stderr for m in _UNKNOWN_TYPE):
                return False
            raise ClusterError(f"kubectl delete {ref} failed on context {self.context!r}: "
                               f"{clean_error(proc.stderr)}")
        return "deleted" in proc.stdout

    def get(self, ref: ObjRef) -> dict[str, Any] | None:
        return self._cached(("get", ref), lambda: self._get(ref))

    def _get(self, ref: ObjRef) -> dict[str, Any] | None:
        items = self._json(_get_args(ref))
        return items[0] if items else None

    def list(self, kind: str | None = None, namespace: str | None = None,
             labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        key = ("list", kind, namespace, tuple(sorted((labels or {}).items())))
        return self._cached(key, lambda: self._list(kind, namespace, labels))

    def _list(self, kind: str | None, namespace: str | None,
              labels: dict[str, str] | None) -> list[dict[str, Any]]:
        args = ["get", kind or ",".join(DEFAULT_KINDS)]
        args += ["-A"] if namespace is None else ["-n", namespace]
        if labels:
            args += ["-l", ",".join(f"{k}={v}" for k, v in sorted(labels.items()))]
        return self._json(args) or []

    def step(self) -> list[ClusterEvent]:
        now = time.monotonic()
        if now < self._events_due:
            return []
        self._events_due = now + self.events_interval
        items = self._json(["get", "events", "-A"]) or []
        new: list[ClusterEvent] = []
        live: set[tuple[str, int]] = set()
        for item in items:
            meta = item.get("metadata") or {}
            count = int(item.get("count") or (item.get("series") or {}).get("count") or 1)
            key = (str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}"), count)
            live.add(key)
            if key in self._seen:
                continue
            self._seen.add(key)
            event = to_event(item)
            if event.time >= self.events_since:
                new.append(event)
        # Forget what the cluster expired, so the set does not grow for ever.
        self._seen &= live
        new.sort(key=lambda e: e.time)
        self.history.extend(new)
        return new

    def snapshot(self) -> dict[str, Any]:
        """State for processes that cannot see this one; times are Unix seconds."""
        events = [{"reason": e.reason, "kind": e.ref.kind, "name": e.ref.name,
                   "namespace": e.ref.namespace, "message": e.message, "type": e.type,
                   "time": e.time, "data": e.data} for e in self.history]
        return {"backend": self.name, "context": self.context, "now": time.time(),
                "objects": self.list(), "events": events}


# -- helpers ---------------------------------------------------------------------------

def with_namespace(obj: dict[str, Any]) -> dict[str, Any]:
    """The object with the namespace ObjRef gives it, so kubectl does not fall back to
    the context's own namespace and our refs keep matching the cluster's."""
    if not isinstance(obj, dict):
        return obj
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    ref = ObjRef.of(obj)
    if ref.kind in CLUSTER_SCOPED or meta.get("namespace"):
        return obj
    return {**obj, "metadata": {**meta, "namespace": ref.namespace}}


def _get_args(ref: ObjRef) -> list[str]:
    args = ["get", ref.resource, ref.name, "--ignore-not-found"]
    return args + (["-n", ref.namespace] if ref.namespace else [])


def to_yaml(objects: Iterable[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(objects), sort_keys=False)


def items_of(stdout: str) -> list[dict[str, Any]]:
    """The objects kubectl printed: `apply` and `get` print one object or a List,
    `create` prints one JSON document per object, back to back."""
    decoder, text, pos, out = json.JSONDecoder(), stdout.strip(), 0, []
    while pos < len(text):
        try:
            data, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ClusterError(f"kubectl printed something that is not JSON: "
                               f"{text[pos:pos + 200]!r}") from exc
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if isinstance(data, dict) and str(data.get("kind", "")).endswith("List"):
            out += [i for i in data.get("items") or [] if isinstance(i, dict)]
        elif isinstance(data, dict):
            out.append(data)
    return out


def clean_error(stderr: str) -> str:
    """kubectl's stderr without client-side log noise and warnings, on one line."""
    lines = [_STDIN.sub("", line).strip() for line in stderr.splitlines()]
    kept = [line for line in lines
            if line and not _KLOG.match(line) and not line.startswith("Warning:")]
    return "; ".join(dict.fromkeys(kept))


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def to_event(item: dict[str, Any]) -> ClusterEvent:
    involved = item.get("involvedObject") or item.get("regarding") or {}
    kind = str(involved.get("kind", ""))
    namespace = "" if kind in CLUSTER_SCOPED else str(involved.get("namespace") or "")
    meta = item.get("metadata") or {}
    when = (item.get("lastTimestamp") or item.get("eventTime")
            or (item.get("series") or {}).get("lastObservedTime") or item.get("firstTimestamp")
            or meta.get("creationTimestamp"))
    source = (item.get("source") or {}).get("component") or item.get("reportingComponent")
    return ClusterEvent(
        reason=str(item.get("reason", "")), ref=ObjRef(kind, str(involved.get("name", "")),
                                                       namespace),
        message=str(item.get("message") or item.get("note") or "").strip(),
        type=str(item.get("type") or "Normal"), time=parse_time(when) or 0.0,
        data={"uid": meta.get("uid"), "count": item.get("count") or 1, "source": source})
