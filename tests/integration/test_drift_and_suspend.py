"""Reconciler behaviour inside the running engine: drift, suspend/resume, health checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.clock import VirtualClock
from sandbox.facade import Sandbox, SandboxError
from sandbox.workspace import Settings

from .waits import until


def replicas(sb: Sandbox, name: str = "web") -> int:
    dep = [d for d in sb.cluster_objects("deploy") if d["metadata"]["name"] == name][0]
    return int(dep["spec"]["replicas"])


def test_direct_edit_shows_drift_and_is_corrected(running: Sandbox) -> None:
    sb = running
    before = sb.last_event_id()
    result = sb.scale("deployment/web", 5)
    assert result["command"] == "kubectl -n demo scale deployment/web --replicas=5"
    assert replicas(sb) == 5
    # Announced as drift, whether the drift check saw it (OutOfSync, listed as drifted)
    # or a resync on a loaded machine put it back first: both say so.
    until(lambda: any(e.data.get("object") == "Deployment/demo/web"
                      for e in sb.events(before, kinds=("drift.detected",))))
    sb.reconcile_now()
    until(lambda: sb.sync_status()["sync"] == "Synced" and replicas(sb) == 2)
    assert sb.events(kinds=("drift.corrected",))


def test_deleted_deployment_comes_back_and_bad_targets_are_refused(running: Sandbox) -> None:
    sb = running
    before = sb.last_event_id()
    sb.delete_object("deployment/api")
    # Seen as drift, whether by the drift check (OutOfSync) or a resync that put it back
    # first on a loaded machine: both announce it.
    until(lambda: any(e.data.get("object") == "Deployment/demo/api"
                      for e in sb.events(before, kinds=("drift.detected",))))
    sb.reconcile_now()
    until(lambda: any(d["metadata"]["name"] == "api" for d in sb.cluster_objects("deploy")))
    with pytest.raises(SandboxError, match="KIND/NAME"):
        sb.scale("web", 3)
    with pytest.raises(SandboxError, match="not found"):
        sb.scale("deployment/nope", 3)


def test_suspend_holds_changes_until_resume(running: Sandbox) -> None:
    sb = running
    sb.suspend()
    assert sb.sync_status()["suspended"]
    sb.change("more", ["replicas=4"], subcomponent="web")
    pr = sb.open_pr("more", "More web")
    sb.wait_for_checks(pr.id, 60)
    sb.approve_pr(pr.id, "reviewer")
    merged = sb.merge_pr(pr.id)
    until(lambda: (sb.deployment(merged.merge_sha or "") or {}).get("manifest_sha"))
    assert replicas(sb) == 2  # suspended: the new commit waits
    sb.resume()
    dep = sb.wait_for_deployment(merged.merge_sha or "", 60)
    assert dep["health"] == "Healthy" and replicas(sb) == 4


def test_health_check_times_out_in_simulated_time(tmp_path: Path) -> None:
    # The timeout (30 s) comes before the Deployment's progress deadline (60 s), so the
    # check fails on time, not on Degraded.
    sb = Sandbox.init(tmp_path / "ws", settings=Settings(health_timeout=30.0))
    sb.ws.registry.push("web", "1.0.0", "unready")  # runs, never passes readiness
    clock = VirtualClock()
    sb.start_engine(clock=clock)
    try:
        # Wait for the sample app's revision (the first one only holds a README).
        until(lambda: sb.sync_status().get("hld_sha"))
        until(lambda: sb.health().get("revision") == sb.sync_status()["last_applied"]
              and sb.health().get("check") == "Waiting")
        clock.advance(20)
        until(lambda: sb.health().get("now", 0) >= 20)  # the engine has ticked at t=20s
        assert sb.health().get("check") == "Waiting"
        clock.advance(11)
        until(lambda: sb.health().get("check") == "Failed")
        failed = sb.events(kinds=("health.check",))[-1]
        assert failed.data["result"] == "Failed" and "timeout after 30s" in failed.message
        assert "Deployment/web" in failed.message
    finally:
        sb.close()


def test_a_new_commit_replaces_a_waiting_health_check(tmp_path: Path) -> None:
    sb = Sandbox.init(tmp_path / "ws", settings=Settings(health_timeout=30.0))
    sb.ws.registry.push("web", "1.0.0", "unready")
    sb.ws.registry.push("web", "1.0.1", "fast")
    clock = VirtualClock()
    sb.start_engine(clock=clock)
    try:
        until(lambda: sb.sync_status().get("hld_sha"))
        stuck = sb.sync_status()["last_applied"]
        until(lambda: sb.health().get("revision") == stuck
              and sb.health().get("check") == "Waiting")
        clock.advance(20)
        sb.change("fix", ["image.tag=1.0.1"], subcomponent="web")
        pr = sb.open_pr("fix", "Fix web")
        assert sb.wait_for_checks(pr.id, 60).checks_state == "success"
        sb.approve_pr(pr.id, "reviewer")
        merged = sb.merge_pr(pr.id)
        until(lambda: sb.sync_status().get("hld_sha") == merged.merge_sha)
        clock.advance(20)  # 40 s after the first sync: its wait would have timed out
        until(lambda: sb.health().get("check") == "Passed")
        results = [(e.data["revision"], e.data["result"]) for e in sb.events(kinds=("health.check",))]
        assert (stuck, "Failed") not in results
        assert results[-1] == (sb.sync_status()["last_applied"], "Passed")
    finally:
        sb.close()


def test_periodic_resync_corrects_drift_without_a_new_commit(tmp_path: Path) -> None:
    sb = Sandbox.init(tmp_path / "ws", settings=Settings(resync_seconds=60.0))
    clock = VirtualClock()
    sb.start_engine(clock=clock)
    try:
        until(lambda: sb.sync_status().get("hld_sha"))  # the sample app's revision
        applied = sb.sync_status()["last_applied"]
        sb.scale("deployment/web", 5)
        # Seen as drift, and left alone: the resync is not due in simulated time yet.
        until(lambda: "Deployment/demo/web" in sb.sync_status()["drifted"])
        assert replicas(sb) == 5
        assert not sb.events(kinds=("drift.corrected",))
        clock.advance(60)  # the resync interval passes; nothing new in git
        until(lambda: replicas(sb) == 2)
        assert sb.sync_status()["last_applied"] == applied
        assert sb.sync_status()["sync"] == "Synced"
        assert [e.data["object"] for e in sb.events(kinds=("drift.corrected",))] == [
            "Deployment/demo/web"]
    finally:
        sb.close()
