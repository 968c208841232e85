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

A value that came from a placeholder is traced back to the config file and line that
set it (:class:`ValueOrigins`), so a check that finds ``replicas: abc`` points the user
at ``config/prod.yaml``, not at the manifest template.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sandbox.hld.config import config_file
from sandbox.hld.errors import HldError
from sandbox.hld.yamlio import _Loader, composed, display_path, read_text

# A config folder and the key path inside its files that leads to one component's
# config: (root, ("subcomponents", "web")) for the root's files, (web, ()) for its own.
ConfigSource = tuple[Path, tuple[str, ...]]


@dataclass(frozen=True)
class Substitution:
    """Where one placeholder's value landed in the substituted text (0-based columns)."""

    line: int
    start: int
    end: int
    name: str

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


def substitute(text: str, config: dict[str, Any], namespace: str | None, shown: str,
               record: list[Substitution] | None = None) -> str:
    """Replace placeholders in one manifest file's text; ``shown`` names it in errors.

    ``record``, when given, receives a :class:`Substitution` per value filled in.
    """

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

    out: list[str] = []
    done = length = line_start = 0  # line_start: output offset of the current line
    for match in _PLACEHOLDER.finditer(text):
        before = text[done:match.start()]
        newline = before.rfind("\n")
        if newline >= 0:
            line_start = length + newline + 1
        length += len(before)
        value = replace(match)
        if record is not None and not match.group(1):
            name = match.group(2).split(":=", 1)[0]
            column = length - line_start
            record.append(Substitution(text.count("\n", 0, match.start()) + 1, column,
                                       column + len(value), name))
        out += [before, value]
        length += len(value)
        done = match.end()
    out.append(text[done:])
    return "".join(out)


def placeholder_names(text: str) -> set[str]:
    """The dotted names a manifest's ${...} placeholders use (escapes and junk skipped)."""
    names = set()
    for match in _PLACEHOLDER.finditer(text):
        parsed = _NAME.match(match.group(2))
        if parsed and not match.group(1):
            names.add(parsed.group(1))
    return names


def _null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _key_line(root: Node, keys: tuple[str, ...]) -> int | None:
    node = root
    line = None
    for key in keys:
        if not isinstance(node, MappingNode):
            return None
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == key:
                node, line = value_node, key_node.start_mark.line + 1
                break
        else:
            return None
    return None if _null(node) else line


class ConfigOrigins:
    """Finds which config file and line set a value, in the generator's precedence.

    One per generate run, so each config file is parsed at most once, and only when a
    finding asks: a clean check of a large HLD pays nothing for this.
    """

    def __init__(self, envs: list[str], root: Path) -> None:
        self.envs, self.root = envs, root
        self._trees: dict[Path, Node | None] = {}

    def _tree(self, file: Path) -> Node | None:
        if file not in self._trees:
            try:
                self._trees[file] = composed(read_text(file, file.name))
            except HldError:
                self._trees[file] = None
        return self._trees[file]

    def find(self, name: str, sources: tuple[ConfigSource, ...]) -> tuple[str, int] | None:
        wanted = [("config", *name.split("."))] + ([("namespace",)] if name == "namespace" else [])
        for keys in wanted:
            for folder, prefix in sources:
                for env in [*self.envs, "common"]:
                    file = config_file(folder, env)
                    tree = self._tree(file) if file is not None else None
                    line = _key_line(tree, (*prefix, *keys)) if tree is not None else None
                    if file is not None and line is not None:
                        return display_path(file, self.root), line
        return None


# (config file, line there, variable, line of the placeholder in the manifest)
Origin = tuple[str, int, str, int]


class ValueOrigins(Mapping[tuple[str | int, ...], Origin]):
    """Object path -> where the ${var} that filled the value there is set.

    Worked out on first use (only a finding needs it) from the substituted text of the
    document's file, the substitutions made in it and the component's config sources.
    """

    def __init__(self, text: str, made: list[Substitution], start_line: int,
                 sources: tuple[ConfigSource, ...], origins: ConfigOrigins) -> None:
        self._args = (text, made, start_line, sources, origins)
        self._map: dict[tuple[str | int, ...], Origin] | None = None

    def _built(self) -> dict[tuple[str | int, ...], Origin]:
        if self._map is None:
            self._map = _trace(*self._args)
        return self._map

    def __getitem__(self, key: tuple[str | int, ...]) -> Origin:
        return self._built()[key]

    def __iter__(self) -> Iterator[tuple[str | int, ...]]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


def _trace(text: str, made: list[Substitution], start_line: int,
           sources: tuple[ConfigSource, ...],
           origins: ConfigOrigins) -> dict[tuple[str | int, ...], Origin]:
    by_line: dict[int, list[Substitution]] = {}
    for item in made:
        by_line.setdefault(item.line, []).append(item)
    found: dict[tuple[str | int, ...], Origin] = {}

    def walk(node: Node, path: tuple[str | int, ...]) -> None:
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode):
                    walk(value, (*path, key.value))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))
        elif node.start_mark.line == node.end_mark.line:
            for item in by_line.get(node.start_mark.line + 1, []):
                if node.start_mark.column <= item.end and item.start <= node.end_mark.column:
                    where = origins.find(item.name, sources)
                    if where is not None:
                        found[path] = (*where, item.name, item.line)

    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            if node is not None and node.start_mark.line + 1 == start_line:
                walk(node, ())
                break
    except (yaml.YAMLError, RecursionError):
        pass  # the parse already succeeded once; tracing is best effort
    return found
