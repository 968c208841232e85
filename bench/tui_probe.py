"""Instruments for `bench tui`: when each screen update happened and what it showed, how
long the UI's event loop was held, and (on demand) where the UI thread was when it was.

The probe wraps `App._display`, which the compositor calls with the update it has just
rendered (headless too: only the write to the terminal is skipped), so a frame recorded
here is a frame that was really computed.
"""

from __future__ import annotations

import asyncio
import bisect
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

STALL_S = 1.0
SAMPLE_AFTER_S = 0.1  # a loop held this long gets its stack sampled (with --why)


class Probe:
    """Times every screen update with the state it showed, and the event loop's lag."""

    def __init__(self, app: Any, state: Callable[[], tuple[object, ...]]) -> None:
        self.frames: list[tuple[float, tuple[object, ...]]] = []
        self.frame_cpu: list[float] = []  # the UI thread's CPU clock at each frame
        self.lags: list[float] = []
        self._state = state
        self._beat = time.perf_counter()
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is not None:
                self.frames.append((time.perf_counter(), state()))
                self.frame_cpu.append(time.thread_time())

        app._display = display

    def reset(self) -> None:
        self.lags = []

    @property
    def max_lag(self) -> float:
        return max(self.lags, default=0.0)

    def stalls(self, over: float = STALL_S) -> int:
        return sum(1 for lag in self.lags if lag > over)

    async def watch_loop(self, stop: asyncio.Event, period: float = 0.02) -> None:
        """The loop's lag: how much later than asked a short sleep wakes up."""
        while not stop.is_set():
            before = time.perf_counter()
            self._beat = before
            await asyncio.sleep(period)
            self.lags.append(max(0.0, time.perf_counter() - before - period))

    def repaint_after(self, t0: float, wanted: tuple[object, ...]) -> float | None:
        """Seconds from t0 to the first frame that showed `wanted`."""
        found = self._first(t0, wanted)
        return None if found is None else self.frames[found][0] - t0

    def cpu_at_repaint(self, t0: float, wanted: tuple[object, ...]) -> float | None:
        """The UI thread's CPU clock when the first frame showing `wanted` was drawn."""
        found = self._first(t0, wanted)
        return None if found is None else self.frame_cpu[found]

    def _first(self, t0: float, wanted: tuple[object, ...]) -> int | None:
        first = bisect.bisect_left(self.frames, t0, key=lambda frame: frame[0])
        for i in range(first, len(self.frames)):
            if self.frames[i][1] == wanted:
                return i
        return None

    def sampler(self, stop: threading.Event) -> StallSampler:
        return StallSampler(lambda: self._beat, stop)


class StallSampler(threading.Thread):
    """While the loop is held past SAMPLE_AFTER_S, samples the UI thread's stack every
    10 ms: the innermost frames of the project and of Textual that held it, counted."""

    def __init__(self, beat: Callable[[], float], stop: threading.Event) -> None:
        super().__init__(name="stall-sampler", daemon=True)
        self._beat, self._stop = beat, stop
        self._main = threading.main_thread().ident
        self.samples: Counter[str] = Counter()
        self.others: Counter[str] = Counter()

    def run(self) -> None:
        while not self._stop.wait(0.01):
            if time.perf_counter() - self._beat() < SAMPLE_AFTER_S + 0.02:
                continue
            frames = sys._current_frames()
            main = frames.get(self._main or 0)
            if main is not None:
                self.samples[_where(main)] += 1
            for ident, frame in frames.items():
                if ident not in (self._main, threading.get_ident()):
                    self.others[_where(frame)] += 1

    def report(self, top: int = 12) -> str:
        total = sum(self.samples.values()) or 1
        lines = [f"  UI thread held ({total} samples of 10 ms):"]
        lines += [f"    {n * 100 / total:5.1f}%  {where}" for where, n in
                  self.samples.most_common(top)]
        lines.append("  other threads meanwhile:")
        lines += [f"    {n:5d}  {where}" for where, n in self.others.most_common(top // 2)]
        return "\n".join(lines)


def _where(frame: Any) -> str:
    """The three innermost frames of the stack, innermost last. Only code objects and
    line numbers are read (no source lines), to touch another thread's frames as little
    as possible: a diagnostic, off unless BENCH_TUI_WHY is set."""
    parts: list[str] = []
    while frame is not None and len(parts) < 3:
        code = frame.f_code
        parts.append(f"{'/'.join(code.co_filename.split('/')[-2:])}:{frame.f_lineno} "
                     f"{code.co_name}")
        frame = frame.f_back
    return " < ".join(parts)

class WidgetCosts:
    """UI thread CPU in each widget class's `render_lines` and in whole-screen layouts
    (with BENCH_TUI_WHY): which views the repaints cost, and how many layouts ran."""

    def __init__(self) -> None:
        from textual.screen import Screen
        from textual.widget import Widget

        self.render: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.layouts, self.layout_s = 0, 0.0
        self._undo: list[tuple[Any, str, Any]] = []
        render_lines, refresh_layout = Widget.render_lines, Screen._refresh_layout

        def timed_render(widget: Any, crop: Any) -> Any:
            t0 = time.thread_time()
            try:
                return render_lines(widget, crop)
            finally:
                name = type(widget).__name__
                self.render[name] += time.thread_time() - t0
                self.calls[name] += 1

        def timed_layout(screen: Any, *args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return refresh_layout(screen, *args, **kwargs)
            finally:
                self.layouts += 1
                self.layout_s += time.thread_time() - t0

        self._undo = [(Widget, "render_lines", render_lines),
                      (Screen, "_refresh_layout", refresh_layout)]
        Widget.render_lines = timed_render  # type: ignore[method-assign]
        Screen._refresh_layout = timed_layout  # type: ignore[method-assign]

    def reset(self) -> None:
        self.render.clear()
        self.calls.clear()
        self.layouts, self.layout_s = 0, 0.0

    def undo(self) -> None:
        for owner, name, original in self._undo:
            setattr(owner, name, original)

    def report(self, top: int = 8) -> str:
        parts = [f"{name} {s * 1000:.0f} ms/{self.calls[name]}"
                 for name, s in self.render.most_common(top)]
        return (f"  screen layouts: {self.layouts}, {self.layout_s * 1000:.0f} ms CPU "
                f"(repaints included); render_lines by widget: {', '.join(parts)}")


class GcPauses:
    """The cyclic garbage collector's pauses on any thread (it stops them all)."""

    def __init__(self) -> None:
        import gc

        self.pauses: list[tuple[int, float]] = []
        self._t0 = 0.0
        self._gc = gc
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses.append((info.get("generation", -1), time.perf_counter() - self._t0))

    def undo(self) -> None:
        self._gc.callbacks.remove(self._callback)

    def report(self) -> str:
        full = [s for gen, s in self.pauses if gen == 2]
        return (f"  gc: {len(self.pauses)} collections, {sum(s for _, s in self.pauses):.2f} s;"
                f" full (gen 2): {len(full)}, longest {max(full, default=0) * 1000:.0f} ms")
