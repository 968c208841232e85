"""Reuse of one component's generated manifest between generations.

A component's output depends only on what it reads: its definition, its merged config,
the config files that set it (their lines locate a bad ${var} value) and the files of
its static folder. When the HLD folder holds exactly one git commit, the commit's
listing (path -> blob id) names every file's content by hash without reading it, so the
fingerprint of a component costs a few dictionary lookups. A one-line change then
regenerates the one component that reads the changed file; a change to a config file
that every component reads (the root's ``config/common.yaml``) changes every
fingerprint, so every component is generated again.

Only static components read from inside the HLD are reused: a helm chart, a fetched
component or a hook may read anything, so they are always generated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sandbox.hld.generate import ComponentOutput
    from sandbox.hld.model import Component


class ComponentReuse(Protocol):
    """Where the generator looks up and stores components' outputs by fingerprint."""

    listing: Mapping[str, tuple[str, int]]

    def get(self, key: str) -> ComponentOutput | None: ...

    def put(self, key: str, output: ComponentOutput) -> None: ...

    def key(self, parts: list[Any]) -> str: ...


class Fingerprints:
    """Fingerprints of components' inputs, from the commit's listing of the HLD folder."""

    def __init__(self, root: Path, listing: Mapping[str, tuple[str, int]]) -> None:
        self.root = root
        self.by_dir: dict[str, list[tuple[str, str]]] = {}
        for path, (blob, _size) in listing.items():
            folder, _, name = path.rpartition("/")
            self.by_dir.setdefault(folder, []).append((name, blob))
        self.nested: set[str] = set()  # folders holding folders
        self._configs: dict[Path, list[Any] | None] = {}
        for folder in self.by_dir:
            parts = folder.split("/") if folder else []
            for end in range(len(parts)):
                self.nested.add("/".join(parts[:end]))

    def _relative(self, folder: Path) -> str | None:
        # A folder the listing describes holds no symlinks (git's are written as files),
        # so the path is normalised as text, without asking the file system.
        text, root = os.path.normpath(folder), str(self.root)
        if text == root:
            return ""
        return text[len(root) + 1:] if text.startswith(root + os.sep) else None

    def _config_files(self, folder: Path) -> list[Any] | None:
        if folder in self._configs:
            return self._configs[folder]
        rel = self._relative(folder)
        found: list[Any] | None = None
        if rel is not None:
            # The folder's own files (its component file) and its config/ folder.
            config = f"{rel}/config" if rel else "config"
            found = [rel, sorted(self.by_dir.get(rel, [])), sorted(self.by_dir.get(config, []))]
        self._configs[folder] = found
        return found

    def static_inputs(self, component: Component, files_dir: Path, config: dict[str, Any],
                      sources: tuple[tuple[Path, tuple[str, ...]], ...],
                      envs: list[str]) -> list[Any] | None:
        """What a static component's output depends on, or None when it cannot be told
        from the listing (the generator then builds it and says what is wrong)."""
        rel = self._relative(files_dir)
        if rel is None or rel in self.nested or rel not in self.by_dir:
            return None  # a missing folder or one with folders inside: an error to report
        try:
            definition = json.dumps(asdict(component), sort_keys=True, default=str)
            settings = json.dumps(config, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None  # keys JSON cannot order (mixed types): not worth reusing
        inputs: list[Any] = ["static", envs, definition, settings, rel,
                             sorted(self.by_dir[rel])]
        for folder, prefix in sources:
            files = self._config_files(folder)
            if files is None:
                return None
            inputs.append([list(prefix), files])
        return inputs
