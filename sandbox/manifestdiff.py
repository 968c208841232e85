"""Object-by-object diff of two manifest sets, in the spirit of ``flux diff``.

Objects are matched by (kind, namespace, name), so reordering files or documents is not
a change; a changed object shows a unified diff of its YAML with keys sorted, so only
real value changes appear.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

ObjectKey = tuple[str, str, str]


def object_key(obj: dict[str, Any]) -> ObjectKey:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return (str(obj.get("kind") or ""), str(meta.get("namespace") or ""),
            str(meta.get("name") or ""))


def key_text(key: ObjectKey) -> str:
    kind, namespace, name = key
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def _yaml(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, allow_unicode=True)


@dataclass
class ObjectChange:
    key: ObjectKey
    base: dict[str, Any]
    head: dict[str, Any]
    diff: str  # unified diff of the two objects' YAML

    @property
    def ref(self) -> str:
        return key_text(self.key)


@dataclass
class ManifestDiff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[ObjectChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed"

    def text(self) -> str:
        """A readable report: one line per object, then the diff of each change."""
        if self.empty:
            return "no changes\n"
        lines: list[str] = []
        for obj in self.added:
            lines.append(f"+ {key_text(object_key(obj))} (added)")
        for change in self.changed:
            lines.append(f"~ {change.ref} (changed)")
            lines.extend("    " + line for line in change.diff.splitlines())
        for obj in self.removed:
            lines.append(f"- {key_text(object_key(obj))} (removed)")
        lines.append(self.summary())
        return "\n".join(lines) + "\n"


def _index(objects: list[dict[str, Any]]) -> dict[ObjectKey, dict[str, Any]]:
    # A duplicate key keeps the last object, as kubectl apply of the stream would.
    return {object_key(obj): obj for obj in objects if isinstance(obj, dict)}


def diff_objects(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> ManifestDiff:
    """Compare two lists of Kubernetes objects; output is sorted by key for stable reports."""
    before, after = _index(base), _index(head)
    result = ManifestDiff()
    for key in sorted(after.keys() - before.keys()):
        result.added.append(after[key])
    for key in sorted(before.keys() - after.keys()):
        result.removed.append(before[key])
    for key in sorted(before.keys() & after.keys()):
        if before[key] == after[key]:
            continue
        ref = key_text(key)
        diff = "".join(difflib.unified_diff(
            _yaml(before[key]).splitlines(keepends=True),
            _yaml(after[key]).splitlines(keepends=True),
            fromfile=f"base/{ref}",
            tofile=f"head/{ref}",
        ))
        result.changed.append(ObjectChange(key, before[key], after[key], diff))
    return result
