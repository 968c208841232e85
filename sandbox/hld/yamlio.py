"""Guarded reading of HLD files: size limit, alias-bomb and recursion checks, line numbers.

Every YAML or JSON file the generator touches goes through here, so an HLD pushed by
anyone cannot make the pipeline hang or exhaust memory, and every parse error names
the file and line.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, SequenceNode

from sandbox.hld.errors import HldError
from sandbox.limits import MAX_YAML_DEPTH, nesting_depth

MAX_FILE_BYTES = 10 * 1024 * 1024
# A real Kubernetes object has hundreds of nodes; a billion-laughs document expands to
# billions. Anything past this bound is an attack or a mistake either way.
MAX_EXPANDED_NODES = 250_000

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that keeps timestamps and '=' as strings, like Kubernetes and Go do."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
_Loader.add_constructor("tag:yaml.org,2002:value", SafeConstructor.construct_yaml_str)


def display_path(path: Path, root: Path | None) -> str:
    """Path shown to users: relative to the HLD folder when inside it."""
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            # Outside the HLD: say it as the HLD wrote it (../../etc), not as an absolute
            # path of the machine that ran the check.
            return Path(os.path.relpath(path, root)).as_posix()
    return path.as_posix()


def read_bytes(path: Path, shown: str) -> bytes:
    """Read a file, refusing oversized ones before reading a byte of them."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise HldError(f"cannot read file: {exc.strerror}", file=shown) from exc
    if size > MAX_FILE_BYTES:
        raise HldError(
            f"file is {size // (1024 * 1024)} MB, over the {MAX_FILE_BYTES // (1024 * 1024)} MB "
            "limit for HLD files",
            file=shown,
            fix="split it or keep generated artefacts out of the HLD",
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise HldError(f"cannot read file: {exc.strerror}", file=shown) from exc


def read_text(path: Path, shown: str) -> str:
    data = read_bytes(path, shown)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HldError("file is not UTF-8 text", file=shown, line=line) from exc


def _check_expansion(root: Node, shown: str) -> None:
    """Count nodes as a consumer would see them once aliases are expanded.

    Memoised per node, so the check itself stays linear in the document's real size.
    """
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise HldError(
                "YAML alias refers to itself (recursive anchor)",
                file=shown,
                line=node.start_mark.line + 1,
                fix="remove the self-referencing anchor",
            )
        in_progress.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        in_progress.discard(key)
        sizes[key] = total
        if total > MAX_EXPANDED_NODES:
            raise HldError(
                f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes "
                "(an alias bomb or a runaway anchor)",
                file=shown,
                line=root.start_mark.line + 1,
                fix="write the values out instead of nesting aliases",
            )
        return total

    size(root)


class YamlSyntaxError(HldError):
    """The text is not YAML at all (as opposed to YAML refused for its size or shape)."""


def _yaml_error(exc: yaml.YAMLError, shown: str) -> HldError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    reason = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    return YamlSyntaxError(reason, file=shown, line=line, fix="fix the YAML syntax at that line")


def check_nesting(text: str, shown: str) -> None:
    """Refuse deeply nested text before a parser (recursive, or quadratic) sees it."""
    deep = nesting_depth(text)
    if deep is not None:
        raise HldError(f"nested more than {MAX_YAML_DEPTH} levels deep; not parsed",
                       file=shown, line=deep[1], fix="flatten the structure")


# Parsed documents by file and text, as JSON: a PR check re-generates the whole HLD for
# a one-line change, and parsing the unchanged files again was most of its cost. Only
# parses that JSON carries exactly are kept (no binary, no non-string keys), and a hit
# gives fresh objects, as a parse does.
_COMPOSED: OrderedDict[str, Node | None] = OrderedDict()  # by text, a few config files
_COMPOSED_ENTRIES = 16


def composed(text: str) -> Node | None:
    """A YAML text's node tree (None when it does not parse), once per text in this
    process: a component's fingerprint and its values' origins read the same shared
    config files, and a 3,000-line one is worth composing once. Callers must not
    change the tree."""
    with _MEMO_LOCK:
        if text in _COMPOSED:
            _COMPOSED.move_to_end(text)
            return _COMPOSED[text]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        node = None
    with _MEMO_LOCK:
        _COMPOSED[text] = node
        while len(_COMPOSED) > _COMPOSED_ENTRIES:
            _COMPOSED.popitem(last=False)
    return node


_MEMO: OrderedDict[tuple[str, bytes], str] = OrderedDict()
_MEMO_ENTRIES = 20_000
_MEMO_LOCK = threading.Lock()


def load_yaml_documents(text: str, shown: str) -> list[tuple[int, Any]]:
    """Parse every document in ``text``; return (1-based start line, data) pairs."""
    return _memoized("plain", text, shown, lambda: [
        (node.start_mark.line + 1, data) for node, data in _documents(text, shown)])


def load_manifest_documents(text: str, shown: str) -> list[tuple[int, Any]]:
    """Like load_yaml_documents, with `kind: List` documents unpacked as kubectl does:
    each item is a document of its own, at the line where the item starts."""
    def parse() -> list[tuple[int, Any]]:
        found: list[tuple[int, Any]] = []
        for node, data in _documents(text, shown):
            found.extend(_unpacked(node, data, 0))
        return found
    return _memoized("manifests", text, shown, parse)


def _memoized(how: str, text: str, shown: str,
              parse: Callable[[], list[tuple[int, Any]]]) -> list[tuple[int, Any]]:
    key = (how + "\0" + shown, hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest())
    with _MEMO_LOCK:
        known = _MEMO.get(key)
        if known is not None:
            _MEMO.move_to_end(key)
    if known is not None:
        return [(line, data) for line, data in json.loads(known)]
    documents = parse()
    try:
        dumped = json.dumps(documents, allow_nan=False)
        exact = json.loads(dumped) == [list(item) for item in documents]
    except (TypeError, ValueError, RecursionError):
        exact = False
    if exact:
        with _MEMO_LOCK:
            _MEMO[key] = dumped
            while len(_MEMO) > _MEMO_ENTRIES:
                _MEMO.popitem(last=False)
    return documents


def _unpacked(node: Node, data: Any, depth: int) -> list[tuple[int, Any]]:
    from sandbox.cluster import lists

    line = node.start_mark.line + 1
    if not lists.is_list(data) or depth >= lists.MAX_DEPTH or not isinstance(node, MappingNode):
        return [(line, data)]
    item_nodes = next((value.value for key, value in node.value
                       if getattr(key, "value", None) == "items"
                       and isinstance(value, SequenceNode)), [])
    found: list[tuple[int, Any]] = []
    for index, item in lists.items_of(data):
        item_node = item_nodes[index] if index < len(item_nodes) else node
        found.extend(_unpacked(item_node, item, depth + 1))
    return found


def _documents(text: str, shown: str) -> list[tuple[Node, Any]]:
    check_nesting(text, shown)
    with _MEMO_LOCK:
        node = _COMPOSED.get(text)
    # Composed already (a config file whose parts a generation compared): only its
    # values are built. Building changes no node unless a merge key flattens one.
    known = node is not None and "<<" not in text
    loader = _Loader("" if known else text)
    documents: list[tuple[Node, Any]] = []
    try:
        while known or loader.check_node():
            node = node if known else loader.get_node()
            if node is None:
                continue
            _check_expansion(node, shown)
            documents.append((node, loader.construct_document(node)))
            if known:
                break
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, shown) from exc
    except RecursionError as exc:
        raise HldError("YAML is nested too deeply", file=shown) from exc
    finally:
        loader.dispose()
    return documents


def load_yaml_single(text: str, shown: str) -> Any:
    documents = load_yaml_documents(text, shown)
    if len(documents) > 1:
        raise HldError(
            "expected one YAML document, found several",
            file=shown,
            line=documents[1][0],
            fix="remove the extra '---' separated documents",
        )
    return documents[0][1] if documents else None


def load_json(text: str, shown: str) -> Any:
    check_nesting(text, shown)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HldError(
            f"invalid JSON: {exc.msg}", file=shown, line=exc.lineno, fix="fix the JSON syntax"
        ) from exc
    except RecursionError as exc:
        raise HldError("JSON is nested too deeply", file=shown) from exc


def load_structured(path: Path, root: Path | None) -> Any:
    """Load a YAML or JSON file (by extension) with all the guards."""
    shown = display_path(path, root)
    text = read_text(path, shown)
    if not text.strip():
        return None
    parse: Callable[[str, str], Any] = load_json if path.suffix == ".json" else load_yaml_single
    return parse(text, shown)
