"""The branch policy is a real pre-receive hook behind the git server: plain git
clients meet it too, and who pushed decides who may approve."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox.events import EventBus, read_events
from sandbox.pullrequests import PullRequestError, PullRequests
from sandbox.workspace import Workspace, WorkspaceError, init_workspace


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def tiny(tmp_path: Path, serve, clone_as) -> tuple[Workspace, Path]:  # type: ignore[no-untyped-def]
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "component.yaml").write_text("name: tiny\n")
    ws = init_workspace(tmp_path / "ws", sample=sample)
    serve(ws.root)
    clone = clone_as(ws.root, "operator")
    (clone / "change.txt").write_text("a change\n")
    run("git", "add", "-A", cwd=clone)
    assert run("git", "commit", "-qm", "A change", cwd=clone).returncode == 0
    return ws, clone


def test_plain_push_to_main_is_rejected_with_advice(tiny: tuple[Workspace, Path]) -> None:
    ws, clone = tiny
    before = run("git", "--git-dir", str(ws.hld_git), "rev-parse", "main", cwd=clone).stdout
    proc = run("git", "push", "origin", "HEAD:main", cwd=clone)
    assert proc.returncode != 0
    assert "direct pushes to the protected branch 'main' are not allowed" in proc.stderr
    assert "pr open" in proc.stderr
    after = run("git", "--git-dir", str(ws.hld_git), "rev-parse", "main", cwd=clone).stdout
    assert before == after
    assert [e.kind for e in read_events(ws.store)] == ["push.rejected"]


def test_force_push_and_delete_are_rejected(tiny: tuple[Workspace, Path]) -> None:
    ws, clone = tiny
    assert run("git", "push", "origin", "HEAD:feature", cwd=clone).returncode == 0
    prs = PullRequests(ws, EventBus(ws.store))
    pr = prs.open("feature", "A change", author="operator")
    prs.approve(pr.id, "reviewer")
    prs.set_check(pr.id, pr.head_sha, "validate", "success")
    prs.merge(pr.id, "operator")
    forced = run("git", "push", "-f", "origin", "HEAD~1:main", cwd=clone)
    assert forced.returncode != 0 and "force pushes" in forced.stderr
    deleted = run("git", "push", "origin", ":main", cwd=clone)
    assert deleted.returncode != 0 and "deleting the protected branch" in deleted.stderr


def test_merge_needs_approval_and_green_checks(tiny: tuple[Workspace, Path]) -> None:
    ws, clone = tiny
    assert run("git", "push", "origin", "HEAD:feature", cwd=clone).returncode == 0
    prs = PullRequests(ws, EventBus(ws.store))
    pr = prs.open("feature", "A change", author="operator")
    with pytest.raises(PullRequestError, match="needs 1 approval"):
        prs.merge(pr.id, "operator")
    with pytest.raises(PullRequestError, match="cannot approve"):
        prs.approve(pr.id, "operator")
    prs.approve(pr.id, "reviewer")
    with pytest.raises(PullRequestError, match="checks have not finished"):
        prs.merge(pr.id, "operator")
    prs.set_check(pr.id, pr.head_sha, "validate", "failure", "bad.yaml: not YAML")
    with pytest.raises(PullRequestError, match="checks failed"):
        prs.merge(pr.id, "operator")
    prs.set_check(pr.id, pr.head_sha, "validate", "success")
    merged = prs.merge(pr.id, "operator")
    assert merged.state == "merged"
    parents = run("git", "--git-dir", str(ws.hld_git), "rev-list", "--parents", "-1", "main",
                  cwd=clone).stdout.split()
    assert parents[0] == merged.merge_sha and len(parents) == 3


def test_push_to_branch_dismisses_approvals(tiny: tuple[Workspace, Path]) -> None:
    ws, clone = tiny
    run("git", "push", "origin", "HEAD:feature", cwd=clone)
    prs = PullRequests(ws, EventBus(ws.store))
    pr = prs.open("feature", "A change", author="operator")
    prs.approve(pr.id, "reviewer")
    (clone / "change.txt").write_text("another\n")
    run("git", "commit", "-qam", "More", cwd=clone)
    run("git", "push", "origin", "HEAD:feature", cwd=clone)
    new = run("git", "rev-parse", "HEAD", cwd=clone).stdout.strip()
    prs.update_head(pr.id, new)
    assert prs.get(pr.id).approvals == []


def test_init_refuses_existing_workspace(tiny: tuple[Workspace, Path], tmp_path: Path) -> None:
    ws, _ = tiny
    with pytest.raises(WorkspaceError, match="--force"):
        init_workspace(ws.root, sample=tmp_path / "sample")
    other = tmp_path / "notempty"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")
    with pytest.raises(WorkspaceError, match="not a gitops-sandbox workspace"):
        init_workspace(other, force=True, sample=tmp_path / "sample")
    assert (other / "precious.txt").read_text() == "keep me"
