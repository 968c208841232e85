"""The pull-request service: PRs, reviews and checks in SQLite, and the merge.

Rules, as a protected branch on a git host has them: a PR needs N approvals (default 1)
from someone other than its author, on its current head; every check on that head must
be green; a push to the branch dismisses earlier approvals. The merge writes a real
merge commit and pushes it through the git server with a one-time token.

Who: the author of a pull request is the authenticated user who pushed its head (the
server's hook records every push); nobody who pushed to the branch may approve it;
users are compared by id; the bots may only do their own jobs.

The merge is crash-safe: it records its intent (PR, merge commit, state) before the
push; a retry, or the engine's start-up repair, finds the intent and completes it (main
has the merge commit: the PR is marked merged) or rolls it back (main does not: a fresh
merge follows), so a PR is never merged twice. A lost race on main is retried a few
times, then reported as "main moved".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from . import faults, gitserver
from .branches import delete_merged_branch
from .events import EventBus
from .gitserver import remote
from .gitutil import GitError, git, is_ancestor, rev, short, with_trailers
from .safetext import body_problem, one_line, title_problem
from .users import User, UserError, Users, may_approve_rollback, may_merge, may_open, may_review
from .workspace import Workspace


class PullRequestError(Exception):
    """A PR operation that the rules refuse; the message says why and what to do."""


MERGE_ATTEMPTS = 3
# What git says when another push moved the branch between our read and our update.
_RACE_MARKERS = ("cannot lock ref", "non-fast-forward", "fetch first", "stale info",
                 "failed to update ref", "is at ")


@dataclass
class Check:
    name: str
    status: str  # pending | running | success | failure
    summary: str
    sha: str
    job: int | None


@dataclass
class PullRequest:
    id: int
    title: str
    body: str
    author: str
    head: str
    base: str
    head_sha: str
    base_sha: str
    state: str
    merge_sha: str | None
    created: float
    updated: float
    kind: str
    author_id: int | None = None
    approvals: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def checks_state(self) -> str:
        if not self.checks:
            return "pending"
        states = {c.status for c in self.checks}
        if "failure" in states:
            return "failure"
        if states == {"success"}:
            return "success"
        return "pending"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "author": self.author, "head": self.head,
            "base": self.base, "head_sha": self.head_sha, "state": self.state,
            "merge_sha": self.merge_sha, "kind": self.kind, "approvals": self.approvals,
            "checks": self.checks_state, "created": self.created, "updated": self.updated,
            "check_runs": [c.__dict__ for c in self.checks], "body": self.body,
        }


class PullRequests:
    def __init__(self, ws: Workspace, bus: EventBus) -> None:
        self.ws = ws
        self.store = ws.store
        self.bus = bus
        self.users = Users(ws.store)

    def _user(self, who: str | User) -> User:
        try:
            return self.users.get(who)
        except UserError as exc:
            raise PullRequestError(str(exc)) from None

    # -- reading -------------------------------------------------------------
    def get(self, pr_id: int) -> PullRequest:
        row = self.store.one("SELECT * FROM prs WHERE id=?", pr_id)
        if row is None:
            raise PullRequestError(f"no pull request #{pr_id}; see 'gitops-sandbox pr list'")
        pr = PullRequest(**{k: row[k] for k in row.keys()})
        pr.approvals = [r["reviewer"] for r in self.store.query(
            "SELECT reviewer FROM reviews WHERE pr=? AND sha=? AND state='approved' ORDER BY id",
            pr_id, pr.head_sha)]
        # The latest run of each check on the current head.
        pr.checks = [Check(r["name"], r["status"], r["summary"], r["sha"], r["job"])
                     for r in self.store.query(
            "SELECT * FROM checks WHERE id IN (SELECT MAX(id) FROM checks WHERE pr=? AND sha=? "
            "GROUP BY name) ORDER BY name", pr_id, pr.head_sha)]
        return pr

    def list(self, state: str | None = None) -> list[PullRequest]:
        rows = (self.store.query("SELECT id FROM prs WHERE state=? ORDER BY id", state) if state
                else self.store.query("SELECT id FROM prs ORDER BY id"))
        return [self.get(r["id"]) for r in rows]

    def open_for_branch(self, branch: str) -> list[PullRequest]:
        rows = self.store.query("SELECT id FROM prs WHERE head=? AND state='open'", branch)
        return [self.get(r["id"]) for r in rows]

    # -- changing ------------------------------------------------------------
    def open(self, head: str, title: str, author: str | User, body: str = "",
             base: str = "main", kind: str = "change") -> PullRequest:
        """Open a PR as `author` (who opens it); the PR's author is who pushed its head."""
        opener = self._user(author)
        refusal = may_open(opener, kind)
        if refusal:
            raise PullRequestError(refusal)
        hld = self.ws.hld_git
        head = head.removeprefix("refs/heads/")
        if head == base:
            raise PullRequestError(f"a pull request needs a branch other than '{base}'")
        head_sha = rev(hld, f"refs/heads/{head}")
        if head_sha is None:
            raise PullRequestError(
                f"branch '{head}' is not in the HLD repository: push it first "
                f"(git push origin HEAD:{head})")
        base_sha = rev(hld, f"refs/heads/{base}")
        if base_sha is None:
            raise PullRequestError(f"base branch '{base}' does not exist")
        if self.open_for_branch(head):
            raise PullRequestError(f"branch '{head}' already has an open pull request")
        if head_sha == base_sha or git("rev-list", "--count", f"{base_sha}..{head_sha}",
                                       git_dir=hld).strip() == "0":
            raise PullRequestError(f"branch '{head}' has no commits that are not on '{base}'")
        problem = title_problem(title) or body_problem(body)
        if problem:
            raise PullRequestError(problem)
        pusher = self.users.pusher_of("hld", f"refs/heads/{head}", head_sha)
        if pusher is None:
            raise PullRequestError(
                f"branch '{head}' at {short(head_sha)} was not pushed through the git server, "
                f"so its author is unknown: push it again ({remote.repo_url(self.ws.root, 'hld')})")
        title = title.strip() or one_line(self._subject(head_sha))
        now = time.time()
        with self.store.tx() as db:
            cur = db.execute(
                "INSERT INTO prs(title, body, author, head, base, head_sha, base_sha, state, "
                "created, updated, kind, author_id) VALUES(?,?,?,?,?,?,?,'open',?,?,?,?)",
                (title, body, pusher.name, head, base, head_sha, base_sha, now, now, kind,
                 pusher.id))
            pr_id = int(cur.lastrowid or 0)
        self.bus.publish("pr.opened", "pullrequests", f"#{pr_id} opened: {title}",
                         pr=pr_id, head=head, sha=head_sha, author=pusher.name,
                         opened_by=opener.name, kind=kind)
        return self.get(pr_id)

    def _subject(self, sha: str) -> str:
        return git("log", "-1", "--format=%s", sha, git_dir=self.ws.hld_git).strip()

    def update_head(self, pr_id: int, new_sha: str) -> None:
        """A push to the PR's branch: new head, earlier approvals no longer count."""
        pr = self.get(pr_id)
        if pr.head_sha == new_sha:
            return
        had = pr.approvals
        with self.store.tx() as db:
            db.execute("UPDATE prs SET head_sha=?, updated=? WHERE id=?",
                       (new_sha, time.time(), pr_id))
        self.bus.publish("pr.updated", "pullrequests",
                         f"#{pr_id} updated to {short(new_sha)}", pr=pr_id, sha=new_sha)
        if had:
            self.bus.publish("pr.approvals_dismissed", "pullrequests",
                             f"#{pr_id}: approvals by {', '.join(had)} dismissed by a new push",
                             pr=pr_id, reviewers=had)

    def pushers(self, pr: PullRequest) -> set[int]:
        """Everyone who pushed a commit of this PR to its branch, and its author."""
        commits = set(git("rev-list", f"{pr.base_sha}..{pr.head_sha}",
                          git_dir=self.ws.hld_git).split())
        found = self.users.pushers("hld", f"refs/heads/{pr.head}", commits)
        return found | ({pr.author_id} if pr.author_id is not None else set())

    def approve(self, pr_id: int, reviewer: str | User) -> PullRequest:
        pr = self.get(pr_id)
        user = self._user(reviewer)
        if pr.state != "open":
            raise PullRequestError(f"#{pr_id} is {pr.state}; only open pull requests take reviews")
        bot_rollback = may_approve_rollback(user, pr.kind, pr.author, pr.body,
                                            self.ws.settings.auto_rollback)
        refusal = None if bot_rollback else may_review(user)
        if refusal:
            raise PullRequestError(refusal)
        if not bot_rollback and user.id in self.pushers(pr):
            raise PullRequestError(
                f"{user.name} pushed to '{pr.head}' (#{pr_id}) and cannot approve it: another "
                "person must review it (act as another user: --as NAME, or 'u' in the TUI)")
        approved_ids = {r["reviewer_id"] for r in self.store.query(
            "SELECT reviewer_id FROM reviews WHERE pr=? AND sha=? AND state='approved'",
            pr_id, pr.head_sha)}
        if user.id in approved_ids:
            return pr
        reviewer = user.name
        with self.store.tx() as db:
            db.execute("INSERT INTO reviews(pr, reviewer, sha, state, ts, reviewer_id) "
                       "VALUES(?,?,?,?,?,?)",
                       (pr_id, reviewer, pr.head_sha, "approved", time.time(), user.id))
        if bot_rollback:
            # The policy's one exception for a bot is on the record, with its reason.
            self.bus.publish("audit.bot_approval", "pullrequests",
                             f"#{pr_id} approved by {reviewer} under auto_rollback: merge, as "
                             f"the automatic rollback it opened: {pr.body.splitlines()[0]}",
                             pr=pr_id, reviewer=reviewer, sha=pr.head_sha)
        self.bus.publish("pr.approved", "pullrequests", f"#{pr_id} approved by {reviewer}",
                         pr=pr_id, reviewer=reviewer, sha=pr.head_sha)
        return self.get(pr_id)

    def close(self, pr_id: int, by: str | User) -> PullRequest:
        by = self._user(by).name
        pr = self.get(pr_id)
        if pr.state != "open":
            raise PullRequestError(f"#{pr_id} is already {pr.state}")
        with self.store.tx() as db:
            db.execute("UPDATE prs SET state='closed', updated=? WHERE id=?", (time.time(), pr_id))
        self.bus.publish("pr.closed", "pullrequests", f"#{pr_id} closed by {by}", pr=pr_id)
        return self.get(pr_id)

    def merge_blockers(self, pr: PullRequest) -> list[str]:
        reasons = []
        if pr.state != "open":
            reasons.append(f"#{pr.id} is {pr.state}")
            return reasons
        need = self.ws.settings.required_approvals
        if len(pr.approvals) < need:
            reasons.append(f"needs {need} approval(s) on {short(pr.head_sha)}, has "
                           f"{len(pr.approvals)}: gitops-sandbox pr approve {pr.id} --as REVIEWER")
        state = pr.checks_state
        if state == "failure":
            failed = ", ".join(c.name for c in pr.checks if c.status == "failure")
            reasons.append(f"checks failed ({failed}): see 'gitops-sandbox pr show {pr.id}', "
                           "fix the branch and push again")
        elif state != "success":
            reasons.append("checks have not finished yet: wait for them "
                           f"(gitops-sandbox pr show {pr.id}); is the engine running?")
        return reasons

    def merge(self, pr_id: int, by: str | User) -> PullRequest:
        user = self._user(by)
        refusal = may_merge(user, self.get(pr_id).kind)
        if refusal:
            raise PullRequestError(refusal)
        done = self.settle_merge_intent(pr_id)
        if done is not None:
            return done
        for attempt in range(1, MERGE_ATTEMPTS + 1):
            try:
                return self._merge_once(pr_id, user)
            except _LostRace as race:
                if attempt == MERGE_ATTEMPTS:
                    raise PullRequestError(
                        f"main moved while merging #{pr_id} ({MERGE_ATTEMPTS} tries: another "
                        f"merge landed first): nothing was merged; run the merge again "
                        f"(gitops-sandbox pr merge {pr_id})") from race
        raise AssertionError("unreachable")

    def settle_merge_intent(self, pr_id: int) -> PullRequest | None:
        """Finish what an interrupted merge of this PR started. Returns the merged PR when
        main already has the merge commit; otherwise rolls the intent back (None)."""
        row = self.store.one("SELECT * FROM merge_intents WHERE pr=? AND state='pending' "
                             "ORDER BY id DESC LIMIT 1", pr_id)
        if row is None:
            return None
        hld = self.ws.hld_git
        sha = str(row["merge_sha"])
        if not _is_ancestor(hld, sha, str(row["base"])):
            with self.store.tx() as db:
                db.execute("UPDATE merge_intents SET state='rolled-back' WHERE id=?",
                           (row["id"],))
            return None
        pr = self.get(pr_id)
        self._record_merge(pr, sha, str(row["by"]), int(row["id"]), recovered=True)
        return self.get(pr_id)

    def _merge_once(self, pr_id: int, user: User) -> PullRequest:
        pr = self.get(pr_id)
        by = user.name
        blockers = self.merge_blockers(pr)
        if blockers:
            raise PullRequestError(f"cannot merge #{pr_id}: " + "; ".join(blockers))
        hld = self.ws.hld_git
        base_sha = rev(hld, f"refs/heads/{pr.base}")
        assert base_sha is not None
        try:
            tree = git("merge-tree", "--write-tree", base_sha, pr.head_sha,
                       git_dir=hld).split()[0]
        except GitError as exc:
            raise PullRequestError(
                f"#{pr_id} conflicts with {pr.base}: merge {pr.base} into '{pr.head}', "
                "resolve the conflicts and push the branch again") from exc
        message = with_trailers(f"Merge pull request #{pr_id} from {pr.head}\n\n"
                                f"{one_line(pr.title)}\n", [("Pull-Request", f"#{pr_id}")])
        merge_sha = git("commit-tree", tree, "-p", base_sha, "-p", pr.head_sha,
                        git_dir=hld, input=message, identity=user.identity).strip()
        remote.require_server(self.ws.root)
        with self.store.tx() as db:
            intent = int(db.execute(
                "INSERT INTO merge_intents(pr, merge_sha, base, state, by, created) "
                "VALUES(?,?,?,'pending',?,?)",
                (pr_id, merge_sha, pr.base, by, time.time())).lastrowid or 0)
        faults.point("merge.after_intent")
        token = gitserver.issue_merge_token(self.store, pr_id, merge_sha, user.id)
        try:
            # The old value makes the update a compare-and-swap: a merge that landed in
            # between is never overwritten, it is a lost race.
            git("push", "--quiet", "-o", f"{gitserver.TOKEN_OPTION}={token}",
                f"--force-with-lease=refs/heads/{pr.base}:{base_sha}",
                remote.repo_url(self.ws.root, "hld"), f"{merge_sha}:refs/heads/{pr.base}",
                git_dir=hld, env_extra=remote.auth_env(self.ws.root, user))
        except GitError as exc:
            with self.store.tx() as db:
                db.execute("UPDATE merge_intents SET state='rolled-back' WHERE id=?", (intent,))
            if any(m in exc.stderr for m in _RACE_MARKERS) or rev(
                    hld, f"refs/heads/{pr.base}") != base_sha:
                raise _LostRace(exc.stderr) from exc
            raise PullRequestError(f"the merge of #{pr_id} was refused: {exc.stderr}") from exc
        faults.point("merge.after_push")
        self._record_merge(pr, merge_sha, by, intent)
        return self.get(pr_id)

    def _record_merge(self, pr: PullRequest, merge_sha: str, by: str, intent: int,
                      recovered: bool = False) -> None:
        with self.store.tx() as db:
            db.execute("UPDATE prs SET state='merged', merge_sha=?, updated=? WHERE id=?",
                       (merge_sha, time.time(), pr.id))
            db.execute("UPDATE merge_intents SET state='done' WHERE id=?", (intent,))
        self.bus.publish("pr.merged", "pullrequests",
                         f"#{pr.id} merged into {pr.base} as {short(merge_sha)} by {by}"
                         + (" (completed after an interrupted merge)" if recovered else ""),
                         pr=pr.id, sha=merge_sha, head_sha=pr.head_sha, by=by)
        delete_merged_branch(self.ws, self.bus, pr.id, pr.head, pr.head_sha)

    # -- checks (written by the CI runner) -----------------------------------
    def set_check(self, pr_id: int, sha: str, name: str, status: str, summary: str = "",
                  job: int | None = None) -> None:
        with self.store.tx() as db:
            db.execute("INSERT INTO checks(pr, sha, name, status, summary, job, ts) "
                       "VALUES(?,?,?,?,?,?,?)", (pr_id, sha, name, status, summary, job,
                                                 time.time()))


class _LostRace(Exception):
    """Another push moved the base branch between our read and our update."""


def _is_ancestor(git_dir: object, sha: str, branch: str) -> bool:
    return is_ancestor(str(git_dir), sha, f"refs/heads/{branch}")
