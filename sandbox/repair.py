"""Start-up repair and damage reports: git and the database are compared, and what a
crash left half-done is finished; what cannot be repaired here is reported, one line
each with what to do.

Repaired on engine start (and, for main, whenever main moves):
- jobs left `running` by a dead engine are queued again (they are idempotent);
- a merge interrupted between its push and its record is completed or rolled back;
- every commit on hld.git's main (first parent) since the last generated one gets a
  generate job, oldest first;
- every open PR whose branch moved is updated, and every open PR head without a
  finished check gets a validate job;
- the branch of a merged pull request still at its merged head is deleted (when
  `delete_branch_on_merge` is on: the engine stopped between the merge and the deletion);
- a missing or non-executable pre-receive hook is installed again.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from . import gitserver
from .branches import sweep_merged_branches
from .gitutil import git, rev, short
from .mainline import missing_generations

if TYPE_CHECKING:
    from .events import EventBus
    from .pullrequests import PullRequests
    from .workspace import Workspace

_TRAILER_RE = re.compile(r"^HLD-Commit:\s*([0-9a-f]{40})\s*$", re.MULTILINE)


def generated_hld_commits(ws: Workspace) -> set[str]:
    """Every HLD commit that has a manifest commit on manifests.git's main (by trailer).
    Reads the whole history: for diagnostics and tests, never on the pipeline's path
    (that is `mainline`, which reads from the newest end)."""
    out = git("log", "--format=%B%x00", "refs/heads/main", git_dir=ws.manifests_git,
              check=False)
    return set(_TRAILER_RE.findall(out))


def enqueue_missing_generations(ws: Workspace) -> list[str]:
    from .pipelines import enqueue_once

    missing = missing_generations(ws)
    for sha in missing:
        enqueue_once(ws, "generate", sha=sha)
    return missing


def repair_on_start(ws: Workspace, bus: EventBus, prs: PullRequests) -> list[str]:
    """Run once by the engine, holding the lock (no other engine runs); returns what it did."""
    # Imported here: `status` reads damage() and sync_view() and must start fast.
    from .pipelines import CHECK_NAME, enqueue, pending_job

    did: list[str] = []
    store = ws.store
    with store.tx() as db:
        stale = db.execute("SELECT id, kind, owner FROM jobs WHERE status='running'").fetchall()
        db.execute("UPDATE jobs SET status='queued', owner=NULL, lease=NULL "
                   "WHERE status='running'")
    for row in stale:
        did.append(f"CI job #{row['id']} ({row['kind']}) was interrupted (engine "
                   f"{row['owner'] or '?'} died): running it again")
    for row in store.query("SELECT DISTINCT pr FROM merge_intents WHERE state='pending'"):
        pr = prs.settle_merge_intent(int(row["pr"]))
        did.append(f"#{row['pr']}: interrupted merge "
                   + ("completed: main has it" if pr else "rolled back: main never got it"))
    # Order matters for generate: manifests of an older HLD commit must never land on
    # top of a newer one's, so the queue is rebuilt oldest first.
    missing = missing_generations(ws)
    if missing:
        # Jobs for commits that have manifests stay: they only record what was pushed.
        marks = ",".join("?" * len(missing))
        with store.tx() as db:
            db.execute("UPDATE jobs SET status='cancelled', result='{\"ok\": true, "
                       "\"superseded\": \"start-up repair\"}' WHERE kind='generate' AND "
                       f"status='queued' AND json_extract(params, '$.sha') IN ({marks})",
                       missing)
        for sha in missing:
            enqueue(ws, "generate", sha=sha)
        did.append(f"{len(missing)} HLD commit(s) on main without manifests: generating "
                   + ", ".join(short(s) for s in missing))
    for pr in prs.list("open"):
        head = rev(ws.hld_git, f"refs/heads/{pr.head}")
        if head and head != pr.head_sha:
            prs.update_head(pr.id, head)
            pr = prs.get(pr.id)
        check = next((c for c in pr.checks if c.name == CHECK_NAME), None)
        if check is not None and check.status in ("success", "failure"):
            continue
        if not pending_job(ws, "validate", pr=pr.id, sha=pr.head_sha):
            enqueue(ws, "validate", pr=pr.id, sha=pr.head_sha)
            did.append(f"#{pr.id}: head {short(pr.head_sha)} had no finished check: "
                       "validating it")
    for branch in sweep_merged_branches(ws, bus):
        did.append(f"branch {branch} of a merged pull request was still there: deleted it")
    if hook_problem(ws) is not None:
        gitserver.install_hook(ws.hld_git, ws.root)
        did.append("hld.git's pre-receive hook was missing: installed it again")
    for line in did:
        bus.publish("engine.repaired", "engine", line)
    return did


def hook_problem(ws: Workspace) -> str | None:
    hook = ws.hld_git / "hooks" / "pre-receive"
    if not hook.is_file():
        return "missing"
    if not os.access(hook, os.X_OK):
        return "not executable"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def damage(ws: Workspace, engine_pid: int | None, running: bool = False) -> list[str]:
    """What is broken and not repaired by itself: one line each, with what to do.
    `running` says an engine runs in this process (it has no pid in engine.lock to us)."""
    lines: list[str] = []
    for name, repo in (("hld.git", ws.hld_git), ("manifests.git", ws.manifests_git)):
        ref = git("for-each-ref", "--format=%(objectname)", "refs/heads/main",
                  git_dir=repo, check=False).strip()
        if ref and rev(repo, ref) is None:
            lines.append(f"{name}: main points at a missing object {short(ref)}: every "
                         "reconcile fails; restore the repository from a backup or point "
                         f"main at a good commit (git --git-dir {repo} update-ref "
                         "refs/heads/main <sha>)")
    problem = hook_problem(ws)
    if problem:
        # The engine installs the hook when it starts, so a running one must be restarted.
        fix = ("restart the engine (stop it, then gitops-sandbox up), which installs it again"
               if engine_pid or running else
               "start the engine (gitops-sandbox up), which installs it again")
        lines.append(f"hld.git: the pre-receive hook is {problem}, so main is not protected: "
                     f"{fix}")
    lines.extend(_lock_damage(ws, engine_pid))
    return lines


def _lock_damage(ws: Workspace, engine_pid: int | None) -> list[str]:
    info = read_lock_info(ws)
    if engine_pid is None:
        return []
    if engine_pid > 0 and not _pid_alive(engine_pid):
        return [f"engine.lock is held but names pid {engine_pid}, which is not running: a "
                f"leftover process holds the lock; find it (fuser {ws.lock_path}) and stop it"]
    db = info.get("db")
    if db and ws.store.identity != db:
        return [f"state.db was deleted or replaced while the engine (pid {engine_pid}) runs: "
                "it and this command use different databases; stop the engine (Ctrl-C, or "
                f"kill {engine_pid}) and start it again"]
    return []


def read_lock_info(ws: Workspace) -> dict[str, tuple[int, int]]:
    """What the running engine wrote after its pid: the identity of its state.db."""
    try:
        lines = ws.lock_path.read_text().splitlines()
    except OSError:
        return {}
    for line in lines[1:]:
        key, _, value = line.partition("=")
        if key == "db" and value.count(":") == 1:
            dev, ino = value.split(":")
            if dev.isdigit() and ino.isdigit():
                return {"db": (int(dev), int(ino))}
    return {}


def sync_view(ws: Workspace, status: dict[str, Any]) -> dict[str, Any]:
    """The reconciler's saved status with Flux's names, and how far behind main it is:
    the cluster behind manifests main, or manifests main behind what hld main gives."""
    view = dict(status)
    applied, attempted = status.get("last_applied"), status.get("last_attempted")
    view["lastAppliedRevision"] = f"main@sha1:{applied}" if applied else ""
    view["lastAttemptedRevision"] = f"main@sha1:{attempted}" if attempted else ""
    view.setdefault("ready_status", "True" if status.get("ready") else "Unknown")
    view.setdefault("reason", "Progressing")
    behind: list[str] = []
    main = rev(ws.manifests_git, "refs/heads/main")
    if main and main != applied:
        count = git("rev-list", "--count", f"{applied}..{main}" if applied else main,
                    git_dir=ws.manifests_git, check=False).strip() or "?"
        why = ("reconciliation is suspended" if status.get("suspended") else
               "the last reconcile failed" if view["ready_status"] == "False" else
               "not reconciled yet")
        behind.append(f"the cluster runs main@{short(applied) or '-'}, manifests main is "
                      f"{count} commit(s) ahead at {short(main)}: {why}")
        if main != attempted and view["ready_status"] != "False" and not status.get(
                "suspended"):
            view["ready_status"], view["reason"] = "Unknown", "Progressing"
    missing = missing_generations(ws)
    if missing:
        failed = ws.store.one(
            "SELECT id FROM jobs WHERE kind='generate' AND status='failure' AND "
            "json_extract(params, '$.sha')=? ORDER BY id DESC LIMIT 1", missing[0])
        state = (f"its generate job #{failed['id']} failed (gitops-sandbox jobs "
                 f"{failed['id']})" if failed else "generate job pending")
        behind.append(f"manifests main is behind hld main: {len(missing)} HLD commit(s) "
                      f"without manifests, oldest {short(missing[0])}: {state}")
        if failed:
            view["ready_status"], view["reason"] = "False", "DependencyNotReady"
            view["ready"] = False
            view["message"] = f"manifest generation failed for HLD {short(missing[0])}"
    view["behind"] = behind
    return view
