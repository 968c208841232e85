"""Views in a hidden tab do no screen work: their content is kept and painted when the
tab shows (each paint of a hidden widget still asked Textual to lay out the whole
screen), and the footer is rebuilt only when the keys it shows change."""

from __future__ import annotations

import asyncio

from sandbox.events import Event
from tests.tui.bare import BareApp
from tui.messages import Snapshot
from tui.screens.main import MainScreen
from tui.widgets import eventlog
from tui.widgets.eventlog import EventLog
from tui.widgets.lazy import LeanFooter
from tui.widgets.pipeline import PipelineView

SIZE = (120, 40)



def _status(pending: int) -> dict[str, object]:
    return {"ci": {"pending_jobs": pending}}


def test_a_hidden_tab_paints_when_it_is_shown(wait_for, monkeypatch) -> None:
    monkeypatch.setattr(eventlog, "HIDDEN_FLUSH_SECONDS", 3600.0)  # only showing writes
    screen = MainScreen()

    async def scenario() -> None:
        app = BareApp(screen)
        async with app.run_test(size=SIZE) as pilot:
            log = screen.query_one(EventLog)
            ci = screen.query_one(PipelineView).stage("ci")
            screen.show(Snapshot(status=_status(0), prs=[]))
            await wait_for(pilot, lambda: "0 pending" in str(ci.render()), what="the CI box")
            await pilot.press("4", "1")  # the log has been on screen once, and is hidden
            await pilot.pause()
            shown = len(log.lines)
            # On the Pipeline tab, events reach the log's list at once, its lines later.
            screen.add_events([Event("image.pushed", "registry", f"web:{i} pushed", id=i)
                               for i in range(1, 4)])
            await pilot.pause()
            assert [e.id for e in log.events] == [1, 2, 3] and len(log.lines) == shown
            await pilot.press("4")
            await wait_for(pilot, lambda: len(log.lines) == shown + 3, what="the lines, shown")
            # Now the Pipeline tab is hidden: its boxes keep the news for later.
            screen.show(Snapshot(status=_status(2), prs=[]))
            await pilot.pause()
            assert "0 pending" in str(ci.render())
            await pilot.press("1")
            await wait_for(pilot, lambda: "2 pending" in str(ci.render()),
                           what="the CI box painted on show")

    asyncio.run(scenario())


def test_a_hidden_log_writes_its_lines_in_batches(wait_for, monkeypatch) -> None:
    """Hidden, the log still writes what came, a batch at a time (one layout a batch),
    so showing it later has little left to write."""
    monkeypatch.setattr(eventlog, "HIDDEN_FLUSH_SECONDS", 0.05)
    screen = MainScreen()

    async def scenario() -> None:
        app = BareApp(screen)
        async with app.run_test(size=SIZE) as pilot:
            log = screen.query_one(EventLog)
            await pilot.press("4", "1")
            await pilot.pause()
            shown = len(log.lines)
            writes: list[int] = []
            original = log._write_unwritten

            def counting() -> None:
                writes.append(len(log._unwritten))
                original()

            monkeypatch.setattr(log, "_write_unwritten", counting)
            for i in range(1, 201):
                screen.add_events([Event("image.pushed", "registry", f"web:{i}", id=i)])
            await wait_for(pilot, lambda: len(log.lines) == shown + 200,
                           what="the lines written while hidden")
            assert screen.current_tab == "pipeline"
            assert len([n for n in writes if n]) < 200  # batches, not one write each

    asyncio.run(scenario())


def test_the_footer_is_rebuilt_only_when_its_keys_change(wait_for) -> None:
    screen = MainScreen()

    async def scenario() -> None:
        app = BareApp(screen)
        async with app.run_test(size=SIZE) as pilot:
            footer = screen.query_one(LeanFooter)
            await wait_for(pilot, lambda: footer.recomposes >= 1, what="the first footer")
            await pilot.press("3")  # the Cluster table adds its keys (describe, scale...)
            await wait_for(pilot, lambda: "Describe" in " ".join(
                str(k.description) for k in footer.children), what="the cluster keys")
            built = footer.recomposes
            for key in ("4", "1", "4", "1"):  # the focus moves; the keys shown do not
                await pilot.press(key)
                await pilot.pause()
            assert footer.recomposes == built + 1  # once, on leaving the Cluster tab

    asyncio.run(scenario())


def test_the_hidden_pipeline_builds_nothing_and_draws_the_latest_on_show(
        wait_for, monkeypatch) -> None:
    screen = MainScreen()
    built: list[int] = []

    async def scenario() -> None:
        app = BareApp(screen)
        async with app.run_test(size=SIZE) as pilot:
            view = screen.query_one(PipelineView)
            ci = view.stage("ci")
            original = view._show

            def counting(snap: Snapshot) -> None:
                built.append(int(snap.status["ci"]["pending_jobs"]))  # type: ignore[index]
                original(snap)

            monkeypatch.setattr(view, "_show", counting)
            await pilot.press("3")
            await wait_for(pilot, lambda: screen.current_tab == "cluster", what="tab 3")
            for pending in range(1, 6):  # refreshes while another tab is on screen
                screen.show(Snapshot(status=_status(pending), prs=[]))
            await pilot.pause()
            assert built == []
            await pilot.press("1")
            await wait_for(pilot, lambda: "5 pending" in str(ci.render()),
                           what="the latest snapshot, drawn on show")
            assert built == [5]  # once, the latest only

    asyncio.run(scenario())
