"""Which HLD commits on main have their manifests: answered from the newest end of both
histories, so the cost stays the same after ten merges or ten thousand.

Generation runs in main's order (one job at a time, the start-up repair re-queues
oldest first), so manifests.git's main reads, newest first, as HLD commits going back
along hld.git's main. A question about one HLD commit therefore stops at the first
manifest commit whose `HLD-Commit` is that commit or one before it, and "what is not
generated yet" is the part of hld.git's main after the newest generated commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .gitutil import git, is_ancestor, rev

if TYPE_CHECKING:
    from .workspace import Workspace

MAINLINE_LIMIT = 500  # how far back along main a walk goes before it gives up
FIRST_PAGE, MAX_PAGE = 2, 64  # commits per `git log`; the usual answer is the first
_FORMAT = "%H %(trailers:key=HLD-Commit,valueonly,separator=%x2C)"


def generated(manifests_git: Path, limit: int = MAINLINE_LIMIT) -> Iterator[tuple[str, str]]:
    """(manifest commit, its HLD-Commit or "") along manifests main, newest first, read in
    pages that double from a small first one: the usual answer is the newest commit."""
    start, seen, page = "refs/heads/main", 0, FIRST_PAGE
    while seen < limit:
        out = git("log", "--first-parent", f"--max-count={min(page, limit - seen)}",
                  f"--format={_FORMAT}", start, git_dir=manifests_git, check=False)
        lines = out.splitlines()
        for line in lines:
            sha, _, hld_sha = line.partition(" ")
            yield sha, hld_sha.strip().split(",")[0]
        seen += len(lines)
        if len(lines) < page:
            return
        start, page = f"{lines[-1].split()[0]}^1", min(page * 2, MAX_PAGE)


def manifest_commit_for(manifests_git: Path, hld_sha: str,
                        hld_git: Path | None = None) -> str | None:
    """The manifest commit on main generated from this HLD commit, found by its trailer
    without reading main's whole history: the walk stops at the first manifest commit of
    an HLD commit that came before this one."""
    hld_git = hld_git or manifests_git.parent / "hld.git"
    for sha, source in generated(manifests_git):
        if source == hld_sha:
            return sha
        if source and is_ancestor(hld_git, source, hld_sha):
            return None  # generated in order: this one's would be newer than `sha`
    return None


def newest_generated(manifests_git: Path) -> str | None:
    """The HLD commit of the newest manifest commit (None before the first generation)."""
    return next((source for _sha, source in generated(manifests_git) if source), None)


def missing_generations(ws: Workspace) -> list[str]:
    """HLD main commits after the last generated one that have no manifests, oldest first."""
    args = ["rev-list", "--first-parent", f"--max-count={MAINLINE_LIMIT}", "refs/heads/main"]
    newest = newest_generated(ws.manifests_git)
    if newest and rev(ws.hld_git, newest):
        args.append(f"^{newest}")
    out = git(*args, git_dir=ws.hld_git, check=False)
    missing: list[str] = []
    for sha in out.split():
        if sha == newest:
            break
        # A change that gives the same manifests makes no commit; its record is the trace.
        if ws.store.one("SELECT 1 FROM deployments WHERE hld_sha=? AND manifest_sha IS NOT "
                        "NULL", sha):
            break
        missing.append(sha)
    return list(reversed(missing))
