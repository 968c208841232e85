"""What a run tells people and machines: progress lines, a summary, a JSON result and
JUnit XML (one testsuite per file, one testcase per scenario) for CI dashboards.
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .model import Problem, Scenario, ScenarioResult, Step, StepResult


@dataclass
class FileOutcome:
    """A scenario file: the results of its scenarios, or why it could not be loaded."""

    file: str
    results: list[ScenarioResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class TextReporter:
    """`[3/9] merge #1 ... ok (0.4s)`; each line is flushed, so CI logs show progress."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._total = 0
        self._log: list[str] = []

    def _write(self, text: str, end: str = "\n") -> None:
        self._log.append(text + ("" if end == "" else "\n"))
        self.out.write(text + end)
        self.out.flush()

    def take_log(self) -> str:
        """What was printed for the last scenario (JUnit's system-out)."""
        text, self._log = "".join(self._log), []
        return text

    def scenario_started(self, scenario: Scenario) -> None:
        self._total = len(scenario.steps)
        self._write(f"scenario {scenario.name} ({scenario.file})")

    def setup_finished(self, scenario: Scenario, text: str, ok: bool, seconds: float) -> None:
        word = "ok" if ok else "FAILED"
        self._write(f"  [0/{self._total}] set-up: {text} ... {word} ({seconds:.1f}s)")

    def step_started(self, scenario: Scenario, step: Step, text: str) -> None:
        self._write(f"  [{step.index}/{self._total}] {text} ... ", end="")

    def step_finished(self, scenario: Scenario, result: StepResult) -> None:
        if result.status == "passed":
            detail = result.detail if len(result.detail) <= 70 else result.detail[:67] + "..."
            note = f" {detail}" if detail else ""
            self._write(f"ok ({result.seconds:.1f}s){note}")
            return
        self._write(f"FAILED ({result.seconds:.1f}s)")
        self._write(f"      at {scenario.file}:{result.line} (step {result.index}, "
                    f"{result.action}): {result.message}")
        if result.expected:
            self._write(f"      expected: {result.expected}")
        if result.seen:
            self._write(f"      seen:     {result.seen}")

    def scenario_finished(self, result: ScenarioResult) -> None:
        word = {"passed": "PASSED", "failed": "FAILED", "error": "ERROR"}[result.status]
        skipped = sum(1 for s in result.steps if s.status == "skipped")
        more = f", {skipped} step(s) skipped" if skipped else ""
        self._write(f"  {word} {result.name} in {result.seconds:.1f}s{more}")
        if result.error:
            self._write(f"      {result.error}")
        if result.recent_events and not result.passed:
            self._write("      recent events:")
            for line in result.recent_events[-8:]:
                self._write(f"        {line}")
        if result.workspace:
            self._write(f"      workspace kept at {result.workspace}")


def summary_line(outcomes: list[FileOutcome], seconds: float) -> str:
    results = [r for o in outcomes for r in o.results]
    passed = sum(1 for r in results if r.passed)
    failed = len(results) - passed
    text = f"{len(results)} scenario(s): {passed} passed, {failed} failed in {seconds:.1f}s"
    invalid = sum(1 for o in outcomes if o.problems)
    return text + (f"; {invalid} invalid file(s)" if invalid else "")


def to_json(outcomes: list[FileOutcome], seconds: float) -> dict[str, Any]:
    results = [r for o in outcomes for r in o.results]
    invalid = [o for o in outcomes if o.problems]
    return {
        "passed": not invalid and all(r.passed for r in results),
        "seconds": round(seconds, 3),
        "counts": {"scenarios": len(results), "passed": sum(1 for r in results if r.passed),
                   "failed": sum(1 for r in results if not r.passed),
                   "invalid_files": len(invalid)},
        "files": [{"file": o.file,
                   "problems": [{"line": p.line, "message": p.message} for p in o.problems],
                   "scenarios": [r.to_dict() for r in o.results]} for o in outcomes],
    }


def write_junit(path: Path, outcomes: list[FileOutcome], seconds: float,
                logs: dict[int, str] | None = None) -> None:
    """JUnit XML as Jenkins, GitLab and GitHub reporters read it."""
    logs = logs or {}
    root = ET.Element("testsuites", name="gitops-sandbox scenarios", time=f"{seconds:.3f}")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for outcome in outcomes:
        suite = ET.SubElement(root, "testsuite", name=outcome.file, timestamp=stamp,
                              hostname=socket.gethostname())
        counts = {"tests": 0, "failures": 0, "errors": 0}
        suite_time = 0.0
        classname = Path(outcome.file).stem
        if outcome.problems:
            counts["tests"] += 1
            counts["errors"] += 1
            case = ET.SubElement(suite, "testcase", classname=classname, name="(load)",
                                 file=outcome.file, time="0")
            error = ET.SubElement(case, "error", type="InvalidScenario",
                                  message=str(outcome.problems[0]))
            error.text = "\n".join(str(p) for p in outcome.problems)
        for result in outcome.results:
            counts["tests"] += 1
            suite_time += result.seconds
            case = ET.SubElement(suite, "testcase", classname=classname, name=result.name,
                                 file=result.file, line=str(result.line),
                                 time=f"{result.seconds:.3f}")
            if result.status == "failed":
                counts["failures"] += 1
                node = ET.SubElement(case, "failure", type="ScenarioStepFailed",
                                     message=result.failure_summary())
                node.text = result.failure_details()
            elif result.status == "error":
                counts["errors"] += 1
                node = ET.SubElement(case, "error", type="ScenarioSetupFailed",
                                     message=result.failure_summary())
                node.text = result.failure_details()
            log = logs.get(id(result))
            if log:
                ET.SubElement(case, "system-out").text = log
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{suite_time:.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
