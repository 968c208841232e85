"""The reconciler's source: the manifest files of a manifests.git commit, parsed.

As Flux's source-controller hands the kustomize-controller an artifact, this hands the
reconciler each file's objects; a file whose blob did not change since the last
commit is neither read nor parsed again, so a commit that changed one service's file
costs one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .cluster.lists import unpack_all
from .gitutil import git

File = tuple[str, str, list[dict[str, Any]], list[str]]  # path, blob id, objects, errors


class ManifestSource:
    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self._parsed: dict[str, tuple[str, list[dict[str, Any]], list[str]]] = {}

    def files(self, sha: str) -> list[File]:
        """Each manifest file of a commit, in path order."""
        listing = _blob_ids(self.git_dir, sha)
        fresh = {path: blob for path, blob in listing.items()
                 if (self._parsed.get(path) or ("",))[0] != blob}
        contents = _read_blobs(self.git_dir, sorted(set(fresh.values())))
        out: list[File] = []
        parsed: dict[str, tuple[str, list[dict[str, Any]], list[str]]] = {}
        for path, blob in sorted(listing.items()):
            cached = self._parsed.get(path)
            if path in fresh or cached is None:
                cached = (blob, *_parse(path, contents[blob]))
            parsed[path] = cached
            out.append((path, *cached))
        self._parsed = parsed
        return out


def _blob_ids(git_dir: Path, sha: str) -> dict[str, str]:
    """The manifest files of a commit: path -> blob id (no content read)."""
    out: dict[str, str] = {}
    for item in git("ls-tree", "-r", "-z", "--full-tree", sha, git_dir=git_dir).split("\0"):
        meta, _, path = item.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob" and path.endswith((".yaml", ".yml")):
            out[path] = parts[2]
    return out


def _read_blobs(git_dir: Path, blobs: list[str]) -> dict[str, bytes]:
    if not blobs:
        return {}
    data: bytes = git("cat-file", "--batch", git_dir=git_dir,  # type: ignore[assignment]
                      input="\n".join(blobs) + "\n", binary=True)
    out: dict[str, bytes] = {}
    pos = 0
    for blob in blobs:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].split()[2])
        start = header_end + 1
        out[blob] = data[start:start + size]
        pos = start + size + 1
    return out


def _parse(path: str, blob: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    objects: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        docs = list(yaml.load_all(blob, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        return [], [f"{path}: not valid YAML: {exc}"]
    for doc in unpack_all(docs):  # `kind: List` counts as its items, as in kubectl
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc:
            errors.append(f"{path}: a document that is not a Kubernetes object")
            continue
        objects.append(doc)
    return objects, errors
