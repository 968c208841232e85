"""Countdowns (issue 12 point 4): what the pipeline is waiting for, and how long is left.

While a rollout waits on its `progressDeadlineSeconds`, Flux's health check on its
timeout, the reconciler on its next resync and the SLO analysis on its next check,
`status` (and the TUI, through `Sandbox.waits()`) says so, in simulated seconds and in
wall seconds at the current clock speed.

The engine knows the deadlines (absolute simulated times); it writes them to the
snapshot `waits` only when they change, with the simulated and wall time of writing
and the clock speed. A reader in any process counts down from there, so an idle engine
writes nothing while the countdowns still move.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

ROLLOUT = "rollout progress deadline (progressDeadlineSeconds)"
HEALTH = "health check timeout"
RESYNC = "reconciler resync"
ANALYSIS = "SLO analysis check"


@dataclass(frozen=True)
class Deadline:
    what: str  # one of the words above
    target: str  # what waits: "Deployment/demo/web", "revision 1a2b3c4"...
    at: float  # simulated time it ends


def _seconds(stamp: Any) -> float | None:
    """An RFC 3339 time as seconds since the epoch (the simulated clock's zero)."""
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def rollout_deadlines(deployments: list[dict[str, Any]]) -> list[Deadline]:
    """Deployments whose rollout is in progress: the controller declares
    ProgressDeadlineExceeded `progressDeadlineSeconds` after the Progressing
    condition's lastUpdateTime (its last progress), unless it completes first."""
    out = []
    for dep in deployments:
        spec = dep.get("spec") or {}
        if spec.get("paused"):
            continue  # a paused rollout has no deadline
        for cond in (dep.get("status") or {}).get("conditions") or []:
            if (cond.get("type") == "Progressing" and cond.get("status") == "True"
                    and cond.get("reason") != "NewReplicaSetAvailable"):
                since = _seconds(cond.get("lastUpdateTime"))
                if since is not None:
                    meta = dep.get("metadata") or {}
                    out.append(Deadline(
                        ROLLOUT, f"Deployment/{meta.get('namespace', 'default')}/"
                        f"{meta.get('name', '')}",
                        since + float(spec.get("progressDeadlineSeconds", 600))))
    return out


def remaining(snapshot: dict[str, Any] | None, wall_now: float,
              sim_now: float | None = None) -> list[dict[str, Any]]:
    """The countdowns of a `waits` snapshot at this moment, soonest first: what, target,
    remaining_sim_s, remaining_wall_s. Simulated now is the snapshot's, moved on by the
    wall time since it was written, at its clock speed (or given)."""
    if not snapshot:
        return []
    speed = float(snapshot.get("speed") or 1.0)
    if sim_now is None:
        sim_now = float(snapshot["now"]) + max(0.0, wall_now - float(snapshot["wall"])) * speed
    out = []
    for d in snapshot.get("deadlines") or []:
        left = max(0.0, float(d["at"]) - sim_now)
        out.append({"what": d["what"], "target": d["target"],
                    "remaining_sim_s": round(left, 1),
                    "remaining_wall_s": round(left / speed, 1)})
    return sorted(out, key=lambda w: (w["remaining_sim_s"], w["what"], w["target"]))


def grouped(waits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per kind of wait, for people: its soonest countdown, with `more` saying
    how many others of that kind there are. A rollout of 300 Deployments is 300
    progress deadlines; a screen or a terminal shows the first, `--json` lists all."""
    firsts: dict[str, dict[str, Any]] = {}
    for wait in sorted(waits, key=lambda w: (w["remaining_sim_s"], w["what"], w["target"])):
        first = firsts.get(wait["what"])
        if first is None:
            firsts[wait["what"]] = {**wait, "more": 0}
        else:
            first["more"] += 1
    return list(firsts.values())


class RolloutWatch:
    """The rollout deadlines of a simulated cluster, kept by watching its Deployments:
    each tick looks only at those written since the last one (none when idle)."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.watch = cluster.watch(frozenset({"Deployment"}))
        self.found: dict[str, Deadline] = {}
        self._lock = threading.Lock()  # the engine's tick and a caller's status

    def __call__(self) -> list[Deadline]:
        with self._lock:
            changed = self.watch.take()
            if changed is None or changed:
                names = None if changed is None else {
                    f"Deployment/{ref.namespace}/{ref.name}" for ref in changed}
                self.cluster.inspect(lambda read: self._scan(read("Deployment"), names))
            return list(self.found.values())

    def _scan(self, deployments: list[dict[str, Any]], names: set[str] | None) -> None:
        if names is None:
            self.found = {d.target: d for d in rollout_deadlines(deployments)}
            return
        picked = [d for d in deployments if f"Deployment/{d['metadata'].get('namespace')}/"
                  f"{d['metadata'].get('name')}" in names]
        for name in names:
            self.found.pop(name, None)
        self.found.update((d.target, d) for d in rollout_deadlines(picked))


class Countdowns:
    """The engine's side: collects the deadlines from the stages that own them (each
    given as a callable, so this module reads no stage's internals) and publishes them."""

    def __init__(self, now: Callable[[], float], speed: Callable[[], float],
                 publish: Callable[[dict[str, Any]], None],
                 engine_deadlines: Callable[[], list[Deadline]],
                 rollouts: Callable[[], list[Deadline]] | None) -> None:
        self.now = now
        self.speed = speed
        self._publish = publish
        self._engine_deadlines = engine_deadlines
        self._rollouts = rollouts  # None: a cluster on another clock (kind)
        self._written: Any = None
        self.last: dict[str, Any] | None = None
        self.writes = 0  # tests count them: an idle engine writes none

    def deadlines(self) -> list[Deadline]:
        rollouts = self._rollouts() if self._rollouts is not None else []
        return [*self._engine_deadlines(), *sorted(rollouts, key=lambda d: d.target)]

    def snapshot(self) -> dict[str, Any]:
        return {"now": self.now(), "wall": time.time(), "speed": self.speed(),
                "deadlines": [asdict(d) for d in self.deadlines()]}

    def current(self) -> dict[str, Any]:
        """What the last tick published (a fresh look before the first one)."""
        return self.last if self.last is not None else self.snapshot()

    def publish(self) -> None:
        """Called on every engine tick: writes only when a deadline or the speed moved."""
        deadlines = self.deadlines()
        key = (self.speed(), tuple((d.what, d.target, round(d.at, 3)) for d in deadlines))
        if key == self._written:
            return
        self._written = key
        self.writes += 1
        self.last = {"now": self.now(), "wall": time.time(), "speed": key[0],
                     "deadlines": [asdict(d) for d in deadlines]}
        self._publish(self.last)


def next_check_at(next_check: float, sample_interval: float) -> float:
    """The analysis checks on the first metric sample at or after `next_check`, and
    samples fall on multiples of their interval in simulated time."""
    if sample_interval <= 0:
        return next_check
    return math.ceil(next_check / sample_interval - 1e-9) * sample_interval


def for_engine(engine: Any) -> Countdowns:
    """The engine's countdowns, wired to the stages that own each deadline. This is the
    one place that knows where the engine keeps them (its health gate, its resync time,
    its analyzer), so a change there changes only this function."""
    from .gitutil import short

    settings = lambda: engine.ws.settings  # noqa: E731 - read afresh: settings change

    def engine_deadlines() -> list[Deadline]:
        s = settings()
        out = []
        gate = getattr(engine, "publisher", engine)  # where Flux's health check is kept
        revision, synced = gate._synced_at
        if gate._health_check == "Waiting" and revision:
            out.append(Deadline(HEALTH, f"revision {short(revision)}", synced + s.health_timeout))
        if engine.poll and engine._started and not engine.flux.status.suspended:
            out.append(Deadline(RESYNC, "manifests main", engine._last_resync + s.resync_seconds))
        run = engine.analyzer.run
        if run is not None:
            out.append(Deadline(ANALYSIS, f"{short(run.hld_sha)} (check {len(run.checks) + 1} "
                                f"of {s.analysis_count})",
                                next_check_at(run.next_check, s.metrics_interval_seconds)))
        return out

    # Only a simulated cluster shares the engine's clock (and can be watched cheaply).
    sim = callable(getattr(engine.cluster, "inspect", None)) and callable(
        getattr(engine.cluster, "watch", None))
    return Countdowns(engine.clock.now, engine.clock_speed,
                      lambda data: engine.ws.store.put_snapshot("waits", data),
                      engine_deadlines, RolloutWatch(engine.cluster) if sim else None)
