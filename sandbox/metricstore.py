"""Where metric samples live: compressed into runs of unchanged values.

A target (a workload or a pod) whose numbers did not change since its previous sample
costs nothing to store: the table `metric_runs` holds one row per stretch of samples
with the same values (from `sim_from` to `sim_to`, open while it lasts), and
`metric_times` one row per sample. The view `metric_samples` joins them back into one
row per target and sample, as readers have always seen it; a cluster where nothing
changes writes one small row per sample, and its retention deletes a few.

Two numbers that move with time alone are kept as what moves them, so a fleet's first
minute does not write every target at every sample (issue 10):
- a filling traffic window's request rate: `ramp_rate` requests per second from
  `ramp_from`, read at each sample's traffic time (`metric_times.at`) by the SQL
  function metric_ramp (metricsramp.py, the cluster's own formula);
- a pod's first row reads no rate: with `first_unrated`, the run's rps and error rate
  are those of its next samples, and its first sample reads them as NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .metricsramp import ramp
from .store import Store

FIELDS = ("rps", "error_rate", "p50_ms", "p95_ms", "p99_ms", "cpu_m", "memory_mib")
BATCH = 2000  # rows deleted per transaction by the retention

SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_times (sim REAL PRIMARY KEY, ts REAL NOT NULL, at REAL);
CREATE TABLE IF NOT EXISTS metric_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sim_from REAL NOT NULL,
    sim_to REAL,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    workload TEXT NOT NULL,
    rps REAL, error_rate REAL, p50_ms REAL, p95_ms REAL, p99_ms REAL,
    cpu_m REAL, memory_mib REAL,
    ramp_rate REAL, ramp_from REAL, first_unrated INTEGER
);
CREATE INDEX IF NOT EXISTS metric_runs_from ON metric_runs(sim_from);
CREATE INDEX IF NOT EXISTS metric_runs_to ON metric_runs(sim_to);
CREATE INDEX IF NOT EXISTS metric_runs_workload ON metric_runs(workload, kind, sim_from);
CREATE VIEW IF NOT EXISTS metric_samples AS
    SELECT t.sim AS sim, t.ts AS ts, r.kind AS kind, r.namespace AS namespace,
           r.name AS name, r.workload AS workload,
           CASE WHEN r.first_unrated AND t.sim = r.sim_from THEN NULL
                WHEN r.ramp_rate IS NOT NULL
                THEN metric_ramp(r.ramp_rate, r.ramp_from, COALESCE(t.at, t.sim))
                ELSE r.rps END AS rps,
           CASE WHEN r.first_unrated AND t.sim = r.sim_from THEN NULL
                ELSE r.error_rate END AS error_rate,
           r.p50_ms AS p50_ms, r.p95_ms AS p95_ms,
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
# Columns added since the first runs: a workspace from before gets them (NULL: none).
ADDED = (("metric_times", "at", "REAL"), ("metric_runs", "ramp_rate", "REAL"),
         ("metric_runs", "ramp_from", "REAL"), ("metric_runs", "first_unrated", "INTEGER"))


def register(conn: Any) -> None:
    """The SQL function the view reads a filling window's rate with, on a connection."""
    conn.create_function("metric_ramp", 3, _ramp, deterministic=True)


def _ramp(rate: float | None, since: float | None, at: float | None) -> float | None:
    if rate is None or since is None or at is None:
        return None
    return ramp(float(rate), float(since), float(at))


def ensure_schema(store: Store) -> None:
    """The tables and the view, and on this thread's connection the view's function:
    every reader calls this before it reads (one connection per thread)."""
    conn = store._conn()
    register(conn)
    if getattr(store, "_metrics_schema", False):
        return
    row = conn.execute("SELECT type, sql FROM sqlite_master WHERE name='metric_samples'"
                       ).fetchone()
    if row is not None and row[0] == "table":
        # A workspace from before the runs: its samples are a retention-bound history,
        # dropped rather than converted.
        conn.execute("DROP TABLE metric_samples")
    elif row is not None and "metric_ramp" not in row[1]:
        conn.execute("DROP VIEW metric_samples")  # from before the ramps (and its trigger)
    for table, column, decl in ADDED:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if have and column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
    conn.executescript(SCHEMA)
    store._metrics_schema = True  # type: ignore[attr-defined]


INSERT_RUN = ("INSERT INTO metric_runs(id, sim_from, kind, namespace, name, workload, "
              + ", ".join(FIELDS) + ", ramp_rate, ramp_from, first_unrated) VALUES("
              + ",".join("?" * (9 + len(FIELDS))) + ")")

Key = tuple[str, str, str]  # kind, namespace, name
Values = tuple[Any, ...]  # workload, FIELDS, ramp rate, ramp from (Sample.stored)


class RunWriter:
    """Writes one sample at a time: only the targets whose values changed get a row."""

    def __init__(self, store: Store) -> None:
        ensure_schema(store)
        self.store = store
        self._open: dict[Key, tuple[int, Values]] = {}  # target -> (its open run, values)
        self._ramps: set[Key] = set()  # the targets whose open run is a ramp
        self._last: float | None = None  # this writer's previous sample
        self.written = 0  # runs started: flat while nothing changes

    @property
    def ramps_open(self) -> bool:
        """Whether an open run's numbers move with the time it is read at: the next
        sample must say its time, so it cannot be a repeat of this one."""
        return bool(self._ramps)

    def write(self, now: float, stamp: float, rows: Sequence[tuple[Key, Values, bool]],
              gone: Sequence[Key] | None = None, at: float | None = None) -> None:
        """One sample: every target's (values, whether this sample reads no rate for
        it: a pod's first row); or, with `gone` given (a sample that continues this
        writer's previous one), only the targets computed again and those that no
        longer exist, every other target's run going on. `at`: the traffic's time of
        the sample, which ramps are read at (None: its simulated time)."""
        if gone is not None and not self.continues(now):
            raise ValueError("a partial sample must follow the writer's previous one")
        with self.store.tx() as db:
            if self._last is None or now <= self._last:
                self._restart(db, now)
            if rows or (gone is not None and self._open):
                db.execute("INSERT INTO metric_times(sim, ts, at) VALUES(?,?,?)",
                           (now, stamp, at))
            seen: set[Key] = set()
            ends: list[tuple[float | None, int]] = []  # runs that end at the last sample
            started: list[tuple[Any, ...]] = []
            # The new runs are inserted in one statement with their ids chosen here (the
            # table's AUTOINCREMENT sequence is past every id ever used): a fleet whose
            # every row moved is one batch, not thousands of statements.
            next_id = self._next_id(db)
            ramps = self._ramps
            for key, values, unrated in rows:
                seen.add(key)
                run = self._open.get(key)
                if run is not None and run[1] == values and not unrated:
                    continue  # the same numbers: the open run covers this sample too
                if run is not None:
                    ends.append((self._last, run[0]))
                started.append((next_id, now, *key, *values, 1 if unrated else None))
                self._open[key] = (next_id, values)
                if values[-2] is None:
                    ramps.discard(key)
                else:
                    ramps.add(key)
                next_id += 1
            db.executemany(INSERT_RUN, started)
            self.written += len(started)
            ended = ([k for k in self._open if k not in seen] if gone is None
                     else [k for k in gone if k in self._open])
            ramps.difference_update(ended)
            ends += [(self._last, self._open.pop(key)[0]) for key in ended]  # gone
            db.executemany("UPDATE metric_runs SET sim_to=? WHERE id=?", ends)
        self._last = now

    @staticmethod
    def _next_id(db: Any) -> int:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='metric_runs'").fetchone()
        return int(row[0]) + 1 if row is not None and row[0] is not None else 1

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
        self._ramps = set()

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
