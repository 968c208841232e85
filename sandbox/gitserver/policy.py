"""The rules a push must meet, one function per rule, each returning why it refuses (or
None). The hook applies them; the reconciler re-checks the manifest rules before it
applies anything.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..gitutil import ZERO, clean_env, trailers
from ..users import User, may_push
from . import PROTECTED

PROTECTED_NAMES = (PROTECTED.removeprefix("refs/heads/"),)
AMBIGUOUS_PREFIXES = ("refs/", "heads/", "tags/", "remotes/", "notes/")

DIRECT_PUSH = (
    "direct pushes to the protected branch '{branch}' are not allowed.\n"
    "Push your change to a branch and open a pull request instead:\n"
    "  git push origin HEAD:my-change\n"
    "  gitops-sandbox pr open my-change --title 'What it changes'\n"
    "It reaches main when it is approved, its checks are green and it is merged.")


def ref_name_problem(ref: str, existing: dict[str, str]) -> str | None:
    """Names that make `main` (or any name) ambiguous to git are refused: git would then
    say `matches more than one` and every later job that names the branch would fail."""
    if not ref.startswith(("refs/heads/", "refs/tags/")):
        return (f"'{ref}' is outside refs/heads/ and refs/tags/: only branches and tags "
                "can be pushed here")
    space, name = ("heads", ref[len("refs/heads/"):]) if ref.startswith("refs/heads/") else (
        "tags", ref[len("refs/tags/"):])
    kind = "branch" if space == "heads" else "tag"
    if name.startswith(AMBIGUOUS_PREFIXES) or name in ("HEAD", "FETCH_HEAD", "ORIG_HEAD"):
        return (f"a {kind} named '{name}' would be confused with another ref by git "
                "(names may not start with refs/, heads/, tags/, remotes/ or be HEAD); "
                "choose another name")
    for protected in PROTECTED_NAMES:
        if space == "tags" and name == protected:
            return (f"a tag named '{name}' would make the protected branch '{protected}' "
                    "ambiguous; choose another tag name")
        if name != protected and name.casefold() == protected.casefold():
            return (f"'{name}' differs from the protected branch '{protected}' only by case; "
                    "choose another name")
    other = f"refs/{'tags' if space == 'heads' else 'heads'}/{name}"
    if other in existing:
        what = "tag" if space == "heads" else "branch"
        return (f"a {what} named '{name}' exists already; a {kind} of the same name would "
                "make it ambiguous")
    return None


def protected_problem(old: str, new: str, ref: str, is_ancestor: bool,
                      token_ok: bool) -> str | None:
    """The protected branch: never deleted, never rewritten, moved only by a merge."""
    branch = ref.removeprefix("refs/heads/")
    if new == ZERO:
        return f"deleting the protected branch '{branch}' is not allowed."
    if old != ZERO and not is_ancestor:
        return (f"force pushes to the protected branch '{branch}' are not allowed: history "
                f"on '{branch}' is never rewritten. To undo a change, revert it: "
                "gitops-sandbox revert")
    if not token_ok:
        return DIRECT_PUSH.format(branch=branch)
    return None


def hld_commit_problem(hld_git: Path, message: str, sha: str) -> str | None:
    """A manifest commit must name, in its `HLD-Commit` trailer, a commit on hld.git's
    main: that is what ties every manifest to a reviewed change."""
    hld_sha = trailers(message).get("HLD-Commit", "")
    if not hld_sha:
        return f"manifest commit {sha[:7]} has no HLD-Commit trailer"
    if len(hld_sha) != 40 or not all(c in "0123456789abcdef" for c in hld_sha):
        return f"manifest commit {sha[:7]}: HLD-Commit {hld_sha!r} is not a full commit id"
    if not is_ancestor(hld_git, hld_sha, PROTECTED):
        return (f"manifest commit {sha[:7]}: HLD-Commit {hld_sha[:7]} is not a commit on "
                "hld.git's main")
    return None


def is_ancestor(git_dir: Path, sha: str, ref: str, keep_env: bool = False) -> bool:
    """`merge-base --is-ancestor`; keep_env inside a hook, where the pushed objects sit in
    a quarantine only the hook's own GIT_* variables point at."""
    env = dict(os.environ) if keep_env else clean_env()
    return subprocess.run(["git", "--git-dir", str(git_dir), "merge-base", "--is-ancestor",
                           sha, ref], env=env, capture_output=True).returncode == 0


def manifests_problem(user: User, old: str, new: str, ref: str,
                      is_ancestor: bool) -> str | None:
    """manifests.git: only the generation job's identity, only main, only forward."""
    refusal = may_push(user, "manifests", ref)
    if refusal:
        return refusal
    if ref != PROTECTED:
        return (f"manifests.git has one branch, main; '{ref}' is refused (the reconciler "
                "applies main only)")
    if new == ZERO:
        return "deleting manifests.git's main is not allowed."
    if old != ZERO and not is_ancestor:
        return ("manifests.git's main only moves forward: a force push is refused; the "
                "generation job commits on top of it")
    return None
