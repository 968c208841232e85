"""The TUI against a real workspace and engine, driven with Textual's Pilot."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import TabbedContent

from sandbox.facade import Sandbox
from tui.app import GitOpsApp
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.widgets.pipeline import STAGES, PipelineView

SIZE = (120, 40)


def test_starts_and_shows_every_stage(sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(sandbox, close_on_exit=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, what="first refresh")
            view = app.screen.query_one(PipelineView)
            titles = [view.stage(key).border_title for key, _ in STAGES]
            assert titles == [title for _, title in STAGES]
            main = sandbox.status()["hld"]["main"][:7]
            await wait_for(pilot, lambda: main in str(view.stage("hld").render()),
                           what="the HLD stage to show main's sha")
            assert "engine in this process" in app.sub_title

    asyncio.run(scenario())


def test_starts_the_engine_and_stops_it_on_exit(workspace: Path, wait_for) -> None:
    sb = Sandbox(workspace)

    async def scenario() -> None:
        app = GitOpsApp(sb)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "engine started" in app.sub_title,
                           what="the engine to start")
            assert sb.engine is not None
            await pilot.press("q")
        assert sb.engine is None

    try:
        asyncio.run(scenario())
    finally:
        sb.close()


def test_help_screen_opens_and_closes(idle_sandbox: Sandbox) -> None:
    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)

    asyncio.run(scenario())


def test_number_keys_switch_tabs(idle_sandbox: Sandbox) -> None:
    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            tabs = app.screen.query_one(TabbedContent)
            for key, tab in (("2", "prs"), ("3", "cluster"), ("4", "events"),
                             ("1", "pipeline")):
                await pilot.press(key)
                assert tabs.active == tab

    asyncio.run(scenario())
