"""The event bus: every stage publishes typed events here; each is appended to the
audit log in SQLite, so other processes (the CLI, an attached TUI, `--wait`) see the
same stream by reading the table.

Order: `publish` is the only writer of the events table, and the table's
autoincrement id is the sequence number: readers sort by id, never by time. Each event
carries the wall time and the simulated time (the engine's clock; a process without
the clock repeats the latest simulated time the log knows).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .store import Store

if TYPE_CHECKING:
    from .clock import Clock

# The event kinds the pipeline speaks; stages may add more, these are the ones
# the TUI, the scenario runner and `--wait` rely on.
KINDS = (
    "push.received", "push.rejected", "pr.opened", "pr.updated", "pr.approved",
    "pr.approvals_dismissed", "pr.merged", "pr.closed", "check.started", "check.finished",
    "job.started", "job.finished", "manifests.generated", "image.pushed", "release.created",
    "revert.created", "sync.started", "sync.finished", "sync.failed", "drift.detected",
    "drift.corrected", "sync.applied", "health.check", "cluster.edited", "rollout.progress", "health.changed", "alert.fired", "engine.started",
    "engine.stopped", "cluster.event", "analysis.pending", "analysis.started",
    "analysis.finished", "analysis.skipped",
    "rollback.opened", "rollback.skipped", "audit.bot_approval",
)


@dataclass(frozen=True)
class Event:
    kind: str
    stage: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = 0.0
    id: int = 0
    sim: float = 0.0  # the simulated clock's time when it was published

    @property
    def seq(self) -> int:
        return self.id

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "seq": self.id, "ts": self.ts, "sim": self.sim,
                "kind": self.kind, "stage": self.stage, "message": self.message,
                "data": self.data}


Subscriber = Callable[[Event], None]


def _row_to_event(row: Any) -> Event:
    return Event(row["kind"], row["stage"], row["message"], json.loads(row["data"]),
                 row["ts"], row["id"], float(row["sim"] or 0.0))


class EventBus:
    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock
        self._subs: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subs.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subs:
                    self._subs.remove(fn)

        return unsubscribe

    def publish(self, kind: str, stage: str, message: str, /, **data: Any) -> Event:
        ts = time.time()
        payload = json.dumps(data, default=str)
        with self.store.tx() as db:
            # Read inside the write lock, so simulated time never goes back in id order.
            sim = self.clock.now() if self.clock is not None else None
            if sim is None:
                row = db.execute("SELECT sim FROM events ORDER BY id DESC LIMIT 1").fetchone()
                sim = float(row["sim"] or 0.0) if row else 0.0
            cur = db.execute(
                "INSERT INTO events(ts, kind, stage, message, data, sim) VALUES(?, ?, ?, ?, ?, ?)",
                (ts, kind, stage, message, payload, sim))
            eid = int(cur.lastrowid or 0)
        event = Event(kind, stage, message, json.loads(payload), ts, eid, sim)
        with self._lock:
            subs = list(self._subs)
        for fn in subs:
            try:
                fn(event)
            except Exception:  # noqa: BLE001 - a broken subscriber must not stop the pipeline
                pass
        return event


def read_events(store: Store, after: int = 0, limit: int = 1000,
                kinds: tuple[str, ...] | None = None) -> list[Event]:
    """Events with id greater than `after`, oldest first (for other processes)."""
    if kinds:
        marks = ",".join("?" * len(kinds))
        rows = store.query(
            f"SELECT * FROM events WHERE id>? AND kind IN ({marks}) ORDER BY id LIMIT ?",
            after, *kinds, limit)
    else:
        rows = store.query("SELECT * FROM events WHERE id>? ORDER BY id LIMIT ?", after, limit)
    return [_row_to_event(r) for r in rows]


def last_event_id(store: Store) -> int:
    row = store.one("SELECT MAX(id) AS m FROM events")
    return int(row["m"] or 0) if row else 0
