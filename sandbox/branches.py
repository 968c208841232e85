"""Head branches are deleted once their pull request is merged, as git hosts offer
(GitHub's "Automatically delete head branches", GitLab's "Delete source branch"): a
setting, `delete_branch_on_merge`, on by default.

The host deletes the branch itself, on the server's side, as it writes any ref; only a
branch still at the merged head goes, so a commit pushed after the merge is never lost.
The pull request keeps its head commit (reachable from main through the merge), so
`pr show`, its diff and a revert of the merge work as before; the event says how to
bring the branch back.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from .gitserver import PROTECTED
from .gitutil import clean_env, refs, short

if TYPE_CHECKING:
    from .events import EventBus
    from .store import Store
    from .workspace import Workspace


def delete_merged_branch(ws: Workspace, bus: EventBus, pr_id: int, head: str,
                         head_sha: str) -> bool:
    """Delete `head` if it still points at the merged `head_sha` and no open pull request
    uses it; True when it was deleted."""
    if not ws.settings.delete_branch_on_merge:
        return False
    ref = f"refs/heads/{head}"
    if ref == PROTECTED:
        return False
    if ws.store.one("SELECT 1 FROM prs WHERE head=? AND state='open'", head):
        return False
    # The old value makes it a compare-and-swap: a push that moved the branch wins.
    done = subprocess.run(["git", "--git-dir", str(ws.hld_git), "update-ref", "-d", ref,
                           head_sha], env=clean_env(), capture_output=True).returncode == 0
    if done:
        bus.publish("pr.branch_deleted", "pullrequests",
                    f"#{pr_id}: branch {head} deleted after the merge (bring it back with "
                    f"git push origin {short(head_sha)}:refs/heads/{head})",
                    pr=pr_id, branch=head, sha=head_sha)
    return done


def sweep_merged_branches(ws: Workspace, bus: EventBus) -> list[str]:
    """Branches of merged pull requests still at their merged head (an engine stopped
    between a merge and its branch's deletion); run by the start-up repair."""
    if not ws.settings.delete_branch_on_merge:
        return []
    deleted: list[str] = []
    for ref, sha in refs(ws.hld_git, "refs/heads/").items():
        head = ref.removeprefix("refs/heads/")
        row = ws.store.one("SELECT id FROM prs WHERE head=? AND head_sha=? AND "
                           "state='merged' ORDER BY id DESC LIMIT 1", head, sha)
        if row is not None and delete_merged_branch(ws, bus, int(row["id"]), head, sha):
            deleted.append(head)
    return deleted


def merge_of_pr(store: Store, ref: str) -> str | None:
    """The merge commit of a merged pull request named `#N`, `N` or by its branch (which
    may be deleted by now): what `revert` takes besides a commit."""
    number = ref.removeprefix("#")
    row = (store.one("SELECT merge_sha FROM prs WHERE id=? AND state='merged'", int(number))
           if number.isdigit() else
           store.one("SELECT merge_sha FROM prs WHERE head=? AND state='merged' "
                     "ORDER BY id DESC LIMIT 1", ref))
    return str(row["merge_sha"]) if row and row["merge_sha"] else None
