"""The Scenarios tab: the shipped library is listed, `enter` runs one in its own
throw-away workspace with progress streamed in, `esc` stops one, and only one runs."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import tui.widgets.scenarios as scenarios_widget
from sandbox.facade import Sandbox
from tui.app import GitOpsApp
from tui.widgets.scenarios import LIBRARY, ScenarioPanel, ScenarioTable
from tui.widgets.tables import selected_key

SIZE = (120, 40)


def _notified(app: GitOpsApp, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


async def _pick(pilot, panel: ScenarioPanel, file: str, wait_for) -> None:  # type: ignore[no-untyped-def]
    table = panel.query_one(ScenarioTable)
    await wait_for(pilot, lambda: table.row_count > 0, what="the scenario list")
    keys = [str(k.value) for k in table.rows]
    await pilot.press(*["down"] * keys.index(f"{file}#0"))
    await wait_for(pilot, lambda: selected_key(table) == f"{file}#0",
                   what=f"{file} selected")
    assert panel.selected is not None


def test_lists_the_library_and_runs_one_to_passed(idle_sandbox: Sandbox, wait_for) -> None:
    shipped = sorted(p.name for p in LIBRARY.glob("*.yaml"))
    assert "drift-correction.yaml" in shipped

    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await wait_for(pilot, lambda: app.main_screen.current_tab == "scenarios",
                           what="the Scenarios tab")
            panel = app.main_screen.query_one(ScenarioPanel)
            table = panel.query_one(ScenarioTable)
            await wait_for(pilot, lambda: table.row_count == len(shipped), what="the list")
            assert sorted(str(k.value).split("#")[0] for k in table.rows) == shipped
            names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
            assert "Drift correction" in names

            await _pick(pilot, panel, "drift-correction.yaml", wait_for)
            await pilot.press("enter")
            # A scenario runs in about a second at 600x, and Pilot's pauses wait for the
            # app to go idle, so "running" may never be seen: wait for the result instead.
            await wait_for(pilot, lambda: panel.last_result is not None, timeout=60,
                           what="the scenario to finish")
            result = panel.last_result
            assert result is not None and result.passed, result.failure_details()
            status = panel.query_one("#scenario-status").content
            assert str(status).startswith("PASSED Drift correction")
            assert status.spans[0].style == "bold green"  # type: ignore[attr-defined]
            log = "\n".join(line.text for line in panel.query_one("#scenario-log").lines)
            assert "[1/8]" in log and "set-up" in log and "PASSED" in log
            assert not app.scenario_running
            # One at a time: while one runs (held open here), enter only warns.
            app._scenario_stop = threading.Event()
            await pilot.press("enter")
            await wait_for(pilot, lambda: _notified(app, "one at a time"),
                           what="the one-at-a-time warning")
            app._scenario_stop = None
            # The TUI's own workspace saw none of it.
            assert not any(e.kind == "cluster.edited" for e in idle_sandbox.events())

    asyncio.run(scenario())


def test_esc_stops_a_running_scenario(idle_sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await wait_for(pilot, lambda: app.main_screen.current_tab == "scenarios",
                           what="the Scenarios tab")
            panel = app.main_screen.query_one(ScenarioPanel)
            await _pick(pilot, panel, "bad-image-rollback.yaml", wait_for)
            await pilot.press("enter", "escape")
            await wait_for(pilot, lambda: panel.last_result is not None, timeout=60,
                           what="the stopped scenario to end")
            result = panel.last_result
            assert result is not None and not result.passed
            assert any(s.status == "skipped" for s in result.steps) or result.error

    asyncio.run(scenario())


def test_command_mode_runs_a_scenario_by_name(idle_sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            app.run_command("scenario no-such-thing")
            await wait_for(pilot, lambda: _notified(app, "no scenario 'no-such-thing'"),
                           what="the unknown-scenario note")
            await wait_for(pilot, lambda: app.main_screen.current_tab == "scenarios",
                           what="the Scenarios tab")
            app.run_command("scenario Direct push rejected")
            panel = app.main_screen.query_one(ScenarioPanel)
            await wait_for(pilot, lambda: panel.last_result is not None, timeout=60,
                           what="the scenario to finish")
            assert panel.last_result is not None and panel.last_result.passed

    asyncio.run(scenario())


def test_missing_library_shows_a_hint(idle_sandbox: Sandbox, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, wait_for) -> None:
    monkeypatch.setattr(scenarios_widget, "LIBRARY", tmp_path / "nowhere")

    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            panel = app.main_screen.query_one(ScenarioPanel)
            hint = panel.query_one("#scenario-hint")
            await wait_for(pilot, lambda: "no scenarios folder" in str(hint.content),
                           what="the hint")
            assert panel.query_one(ScenarioTable).row_count == 0

    asyncio.run(scenario())
