"""Drawing one metric over simulated time on a Plotext figure: the series, a vertical
marker at each sync of a change labelled with its pull request (coloured by the
change's verdict), and the objective as a horizontal line. Pure: no widget, no engine,
so the same data always draws the same picture."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SERIES_COLOR = "cyan"
SLO_COLOR = "red"
VERDICT_COLOR = {"Succeeded": "green", "Failed": "red"}  # others: yellow (not judged yet)
TICKS = 5


@dataclass(frozen=True)
class Metric:
    field: str
    title: str
    scale: float = 1.0  # error rate is stored as a share, shown in %
    slo_key: str | None = None
    fmt: Callable[[float], str] = lambda v: f"{v:g}"  # a value as shown (scaled)


METRICS = (
    Metric("rps", "request rate (req/s)", fmt=lambda v: f"{v:.1f}"),
    Metric("error_rate", "error rate (%)", 100.0, "max_error_rate", lambda v: f"{v:.1f}%"),
    Metric("p95_ms", "p95 latency (ms)", 1.0, "max_p95_ms", lambda v: f"{v:.0f} ms"),
)


def sim_time(seconds: float) -> str:
    """Simulated seconds as m:ss, or h:mm:ss past the first hour."""
    total = int(round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def marker_label(sync: dict[str, Any]) -> str:
    return f"#{sync['pr']}" if sync.get("pr") else str(sync.get("hld_sha") or "")[:7]


def x_range(series: dict[str, Any]) -> tuple[float, float] | None:
    samples = series.get("samples") or []
    if not samples or series.get("now") is None:
        return None
    end = float(series["now"])
    # From the first sample, or the first sync in the window if it came before (the
    # first deploy syncs before there is traffic to sample).
    first = min([float(samples[0]["sim"])] + [float(s["sim"]) for s in series.get("syncs") or []])
    start = max(end - float(series.get("since") or 0.0), first)
    return (start, end) if end > start else (start - 1.0, end + 1.0)


def draw(plt: Any, metric: Metric, series: dict[str, Any]) -> None:
    """Draw `metric` of `series` (the facade's `metric_series`) on a cleared figure."""
    plt.clear_figure()
    plt.title(metric.title)
    span = x_range(series)
    if span is None:
        plt.title(f"{metric.title}: no samples yet")
        return
    x0, x1 = span
    points = [(float(s["sim"]), float(s[metric.field]) * metric.scale)
              for s in series["samples"] if s.get(metric.field) is not None]
    objectives = series.get("objectives") or {}
    slo = objectives.get(metric.slo_key) if metric.slo_key else None
    slo = float(slo) * metric.scale if slo is not None else None
    peak = max([y for _, y in points] + [0.0])
    upper = max(peak, slo or 0.0, 1e-9) * 1.25
    plt.xlim(x0, x1)
    plt.ylim(0, upper)
    # Ticks at zero, the peak and the objective: plotext's own would put a round number
    # beside the objective's row, and the line would seem to sit at that number.
    yticks = sorted({0.0, round(peak, 2), *([slo] if slo is not None else [])})
    plt.yticks(yticks, [metric.fmt(y) for y in yticks])
    ticks = [x0 + (x1 - x0) * i / (TICKS - 1) for i in range(TICKS)]
    plt.xticks(ticks, [sim_time(t) for t in ticks])
    if points:
        plt.plot([x for x, _ in points], [y for _, y in points], marker="braille",
                 color=SERIES_COLOR)
    if slo is not None:
        plt.hline(slo, SLO_COLOR)
        plt.text(f"SLO {metric.fmt(slo)}", x0, slo, color=SLO_COLOR, alignment="left")
    for sync in series.get("syncs") or []:
        x = float(sync["sim"])
        if not x0 <= x <= x1:
            continue
        color = VERDICT_COLOR.get(str(sync.get("verdict")), "yellow")
        plt.vline(x, color)
        plt.text(marker_label(sync), x, upper, color=color, alignment="left")
