"""The cluster backend protocol shared by the simulated cluster and kind.

Its operations mirror the Kubernetes API's (apply with dry-run, delete, get, list),
so the reconciler, monitor and TUI never know which backend they talk to.
Objects are plain dicts shaped like Kubernetes objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.cluster import discovery


class _ClusterScoped:
    """Kinds that are not namespaced: every built-in kind API discovery says is
    cluster-scoped, plus the cluster-scoped kinds of the CRDs registered so far.

    Read by kind alone in `ObjRef.of`, thousands of times a tick, so it is one plain set,
    filled from the discovery data on first use (not at import: the command line's
    start-up never reads that data) and kept current as CRDs register.
    """

    def __init__(self) -> None:
        self._kinds: set[str] | None = None

    def kinds(self) -> set[str]:
        if self._kinds is None:
            kinds = set(discovery.builtin_cluster_scoped()) | discovery.custom_cluster_scoped()
            discovery.on_scope_change(self._changed)
            self._kinds = kinds
        return self._kinds

    def _changed(self, kind: str, cluster_scoped: bool) -> None:
        if self._kinds is None:
            return
        if cluster_scoped:
            self._kinds.add(kind)
        elif kind not in discovery.builtin_cluster_scoped():
            self._kinds.discard(kind)

    def __contains__(self, kind: object) -> bool:
        kinds = self._kinds if self._kinds is not None else self.kinds()
        return kind in kinds

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.kinds()))

    def __len__(self) -> int:
        return len(self.kinds())


CLUSTER_SCOPED = _ClusterScoped()


_BUILTIN_GROUPS: frozenset[str] | None = None


def custom_group(group: str) -> str:
    """The group a ref carries: `group` when it is not one of Kubernetes' built-in API
    groups (a custom resource's), else "". """
    global _BUILTIN_GROUPS
    builtin = _BUILTIN_GROUPS
    if builtin is None:
        builtin = _BUILTIN_GROUPS = discovery.builtin_groups()
    return "" if group in builtin else group


def api_group(api_version: Any) -> str:
    """The group a ref carries for an object of this apiVersion (see custom_group)."""
    if not isinstance(api_version, str) or "/" not in api_version:
        return ""
    return custom_group(api_version.rpartition("/")[0])


@dataclass(frozen=True, order=True)
class ObjRef:
    kind: str
    name: str
    namespace: str = ""
    # The API group of a custom resource's kind ("" for Kubernetes' built-in kinds): two
    # CRDs may serve one kind in two groups (a `Certificate` of cert-manager.io and of
    # another operator), and the API server keys objects by group and kind, so their
    # objects never share a name. Built-in kinds keep "" so a ref written by kind alone
    # (`Deployment/web`) still means the one object it always meant.
    group: str = ""

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjRef:
        meta = obj.get("metadata") or {}
        kind = str(obj.get("kind", ""))
        scoped = CLUSTER_SCOPED._kinds
        if scoped is None:
            scoped = CLUSTER_SCOPED.kinds()
        ns = "" if kind in scoped else str(meta.get("namespace") or "default")
        return cls(kind, str(meta.get("name", "")), ns, api_group(obj.get("apiVersion")))

    @classmethod
    def grouped(cls, kind: str, name: str, namespace: str, group: str) -> ObjRef:
        """A ref from a resource's group, kind and name (the API server's paths)."""
        return cls(kind, name, namespace, custom_group(group))

    @property
    def resource(self) -> str:
        """The kind as kubectl takes it: `Certificate.cert-manager.io` for a custom
        resource's kind, the bare kind for a built-in one."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" if not self.namespace else f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def key(self) -> str:
        """str() with the group of a custom resource's kind (`Widget.example.com/ns/w`):
        unique where str(), written for people, is not; parse_ref reads both."""
        kind = self.resource
        return f"{kind}/{self.name}" if not self.namespace else f"{kind}/{self.namespace}/{self.name}"

    @property
    def short(self) -> str:
        """Flux-style `Kind/name`."""
        return f"{self.kind}/{self.name}"


def parse_ref(text: str) -> ObjRef | None:
    """The inverse of str(ObjRef) and ObjRef.key: `Kind/name` or `Kind/namespace/name`,
    the kind with its group (`Kind.group`) in a key."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        return None
    kind, _, group = parts[0].partition(".")  # kinds have no dots, groups do
    if len(parts) == 2:
        return ObjRef(kind, parts[1], "", group)
    return ObjRef(kind, parts[2], parts[1], group)


@dataclass
class ApplyResult:
    ref: ObjRef
    action: str  # "created" | "configured" | "unchanged" | "invalid"
    error: str | None = None


@dataclass
class ClusterEvent:
    """Something the cluster did on its own (a pod became ready, a crash...)."""

    reason: str  # Kubernetes-style reason: Scheduled, Pulled, Started, BackOff, ScalingReplicaSet...
    ref: ObjRef
    message: str
    type: str = "Normal"  # Normal | Warning
    time: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


class ClusterError(Exception):
    """A backend operation failed; the message says what and, where it can, how to fix it."""


class ClusterBackend(Protocol):
    name: str

    def apply(self, objects: list[dict[str, Any]], dry_run: bool = False) -> list[ApplyResult]:
        """Create or update each object (server-side-apply semantics). With dry_run, only
        validate and report what would happen; nothing changes."""
        ...

    def delete(self, ref: ObjRef) -> bool:
        """Delete one object (and what it owns); False if it did not exist."""
        ...

    def get(self, ref: ObjRef) -> dict[str, Any] | None:
        ...

    def list(self, kind: str | None = None, namespace: str | None = None,
             labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Objects with their status; kind None lists every kind."""
        ...

    def step(self) -> list[ClusterEvent]:
        """Advance the cluster to its clock's now; return what happened since the last step.
        A real cluster moves by itself, so its step only reads new events."""
        ...


class UnknownResourceType(ClusterError):
    """`cluster get foo`: a name discovery does not know, worded as kubectl says it."""

    def __init__(self, name: str) -> None:
        super().__init__(discovery.unknown_resource_type(name))
        self.name = name


def resolve_kind(name: str | None, found: discovery.Discovery | None = None) -> str | None:
    """Any name kubectl accepts for a resource (`deploy`, `deployments`, `Deployment`,
    `deployments.apps`, `hpa`...) -> its Kind, per API discovery of the chosen Kubernetes
    version (and the CRDs it registered). Raises UnknownResourceType for other names."""
    if not name:
        return None
    found = found if found is not None else discovery.for_version(discovery.DEFAULT_VERSION)
    matches = found.resolve_name(name)
    if not matches:
        raise UnknownResourceType(name)
    return matches[0].kind
