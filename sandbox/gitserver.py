"""The git server: bare repositories on disk and the branch policy that guards them.

The policy lives in a real `pre-receive` hook, so it holds for every client: the
sandbox itself, a plain `git push` from a clone, any script. The protected branch only
moves through the merge of a pull request that is approved and green; the merge
proves that with a one-time token sent as a push option, which the hook checks
against the pull-request database.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path

from .gitutil import ZERO, init_bare
from .store import Store

PROTECTED = "refs/heads/main"
TOKEN_OPTION = "merge-token"

HOOK_TEMPLATE = """#!/bin/sh
# Installed by gitops-sandbox: the branch policy of this repository.
exec {python} -m sandbox.gitserver {workspace} {repo}
"""


def create_repo(path: Path, workspace: Path, protect: bool) -> None:
    init_bare(path)
    (path / "description").write_text(f"gitops-sandbox {path.stem} repository\n")
    if protect:
        install_hook(path, workspace)


def install_hook(repo: Path, workspace: Path) -> None:
    hook = repo / "hooks" / "pre-receive"
    hook.write_text(HOOK_TEMPLATE.format(python=shlex.quote(sys.executable),
                                         workspace=shlex.quote(str(workspace)),
                                         repo=shlex.quote(repo.name)))
    hook.chmod(0o755)


def issue_merge_token(store: Store, pr: int, new_sha: str, ttl: float = 120.0) -> str:
    token = secrets.token_hex(16)
    with store.tx() as db:
        db.execute("DELETE FROM merge_tokens WHERE expires < ?", (time.time(),))
        db.execute("INSERT INTO merge_tokens(token, pr, new_sha, expires) VALUES(?, ?, ?, ?)",
                   (token, pr, new_sha, time.time() + ttl))
    return token


def _push_options() -> dict[str, str]:
    opts: dict[str, str] = {}
    for i in range(int(os.environ.get("GIT_PUSH_OPTION_COUNT", "0") or 0)):
        key, _, value = os.environ.get(f"GIT_PUSH_OPTION_{i}", "").partition("=")
        opts[key] = value
    return opts


def check_update(store: Store, old: str, new: str, ref: str, options: dict[str, str],
                 is_ancestor: bool) -> str | None:
    """Why this ref update is refused, or None when the policy allows it."""
    if ref != PROTECTED:
        return None
    branch = ref.removeprefix("refs/heads/")
    if new == ZERO:
        return (f"deleting the protected branch '{branch}' is not allowed.")
    if old != ZERO and not is_ancestor:
        return (f"force pushes to the protected branch '{branch}' are not allowed: history "
                f"on '{branch}' is never rewritten. To undo a change, revert it: "
                "gitops-sandbox revert")
    token = options.get(TOKEN_OPTION)
    row = store.one("SELECT pr, new_sha, expires FROM merge_tokens WHERE token=?",
                    token) if token else None
    if row is None or row["new_sha"] != new or row["expires"] < time.time():
        return (f"direct pushes to the protected branch '{branch}' are not allowed.\n"
                "Push your change to a branch and open a pull request instead:\n"
                "  git push origin HEAD:my-change\n"
                "  gitops-sandbox pr open my-change --title 'What it changes'\n"
                "It reaches main when it is approved, its checks are green and it is merged.")
    with store.tx() as db:
        db.execute("DELETE FROM merge_tokens WHERE token=?", (token,))
    return None


def hook_main(argv: list[str]) -> int:
    """Entry point of the pre-receive hook."""
    from .events import EventBus

    workspace, repo = Path(argv[0]), argv[1]
    store = Store(workspace / "state.db")
    options = _push_options()
    refused: list[str] = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        old, new, ref = parts
        ancestor = True
        if ref == PROTECTED and old != ZERO and new != ZERO:
            ancestor = _run_ok("merge-base", "--is-ancestor", old, new)
        reason = check_update(store, old, new, ref, options, ancestor)
        if reason:
            refused.append(reason)
            EventBus(store).publish("push.rejected", "gitserver",
                                    f"{repo}: push to {ref.removeprefix('refs/heads/')} rejected",
                                    ref=ref, new=new, reason=reason.splitlines()[0])
    if refused:
        print("", file=sys.stderr)
        for reason in refused:
            for line in ("gitops-sandbox branch policy: " + reason).splitlines():
                print(line, file=sys.stderr)
        print("", file=sys.stderr)
        return 1
    return 0


def _run_ok(*args: str) -> bool:
    # Inside pre-receive the pushed objects sit in a quarantine directory that only
    # the hook's own GIT_* variables point at, so this call keeps the environment.
    return subprocess.run(["git", *args], env=dict(os.environ),
                          capture_output=True).returncode == 0


if __name__ == "__main__":
    sys.exit(hook_main(sys.argv[1:]))
