"""Waiting on the pipeline, for `--wait`, tests and scenarios: poll the workspace's
database (whichever process runs the engine) until a condition holds or time runs out.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .gitutil import short
from .pullrequests import PullRequest, PullRequests

if TYPE_CHECKING:
    from .workspace import Workspace


class SandboxError(Exception):
    """An operation the sandbox refuses; the message says why and what to do."""


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
        """Until the change is synced and the app Healthy or Degraded, or sync failed."""
        self._require_engine()
        deadline = time.monotonic() + timeout
        while True:
            dep = self.deployment(hld_sha) or {}
            if dep.get("sync_status") == "failed" or dep.get("health") in ("Healthy",
                                                                            "Degraded"):
                return dep
            if dep.get("sync_status") == "unchanged":
                return dep
            failed = self.ws.store.one(
                "SELECT result FROM jobs WHERE kind='generate' AND status='failure' AND "
                "params LIKE ? ORDER BY id DESC LIMIT 1", f'%"{hld_sha}"%')
            if failed:
                return {"hld_sha": hld_sha, "sync_status": "failed",
                        "error": "manifest generation failed", **dep}
            if time.monotonic() > deadline:
                raise TimeoutError(f"{short(hld_sha)} did not settle within {timeout:g}s "
                                   f"(last state: {dep or 'not generated yet'})")
            time.sleep(0.05)

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
