"""The parts of a check that reuse earlier work through the cache (cache.py).

- generation (components.py): each component's output stored by the fingerprint of its
  inputs, and each HLD tree as the list of its components, so a base (or a merged head
  the PR check built already) is never built twice and a change builds what it changed;
- yamllint: findings stored by file path, content and lint configuration; only the files
  the PR touches are linted, the others keep what their last lint said;
- schema and house rules: problems stored by the object's canonical JSON and the
  Kubernetes version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from sandbox.hld import ManifestDoc
from sandbox.validation.cache import CheckCache, digest
from sandbox.validation.components import cached_generation, object_digest
from sandbox.validation.findings import Finding
from sandbox.validation.lint import (
    CONFIG_FILES,
    LINT_CONFIG,
    hld_config,
    listed_yaml_files,
    yaml_files,
)
from sandbox.validation.lintparts import Isolate, lint_in_parts

Problems = list[tuple[tuple[str | int, ...], str]]
__all__ = ["cached_generation", "lint_with_cache", "object_key"]


# -- yamllint --------------------------------------------------------------------------

def lint_with_cache(hld_dir: Path, cache: CheckCache | None, touched: Collection[str] | None,
                    lint: Callable[[Collection[str] | None], list[Finding]],
                    listing: Mapping[str, tuple[str, int]] | None = None,
                    tree: str | None = None, base_tree: str | None = None,
                    isolate: Isolate[Any] | None = None) -> list[Finding]:
    """yamllint findings for the HLD, linting only what must be.

    ``touched``: the files the PR changes (None: all of them, as when there is no base
    or the lint configuration changes). A touched file is linted unless its content was
    linted before; an untouched one keeps what the base's check said of it (``base_tree``'s
    findings, kept by tree), or none: it passed the check that merged it. With a
    ``listing`` (the folder holds exactly commit ``tree``), only the touched files are
    looked at: a one-file change in a 3,000-file HLD costs one file.
    ``lint(only)`` runs yamllint on those paths; a big file is linted in parts instead
    (lintparts.py), the parts the cache knows taken from it, and ``isolate(work)`` runs
    the parts' lint where the job's deadline can stop it."""
    if cache is None:
        return lint(None)
    if touched is not None and any(name in touched for name in CONFIG_FILES):
        touched = None  # a new lint configuration changes every file's findings
    config, config_findings = hld_config(hld_dir)
    config_text = next(((hld_dir / n).read_bytes() for n in CONFIG_FILES
                        if (hld_dir / n).is_file() and not (hld_dir / n).is_symlink()),
                       LINT_CONFIG.encode())
    keys: dict[str, str] = {}
    if listing is not None:  # the folder holds exactly this commit: blob ids name contents
        names = listed_yaml_files(listing) if touched is None else _touched_yaml(touched,
                                                                                  listing)
        for shown in names:
            memo = (config_text, shown, listing[shown][0])
            key = _LINT_KEYS.get(memo)
            if key is None:
                if config.is_file_ignored(shown):
                    continue
                key = _LINT_KEYS[memo] = digest("lint", config_text, shown, listing[shown][0])
                if len(_LINT_KEYS) >= 50_000:
                    _LINT_KEYS.clear()
            keys[shown] = key
    else:
        for path in yaml_files(hld_dir):
            shown = path.relative_to(hld_dir).as_posix()
            if not config.is_file_ignored(shown):
                keys[shown] = digest("lint", config_text, shown, _content_hash(path))
    cache.stats["lint.looked"] += len(keys)
    known = cache.get_many("lint", list(keys.values()))
    todo = [shown for shown, key in keys.items() if key not in known
            and (touched is None or shown in touched)]
    cache.stats["lint.files"] += len(todo)
    in_parts = lint_in_parts(hld_dir, todo, config, config_text, cache, isolate, listing)
    fresh = lint([shown for shown in todo if shown not in in_parts])
    per_file: dict[str, list[Finding]] = {shown: [] for shown in todo}
    for shown, found in in_parts.items():
        per_file[shown] = list(found)
    for finding in fresh:
        if finding.file in per_file:
            per_file[finding.file].append(finding)
    cache.put_many("lint", {keys[shown]: [_finding_json(f) for f in found]
                            for shown, found in per_file.items()})
    by_file: dict[str, list[Finding]] = {}
    if listing is not None and touched is not None and base_tree:
        # Untouched files say what they said in the base's check (only files with
        # findings are kept per tree, so this costs what was found, not what exists).
        base = cache.get("lint-tree", digest("lint-tree", config_text, base_tree)) or {}
        for shown, items in base.items():
            if shown in listing and shown not in keys:
                by_file[shown] = [_finding_from(item) for item in items]
    for shown, key in keys.items():
        if shown in per_file:
            by_file[shown] = per_file[shown]
        elif key in known:
            by_file[shown] = [_finding_from(item) for item in known[key]]
    if tree and listing is not None:
        cache.put("lint-tree", digest("lint-tree", config_text, tree),
                  {shown: [_finding_json(f) for f in found]
                   for shown, found in sorted(by_file.items()) if found})
    return list(config_findings) + [f for shown in sorted(by_file) for f in by_file[shown]]


def _touched_yaml(touched: Collection[str], listing: Mapping[str, tuple[str, int]]) -> list[str]:
    """The YAML files among ``touched`` that a walk of the commit would lint: the charts
    beside them are looked up so a Helm chart's templates are skipped as a walk skips them."""
    present = [name for name in touched if name in listing]
    charts = set()
    for shown in present:
        parts = shown.split("/")
        for index, part in enumerate(parts[:-1]):
            if part == "templates":
                for chart in ("Chart.yaml", "Chart.yml"):
                    candidate = "/".join([*parts[:index], chart])
                    if candidate in listing:
                        charts.add(candidate)
    wanted = set(present)
    return [shown for shown in listed_yaml_files(wanted | charts) if shown in wanted]


# Keys of files linted (or seen) before, by configuration, path and blob: a check of a
# 3,000-file HLD then hashes only the files that changed.
_LINT_KEYS: dict[tuple[bytes, str, str], str] = {}
_HASHES: dict[tuple[str, int, int, int], bytes] = {}  # by file state, as in bounds.py


def _content_hash(path: Path) -> bytes:
    """sha256 of a file; the check's folder keeps unchanged files as they were, so their
    size, mtime and inode stand for their content."""
    try:
        seen = path.stat()
    except OSError:
        return b""
    memo = (str(path), seen.st_size, seen.st_mtime_ns, seen.st_ino)
    found = _HASHES.get(memo)
    if found is None:
        try:
            found = hashlib.sha256(path.read_bytes()).digest()
        except OSError:
            return b""
        if len(_HASHES) >= 50_000:
            _HASHES.clear()
        _HASHES[memo] = found
    return found


def _finding_json(finding: Finding) -> list[Any]:
    return [finding.severity, finding.file, finding.line, finding.message, finding.rule,
            finding.object]


def _finding_from(data: list[Any]) -> Finding:
    severity, file, line, message, rule, obj = data
    return Finding(str(severity), str(file), int(line), str(message), str(rule),
                   None if obj is None else str(obj))


# -- schema and house rules ------------------------------------------------------------

def object_key(doc: ManifestDoc, kubernetes_version: str) -> str | None:
    """The key of a document's validation answers: its object's content and the version.
    A document from the component cache carries its content hash already."""
    if doc.digest:
        memo = (doc.digest, kubernetes_version)
        key = _VALIDATE_KEYS.get(memo)
        if key is None:
            if len(_VALIDATE_KEYS) >= 100_000:
                _VALIDATE_KEYS.clear()
            key = _VALIDATE_KEYS[memo] = digest("validate", kubernetes_version, doc.digest)
        return key
    text = object_digest(doc.obj)
    return digest("validate", kubernetes_version, text) if text else None


_VALIDATE_KEYS: dict[tuple[str, str], str] = {}


def problems_json(schema: Problems | None, policy: list[tuple[str, str]]) -> list[Any]:
    return [None if schema is None else [[list(p), m] for p, m in schema],
            [list(item) for item in policy]]


def problems_from(data: list[Any]) -> tuple[Problems | None, list[tuple[str, str]]]:
    schema, policy = data
    return (None if schema is None else [(tuple(p), str(m)) for p, m in schema],
            [(str(rule), str(message)) for rule, message in policy])
