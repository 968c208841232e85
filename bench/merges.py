"""No slow drift (issue 10 point 5): 500 sequential small merges through the whole loop,
and the trend of each stage's time against the merge number.

A real engine (watchers, CI runner, reconciler, simulated cluster at 1x, images with
zero start-up time) and the sample app. Each merge is a real pull request (a replicas
change of `web`, alternating 3 and 4, pushed on its own branch), checked, approved,
merged and followed to Healthy. Per merge: merge -> Healthy (the `pr.merged` event to
the deployment trace's `healthy`), and the time of each CI job it caused (the PR's
validate job, the merge's generate job).

The figure to read is the slope of a least-squares line through each series against the
merge number (goal about 0), with the change it amounts to over the whole run, and its
noise: twice the slope's standard error. Wall times follow the machine's load as it
changes during a long run; the CPU series (the engine's threads and the git it runs,
per merge and per job) follow the work, and are the ones to read on a busy machine.
Runs in its own process.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import child_python, hermetic_env, median

if TYPE_CHECKING:
    from sandbox.store import Store

MERGES = 500
QUICK_MERGES = 100
SERIES = (("healthy_s", "merge -> Healthy"), ("healthy_cpu_s", "  (CPU)"),
          ("validate_s", "validate job (PR check)"), ("validate_cpu_s", "  (CPU)"),
          ("generate_s", "generate job"), ("generate_cpu_s", "  (CPU)"),
          ("merge_s", "pr merge call"))
PROGRESS_ENV = "BENCH_MERGES_PROGRESS"  # a file to append each merge's row to, if set


def slope(values: list[float]) -> tuple[float, float]:
    """(slope, its standard error) of the least-squares line through values[i] at i."""
    n = len(values)
    if n < 3:
        return 0.0, float("nan")
    mean_x, mean_y = (n - 1) / 2.0, sum(values) / n
    sxx = sum((i - mean_x) ** 2 for i in range(n))
    b = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(values)) / sxx
    a = mean_y - b * mean_x
    residual = sum((y - (a + b * i)) ** 2 for i, y in enumerate(values))
    return b, math.sqrt(residual / (n - 2) / sxx)


def _healthy_at(store: Store, dep: dict[str, Any]) -> float:
    """When the app was Healthy on this change: the trace's time, or (when the app never
    left Healthy, so no health change was traced) its health check's."""
    if dep.get("healthy"):
        return float(dep["healthy"])
    row = store.one("SELECT ts FROM events WHERE kind='health.check' AND "
                    "json_extract(data, '$.revision')=? ORDER BY id DESC LIMIT 1",
                    dep.get("manifest_sha"))
    return float(row["ts"]) if row else time.time()


def _job(store: Store, kind: str, sha: str) -> tuple[int, float]:
    """(id, wall seconds) of the successful job of this kind for this commit."""
    row = store.one("SELECT id, started, finished FROM jobs WHERE kind=? AND "
                    "json_extract(params, '$.sha')=? AND status='success' ORDER BY id DESC "
                    "LIMIT 1", kind, sha)
    return (int(row["id"]), float(row["finished"] - row["started"])) if row else (0, math.nan)


def _cpu() -> float:
    """CPU seconds of this process (the engine's threads) and of the git it ran."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _time_jobs() -> dict[int, float]:
    """Each CI job's CPU: its thread's, plus the children (git) reaped meanwhile. On a
    busy machine wall times follow the load; CPU follows the work."""
    from sandbox import pipelines

    spent: dict[int, float] = {}
    real = pipelines.CIRunner.run

    def run(self: Any, job: int) -> dict[str, Any]:
        kids, own = os.times(), time.thread_time()
        try:
            return real(self, job)
        finally:
            after = os.times()
            spent[job] = (time.thread_time() - own + after.children_user
                          + after.children_system - kids.children_user - kids.children_system)

    pipelines.CIRunner.run = run  # type: ignore[method-assign]
    return spent


def child(merges: int, tmp: str) -> None:
    from sandbox.facade import Sandbox
    from sandbox.workspace import Settings

    job_cpu = _time_jobs()
    progress = os.environ.get(PROGRESS_ENV)

    root = Path(tmp)
    hermetic_env(root / "home")
    # merge -> Healthy as Flux sees it: the SLO analysis window is not part of it.
    sb = Sandbox.init(root / "ws", settings=Settings(clock_speed=1.0, analysis_count=0))
    sb.ws.registry.push("web", "1.0.0", "fast")
    sb.ws.registry.push("api", "1.0.0", "fast")
    sb.start_engine()
    rows: list[dict[str, float]] = []
    try:
        sb.wait_for_deployment(sb.branches()["main"], timeout=120)
        for i in range(merges):
            branch = f"drift-{i}"
            sb.change(branch, [f"replicas={3 + i % 2}"], subcomponent="web")
            pr = sb.open_pr(branch, f"Drift change {i}")
            checked = sb.wait_for_checks(pr.id, 120)
            sb.approve_pr(pr.id, "reviewer")
            started, cpu = time.perf_counter(), _cpu()
            merged = sb.merge_pr(pr.id)
            merge_call = time.perf_counter() - started
            sha = str(merged.merge_sha)
            dep = sb.wait_for_deployment(sha, 120)
            healthy_cpu = _cpu() - cpu
            if dep.get("health") != "Healthy":
                raise RuntimeError(f"merge {i} did not converge: {dep}")
            event = sb.ws.store.one("SELECT ts FROM events WHERE kind='pr.merged' AND "
                                    "json_extract(data, '$.pr')=? ORDER BY id DESC LIMIT 1",
                                    pr.id)
            validate = _job(sb.ws.store, "validate", checked.head_sha)
            generate = _job(sb.ws.store, "generate", sha)
            rows.append({"healthy_s": _healthy_at(sb.ws.store, dep) - float(event["ts"]),
                         "healthy_cpu_s": healthy_cpu,
                         "validate_s": validate[1], "validate_cpu_s": job_cpu.get(validate[0],
                                                                               math.nan),
                         "generate_s": generate[1], "generate_cpu_s": job_cpu.get(generate[0],
                                                                               math.nan),
                         "merge_s": merge_call})
            if progress:
                with open(progress, "a") as fh:
                    fh.write(json.dumps(rows[-1]) + "\n")
        branches = len(sb.branches())
    finally:
        sb.close()
    db_mb = (root / "ws" / "state.db").stat().st_size / 1e6
    print(json.dumps({"rows": rows, "branches": branches, "db_mb": db_mb}))


def run(quick: bool = False, merges: int | None = None) -> dict[str, float]:
    merges = merges or (QUICK_MERGES if quick else MERGES)
    with tempfile.TemporaryDirectory(prefix="bench-merges-") as tmp:
        data = child_python("bench.merges", "--child", str(merges), tmp)
    rows = data["rows"]
    tenth = max(1, len(rows) // 10)
    print(f"drift: {len(rows)} sequential merges of the sample app, simulated cluster at 1x"
          + (" (--quick)" if quick else ""))
    print(f"  {'series':<26}{'first 10%':>11}{'last 10%':>11}{'slope/merge':>14}"
          f"{'over the run':>14}{'noise (2 SE)':>14}")
    result: dict[str, float] = {"merges": len(rows)}
    for key, label in SERIES:
        values = [r[key] for r in rows if not math.isnan(r[key])]
        if not values:
            continue
        b, se = slope(values)
        mean = sum(values) / len(values)
        over = b * (len(values) - 1) / mean if mean else 0.0
        noise = 2 * se * (len(values) - 1) / mean if mean else 0.0
        first, last = median(values[:tenth]), median(values[-tenth:])
        print(f"  {label:<26}{first:>10.3f}s{last:>10.3f}s{b * 1000:>11.3f} ms"
              f"{over:>+13.1%}{noise:>13.1%}")
        result[f"{key}_slope"] = b
        result[f"{key}_over_run"] = over
    print(f"  goal: slope about 0 (a change over the run within its noise); branches left "
          f"in hld.git: {data['branches']} (merged ones are deleted); state.db "
          f"{data['db_mb']:.1f} MB")
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3])
    else:
        run(merges=int(sys.argv[1]) if len(sys.argv) > 1 else None)
