"""The main screen: Pipeline, Pull requests, Cluster, Events, Scenarios and Metrics as
tabs (keys 1-6)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Header, TabbedContent, TabPane

from sandbox.events import Event

from ..messages import Snapshot
from ..widgets.cluster import ClusterTable, RowsDelta
from ..widgets.eventlog import MAX_LINES, EventLog, RecentEvents
from ..widgets.lazy import LeanFooter
from ..widgets.metrics import MetricsView
from ..widgets.pipeline import PipelineView
from ..widgets.prlist import PullRequestTable
from ..widgets.scenarios import ScenarioPanel, ScenarioTable
from .dialogs import PromptDialog

TABS = ("pipeline", "prs", "cluster", "events", "scenarios", "metrics")


class MainScreen(Screen[None]):
    BINDINGS = [
        Binding("1", "show_tab('pipeline')", "Pipeline", show=False),
        Binding("2", "show_tab('prs')", "PRs", show=False),
        Binding("3", "show_tab('cluster')", "Cluster", show=False),
        Binding("4", "show_tab('events')", "Events", show=False),
        Binding("5", "show_tab('scenarios')", "Scenarios", show=False),
        Binding("6", "show_tab('metrics')", "Metrics", show=False),
        Binding("slash", "filter", "Filter", key_display="/", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        # Snapshots and events come from worker threads and the bus from the first
        # moment, while the tabs are still being mounted (and again while they are torn
        # down at exit): nothing is painted until every view is there, and events that
        # came early wait here instead of being lost.
        self._ready = False
        self._early: list[Event] = []
        self._rows: list[RowsDelta] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs", initial="pipeline"):
            with TabPane("1 Pipeline", id="pipeline"):
                yield PipelineView(id="pipeline-view")
            with TabPane("2 Pull requests", id="prs"):
                yield PullRequestTable(id="pr-table")
            with TabPane("3 Cluster", id="cluster"):
                yield ClusterTable(id="cluster-table")
            with TabPane("4 Events", id="events"):
                yield EventLog(id="event-log")
            with TabPane("5 Scenarios", id="scenarios"):
                yield ScenarioPanel(id="scenario-panel")
            with TabPane("6 Metrics", id="metrics"):
                yield MetricsView(id="metrics-view")
        yield LeanFooter()

    def on_mount(self) -> None:
        # A screen's Mount comes after every descendant is composed and mounted.
        self._ready = True
        early, self._early = self._early, []
        self.add_events(early)

    def on_unmount(self) -> None:
        self._ready = False

    # -- data in -----------------------------------------------------------------
    def show(self, snap: Snapshot, rows: RowsDelta | None = None) -> None:
        if rows is not None:  # changes, not states: none may be skipped
            self._rows = [rows] if rows.full else [*self._rows, rows]
        if not self._ready:
            return  # not mounted yet; the next refresh paints
        try:  # every view this paints, before painting any
            pipeline, prs = self.query_one(PipelineView), self.query_one(PullRequestTable)
            cluster = self.query_one(ClusterTable)
        except NoMatches:
            return  # torn down at exit
        pipeline.show(snap)
        prs.show(snap.prs, snap.required_approvals)
        pending, self._rows = self._rows, []
        for delta in pending:
            cluster.apply(delta)

    def add_event(self, event: Event) -> None:
        self.add_events([event])

    def add_events(self, events: list[Event]) -> None:
        if not self._ready:
            self._early = [*self._early, *events][-MAX_LINES:]
            return
        try:
            recent, log = self.query_one(RecentEvents), self.query_one(EventLog)
        except NoMatches:
            return  # torn down at exit
        log.add(events)
        recent.add(events)

    def log_command(self, command: str) -> None:
        """The commands the TUI ran on the user's behalf, so they can repeat them by hand."""
        self.event_log.note(Text.assemble(("$ ", "bold magenta"), (command, "bold")))

    @property
    def pr_table(self) -> PullRequestTable:
        return self.query_one(PullRequestTable)

    @property
    def event_log(self) -> EventLog:
        return self.query_one(EventLog)

    @property
    def selected_pr(self) -> int | None:
        return self.pr_table.selected_pr

    @property
    def current_tab(self) -> str:
        return self.query_one(TabbedContent).active

    # -- keys --------------------------------------------------------------------
    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        # Every tab takes the focus: left on a widget of a hidden tab, Textual would move
        # it to that tab's next widget, and TabbedContent would switch back to show it.
        if tab == "metrics":
            self.query_one(MetricsView).focus_chooser()
            return
        focus = {"pipeline": PipelineView, "prs": PullRequestTable, "cluster": ClusterTable,
                 "events": EventLog, "scenarios": ScenarioTable}[tab]
        self.query_one(focus).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if isinstance(event.data_table, PullRequestTable) and event.row_key.value:
            self.app.action_open_pr_screen(int(event.row_key.value))  # type: ignore[attr-defined]

    def action_filter(self) -> None:
        tab = self.current_tab
        widget = {"prs": self.pr_table, "cluster": self.query_one(ClusterTable),
                  "events": self.event_log}.get(tab)
        if widget is None:
            self.notify("switch to Pull requests (2), Cluster (3) or Events (4) to filter")
            return

        def apply(text: str | None) -> None:
            if text is None:
                return
            if isinstance(widget, EventLog | ClusterTable):
                widget.set_filter(text)
            else:
                widget.filter_text = text
                self.app.refresh_snapshot()  # type: ignore[attr-defined]
            self.notify(f"filter: {text!r}" if text else "filter cleared", timeout=2)

        self.app.push_screen(PromptDialog("/", widget.filter_text, "text to filter by"), apply)
