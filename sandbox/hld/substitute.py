"""Flux-style ``${var}`` substitution for static components that opt in.

Fabrikate's static components ignore config, so a release could not change an image tag
with a ``fab set``-like edit. A static component whose definition sets ``substitute: true``
has its manifest files rewritten before they are concatenated:

* ``${name}`` is replaced by the value at the dotted path ``name`` in the component's
  merged ``config`` (``${image.tag}``, ``${replicas}``); ``${namespace}`` falls back to
  the component's ``namespace`` setting when ``config`` has no ``namespace`` key.
* ``${name:=default}`` uses ``default`` when the path is not set.
* ``$${name}`` is an escape and becomes the literal text ``${name}``.
* An unset name without a default, a map or list value, a value with a line break, or a
  malformed placeholder stops generation with the file and line.

Components without ``substitute: true`` are copied byte for byte, as Fabrikate does.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.hld.errors import HldError

_PLACEHOLDER = re.compile(r"\$(\$?)\{([^}\n]*)\}")
_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*)(?::=(.*))?$", re.DOTALL)
_MISSING = object()


def _lookup(values: dict[str, Any], dotted: str) -> Any:
    level: Any = values
    for key in dotted.split("."):
        if not isinstance(level, dict) or key not in level:
            return _MISSING
        level = level[key]
    return level


def _render(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def substitute(text: str, config: dict[str, Any], namespace: str | None, shown: str) -> str:
    """Replace placeholders in one manifest file's text; ``shown`` names it in errors."""

    def replace(match: re.Match[str]) -> str:
        line = text.count("\n", 0, match.start()) + 1
        if match.group(1):
            return match.group(0)[1:]
        parsed = _NAME.match(match.group(2))
        if not parsed:
            raise HldError(
                f"malformed placeholder {match.group(0)!r}",
                file=shown,
                line=line,
                fix="write ${dotted.name} or ${dotted.name:=default}; escape a literal as $${...}",
            )
        name, default = parsed.group(1), parsed.group(2)
        value = _lookup(config, name)
        if value is _MISSING and name == "namespace" and namespace:
            value = namespace
        if value is _MISSING or value is None:
            if default is not None:
                return default
            raise HldError(
                f"variable {name!r} is not defined in this component's config",
                file=shown,
                line=line,
                fix=f"set it in config/<env>.yaml under config: (fab set {name}=...), "
                f"give a default with ${{{name}:=value}}, or escape it as $${{{name}}}",
            )
        rendered = _render(value)
        if rendered is None:
            raise HldError(
                f"variable {name!r} is a {type(value).__name__}, not a single value",
                file=shown,
                line=line,
                fix="point the placeholder at a leaf value",
            )
        if "\n" in rendered or "\r" in rendered:
            raise HldError(
                f"value of {name!r} contains a line break", file=shown, line=line,
                fix="use a one-line value",
            )
        return rendered

    return _PLACEHOLDER.sub(replace, text)
