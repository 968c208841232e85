"""Where metric samples live: compressed into runs of unchanged values.

A target (a workload or a pod) whose numbers did not change since its previous sample
costs nothing to store: the table `metric_runs` holds one row per stretch of samples
with the same values (from `sim_from` to `sim_to`, open while it lasts), and
`metric_times` one row per sample. The view `metric_samples` joins them back into one
row per target and sample, as readers have always seen it; a cluster where nothing
changes writes one small row per sample, and its retention deletes a few.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .store import Store

FIELDS = ("rps", "error_rate", "p50_ms", "p95_ms", "p99_ms", "cpu_m", "memory_mib")
BATCH = 2000  # rows deleted per transaction by the retention

SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_times (sim REAL PRIMARY KEY, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS metric_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sim_from REAL NOT NULL,
    sim_to REAL,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    workload TEXT NOT NULL,
    rps REAL, error_rate REAL, p50_ms REAL, p95_ms REAL, p99_ms REAL,
    cpu_m REAL, memory_mib REAL
);
CREATE INDEX IF NOT EXISTS metric_runs_from ON metric_runs(sim_from);
CREATE INDEX IF NOT EXISTS metric_runs_to ON metric_runs(sim_to);
CREATE INDEX IF NOT EXISTS metric_runs_workload ON metric_runs(workload, kind, sim_from);
CREATE VIEW IF NOT EXISTS metric_samples AS
    SELECT t.sim AS sim, t.ts AS ts, r.kind AS kind, r.namespace AS namespace,
           r.name AS name, r.workload AS workload, r.rps AS rps,
           r.error_rate AS error_rate, r.p50_ms AS p50_ms, r.p95_ms AS p95_ms,
           r.p99_ms AS p99_ms, r.cpu_m AS cpu_m, r.memory_mib AS memory_mib
    FROM metric_times t JOIN metric_runs r
      ON r.sim_from <= t.sim AND (r.sim_to IS NULL OR t.sim <= r.sim_to);
-- A row written straight into the view (a fixture, an import) is a run of one sample.
CREATE TRIGGER IF NOT EXISTS metric_samples_insert INSTEAD OF INSERT ON metric_samples
BEGIN
    INSERT OR IGNORE INTO metric_times(sim, ts) VALUES(NEW.sim, NEW.ts);
    INSERT INTO metric_runs(sim_from, sim_to, kind, namespace, name, workload, rps,
                            error_rate, p50_ms, p95_ms, p99_ms, cpu_m, memory_mib)
    VALUES(NEW.sim, NEW.sim, NEW.kind, NEW.namespace, NEW.name, NEW.workload, NEW.rps,
           NEW.error_rate, NEW.p50_ms, NEW.p95_ms, NEW.p99_ms, NEW.cpu_m, NEW.memory_mib);
END;
"""


def ensure_schema(store: Store) -> None:
    if getattr(store, "_metrics_schema", False):
        return
    conn = store._conn()
    row = conn.execute("SELECT type FROM sqlite_master WHERE name='metric_samples'").fetchone()
    if row is not None and row[0] == "table":
        # A workspace from before the runs: its samples are a retention-bound history,
        # dropped rather than converted.
        conn.execute("DROP TABLE metric_samples")
    conn.executescript(SCHEMA)
    store._metrics_schema = True  # type: ignore[attr-defined]


Key = tuple[str, str, str]  # kind, namespace, name
Values = tuple[Any, ...]  # workload, then FIELDS


class RunWriter:
    """Writes one sample at a time: only the targets whose values changed get a row."""

    def __init__(self, store: Store) -> None:
        ensure_schema(store)
        self.store = store
        self._open: dict[Key, tuple[int, Values]] = {}  # target -> (its open run, values)
        self._last: float | None = None  # this writer's previous sample
        self.written = 0  # runs started: flat while nothing changes

    def write(self, now: float, stamp: float, rows: Sequence[tuple[Key, Values]],
              gone: Sequence[Key] | None = None) -> None:
        """One sample: every target's values; or, with `gone` given (a sample that
        continues this writer's previous one), only the targets computed again and
        those that no longer exist, every other target's run going on."""
        if gone is not None and not self.continues(now):
            raise ValueError("a partial sample must follow the writer's previous one")
        with self.store.tx() as db:
            if self._last is None or now <= self._last:
                self._restart(db, now)
            if rows or (gone is not None and self._open):
                db.execute("INSERT INTO metric_times(sim, ts) VALUES(?,?)", (now, stamp))
            seen: set[Key] = set()
            ends: list[tuple[float | None, int]] = []  # runs that end at the last sample
            for key, values in rows:
                seen.add(key)
                run = self._open.get(key)
                if run is not None and run[1] == values:
                    continue  # the same numbers: the open run covers this sample too
                if run is not None:
                    ends.append((self._last, run[0]))
                cur = db.execute(
                    "INSERT INTO metric_runs(sim_from, kind, namespace, name, workload, "
                    + ", ".join(FIELDS) + ") VALUES(?,?,?,?," + ",".join("?" * (1 + len(FIELDS)))
                    + ")", (now, *key, *values))
                self._open[key] = (int(cur.lastrowid or 0), values)
                self.written += 1
            ended = ([k for k in self._open if k not in seen] if gone is None
                     else [k for k in gone if k in self._open])
            ends += [(self._last, self._open.pop(key)[0]) for key in ended]  # gone
            db.executemany("UPDATE metric_runs SET sim_to=? WHERE id=?", ends)
        self._last = now

    def continues(self, now: float) -> bool:
        """Whether a sample at `now` follows this writer's previous one."""
        return self._last is not None and now > self._last

    def repeat(self, now: float, stamp: float) -> None:
        """A sample whose every value is the previous sample's: one row."""
        with self.store.tx() as db:
            if self._open:
                db.execute("INSERT INTO metric_times(sim, ts) VALUES(?,?)", (now, stamp))
        self._last = now

    def _restart(self, db: Any, now: float) -> None:
        """A new writer, or a clock that went back (a reset cluster): samples from now
        on replace any at or after it, and every run left open ends at the last sample
        kept."""
        db.execute("DELETE FROM metric_times WHERE sim>=?", (now,))
        db.execute("DELETE FROM metric_runs WHERE sim_from>=?", (now,))
        last = db.execute("SELECT MAX(sim) FROM metric_times").fetchone()[0]
        if last is None:
            db.execute("DELETE FROM metric_runs")
        else:
            db.execute("UPDATE metric_runs SET sim_to=? WHERE sim_to IS NULL OR sim_to>?",
                       (last, last))
        self._open = {}

    def prune(self, now: float, retention: float) -> int:
        """Drop samples older than the retention, and any from a simulated time after
        now (a cluster that was reset starts its clock again)."""
        deleted = 0
        cutoff = now - retention
        with self.store.tx() as db:
            deleted += db.execute("DELETE FROM metric_times WHERE sim<? OR sim>?",
                                  (cutoff, now)).rowcount
        while True:
            with self.store.tx() as db:
                n = db.execute("DELETE FROM metric_runs WHERE id IN (SELECT id FROM "
                               "metric_runs WHERE sim_to<? OR sim_from>? LIMIT ?)",
                               (cutoff, now, BATCH)).rowcount
            deleted += n
            if n < BATCH:
                return deleted


def newest(store: Store) -> float | None:
    ensure_schema(store)
    row = store.one("SELECT MAX(sim) AS m FROM metric_times")
    return None if row is None or row["m"] is None else float(row["m"])
