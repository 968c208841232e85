"""Shared helpers: hermetic git, child processes with peak memory, percentiles."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hermetic_env(home: Path) -> None:
    """Benchmarks run git like the tests: no user config, a fixed identity."""
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        del os.environ[key]
    os.environ.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "bench",
                       "GIT_AUTHOR_EMAIL": "bench@example.test", "GIT_COMMITTER_NAME": "bench",
                       "GIT_COMMITTER_EMAIL": "bench@example.test"})


def measure(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (MB) and stdout of a child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read the pipes before reaping so a chatty child never blocks on a full pipe.
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.decode()[-3000:]}")
    return took, usage.ru_maxrss / 1024.0, out.decode()  # Linux reports KiB


def child_python(module: str, *args: str) -> dict[str, float]:
    """Run `python -m module args`; the JSON it prints last, plus its peak memory."""
    wall, peak, out = measure([sys.executable, "-m", module, *args], cwd=ROOT)
    data = json.loads(out.strip().splitlines()[-1])
    data["peak_mb"] = peak
    data["wall_s"] = wall
    return data


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_sandbox(root: Path, **settings: object) -> object:
    """A workspace for the loop benches: web and api on images with zero start-up time,
    merge -> converged as Flux sees it (no SLO analysis window unless asked)."""
    from sandbox.facade import Sandbox
    from sandbox.workspace import Settings

    sb = Sandbox.init(root, settings=Settings(**{"analysis_count": 0, **settings}))
    for service in ("web", "api"):
        sb.ws.registry.push(service, "1.0.0", "fast")
    return sb


def merge_latencies(sb: object, merges: int, checks_timeout: float = 60,
                    deploy_timeout: float = 60) -> list[float]:
    """Seconds from each merge's own `pr.merged` event to the app Healthy on it."""
    latencies: list[float] = []
    for i in range(merges):
        branch = f"bench-{i}"
        sb.change(branch, [f"replicas={3 + i % 2}"], subcomponent="web")
        pr = sb.open_pr(branch, f"Bench change {i}")
        sb.wait_for_checks(pr.id, checks_timeout)
        sb.approve_pr(pr.id, "reviewer")
        before = sb.last_event_id()
        merged = sb.merge_pr(pr.id)
        assert merged.merge_sha
        dep = sb.wait_for_deployment(merged.merge_sha, deploy_timeout)
        if dep.get("health") != "Healthy":
            raise RuntimeError(f"merge {i} did not converge: {dep}")
        # Read from just before this merge: the event log pages, and only this PR's
        # event counts (an earlier page's last event is some other merge's).
        merged_at = next(e.ts for e in sb.events(before, kinds=("pr.merged",))
                         if e.data.get("pr") == pr.id)
        latencies.append(float(dep["healthy"]) - merged_at)
    return latencies
