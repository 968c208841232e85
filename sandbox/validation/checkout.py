"""One folder the PR check keeps between jobs, moved from commit to commit as
`git checkout` moves a work tree: only the files that differ are written.

Exporting a 3,000-file HLD into a fresh folder for every check costs more than the
check itself. Here the folder lives in the workspace's cache; a listing of what was
written (path -> blob id, size, mtime) says which files to rewrite; anything else found
there (left by an earlier run, edited, added) is removed or rewritten, so the folder
always holds exactly the commit's files. Only the engine's CI runner writes there: while
the record on disk is the one this process wrote, the folder is not walked again. Paths are checked as `export_tree` checks them
and no write follows a symlink.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sandbox.gitutil import UnsafePath, git, safe_tree_path


def tree_listing(git_dir: Path, sha: str) -> dict[str, tuple[str, int]]:
    """path -> (blob id, 0) of every file in the commit: what names their contents.
    Sizes are left out: asking git for them opens every object (most are loose)."""
    return {path: (blob, 0) for path, blob in _listing(git_dir, sha).items()}


def _listing(git_dir: Path, sha: str) -> dict[str, str]:
    """path -> blob id of every file in the commit."""
    out = git("ls-tree", "-r", "-z", "--full-tree", sha, git_dir=git_dir)
    blobs: dict[str, str] = {}
    for item in out.split("\0"):
        if not item:
            continue
        meta, _, path = item.partition("\t")
        _mode, kind, obj = meta.split()
        if kind == "blob":
            blobs[path] = obj
    return blobs


def contents(git_dir: Path, objects: list[str]) -> list[bytes]:
    """The bytes of git objects (blobs), in the order asked."""
    if not objects:
        return []
    data: bytes = git("cat-file", "--batch", git_dir=git_dir,  # type: ignore[assignment]
                      input="\n".join(objects) + "\n", binary=True)
    out, pos = [], 0
    for _ in objects:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].split()[2])
        out.append(data[header_end + 1:header_end + 1 + size])
        pos = header_end + 1 + size + 1
    return out


_SAFE: set[str] = set()  # tree paths already found safe to write
# folder -> (the state file's mtime, size and inode, the state) as this process wrote them
_WROTE: dict[str, tuple[tuple[int, int, int] | None, dict[str, list[object]]]] = {}


def _present(root: str) -> dict[str, os.stat_result]:
    """Every file under ``root`` (relative path -> lstat); symlinked folders are removed.
    String paths and scandir: a 3,000-file HLD is walked in milliseconds."""
    present: dict[str, os.stat_result] = {}
    pending = [("", root)]
    while pending:
        rel, folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                shown = f"{rel}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{shown}/", entry.path))
                elif entry.is_symlink() and os.path.isdir(entry.path):
                    os.unlink(entry.path)
                else:
                    present[shown] = entry.stat(follow_symlinks=False)
    return present


class Checkout:
    """The check's HLD folder under ``root``; :meth:`move_to` returns it at a commit."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = self.root / "hld"
        self._state = self.root / "hld.json"
        self.written = 0  # files written by the last move, for tests and logs
        # path -> (blob id, size) of the commit it holds: the check reads names, sizes and
        # content identities from here instead of walking the folder again.
        self.listing: dict[str, tuple[str, int]] = {}

    def _load(self) -> dict[str, list[object]]:
        try:
            data = json.loads(self._state.read_text("utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def move_to(self, git_dir: Path, sha: str) -> tuple[Path, set[str]]:
        """The folder holding exactly ``sha``'s files, and the paths that changed."""
        blobs = _listing(git_dir, sha)
        for path in blobs:
            if path in _SAFE:
                continue
            why = safe_tree_path(path)
            if why:
                raise UnsafePath(path, why)
            if len(_SAFE) >= 100_000:
                _SAFE.clear()
            _SAFE.add(path)
        if self.folder.is_symlink() or (self.folder.exists() and not self.folder.is_dir()):
            self.folder.unlink()
        self.folder.mkdir(parents=True, exist_ok=True)
        root = self.folder.resolve()
        trusted = self._trusted()
        if trusted is not None:
            # This process wrote the folder last, and nothing else writes there: what it
            # recorded is what is on disk, and walking 3,000 files would say the same.
            known, on_disk = trusted, trusted.keys()
            stale = [path for path, obj in blobs.items()
                     if path not in known or known[path][0] != obj]
        else:
            known = self._load()
            present = _present(str(root))
            on_disk = present.keys()
            stale = []
            for path, obj in blobs.items():
                seen, record = present.get(path), known.get(path)
                if (seen is None or record is None or record[0] != obj
                        or record[1:] != [seen.st_size, seen.st_mtime_ns]):
                    stale.append(path)
        gone = on_disk - blobs.keys()
        for path in gone:
            os.unlink(root / path)
        replaced = False
        fresh = set(stale)
        state: dict[str, list[object]] = {p: r for p, r in known.items()
                                          if p in blobs and p not in fresh}
        for path, data in zip(stale, contents(git_dir, [blobs[p] for p in stale]),
                              strict=True):
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.parent.resolve() != target.parent or root not in target.parents:
                raise UnsafePath(path, "its folder is reached through a symlink")
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
                replaced = True
            elif target.exists() or target.is_symlink():
                target.unlink()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            seen = os.lstat(target)
            state[path] = [blobs[path], seen.st_size, seen.st_mtime_ns]
        if gone or replaced:
            self._prune_dirs(root)  # only a removal or a replaced folder leaves one empty
        tmp = self._state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), "utf-8")
        os.replace(tmp, self._state)
        _WROTE[str(self.root)] = (self._mark(), state)
        self.written = len(stale)
        # Sizes from the files just checked or written (the same bytes as the blobs).
        self.listing = {path: (blob, int(state[path][1]))  # type: ignore[call-overload]
                        for path, blob in blobs.items()}
        return self.folder, set(stale)

    def _mark(self) -> tuple[int, int, int] | None:
        try:
            seen = os.stat(self._state)
        except OSError:
            return None
        return seen.st_mtime_ns, seen.st_size, seen.st_ino

    def _trusted(self) -> dict[str, list[object]] | None:
        """The state this process recorded last, if the record on disk is still that one
        (another process, or a restart, means walking the folder again)."""
        memo = _WROTE.get(str(self.root))
        if memo is None or memo[0] is None or memo[0] != self._mark():
            return None
        return memo[1]

    @staticmethod
    def _prune_dirs(root: Path) -> None:
        for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
            if dirpath != str(root) and not os.listdir(dirpath):
                os.rmdir(dirpath)
