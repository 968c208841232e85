"""Simulated timestamps as clients see them.

The simulated clock starts at 1970 and may run faster than the wall clock
(`clock_speed`), while kubectl computes ages from its own wall clock and prints
`<invalid>` for a time more than a second in its future. Stamps go out moved by one
offset, so every age a client computes is the simulated age, as in the server's own
Table columns, the CLI and the TUI. The offset is fixed at the first answer and moved
only when the simulated now would read ahead of the wall clock: never at
clock_speed 1 or below (an object's stamps read the same in every answer, which
kubectl diff and informer caches compare), continually above it, where a stable stamp
and a simulated age cannot both be had.
"""

from __future__ import annotations

import calendar
import functools
import re
import threading
import time
from collections.abc import Callable
from typing import Any

# (wall seconds, simulated seconds) at the anchor.
Mapping = tuple[float, float]
_SIM_STAMP = re.compile(r"^19[67]\d-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# How far ahead of the wall clock a stamp may read before the offset moves: kubectl
# shows "0s" up to a second ahead; this absorbs the drift between the monotonic clock
# (the simulation's) and the wall clock at clock_speed 1.
SLACK = 0.5


class WallTime:
    def __init__(self, sim_now: Callable[[], float],
                 wall_now: Callable[[], float] = time.time) -> None:
        self._sim_now = sim_now
        self._wall_now = wall_now
        self._map: Mapping | None = None
        self._lock = threading.Lock()

    def mapping(self) -> Mapping:
        """The offset in force, moved when the simulated now would read ahead."""
        with self._lock:
            sim, wall = float(self._sim_now()), self._wall_now()
            m = self._map
            if m is None or to_wall(sim, m) > wall + SLACK:
                self._map = m = (wall, sim)
            return m


def to_wall(t: float, m: Mapping) -> float:
    return m[0] + (t - m[1])


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def shift(data: Any, m: Mapping | None) -> Any:
    """Every simulated stamp in an answer moved by the map."""
    if m is None:
        return data
    if isinstance(data, dict):
        return {k: shift(v, m) for k, v in data.items()}
    if isinstance(data, list):
        return [shift(v, m) for v in data]
    if isinstance(data, str) and len(data) == 20 and data[:2] == "19" and _SIM_STAMP.match(data):
        return _moved(data, m)
    return data


@functools.lru_cache(maxsize=65536)
def _moved(stamp: str, m: Mapping) -> str:
    return rfc3339(to_wall(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")), m))
