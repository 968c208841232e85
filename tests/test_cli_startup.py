"""The command line starts quickly because `--help` and `status` import nothing heavy:
the engine, the simulated cluster, the HLD tooling and the TUI load only in the
commands that use them. (Times are measured by `make bench`, not asserted here.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("textual", "watchdog", "git", "yaml", "yamllint", "kubernetes_validate",
         "jsonschema", "sandbox.engine", "sandbox.cluster.sim", "sandbox.hld",
         "sandbox.validation", "sandbox.manifestdiff", "tui")

PROBE = """
import contextlib, io, json, sys
from sandbox.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def imported(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, timeout=60)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["code"] == 0, proc.stderr
    return [m for m in data["modules"]
            if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sandbox.workspace import init_workspace

    path = tmp_path_factory.mktemp("startup") / "ws"
    init_workspace(path)
    return path


def test_help_imports_nothing_heavy() -> None:
    assert imported("--help") == []


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_status_imports_nothing_heavy(workspace: Path, extra: list[str]) -> None:
    assert imported("status", "-w", str(workspace), *extra) == []


def test_the_probe_sees_heavy_imports(workspace: Path) -> None:
    # The checks above are worth something only if they can fail: a command that
    # edits HLD YAML really loads yaml.
    src = workspace / "hld"
    subprocess.run(["git", "clone", "-q", str(workspace / "hld.git"), str(src)], check=True)
    assert "yaml" in imported("hld", "set", "--hld", str(src), "-s", "web", "replicas=3")


def test_the_parser_names_the_workspace_variable_the_workspace_reads() -> None:
    from sandbox import cli_parser, workspace

    assert cli_parser.DEFAULT_ENV_VAR == workspace.DEFAULT_ENV_VAR
