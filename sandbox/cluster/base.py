"""The cluster backend protocol shared by the simulated cluster and kind.

Its operations mirror the Kubernetes API's (apply with dry-run, delete, get, list),
so the reconciler, monitor and TUI never know which backend they talk to.
Objects are plain dicts shaped like Kubernetes objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Kinds that are not namespaced; everything else lives in a namespace.
CLUSTER_SCOPED = frozenset(
    {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Node",
     "PersistentVolume", "StorageClass", "PriorityClass"}
)


@dataclass(frozen=True, order=True)
class ObjRef:
    kind: str
    name: str
    namespace: str = ""

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjRef:
        meta = obj.get("metadata") or {}
        kind = str(obj.get("kind", ""))
        ns = "" if kind in CLUSTER_SCOPED else str(meta.get("namespace") or "default")
        return cls(kind, str(meta.get("name", "")), ns)

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" if not self.namespace else f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def short(self) -> str:
        """Flux-style `Kind/name`."""
        return f"{self.kind}/{self.name}"


def parse_ref(text: str) -> ObjRef | None:
    """The inverse of str(ObjRef): `Kind/name` or `Kind/namespace/name`."""
    parts = text.split("/")
    if len(parts) == 2 and all(parts):
        return ObjRef(parts[0], parts[1])
    if len(parts) == 3 and all(parts):
        return ObjRef(parts[0], parts[2], parts[1])
    return None


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


# kubectl's names for the kinds the sandbox knows: plural, singular and short forms.
_KIND_NAMES: dict[str, tuple[str, ...]] = {
    "Namespace": ("namespaces", "namespace", "ns"),
    "Deployment": ("deployments", "deployment", "deploy"),
    "ReplicaSet": ("replicasets", "replicaset", "rs"),
    "Pod": ("pods", "pod", "po"),
    "Service": ("services", "service", "svc"),
    "ConfigMap": ("configmaps", "configmap", "cm"),
    "Secret": ("secrets", "secret"),
    "Endpoints": ("endpoints", "ep"),
}
KIND_ALIASES = {alias: kind for kind, names in _KIND_NAMES.items() for alias in names}


def resolve_kind(name: str | None) -> str | None:
    """`deploy`, `deployments`, `Deployment` -> `Deployment`; unknown names pass through."""
    if not name:
        return None
    return KIND_ALIASES.get(name.lower(), name)
