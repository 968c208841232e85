"""Merge -> converged latency (issues: the whole loop; a reconciler like Flux).

A real engine (watchers, CI runner, reconciler, simulated cluster at 1x, images with
zero start-up time) and N merges of real pull requests. For each merge: from the
`pr.merged` event to the moment the app is Healthy on that change (the deployment
trace's `healthy` time). Anchor: Flux v2's default one-minute poll alone averages
about 30 s between a commit and the start of its reconcile.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .common import bench_sandbox, hermetic_env, median, merge_latencies, percentile

FLUX_POLL_AVERAGE_S = 30.0


def run(merges: int = 20) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        hermetic_env(Path(tmp) / "home")
        sb = bench_sandbox(Path(tmp) / "ws", clock_speed=1.0)
        sb.start_engine()
        try:
            sb.wait_for_deployment(sb.branches()["main"], timeout=120)
            latencies = merge_latencies(sb, merges)
        finally:
            sb.close()
    first5 = latencies[:5]
    result = {"median5_s": median(first5), "p50_s": percentile(latencies, 50),
              "p95_s": percentile(latencies, 95), "max_s": max(latencies), "merges": merges}
    print(f"merge -> converged, simulated cluster at 1x, zero image start-up, {merges} merges")
    print(f"  median of the first 5: {result['median5_s']:.3f}s")
    print(f"  p50 {result['p50_s']:.3f}s, p95 {result['p95_s']:.3f}s, max {result['max_s']:.3f}s"
          f" (goal: p95 <= 1 s)")
    print(f"  ratio p95 / Flux v2 default poll average ({FLUX_POLL_AVERAGE_S:.0f}s): "
          f"{result['p95_s'] / FLUX_POLL_AVERAGE_S:.3f}")
    return result


if __name__ == "__main__":
    run()
