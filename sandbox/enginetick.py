"""The engine's tick: step the cluster to the clock's now, then publish health,
snapshots and countdowns (enginehealth.py, countdowns.py), renew the leases of running
jobs and check that the engine's lock file and database are still the ones it opened.

The tick runs when there is something to do, not on a fixed period (issue: an idle
engine is idle): it sleeps until the cluster's next timer, the next deadline `status`
counts down, the guard's period, or a write to the cluster (apply, delete, direct edit)
or a reconcile that changed what health is judged against, which set `wake`.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from typing import TYPE_CHECKING

from .cluster.sim import gcpause

if TYPE_CHECKING:
    from .engine import Engine

GUARD_SECONDS = 1.0  # how often leases are renewed and the lock and database checked
# The longest an idle tick sleeps: the guard's period, so leases and the lock are still
# looked after on time while nothing else wakes the tick.
IDLE_TICK_SECONDS = GUARD_SECONDS


class Ticker:
    def __init__(self, engine: Engine, tick_seconds: float) -> None:
        self.engine = engine
        self.tick_seconds = tick_seconds  # the shortest period, however often woken
        self.wake = threading.Event()
        cluster = engine.cluster
        if hasattr(cluster, "on_write"):
            cluster.on_write = lambda: self.wake.set()
        self.ticks = 0  # how many ticks ran: flat while idle, bounded by the timers
        self.settled = False  # the collector's heap settled once the app converged
        self._guard_due = 0.0
        self._after = 0.0

    def loop(self) -> None:
        stop = self.engine._stop
        while not stop.is_set():
            # Cleared before the tick runs: a write during it wakes the next one.
            self.wake.wait(self.wait_seconds())
            self.wake.clear()
            if stop.is_set():
                return
            # At most one tick per tick_seconds, however often writes wake it.
            if stop.wait(max(0.0, self._after - time.monotonic())):
                return
            self._after = time.monotonic() + self.tick_seconds
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - reported, the loop lives on
                self.engine.bus.publish("engine.error", "engine",
                                        f"tick: {type(exc).__name__}: {exc}")

    def wait_seconds(self) -> float | None:
        """Wall seconds until the tick has something to do: the cluster's next timer,
        the next deadline `status` counts down (a health check's timeout), or the guard,
        at the clock's speed. A cluster that cannot say when it moves next (a real one),
        or a snapshot not yet written, is ticked at the fixed rate."""
        eng = self.engine
        next_due = getattr(eng.cluster, "next_due", None)
        if not callable(next_due) or not eng.publisher.snapshots_current():
            return self.tick_seconds
        now, speed = eng.clock.now(), eng.clock_speed()
        waits = [self._guard_due - time.monotonic() if eng._started else IDLE_TICK_SECONDS]
        due = next_due()
        if due is not None:
            waits.append((due - now) / speed)
        last = eng.countdowns.last or {}
        waits += [(float(d["at"]) - now) / speed for d in last.get("deadlines") or ()
                  if float(d["at"]) > now]  # one already past was ticked when it fell
        return max(0.0, min(min(waits), IDLE_TICK_SECONDS))

    def tick(self) -> None:
        eng = self.engine
        self.ticks += 1
        if time.monotonic() >= self._guard_due:
            self._guard_due = time.monotonic() + GUARD_SECONDS
            if not self.guard():
                return
        for ev in eng.cluster.step():
            if ev.type == "Warning" or ev.reason in ("ScalingReplicaSet",):
                eng.bus.publish("cluster.event", "cluster",
                                f"{ev.ref.short}: {ev.reason}: {ev.message}",
                                reason=ev.reason, object=str(ev.ref), type=ev.type)
        eng.publisher.publish()
        eng.countdowns.publish()
        # Healthy with objects to watch: an empty first revision is Healthy too, long
        # before the fleet (what the freeze is for) exists.
        if not self.settled and eng.health.get("app") == "Healthy" and eng.health.get("objects"):
            self.settled = gcpause.settle_once() or True

    def guard(self) -> bool:
        """Renew job leases; check the lock file and the database are still ours."""
        eng = self.engine
        if not eng._started:
            return True  # driven step by step (tests): no lock, no leases to guard
        if not eng.ws.store.still_same_file():
            self._die("state.db was deleted or replaced under the running engine, which "
                      "would write into a file nobody reads: the engine stops; start it "
                      "again (gitops-sandbox up)")
            return False
        if not eng.lock.still_ours():
            if eng.lock.retake():
                eng.bus.publish("engine.warning", "engine",
                                "engine.lock was deleted under the running engine: "
                                "recreated it, so no second engine can start")
            else:
                pid = eng.lock.held_elsewhere()
                self._die(f"engine.lock was deleted and another engine (pid {pid}) took "
                          "it: this engine stops so that only one runs")
                return False
        from . import repair

        problem = repair.hook_problem(eng.ws)
        if problem:
            # Without the hook main takes any push: put the branch policy back at once.
            from .gitserver import install_hook

            install_hook(eng.ws.hld_git, eng.ws.root)
            eng.bus.publish("engine.repaired", "engine", f"hld.git's pre-receive hook was "
                            f"{problem}: installed it again")
        eng.ci.renew_leases()
        return True

    def _die(self, why: str) -> None:
        eng = self.engine
        eng.fatal = why
        print(f"error: {why}", file=sys.stderr, flush=True)
        try:
            eng.bus.publish("engine.error", "engine", why)
        except sqlite3.Error:
            pass  # the database may be the thing that is gone
        # stop() joins this very thread, so it runs on another one.
        threading.Thread(target=eng.stop, name="engine-stop", daemon=True).start()
