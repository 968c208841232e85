"""The watch feed: every write the simulated store makes, kept in a window of recent
changes (what a real API server's watch cache keeps), so a watch can start from any
resourceVersion still in the window; an older one is answered with 410 Expired."""

from __future__ import annotations

import bisect
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.cluster.sim.store import clone

from .errors import ApiError, gone

WINDOW = 5_000  # changes kept (up to twice as many between two trims)


@dataclass(frozen=True)
class Change:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    kind: str
    obj: dict[str, Any]
    # The event as a watch stream line, per (apiVersion, stamp map): encoded once for
    # all the watchers that receive it, not once per watcher.
    lines: dict[tuple[Any, ...], bytes] = field(default_factory=dict, compare=False)

    def line(self, api_version: str, kind: str, shift: Any, wall: Any) -> bytes:
        key = (api_version, wall)
        out = self.lines.get(key)
        if out is None:
            # Two watchers may encode the same change at once: both get the same bytes.
            obj = {**self.obj, "apiVersion": api_version, "kind": kind}
            out = self.lines[key] = encode(shift(event(self.type, obj), wall))
        return out


class WatchHub:
    """Fed by the store's listener (under the cluster's lock); read by watch requests."""

    def __init__(self, start_rv: int, window: int = WINDOW) -> None:
        self._window = window
        self._changes: list[Change] = []
        self._rvs: list[int] = []
        # Every change after this version is in the window.
        self._oldest = start_rv
        self._last = start_rv
        self._cond = threading.Condition()
        self.closed = False

    def record(self, type_: str, obj: dict[str, Any]) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        change = Change(rv, type_, str(obj.get("kind", "")), clone(obj))
        with self._cond:
            self._changes.append(change)
            self._rvs.append(rv)
            self._last = max(self._last, rv)
            if len(self._changes) > 2 * self._window:
                cut = len(self._changes) - self._window
                self._oldest = self._rvs[cut - 1]
                del self._changes[:cut]
                del self._rvs[:cut]
            self._cond.notify_all()

    @property
    def last(self) -> int:
        return self._last

    def check(self, rv: int) -> None:
        if rv < self._oldest:
            raise gone(str(rv), self._oldest + 1)

    def since(self, rv: int, kind: str, timeout: float) -> tuple[list[Change], int]:
        """Changes of `kind` after `rv`, waiting up to `timeout` for any change, and the
        version read up to (where the next call carries on)."""
        with self._cond:
            if rv < self._oldest:
                raise gone(str(rv), self._oldest + 1)
            if self._last <= rv and not self.closed:
                self._cond.wait(timeout)
                if rv < self._oldest:  # the window moved past rv while this one waited
                    raise gone(str(rv), self._oldest + 1)
            start = bisect.bisect_right(self._rvs, rv)
            upto = max(rv, self._rvs[-1]) if self._rvs else rv
            return [c for c in self._changes[start:] if c.kind == kind], upto

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


def encode(ev: dict[str, Any]) -> bytes:
    return json.dumps(ev, separators=(",", ":")).encode() + b"\n"


def event(type_: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, "object": obj}


def error_event(err: ApiError) -> dict[str, Any]:
    return {"type": "ERROR", "object": err.status()}


def bookmark(kind: str, api_version: str, rv: int) -> dict[str, Any]:
    return {"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version,
                                           "metadata": {"resourceVersion": str(rv)}}}
