"""The `pre-receive` hook of both repositories. It runs on the server side, inside
`git http-backend`, with the authenticated user in REMOTE_USER; a push that did not
come through the server is refused with the server's address.
"""

from __future__ import annotations

import hmac
import os
import sys
from pathlib import Path

from ..events import EventBus
from ..gitutil import ZERO, git, refs
from ..store import Store
from ..users import User, UserError, Users, load_secret, may_push, proof
from . import PROTECTED, TOKEN_OPTION, redeem_merge_token
from .policy import (
    hld_commit_problem,
    is_ancestor,
    manifests_problem,
    protected_problem,
    ref_name_problem,
)
from .remote import server_url

PROOF_VAR = "GITOPS_SANDBOX_PROOF"


def _push_options() -> dict[str, str]:
    opts: dict[str, str] = {}
    for i in range(int(os.environ.get("GIT_PUSH_OPTION_COUNT", "0") or 0)):
        key, _, value = os.environ.get(f"GIT_PUSH_OPTION_{i}", "").partition("=")
        opts[key] = value
    return opts


def _pusher(workspace: Path, users: Users) -> User | str:
    """The authenticated user, or why there is none."""
    name = os.environ.get("REMOTE_USER", "")
    secret = load_secret(workspace)
    given = os.environ.get(PROOF_VAR, "")
    if not name or secret is None or not hmac.compare_digest(given, proof(secret, name)):
        return ("pushes go through the sandbox's git server, which checks who you are: "
                f"git push {server_url(workspace)}/<repo>.git (see 'gitops-sandbox clone')")
    try:
        return users.get(name)
    except UserError as exc:
        return str(exc)


def _new_commits(old: str, new: str) -> list[str]:
    span = [new, "--not", "--all"] if old == ZERO else [f"{old}..{new}"]
    out = git("rev-list", *span, keep_git_env=True, check=False)
    return out.split()


def check_hld(store: Store, repo_dir: Path, user: User, updates: list[tuple[str, str, str]],
              options: dict[str, str]) -> list[tuple[str, str, str]]:
    """(ref, new sha, reason) for each update the policy refuses."""
    existing = refs(repo_dir)
    refused: list[tuple[str, str, str]] = []
    for old, new, ref in updates:
        reason = ref_name_problem(ref, existing) if new != ZERO else None
        reason = reason or may_push(user, "hld", ref, merge=bool(options.get(TOKEN_OPTION)))
        if reason is None and ref == PROTECTED:
            ancestor = (old == ZERO or new == ZERO
                        or is_ancestor(repo_dir, old, new, keep_env=True))
            token_ok = new != ZERO and ancestor and redeem_merge_token(
                store, options.get(TOKEN_OPTION), new, user.id)
            reason = protected_problem(old, new, ref, ancestor, token_ok)
        if reason:
            refused.append((ref, new, reason))
    return refused


def check_manifests(workspace: Path, repo_dir: Path, user: User,
                    updates: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    existing = refs(repo_dir)
    refused: list[tuple[str, str, str]] = []
    for old, new, ref in updates:
        reason = ref_name_problem(ref, existing) if new != ZERO else None
        if reason is None:
            ancestor = (old == ZERO or new == ZERO
                        or is_ancestor(repo_dir, old, new, keep_env=True))
            reason = manifests_problem(user, old, new, ref, ancestor)
        if reason is None:
            for sha in _new_commits(old, new):
                body = git("log", "-1", "--format=%B", sha, keep_git_env=True)
                reason = hld_commit_problem(workspace / "hld.git", body, sha)
                if reason:
                    break
        if reason:
            refused.append((ref, new, reason))
    return refused


def hook_main(argv: list[str]) -> int:
    workspace, repo = Path(argv[0]), argv[1]
    name = repo.removesuffix(".git")
    store = Store(workspace / "state.db")
    users = Users(store)
    updates: list[tuple[str, str, str]] = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    pusher = _pusher(workspace, users)
    if isinstance(pusher, str):
        refused = [(ref, new, pusher) for _old, new, ref in updates[:1]]
    elif name == "manifests":
        refused = check_manifests(workspace, workspace / repo, pusher, updates)
    else:
        refused = check_hld(store, workspace / repo, pusher, updates, _push_options())
    if refused:
        bus = EventBus(store)
        who = pusher.name if isinstance(pusher, User) else "an unauthenticated client"
        for ref, new, reason in refused:
            bus.publish("push.rejected", "gitserver",
                        f"{repo}: push to {ref.removeprefix('refs/heads/')} by {who} rejected",
                        ref=ref, new=new, user=who, reason=reason.splitlines()[0])
        print("", file=sys.stderr)
        for _ref, _new, reason in refused:
            for line in ("gitops-sandbox branch policy: " + reason).splitlines():
                print(line, file=sys.stderr)
        print("", file=sys.stderr)
        return 1
    assert isinstance(pusher, User)
    for old, new, ref in updates:
        users.record_push(name, ref, old, new, pusher)
    return 0
