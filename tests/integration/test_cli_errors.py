"""The command line never shows a traceback: one line on stderr and exit 1 for errors,
quiet exits for closed pipes, a clean stop of `up` on Ctrl-C and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox import cli, cli_flow
from sandbox.cli_errors import DEBUG_ENV, EXIT_BROKEN_PIPE

CLI = [sys.executable, "-m", "sandbox.cli"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-errors") / "ws"
    subprocess.run([*CLI, "init", "-w", str(path), "--speed", "50"], check=True,
                   capture_output=True, timeout=120)
    return path


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def start_up(ws: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*CLI, "up", "-w", str(ws)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once the engine holds the workspace
    assert "engine running" in first, first + (proc.stderr.read() if proc.stderr else "")
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_up_stops_cleanly_on_ctrl_c_and_sigterm(ws: Path, sig: signal.Signals) -> None:
    proc = start_up(ws)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "engine stopped" in out and "Traceback" not in err
    # The lock went with it: a new engine may start.
    assert json.loads(subprocess.run([*CLI, "status", "-w", str(ws), "--json"],
                                     capture_output=True, text=True).stdout
                      )["engine"]["running"] is False


def test_up_on_a_running_engine_says_where_it_runs(ws: Path) -> None:
    first = start_up(ws)
    try:
        second = subprocess.run([*CLI, "up", "-w", str(ws)], capture_output=True, text=True,
                                timeout=60)
        line = one_error_line(second)
        assert f"pid {first.pid}" in line and "events -f" in line
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 0


@pytest.mark.parametrize("args", [["events", "--json"], ["status"], ["pr", "list", "--json"],
                                  ["--help"]])
def test_a_closed_pipe_ends_quietly(ws: Path, args: list[str]) -> None:
    # The reader is gone before the first write: `... | head -0`, deterministically.
    read, write = os.pipe()
    os.close(read)
    try:
        argv = [*CLI, *args] + (["-w", str(ws)] if args[0] != "--help" else [])
        proc = subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=60)
    finally:
        os.close(write)
    assert proc.stderr == ""
    assert proc.returncode in (0, EXIT_BROKEN_PIPE) if args == ["--help"] else (
        proc.returncode == EXIT_BROKEN_PIPE)


@pytest.mark.parametrize("args", [["bogus"], ["pr", "merge", "abc"], ["cluster", "scale"],
                                  ["status", "--no-such-flag"]])
def test_a_usage_mistake_is_one_line_naming_the_help(ws: Path, args: list[str]) -> None:
    proc = subprocess.run([*CLI, *args, "-w", str(ws)], capture_output=True, text=True,
                          timeout=60)
    line = one_error_line(proc)
    assert line.startswith("error: ") and "--help'" in line and proc.stdout == ""


def test_a_damaged_database_is_one_line(tmp_path: Path, ws: Path) -> None:
    import shutil

    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    for name in os.listdir(copy):
        if name.startswith("state.db"):
            os.remove(copy / name)
    (copy / "state.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    proc = subprocess.run([*CLI, "status", "-w", str(copy)], capture_output=True, text=True,
                          timeout=60)
    assert "database" in one_error_line(proc)


def test_an_unexpected_error_is_one_line_with_how_to_report_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ws: Path) -> None:
    def broken(args: Any) -> int:
        raise ValueError("something nobody expected")

    monkeypatch.setitem(cli.HANDLERS, "status", broken)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert cli.main(["status", "-w", str(ws)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "internal error" in err and "something nobody expected" in err and DEBUG_ENV in err
    monkeypatch.setenv(DEBUG_ENV, "1")
    assert cli.main(["status", "-w", str(ws)]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_a_wait_time_out_is_one_readable_line(capsys: pytest.CaptureFixture[str]) -> None:
    class Stuck:
        def wait_for_deployment(self, sha: str, timeout: float) -> dict[str, Any]:
            raise TimeoutError(f"{sha[:7]} did not settle (last state: {{'id': 5}})")

        def deployment(self, sha: str) -> dict[str, Any]:
            return {"id": 5, "hld_sha": sha, "manifest_sha": "ab" * 20, "sync_status": None}

    code = cli.run(lambda: cli_flow._wait_deploy(Stuck(), "cd" * 20, 2.0))  # type: ignore[arg-type]
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("timed out: cdcdcdc did not reach the cluster within 2s")
    assert "generated, not synced yet" in err and "{" not in err and "\n" not in err

    class Named(Stuck):
        def wait_for_deployment(self, sha: str, timeout: float) -> dict[str, Any]:
            raise TimeoutError(f"{sha[:7]} did not settle within 2s: stuck at sync of x")

    assert cli.run(lambda: cli_flow._wait_deploy(Named(), "cd" * 20, 2.0)) == 1  # type: ignore[arg-type]
    assert capsys.readouterr().err.strip() == (
        "timed out: cdcdcdc did not settle within 2s: stuck at sync of x")
