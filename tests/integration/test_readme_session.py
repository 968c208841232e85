"""The README's first command-line session, run as written with the `make install`
launcher on PATH in a fresh HOME: what a newcomer types first must work."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_CLI = REPO / ".venv" / "bin" / "gitops-sandbox"

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or not VENV_CLI.exists(),
    reason="needs make and this checkout's .venv (make setup)",
)


def session_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("## A first session from the command line", 1)[1].split("```")[1]
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()]
    return [line for line in lines if line]


def clean_env(home: Path, on_path: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GITOPS_SANDBOX_WORKSPACE"}
    # Nothing but the launcher may provide the command: drop the .venv from PATH.
    path = [p for p in env.get("PATH", "").split(os.pathsep)
            if p and not Path(p, "gitops-sandbox").exists()]
    if on_path:
        path.insert(0, str(home / ".local" / "bin"))
    env.update(HOME=str(home), PATH=os.pathsep.join(path))
    return env


def make_install(env: dict[str, str]) -> str:
    # -o: never rebuild .venv from here, even when pyproject.toml is newer than its stamp.
    done = subprocess.run(["make", "-s", "-o", ".venv/.installed", "install"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def bash(script: str, env: dict[str, str], timeout: float = 180) -> str:
    done = subprocess.run(["bash", "-ec", script], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=env["HOME"])
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_make_install_says_where_and_how_to_get_on_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    out = make_install(clean_env(home, on_path=False))
    launcher = home / ".local" / "bin" / "gitops-sandbox"
    assert f"installed {launcher}" in out
    assert "is not on your PATH" in out and f'export PATH="{launcher.parent}:$PATH"' in out
    out = make_install(clean_env(home, on_path=True))
    assert "is on your PATH" in out
    other = tmp_path / "opt"
    make_install({**clean_env(home, on_path=False), "PREFIX": str(other)})
    assert os.access(other / "bin" / "gitops-sandbox", os.X_OK)


def test_readme_first_session_runs_as_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(home, on_path=True)
    make_install(env)
    launcher = home / ".local" / "bin" / "gitops-sandbox"
    assert bash("command -v gitops-sandbox", env).strip() == str(launcher)

    lines = session_lines()
    init, up, export = lines[:3]
    assert " init " in init and " up " in up and export.startswith("export ")
    second = lines[3: next(i for i, line in enumerate(lines) if " pr show " in line) + 1]
    assert any(" change " in line for line in second) and any(" pr open " in line
                                                              for line in second)

    bash(init, env)
    engine = subprocess.Popen(["bash", "-c", f"exec {up}"], env=env, cwd=home,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            status = json.loads(bash(f"{export}\ngitops-sandbox status --json", env))
            if status["health"]["app"] == "Healthy":
                break
            assert engine.poll() is None, engine.stderr.read() if engine.stderr else ""
            assert time.monotonic() < deadline, "the engine did not bring the sample app up"
            time.sleep(0.2)
        out = bash("\n".join([export, *second]), env)
        assert "validate-manifests: success" in out
        assert "replicas" in out  # pr show: the HLD diff
    finally:
        engine.send_signal(signal.SIGINT)
        engine.wait(timeout=60)
