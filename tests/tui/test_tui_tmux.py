"""The real console script in a real terminal (tmux): it starts, draws the pipeline,
and quits on `q`, releasing the engine it started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sandbox.facade import Sandbox
from tests.integration.waits import until

BIN = Path(sys.executable).parent / "gitops-sandbox"


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          timeout=10)


def test_tui_in_tmux_starts_and_quits(workspace: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    if not BIN.exists():
        pytest.skip(f"the gitops-sandbox console script is not installed ({BIN})")
    probe = subprocess.run([str(BIN), "--help"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("the gitops-sandbox CLI does not run yet: "
                    + (probe.stderr.strip().splitlines() or ["?"])[-1])

    # A private tmux server: it inherits this test's hermetic environment, and killing
    # it cannot touch anyone else's sessions.
    socket = f"gitops-tui-{uuid.uuid4().hex[:8]}"
    # COLUMNS/LINES from the test runner would override the pane's real size.
    command = f"env -u COLUMNS -u LINES {BIN} tui -w {workspace}"
    started = _tmux(socket, "new-session", "-d", "-s", "tui", "-x", "120", "-y", "40", command)
    assert started.returncode == 0, started.stderr

    def pane() -> str:
        return _tmux(socket, "capture-pane", "-p", "-t", "tui").stdout

    def alive() -> bool:
        return _tmux(socket, "has-session", "-t", "tui").returncode == 0

    try:
        until(lambda: "Reconciler" in pane() and "Cluster / Health" in pane(), 30,
              "the pipeline view", pane)
        until(lambda: Sandbox(workspace).engine_running(), 15, "the TUI's engine", pane)
        _tmux(socket, "send-keys", "-t", "tui", "q")
        until(lambda: not alive(), 20, "the TUI to exit after q", pane)
    finally:
        _tmux(socket, "kill-server")
    assert not Sandbox(workspace).engine_running()
    assert os.path.isdir(workspace)
