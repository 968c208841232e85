"""Indexes over the simulated API server's objects, as informers keep them.

Kubernetes' controllers never scan the whole cluster to answer "which pods does this
Service select" or "which Services select this pod": their informers keep caches
indexed by namespace and label, and they react to what changed. These indexes give the
simulated controllers the same answers at a cost that grows with the answer, not with
the cluster. They work for any kind, so every controller can use them.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.base import ObjRef

Labels = dict[str, Any]
Selector = dict[str, Any]


def equality_terms(selector: Selector | None) -> list[tuple[str, str]]:
    """The key=value terms a selector requires (a plain map, matchLabels, or `In` with
    one value): an object lacking any of them cannot match."""
    if not selector:
        return []
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return sorted((str(k), str(v)) for k, v in selector.items())
    terms = [(str(k), str(v)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        values = expr.get("values") or []
        if expr.get("operator") == "In" and len(values) == 1:
            terms.append((str(expr.get("key")), str(values[0])))
    return sorted(terms)


class LabelIndex:
    """Objects of every kind by (kind, namespace) and by (kind, namespace, key, value)."""

    def __init__(self) -> None:
        self._ns: dict[tuple[str, str], set[ObjRef]] = {}
        self._labels: dict[tuple[str, str, str, str], set[ObjRef]] = {}
        self._indexed: dict[ObjRef, Labels] = {}

    def add(self, ref: ObjRef, labels: Labels | None) -> None:
        old = self._indexed.get(ref)
        if old is not None:
            if old == (labels or {}):
                return  # the common case: a status write
            self._drop_labels(ref, old)
        else:
            self._ns.setdefault((ref.kind, ref.namespace), set()).add(ref)
        labels = self._indexed[ref] = dict(labels or {})
        for k, v in labels.items():
            self._labels.setdefault((ref.kind, ref.namespace, str(k), str(v)), set()).add(ref)

    def discard(self, ref: ObjRef) -> None:
        old = self._indexed.pop(ref, None)
        if old is None:
            return
        self._drop_labels(ref, old)
        refs = self._ns.get((ref.kind, ref.namespace))
        if refs is not None:
            refs.discard(ref)
            if not refs:
                del self._ns[(ref.kind, ref.namespace)]

    def _drop_labels(self, ref: ObjRef, labels: Labels) -> None:
        for k, v in labels.items():
            key = (ref.kind, ref.namespace, str(k), str(v))
            refs = self._labels.get(key)
            if refs is not None:
                refs.discard(ref)
                if not refs:
                    del self._labels[key]

    def in_namespace(self, kind: str, namespace: str) -> set[ObjRef]:
        return self._ns.get((kind, namespace), set())

    def namespaces(self, kind: str) -> list[str]:
        return sorted(ns for k, ns in self._ns if k == kind)

    def candidates(self, kind: str, namespace: str, selector: Selector | None) -> set[ObjRef]:
        """A superset of the objects the selector matches (callers check each with
        matches_selector): the smallest of its equality terms' sets."""
        terms = equality_terms(selector)
        if not terms:
            return set(self.in_namespace(kind, namespace)) if selector else set()
        sets = [self._labels.get((kind, namespace, k, v), set()) for k, v in terms]
        smallest = min(sets, key=len)
        out = set(smallest)
        for other in sets:
            if other is not smallest:
                out &= other
        return out


class SelectorIndex:
    """Objects that carry a selector (Services, and any controller's kind), indexed by
    one of their required terms, to answer "who selects these labels" from the labels."""

    def __init__(self) -> None:
        self._by_term: dict[tuple[str, str, str], set[ObjRef]] = {}
        self._any: dict[str, set[ObjRef]] = {}  # selectors with no equality term
        self._keys: dict[ObjRef, tuple[str, str, str] | str] = {}

    def set(self, ref: ObjRef, selector: Selector | None) -> None:
        self.discard(ref)
        if not selector:
            return  # selects nothing (a Service with hand-made endpoints)
        terms = equality_terms(selector)
        if terms:
            key: tuple[str, str, str] | str = (ref.namespace, *terms[0])
            self._by_term.setdefault(key, set()).add(ref)  # type: ignore[arg-type]
        else:
            key = ref.namespace
            self._any.setdefault(key, set()).add(ref)
        self._keys[ref] = key

    def discard(self, ref: ObjRef) -> None:
        key = self._keys.pop(ref, None)
        if key is None:
            return
        table: dict[Any, set[ObjRef]] = self._any if isinstance(key, str) else self._by_term
        refs = table.get(key)
        if refs is not None:
            refs.discard(ref)
            if not refs:
                del table[key]

    def __contains__(self, ref: ObjRef) -> bool:
        return ref in self._keys

    def candidates(self, namespace: str, labels: Labels) -> set[ObjRef]:
        """A superset of the selecting objects (check each with matches_selector)."""
        out = set(self._any.get(namespace, ()))
        for k, v in labels.items():
            out |= self._by_term.get((namespace, str(k), str(v)), set())
        return out
