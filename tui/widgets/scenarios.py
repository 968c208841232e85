"""The Scenarios tab: the project's incident rehearsals, and the progress of the one that
runs. Each runs in a throw-away workspace with its own engine, never the TUI's."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, RichLog, Static

import sandbox.scenario as scenario_api

from ..keys import SCENARIOS
from ..messages import ScenarioDone, ScenarioLine
from .tables import selected_key, sync_rows

# The repository's own library; an installed wheel has none, hence the hint when missing.
LIBRARY = Path(scenario_api.__file__).resolve().parents[2] / "scenarios"
RESULT_STYLE = {"passed": "bold green", "failed": "bold red", "error": "bold red"}
DESCRIPTION_WIDTH = 70  # the table stays within a 120-column terminal, no side scrolling


def _norm(text: str) -> str:
    return re.sub(r"[\s_-]+", "-", text.strip().lower())


class ScenarioTable(DataTable[Any]):
    BINDINGS = SCENARIOS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    def on_mount(self) -> None:
        self.add_columns("NAME", "FILE", "STEPS", "DESCRIPTION")


class ScenarioPanel(Vertical):
    def __init__(self, folder: Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.folder = folder or LIBRARY
        self.scenarios: dict[str, scenario_api.Scenario] = {}
        self.running: str | None = None
        self.last_result: scenario_api.ScenarioResult | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="scenario-hint", classes="dim")
        yield ScenarioTable(id="scenario-table")
        yield Static(Text("enter runs the selected scenario; esc stops it", style="dim"),
                     id="scenario-status")
        log = RichLog(id="scenario-log", wrap=False, markup=False, max_lines=2000)
        log.border_title = "Progress"
        yield log

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        """Read every scenario file; a broken one is listed with its first problem, so a
        typo is visible here rather than a silently shorter list."""
        hint = self.query_one("#scenario-hint", Static)
        if not self.folder.is_dir():
            hint.update(Text(f"no scenarios folder at {self.folder}: scenarios ship with the "
                             "repository (gitops-sandbox scenario run FILE runs any file)",
                             style="yellow"))
            return
        hint.update(Text(f"{self.folder}  ·  each runs in a fresh temporary workspace",
                         style="dim"))
        rows: list[tuple[str, tuple[Any, ...]]] = []
        self.scenarios = {}
        for path in scenario_api.collect_files([self.folder]):
            try:
                loaded = scenario_api.load_file(path)
            except scenario_api.ScenarioFileError as exc:
                first = str(exc.problems[0]) if exc.problems else str(exc)
                rows.append((f"{path.name}#invalid", (
                    Text(path.stem, style="red"), path.name, "-",
                    Text(f"invalid: {first}", style="red"))))
                continue
            for i, scenario in enumerate(loaded):
                key = f"{path.name}#{i}"
                self.scenarios[key] = scenario
                description = " ".join(scenario.description.split())
                if len(description) > DESCRIPTION_WIDTH:
                    description = description[:DESCRIPTION_WIDTH - 1] + "…"
                rows.append((key, (scenario.name, path.name, str(len(scenario.steps)),
                                   description)))
        sync_rows(self.query_one(ScenarioTable), rows)

    @property
    def selected(self) -> scenario_api.Scenario | None:
        key = selected_key(self.query_one(ScenarioTable))
        return self.scenarios.get(key) if key else None

    def find(self, name: str) -> scenario_api.Scenario | None:
        """By file name (with or without .yaml) or by the scenario's name."""
        want = _norm(name.removesuffix(".yaml").removesuffix(".yml"))
        for key, scenario in self.scenarios.items():
            stem = key.split("#")[0].rsplit(".", 1)[0]
            if want in (_norm(stem), _norm(scenario.name)):
                return scenario
        return None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        scenario = self.scenarios.get(str(event.row_key.value))
        if scenario is None:
            self.notify("this file is invalid: fix it and reopen the TUI", severity="warning")
            return
        self.app.run_scenario(scenario)  # type: ignore[attr-defined]

    # -- progress, from the worker thread via messages ------------------------------
    def started(self, scenario: scenario_api.Scenario) -> None:
        self.running = scenario.name
        self.last_result = None
        self.query_one("#scenario-log", RichLog).clear()
        self.query_one("#scenario-status", Static).update(
            Text.assemble(("running ", "bold yellow"), (scenario.name, "bold"),
                          ("  (esc stops it after the current step)", "dim")))

    def on_scenario_line(self, message: ScenarioLine) -> None:
        message.stop()
        self.query_one("#scenario-log", RichLog).write(message.line)

    def on_scenario_done(self, message: ScenarioDone) -> None:
        message.stop()
        self.running = None
        result = message.result
        self.last_result = result
        status = self.query_one("#scenario-status", Static)
        log = self.query_one("#scenario-log", RichLog)
        if result is None:
            status.update(Text("the scenario could not run: see the log", style="bold red"))
            return
        skipped = sum(1 for s in result.steps if s.status == "skipped")
        word = Text(result.status.upper(), style=RESULT_STYLE.get(result.status, "bold"))
        line = Text.assemble(word, f" {result.name} in {result.seconds:.1f}s",
                             (f", {skipped} step(s) skipped" if skipped else "", "dim"))
        log.write(line)
        if not result.passed:
            for detail in result.failure_details().splitlines():
                log.write(Text(f"  {detail}", style="red"))
        status.update(line)
