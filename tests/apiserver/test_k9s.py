"""k9s against the sandbox's API server, where k9s is installed; skipped elsewhere with
what is missing. No registry the project installs from carries it, so the dev extra
cannot: the PyPI project named `k9s` is an unrelated Python toolkit (no binary), and
neither npm nor Debian has a k9s package."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from .conftest import Cluster, until

K9S = shutil.which("k9s")
pytestmark = pytest.mark.skipif(
    K9S is None, reason="k9s not found on PATH (no PyPI, npm or Debian package ships it); "
    "install it from https://k9scli.io to run these tests")


def _env(cluster: Cluster, home: Path) -> dict[str, str]:
    # k9s keeps its config, skins and logs under XDG dirs: a temp HOME keeps it hermetic.
    return {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"), "XDG_STATE_HOME": str(home / "state"),
            "XDG_DATA_HOME": str(home / "data"), "TERM": "xterm-256color",
            "COLUMNS": "200", "LINES": "50"}


def test_k9s_info_reads_the_sandbox_kubeconfig(cluster: Cluster, tmp_path: Path) -> None:
    assert K9S
    info = subprocess.run([K9S, "info"], capture_output=True, text=True, timeout=60,
                          env=_env(cluster, tmp_path), check=False)
    assert info.returncode == 0, info.stderr
    assert "Configuration" in info.stdout or "config" in info.stdout.lower()


def test_k9s_headless_lists_the_sandbox_pods(cluster: Cluster, tmp_path: Path) -> None:
    assert K9S
    # k9s is a full-screen terminal UI: give it a pseudo-terminal and read what it draws.
    leader, follower = pty.openpty()
    screen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                return
            if not chunk:
                return
            screen.extend(chunk)

    proc = subprocess.Popen(
        [K9S, "--headless", "--readonly", "--context", "sandbox", "-n", "demo",
         "--command", "pods", "--logFile", str(tmp_path / "k9s.log")],
        stdin=follower, stdout=follower, stderr=follower, env=_env(cluster, tmp_path),
        start_new_session=True)
    os.close(follower)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        until(lambda: b"web-" in screen and b"api-" in screen, timeout=60,
              why="k9s drew the sandbox's pods")
        assert proc.poll() is None, "k9s exited early"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(leader)
        reader.join(timeout=5)
