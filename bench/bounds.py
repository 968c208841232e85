"""The engine's memory stays bounded whatever is merged (issue 8, point 4).

A real engine (CI runner, reconciler, simulated cluster at 50x) in a child process, so
its peak memory is its own. Two runs: the sample app as `init` leaves it, and the same
app after a reviewed merge that asks for the maximum replicas the bounds allow
(max_replicas). In the second run the PR check first refuses 99999999999 replicas, the
value that grew the engine to 4 GB before the bounds.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from .common import child_python, hermetic_env


def child(tmp: str, mode: str) -> None:
    from sandbox.facade import Sandbox
    from sandbox.workspace import Settings

    root = Path(tmp)
    hermetic_env(root / "home")
    sb = Sandbox.init(root / "ws", settings=Settings(clock_speed=50.0))
    for service in ("web", "api"):
        sb.ws.registry.push(service, "1.0.0", "fast")
    sb.start_engine()
    result: dict[str, float] = {}
    try:
        dep = sb.wait_for_deployment(sb.branches()["main"], 120)
        if mode == "max":
            sb.change("huge", ["replicas=99999999999"], subcomponent="web")
            started = time.perf_counter()
            huge = sb.wait_for_checks(sb.open_pr("huge").id, 120)
            result["refused_s"] = time.perf_counter() - started
            assert huge.checks_state == "failure", huge.checks
            top = sb.settings.max_replicas
            sb.change("max", [f"replicas={top}"], subcomponent="web")
            pr = sb.wait_for_checks(sb.open_pr("max").id, 120)
            assert pr.checks_state == "success", pr.checks
            sb.approve_pr(pr.id, "reviewer")
            merged = sb.merge_pr(pr.id, "operator")
            started = time.perf_counter()
            dep = sb.wait_for_deployment(str(merged.merge_sha), 600)
            result["deploy_s"] = time.perf_counter() - started
        pods = [o for o in sb.cluster_objects("Pod")
                if not o["metadata"].get("deletionTimestamp")]
        result.update(pods=len(pods), healthy=float(dep.get("health") == "Healthy"))
    finally:
        sb.close()
    print(json.dumps(result))


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-bounds-") as tmp:
        base = child_python("bench.bounds", "--child", tmp, "base")
    with tempfile.TemporaryDirectory(prefix="bench-bounds-") as tmp:
        top = child_python("bench.bounds", "--child", tmp, "max")
    print("engine memory after merges (real engine, simulated cluster at 50x)")
    print(f"  sample app ({base['pods']:.0f} pods): peak {base['peak_mb']:.0f} MB")
    print(f"  replicas: 99999999999 refused by the PR check in {top['refused_s']:.2f}s")
    print(f"  after merging web at max_replicas ({top['pods']:.0f} pods, "
          f"{'Healthy' if top['healthy'] else 'not Healthy'} in {top['deploy_s']:.1f}s): "
          f"peak {top['peak_mb']:.0f} MB (+{top['peak_mb'] - base['peak_mb']:.0f} MB)")
    return {"base_peak_mb": base["peak_mb"], "max_peak_mb": top["peak_mb"]}


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        run()
