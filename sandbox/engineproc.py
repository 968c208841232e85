"""An engine in a child process: what the TUI starts when no engine runs, so that the
engine's work never competes with the screen for one interpreter lock.

The child is `gitops-sandbox up` itself, in its own session (a Ctrl-C meant for the
screen does not reach it); its error output goes to `tmp/engine.log` in the workspace,
so a child that could not start is reported with its own words.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from .facade_waits import SandboxError
from .workspace import Workspace

LOG = "engine.log"


class EngineProcess:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def spawn(cls, ws: Workspace, timeout: float = 60.0) -> EngineProcess:
        """Start `up` on the workspace and return once it holds the workspace's lock."""
        log = ws.root / "tmp" / LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sandbox.cli", "up", "-w", str(ws.root)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True)
        child = cls(proc, log)
        deadline = time.monotonic() + timeout
        # The engine writes its pid into the lock file once it holds the lock; reading
        # the file (rather than trying the lock) cannot make the child's own try fail.
        while _lock_pid(ws.lock_path) != proc.pid:
            if proc.poll() is not None:
                raise SandboxError(f"the engine did not start: {child.last_words()}")
            if time.monotonic() > deadline:
                child.stop()
                raise SandboxError(f"the engine did not start within {timeout:g}s; its "
                                   f"messages are in {log}")
            time.sleep(0.05)
        return child

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """Stop it as Ctrl-C would (a clean stop: snapshots written, lock released)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def last_words(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else f"it exited with status {self.proc.returncode}"


def _lock_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None
