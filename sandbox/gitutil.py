"""Running git: a clean environment, fixed identities, small helpers.

Every call strips inherited GIT_* variables (they leak in when we run inside a hook
or from a user's shell with GIT_DIR set) and ignores the user's global config, so the
sandbox behaves the same on every machine.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ZERO = "0" * 40


class GitError(RuntimeError):
    def __init__(self, args: list[str], code: int, stderr: str) -> None:
        self.code = code
        self.stderr = stderr.strip()
        super().__init__(f"git {' '.join(args)} failed ({code}): {self.stderr}")


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    @classmethod
    def of(cls, who: str) -> Identity:
        return cls(who, f"{who}@sandbox.local")


def clean_env(identity: Identity | None = None, keep_git: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if keep_git or not k.startswith("GIT_")}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("LC_ALL", "C")
    if identity:
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = identity.name
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = identity.email
    return env


def git(*args: str, cwd: Path | str | None = None, git_dir: Path | str | None = None,
        identity: Identity | None = None, input: str | bytes | None = None,
        check: bool = True, env_extra: dict[str, str] | None = None,
        keep_git_env: bool = False, binary: bool = False) -> str:
    cmd = ["git"]
    if git_dir is not None:
        cmd += ["--git-dir", str(git_dir)]
    cmd += list(args)
    env = clean_env(identity, keep_git=keep_git_env)
    if env_extra:
        env.update(env_extra)
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(cmd, cwd=cwd, env=env, input=data, capture_output=True)
    if check and proc.returncode != 0:
        raise GitError(list(args), proc.returncode, proc.stderr.decode(errors="replace"))
    out = proc.stdout if binary else proc.stdout.decode(errors="replace")
    return out  # type: ignore[return-value]


def init_bare(path: Path) -> None:
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    # Sandbox repos never garbage-collect behind the user's back: a gc racing a
    # watcher or a hook turns into confusing "missing object" errors.
    for key, value in (("gc.auto", "0"), ("receive.autogc", "false"),
                       ("receive.advertisePushOptions", "true"),
                       ("core.logAllRefUpdates", "true")):
        git("config", key, value, git_dir=path)


def refs(git_dir: Path, pattern: str = "refs/") -> dict[str, str]:
    """The truth about refs, whatever a watcher saw: `git for-each-ref`."""
    out = git("for-each-ref", "--format=%(objectname) %(refname)", pattern, git_dir=git_dir)
    result: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, name = line.partition(" ")
        result[name] = sha
    return result


def refs_stamp(git_dir: Path) -> tuple[tuple[str, int, int, int], ...]:
    """Something that changes whenever a ref of the repository moves (the stat of
    packed-refs, HEAD and every loose ref): a few stat calls instead of a git process,
    so pollers can skip `refs()` while nothing moved."""
    out: list[tuple[str, int, int, int]] = []
    stack = [str(Path(git_dir) / "refs")]
    paths = [str(Path(git_dir) / "packed-refs"), str(Path(git_dir) / "HEAD")]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            else:
                paths.append(entry.path)
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.append((path, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(sorted(out))


def rev(git_dir: Path, ref: str) -> str | None:
    out = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", git_dir=git_dir,
              check=False).strip()
    return out or None


def is_ancestor(git_dir: Path | str, sha: str, of: str) -> bool:
    """Whether commit `sha` is `of` or one of its ancestors (False when either is unknown)."""
    try:
        git("merge-base", "--is-ancestor", sha, of, git_dir=git_dir)
    except GitError:
        return False
    return True


def short(sha: str | None) -> str:
    return (sha or "")[:7]


def read_tree(git_dir: Path, sha: str, prefix: str = "") -> dict[str, bytes]:
    """Every blob of a commit (optionally under a folder) as path -> bytes, without a checkout."""
    args = ["ls-tree", "-r", "-z", "--full-tree", sha]
    if prefix:
        args.append(prefix)
    listing = git(*args, git_dir=git_dir)
    entries: list[tuple[str, str]] = []
    for item in listing.split("\0"):
        if not item:
            continue
        meta, _, path = item.partition("\t")
        _mode, typ, obj = meta.split()
        if typ == "blob":
            entries.append((path, obj))
    if not entries:
        return {}
    batch = git("cat-file", "--batch", git_dir=git_dir,
                input="\n".join(o for _, o in entries) + "\n", binary=True)
    files: dict[str, bytes] = {}
    pos = 0
    data: bytes = batch  # type: ignore[assignment]
    for path, _obj in entries:
        header_end = data.index(b"\n", pos)
        size = int(data[pos:header_end].split()[2])
        start = header_end + 1
        files[path] = data[start:start + size]
        pos = start + size + 1
    return files


class UnsafePath(GitError):
    """A tree entry that would write outside the export folder or into a .git."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(["export", path], 1, f"refusing tree entry {path!r}: {why}")


def safe_tree_path(path: str) -> str | None:
    """Why a path from a git tree may not be written to disk, or None when it is safe.
    The server's fsck refuses such trees at push; this is the second line of defence."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return "an empty, absolute or backslashed path"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return "a '.', '..' or empty path component"
        if part.rstrip(". ").casefold() == ".git":
            return "a '.git' component"
    return None


def export_tree(git_dir: Path, sha: str, dest: Path) -> None:
    """Write a commit's files into dest (a plain folder, no .git). Every path is checked
    first, and no write follows a symlink: nothing lands outside dest."""
    files = read_tree(git_dir, sha)
    for path in files:
        why = safe_tree_path(path)
        if why:
            raise UnsafePath(path, why)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    for path, blob in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent.resolve() != target.parent or root not in target.parents:
            raise UnsafePath(path, "its folder is reached through a symlink")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)


def trailers(message: str) -> dict[str, str]:
    out = git("interpret-trailers", "--parse", input=message)
    result: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if value:
            result[key.strip()] = value.strip()
    return result


def with_trailers(message: str, pairs: list[tuple[str, str]]) -> str:
    """``message`` with trailers written by `git interpret-trailers` from structured values.

    A trailer of the same key already in the message (say a PR title reading
    "Pull-Request: #1") is replaced, not kept beside ours, so no text a user wrote can
    forge or shadow one.
    """
    args = ["interpret-trailers", "--if-exists", "replace", "--if-missing", "add"]
    for key, value in pairs:
        if not key.replace("-", "").isalnum() or any(c in value for c in "\r\n\0"):
            raise ValueError(f"trailer {key!r}: {value!r} is not one line of text")
        args += ["--trailer", f"{key}: {value}"]
    return git(*args, input=message)
