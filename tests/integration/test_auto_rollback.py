"""Issue 12 point 3 end to end: a Failed verdict is rolled back through git."""

from __future__ import annotations

from sandbox.facade import Sandbox
from sandbox.pullrequests import PullRequest

from .test_slo_verdict import release, ship
from .waits import until


def rollback_pr(sb: Sandbox) -> PullRequest:
    def opened() -> PullRequest | None:
        found = [p for p in sb.list_prs() if p.kind == "revert" and p.author == "rollback-bot"]
        return found[0] if found else None
    pr: PullRequest = until(opened, timeout=120, why="the rollback bot's revert PR")
    return pr


def web_image(sb: Sandbox) -> str:
    dep = [o for o in sb.cluster_objects("Deployment") if o["metadata"]["name"] == "web"][0]
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def test_merge_mode_reverts_a_failed_release_through_git(running: Sandbox) -> None:
    sb = running
    sb.update_setting("auto_rollback", "merge")
    bad = ship(sb, release(sb, "1.3.0", "errors"))
    assert bad["verdict"] == "Failed" and "error rate" in bad["verdict_reason"]
    pr = rollback_pr(sb)
    assert pr.body.startswith("Automatic rollback") and "verdict" in pr.body
    assert bad["verdict_reason"] in pr.body
    merged = until(lambda: sb.get_pr(pr.id).merge_sha, timeout=120, why="the bot's merge")
    healed = sb.wait_for_deployment(merged, 120)
    assert healed["verdict"] == "Succeeded", healed
    assert web_image(sb) == "localhost:5001/web:1.0.0"
    assert sb.get_pr(pr.id).approvals == ["rollback-bot"]
    audit = [e for e in sb.events(limit=2000) if e.kind == "audit.bot_approval"]
    assert len(audit) == 1 and f"#{pr.id}" in audit[0].message
    # The trace links the bad change and its rollback, both ways.
    assert sb.deployment(bad["hld_sha"])["rollback_pr"] == pr.id  # type: ignore[index]
    assert healed["rollback_of"] == bad["hld_sha"]


def test_propose_mode_waits_for_a_human_and_opens_one_rollback_at_a_time(
        running: Sandbox) -> None:
    sb = running
    sb.update_setting("auto_rollback", "propose")
    bad = ship(sb, release(sb, "1.3.0", "errors"))
    assert bad["verdict"] == "Failed"
    pr = rollback_pr(sb)
    # A second Failed change while the first rollback is open opens no second one.
    worse = ship(sb, release(sb, "1.4.0", "errors"))
    assert worse["verdict"] == "Failed"
    until(lambda: [e for e in sb.events(limit=2000) if e.kind == "rollback.skipped"],
          why="the second rollback skipped")
    reverts = [p for p in sb.list_prs() if p.kind == "revert"]
    assert [p.id for p in reverts] == [pr.id]
    pr = sb.wait_for_checks(pr.id, 60)
    assert pr.state == "open" and pr.approvals == []  # the bot does not approve here
    try:
        sb.approve_pr(pr.id, "rollback-bot")
    except Exception as exc:  # noqa: BLE001 - the policy's refusal is the point
        assert "rollback-bot is a bot" in str(exc)
    else:
        raise AssertionError("the rollback bot approved outside auto_rollback: merge")
