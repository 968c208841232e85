"""The facade functions behind the TUI's Metrics tab and verdict column (issue 12 point
5), on a fixed history (tests/tui/seed_metrics.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sandbox.deployments import DeploymentTracker
from sandbox.events import EventBus
from sandbox.facade import Sandbox
from sandbox.gitutil import Identity, git
from tests.tui.seed_metrics import CHANGE_SHA, DEPLOY_AT, END, FIRST_SHA, PR, REASON, seed


@pytest.fixture
def seeded(tmp_path: Path) -> Sandbox:
    sb = Sandbox.init(tmp_path / "ws")
    seed(sb)
    return sb


def test_services_default_to_the_one_the_latest_change_touched(seeded: Sandbox) -> None:
    listed = seeded.metric_services()
    assert listed == {"services": ["Deployment/demo/api", "Deployment/demo/web"],
                      "default": "Deployment/demo/web"}


def test_an_empty_workspace_has_no_services_and_no_series(tmp_path: Path) -> None:
    sb = Sandbox.init(tmp_path / "ws")
    assert sb.metric_services() == {"services": [], "default": None}
    series = sb.metric_series("Deployment/demo/web")
    assert series["now"] is None and series["samples"] == [] and series["syncs"] == []


def test_series_carry_samples_markers_of_changes_that_touched_it_and_objectives(
        seeded: Sandbox) -> None:
    web = seeded.metric_series("Deployment/demo/web", since=END)
    assert web["now"] == END
    assert [s["sim"] for s in web["samples"]][:3] == [0.0, 15.0, 30.0]
    assert len(web["samples"]) == END / 15 + 1
    assert set(web["samples"][0]) == {"sim", "rps", "error_rate", "p95_ms"}
    # Both syncs of a new revision that touched web, oldest first; not the resync.
    assert [(s["sim"], s["pr"], s["verdict"]) for s in web["syncs"]] == [
        (10.0, None, "Succeeded"), (DEPLOY_AT, PR, "Failed")]
    assert web["objectives"] == {"max_error_rate": 0.05, "max_p95_ms": 500.0,
                                 "min_availability": 0.99, "error": None}
    # api was not touched by #7: only the first sync is its marker.
    api = seeded.metric_series("Deployment/demo/api", since=END)
    assert [s["hld_sha"] for s in api["syncs"]] == [FIRST_SHA]
    # The window: only the last 100 s, and the marker at 300 s falls out of it.
    recent = seeded.metric_series("Deployment/demo/web", since=100.0)
    assert recent["samples"][0]["sim"] >= END - 100 and recent["syncs"] == []


def test_objectives_follow_the_workspace_settings(seeded: Sandbox) -> None:
    seeded.update_setting("slo_p95_ms", "250")
    assert seeded.metric_series("Deployment/demo/web")["objectives"]["max_p95_ms"] == 250.0


def test_each_service_has_the_verdict_of_the_newest_change_that_touched_it(
        seeded: Sandbox) -> None:
    verdicts = seeded.service_verdicts()
    assert verdicts["web"] == {"verdict": "Failed", "reason": REASON, "pr": PR,
                               "hld_sha": CHANGE_SHA}
    assert verdicts["api"]["verdict"] == "Succeeded" and verdicts["api"]["pr"] is None
    assert "*" not in verdicts


def _commit_on_main(sb: Sandbox, path: str, text: str) -> None:
    """A commit on the HLD's main without the server (plumbing: no hook, no checkout),
    as a merged pull request would leave it."""
    hld = sb.ws.hld_git
    index = {"GIT_INDEX_FILE": str(sb.root / "tmp-test-index")}
    git("read-tree", "refs/heads/main", git_dir=hld, env_extra=index)
    blob = git("hash-object", "-w", "--stdin", git_dir=hld, input=text).strip()
    git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", git_dir=hld,
        env_extra=index)
    tree = git("write-tree", git_dir=hld, env_extra=index).strip()
    commit = git("commit-tree", tree, "-p", "refs/heads/main", "-m", "slo for web",
                 git_dir=hld, identity=Identity("Test", "test@example.com")).strip()
    git("update-ref", "refs/heads/main", commit, git_dir=hld)


def test_objectives_of_a_service_come_from_its_slo_block_on_main(seeded: Sandbox) -> None:
    common = seeded.hld_file("config/common.yaml")
    data = yaml.safe_load(common)
    data["subcomponents"]["web"]["config"]["slo"] = {"error_rate": 0.01, "p95_ms": 300}
    _commit_on_main(seeded, "config/common.yaml", yaml.safe_dump(data))
    web = seeded.slo_objectives("web")
    assert (web["max_error_rate"], web["max_p95_ms"], web["error"]) == (0.01, 300.0, None)
    assert seeded.slo_objectives("api")["max_p95_ms"] == 500.0  # the workspace's default
    # A broken block: the defaults, and why.
    data["subcomponents"]["web"]["config"]["slo"] = {"p95": 300}
    _commit_on_main(seeded, "config/common.yaml", yaml.safe_dump(data))
    web = seeded.slo_objectives("web")
    assert web["max_p95_ms"] == 500.0 and "unknown slo key 'p95'" in web["error"]


def test_a_change_that_touched_no_deployment_was_judged_on_all_of_them(
        seeded: Sandbox) -> None:
    bus = EventBus(seeded.ws.store)
    tracker = DeploymentTracker(seeded.ws.store, bus)
    try:
        bus.publish("sync.finished", "flux", "config", revision="r3", hld_sha="d" * 40,
                    changed=["ConfigMap/app-config configured"], new_revision=True)
        bus.publish("analysis.started", "monitor", "running", hld_sha="d" * 40)
    finally:
        tracker.close()
    verdicts = seeded.service_verdicts()
    assert verdicts == {"*": {"verdict": "Running", "reason": "running", "pr": None,
                              "hld_sha": "d" * 40}}
