"""The layering rules: the engine never imports the screen; the TUI talks to the facade."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the TUI may import from the engine: the facade, the value types it returns, and
# the scenario runner (which makes its own workspaces through the facade).
TUI_ALLOWED = {"sandbox.facade", "sandbox.events", "sandbox.pullrequests", "sandbox.registry",
               "sandbox.scenario"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_engine_never_imports_textual_or_rich() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in imports(p)
                                                   if m.split(".")[0] in ("textual", "rich"))
                 for p in (ROOT / "sandbox").rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_tui_uses_only_the_facade_and_its_value_types() -> None:
    offenders: dict[str, list[str]] = {}
    for path in (ROOT / "tui").rglob("*.py"):
        bad = sorted(m for m in imports(path)
                     if m.split(".")[0] == "sandbox" and m not in TUI_ALLOWED)
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders


def test_tui_never_runs_git_or_kubectl() -> None:
    for path in (ROOT / "tui").rglob("*.py"):
        mods = imports(path)
        assert "subprocess" not in mods and "git" not in mods, path
