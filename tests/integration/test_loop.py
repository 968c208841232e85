"""The whole loop, end to end, with real git, the real hook and the real watchers."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

from sandbox.facade import Sandbox
from sandbox.gitutil import git, refs, trailers
from sandbox.pullrequests import PullRequestError


def deployment(sb: Sandbox, name: str) -> dict[str, Any]:
    found = [o for o in sb.cluster_objects("Deployment") if o["metadata"]["name"] == name]
    assert found, f"no Deployment {name}"
    return found[0]


def ship(sb: Sandbox, pr_id: int, timeout: float = 60) -> dict[str, Any]:
    pr = sb.wait_for_checks(pr_id, timeout)
    assert pr.checks_state == "success", sb.pr_diff(pr_id)["log"]
    sb.approve_pr(pr_id, "reviewer")
    merged = sb.merge_pr(pr_id, "operator")
    assert merged.merge_sha
    return sb.wait_for_deployment(merged.merge_sha, timeout)


def test_change_review_merge_sync_and_revert(running: Sandbox) -> None:
    sb = running
    assert deployment(sb, "web")["spec"]["replicas"] == 2

    sb.change("scale-web", ["replicas=3"], subcomponent="web", message="Scale web to 3")
    pr = sb.open_pr("scale-web", "Scale web to 3")
    checked = sb.wait_for_checks(pr.id, 60)
    assert checked.checks_state == "success"
    diff = sb.pr_diff(pr.id)
    assert "replicas" in diff["hld"]
    assert "Deployment/demo/web" in diff["manifests"]

    dep = ship(sb, pr.id)
    assert dep["sync_status"] == "synced" and dep["health"] == "Healthy", dep
    assert dep["pr"] == pr.id

    manifests = sb.ws.manifests_git
    head = refs(manifests)["refs/heads/main"]
    info = trailers(git("log", "-1", "--format=%B", head, git_dir=manifests))
    assert info["HLD-Commit"] == sb.get_pr(pr.id).merge_sha
    assert info["Pull-Request"] == f"#{pr.id}"
    assert refs(manifests)["refs/tags/flux-sync"] == head
    web = deployment(sb, "web")
    assert web["spec"]["replicas"] == 3
    assert web["status"].get("readyReplicas") == 3

    revert = sb.revert()
    assert revert.kind == "revert" and revert.title.startswith('Revert "')
    dep = ship(sb, revert.id)
    assert dep["health"] == "Healthy", dep
    assert deployment(sb, "web")["spec"]["replicas"] == 2
    kinds = [e.kind for e in sb.events()]
    for kind in ("pr.opened", "check.finished", "pr.approved", "pr.merged",
                 "manifests.generated", "sync.finished", "health.changed", "revert.created"):
        assert kind in kinds, kind


def test_broken_yaml_fails_the_check_and_never_reaches_the_cluster(running: Sandbox) -> None:
    sb = running
    before = refs(sb.ws.manifests_git)["refs/heads/main"]
    sb.commit_files("broken", {"web/deployment.yaml": "kind: Deployment\n  bad: [\n"},
                    "Break web")
    pr = sb.open_pr("broken", "Break web")
    checked = sb.wait_for_checks(pr.id, 60)
    assert checked.checks_state == "failure"
    assert "web/deployment.yaml" in checked.checks[0].summary
    sb.approve_pr(pr.id, "reviewer")
    with pytest.raises(PullRequestError, match="checks failed"):
        sb.merge_pr(pr.id)
    assert refs(sb.ws.manifests_git)["refs/heads/main"] == before
    assert deployment(sb, "web")["spec"]["replicas"] == 2


def test_invalid_manifest_fails_the_check(running: Sandbox) -> None:
    sb = running
    bad = sb.hld_file("web/deployment.yaml").replace("replicas: ${replicas}",
                                                    "replicas: ${replicas}\n  replicaz: 3")
    sb.commit_files("invalid", {"web/deployment.yaml": bad}, "Typo in web")
    pr = sb.open_pr("invalid")
    checked = sb.wait_for_checks(pr.id, 60)
    assert checked.checks_state == "failure"
    assert "web/deployment.yaml" in checked.checks[0].summary


def test_push_to_pr_branch_reruns_checks_and_dismisses_approval(running: Sandbox) -> None:
    sb = running
    sb.change("tune", ["replicas=3"], subcomponent="api")
    pr = sb.open_pr("tune", "Tune api")
    sb.wait_for_checks(pr.id, 60)
    sb.approve_pr(pr.id, "reviewer")
    first = sb.get_pr(pr.id).head_sha
    new = sb.change("tune", ["replicas=4"], subcomponent="api")
    # The engine's watcher sees the push: new head, approvals dismissed, checks re-run.
    deadline_pr = sb.wait_for_checks(pr.id, 60)
    for _ in range(200):
        deadline_pr = sb.get_pr(pr.id)
        if deadline_pr.head_sha == new and deadline_pr.checks_state == "success":
            break
        sb.wait_for_checks(pr.id, 5)
    assert deadline_pr.head_sha == new != first
    assert deadline_pr.approvals == []


def test_bad_image_release_degrades_and_revert_heals(running: Sandbox) -> None:
    sb = running
    sb.push_image("web", "1.1.0", profile="crash")
    release = sb.wait_for_release("web", "1.1.0", 60)
    assert release.title == "Updating web image tag to 1.1.0."
    assert release.head == "DEPLOY/web-1.1.0"
    dep = ship(sb, release.id, timeout=120)
    assert dep["health"] == "Degraded", dep
    assert dep["image"] == "web:1.1.0"
    pods = [p for p in sb.cluster_objects("Pod")
            if "web:1.1.0" in p["spec"]["containers"][0]["image"]]
    assert pods
    revert = sb.revert()
    dep = ship(sb, revert.id, timeout=120)
    assert dep["health"] == "Healthy", dep
    images = {c["image"] for c in deployment(sb, "web")["spec"]["template"]["spec"]["containers"]}
    assert images == {"localhost:5001/web:1.0.0"}


def test_plain_git_push_to_main_from_a_clone_is_rejected(running: Sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sb = running
    clone = sb.clone(tmp_path / "clone")
    (clone / "README.md").write_text("sneaky\n")
    subprocess.run(["git", "add", "-A"], cwd=clone, check=True)
    subprocess.run(["git", "commit", "-qm", "sneak"], cwd=clone, check=True)
    proc = subprocess.run(["git", "push", "origin", "main"], cwd=clone, capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert "open a pull request" in proc.stderr


def test_a_restarted_engine_rebuilds_the_cluster_from_git(running: Sandbox) -> None:
    sb = running
    applied = sb.sync_status()["last_applied"]
    sb.stop_engine()
    assert not sb.engine_running()
    sb.start_engine()
    # The simulated cluster starts empty; the first reconcile puts git's state back.
    deadline = time.monotonic() + 60
    while sb.health().get("app") != "Healthy" or not sb.cluster_objects("Deployment"):
        assert time.monotonic() < deadline, sb.health()
        time.sleep(0.05)
    assert sb.sync_status()["last_applied"] == applied
    assert {d["metadata"]["name"] for d in sb.cluster_objects("Deployment")} == {"web", "api"}


def test_events_follow_streams_json_lines(running: Sandbox) -> None:
    import json
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "events", "-w", str(sb_root(running)),
                             "--follow", "--json", "--limit", "1"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        seen = [json.loads(proc.stdout.readline())["kind"]]  # the latest event: it is following
        running.push_image("api", "9.9.9")
        for line in proc.stdout:
            seen.append(json.loads(line)["kind"])
            if "image.pushed" in seen:
                break
        assert "image.pushed" in seen
    finally:
        proc.kill()
        proc.wait()


def sb_root(sb: Sandbox) -> str:
    return str(sb.root)
