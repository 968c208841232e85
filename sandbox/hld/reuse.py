"""Reuse of one component's generated manifest between generations.

A component's output depends only on what it reads: its definition, its merged config,
the config files that set it (their lines locate a bad ${var} value) and the files of
its static folder. When the HLD folder holds exactly one git commit, the commit's
listing (path -> blob id) names every file's content by hash without reading it, so the
fingerprint of a component costs a few dictionary lookups. A one-line change then
regenerates the one component that reads the changed file. Of a config file shared by
many components (the root's ``config/common.yaml``), each reads its own subtree: its
text, wherever it sits in the file. Where it starts is the component's *anchor* in that
file: an output records the anchors it was made at, and a line a finding names there
(a value's origin) is moved with it when the subtree moves (a line added above it). So
an edit of one component's settings there regenerates that component only, while an
edit of what they all read regenerates them all.

Only static components read from inside the HLD are reused: a helm chart, a fetched
component or a hook may read anything, so they are always generated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from sandbox.hld.results import ComponentOutput, ManifestDoc

if TYPE_CHECKING:
    from sandbox.hld.model import Component


class ComponentReuse(Protocol):
    """Where the generator looks up and stores components' outputs by fingerprint."""

    listing: Mapping[str, tuple[str, int]]

    def get(self, key: str) -> ComponentOutput | None: ...

    def put(self, key: str, output: ComponentOutput) -> None: ...

    def key(self, parts: list[Any]) -> str: ...


# (config file, key path there) -> what a component reads of it: see Fingerprints.part
Parts = dict[tuple[str, tuple[str, ...]], Any]


def _nested(by_dir: Mapping[str, Any]) -> set[str]:
    nested: set[str] = set()
    for folder in by_dir:
        parts = folder.split("/") if folder else []
        for end in range(len(parts)):
            nested.add("/".join(parts[:end]))
    return nested


class Fingerprints:
    """Fingerprints of components' inputs, from the commit's listing of the HLD folder."""

    def __init__(self, root: Path, listing: Mapping[str, tuple[str, int]]) -> None:
        self.root = root
        self.by_dir: dict[str, list[tuple[str, str]]] = {}
        for path, (blob, _size) in listing.items():
            folder, _, name = path.rpartition("/")
            self.by_dir.setdefault(folder, []).append((name, blob))
        self.nested = _nested(self.by_dir)  # folders holding folders
        self._sources: dict[tuple[Path, tuple[str, ...]],
                            tuple[list[Any], dict[str, int], Parts] | None] = {}
        self.subtrees = 0  # parts of config files looked up (a behaviour counter)

    def _relative(self, folder: Path) -> str | None:
        # A folder the listing describes holds no symlinks (git's are written as files),
        # so the path is normalised as text, without asking the file system.
        text, root = os.path.normpath(folder), str(self.root)
        if text == root:
            return ""
        return text[len(root) + 1:] if text.startswith(root + os.sep) else None

    def _source(self, folder: Path, prefix: tuple[str, ...],
                envs: list[str]) -> tuple[list[Any], dict[str, int], Parts] | None:
        """What a component reads of one config folder's files: for its own folder the
        files themselves; for an ancestor's, only its subtree there (its text, not where
        it sits), so an edit of another component's part of a shared file leaves it be.
        Also the anchors (file -> the line, 1-based, its subtree starts at) and the parts
        ((file, prefix) -> what it reads there: see hld/rewalk.py)."""
        memo = (folder, prefix)
        if memo in self._sources:
            return self._sources[memo]
        rel = self._relative(folder)
        found: tuple[list[Any], dict[str, int], Parts] | None = None
        if rel is not None:
            config = f"{rel}/config" if rel else "config"
            files = dict(self.by_dir.get(config, []))
            read: list[Any] = [rel, list(prefix)]
            anchors: dict[str, int] = {}
            parts: Parts = {}
            for env in [*envs, "common"]:
                # The generator's choice: YAML wins over JSON.
                name = next((f"{env}{s}" for s in (".yaml", ".json") if f"{env}{s}" in files),
                            None)
                if name is None:
                    read.append(None)
                    continue
                path = f"{config}/{name}"
                part, start = self.part(path, files[name], prefix)
                read.append([name, part])
                parts[(path, prefix)] = part
                if start is not None:
                    anchors[path] = start
            found = (read, anchors, parts)
        self._sources[memo] = found
        return found

    def part(self, path: str, blob: str, prefix: tuple[str, ...]) -> tuple[Any, int | None]:
        """What a component reads of one config file at ``prefix``: the whole file (its
        blob) for its own, else its subtree's text; and the line that subtree starts at."""
        self.subtrees += 1
        return (blob, None) if not prefix else self._subtree(path, blob, prefix)

    def parts(self, sources: tuple[tuple[Path, tuple[str, ...]], ...],
              envs: list[str]) -> Parts | None:
        """Every part of the config files a component reads (None: not known)."""
        found: Parts = {}
        for folder, prefix in sources:
            source = self._source(folder, prefix, envs)
            if source is None:
                return None
            if len(sources) == 1:
                return source[2]  # shared: nobody changes parts
            found.update(source[2])
        return found

    def settled(self) -> None:
        """Forget the per-component answers (kept by their walk): only what a later
        listing's fingerprints start from stays."""
        self._sources = {}

    def moved(self, listing: Mapping[str, tuple[str, int]],
              changed: set[str]) -> Fingerprints:
        """The fingerprints of a listing that differs from this one in ``changed`` only:
        folders without a change are shared, so this costs what changed."""
        new = Fingerprints.__new__(Fingerprints)
        new.root, new._sources, new.subtrees = self.root, {}, 0
        new.by_dir = dict(self.by_dir)
        for folder in {path.rpartition("/")[0] for path in changed}:
            names = {name for name, _ in self.by_dir.get(folder, [])}
            names |= {path.rpartition("/")[2] for path in changed
                      if path.rpartition("/")[0] == folder}
            prefix = f"{folder}/" if folder else ""
            entries = [(n, listing[prefix + n][0]) for n in sorted(names)
                       if prefix + n in listing]
            if entries:
                new.by_dir[folder] = entries
            else:
                new.by_dir.pop(folder, None)
        new.nested = self.nested if new.by_dir.keys() == self.by_dir.keys() \
            else _nested(new.by_dir)
        return new

    def _subtree(self, path: str, blob: str,
                 prefix: tuple[str, ...]) -> tuple[Any, int | None]:
        """The text of the value at ``prefix`` in a config file (from its key's line, as
        the generator's origin lookup walks it) and that line (1-based); the whole
        file's blob when that cannot be told apart (aliases may point anywhere, or the
        file does not parse)."""
        parsed = _composed(self.root, path, blob)
        if parsed is None:
            return blob, None
        node, lines = parsed
        key_line = 0
        for key in prefix:
            if not isinstance(node, yaml.MappingNode):
                return "absent", None
            children = _children(node)
            found = children.get(key)
            if _MERGED in children or found is _UNSURE:
                return blob, None  # the value may come from another key: the whole file
            if found is None:
                return "absent", None
            key_line, node = found
        # A block value ends where the next key starts: that line is not its own.
        end = node.end_mark.line
        if end < len(lines) and lines[end][:node.end_mark.column].strip():
            end += 1
        text = "".join(lines[key_line:max(end, key_line + 1)])
        return (blob, None) if "*" in text else (text, key_line + 1)

    def static_inputs(self, component: Component, files_dir: Path, config: dict[str, Any],
                      sources: tuple[tuple[Path, tuple[str, ...]], ...],
                      envs: list[str]) -> tuple[list[Any], dict[str, int]] | None:
        """What a static component's output depends on and its anchors (see the module),
        or None when it cannot be told from the listing (the generator then builds it and
        says what is wrong)."""
        rel = self._relative(files_dir)
        if rel is None or rel in self.nested or rel not in self.by_dir:
            return None  # a missing folder or one with folders inside: an error to report
        try:
            definition = repr(component)  # every field, nested ones included
            settings = json.dumps(config, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None  # keys JSON cannot order (mixed types): not worth reusing
        inputs: list[Any] = ["static", envs, definition, settings, rel,
                             sorted(self.by_dir[rel])]
        anchors: dict[str, int] = {}
        for folder, prefix in sources:
            source = self._source(folder, prefix, envs)
            if source is None:
                return None
            inputs.append(source[0])
            anchors.update(source[1])
        return inputs, anchors


def placed(output: ComponentOutput, anchors: dict[str, int]) -> ComponentOutput:
    """A reused output where its subtrees sit now: the lines its values' origins name
    in a moved subtree move with it. The stored output is shared, so changed documents
    are copies (their objects still shared)."""
    if output.anchors == anchors:
        return output
    shift = {file: line - output.anchors[file] for file, line in anchors.items()
             if file in output.anchors and line != output.anchors[file]}
    if output.by_file is None:
        by_file: dict[str, list[int]] = {}
        for index, doc in enumerate(output.documents):
            for file in {origin[0] for origin in doc.value_origins.values()}:
                by_file.setdefault(file, []).append(index)
        output.by_file = by_file
    moved = sorted({i for file in shift for i in output.by_file.get(file, ())})
    docs = output.documents
    if moved:
        docs = list(docs)
        for index in moved:
            doc = docs[index]
            origins = {path: (o[0], o[1] + shift.get(o[0], 0), *o[2:])
                       for path, o in doc.value_origins.items()}
            docs[index] = ManifestDoc(doc.obj, doc.source_file, doc.source_line,
                                      doc.component, origins, doc.digest)
    return ComponentOutput(output.component, docs, output.problems, output.notes,
                           dict(anchors), output.by_file)


_COMPOSED: dict[str, tuple[yaml.Node, list[str]] | None] = {}  # by blob id
# id(mapping node) -> its entry per scalar key: a shared file with a thousand components
# is searched in constant time per component. A key written twice (the parser keeps the
# last, the origin lookup the first) or a merge key (``<<``: values from elsewhere) make
# the subtree unsure: the component then reads the whole file.
_CHILDREN: dict[int, dict[str, tuple[int, yaml.Node | None]]] = {}
_UNSURE: tuple[int, yaml.Node | None] = (-1, None)
_MERGED = "\0<<"


def _children(node: yaml.MappingNode) -> dict[str, tuple[int, yaml.Node | None]]:
    found = _CHILDREN.get(id(node))
    if found is None:
        found = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.tag == "tag:yaml.org,2002:merge" or key_node.value == "<<":
                found[_MERGED] = _UNSURE
            found[key_node.value] = (_UNSURE if key_node.value in found
                                     else (key_node.start_mark.line, value_node))
        _CHILDREN[id(node)] = found
    return found


def composed_memo(blob: str) -> tuple[yaml.Node, list[str]] | None:
    """A config file's node tree and lines if this process composed that content."""
    return _COMPOSED.get(blob)


def composed(root: Path, path: str, blob: str) -> tuple[yaml.Node, list[str]] | None:
    """A config file's YAML node tree and lines (``path`` holds ``blob`` now)."""
    return _composed(root, path, blob)


def _composed(root: Path, path: str, blob: str) -> tuple[yaml.Node, list[str]] | None:
    """A config file's YAML node tree and lines, once per content in this process."""
    if blob not in _COMPOSED:
        from sandbox.hld.yamlio import composed

        try:
            text = (root / path).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            node = None
        else:
            # A directive (%TAG) changes how every part of the file reads: none is sure.
            node = None if text.startswith("%") or "\n%" in text else composed(text)
        if len(_COMPOSED) >= 64:
            _COMPOSED.clear()
            _CHILDREN.clear()  # its nodes' ids may be reused once they are gone
        _COMPOSED[blob] = None if node is None else (node, text.splitlines(keepends=True))
    return _COMPOSED[blob]
