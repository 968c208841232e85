"""Bad HLD input (issue: HLD generation ... checks a reviewer can trust): each case must
end in one clear error within two seconds, through the same path a pull-request check
takes (`check_hld`: generate, lint, validate). Prints each case's time and error."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The "billion laughs": nine levels of nine aliases, 387 million nodes once expanded.
BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi",
                                                                 strict=True))


def _static(root: Path, manifest: str) -> None:
    (root / "m").mkdir(parents=True)
    (root / "component.yaml").write_text("name: app\ntype: static\npath: ./m\n")
    (root / "m" / "a.yaml").write_text(manifest)


def alias_bomb(root: Path) -> None:
    _static(root, "kind: ConfigMap\n" + BOMB)


def huge_file(root: Path) -> None:
    _static(root, "kind: ConfigMap\n")
    with (root / "m" / "b.yaml").open("wb") as handle:
        handle.write(b"# padding\n" * (5 * 1024 * 1024))  # 50 MB, really written


def escape(root: Path) -> None:
    (root / "component.yaml").write_text("name: app\nsubcomponents:\n  - name: x\n"
                                         "    source: ../../etc\n")


def circular(root: Path) -> None:
    (root / "a").mkdir()
    (root / "component.yaml").write_text("name: r\nsubcomponents:\n  - name: a\n"
                                         "    source: ./a\n")
    (root / "a" / "component.yaml").write_text("name: a\nsubcomponents:\n  - name: b\n"
                                               "    source: ..\n")


def not_yaml(root: Path) -> None:
    _static(root, "kind: Deployment\n  bad: [\n")


CASES: dict[str, Callable[[Path], None]] = {
    "alias bomb": alias_bomb, "50 MB file": huge_file, "path escaping the HLD": escape,
    "circular subcomponents": circular, "not YAML": not_yaml,
}


def run() -> dict[str, float]:
    from sandbox.validation import check_hld

    worst = 0.0
    print("bad HLD input through the pull-request check (goal: one clear error, < 2 s each)")
    for name, make in CASES.items():
        with tempfile.TemporaryDirectory(prefix="bench-bad-") as tmp:
            root = Path(tmp) / "hld"
            root.mkdir()
            make(root)
            started = time.perf_counter()
            report = check_hld(root, ["prod"])
            took = time.perf_counter() - started
        errors = [f for f in report.findings if f.severity == "error"]
        worst = max(worst, took)
        first = str(errors[0]) if errors else "NO ERROR"
        print(f"  {name:<24} {took:6.3f}s  {len(errors)} error(s): {first[:90]}")
    print(f"  slowest: {worst:.3f}s")
    return {"worst_s": worst}


if __name__ == "__main__":
    run()
