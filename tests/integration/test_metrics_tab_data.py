"""What the TUI's Metrics tab and verdict column read, from a real engine: a release's
sync is a marker on its service's series with its pull request and verdict, and the
service's verdict is that change's (issue 12 point 5)."""

from __future__ import annotations

from sandbox.facade import Sandbox
from tests.integration.waits import until


def test_a_release_is_a_marker_on_its_service_with_its_pr_and_verdict(
        running: Sandbox) -> None:
    sb = running
    sb.push_image("web", "1.2.0", profile="default")
    pr = sb.wait_for_checks(sb.wait_for_release("web", "1.2.0", 60).id, 60)
    assert pr.checks_state == "success", sb.pr_diff(pr.id)["log"]
    sb.approve_pr(pr.id, "reviewer")
    merged = sb.merge_pr(pr.id, "operator")
    assert merged.merge_sha
    dep = sb.wait_for_deployment(merged.merge_sha, 120)
    assert dep["verdict"] == "Succeeded", dep

    verdicts = sb.service_verdicts()
    assert verdicts["web"]["pr"] == pr.id and verdicts["web"]["verdict"] == "Succeeded"
    assert verdicts["api"]["hld_sha"] != merged.merge_sha  # the release did not touch api

    until(lambda: "Deployment/demo/web" in sb.metric_services()["services"], 30,
          "web sampled")
    listed = sb.metric_services()
    assert listed["default"] == "Deployment/demo/web"  # the latest change touched it
    web = sb.metric_series("Deployment/demo/web", since=3600.0)
    marker = [s for s in web["syncs"] if s["pr"] == pr.id]
    assert len(marker) == 1 and marker[0]["verdict"] == "Succeeded", web["syncs"]
    # The marker sits on the samples' simulated time line.
    sims = [s["sim"] for s in web["samples"]]
    assert sims and sims[0] <= marker[0]["sim"] <= web["now"], (sims, marker)
    assert any(s["rps"] for s in web["samples"])
    api = sb.metric_series("Deployment/demo/api", since=3600.0)
    assert all(s["pr"] != pr.id for s in api["syncs"])
