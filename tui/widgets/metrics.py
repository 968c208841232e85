"""The Metrics tab (issue 12 point 5): request rate, error rate and p95 latency of one
service over simulated time, with a marker at each sync of a change that touched it
(its pull request, coloured by its verdict) and the service's objectives as lines.

Live without blocking: while the tab is shown, a thread worker reads the facade once a
second (`metric_services`, `metric_series`) and the plots are redrawn only when what
they show changed (a new sample, a sync, a verdict, an objective)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Select, Static, TabPane
from textual_plotext import PlotextPlot

from .plots import METRICS, VERDICT_COLOR, draw, marker_label, sim_time

POLL_SECONDS = 1.0
WINDOWS = (("last 5m", 300.0), ("last 15m", 900.0), ("last 1h", 3600.0),
           ("last 6h", 21_600.0))
DEFAULT_WINDOW = 900.0


class MetricsRead(Message):
    """What the worker read: the services, the one it read, and its series (None when
    the read failed: the next poll tries again)."""

    def __init__(self, services: dict[str, Any], series: dict[str, Any] | None) -> None:
        super().__init__()
        self.services = services
        self.series = series


def service_label(workload: str) -> str:
    kind, _, rest = workload.partition("/")
    namespace, _, name = rest.partition("/")
    return f"{name}  ({kind}, {namespace})" if name else workload


def caption(series: dict[str, Any]) -> Text:
    """Under the choosers: where the plots end, the objectives, the markers' legend."""
    if series.get("now") is None:
        return Text("no samples yet: the engine samples every workload each "
                    "metrics_interval_seconds of simulated time while it runs", style="dim")
    obj = series.get("objectives") or {}
    text = Text.assemble(("last sample at ", "dim"), (sim_time(series["now"]), "bold"),
                         (" simulated   SLO ", "dim"),
                         (f"errors ≤ {100 * obj.get('max_error_rate', 0):.1f}%, "
                          f"p95 ≤ {obj.get('max_p95_ms', 0):g} ms", "red"))
    if obj.get("error"):
        text.append(f"  (HLD slo ignored: {obj['error']})", style="yellow")
    syncs = series.get("syncs") or []
    text.append("   syncs ", style="dim")
    if not syncs:
        text.append("none in view", style="dim")
    for sync in syncs:
        verdict = str(sync.get("verdict") or "not judged")
        text.append(f"{marker_label(sync)} {verdict}  ",
                    style=VERDICT_COLOR.get(verdict, "yellow"))
    return text


def signature(series: dict[str, Any] | None) -> tuple[Any, ...]:
    """What the plots show; the same signature draws the same picture."""
    if series is None:
        return ()
    samples = series.get("samples") or []
    return (series.get("workload"), series.get("since"), series.get("now"), len(samples),
            samples[0]["sim"] if samples else None,
            tuple((s["sim"], s.get("pr"), s.get("verdict")) for s in series.get("syncs") or []),
            tuple(sorted((series.get("objectives") or {}).items())))


class MetricsView(Vertical):
    """Pick a service and a window; three plots follow them."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.workload: str | None = None  # the user's choice, else the facade's default
        self.chosen = False
        self.since = DEFAULT_WINDOW
        self.series: dict[str, Any] | None = None
        self.services: list[str] = []
        self.draws = 0  # tests wait on it: how many times the plots were redrawn
        self._reading = False
        self._again = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="metrics-bar"):
            yield Select[str]([], prompt="service", id="metrics-service")
            yield Select[float]([(label, s) for label, s in WINDOWS], value=DEFAULT_WINDOW,
                                allow_blank=False, id="metrics-window")
        yield Static(Text("reading metrics…", style="dim"), id="metrics-caption")
        for metric in METRICS:
            yield PlotextPlot(id=f"plot-{metric.field}", classes="metric-plot")

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self.poll)

    def on_show(self) -> None:
        self.poll()  # at once when the tab opens (or the view is first shown)

    @property
    def shown(self) -> bool:
        pane = next((a for a in self.ancestors if isinstance(a, TabPane)), None)
        return pane is None or bool(pane.display)

    def poll(self) -> None:
        if not self.shown:
            return  # a hidden tab reads nothing
        sandbox = getattr(self.app, "sandbox", None)
        if sandbox is None:
            return
        if self._reading:  # one read at a time on a loaded machine; then one more
            self._again = True
            return
        self._reading, self._again = True, False
        workload, since = (self.workload if self.chosen else None), self.since
        self.run_worker(lambda: self._read(sandbox, workload, since), thread=True,
                        group="metrics", exit_on_error=False)

    def _read(self, sandbox: Any, workload: str | None, since: float) -> None:
        services: dict[str, Any] = {}
        series = None
        try:
            services = sandbox.metric_services()
            workload = workload or services.get("default")
            series = sandbox.metric_series(workload, since) if workload else None
        except Exception as exc:  # noqa: BLE001 - a database being written is read next poll
            self.log.warning(f"metrics read failed: {exc!r}")
            services, series = {"failed": True}, None
        self.post_message(MetricsRead(services, series))

    def on_metrics_read(self, message: MetricsRead) -> None:
        self._reading = False
        if self._again:
            self.poll()
        if message.services.get("failed"):
            return
        services = list(message.services.get("services") or [])
        chooser: Select[str] = self.query_one("#metrics-service", Select)
        if services != self.services:
            self.services = services
            with chooser.prevent(Select.Changed):
                chooser.set_options([(service_label(s), s) for s in services])
        series = message.series
        if series is not None and (series.get("since") != self.since or (
                self.chosen and series.get("workload") != self.workload)):
            return  # read before the user's last choice: the next read is on its way
        if self.chosen and services and self.workload not in services:
            self.chosen = False  # the service is gone: back to the default at next read
        if series is not None and not self.chosen:
            self.workload = series.get("workload")
        if self.workload in services and chooser.value != self.workload:
            with chooser.prevent(Select.Changed):
                chooser.value = self.workload
        if signature(series) == signature(self.series) and self.draws:
            return
        self.series = series
        self.redraw()

    def redraw(self) -> None:
        series = self.series or {"samples": [], "now": None}
        self.query_one("#metrics-caption", Static).update(caption(series))
        for metric in METRICS:
            plot = self.query_one(f"#plot-{metric.field}", PlotextPlot)
            draw(plot.plt, metric, series)
            plot.refresh()
        self.draws += 1

    @on(Select.Changed, "#metrics-service")
    def _service_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.workload:
            self.workload, self.chosen = event.value, True
            self.poll()

    @on(Select.Changed, "#metrics-window")
    def _window_chosen(self, event: Select.Changed) -> None:
        # The chooser also says its first value when mounted: only a change is read.
        if isinstance(event.value, float | int) and float(event.value) != self.since:
            self.since = float(event.value)
            self.poll()

    def focus_chooser(self) -> None:
        self.query_one("#metrics-service", Select).focus()
