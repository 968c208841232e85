"""The git server: bare repositories on disk, served over smart HTTP, and the branch
policy that guards them.

The repositories in the workspace are the server's, not the client's: everyone (the
sandbox's own jobs included) clones and pushes through `http://127.0.0.1:PORT/` where
git's own `git http-backend` runs `receive-pack` on the server side, so the policy's
`pre-receive` hook runs there with the authenticated user and no client option can
switch it off. `http.py` is the server, `remote.py` the client side, `policy.py` the
rules and `hook.py` the hook.

The protected branch only moves through the merge of a pull request that is approved
and green; the merge proves that with a one-time token sent as a push option, bound to
the merge commit and to the user who merges, and expiring.
"""

from __future__ import annotations

import hashlib
import secrets
import shlex
import sys
import time
from pathlib import Path

from ..gitutil import git, init_bare
from ..store import Store

PROTECTED = "refs/heads/main"
TOKEN_OPTION = "merge-token"
MERGE_TOKEN_TTL = 120.0
REPOS = ("hld", "manifests")

HOOK_TEMPLATE = """#!/bin/sh
# Installed by gitops-sandbox: the branch policy of this repository.
exec {python} -m sandbox.gitserver {workspace} {repo}
"""
# Refused at push with git's own fsck messages: `..`, `.git`, names with '/'.
FSCK_CONFIG = (("receive.fsckObjects", "true"),)


def create_repo(path: Path, workspace: Path, protect: bool) -> None:
    init_bare(path)
    (path / "description").write_text(f"gitops-sandbox {path.stem} repository\n")
    configure_repo(path)
    if protect:
        install_hook(path, workspace)


def configure_repo(repo: Path) -> None:
    for key, value in FSCK_CONFIG:
        git("config", key, value, git_dir=repo)


def hook_text(repo: Path, workspace: Path) -> str:
    return HOOK_TEMPLATE.format(python=shlex.quote(sys.executable),
                                workspace=shlex.quote(str(workspace)),
                                repo=shlex.quote(repo.name))


def install_hook(repo: Path, workspace: Path) -> None:
    hook = repo / "hooks" / "pre-receive"
    hook.write_text(hook_text(repo, workspace))
    hook.chmod(0o755)


def hook_intact(repo: Path, workspace: Path) -> bool:
    try:
        return (repo / "hooks" / "pre-receive").read_text() == hook_text(repo, workspace)
    except OSError:
        return False


def _token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_merge_token(store: Store, pr: int, new_sha: str, user_id: int | None = None,
                      ttl: float = MERGE_TOKEN_TTL) -> str:
    """A one-time proof that `new_sha` is the merge of an approved, green PR, usable only
    by `user_id`, only once, and only for `ttl` seconds. Only its hash is stored."""
    from ..users import ensure_schema

    ensure_schema(store)
    token = secrets.token_hex(16)
    with store.tx() as db:
        db.execute("DELETE FROM merge_tokens WHERE expires < ?", (time.time(),))
        db.execute("INSERT INTO merge_tokens(token, pr, new_sha, expires, user_id) "
                   "VALUES(?, ?, ?, ?, ?)",
                   (_token_key(token), pr, new_sha, time.time() + ttl, user_id))
    return token


def redeem_merge_token(store: Store, token: str | None, new_sha: str,
                       user_id: int | None) -> bool:
    """True when the token was issued for this commit and user and has not expired; the
    token is spent either way, so it never works twice."""
    if not token:
        return False
    with store.tx() as db:
        row = db.execute("SELECT new_sha, expires, user_id FROM merge_tokens WHERE token=?",
                         (_token_key(token),)).fetchone()
        db.execute("DELETE FROM merge_tokens WHERE token=?", (_token_key(token),))
    return (row is not None and row["new_sha"] == new_sha and row["expires"] >= time.time()
            and row["user_id"] == user_id)
