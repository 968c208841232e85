"""Defence in depth: even a tree that reached a repository behind the server's back
(no fsck) cannot make an export write outside its folder or through a symlink."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox.gitutil import UnsafePath, export_tree, safe_tree_path


def bare_with_tree(tmp_path: Path, entries: list[tuple[bytes, bytes]]) -> tuple[Path, str]:
    repo = tmp_path / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)

    def run(*args: str, data: bytes | None = None) -> str:
        return subprocess.run(["git", "--git-dir", str(repo), *args], input=data,
                              capture_output=True, check=True).stdout.decode().strip()

    blob = run("hash-object", "-w", "--stdin", data=b"#!/bin/sh\nexit 0\n")
    tree = b"".join(mode + b" " + name + b"\0" + bytes.fromhex(blob) for mode, name in entries)
    sha = run("hash-object", "-t", "tree", "-w", "--literally", "--stdin", data=tree)
    return repo, run("commit-tree", sha, "-m", "crafted")


@pytest.mark.parametrize("name", [b"..", b".git", b".GIT", b"/etc/evil", b"a/../../x"])
def test_unsafe_names_are_refused_and_nothing_is_written(tmp_path: Path, name: bytes) -> None:
    repo, sha = bare_with_tree(tmp_path, [(b"100644", b"ok.txt"), (b"100755", name)])
    dest = tmp_path / "out" / "export"
    with pytest.raises(UnsafePath, match="refusing tree entry"):
        export_tree(repo, sha, dest)
    assert not dest.exists()


def test_no_write_goes_through_a_symlink(tmp_path: Path) -> None:
    repo, sha = bare_with_tree(tmp_path, [(b"100644", b"f")])
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "export"
    dest.mkdir()
    (dest / "f").symlink_to(outside / "f")  # a file where the export writes: not followed
    with pytest.raises(OSError):
        export_tree(repo, sha, dest)
    assert not (outside / "f").exists()


def test_no_write_goes_through_a_symlinked_folder(tmp_path: Path) -> None:
    repo, flat = bare_with_tree(tmp_path, [(b"100644", b"f")])

    def run(*args: str, text: str | None = None) -> str:
        return subprocess.run(["git", "--git-dir", str(repo), *args], input=text,
                              capture_output=True, text=True, check=True).stdout.strip()

    outer = run("mktree", text=f"040000 tree {run('rev-parse', flat + '^{tree}')}\tsub\n")
    sha = run("commit-tree", outer, "-m", "nested")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "export"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath, match="through a symlink"):
        export_tree(repo, sha, dest)
    assert list(outside.iterdir()) == []


def test_safe_paths() -> None:
    assert safe_tree_path("web/config/prod.yaml") is None
    assert safe_tree_path("a/.gitignore") is None
    for bad in ("", "/x", "a//b", "a/./b", "a/../b", ".git/hooks/pre-receive", "x/.Git/y"):
        assert safe_tree_path(bad), bad
