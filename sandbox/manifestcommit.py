"""The generate job's manifest commit, made from what changed.

The job clones main without a checkout and reads main's tree into the index; each
generated file's blob id is computed here (git's hashing of "blob <size>\\0" and the
bytes) and compared with main's, so only the files whose bytes differ are written and
added, and only the files no component produces any more are removed. A merge that
changes one service writes one file, whatever the size of the HLD, and the tree is
exactly the one that emptying the environment's folder and writing every file gives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .gitutil import git

if TYPE_CHECKING:
    from .hld import GenerateResult

FILE_MODE = "100644"  # what a plain file written by the job is stored as
# Component paths are names, never patterns: `*` in one must not match others.
LITERAL = {"GIT_LITERAL_PATHSPECS": "1"}


@dataclass
class Staged:
    written: list[str] = field(default_factory=list)  # added or changed files
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def blob_id(data: bytes) -> str:
    """The id git gives a file of these bytes (SHA-1 object format)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def output_files(result: GenerateResult, env_dir: str) -> dict[str, bytes]:
    """Each generated file's path in the manifest repo and bytes (as write_output)."""
    return {f"{env_dir}/{c.output_path}": c.manifest.encode("utf-8", "surrogateescape")
            for c in result.components}


def tree_files(work: Path, folder: str) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob id) of everything under `folder` in HEAD."""
    out: dict[str, tuple[str, str]] = {}
    listing = git("ls-tree", "-r", "-z", "HEAD", "--", folder, cwd=work, env_extra=LITERAL)
    for item in listing.split("\0"):
        meta, _, path = item.partition("\t")
        parts = meta.split()
        if len(parts) == 3:
            out[path] = (parts[0], parts[2])
    return out


def stage(work: Path, files: dict[str, bytes], env_dir: str) -> Staged:
    """Put main's tree, with `env_dir` replaced by `files`, into the clone's index,
    writing only the files that differ. `work` is a clone made with --no-checkout."""
    git("read-tree", "HEAD", cwd=work)
    current = tree_files(work, env_dir)
    staged = Staged(
        written=sorted(p for p, data in files.items()
                       if current.get(p) != (FILE_MODE, blob_id(data))),
        removed=sorted(p for p in current if p not in files))
    if staged.removed:
        git("rm", "--cached", "--quiet", "--pathspec-from-file=-", "--pathspec-file-nul",
            cwd=work, input="\0".join(staged.removed), env_extra=LITERAL)
    for path in staged.written:
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[path])
    if staged.written:
        git("add", "--pathspec-from-file=-", "--pathspec-file-nul", cwd=work,
            input="\0".join(staged.written), env_extra=LITERAL)
    return staged
