"""Waiting on the pipeline, for `--wait`, tests and scenarios: poll the workspace's
database (whichever process runs the engine) until a condition holds or time runs out.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .gitutil import is_ancestor, rev, short
from .pullrequests import PullRequest, PullRequests

if TYPE_CHECKING:
    from .workspace import Workspace


class SandboxError(Exception):
    """An operation the sandbox refuses; the message says why and what to do."""


class WaitTimeout(TimeoutError):
    """A wait that ran out of time, and the stage of the pipeline it was stuck in."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


class Waiting:
    ws: Workspace
    prs: PullRequests

    def engine_running(self) -> bool:
        raise NotImplementedError

    def deployment(self, hld_sha: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def _require_engine(self) -> None:
        if not self.engine_running():
            raise SandboxError("no engine is running on this workspace, so nothing will "
                               "happen: start one with 'gitops-sandbox up -w "
                               f"{self.ws.root}' (or open the TUI) in another terminal")

    def wait_for_checks(self, pr_id: int, timeout: float = 60.0) -> PullRequest:
        self._require_engine()
        deadline = time.monotonic() + timeout
        while True:
            pr = self.prs.get(pr_id)
            if pr.checks_state in ("success", "failure") or pr.state != "open":
                return pr
            if time.monotonic() > deadline:
                raise TimeoutError(f"checks of #{pr_id} did not finish within {timeout:g}s")
            time.sleep(0.05)

    def wait_for_deployment(self, hld_sha: str, timeout: float = 120.0) -> dict[str, Any]:
        """Until this change's manifest commit is synced and its health check has a
        verdict (or generation or sync failed, or its manifests were unchanged). The
        result is about this change: its manifest commit, its sync, its health verdict."""
        self._require_engine()
        deadline = time.monotonic() + timeout
        while True:
            done, dep, stage = self.deployment_progress(hld_sha)
            if done:
                return dep
            if time.monotonic() > deadline:
                raise WaitTimeout(f"{short(hld_sha)} did not settle within {timeout:g}s: "
                                  f"stuck at {stage}", stage)
            time.sleep(0.05)

    def deployment_progress(self, hld_sha: str) -> tuple[bool, dict[str, Any], str]:
        """(settled, the record so far, the stage it waits in) for one HLD commit."""
        store = self.ws.store
        dep = dict(self.deployment(hld_sha) or {"hld_sha": hld_sha})
        manifest = dep.get("manifest_sha")
        if not manifest:
            job = store.one("SELECT id, status, result FROM jobs WHERE kind='generate' AND "
                            "json_extract(params, '$.sha')=? ORDER BY id DESC LIMIT 1", hld_sha)
            if job is not None and job["status"] == "failure":
                error = json.loads(job["result"] or "{}").get("error")
                return True, {**dep, "sync_status": "failed",
                              "error": f"manifest generation failed (job #{job['id']})"
                              + (f": {error}" if error else "")}, "generate"
            where = (f"job #{job['id']} {job['status']}" if job is not None else
                     "no job yet: is the commit on main?")
            return False, dep, f"generate ({where})"
        if dep.get("sync_status") == "unchanged":
            dep.setdefault("health", None)
            dep["health"] = dep["health"] or self._app_health()
            return True, dep, "done"
        if dep.get("sync_status") == "failed":
            return True, dep, "sync"
        if dep.get("sync_status") != "synced":
            applied = rev(self.ws.manifests_git, "refs/tags/flux-sync")
            if applied and applied != manifest and is_ancestor(
                    self.ws.manifests_git, manifest, applied):
                # A later commit was applied first: this change is in the cluster with it.
                return True, {**dep, "sync_status": "superseded", "synced_in": applied,
                              "health": dep.get("health") or self._app_health()}, "done"
            return False, dep, f"sync of manifests {short(manifest)} (not applied yet)"
        row = store.one("SELECT data, ts FROM events WHERE kind='health.check' AND "
                        "json_extract(data, '$.revision')=? ORDER BY id DESC LIMIT 1", manifest)
        if row is None:
            return False, dep, (f"health check of {short(manifest)} "
                                f"(app {self._app_health()})")
        check = json.loads(row["data"])
        dep["health_check"] = check.get("result")
        dep["health"] = "Healthy" if check.get("result") == "Passed" else "Degraded"
        if dep["health"] == "Healthy" and not dep.get("healthy"):
            # The app's health.changed for this revision may come after its check (or
            # never, when the app stayed Healthy): the passed check is the moment.
            dep["healthy"] = row["ts"]
        if check.get("reason"):
            dep["error"] = check["reason"]
        if check.get("result") == "Passed" and dep.get("verdict") in ("Pending", "Running"):
            # The health check passed: the change is judged by its SLOs (analysis.py).
            return False, dep, (f"analysis of {short(hld_sha)} against its SLOs "
                                f"({dep.get('verdict') or 'not started'})")
        if dep.get("verdict") == "Failed":
            dep["error"] = f"verdict Failed: {dep.get('verdict_reason')}"
        return True, dep, "done"

    def health(self) -> dict[str, Any]:
        raise NotImplementedError

    def _app_health(self) -> str:
        return str(self.health().get("app") or "Unknown")

    def wait_for_release(self, repository: str, tag: str, timeout: float = 60.0) -> PullRequest:
        self._require_engine()
        deadline = time.monotonic() + timeout
        branch = f"DEPLOY/{repository}-{tag}"
        while True:
            row = self.ws.store.one("SELECT id FROM prs WHERE head=? ORDER BY id DESC", branch)
            if row:
                return self.wait_for_checks(int(row["id"]), max(1.0, deadline - time.monotonic()))
            if time.monotonic() > deadline:
                raise TimeoutError(f"no release pull request for {repository}:{tag} within "
                                   f"{timeout:g}s")
            time.sleep(0.05)
