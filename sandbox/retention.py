"""Retention of the event log and of the CI jobs' logs, so that the database of a
workspace used for months stays the size of its recent past.

Settings (workspace.py): `event_log_keep` / `event_log_days` and `job_log_keep` /
`job_log_days`: the newest N are kept, and nothing older than D days (wall time).
Jobs that wait or run are never pruned. Pruning runs on its own engine thread, in small
batches of short transactions, so the pipeline's writers never wait behind it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .store import Store
from .workspace import Settings, Workspace

BATCH = 500  # rows per transaction: a writer waits at most for one small delete
PRUNE_SECONDS = 30.0  # wall time between two passes of the engine's pruner
DAY = 86_400.0


@dataclass(frozen=True)
class Pruned:
    events: int = 0
    jobs: int = 0


def _cutoff(store: Store, table: str, time_col: str, keep: int, days: float,
            now: float, where: str = "") -> int:
    """The highest id to delete: everything but the newest `keep`, and everything
    older than `days`, whichever reaches further."""
    cond = f" AND {where}" if where else ""
    if where:
        row = store.one(f"SELECT id FROM {table} WHERE {where} ORDER BY id DESC "
                        f"LIMIT 1 OFFSET ?", keep)
        by_count = int(row["id"]) if row else 0
    else:
        # Ids are dense at the newest end (only the oldest are ever deleted): no scan.
        row = store.one(f"SELECT MAX(id) AS m FROM {table}")
        by_count = max(0, int(row["m"] or 0) - keep) if row else 0
    row = store.one(f"SELECT MAX(id) AS m FROM {table} WHERE {time_col} < ?{cond}",
                    now - days * DAY)
    by_age = int(row["m"] or 0) if row else 0
    return max(by_count, by_age)


def _delete_upto(store: Store, table: str, upto: int, where: str,
                 pause: threading.Event | None) -> int:
    cond = f" AND {where}" if where else ""
    deleted = 0
    while True:
        with store.tx() as db:
            n = db.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                           f"WHERE id<=?{cond} ORDER BY id LIMIT ?)", (upto, BATCH)).rowcount
        deleted += n
        if n < BATCH:
            return deleted
        # Between batches the lock is free: the engine's writers go first.
        if pause is not None and pause.wait(0.005):
            return deleted


def prune(store: Store, settings: Settings, now: float | None = None,
          stop: threading.Event | None = None) -> Pruned:
    """Delete what the retention settings no longer keep; returns how much went."""
    now = time.time() if now is None else now
    upto = _cutoff(store, "events", "ts", settings.event_log_keep, settings.event_log_days,
                   now)
    events = _delete_upto(store, "events", upto, "", stop) if upto else 0
    finished = "status NOT IN ('queued','running')"
    upto = _cutoff(store, "jobs", "COALESCE(finished, created)", settings.job_log_keep,
                   settings.job_log_days, now, finished)
    jobs = _delete_upto(store, "jobs", upto, finished, stop) if upto else 0
    return Pruned(events, jobs)


class Pruner:
    """The engine's background pruner: a pass at start, then every PRUNE_SECONDS."""

    def __init__(self, ws: Workspace, interval: float = PRUNE_SECONDS) -> None:
        self.ws = ws
        self.interval = interval
        self.passes = 0  # tests wait on this rather than on time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Pruner:
        self._thread = threading.Thread(target=self._run, name="engine-retention",
                                        daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                prune(self.ws.store, self.ws.settings, stop=self._stop)
            except Exception:  # noqa: BLE001 - pruning is housekeeping; the next pass retries
                pass
            finally:
                self.passes += 1
            self._wake.wait(self.interval)
            self._wake.clear()
