"""The simulated cluster's journal (issue 7: the cluster persists with bounded cost).

200 services / 1,000 objects and their 400 pods, journalled into a workspace's SQLite:
the first write holds everything; after that a step writes only what changed, so a
quiet step costs next to nothing and a one-object edit a few rows. Restoring is timed
too, as an engine start pays it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .common import median
from .reconcile import SERVICES, objects_for


def run(rounds: int = 3) -> dict[str, float]:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import ObjRef, SimCluster
    from sandbox.cluster.sim import persist
    from sandbox.registry import PROFILES
    from sandbox.store import Store

    def resolve(image: str) -> object:
        return PROFILES["fast"]

    full, quiet, edit, restore = [], [], [], []
    rows = 0
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="bench-persist-") as tmp:
            store = Store(Path(tmp) / "state.db")
            clock = VirtualClock()
            cluster = SimCluster(clock, resolve)  # type: ignore[arg-type]
            docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}]
            for i in range(SERVICES):
                docs += objects_for(i)
            cluster.apply(docs)
            clock.advance(30)
            cluster.step()
            t0 = time.perf_counter()
            cluster.journal_to(persist.sink(store, time.time))
            full.append(time.perf_counter() - t0)
            clock.advance(0.05)  # within the same second: no traffic to account either
            t0 = time.perf_counter()
            cluster.step()
            quiet.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cluster.scale(ObjRef("Deployment", "svc-000", "bench"), 3)
            edit.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            saved = persist.load(store)
            assert saved is not None
            SimCluster(VirtualClock(clock.now()), resolve).restore(saved)  # type: ignore[arg-type]
            restore.append(time.perf_counter() - t0)
            rows = len(saved.objects)
    result = {"full_write_s": median(full), "quiet_step_s": median(quiet),
              "edit_s": median(edit), "restore_s": median(restore), "rows": rows}
    print(f"cluster journal: {rows} rows ({SERVICES} services with their pods), median of "
          f"{rounds}")
    print(f"  first write of everything  {result['full_write_s']:.3f}s")
    print(f"  a step with nothing new    {result['quiet_step_s'] * 1000:.2f}ms")
    print(f"  kubectl scale of one       {result['edit_s'] * 1000:.1f}ms (the pod it adds "
          "and its owners)")
    print(f"  restore at engine start    {result['restore_s']:.3f}s")
    return result


if __name__ == "__main__":
    run()
