"""Scenarios: YAML files that rehearse an incident headlessly (a bad image and its
revert, drift, a broken HLD, a push that bypasses review), for teams practising
rollbacks and for CI. `scenarios/README.md` documents the format.

    gitops-sandbox scenario run FILE_OR_FOLDER ... [--junit PATH] [--json]

Exit codes: 0 every scenario passed, 1 one failed, 2 a file is invalid (nothing runs
then: every file is checked first, so a typo in the last one costs no run time).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from .actions import ACTIONS, Action, Arg
from .loader import load_file, load_text
from .model import (
    Problem,
    Scenario,
    ScenarioFileError,
    ScenarioResult,
    Step,
    StepResult,
    display_path,
)
from .report import FileOutcome, TextReporter, summary_line, to_json, write_junit
from .runner import QuietReporter, Reporter, run_scenario

__all__ = [
    "ACTIONS", "Action", "Arg", "FileOutcome", "Problem", "QuietReporter", "Reporter",
    "Scenario", "ScenarioFileError", "ScenarioResult", "Step", "StepResult", "cmd_scenario",
    "collect_files", "load_file", "load_text", "run_files", "run_scenario",
]

EXIT_PASSED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def collect_files(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for its *.yaml and *.yml files, in name order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir()
                              if p.suffix in (".yaml", ".yml") and p.is_file()))
        else:
            out.append(path)
    return out


def load_all(paths: list[Path]) -> tuple[list[tuple[Path, list[Scenario]]], list[FileOutcome]]:
    loaded: list[tuple[Path, list[Scenario]]] = []
    invalid: list[FileOutcome] = []
    for path in collect_files(paths):
        try:
            loaded.append((path, load_file(path)))
        except ScenarioFileError as exc:
            invalid.append(FileOutcome(display_path(path), problems=exc.problems))
    return loaded, invalid


def run_files(loaded: list[tuple[Path, list[Scenario]]], reporter: Reporter | None = None,
              stop: threading.Event | None = None, keep_workspace: bool = False
              ) -> list[FileOutcome]:
    outcomes: list[FileOutcome] = []
    for path, scenarios in loaded:
        outcome = FileOutcome(display_path(path))
        for scenario in scenarios:
            if stop is not None and stop.is_set():
                break
            outcome.results.append(run_scenario(scenario, reporter, stop, keep_workspace))
        outcomes.append(outcome)
    return outcomes


def cmd_scenario(args: argparse.Namespace) -> int:
    """`gitops-sandbox scenario run`: args.files, args.junit, args.json, args.keep_workspace."""
    started = time.monotonic()
    files = [Path(f) for f in args.files]
    as_json = bool(getattr(args, "json", False))
    junit = Path(args.junit) if getattr(args, "junit", None) else None
    # With --json stdout carries only the result; progress still shows, on stderr.
    progress = sys.stderr if as_json else sys.stdout
    loaded, invalid = load_all(files)
    if invalid:
        for outcome in invalid:
            for problem in outcome.problems:
                print(f"error: {problem}", file=sys.stderr)
        print(f"{len(invalid)} invalid scenario file(s); nothing was run", file=sys.stderr)
        _finish(invalid, time.monotonic() - started, as_json, junit, {})
        return EXIT_INVALID
    reporter = _LoggingReporter(progress)
    try:
        outcomes = run_files(loaded, reporter,
                             keep_workspace=bool(getattr(args, "keep_workspace", False)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    seconds = time.monotonic() - started
    print(summary_line(outcomes, seconds), file=progress, flush=True)
    _finish(outcomes, seconds, as_json, junit, reporter.logs)
    passed = all(r.passed for o in outcomes for r in o.results)
    return EXIT_PASSED if passed else EXIT_FAILED


def _finish(outcomes: list[FileOutcome], seconds: float, as_json: bool, junit: Path | None,
            logs: dict[int, str]) -> None:
    if as_json:
        print(json.dumps(to_json(outcomes, seconds), indent=2))
    if junit is not None:
        write_junit(junit, outcomes, seconds, logs)


class _LoggingReporter(TextReporter):
    """Keeps each scenario's printed lines for JUnit's system-out."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self.logs: dict[int, str] = {}

    def scenario_finished(self, result: ScenarioResult) -> None:
        super().scenario_finished(result)
        self.logs[id(result)] = self.take_log()
