"""The facade functions behind the TUI's Metrics tab and verdict column (issue 12 point
5), on a fixed history (tests/tui/seed_metrics.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.facade import Sandbox
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
