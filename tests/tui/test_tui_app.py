"""The TUI against a real workspace and engine, driven with Textual's Pilot."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from textual.widgets import TabbedContent

from sandbox.events import Event
from sandbox.facade import Sandbox
from tests.tui.bare import BareApp
from tui.app import GitOpsApp
from tui.messages import Snapshot
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.widgets.cluster import ClusterTable
from tui.widgets.eventlog import EventLog, RecentEvents
from tui.widgets.pipeline import STAGES, PipelineView
from tui.widgets.prlist import PullRequestTable

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


def test_starts_the_engine_in_a_child_process_and_stops_it_on_exit(
        workspace: Path, wait_for) -> None:
    """No engine runs: the TUI starts `up` in its own process (not in the UI's
    interpreter), shows it, and stops it on quit."""
    sb = Sandbox(workspace)

    async def scenario() -> None:
        app = GitOpsApp(sb)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "engine started" in app.sub_title,
                           what="the engine to start")
            child = app.engine_process
            assert child is not None and child.running()
            assert sb.engine is None  # not in this process
            assert sb.engine_pid() == child.pid
            await wait_for(pilot, lambda: app.main_screen.query_one(ClusterTable).row_count > 0,
                           what="the child engine's cluster in the table")
            await pilot.press("q")
        assert not child.running()
        assert child.proc.returncode == 0  # a clean stop, as Ctrl-C on `up` gives
        assert not sb.engine_running()

    try:
        asyncio.run(scenario())
    finally:
        if sb.engine_running():
            os.kill(sb.engine_pid() or 0, signal.SIGKILL)
        sb.close()


def test_says_so_when_the_engine_it_started_dies(workspace: Path, wait_for) -> None:
    sb = Sandbox(workspace)

    async def scenario() -> None:
        app = GitOpsApp(sb)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.engine_process is not None,
                           what="the engine to start")
            assert app.engine_process is not None
            os.kill(app.engine_process.pid, signal.SIGKILL)
            await wait_for(pilot, lambda: "the engine stopped" in app.sub_title,
                           what="the header to say the engine stopped")
            # notify() posts a message: the toast is listed once the app has handled it.
            await wait_for(pilot, lambda: any("has stopped" in str(n.message)
                                              for n in app._notifications),
                           what="a notification that the engine has stopped")

    try:
        asyncio.run(scenario())
    finally:
        sb.close()


def test_attaches_to_a_running_engine_and_leaves_it_running(
        workspace: Path, wait_for) -> None:
    sb = Sandbox(workspace)
    other = sb.spawn_engine()  # as `gitops-sandbox up` in another terminal

    async def scenario() -> None:
        app = GitOpsApp(sb)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: f"attached to engine pid {other.pid}" in app.sub_title,
                           what="the TUI to attach")
            assert app.engine_process is None
            await pilot.press("q")

    try:
        asyncio.run(scenario())
        assert other.running()
        assert sb.engine_pid() == other.pid
    finally:
        other.stop()


def test_help_screen_opens_and_closes(idle_sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen),
                           what="the main screen back")

    asyncio.run(scenario())


def test_number_keys_switch_tabs(idle_sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            tabs = app.screen.query_one(TabbedContent)
            for key, tab in (("2", "prs"), ("3", "cluster"), ("4", "events"),
                             ("1", "pipeline")):
                await pilot.press(key)
                await wait_for(pilot, lambda tab=tab: tabs.active == tab,  # type: ignore[misc]
                               what=f"tab {tab} after {key}")

    asyncio.run(scenario())



def test_data_before_mount_or_after_teardown_neither_crashes_nor_is_lost(wait_for) -> None:
    """Snapshots and events reach the main screen from threads from the first moment:
    before its tabs are mounted and while they are torn down at exit."""
    snap = Snapshot(status={}, prs=[])
    early = Event("image.pushed", "registry", "web:9.9.9 pushed", id=1)
    screen = MainScreen()
    screen.show(snap)
    screen.add_event(early)  # before mount: kept, not dropped

    async def scenario() -> None:
        app = BareApp(screen)
        async with app.run_test(size=SIZE) as pilot:
            log = screen.query_one(EventLog)
            await wait_for(pilot, lambda: [e.id for e in log.events] == [1],
                           what="the early event in the log")
            recent = screen.query_one(RecentEvents)
            # What came before the box showed is drawn in the frame after it shows.
            await wait_for(pilot, lambda: "image.pushed" in str(recent.content),
                           what="the early event in the recent-events box")
            # Tabs go away one by one at exit; a snapshot in between paints nothing.
            await screen.query_one(PullRequestTable).remove()
            screen.show(snap)
            await screen.query_one(EventLog).remove()
            screen.add_event(Event("image.pushed", "registry", "again", id=2))
            assert [e.id for e in recent.events] == [1]

    asyncio.run(scenario())
