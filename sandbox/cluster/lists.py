"""`kind: List` (and typed lists such as `v1/List`, `DeploymentList`) unpacked as kubectl
does before it sends anything: each item is an object of its own, lists inside lists are
flattened, and a typed list's items without apiVersion/kind take the list's (as
apimachinery's unstructured decoder sets them: `DeploymentList` -> `Deployment`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAX_DEPTH = 16  # lists of lists of lists...: deeper is a mistake or an attack


def is_list(obj: Any) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("kind"), str)
            and obj["kind"].endswith("List") and isinstance(obj.get("items"), list))


def items_of(obj: dict[str, Any]) -> Iterator[tuple[int, Any]]:
    """(index, item) of a list object, with a typed list's apiVersion/kind filled in."""
    kind = obj["kind"]
    item_kind = kind[: -len("List")] if kind != "List" else ""
    for index, item in enumerate(obj["items"]):
        if isinstance(item, dict) and item_kind and not item.get("kind"):
            item = {"apiVersion": obj.get("apiVersion"), "kind": item_kind, **item}
        yield index, item


def unpack(obj: Any, depth: int = 0) -> list[Any]:
    """The objects a document stands for: itself, or its items (recursively) for a list."""
    if not is_list(obj) or depth >= MAX_DEPTH:
        return [obj]
    found: list[Any] = []
    for _, item in items_of(obj):
        found.extend(unpack(item, depth + 1))
    return found


def unpack_all(objects: list[Any]) -> list[Any]:
    if not any(is_list(o) for o in objects):
        return objects  # the common case: nothing to copy
    return [item for obj in objects for item in unpack(obj)]
