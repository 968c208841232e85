"""The Textual app: wires the engine (start or attach, events, a refresh timer) to the
screens. What each key does lives in `operations`, what each view shows in `widgets`."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App
from textual.screen import Screen

from sandbox.events import Event
from sandbox.facade import Sandbox

from .cluster_ops import ClusterOperations
from .keys import GLOBAL, OPERATIONS
from .messages import EngineEvents, Snapshot, SnapshotReady
from .operations import Operations
from .scenario_ops import ScenarioOperations
from .screens.main import MainScreen
from .widgets.cluster import ClusterRows
from .widgets.services import waits_of

if TYPE_CHECKING:
    from sandbox.facade import ClusterFollower, EngineProcess

REFRESH_SECONDS = 0.5
MIN_GAP = 0.25  # seconds between two reads of the engine's state
EVENT_BATCH_SECONDS = 0.05
INITIAL_EVENTS = 200


class GitOpsApp(Operations, ClusterOperations, ScenarioOperations, App[int]):
    TITLE = "gitops-sandbox"
    CSS_PATH = "app.tcss"
    BINDINGS = [*OPERATIONS, *GLOBAL]

    def __init__(self, sandbox: Sandbox, close_on_exit: bool = True,
                 start_engine: bool = True) -> None:
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # As in k9s, nothing slides: the tabs' underline animation redraws the tab
            # bar for 0.3 s after each switch, a third of a tab switch's CPU (bench tui).
            self.animation_level = "none"
        self.sandbox = sandbox
        self.close_on_exit = close_on_exit
        # False gives a viewer that never starts an engine (tests, a look at a stopped
        # workspace); it still attaches to one that runs.
        self.start_engine = start_engine
        self.snapshot: Snapshot | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._refreshing = False
        self._again = False
        self._last_read = 0.0
        self._events: list[Event] = []
        self._events_due = False
        # Events from the bus's thread, waiting for the UI to take them in one go.
        self._inbox: list[Event] = []
        self._inbox_lock = threading.Lock()
        self._inbox_posted = False
        # The engine this app started in a child process, stopped when the app quits.
        self.engine_process: EngineProcess | None = None
        self._child_gone = False
        self._follower: ClusterFollower | None = None
        self.cluster_rows = ClusterRows()  # touched by the refresh worker only

    def get_default_screen(self) -> Screen[None]:
        return MainScreen()

    @property
    def main_screen(self) -> MainScreen:
        return self.get_screen_stack_bottom()

    def get_screen_stack_bottom(self) -> MainScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    # -- lifecycle ---------------------------------------------------------------
    def on_mount(self) -> None:
        self.show_user()
        self.sub_title = f"{self.sandbox.root}: connecting to the engine…"
        self.connect()
        self.set_interval(REFRESH_SECONDS, self.refresh_snapshot)

    @work(thread=True, group="engine", exit_on_error=False)
    def connect(self) -> None:
        """Attach to the engine, or start one in a child process: the engine's work then
        never holds this process's interpreter lock, and the screen never waits on it."""
        sb = self.sandbox
        try:
            if sb.engine is not None:
                mode = "engine in this process"
            elif sb.engine_running():
                mode = f"attached to engine pid {sb.engine_pid()}"
            elif not self.start_engine:
                mode = "no engine running: nothing will move"
            else:
                self.engine_process = sb.spawn_engine()
                mode = f"engine started: pid {self.engine_process.pid}, stops when you quit"
        except Exception as exc:  # noqa: BLE001 - e.g. the engine could not start
            if sb.engine_running():  # another engine won the race: use that one
                mode = f"attached to engine pid {sb.engine_pid()}"
            else:
                mode = "no engine"
                self.call_from_thread(self.notify, str(exc), title="engine",
                                      severity="error", timeout=15)
        self.call_from_thread(setattr, self, "sub_title", f"{sb.root}  ·  {mode}")
        self._follow_events()

    def _follow_events(self) -> None:
        sb = self.sandbox
        # Subscribe first and read the backlog after: the overlap is deduped by event id,
        # whereas the other order could lose an event published in between.
        self._unsubscribe = sb.subscribe(self._on_bus_event)
        backlog = sb.events(after=max(0, sb.last_event_id() - INITIAL_EVENTS))
        if backlog:
            self.post_message(EngineEvents(backlog))

    def _on_bus_event(self, event: Event) -> None:
        """Called on the sandbox's follower thread, once per event: events gather here
        and go to the UI as one message per batch, not one message each."""
        with self._inbox_lock:
            self._inbox.append(event)
            if self._inbox_posted:
                return
            self._inbox_posted = True
        self.post_message(EngineEvents([]))  # thread-safe; the handler takes the inbox

    async def on_unmount(self) -> None:
        self.stop_scenario_quietly()
        if self._unsubscribe is not None:
            self._unsubscribe()
        # Stopping an engine joins its threads or waits for its process; keep the loop
        # free meanwhile. An engine this app did not start keeps running.
        if self.engine_process is not None:
            await asyncio.to_thread(self.engine_process.stop)
        if self.close_on_exit:
            await asyncio.to_thread(self.sandbox.close)

    # -- data --------------------------------------------------------------------
    def refresh_snapshot(self) -> None:
        """Read again soon: one read at a time, and at most one per MIN_GAP seconds
        however many events arrive (a rollout publishes many)."""
        if self._refreshing:
            self._again = True
            return
        wait = self._last_read + MIN_GAP - time.monotonic()
        if wait > 0:
            if not self._again:
                self._again = True
                self.set_timer(wait, self._read_again)
            return
        self._refreshing = True
        self._last_read = time.monotonic()
        self._read_snapshot()

    def _read_again(self) -> None:
        self._again = False
        self.refresh_snapshot()

    @work(thread=True, group="refresh", exit_on_error=False)
    def _read_snapshot(self) -> None:
        sb = self.sandbox
        rows = None
        child = self.engine_process
        if child is not None and not child.running() and not self._child_gone:
            self._child_gone = True  # said once; `gitops-sandbox up` starts another
            self.call_from_thread(self._engine_gone, child.last_words())
        try:
            status = sb.status()
            snap = Snapshot(status=status, prs=sb.list_prs(), branches=sb.branches(),
                            required_approvals=sb.settings.required_approvals,
                            health=sb.health(), verdicts=sb.service_verdicts(),
                            waits=waits_of(sb, status))
            if self._follower is None:
                self._follower = sb.follow_cluster()
            rows = self.cluster_rows.update(self._follower.poll(),
                                            (status.get("health") or {}).get("objects"))
        except Exception as exc:  # noqa: BLE001 - a half-written state is read next tick
            self.log.warning(f"refresh failed: {exc!r}")
            snap, rows = None, None
            # Changes may have been taken and not shown: the next read starts over.
            self._follower, self.cluster_rows = None, ClusterRows()
        # A message rather than call_from_thread: it never blocks this thread at exit.
        self.post_message(SnapshotReady(snap, rows))

    def _engine_gone(self, why: str) -> None:
        self.sub_title = f"{self.sandbox.root}  ·  the engine stopped: nothing will move"
        self.notify(f"the engine this TUI started has stopped: {why}", title="engine",
                    severity="error", timeout=30)

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self._refreshing = False
        if message.snapshot is not None and self.screen_stack:
            self.snapshot = message.snapshot
            self.main_screen.show(message.snapshot, message.rows)
            if message.rows is not None and message.rows.full:
                settle_memory()
        if self._again:
            self._again = False
            self.refresh_snapshot()

    def on_engine_events(self, message: EngineEvents) -> None:
        # A rollout publishes hundreds of events a second: they are shown in batches, so
        # the log and the recent lines repaint once per batch.
        with self._inbox_lock:
            inbox, self._inbox, self._inbox_posted = self._inbox, [], False
        self._events += [*message.events, *inbox]
        if not self._events_due:
            self._events_due = True
            self.set_timer(EVENT_BATCH_SECONDS, self._show_events)

    def _show_events(self) -> None:
        self._events_due = False
        events, self._events = self._events, []
        if not self.screen_stack:
            return  # the bus outlives the screens by a moment at exit
        self.main_screen.add_events(events)
        self.refresh_snapshot()


_settled = False


def settle_memory() -> None:
    """Once per process, when the first cluster data is shown: what exists by then
    (modules, widgets, the cluster's first rows) moves to the collector's permanent
    generation. Python's cyclic collector stops every thread while it scans all live
    objects; at 300 Deployments a full collection held the UI for seconds under load
    (bench tui, BENCH_TUI_WHY), and now scans only what came later. The JSON-made
    objects have no cycles: reference counting still frees them when replaced."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()


def run(workspace: Path | None = None) -> int:
    sandbox = Sandbox(workspace)
    app = GitOpsApp(sandbox)
    try:
        app.run()
    finally:
        if app.engine_process is not None:  # also when the app itself failed
            app.engine_process.stop()
        sandbox.close()
    return app.return_code or 0
