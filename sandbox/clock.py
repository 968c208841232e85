"""Time for the simulated cluster and the monitor.

The simulation never reads the wall clock itself: it asks a clock object, so tests
and headless scenarios can run faster than real time and give the same result on
every run, while the TUI runs at human speed (optionally sped up).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Simulated seconds since the clock started."""
        ...


class RealClock:
    """Wall time multiplied by a speed factor (1.0 = real time)."""

    def __init__(self, speed: float = 1.0, start: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._t0) * self.speed


class VirtualClock:
    """Time that moves only when told to; deterministic for tests and scenarios."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a virtual clock cannot go back")
        with self._lock:
            self._now += seconds
            return self._now
