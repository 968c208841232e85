"""The first `make` run says what it does, and a failed install says where to look.

pip and venv are replaced by a stand-in Python so this runs in a second, offline.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

FAKE_PYTHON = """#!/bin/sh
# Stand-in for python3 -m venv DIR: DIR/bin/python is a stand-in pip.
mkdir -p "$3/bin"
cat > "$3/bin/python" <<'PIP'
#!/bin/sh
case "$*" in *--quiet*) exit 0;; esac
echo "Looking in indexes: https://pypi.org/simple"
echo "Collecting textual>=0.80"
echo "  Downloading textual-1.0.0-py3-none-any.whl (600 kB)"
echo "Collecting PyYAML>=6.0"
echo "Processing /opt/wheels/smmap-5.0.3-py3-none-any.whl (from gitdb)"
echo "Building editable for gitops-sandbox (pyproject.toml): started"
echo "Installing collected packages: textual, PyYAML, gitops-sandbox"
echo "ERROR: simulated failure" >&2
exit "${FAKE_PIP_EXIT:-0}"
PIP
chmod +x "$3/bin/python"
"""


def run_setup(tmp_path: Path, pip_exit: int) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    venv = tmp_path / "venv"
    return subprocess.run(
        ["make", "-s", "setup", f"PYTHON={fake}", f"VENV={venv}"], cwd=REPO,
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "FAKE_PIP_EXIT": str(pip_exit)})


def test_first_setup_prints_each_step_and_each_package(tmp_path: Path) -> None:
    done = run_setup(tmp_path, 0)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("==> setting up")
    assert [line for line in lines if line.startswith("==> [")] == [
        f"==> [1/3] creating the virtual environment {tmp_path}/venv with {tmp_path}/python3",
        "==> [2/3] upgrading pip",
        f"==> [3/3] installing gitops-sandbox and its dependencies (log: {tmp_path}/venv/"
        "install.log)",
    ]
    assert "    fetching textual>=0.80" in lines and "    fetching PyYAML>=6.0" in lines
    assert "    fetching smmap-5.0.3-py3-none-any.whl" in lines  # from a local wheel
    assert "    building gitops-sandbox" in lines and "    installing them" in lines
    assert "Looking in indexes" not in done.stdout  # the rest goes to the log only
    assert "Looking in indexes" in (tmp_path / "venv" / "install.log").read_text()
    assert (tmp_path / "venv" / ".installed").exists()
    again = run_setup(tmp_path, 0)
    assert again.stdout == ""  # set up already: make test's output stays the suite's


def test_failed_install_shows_the_log_and_fails(tmp_path: Path) -> None:
    done = run_setup(tmp_path, 3)
    assert done.returncode != 0
    assert "ERROR: simulated failure" in done.stdout
    assert f"pip install failed (exit 3); full log: {tmp_path}/venv/install.log" in done.stdout
    assert not (tmp_path / "venv" / ".installed").exists()
