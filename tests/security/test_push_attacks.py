"""Attacks on hld.git through the real HTTP server: crafted trees, client-side hook
bypasses, pushes around the server, and missing or wrong credentials. Each is refused
with its message, and repositories, database and cluster stay as they were."""

from __future__ import annotations

import base64
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sandbox.facade import Sandbox
from sandbox.gitserver import remote

from .conftest import commit, git


def crafted_tree_commit(clone: Path, name: bytes) -> str:
    """A commit whose tree has one entry called `name`, written byte by byte (git mktree
    itself refuses a '/' in a name)."""
    (clone / "payload").write_text("#!/bin/sh\nexit 0\n")  # a hook that allows anything
    blob_sha = git("hash-object", "-w", "payload", cwd=clone, check=True).stdout.strip()
    data = b"100755 " + name + b"\0" + bytes.fromhex(blob_sha)
    tree = subprocess.run(["git", "hash-object", "-t", "tree", "-w", "--literally", "--stdin"],
                          cwd=clone, input=data, capture_output=True, check=True
                          ).stdout.decode().strip()
    return git("commit-tree", tree, "-p", "HEAD", "-m", "crafted", cwd=clone,
               check=True).stdout.strip()


@pytest.mark.parametrize(("name", "fsck"), [(b"..", "hasDotdot"), (b".git", "hasDotgit"),
                                            (b".GIT", "hasDotgit"),
                                            (b"/etc", "fullPathname"),
                                            (b"../../hooks", "fullPathname")])
def test_crafted_trees_are_refused_by_the_servers_fsck(
        sandbox: Sandbox, clone_as, unchanged, name: bytes, fsck: str) -> None:  # type: ignore[no-untyped-def]
    clone = clone_as(sandbox.root, "operator")
    sha = crafted_tree_commit(clone, name)
    proc = git("push", "origin", f"{sha}:refs/heads/crafted", cwd=clone)
    assert proc.returncode != 0
    assert fsck in proc.stderr and "fsck error" in proc.stderr
    unchanged()


def test_receive_pack_option_changes_nothing_over_http(
        sandbox: Sandbox, clone_as, unchanged) -> None:  # type: ignore[no-untyped-def]
    clone = clone_as(sandbox.root, "operator")
    commit(clone)
    proc = git("push", "--receive-pack=git -c core.hooksPath=/nonexistent receive-pack",
               "origin", "HEAD:main", cwd=clone)
    assert proc.returncode != 0
    assert "direct pushes to the protected branch 'main' are not allowed" in proc.stderr
    unchanged()


def test_client_hooks_path_changes_nothing_over_http(
        sandbox: Sandbox, clone_as, unchanged) -> None:  # type: ignore[no-untyped-def]
    clone = clone_as(sandbox.root, "operator")
    commit(clone)
    for args in (["-c", "core.hooksPath=/nonexistent"],
                 ["-c", "receive.fsckObjects=false", "-c", "core.hooksPath=/dev/null"]):
        proc = git(*args, "push", "origin", "HEAD:main", cwd=clone)
        assert proc.returncode != 0
        assert "direct pushes to the protected branch 'main' are not allowed" in proc.stderr
    unchanged()


def test_a_push_around_the_server_is_refused_with_its_address(
        sandbox: Sandbox, clone_as, unchanged) -> None:  # type: ignore[no-untyped-def]
    clone = clone_as(sandbox.root, "operator")
    commit(clone)
    proc = git("push", str(sandbox.ws.hld_git), "HEAD:refs/heads/sneaky", cwd=clone)
    assert proc.returncode != 0
    assert "pushes go through the sandbox's git server" in proc.stderr
    assert sandbox.git_server_url() in proc.stderr
    # Pretending to be the server does not help without the server's proof.
    proc = git("-c", "core.hooksPath=hooks", "push", str(sandbox.ws.hld_git),
               "HEAD:refs/heads/sneaky", cwd=clone)
    assert proc.returncode != 0
    unchanged()


def _request(url: str, auth: str | None, path: str = "/info/refs?service=git-receive-pack"
             ) -> int:
    req = urllib.request.Request(url + path)
    if auth is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_missing_or_wrong_token_is_401(sandbox: Sandbox, clone_as, unchanged,  # type: ignore[no-untyped-def]
                                       tmp_path: Path) -> None:
    url = remote.repo_url(sandbox.root, "hld")
    token = sandbox.users.issue_token(sandbox.users.get("operator"))
    assert _request(url, None) == 401
    assert _request(url, "operator:wrong-token") == 401
    assert _request(url, f"reviewer:{token}") == 401  # another user's token
    assert _request(url, f"оperator:{token}") == 401  # Cyrillic о
    assert _request(url, f"operator:{token}") == 200
    proc = git("clone", "-q", url, str(tmp_path / "anon"), cwd=tmp_path)
    assert proc.returncode != 0 and "could not read Username" in proc.stderr
    proc = git("clone", "-q", url.replace("http://", "http://operator:nope@"),
               str(tmp_path / "wrong"), cwd=tmp_path)
    assert proc.returncode != 0 and "Authentication failed" in proc.stderr
    unchanged()


def test_only_the_smart_endpoints_of_the_two_repositories_are_served(
        sandbox: Sandbox) -> None:
    token = sandbox.users.issue_token(sandbox.users.get("operator"))
    base = remote.server_url(sandbox.root)
    for path in ("/state.db", "/gitserver.key", "/hld.git/config", "/hld.git/HEAD",
                 "/hld.git/info/refs", "/registry.git/info/refs?service=git-upload-pack"):
        assert _request(base, f"operator:{token}", path) in (403, 404), path
