"""Scenarios run end to end: every shipped scenario passes; a failing one stops at its
step with a clear report, exit code 1 and a JUnit failure; workspaces are cleaned up."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sandbox.scenario import cmd_scenario, load_file, load_text, run_scenario

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios"
SHIPPED = sorted(LIBRARY.glob("*.yaml"))

WRONG_HOPE = """\
name: A crash is not healthy
images:
  - {service: web, tag: 1.0.0, profile: fast}
  - {service: api, tag: 1.0.0, profile: fast}
steps:
  - push_image: {service: web, tag: 6.6.6, profile: crash}
  - wait_release: {service: web, tag: 6.6.6}
  - ship: {expect_health: Healthy}
  - expect: {health: Healthy}
"""


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_passes(path: Path, tmp_path: Path) -> None:
    for scenario in load_file(path):
        result = run_scenario(scenario, workdir=tmp_path)
        assert result.passed, f"{scenario.name}:\n{result.failure_details()}"
        assert [s.status for s in result.steps] == ["passed"] * len(scenario.steps)
    assert list(tmp_path.iterdir()) == []  # the temporary workspace is gone


def test_failing_scenario_reports_its_step_and_exits_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "wrong-hope.yaml"
    file.write_text(WRONG_HOPE)
    junit = tmp_path / "out" / "junit.xml"
    args = argparse.Namespace(files=[str(file)], junit=str(junit), json=True,
                              keep_workspace=False)
    assert cmd_scenario(args) == 1
    out = capsys.readouterr()
    # Progress on stderr, the machine-readable result alone on stdout.
    assert "[3/4] ship #1 -> Healthy ... FAILED" in out.err
    assert f"at {file}:8 (step 3, ship)" in out.err
    assert "expected: health Healthy" in out.err
    assert "seen:     health Degraded" in out.err
    assert "1 scenario(s): 0 passed, 1 failed" in out.err
    data = json.loads(out.out)
    assert data["passed"] is False and data["counts"]["failed"] == 1
    (result,) = data["files"][0]["scenarios"]
    assert result["status"] == "failed"
    assert [s["status"] for s in result["steps"]] == ["passed", "passed", "failed", "skipped"]
    assert result["steps"][2]["line"] == 8 and "Degraded" in result["steps"][2]["seen"]

    suites = ET.parse(junit).getroot()
    assert suites.tag == "testsuites" and suites.get("failures") == "1"
    (suite,) = suites.findall("testsuite")
    assert suite.get("name") == str(file) and suite.get("tests") == "1"
    (case,) = suite.findall("testcase")
    assert case.get("name") == "A crash is not healthy"
    failure = case.find("failure")
    assert failure is not None
    assert f"step 3 ({file}:8) ship" in (failure.get("message") or "")
    assert "expected: health Healthy" in (failure.text or "")
    assert "Degraded" in (failure.text or "")
    out_text = case.findtext("system-out") or ""
    assert "[2/4] wait_release web:6.6.6 ... ok" in out_text


def test_refusals_are_judged_and_a_missing_refusal_fails(tmp_path: Path) -> None:
    (scenario,) = load_text(
        "name: refusals\n"
        "steps:\n"
        "  - change: {branch: b, set: replicas=3, subcomponent: web}\n"
        "  - open_pr: {branch: b}\n"
        "  - merge: {expect_error: approval}\n"        # no review yet: refused
        "  - wait_checks\n"
        "  - approve: {by: operator, expect_error: cannot approve}\n"  # not your own
        "  - approve\n"
        "  - merge: {expect_error: approval}\n",      # line 9: now it merges
        "refusals.yaml")
    result = run_scenario(scenario, workdir=tmp_path)
    assert result.status == "failed"
    step = result.failed_step
    assert step is not None and (step.index, step.line) == (7, 9)
    assert "succeeded" in step.message and step.expected == "refused with 'approval'"
    assert [s.status for s in result.steps[:6]] == ["passed"] * 6
