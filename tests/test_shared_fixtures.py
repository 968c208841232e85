"""Without ../shared the Fabrikate conformance tests skip with a reason on a developer's
machine, and fail under CI (CI=true), so a green CI run means they ran. Checked on a
copy of tests/conftest.py in a folder that has no ../shared beside it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NEEDS_FIXTURES = "def test_conformance(fabrikate_fixtures):\n    assert fabrikate_fixtures.is_dir()\n"


def run_without_shared(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    tests = tmp_path / "a" / "repo" / "tests"  # ../shared would be tmp_path/a/shared
    tests.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("conftest.py"), tests / "conftest.py")
    (tests / "test_needs_fixtures.py").write_text(NEEDS_FIXTURES)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "--rootdir", str(tests.parent), str(tests)],
                          capture_output=True, text=True, env=env, cwd=tests.parent,
                          check=False)


@pytest.mark.parametrize("ci", [None, "false"])
def test_missing_shared_is_a_skip_with_a_reason(tmp_path: Path, ci: str | None) -> None:
    proc = run_without_shared(tmp_path, ci)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped" in proc.stdout
    assert "Fabrikate fixtures not found" in proc.stdout and "../shared" in proc.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_shared_under_ci_is_a_failure(tmp_path: Path, ci: str) -> None:
    proc = run_without_shared(tmp_path, ci)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "skipped" not in proc.stdout
    assert "CI=true requires them" in proc.stdout


def test_no_test_module_skips_on_missing_shared_by_itself() -> None:
    """A module with its own skipif on ../shared would stay skipped under CI=true; every
    test that needs the fixtures goes through the conftest fixture instead."""
    here = Path(__file__).parent
    own_skip = re.compile(r"skipif\(\s*not\s+\w*(FIXTURES|FABRIKATE|SHARED|MASTER|DEVELOP)")
    offenders = [str(p.relative_to(here)) for p in here.rglob("*.py")
                 if p.name != "conftest.py" and own_skip.search(p.read_text())]
    assert offenders == []
