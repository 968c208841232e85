"""The facade: every operation the TUI, the CLI and the scenario runner need, on one
object. Callers never run git or touch the engine's files themselves.

A `Sandbox` works in two modes: it owns the engine (the TUI with no engine running,
`gitops-sandbox up`, tests) or it is a client of an engine in another process. In both,
changes go through git and SQLite; only the live cluster differs (in-process objects
versus the snapshot the engine keeps in SQLite).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clock import Clock
from .clusterfollow import ClusterChanges, ClusterFollower, object_key
from .countdowns import grouped as grouped_waits
from .deployments import get_deployment, list_deployments
from .engineproc import EngineProcess
from .events import Event, EventBus, last_event_id, read_events
from .facade_cluster import ClusterView
from .facade_hld import HldEdits
from .facade_metrics import Monitoring
from .facade_users import USER_ENV_VAR, Identities
from .facade_waits import SandboxError, Waiting
from .gitserver import remote
from .gitutil import git, refs, rev
from .pullrequests import PullRequest, PullRequestError, PullRequests
from .registry import Image, RegistryError
from .safetext import shown
from .users import Users, upgrade_workspace
from .workspace import EngineLock, Settings, Workspace, default_workspace, init_workspace

# The command line answers `status` in a fraction of a second: the engine, the HLD
# tooling (YAML, schemas, yamllint) and the CI runner are imported by the methods that
# use them, never here.
if TYPE_CHECKING:
    from .engine import Engine

# `shown` is here for the TUI: user-written text is escaped the same way on every screen.
# The follower's and child engine's types, and how countdowns are grouped for people,
# are here for the TUI too.
__all__ = ["Sandbox", "SandboxError", "PullRequestError", "shown", "USER_ENV_VAR",
           "ClusterChanges", "ClusterFollower", "EngineProcess", "object_key",
           "grouped_waits"]


class Sandbox(Identities, ClusterView, Waiting, Monitoring, HldEdits):
    def __init__(self, workspace: Path | str | None = None, user: str | None = None) -> None:
        self.ws = Workspace(Path(workspace) if workspace else default_workspace())
        self.bus = EventBus(self.ws.store)
        self.prs = PullRequests(self.ws, self.bus)
        self.users = Users(self.ws.store)
        upgrade_workspace(self.ws.root, self.ws.store)
        self.engine: Engine | None = None
        # Who this CLI or TUI acts as: --as, else $GITOPS_SANDBOX_USER, else the workspace's.
        if user is None:
            user = os.environ.get(USER_ENV_VAR) or self.ws.configured_user
        self.user = self._user(user)

    @classmethod
    def init(cls, workspace: Path | str | None = None, force: bool = False,
             settings: Settings | None = None) -> Sandbox:
        init_workspace(Path(workspace) if workspace else default_workspace(), force=force,
                       settings=settings)
        return cls(workspace)

    @property
    def root(self) -> Path:
        return self.ws.root

    @property
    def settings(self) -> Settings:
        return self.ws.settings

    def update_setting(self, key: str, value: str) -> None:
        """Change one workspace setting, checked against its type and allowed values."""
        try:
            self.ws.settings = self.ws.settings.with_value(key, value)
        except ValueError as exc:
            raise SandboxError(str(exc)) from exc
        self.ws.save_settings()

    # -- engine --------------------------------------------------------------
    def engine_pid(self) -> int | None:
        """The pid of an engine running in another process, if any."""
        if self.engine is not None:
            return None
        return EngineLock(self.ws.lock_path).held_elsewhere()

    def engine_running(self) -> bool:
        return self.engine is not None or self.engine_pid() is not None

    def start_engine(self, clock: Clock | None = None) -> Engine:
        if self.engine is None:
            from .engine import Engine

            self.engine = Engine(self.ws, clock=clock).start()
        return self.engine

    def spawn_engine(self, timeout: float = 60.0) -> EngineProcess:
        """Start the engine in a child process (`gitops-sandbox up`), for a caller that
        must not share its interpreter lock with it (the TUI); the caller stops it."""
        return EngineProcess.spawn(self.ws, timeout)

    def stop_engine(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def close(self) -> None:
        self.stop_engine()

    # -- the HLD -------------------------------------------------------------
    def branches(self) -> dict[str, str]:
        return {r.removeprefix("refs/heads/"): sha
                for r, sha in refs(self.ws.hld_git, "refs/heads/").items()}

    # -- pull requests -------------------------------------------------------
    def open_pr(self, head: str, title: str = "", body: str = "",
                author: str | None = None) -> PullRequest:
        from .pipelines import enqueue

        pr = self.prs.open(head, title, author=self._user(author), body=body)
        enqueue(self.ws, "validate", pr=pr.id, sha=pr.head_sha)
        return pr

    def list_prs(self, state: str | None = None) -> list[PullRequest]:
        return self.prs.list(state)

    def get_pr(self, pr_id: int) -> PullRequest:
        return self.prs.get(pr_id)

    def approve_pr(self, pr_id: int, reviewer: str | None = None) -> PullRequest:
        return self.prs.approve(pr_id, self._user(reviewer))

    def merge_pr(self, pr_id: int, by: str | None = None) -> PullRequest:
        pr = self.prs.merge(pr_id, self._user(by))
        self.ws.poke()
        return pr

    def close_pr(self, pr_id: int, by: str | None = None) -> PullRequest:
        return self.prs.close(pr_id, self._user(by))

    def pr_diff(self, pr_id: int) -> dict[str, str]:
        from .pipelines import CHECK_NAME, job_row

        pr = self.prs.get(pr_id)
        base = pr.merge_sha + "^1" if pr.merge_sha else f"refs/heads/{pr.base}"
        hld_diff = git("diff", f"{base}...{pr.head_sha}", git_dir=self.ws.hld_git, check=False)
        check = next((c for c in pr.checks if c.name == CHECK_NAME), None)
        manifests = "(the validation check has not run yet)"
        log = ""
        if check and check.job:
            job = job_row(self.ws, check.job)
            if job:
                manifests = job["result"].get("diff") or manifests
                log = job["log"]
            else:
                manifests = (f"(the check's job #{check.job} and its log were pruned: see the "
                             "job_log_keep and job_log_days settings)")
        return {"hld": hld_diff, "manifests": manifests, "log": log}

    # -- registry and releases ----------------------------------------------
    def push_image(self, repository: str, tag: str, profile: str = "default",
                   force: bool = False, regress_after: float | None = None) -> Image:
        """Push a tag; one that exists already is refused unless ``force`` moves it.
        ``regress_after`` delays a late-* profile's regression (seconds after ready)."""
        before = self.ws.registry.get(repository, tag) if force else None
        try:
            image = self.ws.registry.push(repository, tag, profile, overwrite=force,
                                          regress_after=regress_after)
        except RegistryError as exc:
            raise SandboxError(str(exc)) from exc
        moved = f"; moved from profile {before.profile.name}" if before else ""
        self.bus.publish("image.pushed", "registry",
                         f"{image.ref} pushed (profile {image.profile.name}{moved})",
                         repository=repository, tag=tag, profile=image.profile.name)
        self.ws.poke()
        return image

    def images(self) -> list[Image]:
        return self.ws.registry.images()

    # -- traces, jobs, status -----------------------------------------------
    def deployments(self, limit: int = 20) -> list[dict[str, Any]]:
        return list_deployments(self.ws.store, limit)

    def verdict(self) -> dict[str, Any] | None:
        """The latest change's verdict by its SLOs (analysis.py), beside its health."""
        row = self.ws.store.one("SELECT hld_sha, verdict, verdict_reason FROM deployments "
                                "WHERE verdict IS NOT NULL ORDER BY id DESC LIMIT 1")
        return ({"hld_sha": row["hld_sha"], "verdict": row["verdict"],
                 "reason": row["verdict_reason"]} if row else None)

    def deployment(self, hld_sha: str) -> dict[str, Any] | None:
        return get_deployment(self.ws.store, hld_sha)

    def metric_samples(self, target: str | None = None, since: float = 300.0,
                       pods: bool = False) -> list[dict[str, Any]]:
        """Metrics over time (sandbox/metrics.py): MetricsError for an unknown target."""
        from .metrics import query

        return query(self.ws.store, target, since, pods)

    def job(self, job_id: int) -> dict[str, Any]:
        from .pipelines import job_row

        job = job_row(self.ws, job_id)
        if job is None:
            raise SandboxError(f"no CI job #{job_id}; see 'gitops-sandbox jobs'")
        return job

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        from .pipelines import job_row

        rows = self.ws.store.query("SELECT id FROM jobs ORDER BY id DESC LIMIT ?", limit)
        return [j for j in (job_row(self.ws, r["id"]) for r in rows) if j]

    def waits(self) -> list[dict[str, Any]]:
        """What the pipeline waits for and how long is left, soonest first: dicts of
        what, target, remaining_sim_s and remaining_wall_s (wall seconds at the current
        clock speed). A rollout's progressDeadlineSeconds, Flux's health check timeout,
        the next resync, the SLO analysis's next check (sandbox/countdowns.py)."""
        from .countdowns import remaining

        if self.engine is not None:
            return remaining(self.engine.countdowns.current(), time.time(),
                             self.engine.clock.now())
        if not self.engine_running():
            return []  # nothing counts down while no engine runs
        snap = self.ws.store.get_snapshot("waits")
        return remaining(snap[1] if snap else None, time.time())

    def status(self) -> dict[str, Any]:
        hld_main = rev(self.ws.hld_git, "refs/heads/main")
        man_main = rev(self.ws.manifests_git, "refs/heads/main")
        sync_tag = rev(self.ws.manifests_git, "refs/tags/flux-sync")
        queued = self.ws.store.one(
            "SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued','running')")
        health = self.health()
        return {
            "workspace": str(self.ws.root),
            "user": self.user.to_dict(),
            "git_server": {"url": self.git_server_url(),
                           "answering": self.engine_running() or remote.answering(self.ws.root)},
            "engine": {"running": self.engine_running(),
                       "pid": self.engine_pid() if self.engine is None else "this process"},
            "hld": {"main": hld_main},
            "manifests": {"main": man_main, "flux_sync": sync_tag},
            "ci": {"pending_jobs": int(queued["n"]) if queued else 0},
            "pull_requests": [p.to_dict() for p in self.prs.list("open")],
            "sync": self.sync_status(),
            "health": {"app": health.get("app", "Unknown"),
                       "objects": health.get("objects", {}), "verdict": self.verdict()},
            "deployments": self.deployments(5),
            "damage": self.damage(),
            "waits": self.waits(),
            "images": [{"image": i.ref, "profile": i.profile.name} for i in self.images()],
        }

    # -- events --------------------------------------------------------------
    def events(self, after: int = 0, limit: int = 500,
               kinds: tuple[str, ...] | None = None) -> list[Event]:
        return read_events(self.ws.store, after, limit, kinds)

    def last_event_id(self) -> int:
        return last_event_id(self.ws.store)

    def subscribe(self, fn: Callable[[Event], None], poll: float = 0.2) -> Callable[[], None]:
        """Call fn for every new event, whichever process published it."""
        stop = threading.Event()
        start = self.last_event_id()

        def follow() -> None:
            after = start
            while not stop.wait(poll):
                for ev in read_events(self.ws.store, after):
                    after = ev.id
                    fn(ev)

        thread = threading.Thread(target=follow, name="sandbox-events", daemon=True)
        thread.start()
        return stop.set


