"""Issue 12 point 1 end to end: the running engine samples the cluster on its clock."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from sandbox.facade import Sandbox

from .waits import until


def test_the_engine_samples_on_the_simulated_clock(running: Sandbox) -> None:
    engine = running.engine
    assert engine is not None
    interval = running.settings.metrics_interval_seconds

    def web_samples() -> list[dict[str, Any]]:
        return [r for r in running.metric_samples(since=3600) if r["name"] == "web"]

    until(lambda: len(web_samples()) >= 3, why="three samples of web")
    workload = web_samples()
    # On the clock: one sample per interval of simulated time at most, each in a later
    # slot than the one before (a loaded machine makes a sample late, never early).
    slots = [int(r["sim"] // interval) for r in workload]
    assert all(b > a for a, b in pairwise(slots)), [r["sim"] for r in workload]
    assert workload[-1]["rps"] > 0 and workload[-1]["memory_mib"] > 0
    rows = running.metric_samples("web", since=3600, pods=True)
    assert any(r["kind"] == "Pod" and r["workload"] == "Deployment/demo/web" for r in rows)
    running.stop_engine()
    assert engine.sampler._thread is not None and not engine.sampler._thread.is_alive()
