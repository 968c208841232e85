"""The component model of a Fabrikate HLD: ``component.yaml`` / ``component.json``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.hld.errors import HldError
from sandbox.hld.yamlio import display_path, load_structured

COMPONENT_FILES = ("component.yaml", "component.json")
TYPES = ("component", "static", "helm")
METHODS = ("local", "git", "http", "helm")
# Every hook Fabrikate knows (core/component.go): the install pair runs around fetching
# a component's subcomponents, the generate pair around producing its manifest.
HOOK_NAMES = ("before-install", "after-install", "before-generate", "after-generate")
# Names become folder and file names, so they must not be able to walk the file system.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass
class Component:
    """One node of the HLD tree, as written in a component file or a parent's list."""

    name: str
    type: str = "component"
    method: str = "local"
    source: str = ""
    path: str = ""
    version: str = ""
    branch: str = ""
    hooks: dict[str, list[str]] = field(default_factory=dict)
    subcomponents: list[Component] = field(default_factory=list)
    # Extension: Flux-style ${var} substitution in static manifests (see sandbox.hld).
    substitute: bool = False
    # Where the definition was read from (HLD-relative) and, when known, its line.
    file: str = ""
    line: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def has_hooks(self) -> bool:
        return any(self.hooks.get(name) for name in HOOK_NAMES)


def component_file(folder: Path) -> Path | None:
    """The component file of a folder; YAML wins when both exist, as in Fabrikate."""
    for name in COMPONENT_FILES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _text(data: dict[str, Any], key: str, shown: str, where: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise HldError(
            f"{where}'{key}' must be a string, not {type(value).__name__}",
            file=shown,
            fix=f"write {key}: \"...\"",
        )
    return str(value)


def parse_component(data: Any, shown: str, where: str = "") -> Component:
    """Build a Component from parsed YAML/JSON, checking every field's shape."""
    if not isinstance(data, dict):
        raise HldError(
            f"{where}component definition must be a mapping, not {type(data).__name__}",
            file=shown,
            fix="start the file with 'name: <component name>'",
        )
    name = _text(data, "name", shown, where)
    if not name:
        raise HldError(f"{where}component has no name", file=shown, fix="add 'name: <name>'")
    if not _NAME.match(name):
        raise HldError(
            f"component name {name!r} may only use letters, digits, '.', '_' and '-'",
            file=shown,
            fix="rename it; names become folder and file names",
        )
    where = where or f"component {name!r}: "
    notes: list[str] = []
    ctype = _text(data, "type", shown, where)
    if not ctype and data.get("generator"):
        ctype = _text(data, "generator", shown, where)
        notes.append(f"{shown}: component {name!r} uses deprecated 'generator'; write 'type'")
    ctype = ctype or "component"
    if ctype not in TYPES:
        raise HldError(
            f"{where}unknown type {ctype!r}", file=shown, fix=f"use one of {', '.join(TYPES)}"
        )
    method = _text(data, "method", shown, where) or "local"
    if method not in METHODS:
        raise HldError(
            f"{where}unknown method {method!r}", file=shown, fix=f"use one of {', '.join(METHODS)}"
        )
    hooks = _parse_hooks(data.get("hooks"), shown, where)
    raw_subs = data.get("subcomponents") or []
    if not isinstance(raw_subs, list):
        raise HldError(
            f"{where}'subcomponents' must be a list", file=shown, fix="write '- name: ...' items"
        )
    subcomponents = [
        parse_component(item, shown, f"component {name!r}, subcomponent #{index + 1}: ")
        for index, item in enumerate(raw_subs)
    ]
    seen: set[str] = set()
    for sub in subcomponents:
        if sub.name in seen:
            raise HldError(
                f"{where}two subcomponents are named {sub.name!r}",
                file=shown,
                fix="give each subcomponent a unique name",
            )
        seen.add(sub.name)
    substitute = data.get("substitute", False)
    if not isinstance(substitute, bool):
        raise HldError(f"{where}'substitute' must be true or false", file=shown)
    return Component(
        name=name,
        type=ctype,
        method=method,
        source=_text(data, "source", shown, where),
        path=_text(data, "path", shown, where),
        version=_text(data, "version", shown, where),
        branch=_text(data, "branch", shown, where),
        hooks=hooks,
        subcomponents=subcomponents,
        substitute=substitute,
        file=shown,
        notes=notes,
    )


def _parse_hooks(raw: Any, shown: str, where: str) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise HldError(f"{where}'hooks' must be a mapping", file=shown)
    hooks: dict[str, list[str]] = {}
    for key, commands in raw.items():
        if key not in HOOK_NAMES:
            raise HldError(
                f"{where}unknown hook {key!r}", file=shown,
                fix=f"Fabrikate's hooks are {', '.join(HOOK_NAMES)}"
            )
        if commands is None:
            commands = []
        if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
            raise HldError(f"{where}hook {key!r} must be a list of commands", file=shown)
        hooks[key] = list(commands)
    return hooks


def load_component(path: Path, root: Path | None = None) -> Component:
    """Load the component in folder ``path`` (or the component file ``path`` itself).

    ``root`` is the HLD folder, used only to show paths relative to it.
    """
    file = path if path.is_file() else component_file(path)
    if file is None:
        shown = display_path(path, root)
        raise HldError(
            "no component.yaml or component.json found",
            file=shown,
            fix="create component.yaml with at least 'name: <name>'",
        )
    shown = display_path(file, root)
    data = load_structured(file, root)
    if data is None:
        raise HldError(
            "component file is empty", file=shown, fix="add at least 'name: <component name>'"
        )
    return parse_component(data, shown)
