"""The one way integration tests wait: poll a condition until it holds (never a fixed
sleep as synchronisation), with a generous limit for a loaded machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def until(what: Callable[[], Any], timeout: float = 60.0, why: str = "condition",
          shown: Callable[[], str] = lambda: "") -> Any:
    """The first truthy value of ``what()``; fails the test when none comes in time,
    with what ``shown()`` then says (a screen, a log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.02)
    detail = shown()
    raise AssertionError(f"{why}: not met within {timeout:g}s" + (f"\n{detail}" if detail else ""))
