"""The Cluster table draws only what changed, as k9s does: a changed row redraws that row's
line alone, a row out of sight is not drawn at all, an inserted row redraws no other row,
an AGE is worked out again only when its text changes, and the cluster's changes are
read and turned into cells off the UI thread. These count work; they never time it."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region

from sandbox.clusterfollow import ClusterChanges, JournalFollower
from sandbox.events import Event
from sandbox.facade import Sandbox
from tui import app as tui_app
from tui.app import GitOpsApp
from tui.messages import SnapshotReady
from tui.widgets.cluster import ClusterRows, ClusterTable, RowsDelta
from tui.widgets.eventlog import EventLog

T0 = 1_700_000_000.0


def _row(i: int, status: str = "Running", ready: str = "1/1") -> tuple[Any, ...]:
    return ("Pod", "demo", f"web-{i:02d}", ready, Text(status), "web:1.0.0", f"{i}s")


def _cells(n: int) -> dict[str, tuple[Any, ...]]:
    return {f"Pod/demo/web-{i:02d}": _row(i) for i in range(n)}


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ClusterTable()


def _screen_text(table: ClusterTable) -> str:
    lines = table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return "\n".join(line.text for line in lines)


def test_a_changed_row_redraws_its_own_line_only() -> None:
    async def scenario() -> None:
        app = TableApp()
        async with app.run_test(size=(100, 12)) as pilot:
            table = app.query_one(ClusterTable)
            table.apply(RowsDelta(cells=_cells(40), full=True))
            await pilot.pause()
            assert "web-05" in _screen_text(table)
            drawn, composed = Counter(table.rows_drawn), table.lines_composed
            table.apply(RowsDelta(cells={"Pod/demo/web-05": _row(5, "Failed")}))
            await pilot.pause()
            # The row was drawn again once, and only its line was composed on screen.
            assert table.rows_drawn - drawn == Counter({"Pod/demo/web-05": 1})
            assert table.lines_composed - composed == 1
            assert table.cell_updates == 1
            assert "Failed" in _screen_text(table)

            # A row out of sight changes: nothing is drawn until it scrolls into view.
            drawn, composed = Counter(table.rows_drawn), table.lines_composed
            table.apply(RowsDelta(cells={"Pod/demo/web-35": _row(35, "Pending", "0/1")}))
            await pilot.pause()
            assert table.rows_drawn == drawn and table.lines_composed == composed
            await pilot.press("end")
            await pilot.pause()
            assert table.rows_drawn["Pod/demo/web-35"] == 1  # first drawn now, as it is
            assert "Pending" in _screen_text(table)

            # The same cells again: no change at all.
            drawn = Counter(table.rows_drawn)
            table.apply(RowsDelta(cells={"Pod/demo/web-35": _row(35, "Pending", "0/1")}))
            await pilot.pause()
            assert table.rows_drawn == drawn and table.cell_updates == 1 + 2  # as above
            assert table.rebuilds == 1

    asyncio.run(scenario())


def test_rows_that_come_and_go_redraw_no_other_row() -> None:
    """A rollout adds and removes pods all the time: the rows around them move on screen
    but are not drawn again; the cursor stays on its object."""
    async def scenario() -> None:
        app = TableApp()
        async with app.run_test(size=(100, 12)) as pilot:
            table = app.query_one(ClusterTable)
            table.focus()
            table.apply(RowsDelta(cells=_cells(40), full=True))
            await pilot.press("down", "down", "down")
            assert table.selected_key == "Pod/demo/web-03"
            drawn = Counter(table.rows_drawn)
            # (a name as wide as the others: a wider one would widen the column and
            # redraw every row, rightly)
            table.apply(RowsDelta(cells={"Pod/demo/web-0a": ("Pod", "demo", "web-0a", "0/1",
                                                             Text("Pending"), "web:1.0.0",
                                                             "1s")},
                                  removed=["Pod/demo/web-00"]))
            await pilot.pause()
            assert table.rows_drawn - drawn == Counter({"Pod/demo/web-0a": 1})
            assert table.selected_key == "Pod/demo/web-03"
            assert table.ordered_keys[8:10] == ["Pod/demo/web-09", "Pod/demo/web-0a"]
            assert "web-0a" in _screen_text(table)
            assert "web-00" not in _screen_text(table)
            assert table.rebuilds == 1

    asyncio.run(scenario())


def _pod(name: str, created: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(created, tz=UTC).isoformat().replace("+00:00", "Z")
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "demo",
                                         "creationTimestamp": stamp},
            "spec": {"containers": [{"name": "app", "image": "web:1.0.0"}]},
            "status": {"phase": "Running",
                       "containerStatuses": [{"ready": True, "state": {"running": {}}}]}}


def test_an_age_tick_works_out_only_the_ages_whose_text_changes() -> None:
    rows = ClusterRows()
    young, old = _pod("young", T0 - 30), _pod("old", T0 - 630)  # 30s and 10m
    delta = rows.update(ClusterChanges(changed={"Pod/demo/young": young,
                                                "Pod/demo/old": old}, full=True, now=T0), {})
    assert {k: c[-1] for k, c in delta.cells.items()} == {"Pod/demo/young": "30s",
                                                          "Pod/demo/old": "10m"}
    computed = rows.ages_computed
    delta = rows.update(ClusterChanges(now=T0 + 1), {})
    assert {k: c[-1] for k, c in delta.cells.items()} == {"Pod/demo/young": "31s"}
    assert rows.ages_computed == computed + 1  # "10m" was not even looked at
    delta = rows.update(ClusterChanges(now=T0 + 1.5), {})
    assert not delta and rows.ages_computed == computed + 1  # nothing due
    delta = rows.update(ClusterChanges(now=T0 + 30), {})  # old turns 11m at T0 + 30
    assert {k: c[-1] for k, c in delta.cells.items()} == {"Pod/demo/young": "60s",
                                                          "Pod/demo/old": "11m"}
    assert rows.ages_computed == computed + 3
    # An unchanged object read again sends nothing.
    assert not rows.update(ClusterChanges(changed={"Pod/demo/old": old}, now=T0 + 30), {})


def test_following_the_cluster_runs_off_the_ui_thread(idle_sandbox: Sandbox, wait_for,
                                                      monkeypatch) -> None:
    """The journal's JSON is parsed and the rows are worked out in the refresh worker;
    the UI thread only hands the changed rows to the table."""
    threads: dict[str, set[int]] = {"poll": set(), "rows": set(), "status": set()}
    poll, update, status = JournalFollower.poll, ClusterRows.update, Sandbox.status

    def spy(name: str, fn: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            threads[name].add(threading.get_ident())
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(JournalFollower, "poll", spy("poll", poll))
    monkeypatch.setattr(ClusterRows, "update", spy("rows", update))
    monkeypatch.setattr(Sandbox, "status", spy("status", status))

    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: all(len(v) for v in threads.values())
                           and app.snapshot is not None, what="a few refreshes")
            ui = threading.get_ident()
            assert all(ui not in seen for seen in threads.values()), threads

    asyncio.run(scenario())


def test_a_burst_of_events_reaches_the_ui_as_one_message(idle_sandbox: Sandbox, wait_for,
                                                         monkeypatch) -> None:
    handled: list[int] = []
    original = tui_app.GitOpsApp.on_engine_events

    def counting(self: GitOpsApp, message: Any) -> None:
        handled.append(len(message.events))
        original(self, message)

    monkeypatch.setattr(tui_app.GitOpsApp, "on_engine_events", counting)

    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=(100, 30)) as pilot:
            log = app.main_screen.query_one(EventLog)
            await wait_for(pilot, lambda: app._unsubscribe is not None, what="subscription")
            await pilot.pause()
            before = len(handled)
            for i in range(300):  # as the bus's thread calls it, one event at a time
                app._on_bus_event(Event(id=10_000 + i, ts=T0, kind="sync.applied",
                                        stage="reconciler", message=f"applied {i}",
                                        data={}))
            await wait_for(pilot, lambda: sum(e.id >= 10_000 for e in log.events) == 300,
                           what="the 300 events in the log")
            assert len(handled) - before == 1

    asyncio.run(scenario())


def test_the_first_cluster_data_settles_memory_once(idle_sandbox: Sandbox, wait_for,
                                                    monkeypatch) -> None:
    """What exists when the cluster first shows goes to the collector's permanent
    generation, so full collections (which stop the UI) scan only what came later."""
    monkeypatch.setattr(tui_app, "_settled", False)
    gc.unfreeze()
    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))  # the test process stays

    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, what="a first snapshot")
            snap = app.snapshot
            table = app.main_screen.query_one(ClusterTable)
            for _ in range(2):
                rebuilds = table.rebuilds
                app.post_message(SnapshotReady(snap, RowsDelta(cells=_cells(3), full=True)))
                await wait_for(pilot, lambda want=rebuilds + 1: table.rebuilds == want,
                               what="the rows filled")
            assert frozen == [1]

    asyncio.run(scenario())


def test_the_rows_keep_what_the_keys_need_not_whole_objects() -> None:
    """Whole objects would stay alive in the UI's process for the collector to scan;
    the rows keep what describe, scale, set image and delete use."""
    dep = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "demo",
                                              "creationTimestamp": "2026-01-01T00:00:00Z",
                                              "managedFields": [{"manager": "x"}] * 50},
           "spec": {"replicas": 3, "template": {"spec": {"containers": [
               {"name": "web", "image": "localhost:5001/web:1.0.0", "env": [{}] * 20}]}}},
           "status": {"readyReplicas": 1, "conditions": [{"type": "Available"}] * 5}}
    rows = ClusterRows()
    delta = rows.update(ClusterChanges(changed={"Deployment/demo/web": dep}, full=True,
                                       now=T0), {"Deployment/demo/web": ["Progressing", ""]})
    kept = rows.objects["Deployment/demo/web"]
    assert kept == delta.objects["Deployment/demo/web"] == {
        "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "web", "image": "localhost:5001/web:1.0.0"}]}}}}
    cells = delta.cells["Deployment/demo/web"]
    assert (cells[3], str(cells[4]), cells[5]) == ("1/3", "Progressing", "web:1.0.0")
    # The health moves on: the row follows without the whole object.
    delta = rows.update(ClusterChanges(now=T0), {"Deployment/demo/web": ["Healthy", ""]})
    assert str(delta.cells["Deployment/demo/web"][4]) == "Healthy"
