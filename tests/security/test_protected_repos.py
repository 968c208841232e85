"""manifests.git takes commits only from the generation job, only forward, only when
they name a commit on hld.git's main; the reconciler checks the same before applying.
Ref names that would make `main` ambiguous are refused in both repositories."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from sandbox.facade import Sandbox
from sandbox.gitutil import git as run_git
from sandbox.gitutil import refs

from .conftest import git


def scaled_manifests(clone: Path, replicas: int = 9) -> None:
    for path in clone.rglob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        if any(isinstance(d, dict) and d.get("kind") == "Deployment" for d in docs):
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind") == "Deployment":
                    doc["spec"]["replicas"] = replicas
            path.write_text(yaml.safe_dump_all(docs))


def commit_all(clone: Path, message: str) -> str:
    git("add", "-A", cwd=clone, check=True)
    git("commit", "-q", "--allow-empty", "-m", message, cwd=clone, check=True)
    return git("rev-parse", "HEAD", cwd=clone, check=True).stdout.strip()


def test_a_human_cannot_push_to_manifests(sandbox: Sandbox, clone_as, unchanged) -> None:  # type: ignore[no-untyped-def]
    clone = clone_as(sandbox.root, "operator", "manifests")
    scaled_manifests(clone)
    hld_main = sandbox.branches()["main"]
    commit_all(clone, f"Scale up\n\nHLD-Commit: {hld_main}")
    proc = git("push", "origin", "HEAD:main", cwd=clone)
    assert proc.returncode != 0
    assert "manifests.git takes commits only from the generation job (generate-bot)" in proc.stderr
    unchanged()


@pytest.mark.parametrize(("message", "said"), [
    ("No trailer", "has no HLD-Commit trailer"),
    ("Forged\n\nHLD-Commit: " + "1" * 40, "is not a commit on hld.git's main"),
    ("Short\n\nHLD-Commit: abc", "is not a full commit id"),
])
def test_the_generation_identity_needs_a_reviewed_hld_commit(
        sandbox: Sandbox, clone_as, unchanged, message: str, said: str) -> None:  # type: ignore[no-untyped-def]
    clone = clone_as(sandbox.root, "generate-bot", "manifests")
    scaled_manifests(clone)
    commit_all(clone, message)
    proc = git("push", "origin", "HEAD:main", cwd=clone)
    assert proc.returncode != 0 and said in proc.stderr
    unchanged()


def test_a_pr_branch_commit_is_not_on_main(sandbox: Sandbox, clone_as, unchanged) -> None:  # type: ignore[no-untyped-def]
    hld = clone_as(sandbox.root, "operator")
    (hld / "x.txt").write_text("unreviewed\n")
    branch_sha = commit_all(hld, "Unreviewed")
    assert git("push", "-q", "origin", "HEAD:refs/heads/unreviewed", cwd=hld).returncode == 0
    clone = clone_as(sandbox.root, "generate-bot", "manifests")
    scaled_manifests(clone)
    commit_all(clone, f"Sneak\n\nHLD-Commit: {branch_sha}")
    proc = git("push", "origin", "HEAD:main", cwd=clone)
    assert proc.returncode != 0 and "is not a commit on hld.git's main" in proc.stderr
    git("push", "-q", "origin", ":refs/heads/unreviewed", cwd=hld, check=True)
    unchanged()


def test_manifests_main_only_moves_forward_and_is_the_only_branch(
        sandbox: Sandbox, clone_as, unchanged) -> None:  # type: ignore[no-untyped-def]
    clone = clone_as(sandbox.root, "generate-bot", "manifests")
    proc = git("push", "-f", "origin", "HEAD~1:main", cwd=clone)
    assert proc.returncode != 0 and "only moves forward" in proc.stderr
    proc = git("push", "origin", ":main", cwd=clone)
    assert proc.returncode != 0 and "deleting manifests.git's main" in proc.stderr
    proc = git("push", "origin", "HEAD:refs/heads/other", cwd=clone)
    assert proc.returncode != 0 and "manifests.git has one branch, main" in proc.stderr
    unchanged()


@pytest.mark.parametrize(("repo", "user", "target", "said"), [
    ("hld", "operator", "refs/tags/main", "a tag named 'main'"),
    ("hld", "operator", "refs/heads/refs/heads/main", "would be confused with another ref"),
    ("hld", "operator", "refs/heads/heads/main", "would be confused with another ref"),
    ("hld", "operator", "refs/heads/Main", "only by case"),
    ("hld", "operator", "refs/remotes/origin/main", "only branches and tags"),
    ("hld", "operator", "refs/main", "only branches and tags"),
    ("manifests", "generate-bot", "refs/tags/main", "a tag named 'main'"),
    ("manifests", "generate-bot", "refs/heads/refs/heads/main",
     "would be confused with another ref"),
    ("manifests", "generate-bot", "refs/heads/flux-sync", "a tag named 'flux-sync' exists"),
])
def test_colliding_ref_names_are_refused(sandbox: Sandbox, clone_as, unchanged,  # type: ignore[no-untyped-def]
                                         repo: str, user: str, target: str, said: str) -> None:
    clone = clone_as(sandbox.root, user, repo)
    proc = git("push", "origin", f"HEAD:{target}", cwd=clone)
    assert proc.returncode != 0, proc.stderr
    assert said in proc.stderr
    unchanged()


def test_the_reconciler_refuses_a_commit_written_behind_the_servers_back(
        sandbox: Sandbox, clone_as) -> None:  # type: ignore[no-untyped-def]
    man = sandbox.ws.manifests_git
    before = refs(man)["refs/heads/main"]
    deployments = {o["metadata"]["name"]: o["spec"]["replicas"]
                   for o in sandbox.cluster_objects("Deployment")}
    clone = clone_as(sandbox.root, "generate-bot", "manifests")
    scaled_manifests(clone)
    hld_main = sandbox.branches()["main"]
    sha = commit_all(clone, f"Scale up\n\nHLD-Commit: {hld_main}")
    # Whoever holds the disk can write the repository; the reconciler still refuses.
    after = sandbox.last_event_id()
    run_git("fetch", "-q", str(clone), "HEAD", git_dir=man)
    run_git("update-ref", "refs/heads/main", sha, git_dir=man)
    try:
        deadline = time.monotonic() + 30
        while not (refused := sandbox.events(after, kinds=("sync.refused",))):
            assert time.monotonic() < deadline, "no sync.refused event"
            time.sleep(0.05)
        assert "was pushed by nobody through the git server" in refused[0].message
        status = sandbox.sync_status()
        assert not status["ready"] and "refused to apply" in status["message"]
        assert {o["metadata"]["name"]: o["spec"]["replicas"]
                for o in sandbox.cluster_objects("Deployment")} == deployments
    finally:
        run_git("update-ref", "refs/heads/main", before, git_dir=man)
        sandbox.reconcile_now()
