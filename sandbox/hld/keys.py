"""Which config keys a component already has, so a typo is not silently a new key.

``fab set`` adds whatever key it is given; a misspelt ``Xreplicas=ab`` then lands in the
HLD, no manifest uses it, and the check passes. Known keys are those set in any
environment's config for the component (the root's ``subcomponents.<name>`` sections
and the component's own ``config/`` folder) plus the ``${var}`` names its static
manifests use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.hld.config import normalize_config
from sandbox.hld.errors import HldError
from sandbox.hld.model import Component, load_component
from sandbox.hld.substitute import placeholder_names
from sandbox.hld.yamlio import display_path, load_structured


def _leaves(values: Any, prefix: str = "") -> set[str]:
    if not isinstance(values, dict) or not values:
        return {prefix} if prefix else set()
    found: set[str] = set()
    for key, value in values.items():
        found |= _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    return found


def _config_keys(folder: Path, names: list[str], root: Path) -> set[str]:
    found: set[str] = set()
    config_dir = folder / "config"
    if not config_dir.is_dir() or config_dir.is_symlink():
        return found
    for file in sorted(config_dir.iterdir()):
        if file.suffix not in (".yaml", ".json") or not file.is_file() or file.is_symlink():
            continue
        try:
            level = normalize_config(load_structured(file, root), display_path(file, root))
        except HldError:
            continue  # a broken file of another environment says nothing about this key
        for name in names:
            level = (level.get("subcomponents") or {}).get(name) or {}
        found |= _leaves(level.get("config"))
    return found


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _template_keys(component: Component, folder: Path, root: Path) -> set[str]:
    if component.type != "static" or not component.substitute or component.method != "local":
        return set()
    files_dir = folder / component.path
    if not _inside(root, files_dir) or not files_dir.is_dir():
        return set()
    found: set[str] = set()
    for path in sorted(files_dir.iterdir()):
        if path.is_file() and _inside(root, path) and path.stat().st_size <= 1 << 20:
            found |= placeholder_names(path.read_text("utf-8", "replace"))
    return found


def known_config_keys(hld_dir: Path, subcomponent: str | None = None) -> set[str]:
    """Dotted leaf keys the component at ``subcomponent`` (``a.b``; None: root) knows."""
    root = Path(hld_dir)
    names = subcomponent.split(".") if subcomponent else []
    keys = _config_keys(root, names, root)
    component, folder = load_component(root, root), root
    for index, name in enumerate(names):
        child = next((c for c in component.subcomponents if c.name == name), None)
        if child is None or child.method != "local":
            return keys
        if child.source:
            folder = folder / child.source
            if not _inside(root, folder) or not folder.is_dir():
                return keys
            keys |= _config_keys(folder, names[index + 1:], root)
            if child.type == "component":
                try:
                    child = load_component(folder, root)
                except HldError:
                    return keys
        component = child
    return keys | _template_keys(component, folder, root)
