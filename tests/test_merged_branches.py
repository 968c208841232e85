"""Issue 10 point 5: merged branches are deleted after the merge, as git hosts offer (a
setting, on by default); the pull request keeps its head commit, so its record, its
diff and a revert of it still work."""

from __future__ import annotations

import pytest

from sandbox.branches import delete_merged_branch, merge_of_pr
from sandbox.cli import main
from sandbox.facade import Sandbox, SandboxError
from sandbox.pipelines import CIRunner
from sandbox.repair import repair_on_start


def green_pr(sb: Sandbox, branch: str) -> int:
    sb.change(branch, ["replicas=4"], subcomponent="web")
    pr = sb.open_pr(branch, f"Change on {branch}")
    CIRunner(sb.ws, sb.bus, sb.prs).run_pending()
    sb.approve_pr(pr.id, "reviewer")
    return pr.id


def test_the_merged_branch_is_gone_and_the_pull_request_stays(
        sb: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    pr_id = green_pr(sb, "scale-web")
    head = sb.get_pr(pr_id).head_sha
    merged = sb.merge_pr(pr_id, "operator")
    assert "scale-web" not in sb.branches()
    assert merged.state == "merged" and merged.head_sha == head and merged.head == "scale-web"
    deleted = sb.events(kinds=("pr.branch_deleted",))
    assert [e.data["branch"] for e in deleted] == ["scale-web"]
    assert f"git push origin {head[:7]}:refs/heads/scale-web" in deleted[0].message
    assert "replicas" in sb.pr_diff(pr_id)["hld"]
    assert main(["pr", "show", str(pr_id), "-w", str(sb.root)]) == 0
    assert "scale-web" in capsys.readouterr().out
    # A deleted branch's pull request can still be reverted, named by its branch or #N.
    revert = sb.revert("scale-web")
    assert revert.kind == "revert" and revert.state == "open"
    assert revert.body == f"Reverts {str(merged.merge_sha)[:7]}."
    assert merge_of_pr(sb.ws.store, f"#{pr_id}") == merge_of_pr(sb.ws.store, str(pr_id)) \
        == merged.merge_sha
    with pytest.raises(SandboxError, match="nor a merged pull request"):
        sb.revert("never-merged")


def test_the_setting_keeps_merged_branches(sb: Sandbox) -> None:
    sb.update_setting("delete_branch_on_merge", "false")
    pr_id = green_pr(sb, "keep-me")
    head = sb.get_pr(pr_id).head_sha
    sb.merge_pr(pr_id, "operator")
    assert sb.branches()["keep-me"] == head
    assert not sb.events(kinds=("pr.branch_deleted",))


def test_a_branch_that_moved_after_the_merge_is_kept(sb: Sandbox) -> None:
    sb.update_setting("delete_branch_on_merge", "false")
    pr_id = green_pr(sb, "moving")
    merged = sb.merge_pr(pr_id, "operator")
    sb.update_setting("delete_branch_on_merge", "true")
    sb.change("moving", ["replicas=5"], subcomponent="web")  # pushed after the merge
    moved = sb.branches()["moving"]
    assert not delete_merged_branch(sb.ws, sb.bus, pr_id, "moving", merged.head_sha)
    assert sb.branches()["moving"] == moved


def test_start_up_repair_deletes_what_a_stopped_engine_left(sb: Sandbox) -> None:
    sb.update_setting("delete_branch_on_merge", "false")
    pr_id = green_pr(sb, "left-over")
    sb.merge_pr(pr_id, "operator")
    assert "left-over" in sb.branches()
    sb.update_setting("delete_branch_on_merge", "true")
    did = repair_on_start(sb.ws, sb.bus, sb.prs)
    assert "left-over" not in sb.branches()
    assert any("left-over" in line for line in did)


def test_a_release_merged_and_deleted_is_not_released_again(sb: Sandbox) -> None:
    sb.push_image("web", "1.1.0")
    ci = CIRunner(sb.ws, sb.bus, sb.prs)
    from sandbox.pipelines import enqueue

    enqueue(sb.ws, "release", repository="web", tag="1.1.0")
    ci.run_pending()
    (pr,) = sb.list_prs("open")
    ci.run_pending()
    sb.approve_pr(pr.id, "reviewer")
    sb.merge_pr(pr.id, "operator")
    assert "DEPLOY/web-1.1.0" not in sb.branches()
    # The job run again (a lease taken over after a crash) finds the merged release.
    job = enqueue(sb.ws, "release", repository="web", tag="1.1.0")
    assert ci.run(job)["result"].get("skipped")
    assert "DEPLOY/web-1.1.0" not in sb.branches()
    assert [p.id for p in sb.list_prs()] == [pr.id]
