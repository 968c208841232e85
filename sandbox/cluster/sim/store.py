"""The simulated API server's storage: Kubernetes-shaped dicts with indexes.

Objects are kept as plain dicts (what `kubectl get -o json` would show) and mutated in
place by the controllers; callers outside the simulation only ever get copies, so a
reader on another thread never sees a half-written object.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sandbox.cluster.base import CLUSTER_SCOPED, ObjRef

# Annotations the controllers own; an apply keeps them instead of wiping them.
SYSTEM_ANNOTATION_PREFIXES = ("deployment.kubernetes.io/", "pv.kubernetes.io/",
                              "volume.kubernetes.io/")


def clone(value: Any) -> Any:
    """Deep copy of JSON-like data; several times faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def rfc3339(t: float) -> str:
    """Simulated seconds as a timestamp; clock zero is the Unix epoch, so `now - parsed`
    gives an age on the same scale as the clock."""
    return datetime.fromtimestamp(max(t, 0.0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def matches_selector(labels: dict[str, Any], selector: dict[str, Any] | None) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) or a plain Service selector map."""
    if not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return all(labels.get(k) == v for k, v in selector.items())
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def owner_uid(obj: dict[str, Any], kind: str | None = None) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if kind is None or ref.get("kind") == kind:
            return ref.get("uid")
    return None


def is_namespaced(kind: str) -> bool:
    return kind not in CLUSTER_SCOPED


class Store:
    """Objects by kind, with an owner index for cascading deletes and controllers."""

    def __init__(self, seed: int) -> None:
        self._by_kind: dict[str, dict[ObjRef, dict[str, Any]]] = {}
        self._children: dict[str, set[ObjRef]] = {}
        self._by_uid: dict[str, ObjRef] = {}
        self._rv = 0
        self._uids = 0
        self._seed = seed & 0xFFFFFFFF
        # Objects written or removed since the journal last took them (see persist.py).
        self.changed: set[ObjRef] = set()

    def new_uid(self) -> str:
        # Counter-based so that the same seed and calls give the same snapshot.
        self._uids += 1
        return f"{self._seed:08x}-5a4d-4000-8000-{self._uids:012x}"

    def touch(self, obj: dict[str, Any]) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self.changed.add(ObjRef.of(obj))

    def get(self, ref: ObjRef) -> dict[str, Any] | None:
        return self._by_kind.get(ref.kind, {}).get(ref)

    def by_uid(self, uid: str | None) -> ObjRef | None:
        return self._by_uid.get(uid) if uid else None

    def of_kind(self, kind: str) -> dict[ObjRef, dict[str, Any]]:
        return self._by_kind.get(kind, {})

    def kinds(self) -> list[str]:
        return sorted(k for k, v in self._by_kind.items() if v)

    def all(self) -> Iterator[tuple[ObjRef, dict[str, Any]]]:
        for kind in self.kinds():
            yield from self._by_kind[kind].items()

    def in_namespace(self, namespace: str) -> list[ObjRef]:
        return [ref for kind in self.kinds() for ref in self._by_kind[kind]
                if ref.namespace == namespace]

    def children(self, uid: str) -> list[ObjRef]:
        return sorted(self._children.get(uid, ()))

    def put(self, obj: dict[str, Any]) -> ObjRef:
        ref = ObjRef.of(obj)
        old = self.get(ref)
        if old is not None and old is not obj:
            self._unindex(ref, old)
        self._by_kind.setdefault(ref.kind, {})[ref] = obj
        meta = obj["metadata"]
        self._by_uid[meta["uid"]] = ref
        for owner in meta.get("ownerReferences") or []:
            if owner.get("uid"):
                self._children.setdefault(owner["uid"], set()).add(ref)
        self.touch(obj)
        return ref

    def remove(self, ref: ObjRef) -> dict[str, Any] | None:
        obj = self._by_kind.get(ref.kind, {}).pop(ref, None)
        if obj is not None:
            self.changed.add(ref)
            self._unindex(ref, obj)
            self._by_uid.pop(obj["metadata"].get("uid", ""), None)
        return obj

    def _unindex(self, ref: ObjRef, obj: dict[str, Any]) -> None:
        for owner in obj["metadata"].get("ownerReferences") or []:
            kids = self._children.get(owner.get("uid", ""))
            if kids is not None:
                kids.discard(ref)
                if not kids:
                    del self._children[owner["uid"]]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_kind.values())


class Timers:
    """Future transitions, in time order. Entries carry a generation so that a pod that
    changed course since (deleted, restarted) ignores its stale timers."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, ObjRef, int]] = []
        self._seq = 0

    def push(self, at: float, what: str, ref: ObjRef, gen: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, what, ref, gen))

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_until(self, t: float) -> list[tuple[str, ObjRef, int]]:
        out: list[tuple[str, ObjRef, int]] = []
        while self._heap and self._heap[0][0] <= t:
            _, _, what, ref, gen = heapq.heappop(self._heap)
            out.append((what, ref, gen))
        return out

    def __len__(self) -> int:
        return len(self._heap)
