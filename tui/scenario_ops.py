"""Running a scenario from the TUI: one at a time, in a thread worker, with progress lines
streamed to the Scenarios tab and a stop event behind `esc`."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.text import Text

import sandbox.scenario as scenario_api

from .messages import ScenarioDone, ScenarioLine
from .widgets.scenarios import ScenarioPanel

if TYPE_CHECKING:
    from .app import GitOpsApp


class PanelReporter:
    """The runner's Reporter, writing into the panel; called on the worker's thread, so it
    only posts messages (thread-safe, and never blocks the runner at exit)."""

    def __init__(self, panel: ScenarioPanel) -> None:
        self.panel = panel
        self.total = 0

    def _say(self, *parts: str | tuple[str, str]) -> None:
        self.panel.post_message(ScenarioLine(Text.assemble(*parts)))

    def scenario_started(self, scenario: scenario_api.Scenario) -> None:
        self.total = len(scenario.steps)
        self._say(("scenario ", "dim"), (scenario.name, "bold"), (f"  ({scenario.file})", "dim"))

    def setup_finished(self, scenario: scenario_api.Scenario, text: str, ok: bool,
                       seconds: float) -> None:
        self._say(f"  [0/{self.total}] set-up: {text} ... ",
                  ("ok", "green") if ok else ("FAILED", "bold red"), f" ({seconds:.1f}s)")

    def step_started(self, scenario: scenario_api.Scenario, step: scenario_api.Step,
                     text: str) -> None:
        self._say(f"  [{step.index}/{self.total}] ", (text, "bold"), (" …", "dim"))

    def step_finished(self, scenario: scenario_api.Scenario,
                      result: scenario_api.StepResult) -> None:
        if result.status == "passed":
            self._say("        ", ("ok", "green"), f" ({result.seconds:.1f}s) ",
                      (result.detail, "dim"))
            return
        self._say("        ", ("FAILED", "bold red"), f" ({result.seconds:.1f}s) ",
                  (result.message, "red"))
        for label, value in (("expected", result.expected), ("seen", result.seen)):
            if value:
                self._say(f"        {label}: ", (value, "red"))

    def scenario_finished(self, result: scenario_api.ScenarioResult) -> None:
        pass  # the panel writes the verdict when ScenarioDone arrives


class ScenarioOperations:
    """Mixed into the app; `self` is the GitOpsApp."""

    _scenario_stop: threading.Event | None = None

    @property
    def scenario_panel(self: GitOpsApp) -> ScenarioPanel:
        return self.main_screen.query_one(ScenarioPanel)

    @property
    def scenario_running(self) -> bool:
        return self._scenario_stop is not None

    def run_scenario_named(self: GitOpsApp, name: str) -> None:
        self.main_screen.action_show_tab("scenarios")
        scenario = self.scenario_panel.find(name)
        if scenario is None:
            known = ", ".join(sorted({k.split("#")[0].rsplit(".", 1)[0]
                                      for k in self.scenario_panel.scenarios}))
            self.notify(f"no scenario {name!r}; try one of: {known or '(none found)'}",
                        severity="warning")
            return
        self.run_scenario(scenario)

    def run_scenario(self: GitOpsApp, scenario: scenario_api.Scenario) -> None:
        if self._scenario_stop is not None:
            self.notify(f"{self.scenario_panel.running} is still running: one at a time "
                        "(esc stops it)", severity="warning")
            return
        stop = threading.Event()
        self._scenario_stop = stop
        panel = self.scenario_panel
        panel.started(scenario)

        def job() -> None:
            result: scenario_api.ScenarioResult | None = None
            try:
                result = scenario_api.run_scenario(scenario, PanelReporter(panel), stop)
            except Exception as exc:  # noqa: BLE001 - the runner's own bug, shown not raised
                panel.post_message(ScenarioLine(Text(f"could not run: {exc}", style="bold red")))
            finally:
                self._scenario_stop = None
                panel.post_message(ScenarioDone(result))

        self.run_worker(job, thread=True, group="scenario", description=scenario.name,
                        exit_on_error=False)

    def action_stop_scenario(self: GitOpsApp) -> None:
        stop = self._scenario_stop
        if stop is None:
            self.notify("no scenario is running", timeout=2)
            return
        stop.set()
        self.notify("stopping the scenario after its current step", timeout=3)

    def stop_scenario_quietly(self) -> None:
        """At exit: the runner cleans up its workspace once it sees the stop event."""
        if self._scenario_stop is not None:
            self._scenario_stop.set()
