"""The engine's health and snapshot publishing: what the tick does once the cluster
has stepped.

Health is evaluated under the reconciler's lock, so a verdict always belongs to the
revision that was live when it was taken. The app's verdict, Flux's health check
(wait for every applied object to be healthy, up to the timeout) and the snapshots
other processes read are all recomputed only when something moved: an idle tick
compares a few versions and returns.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from . import clusterread, faults
from .clock import Clock
from .cluster.base import ClusterBackend, ObjRef, parse_ref
from .events import EventBus
from .flux import Reconciler
from .gitutil import short
from .monitor import Monitor
from .workspace import Workspace


class HealthPublisher:
    def __init__(self, ws: Workspace, bus: EventBus, clock: Clock, cluster: ClusterBackend,
                 flux: Reconciler, monitor: Monitor) -> None:
        self.ws = ws
        self.bus = bus
        self.clock = clock
        self.cluster = cluster
        self.flux = flux
        self.monitor = monitor
        self._synced_at: tuple[str | None, float] = (None, 0.0)
        self._health_check = "Unknown"
        self._app_health: tuple[str | None, str] = (None, "")
        self._snapshot_due = 0.0
        self._health_written: Any = None
        self._cluster_written: Any = None
        self._journal_announced = False
        self.blobs_written = 0  # whole-cluster copies written (a journaled cluster: none)
        self._objects_written: dict[str, list[str]] | None = None  # object verdicts stored
        self.health_rows_written = 0
        self._rows_epoch, self._rows_seq = "", 0
        self._verdict_seen: Any = None
        self._verdict: tuple[str, str] = ("Unknown", "not synced")
        self._objects: dict[str, list[str]] = {}
        self._inventory_seen: tuple[Any, list[ObjRef]] = (None, [])
        self.health: dict[str, Any] = {}

    def publish(self) -> None:
        # One snapshot under the reconciler's lock: the objects, their health and the
        # revision they belong to are read with no apply in between. The monitor judges
        # only what the cluster changed since the last tick.
        with self.flux.lock:
            expected = self._expected_refs()
            results = self.monitor.evaluate(expected)
            faults.point("tick.after_evaluate")
            revision = self.flux.status.last_applied
            hld_sha = self.flux.status.hld_sha
        seen = (self.monitor.version, revision, bool(expected))
        if seen != self._verdict_seen:
            # Something changed: aggregate again (an idle tick skips all of this).
            self._verdict_seen = seen
            if expected:
                health, why = self.monitor.overall(results)
                word = health.value
            else:  # an empty revision has nothing to wait for; no revision, nothing to say
                word, why = (("Healthy", "nothing to watch") if revision
                             else ("Unknown", "not synced"))
            self._verdict = (word, why)
            self._objects = {str(ref): [h.value, msg] for ref, (h, msg) in results.items()}
        word, why = self._verdict
        if expected and (revision, word) != self._app_health:
            self._app_health = (revision, word)
            self.bus.publish("health.changed", "monitor",
                             f"app is {word} at {short(revision)}: {why}", scope="app",
                             health=word, revision=revision, hld_sha=hld_sha)
        self._health_gate(revision, word, why)
        self.health = {"app": word, "message": why, "revision": revision,
                       "check": self._health_check, "now": self.clock.now(),
                       "objects": self._objects}
        verdict = (revision, word, self._health_check, self._verdict_seen)
        if self.journaled():
            # The cluster writes its own changes to the workspace (its journal), so other
            # processes read them there: nothing here grows with the cluster.
            if not self._journal_announced:
                self.ws.store.put_snapshot("cluster", clusterread.JOURNAL)
                self._journal_announced = True
            if verdict != self._health_written:
                self.write_health()
                self._health_written = verdict
            return
        cluster_rev = self._cluster_revision()
        if time.monotonic() >= self._snapshot_due and (
                cluster_rev is None or cluster_rev != self._cluster_written):
            started = time.monotonic()
            self.write_snapshots()
            self._cluster_written = cluster_rev
            self._health_written = verdict
            # Other processes read these snapshots; a big cluster makes them costly, so
            # they are kept to a fifth of the engine's time at most.
            cost = time.monotonic() - started
            self._snapshot_due = time.monotonic() + max(0.25, 4 * cost)
        elif verdict != self._health_written:
            # A verdict is written when it changes, so an engine killed right after
            # still knows on restart what it last said (and does not say it again).
            self.write_health()
            self._health_written = verdict

    def journaled(self) -> bool:
        """Whether the cluster writes its changes to the workspace itself (the simulated
        one once the engine attached it to its journal, see clusterstate.py)."""
        return bool(getattr(self.cluster, "journaled", False))

    def _expected_refs(self) -> list[ObjRef]:
        """The reconciler's inventory as refs, rebuilt only when it changed."""
        inventory = self.flux.status.inventory
        if inventory is not self._inventory_seen[0]:
            self._inventory_seen = (inventory, self.flux.status.refs())
        return self._inventory_seen[1]

    def snapshots_current(self) -> bool:
        """Whether the cluster snapshot other processes read shows the cluster as it is."""
        if self.journaled():
            return self._journal_announced
        revision = self._cluster_revision()
        return revision is not None and revision == self._cluster_written

    def _cluster_revision(self) -> Any:
        """Whatever moves when the cluster changed (None: no way to know, so the
        snapshot is rewritten on its timer)."""
        revision = getattr(self.cluster, "revision", None)
        return revision() if callable(revision) else None

    def seed(self) -> None:
        """A restarted engine finds the cluster as it was: it takes the health it last
        published as known, so only real changes make events."""
        data = self.ws.store.get_health() or {}
        revision = data.get("revision")
        if not revision or revision != self.flux.status.last_applied:
            return
        self._app_health = (revision, str(data.get("app")))
        self._synced_at = (revision, self.clock.now())
        self._health_check = str(data.get("check") or "Waiting")
        self.monitor.seed({ref: health for ref, health in (
            (parse_ref(key), value) for key, value in (data.get("objects") or {}).items())
            if ref is not None})

    def _health_gate(self, revision: str | None, word: str, why: str) -> None:
        """Flux's health check: after a sync, wait (in simulated time) for every applied
        object to be healthy, up to the timeout. A newer revision replaces the wait."""
        now = self.clock.now()
        if revision != self._synced_at[0]:
            self._synced_at = (revision, now)
            self._health_check = "Waiting"
        if self._health_check != "Waiting" or revision is None:
            return
        waited = now - self._synced_at[1]
        if word == "Healthy":
            self._health_check = "Passed"
            self.bus.publish("health.check", "flux",
                             f"Health check passed in {waited:.1f}s for {short(revision)}",
                             revision=revision, result="Passed", seconds=round(waited, 3))
        elif word == "Degraded" or waited > self.ws.settings.health_timeout:
            self._health_check = "Failed"
            reason = (why if word == "Degraded" else
                      f"timeout after {self.ws.settings.health_timeout:g}s waiting for: {why}")
            self.bus.publish("health.check", "flux",
                             f"Health check failed for {short(revision)}: {reason}",
                             revision=revision, result="Failed", reason=reason)

    def cluster_data(self) -> dict[str, Any]:
        """The whole cluster as JSON-ready data (objects, events, metrics, now): a copy
        of everything, taken under the cluster's lock, so only on demand."""
        snap = getattr(self.cluster, "snapshot", None)
        data: dict[str, Any] = snap() if callable(snap) else {"objects": self.cluster.list()}
        if data.get("backend") not in ("kind", "kubectl"):  # a real cluster keeps Unix time
            data["now"] = self.clock.now()
        return data

    def write_snapshots(self) -> None:
        if self.journaled():
            self.ws.store.put_snapshot("cluster", clusterread.JOURNAL)
            self._journal_announced = True
        else:
            self.ws.store.put_snapshot("cluster", self.cluster_data())
            self.blobs_written += 1
        self.write_health()

    def write_health(self) -> None:
        """The verdict, and the rows of the objects whose verdict changed since the last
        write (all of them at the first write of this engine)."""
        objects: dict[str, list[str]] = self.health.get("objects") or {}
        written = self._objects_written
        if written is None:
            upserts, deletes = objects, []
        else:
            upserts = {k: v for k, v in objects.items() if written.get(k) != v}
            deletes = [k for k in written if k not in objects]
        if written is None or deletes:  # readers read every row again
            self._rows_epoch, self._rows_seq = uuid.uuid4().hex[:12], 0
        self._rows_seq += 1
        record = {k: v for k, v in self.health.items() if k != "objects"}
        record["rows"] = {"epoch": self._rows_epoch, "seq": self._rows_seq}
        self.ws.store.put_health(record, upserts, deletes, replace=written is None)
        self._objects_written = dict(objects)
        self.health_rows_written += len(upserts) + len(deletes)
