"""Under the pipeline's stages: each service's health with the verdict of the newest
change that touched it (issue 12 point 5), and what the pipeline is waiting for with
how long is left (point 4: a rollout's progressDeadlineSeconds, the health check's
timeout, the reconciler's next resync)."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import DataTable, Static

from sandbox.facade import grouped_waits

from ..messages import Snapshot
from .format import health_text, health_word, safe, short
from .lazy import WhenShown
from .tables import sync_rows

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
# The analysis's states in the words Flagger and Argo Rollouts use, in their colours.
VERDICT_WORD = {"Running": "Running analysis", "Pending": "Pending health check"}
VERDICT_STYLE = {"Succeeded": "bold green", "Failed": "bold red", "Inconclusive": "yellow",
                 "Running": "yellow", "Pending": "dim yellow"}
WHY_WIDTH = 48  # the rest is in `gitops-sandbox deployments`


def verdict_text(verdict: str | None) -> Text:
    if not verdict:
        return Text("-", style="dim")
    return Text(VERDICT_WORD.get(verdict, verdict), style=VERDICT_STYLE.get(verdict, ""))


def verdict_of(verdicts: dict[str, dict[str, Any]], namespace: str,
               name: str) -> dict[str, Any]:
    """The facade names a service as the sync did: `name`, or `namespace/name`; "*" is
    a change that touched no Deployment and was judged on all of them."""
    return (verdicts.get(f"{namespace}/{name}") or verdicts.get(name)
            or verdicts.get("*") or {})


def service_rows(snap: Snapshot) -> list[tuple[str, tuple[Any, ...]]]:
    objects = ((snap.status.get("health") or {}).get("objects")) or {}
    rows = []
    for key, value in sorted(objects.items()):
        kind, _, rest = str(key).partition("/")
        namespace, _, name = rest.rpartition("/")
        if kind not in WORKLOADS:
            continue
        v = verdict_of(snap.verdicts, namespace, name) if kind == "Deployment" else {}
        change = f"#{v['pr']}" if v.get("pr") else short(v.get("hld_sha"))
        why = str(v.get("reason") or "")
        rows.append((str(key), (
            safe(f"{namespace}/{name}" if namespace else name), health_text(health_word(value)),
            verdict_text(v.get("verdict")), change,
            safe(why if len(why) <= WHY_WIDTH else why[:WHY_WIDTH - 1] + "…", "dim"))))
    return rows


class ServicesTable(WhenShown, DataTable[Any]):
    def __init__(self) -> None:
        super().__init__(id="services", cursor_type="row")
        self._shown: list[tuple[str, tuple[Any, ...]]] = []
        self._inputs: tuple[Any, ...] | None = None
        self.border_title = "Services (health, and the verdict of the last change to each)"

    def on_mount(self) -> None:
        self.add_columns("SERVICE", "HEALTH", "VERDICT", "CHANGE", "WHY")

    def show(self, snap: Snapshot) -> None:
        # Most refreshes change nothing here: the inputs are compared, not the rows
        # built from them (300 rows of styled text for a big app).
        objects = (snap.status.get("health") or {}).get("objects") or {}
        inputs = (objects, snap.verdicts)
        if inputs == self._inputs:
            return
        self._inputs = inputs
        rows = service_rows(snap)
        if rows != self._shown:
            self._shown = rows
            self.when_shown("rows", lambda: sync_rows(self, rows))


def waits_of(sb: Any, status: dict[str, Any]) -> list[dict[str, Any]]:
    """The countdowns (issue 12 point 4): `status` carries them, else the facade's
    `waits()` when it has one, else none (they are not worth an error)."""
    if isinstance(status.get("waits"), list):
        return list(status["waits"])
    waits = getattr(sb, "waits", None)
    return list(waits()) if callable(waits) else []


def duration(seconds: float) -> str:
    """Time left, as `kubectl get` writes ages: 45s, 4m12s, 1h05m."""
    total = max(0, int(round(seconds)))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


def countdown_text(waits: list[dict[str, Any]], elapsed: float = 0.0) -> Text:
    """The waits as read, `elapsed` wall seconds later: the simulated time left runs
    down at the clock's speed (the ratio of the two remainders). One line per kind of
    wait, its soonest: the box stays a few lines high during a rollout of hundreds."""
    text = Text()
    for i, wait in enumerate(grouped_waits(waits)):
        sim = float(wait.get("remaining_sim_s") or 0)
        wall = float(wait.get("remaining_wall_s") or 0)
        speed = sim / wall if wall > 0 else 0.0
        if i:
            text.append("\n")
        text.append(f"{wait.get('what', '?')}: ", style="bold")
        text.append_text(safe(wait.get("target", "")))
        if wait.get("more"):
            text.append(f" and {wait['more']} more", style="dim")
        text.append(f"  {duration(sim - elapsed * speed)} left", style="yellow")
        text.append(f" in simulated time ({duration(wall - elapsed)} wall)", style="dim")
    return text


class Countdowns(WhenShown, Static):
    """Shown only while something waits; between two reads of the engine it counts down
    by itself, once a second, so it moves however often the pipeline is read. Off
    screen it paints nothing (each paint lays the whole screen out again)."""

    def __init__(self) -> None:
        super().__init__(id="countdowns")
        self.border_title = "Waiting for"
        self.display = False
        self.waits: list[dict[str, Any]] = []
        self._read_at = 0.0

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def show(self, waits: list[dict[str, Any]]) -> None:
        self.waits, self._read_at = list(waits), time.monotonic()
        if self.display != bool(waits):
            self.display = bool(waits)
        self.when_shown("paint", self._paint)

    def _tick(self) -> None:
        if self._on_screen:
            self._paint()

    def _paint(self) -> None:
        if self.waits:
            self.update(countdown_text(self.waits, time.monotonic() - self._read_at))
