"""A generation that starts from an earlier one and walks only what changed.

A component's output follows from what it reads (see hld/reuse.py): its definition, the
files of its static folder and, of each config file on its way down, its part (the
subtree at its key path; the whole file for its own config folder). A walk of an HLD
commit keeps, per component, what it read and what it made (a :class:`Walk`). The next
commit's generation compares the two commits' listings (path -> blob id, a dictionary
difference) and sorts each changed path:

- a component file anywhere a walk looked for one, a config file added or removed, a
  file where a walk expected a folder, a folder inside a static folder: the tree's
  shape may differ, so everything is walked again (as is any HLD with a fetched or helm
  component, a disabled one, hooks that run, or a config folder two components read);
- a file of a static folder: that component is produced again;
- a config file changed in place: each component that reads it compares its part with
  the earlier one. Equal: its output stands, its values' origins moved with the part
  (``placed``). Different: it is installed again, and so is each component above it
  (their parts hold its part), merging only the changed subcomponents' config.
- any other path: no component reads it.

So a one-line change in one component's part of a 2,000-line shared file installs the
root and that component, parses the changed file once, and compares one part per
component, instead of merging the config of every component again.

The result is the one a whole walk gives: same documents, origins, notes, problems;
an HLD that does not generate is walked whole, so its error is the whole walk's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.hld.config import ConfigDict, load_config
from sandbox.hld.reuse import Fingerprints, Parts, placed

if TYPE_CHECKING:
    from sandbox.hld.generate import _Node, _Walker
    from sandbox.hld.results import ComponentOutput, GenerateResult

Listing = Mapping[str, tuple[str, int]]
Levels = dict[tuple[str, str | None], ConfigDict]  # (folder/config/env, blob) -> loaded
SUFFIXES = (".yaml", ".json")
DEFINITIONS = ("component.yaml", "component.json")


def pruned(config: ConfigDict, names: set[str] | None) -> ConfigDict:
    """``config`` with only the subcomponents ``names`` (all when None). merge_config
    merges each subcomponent's part on its own, so theirs come out the same."""
    if names is None or "subcomponents" not in config:
        return config
    subs = config["subcomponents"] or {}
    return {**config, "subcomponents": {n: subs[n] for n in subs if n in names}}


def _relative(root: Path, folder: Path) -> str | None:
    text, top = os.path.normpath(folder), str(root)
    if text == top:
        return ""
    return text[len(top) + 1:] if text.startswith(top + os.sep) else None


def level(levels: Levels, listing: Listing, root: Path, folder: Path, env: str,
          earlier: Listing | None = None) -> ConfigDict:
    """load_config, once per content: the folder holds exactly ``listing``'s files, so
    a blob id names a config file's content. Callers never change what it returns.
    ``earlier``: the listing of the walk this one starts from (see :func:`_patched`)."""
    rel = _relative(root, folder)
    if rel is None:
        return load_config(folder, env, root)
    stem = f"{rel}/config/{env}" if rel else f"config/{env}"
    name = next((stem + s for s in SUFFIXES if stem + s in listing), None)
    blob = listing[name][0] if name else None
    found = levels.get((stem, blob))
    if found is None:
        old = (earlier or {}).get(name or "", ("",))[0]
        if name and (stem, old) in levels:
            found = _patched(levels[(stem, old)], root, name, old, str(blob))
        found = levels[(stem, blob)] = found or load_config(folder, env, root)
    return found


def _patched(old_level: ConfigDict, root: Path, path: str, old: str,
             new: str) -> ConfigDict | None:
    """A changed config file loaded from its earlier version's: when only some of its
    subcomponents' entries changed (as text; the same keys in the same order, no
    anchors, aliases or merge keys), only those are built and checked again, and the
    rest is the earlier file's, which loaded cleanly. None: load it whole."""
    from sandbox.hld import reuse  # the node trees compared for the parts
    from sandbox.hld.config import normalize_config
    from sandbox.hld.yamlio import MAX_EXPANDED_NODES, _Loader, check_nesting

    before, after = reuse.composed_memo(old), reuse.composed(root, path, new)
    if not path.endswith(".yaml") or before is None or after is None:
        return None
    (old_node, old_lines), (new_node, new_lines) = before, after
    text = "".join(new_lines)
    if any(mark in text for mark in ("*", "&", "<<")) or len(text) >= MAX_EXPANDED_NODES // 2:
        return None  # the whole load's alias and size checks have something to say
    check_nesting(text, path)
    top = _entries(old_node, old_lines, new_node, new_lines)
    if top is None or len(top[1]) != 1 or top[1][0][0] != "subcomponents":
        return None if top is None or top[1] else old_level
    subs = _entries(top[1][0][1], old_lines, top[1][0][2], new_lines)
    if subs is None or subs[0] != list(old_level["subcomponents"]):
        return None
    level = {**old_level, "subcomponents": dict(old_level["subcomponents"])}
    for name, _, node in subs[1]:
        loader = _Loader("")
        try:
            value = loader.construct_document(node)
        finally:
            loader.dispose()
        level["subcomponents"][name] = normalize_config(value, path, f"subcomponents.{name}: ")
    return level


def _entries(old: Any, old_lines: list[str], new: Any, new_lines: list[str]
             ) -> tuple[list[str], list[tuple[str, Any, Any]]] | None:
    """Two mappings' keys (the same, in the same order, each once, plain strings) and
    the entries whose text differs; None when they are not such."""
    import yaml

    if not (isinstance(old, yaml.MappingNode) and isinstance(new, yaml.MappingNode)
            and len(old.value) == len(new.value)):
        return None
    keys: list[str] = []
    changed: list[tuple[str, Any, Any]] = []
    for (old_key, old_value), (new_key, new_value) in zip(old.value, new.value, strict=True):
        if not (isinstance(new_key, yaml.ScalarNode) and isinstance(old_key, yaml.ScalarNode)
                and new_key.tag == old_key.tag == "tag:yaml.org,2002:str"
                and new_key.value == old_key.value):
            return None
        keys.append(new_key.value)
        if _text(old_lines, old_key, old_value) != _text(new_lines, new_key, new_value):
            changed.append((new_key.value, old_value, new_value))
    return (keys, changed) if len(set(keys)) == len(keys) else None


def _text(lines: list[str], key: Any, value: Any) -> str:
    end = value.end_mark.line
    if end < len(lines) and lines[end][:value.end_mark.column].strip():
        end += 1
    return "".join(lines[key.start_mark.line:max(end, key.start_mark.line + 1)])


@dataclass
class Shape:
    """What stays the same while no definition changes: shared by later walks."""

    nodes: list[_Node]
    children: list[list[int]]
    readers: dict[str, list[tuple[int, tuple[str, ...]]]]  # config file -> its readers
    owners: dict[str, int]  # every config file name a component may read -> it
    definitions: set[str]  # every component file name a walk looked for
    static_dirs: dict[str, list[int]]  # static folder -> its components


@dataclass
class Walk:
    """One walk of one commit: per component, what it was passed down, its parts of
    config files and its output. (Not its config: a static component whose files
    changed merges what it is passed down again, which costs what its own part does.)"""

    root: Path
    envs: list[str]
    listing: Listing
    shape: Shape
    passed: list[ConfigDict]
    parts: list[Parts]
    outputs: list[ComponentOutput]
    levels: Levels
    prints: Fingerprints
    again: bool = False  # made by starting from an earlier walk


def _shape(walker: _Walker, nodes: list[_Node], parts: list[Parts]) -> Shape | None:
    root = walker.root
    children: list[list[int]] = [[] for _ in nodes]
    readers: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
    owners: dict[str, int] = {}
    statics: dict[str, list[int]] = {}
    definitions: set[str] = set()
    for folder in walker.folders:
        rel = _relative(root, folder)
        if rel is None:
            return None
        definitions.update(f"{rel}/{n}" if rel else n for n in DEFINITIONS)
    for index, node in enumerate(nodes):
        if node.parent >= 0:
            children[node.parent].append(index)
        for folder in node.config_dirs:
            rel = _relative(root, folder)
            if rel is None:
                return None
            for env in [*walker.envs, "common"]:
                for suffix in SUFFIXES:
                    name = f"{rel}/config/{env}{suffix}" if rel else f"config/{env}{suffix}"
                    if owners.setdefault(name, index) != index:
                        return None  # one config folder, two components: not told apart
        if node.component.type == "static":
            rel = _relative(root, node.folder / node.component.path)
            if rel is None:
                return None
            statics.setdefault(rel, []).append(index)
        seen: set[str] = set()
        for path, prefix in parts[index]:
            if path in seen:
                return None  # one file read at two key paths: its anchor is not one line
            seen.add(path)
            readers.setdefault(path, []).append((index, prefix))
    return Shape(nodes, children, readers, owners, definitions, statics)


def record(walker: _Walker, nodes: list[_Node], outputs: list[ComponentOutput],
           shape: Shape | None = None) -> Walk | None:
    """What a later walk may start from, after a whole walk (None: it may not)."""
    prints, reuse = walker.prints, walker.reuse
    if prints is None or reuse is None:
        return None
    parts: list[Parts] = []
    for node in nodes:
        found = prints.parts(node.sources, walker.envs)
        if found is None:
            return None
        parts.append(found)
    shape = shape or _shape(walker, nodes, parts)
    if shape is None:
        return None
    for node in nodes:
        node.config = {}  # not needed again: let it go (a root's holds every part)
    prints.settled()
    return Walk(walker.root, walker.envs, reuse.listing, shape,
                [n.passed_down for n in nodes], parts, outputs,
                _current(walker.levels, reuse.listing), prints)


def _current(levels: Levels, listing: Listing) -> Levels:
    """The loaded config files this commit still has (the memo stays this commit's)."""
    if len(levels) <= 64:
        return levels
    return {key: value for key, value in levels.items()
            if key[1] is None or any(listing.get(key[0] + s, ("",))[0] == key[1]
                                     for s in SUFFIXES)}


def changed_paths(old: Listing, new: Listing) -> set[str] | None:
    """The paths whose content differs (added and removed ones too); None when that is
    most of the HLD, which a whole walk does as well."""
    changed = {path for path, _ in new.items() - old.items()}
    cap = max(64, len(new) // 8)
    if len(changed) > cap:
        # Listings of the same files may disagree on sizes only: compare blob ids.
        changed = {p for p, v in new.items() if old.get(p, ("",))[0] != v[0]}
        if len(changed) > cap:
            return None
    changed.update(old.keys() - new.keys())
    return changed


def choose(earlier: list[Walk], walker: _Walker) -> Walk | None:
    """Of the earlier walks (most recent first), the closest to this folder's listing."""
    if walker.reuse is None:
        return None
    listing = walker.reuse.listing
    fits = [w for w in earlier[:3] if w.root == walker.root and w.envs == walker.envs]
    if len(fits) < 2:
        return fits[0] if fits else None
    best: tuple[int, Walk] | None = None
    for walk in fits:
        size = len(listing.items() - walk.listing.items())
        if best is None or size < best[0]:
            best = (size, walk)
    return best[1] if best else None


def _sorted(base: Walk, listing: Listing,
            changed: set[str]) -> tuple[set[str], set[int]] | None:
    """The changed config files read in place, and the static components whose folder
    changed; None when the tree's shape may differ."""
    shape = base.shape
    configs: set[str] = set()
    statics: set[int] = set()
    for path in changed:
        if path in shape.owners:
            if path.endswith(".json"):
                yaml = path[:-5] + ".yaml"
                if yaml in listing and yaml in base.listing:
                    continue  # YAML wins: nobody reads it
            if path not in listing or path not in base.listing:
                return None
            configs.add(path)
            continue
        if path in shape.definitions or path in shape.static_dirs:
            return None
        folder = path.rpartition("/")[0]
        statics.update(shape.static_dirs.get(folder, ()))
        if "" in shape.static_dirs and folder:
            return None  # a folder inside a static folder: the walk refuses it
        parts = path.split("/")
        for end in range(1, len(parts)):
            above = "/".join(parts[:end])
            if above in shape.owners or above in shape.definitions or (
                    above in shape.static_dirs and above != folder):
                return None
    return configs, statics


def again(walker: _Walker, base: Walk) -> GenerateResult | None:
    """The generation of the walker's folder from ``base`` (None: walk it whole)."""
    reuse = walker.reuse
    if (reuse is None or walker.allow_hooks or base.root != walker.root
            or base.envs != walker.envs):
        return None
    listing = reuse.listing
    changed = changed_paths(base.listing, listing)
    found = _sorted(base, listing, changed) if changed is not None else None
    if changed is None or found is None:
        return None
    configs, statics = found
    shape, envs = base.shape, walker.envs
    prints = walker.prints = base.prints.moved(listing, changed)
    walker.levels, walker.earlier = base.levels, base.listing
    # Whose part of a changed config file changed, and where the others' parts sit now.
    dirty: set[int] = set()
    inherited: set[int] = set()  # changed through an ancestor's file
    anchors: dict[int, dict[str, int]] = {}
    for path in configs:
        blob = listing[path][0]
        for index, prefix in shape.readers.get(path, ()):
            part, start = prints.part(path, blob, prefix)
            if part != base.parts[index][(path, prefix)]:
                dirty.add(index)
                if prefix:
                    inherited.add(index)
            elif start is not None:
                anchors.setdefault(index, {})[path] = start
    for index in inherited:
        parent = shape.nodes[index].parent
        if parent >= 0 and parent not in dirty:
            return None  # its parent's part holds its part: cannot be, so do not guess
    passed = list(base.passed)
    configs_now: dict[int, ConfigDict] = {}
    for index in sorted(dirty):
        node = shape.nodes[index]
        parent = node.parent
        if parent >= 0 and parent in dirty:
            passed[index] = configs_now[parent]["subcomponents"].get(node.name) or {}
        names = None if node.component.type == "static" else {
            shape.nodes[c].name for c in shape.children[index] if c in dirty}
        config = walker.reinstall(node, passed[index], names)
        if config is None:
            return None
        configs_now[index] = config
    # Then produce in the tree's order, as a whole walk does (its bounds, its errors).
    result = walker.result
    for node in shape.nodes:
        result.notes.extend(node.notes)
    outputs, parts = list(base.outputs), list(base.parts)
    produce = dirty | statics
    for index, node in enumerate(shape.nodes):
        if index in produce and node.component.type == "static":
            config = configs_now.get(index) or walker.reinstall(node, passed[index], None)
            if config is None:
                return None
            outputs[index] = walker.produce(walker.with_config(node, config))
        else:
            output = base.outputs[index]
            if index in anchors:
                output = placed(output, {**output.anchors, **anchors[index]})
            walker.add(output)
            outputs[index] = output
        if index in dirty:
            found_parts = prints.parts(node.sources, envs)
            if found_parts is None:
                return None
            parts[index] = found_parts
    result.walked = len(produce)
    if walker.plain:
        walk = Walk(walker.root, envs, listing, shape, passed, parts, outputs,
                    _current(walker.levels, listing), prints, again=True)
        result.walk = walk
    return result


def stats(result: GenerateResult) -> dict[str, Any]:
    """Behaviour counters of a generation, for the check cache's statistics."""
    walk = result.walk
    return {"walked": result.walked, "fingerprints": result.fingerprinted,
            "again": int(walk is not None and walk.again)}
