"""The engine's side of the persistent simulated cluster.

A real cluster keeps running while its GitOps controller restarts; so does the
simulated one: its objects, pods, events, counters and RNG live in the workspace's
SQLite (written as they change, see sandbox/cluster/sim/persist.py) and the next engine
carries on from them. Time carries on too: the simulated clock resumes at the saved
instant plus the wall time the engine was away, at the clock's speed, as the
controllers of a real cluster would have gone on working meanwhile. The kind and
kubectl backends keep their own state and need none of this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .clock import Clock, VirtualClock
from .events import EventBus
from .workspace import Workspace

if TYPE_CHECKING:
    from .cluster.base import ClusterBackend
    from .cluster.sim.persist import Saved


class ClusterState:
    def __init__(self, ws: Workspace, saved: Saved | None, error: str | None) -> None:
        self.ws = ws
        self.saved = saved
        self.error = error

    @classmethod
    def load(cls, ws: Workspace) -> ClusterState | None:
        """None for a backend that keeps its own state. Reads only: the engine writes
        once it holds the workspace's lock."""
        if ws.settings.cluster != "sim":
            return None
        from .cluster.sim import persist

        try:
            return cls(ws, persist.load(ws.store), None)
        except ValueError as exc:
            return cls(ws, None, str(exc))

    def resume_time(self) -> float:
        from .cluster.sim import persist

        if self.saved is None:
            return 0.0
        return persist.resume_time(self.saved, self.ws.settings.clock_speed, time.time())

    def build(self, make: Callable[[], ClusterBackend], clock: Clock) -> ClusterBackend:
        """A cluster in the saved state; an empty one when the state cannot be used."""
        cluster = make()
        restore = getattr(cluster, "restore", None)
        if self.saved is None or not callable(restore):
            return cluster
        saved_now = float(self.saved.state.get("now", 0.0))
        if isinstance(clock, VirtualClock) and clock.now() < saved_now:
            clock.advance(saved_now - clock.now())  # a test's clock picks up where it was
        try:
            restore(self.saved)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            self.saved, self.error = None, f"the saved cluster state is damaged: {exc!r}"
            return make()
        return cluster

    def attach(self, cluster: ClusterBackend, bus: EventBus) -> None:
        """From now on the cluster writes its changes to the workspace."""
        from .cluster.sim import persist

        journal_to: Any = getattr(cluster, "journal_to", None)
        if not callable(journal_to):
            return
        if self.error:
            self.ws.store.clear_cluster()
            bus.publish("cluster.reset", "cluster",
                        f"{self.error}: the simulated cluster starts empty and the reconciler "
                        "applies git to it again", error=self.error)
        elif self.saved is not None:
            bus.publish("cluster.restored", "cluster",
                        f"simulated cluster restored: {len(self.saved.objects)} objects, "
                        f"time {float(self.saved.state['now']):.1f}s",
                        objects=len(self.saved.objects))
        journal_to(persist.sink(self.ws.store, time.time))


def offline_snapshot(ws: Workspace) -> dict[str, Any] | None:
    """The saved cluster as `cluster get` should show it while no engine runs: played
    forward to now as the restarted engine would (nothing is written), or None when
    there is no usable saved state."""
    state = ClusterState.load(ws)
    if state is None or state.saved is None:
        return None
    from .cluster.sim import SimCluster

    clock = VirtualClock(state.resume_time())
    cluster = state.build(lambda: SimCluster(
        clock, ws.registry.resolve, seed=ws.settings.seed, nodes=ws.settings.nodes,
        kubernetes_version=ws.settings.kubernetes_version), clock)
    if state.saved is None:
        return None
    cluster.step()
    snapshot: dict[str, Any] = cluster.snapshot()  # type: ignore[attr-defined]
    return snapshot
