"""The cluster as other processes read it costs what changed (issue 10, point 1).

1,000 and 3,000 services (a Deployment, a Service and a ConfigMap each) converged in a
simulated cluster that journals itself into a workspace's SQLite, as the engine runs
it. For each size, the CPU seconds of:
- the whole-cluster snapshot the engine used to write for other processes (every object
  copied under the cluster's lock, all metrics, the newest events, one JSON record);
- what a one-object edit writes now: the journal rows of what the edit and the
  controllers touched (the step that carries it out), and the verdict rows that moved.
The ratio 3,000 / 1,000 shows the growth: about 3 for the whole copy, about 1 for a
write that costs what changed. Each size runs in a child process (its own memory).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from .common import child_python, median

SIZES = (1000, 3000)
EDITS = 7


def child(services: int) -> None:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import ObjRef, SimCluster
    from sandbox.cluster.sim import persist
    from sandbox.registry import PROFILES
    from sandbox.store import Store

    from .scale import converged, manifests

    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as tmp:
        store = Store(Path(tmp) / "state.db")
        clock = VirtualClock()
        cluster = SimCluster(clock, lambda image: PROFILES["fast"],
                             max_pods=services * 2 + 100)
        cluster.journal_to(persist.sink(store, time.time))
        docs = manifests(services)
        for i in range(0, len(docs), 4000):
            cluster.apply(docs[i:i + 4000])
        while not converged(cluster):
            clock.advance(1.0)
            cluster.step()
        for _ in range(30):  # the last timers of the convergence
            clock.advance(1.0)
            cluster.step()
        rows: list[int] = []
        real = store.write_cluster

        def counted(upserts: dict[str, str], deletes: list[str], *rest: object) -> None:
            rows.append(len(upserts) + len(deletes))
            real(upserts, deletes, *rest)  # type: ignore[arg-type]
        store.write_cluster = counted  # type: ignore[method-assign]
        whole, edit = [], []
        for n in range(EDITS):
            started = time.process_time()
            data = cluster.snapshot()
            store.put_snapshot("cluster", data)
            whole.append(time.process_time() - started)
            ref = ObjRef("Deployment", f"svc-{n:04d}", f"team-{n % 10}")
            started = time.process_time()
            cluster.scale(ref, 2)  # the edit's own write, then its controllers' steps
            for _ in range(5):
                clock.advance(1.0)
                cluster.step()
            edit.append(time.process_time() - started)
        size = len(json.dumps(data)) / 1e6
    print(json.dumps({"services": services, "whole_cpu_s": median(whole),
                      "whole_mb": size, "edit_cpu_s": median(edit),
                      "edit_rows": sum(rows) / EDITS,
                      "objects": len(docs)}))


def run() -> dict[int, dict[str, float]]:
    results = {n: child_python("bench.snapshot", "--child", str(n)) for n in SIZES}
    for n, r in results.items():
        print(f"snapshot: {n:,} services: whole-cluster copy {r['whole_cpu_s'] * 1000:.0f} ms "
              f"CPU ({r['whole_mb']:.1f} MB); a one-object edit writes "
              f"{r['edit_rows']:.0f} rows in {r['edit_cpu_s'] * 1000:.1f} ms CPU "
              f"(the edit and 5 steps, medians of {EDITS})")
    small, big = results[SIZES[0]], results[SIZES[-1]]
    print(f"  ratio {SIZES[-1]:,} / {SIZES[0]:,}: whole copy "
          f"{big['whole_cpu_s'] / small['whole_cpu_s']:.2f}, one-object edit "
          f"{big['edit_cpu_s'] / small['edit_cpu_s']:.2f} (goal: about 1)")
    return results


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
    else:
        run()
