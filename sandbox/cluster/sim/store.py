"""The simulated API server's storage: Kubernetes-shaped dicts with indexes.

Objects are kept as plain dicts (what `kubectl get -o json` would show) and mutated in
place by the controllers; callers outside the simulation only ever get copies, so a
reader on another thread never sees a half-written object.
"""

from __future__ import annotations

import functools
import heapq
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from sandbox.cluster.base import CLUSTER_SCOPED, ObjRef
from sandbox.cluster.sim.index import LabelIndex

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
    return _rfc3339_second(int(max(t, 0.0)))


@functools.lru_cache(maxsize=256)
def _rfc3339_second(second: int) -> str:
    # Controllers stamp thousands of objects within one simulated second.
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


_EMPTY: dict[ObjRef, dict[str, Any]] = {}  # never written: what of_kind() gives for none


class Watch:
    """The objects written or removed since the last `take()`, as a watch stream would
    deliver them. Past `limit` it forgets them and says "relist", as an API server
    answers a watch that fell too far behind."""

    def __init__(self, limit: int, kinds: frozenset[str] | None = None) -> None:
        self.limit = limit
        self.kinds = kinds  # None: every kind
        self._lock = threading.Lock()
        self._refs: set[ObjRef] = set()
        self._relist = True  # the first look is a full list

    def note(self, ref: ObjRef) -> None:
        if self.kinds is not None and ref.kind not in self.kinds:
            return
        with self._lock:
            if self._relist:
                return
            self._refs.add(ref)
            if len(self._refs) > self.limit:
                self._relist, self._refs = True, set()

    def relist(self) -> None:
        with self._lock:
            self._relist, self._refs = True, set()

    def take(self) -> set[ObjRef] | None:
        """What changed since the last take, or None: look at everything."""
        with self._lock:
            if self._relist:
                self._relist = False
                return None
            refs, self._refs = self._refs, set()
            return refs


class Store:
    """Objects by group and kind, as the API server keys them (a custom resource's kind
    may exist in several groups; built-in kinds have the group "" in their refs), with
    an owner index for cascading deletes and controllers, and a namespace and label
    index (index.py) for selectors."""

    def __init__(self, seed: int) -> None:
        self._by_kind: dict[tuple[str, str], dict[ObjRef, dict[str, Any]]] = {}
        self._children: dict[str, set[ObjRef]] = {}
        self._by_uid: dict[str, ObjRef] = {}
        self.labels = LabelIndex()
        self._watches: list[Watch] = []
        # Bumped by every write and removal: "has anything changed since I looked?"
        self.version = 0
        self._rv = 0
        self._uids = 0
        self._seed = seed & 0xFFFFFFFF
        # Objects written or removed since the journal last took them (see persist.py).
        self.changed: set[ObjRef] = set()
        # Told of every write ("ADDED", "MODIFIED", "DELETED") as it happens, under the
        # cluster's lock: the API server's watch feed. It must copy what it keeps.
        self.listener: Callable[[str, dict[str, Any]], None] | None = None

    def new_uid(self) -> str:
        # Counter-based so that the same seed and calls give the same snapshot.
        self._uids += 1
        return f"{self._seed:08x}-5a4d-4000-8000-{self._uids:012x}"

    def touch(self, obj: dict[str, Any], event: str = "MODIFIED") -> None:
        self._rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        ref = ObjRef.of(obj)
        self.changed.add(ref)
        self.version += 1
        if self.get(ref) is obj:
            # Controllers edit objects in place: keep the label index true to them.
            self.labels.add(ref, meta.get("labels"))
        for watch in self._watches:
            watch.note(ref)
        if self.listener is not None:
            self.listener(event, obj)

    def watch(self, limit: int = 50_000, kinds: frozenset[str] | None = None) -> Watch:
        """A watch on the objects of these kinds (None: all), as an informer holds."""
        w = Watch(limit, kinds)
        self._watches.append(w)
        return w

    def select(self, kind: str, namespace: str, selector: dict[str, Any] | None
               ) -> list[ObjRef]:
        """The objects of a kind in a namespace that a label selector matches, sorted."""
        out = []
        for ref in self.labels.candidates(kind, namespace, selector):
            obj = self.get(ref)
            if obj is not None and matches_selector(obj["metadata"].get("labels") or {},
                                                    selector):
                out.append(ref)
        return sorted(out)

    def get(self, ref: ObjRef) -> dict[str, Any] | None:
        return self._by_kind.get((ref.group, ref.kind), _EMPTY).get(ref)

    def by_uid(self, uid: str | None) -> ObjRef | None:
        return self._by_uid.get(uid) if uid else None

    def of_kind(self, kind: str, group: str = "") -> dict[ObjRef, dict[str, Any]]:
        """The objects of a kind of one group ("": a built-in kind)."""
        return self._by_kind.get((group, kind), _EMPTY)

    def groups_of(self, kind: str) -> list[str]:
        """The groups holding objects of this kind, "" (built-in) first."""
        return sorted(g for (g, k), v in self._by_kind.items() if k == kind and v)

    def kinds(self) -> list[str]:
        return sorted({k for (_, k), v in self._by_kind.items() if v})

    def all(self) -> Iterator[tuple[ObjRef, dict[str, Any]]]:
        for key in sorted(k for k, v in self._by_kind.items() if v):
            yield from self._by_kind[key].items()

    def in_namespace(self, namespace: str, kind: str | None = None) -> list[ObjRef]:
        kinds = [kind] if kind else self.kinds()
        return [ref for k in kinds for ref in sorted(self.labels.in_namespace(k, namespace))]

    def children(self, uid: str) -> list[ObjRef]:
        return sorted(self._children.get(uid, ()))

    def put(self, obj: dict[str, Any]) -> ObjRef:
        ref = ObjRef.of(obj)
        old = self.get(ref)
        if old is not None and old is not obj:
            self._unindex(ref, old)
        self._by_kind.setdefault((ref.group, ref.kind), {})[ref] = obj
        meta = obj["metadata"]
        self.labels.add(ref, meta.get("labels"))
        self._by_uid[meta["uid"]] = ref
        for owner in meta.get("ownerReferences") or []:
            if owner.get("uid"):
                self._children.setdefault(owner["uid"], set()).add(ref)
        self.touch(obj, "ADDED" if old is None else "MODIFIED")
        return ref

    def unindex(self, ref: ObjRef) -> None:
        """Forget an object's owner references before they are edited in place."""
        obj = self.get(ref)
        if obj is not None:
            self._unindex(ref, obj)

    def remove(self, ref: ObjRef) -> dict[str, Any] | None:
        obj = self._by_kind.get((ref.group, ref.kind), {}).pop(ref, None)
        if obj is not None:
            self.changed.add(ref)
            self.version += 1
            self.labels.discard(ref)
            for watch in self._watches:
                watch.note(ref)
            self._unindex(ref, obj)
            self._by_uid.pop(obj["metadata"].get("uid", ""), None)
            if self.listener is not None:
                # A deletion is a write too: watchers see it at a version of its own.
                self._rv += 1
                obj["metadata"]["resourceVersion"] = str(self._rv)
                self.listener("DELETED", obj)
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


class Reader:
    """The live objects, without copies (`SimCluster.inspect`): of a kind, or one."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __call__(self, kind: str) -> list[dict[str, Any]]:
        return list(self._store.of_kind(kind).values())

    def get(self, ref: ObjRef) -> dict[str, Any] | None:
        return self._store.get(ref)


class Timers:
    """Future transitions, in time order. Entries carry a generation so that a pod that
    changed course since (deleted, restarted) ignores its stale timers."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, ObjRef, int]] = []
        self._seq = 0
        # (what, ref) -> the last entry `cancel` voided: a timer nobody waits for any
        # more (a finished rollout's deadline) must not wake an idle engine.
        self._void: dict[tuple[str, ObjRef], int] = {}

    def push(self, at: float, what: str, ref: ObjRef, gen: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, what, ref, gen))

    def cancel(self, what: str, ref: ObjRef) -> None:
        """Every pending `what` timer of `ref` pushed so far will not fire."""
        self._void[(what, ref)] = self._seq

    def _drop_void(self) -> None:
        while self._heap:
            _, seq, what, ref, _ = self._heap[0]
            void = self._void.get((what, ref))
            if void is None or seq > void:
                return
            heapq.heappop(self._heap)
            if seq == void:  # the last one it voided: nothing of it is left
                del self._void[(what, ref)]

    def next_time(self) -> float | None:
        self._drop_void()
        return self._heap[0][0] if self._heap else None

    def pop_until(self, t: float) -> list[tuple[str, ObjRef, int]]:
        out: list[tuple[str, ObjRef, int]] = []
        self._drop_void()
        while self._heap and self._heap[0][0] <= t:
            _, _, what, ref, gen = heapq.heappop(self._heap)
            out.append((what, ref, gen))
            self._drop_void()
        return out

    def __len__(self) -> int:
        return len(self._heap)
