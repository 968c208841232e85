"""Scenario files are checked before anything runs: every mistake at its file and line,
and exit code 2 from the command."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from sandbox.scenario import ACTIONS, ScenarioFileError, cmd_scenario, load_file, load_text

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios"


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioFileError) as info:
        load_text(text, "s.yaml")
    return [str(p) for p in info.value.problems]


def run_cli(tmp_path: Path, *files: Path, json_out: bool = False) -> int:
    args = argparse.Namespace(files=[str(f) for f in files], json=json_out,
                              junit=str(tmp_path / "junit.xml"), keep_workspace=False)
    return cmd_scenario(args)


def test_the_library_loads_and_every_step_has_a_line() -> None:
    files = sorted(LIBRARY.glob("*.yaml"))
    assert {"bad-image-rollback.yaml", "scale-and-revert.yaml", "drift-correction.yaml",
            "broken-hld-blocked.yaml", "direct-push-rejected.yaml"} <= {f.name for f in files}
    for path in files:
        (scenario,) = load_file(path)
        assert scenario.name and scenario.description and scenario.steps, path
        assert scenario.settings.clock_speed == 600.0
        lines = [s.line for s in scenario.steps]
        assert lines == sorted(lines) and len(set(lines)) == len(lines), path


def test_shorthands_defaults_and_settings() -> None:
    (sc,) = load_text(
        "name: t\nsettings: {clock_speed: 20, failure_policy: partial, required_approvals: 2}\n"
        "steps:\n  - reconcile\n  - change: {branch: b, set: replicas=3}\n"
        "  - open_pr: {branch: b, as: mine}\n  - merge: $mine\n  - wait_deployed: Degraded\n",
        "s.yaml")
    assert (sc.settings.clock_speed, sc.settings.failure_policy,
            sc.settings.required_approvals) == (20.0, "partial", 2)
    reconcile, change, _, merge, wait = sc.steps
    assert reconcile.action == "reconcile" and reconcile.line == 4
    assert change.args["set"] == ["replicas=3"] and change.args["by"] == "operator"
    assert merge.args["pr"] == "$mine" and merge.line == 7
    assert wait.args == {"commit": "$merge", "expect_health": "Degraded",
                         "expect_verdict": "not-Failed"}


def test_unknown_steps_and_bad_arguments_name_their_lines() -> None:
    found = problems(
        "name: t\n"
        "steps:\n"
        "  - frobnicate: {x: 1}\n"                          # 3
        "  - approve: {as: alice}\n"                        # 4
        "  - scale:\n"                                      # 5
        "      target: web\n"                               # 6
        "      replicas: three\n"                           # 7
        "  - wait_checks: {expect: green}\n"                # 8
        "  - expect: {}\n"                                  # 9
        "  - merge: {pr: 1}\n    approve: {}\n"             # 10
        "  - wait_checks\n")                                # 12
    text = "\n".join(found)
    assert "s.yaml:3: step 1: unknown step 'frobnicate'" in text
    assert "s.yaml:4: step 2 (approve): unknown argument 'as' (the reviewer is 'by')" in text
    assert "s.yaml:7: step 3 (scale): 'replicas' must be a whole number" in text
    assert "target 'web': name it as KIND/NAME" in text
    assert "s.yaml:8: step 4 (wait_checks): 'expect' must be one of: success, failure" in text
    assert "s.yaml:9: step 5 (expect): expect names no condition" in text
    assert "s.yaml:10: step 6: a step is one action" in text
    # $pr defaults are checked too: wait_checks comes before any PR exists.
    assert "s.yaml:12: step 7 (wait_checks): $pr is not known yet" in text


def test_references_settings_and_top_level_keys() -> None:
    text = "\n".join(problems(
        "name: t\nsettings: {clock_speed: -1, colour: blue}\nimages: [{service: web}]\n"
        "stpes: []\nsteps:\n  - wait_deployed: {}\n  - merge: $fix\n"
        "  - commit_file: {branch: b, path: x}\n"))
    assert "s.yaml:2: setting clock_speed must be positive" in text
    assert "s.yaml:2: no setting 'colour'" in text
    assert "s.yaml:3: each image is {service: web, tag: 1.0.0, profile: fast}" in text
    assert "s.yaml:4: unknown key 'stpes'" in text
    assert "s.yaml:6: step 1 (wait_deployed): $merge is not known yet" in text
    assert "s.yaml:7: step 2 (merge): $fix is not known yet: a step with 'as: fix'" in text
    assert "s.yaml:8: step 3 (commit_file): give either 'content'" in text


def test_yaml_errors_and_empty_files() -> None:
    (msg,) = problems("name: t\nsteps:\n  - merge: {pr: 1\n  - approve\n")
    assert re.match(r"s\.yaml:\d+: not valid YAML: ", msg), msg
    assert problems("") == ["s.yaml: holds no scenario (the file is empty)"]
    assert "s.yaml:1: no 'steps'" in problems("name: t\n")[0]


def test_every_action_is_documented_in_the_readme() -> None:
    readme = (LIBRARY / "README.md").read_text()
    for name, act in ACTIONS.items():
        assert f"`{name}`" in readme, name
        for arg in act.args:
            assert f"`{arg}`" in readme, f"{name}.{arg}"


def test_invalid_files_exit_2_naming_file_and_line_before_running_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - reconcile\n  - teleport: {to: prod}\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nsteps: [\n")
    good = LIBRARY / "drift-correction.yaml"
    assert run_cli(tmp_path, good, bad, broken, tmp_path / "missing.yaml") == 2
    err = capsys.readouterr()
    assert f"{bad}:4: step 2: unknown step 'teleport'" in err.err
    assert f"{broken}:3: not valid YAML" in err.err
    assert f"{tmp_path / 'missing.yaml'}: file not found" in err.err
    assert "nothing was run" in err.err
    assert "scenario Drift correction" not in err.out  # the valid file did not run either
    import xml.etree.ElementTree as ET

    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert root.get("errors") == "3" and root.get("tests") == "3"
    messages = [e.get("message") for e in root.iter("error")]
    assert any("teleport" in (m or "") for m in messages)
