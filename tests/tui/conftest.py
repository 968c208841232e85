"""Fixtures for the TUI tests: a real workspace with the sample app, and helpers that
wait on conditions (never fixed sleeps)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from sandbox.facade import Sandbox


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    Sandbox.init(tmp_path / "ws")
    return tmp_path / "ws"


@pytest.fixture
def idle_sandbox(workspace: Path, serve) -> Iterator[Sandbox]:  # type: ignore[no-untyped-def]
    """No engine, only its git server (pushes need it): for views that need no engine.
    The idle engine costs enough CPU to slow every Pilot key press (Pilot waits for the
    process to go idle)."""
    serve(workspace)
    sb = Sandbox(workspace)
    try:
        yield sb
    finally:
        sb.close()


@pytest.fixture
def sandbox(workspace: Path) -> Iterator[Sandbox]:
    sb = Sandbox(workspace)
    sb.start_engine()
    try:
        yield sb
    finally:
        sb.close()


Waiter = Callable[..., Awaitable[None]]


async def _wait_for(pilot: Pilot[object], cond: Callable[[], object], timeout: float = 30.0,
                    what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.05)


@pytest.fixture
def wait_for() -> Waiter:
    """`await wait_for(pilot, lambda: ..., what=...)`: poll the UI until true or fail."""
    return _wait_for
