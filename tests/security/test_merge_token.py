"""The merge token: the only way onto main. It is bound to one commit and one user,
works once, and expires; each property is tested on its own, through the server too."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.gitserver import TOKEN_OPTION, issue_merge_token, redeem_merge_token
from sandbox.gitutil import refs
from sandbox.store import Store
from sandbox.users import Users
from sandbox.workspace import Workspace, init_workspace

from .conftest import commit, git

A, B = "a" * 40, "b" * 40


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "state.db")


def test_a_token_is_bound_to_its_commit(store: Store) -> None:
    assert not redeem_merge_token(store, issue_merge_token(store, 1, A, 7), B, 7)
    assert redeem_merge_token(store, issue_merge_token(store, 1, A, 7), A, 7)


def test_a_token_is_bound_to_its_user(store: Store) -> None:
    assert not redeem_merge_token(store, issue_merge_token(store, 1, A, 7), A, 8)


def test_a_token_works_once(store: Store) -> None:
    token = issue_merge_token(store, 1, A, 7)
    assert redeem_merge_token(store, token, A, 7)
    assert not redeem_merge_token(store, token, A, 7)


def test_a_token_expires(store: Store) -> None:
    assert not redeem_merge_token(store, issue_merge_token(store, 1, A, 7, ttl=-1.0), A, 7)


def test_tokens_are_stored_hashed(store: Store) -> None:
    token = issue_merge_token(store, 1, A, 7)
    assert store.one("SELECT 1 FROM merge_tokens WHERE token=?", token) is None


@pytest.fixture
def tiny(tmp_path: Path, serve, clone_as) -> tuple[Workspace, Path, int]:  # type: ignore[no-untyped-def]
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "component.yaml").write_text("name: tiny\n")
    ws = init_workspace(tmp_path / "ws", sample=sample)
    serve(ws.root)
    clone = clone_as(ws.root, "operator")
    commit(clone)
    return ws, clone, Users(ws.store).get("operator").id


def push_main(clone: Path, token: str, *extra: str) -> str:
    proc = git("push", "-o", f"{TOKEN_OPTION}={token}", "origin", "HEAD:main", *extra, cwd=clone)
    return proc.stderr if proc.returncode else ""


def test_through_the_server_a_token_moves_main_once_for_its_commit_only(
        tiny: tuple[Workspace, Path, int]) -> None:
    ws, clone, operator = tiny
    head = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
    main = refs(ws.hld_git)["refs/heads/main"]
    # Bound to the commit: a token for the parent does not carry this commit.
    said = push_main(clone, issue_merge_token(ws.store, 1, main, operator))
    assert "direct pushes to the protected branch" in said
    # Expired: refused.
    said = push_main(clone, issue_merge_token(ws.store, 1, head, operator, ttl=-1.0))
    assert "direct pushes to the protected branch" in said
    # Single use: a push refused for another ref spends the token all the same.
    token = issue_merge_token(ws.store, 1, head, operator)
    assert "a tag named 'main'" in push_main(clone, token, "HEAD:refs/tags/main")
    assert "direct pushes to the protected branch" in push_main(clone, token)
    assert refs(ws.hld_git)["refs/heads/main"] == main
    # A fresh token for this commit and user moves main.
    assert push_main(clone, issue_merge_token(ws.store, 1, head, operator)) == ""
    assert refs(ws.hld_git)["refs/heads/main"] == head
