"""Kill the engine (as SIGKILL would) at each step of each job, start it again, and
check the repair: exactly one manifest commit per HLD main commit, no job left
running, pull-request checks finished, releases opened once, merges never doubled.

The engine runs as `gitops-sandbox up` in a subprocess with GITOPS_SANDBOX_FAULT
naming the step: it dies there with exit 137, so where it dies is chosen, not timed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import faults, gitserver
from sandbox.facade import Sandbox
from sandbox.gitserver import remote
from sandbox.gitserver.http import GitServer
from sandbox.gitutil import Identity, git
from sandbox.pullrequests import PullRequestError
from sandbox.repair import generated_hld_commits
from tests.integration.waits import until

ROOT = Path(__file__).resolve().parents[2]


def run_cli(sb: Sandbox, fault: str, *args: str, timeout: float = 120) -> int:
    env = dict(os.environ, **{faults.ENV: fault})
    proc = subprocess.run([sys.executable, "-m", "sandbox.cli", *args, "-w", str(sb.root)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode


_alone: list[GitServer] = []


def serve_alone(sb: Sandbox) -> None:
    """While no engine runs, its git server alone, so that merges and pushes work."""
    if not _alone:
        _alone.append(GitServer(sb.root).start())


def unserve() -> None:
    """Before an engine starts: it serves on the same recorded port."""
    while _alone:
        _alone.pop().stop()


@pytest.fixture(autouse=True)
def _git_server_alone(sandbox: Sandbox) -> Iterator[None]:
    serve_alone(sandbox)
    yield
    unserve()


def crash_engine_at(sb: Sandbox, fault: str) -> None:
    """Run the engine in a subprocess until it dies at `fault`."""
    assert sb.engine is None
    unserve()
    assert run_cli(sb, fault, "up") == faults.EXIT_CODE, f"the engine never reached {fault}"
    serve_alone(sb)


def assert_repaired(sb: Sandbox) -> None:
    hld, manifests = sb.ws.hld_git, sb.ws.manifests_git
    mainline = git("rev-list", "--first-parent", "refs/heads/main", git_dir=hld).split()
    bodies = git("log", "--format=%B%x00", "refs/heads/main", git_dir=manifests)
    for sha in mainline:
        assert bodies.count(f"HLD-Commit: {sha}") == 1, f"HLD {sha[:7]}: not one manifest commit"
    assert generated_hld_commits(sb.ws) == set(mainline)
    running = sb.ws.store.query("SELECT id, kind FROM jobs WHERE status='running'")
    assert not running, [dict(r) for r in running]


def left_running(sb: Sandbox) -> list[str]:
    return [r["kind"] for r in sb.ws.store.query("SELECT kind FROM jobs WHERE status='running'")]


def settle(sb: Sandbox) -> None:
    """Restart without the fault and wait until the engine has nothing left to do."""
    unserve()
    sb.start_engine()
    main = sb.branches()["main"]
    dep = sb.wait_for_deployment(main, 90)
    assert dep["sync_status"] == "synced" and dep["health"] == "Healthy", dep
    for pr in sb.list_prs("open"):
        assert sb.wait_for_checks(pr.id, 60).checks_state in ("success", "failure")
    until(lambda: not sb.ws.store.one(
        "SELECT 1 FROM jobs WHERE status IN ('queued','running')"), 60,
        why="every queued job to finish")


def checked_pr(sb: Sandbox, branch: str, value: str, setting: str = "logLevel",
               where: str = "config") -> int:
    unserve()
    sb.start_engine()
    sb.change(branch, [f"{setting}={value}"], subcomponent=where)
    pr = sb.open_pr(branch, f"Log level {value}")
    assert sb.wait_for_checks(pr.id, 60).checks_state == "success"
    sb.approve_pr(pr.id, "reviewer")
    sb.stop_engine()
    serve_alone(sb)
    return pr.id


GENERATE_STEPS = ("job.after_claim", "generate.after_build", "generate.after_commit",
                  "generate.after_push", "generate.after_publish", "job.before_finish")


@pytest.mark.parametrize("fault", GENERATE_STEPS)
def test_generate_killed_at_each_step_is_repaired(sandbox: Sandbox, fault: str) -> None:
    sb = sandbox
    pr_id = checked_pr(sb, "debug", "debug")
    merged = sb.merge_pr(pr_id)  # main moves while no engine runs
    crash_engine_at(sb, fault)
    assert left_running(sb) == ["generate"]
    settle(sb)
    assert_repaired(sb)
    dep = sb.deployment(merged.merge_sha or "")
    assert dep and dep["manifest_sha"] and dep["pr"] == pr_id, dep
    generated = [e for e in sb.events(kinds=("manifests.generated",))
                 if e.data.get("sha") == merged.merge_sha]
    assert len({e.data["manifest_sha"] for e in generated}) == 1


@pytest.mark.parametrize("fault", ("validate.after_running", "validate.after_check"))
def test_validate_killed_is_run_again(sandbox: Sandbox, fault: str) -> None:
    sb = sandbox
    sb.change("warn", ["logLevel=warn"], subcomponent="config")
    pr = sb.open_pr("warn", "Log level warn")  # queued; no engine runs it yet
    crash_engine_at(sb, fault)
    assert left_running(sb) == ["validate"]  # what the crash left behind
    settle(sb)
    assert sb.get_pr(pr.id).checks_state == "success"
    assert_repaired(sb)


@pytest.mark.parametrize("fault", ("release.after_push", "release.after_pr"))
def test_release_killed_opens_its_pull_request_once(sandbox: Sandbox, fault: str) -> None:
    sb = sandbox
    sb.push_image("web", "1.1.0")
    crash_engine_at(sb, fault)
    settle(sb)
    pr = sb.wait_for_release("web", "1.1.0", 60)
    assert pr.checks_state == "success"
    assert [p.head for p in sb.list_prs()].count("DEPLOY/web-1.1.0") == 1
    assert_repaired(sb)


def merge_commits(sb: Sandbox, pr_id: int) -> int:
    out = git("log", "--merges", "--format=%s", "refs/heads/main", git_dir=sb.ws.hld_git)
    return sum(1 for line in out.splitlines() if line.startswith(f"Merge pull request #{pr_id} "))


@pytest.mark.parametrize("fault,landed", (("merge.after_intent", False),
                                          ("merge.after_push", True)))
def test_interrupted_merge_is_completed_or_rolled_back_never_doubled(
        sandbox: Sandbox, fault: str, landed: bool) -> None:
    sb = sandbox
    pr_id = checked_pr(sb, "error", "error")
    assert run_cli(sb, fault, "pr", "merge", str(pr_id)) == faults.EXIT_CODE
    assert sb.get_pr(pr_id).state == "open"
    assert merge_commits(sb, pr_id) == (1 if landed else 0)
    merged = sb.merge_pr(pr_id)  # the retry completes it or merges it afresh
    assert merged.state == "merged"
    assert merge_commits(sb, pr_id) == 1
    settle(sb)
    assert_repaired(sb)


def test_engine_start_completes_a_merge_interrupted_after_its_push(sandbox: Sandbox) -> None:
    sb = sandbox
    pr_id = checked_pr(sb, "trace", "trace")
    assert run_cli(sb, "merge.after_push", "pr", "merge", str(pr_id)) == faults.EXIT_CODE
    settle(sb)  # nobody retries: the start-up repair finds the intent and completes it
    assert sb.get_pr(pr_id).state == "merged"
    assert merge_commits(sb, pr_id) == 1
    assert any("interrupted merge completed" in e.message
               for e in sb.events(kinds=("engine.repaired",)))
    assert_repaired(sb)
    # The user, unaware of the repair, runs the merge again: it says it happened, once.
    assert run_cli(sb, "", "pr", "merge", str(pr_id)) == 0
    assert merge_commits(sb, pr_id) == 1


def _land_another_commit(sb: Sandbox) -> None:
    """Another merge wins the race: main moves between our read and our push."""
    hld = sb.ws.hld_git
    main = git("rev-parse", "refs/heads/main", git_dir=hld).strip()
    tree = git("rev-parse", f"{main}^{{tree}}", git_dir=hld).strip()
    sha = git("commit-tree", tree, "-p", main, "-m", "Someone else's change", git_dir=hld,
              identity=Identity.of("other")).strip()
    other = sb.users.get("reviewer")
    token = gitserver.issue_merge_token(sb.ws.store, 0, sha, other.id)
    git("push", "--quiet", "-o", f"{gitserver.TOKEN_OPTION}={token}",
        remote.repo_url(sb.root, "hld"), f"{sha}:refs/heads/main", git_dir=hld,
        env_extra=remote.auth_env(sb.root, other))


def test_lost_merge_race_is_retried_then_reported_clearly(sandbox: Sandbox) -> None:
    sb = sandbox
    first = checked_pr(sb, "race-one", "one")
    second = checked_pr(sb, "race-two", "3", setting="replicas", where="web")
    lost: list[int] = []

    def once() -> None:
        faults.set_hook("merge.after_intent", None)
        lost.append(1)
        _land_another_commit(sb)

    try:
        faults.set_hook("merge.after_intent", once)
        assert sb.merge_pr(first).state == "merged"  # lost once, merged on the retry
        assert lost == [1] and merge_commits(sb, first) == 1
        faults.set_hook("merge.after_intent", lambda: _land_another_commit(sb))
        with pytest.raises(PullRequestError, match="main moved while merging") as caught:
            sb.merge_pr(second)
        assert "cannot lock ref" not in str(caught.value)
    finally:
        faults.set_hook("merge.after_intent", None)
    assert sb.get_pr(second).state == "open" and merge_commits(sb, second) == 0
    assert sb.merge_pr(second).state == "merged"
