"""The Metrics tab (issue 12 point 5) and the verdicts and countdowns of the Pipeline tab
(points 5 and 4), on a fixed history (seed_metrics.py): a Pilot test through the whole
app, and one SVG snapshot of the Metrics view.

The history is written at fixed simulated times by the engine's writers on a virtual
clock, with no engine running, so the snapshot is the same on every run. Update it with
`pytest tests/tui/test_tui_metrics.py --snapshot-update` after a deliberate change, and
look at the SVG before committing it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import DataTable, Select, Static, TabbedContent
from textual.widgets._select import SelectOverlay
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

import tui.app
from sandbox.facade import Sandbox
from tests.tui.seed_metrics import END, INTERVAL, PR, add_samples, seed
from tui.app import GitOpsApp
from tui.widgets.metrics import MetricsView
from tui.widgets.plots import METRICS, draw, x_range
from tui.widgets.services import Countdowns, ServicesTable, countdown_text

SIZE = (110, 40)
WAIT = {"what": "rollout progressDeadlineSeconds", "target": "Deployment/demo/web",
        "remaining_sim_s": 252.0, "remaining_wall_s": 126.0}


@pytest.fixture
def seeded(workspace: Path) -> Iterator[Sandbox]:
    sb = Sandbox(workspace)
    seed(sb)
    yield sb
    sb.close()


def plot_text(view: MetricsView, field: str) -> str:
    return view.query_one(f"#plot-{field}", PlotextPlot).render().plain


def test_metrics_tab_plots_a_service_with_deploy_markers_slo_lines_and_live_samples(
        seeded: Sandbox, wait_for) -> None:
    # The countdowns come from the facade's `waits()`; here one fixed wait stands in
    # for a rollout that waits on its progress deadline.
    seeded.waits = lambda: [dict(WAIT)]  # type: ignore[attr-defined]

    async def scenario() -> None:
        app = GitOpsApp(seeded, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.main_screen
            tabs = screen.query_one(TabbedContent)
            view = screen.query_one(MetricsView)
            assert view.draws == 0  # a hidden tab reads nothing

            # The Pipeline tab: each service's verdict beside its health, and the wait.
            services = screen.query_one(ServicesTable)
            await wait_for(pilot, lambda: services.row_count == 2, what="the services")
            rows = {str(services.get_row_at(i)[0]): [str(c) for c in services.get_row_at(i)]
                    for i in range(2)}
            assert rows["demo/web"][1:4] == ["Healthy", "Failed", f"#{PR}"]
            assert rows["demo/api"][1:3] == ["Healthy", "Succeeded"]
            # And each change's verdict beside its health in the deployment trace.
            trace = screen.query_one("#deployments", DataTable)
            await wait_for(pilot, lambda: trace.row_count == 2, what="the trace")
            assert [str(trace.get_row_at(i)[6]) for i in range(2)] == ["Failed", "Succeeded"]
            countdowns = screen.query_one(Countdowns)
            # It runs down between two reads at the clock's speed (2 here).
            line = re.compile(r"progressDeadlineSeconds: Deployment/demo/web  4m\d\ds left in "
                              r"simulated time \(2m\d\ds wall\)")
            await wait_for(pilot, lambda: countdowns.display
                           and line.search(str(countdowns.render())), what="the countdowns")

            # The Metrics tab: web by default (the latest change touched it).
            await pilot.press("6")
            await wait_for(pilot, lambda: tabs.active == "metrics" and view.draws > 0,
                           what="the metrics tab drawn")
            assert view.workload == "Deployment/demo/web"
            assert isinstance(app.focused, Select)
            # Off screen, the countdowns tick without painting (a paint lays out the screen).
            await wait_for(pilot, lambda: not countdowns._on_screen, what="countdowns hidden")
            painted: list[object] = []
            countdowns.update = lambda *a, **k: painted.append(a)  # type: ignore[method-assign]
            countdowns._tick()
            del countdowns.update
            assert painted == []
            errors = plot_text(view, "error_rate")
            # The objective is a line across the plot, labelled; the marker is labelled.
            assert f"#{PR}" in errors and "SLO 5.0%───" in errors, errors
            assert "SLO 500 ms───" in plot_text(view, "p95_ms")
            assert "SLO" not in plot_text(view, "rps")  # no objective on the rate
            assert view.series is not None and view.series["now"] == END

            # Live: new samples are drawn without a key press.
            add_samples(seeded, END + INTERVAL, END + 4 * INTERVAL)
            await wait_for(pilot, lambda: view.series is not None
                           and view.series["now"] == END + 4 * INTERVAL, what="new samples")
            caption = str(screen.query_one("#metrics-caption", Static).render())
            assert "11:00" in caption and f"#{PR} Failed" in caption, caption

            # Pick api: PR #7 did not touch it, so it has no #7 marker.
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.focused, SelectOverlay),
                           what="the service list open")
            await pilot.press("up", "enter")
            await wait_for(pilot, lambda: view.series is not None
                           and view.series["workload"] == "Deployment/demo/api",
                           what="api's series")
            await wait_for(pilot, lambda: f"#{PR}" not in plot_text(view, "error_rate"),
                           what="api drawn")
            assert "SLO 5.0%" in plot_text(view, "error_rate")

            # A shorter window: the last 5 simulated minutes.
            await pilot.press("tab")
            await wait_for(pilot, lambda: app.focused is screen.query_one("#metrics-window"),
                           what="the window chooser")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.focused, SelectOverlay),
                           what="the window list open")
            await pilot.press("up", "enter")
            await wait_for(pilot, lambda: view.series is not None
                           and view.series["since"] == 300.0, what="the 5m window")
            assert view.series["samples"][0]["sim"] >= view.series["now"] - 300.0
            assert plot_text(view, "rps").split()[-5:] == ["6:00", "7:15", "8:30", "9:45", "11:00"]

            # Back to the Pipeline tab and to Metrics again: the choice is kept.
            await pilot.press("1")
            await wait_for(pilot, lambda: tabs.active == "pipeline", what="the pipeline tab")
            await pilot.press("6")
            await wait_for(pilot, lambda: tabs.active == "metrics", what="the metrics tab")
            assert view.workload == "Deployment/demo/api"

    asyncio.run(scenario())


class MetricsHarness(App[None]):
    """The Metrics view alone with the real stylesheet: no header (it shows the
    workspace's path), no engine."""

    CSS_PATH = Path(tui.app.__file__).parent / "app.tcss"

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__()
        self.sandbox = sandbox

    def compose(self) -> ComposeResult:
        yield MetricsView(id="metrics-view")


def test_metrics_view_snapshot(seeded: Sandbox, snap_compare, wait_for) -> None:
    app = MetricsHarness(seeded)

    async def drawn(pilot: Pilot[None]) -> None:
        view = app.query_one(MetricsView)
        await wait_for(pilot, lambda: view.draws > 0 and view.series is not None
                       and view.series["now"] == END, what="the plots")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=drawn)


def test_countdowns_run_down_between_two_reads_at_the_clock_speed() -> None:
    wait = {**WAIT, "remaining_sim_s": 300.0, "remaining_wall_s": 150.0}  # speed 2
    assert "5m00s left in simulated time (2m30s wall)" in str(countdown_text([wait]))
    assert "4m40s left in simulated time (2m20s wall)" in str(countdown_text([wait], 10.0))
    assert " 0s left in simulated time (0s wall)" in str(countdown_text([wait], 200.0))


def test_countdowns_box_shows_the_soonest_of_each_kind_and_how_many_more() -> None:
    waits = [{**WAIT, "target": f"Deployment/bench/svc-{i:03d}",
              "remaining_sim_s": 600.0 - i, "remaining_wall_s": 600.0 - i}
             for i in range(300)]
    text = str(countdown_text(waits))
    assert text.count("\n") == 0  # one kind of wait: one line, not 300
    assert "Deployment/bench/svc-299 and 299 more  5m01s left" in text


def test_a_sync_before_the_first_sample_is_still_drawn() -> None:
    # The first deploy syncs before there is traffic to sample.
    series = {"workload": "Deployment/demo/web", "now": 300.0, "since": 900.0,
              "samples": [{"sim": float(t), "rps": 10.0, "error_rate": 0.0, "p95_ms": 90.0}
                          for t in range(120, 301, 15)],
              "syncs": [{"sim": 30.0, "pr": 3, "verdict": "Succeeded", "hld_sha": "e" * 40}],
              "objectives": {"max_error_rate": 0.05, "max_p95_ms": 500.0}}
    assert x_range(series) == (30.0, 300.0)
    plot = Plot()
    plot.plotsize(80, 12)
    draw(plot, METRICS[2], series)
    assert "#3" in plot.build() and "0:30" in plot.build()


def test_metrics_view_says_so_when_nothing_was_sampled(workspace: Path, wait_for) -> None:
    sb = Sandbox(workspace)

    async def scenario() -> None:
        app = MetricsHarness(sb)
        async with app.run_test(size=SIZE) as pilot:
            view = app.query_one(MetricsView)
            await wait_for(pilot, lambda: view.draws > 0, what="the empty plots")
            caption = str(view.query_one("#metrics-caption", Static).render())
            assert caption.startswith("no samples yet"), caption
            assert "no samples yet" in plot_text(view, "rps")

    try:
        asyncio.run(scenario())
    finally:
        sb.close()
