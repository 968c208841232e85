"""The workspace's SQLite database: pull requests, reviews, checks, CI jobs, the event
log, cluster snapshots and deployment traces.

One connection per thread (SQLite connections must not cross threads), WAL mode so a
CLI in another terminal can read while the engine writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    sim REAL
);
CREATE TABLE IF NOT EXISTS prs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL,
    head TEXT NOT NULL,
    base TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    base_sha TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open',
    merge_sha TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'change'
);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pr INTEGER NOT NULL REFERENCES prs(id),
    reviewer TEXT NOT NULL,
    sha TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'approved',
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pr INTEGER NOT NULL REFERENCES prs(id),
    sha TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    job INTEGER,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    result TEXT NOT NULL DEFAULT '{}',
    log TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    owner TEXT,
    lease REAL
);
CREATE TABLE IF NOT EXISTS merge_intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pr INTEGER NOT NULL,
    merge_sha TEXT NOT NULL,
    base TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    by TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS merge_tokens (
    token TEXT PRIMARY KEY,
    pr INTEGER NOT NULL,
    new_sha TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hld_sha TEXT NOT NULL UNIQUE,
    pr INTEGER,
    image TEXT,
    manifest_sha TEXT,
    generated REAL,
    sync_status TEXT,
    synced REAL,
    health TEXT,
    healthy REAL,
    created REAL NOT NULL
);
-- The simulated cluster's own state (its etcd), written as it changes: one row per
-- object, the events it keeps, and its clock/counters/RNG in meta ("cluster.*").
CREATE TABLE IF NOT EXISTS cluster_objects (key TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cluster_events (seq INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (name TEXT PRIMARY KEY, ts REAL NOT NULL, data TEXT NOT NULL);
-- Each object's health as the engine last judged it, one row per object, so a verdict
-- that moved for one object rewrites one row (the "health" snapshot holds the rest).
-- `seq` is the write that last set the row, so a reader reads only newer rows.
CREATE TABLE IF NOT EXISTS health_objects (key TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                                           health TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS health_objects_seq ON health_objects(seq);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind);
CREATE INDEX IF NOT EXISTS checks_pr ON checks(pr, sha);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
-- Readers in other processes (the TUI) follow the cluster by resourceVersion.
CREATE INDEX IF NOT EXISTS cluster_objects_rv ON cluster_objects(
    CAST(json_extract(data, '$.object.metadata.resourceVersion') AS INTEGER));
-- Every lookup the pipeline makes per merge is by index: a table that grows with each
-- merge must not make the next merge slower.
CREATE INDEX IF NOT EXISTS prs_head ON prs(head, state);
CREATE INDEX IF NOT EXISTS prs_state ON prs(state);
CREATE INDEX IF NOT EXISTS merge_intents_pr ON merge_intents(pr, state);
CREATE INDEX IF NOT EXISTS reviews_pr ON reviews(pr, sha);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE INDEX IF NOT EXISTS events_revision ON events(kind, json_extract(data, '$.revision'));
CREATE INDEX IF NOT EXISTS jobs_kind_sha ON jobs(kind, json_extract(params, '$.sha'));
"""

# Columns added after a release: older workspaces get them on open.
ADDED_COLUMNS = (("events", "sim", "REAL"), ("jobs", "owner", "TEXT"), ("jobs", "lease", "REAL"),
                 ("deployments", "verdict", "TEXT"), ("deployments", "verdict_reason", "TEXT"),
                 ("deployments", "analysis", "TEXT"), ("deployments", "rollback_pr", "INTEGER"),
                 ("deployments", "rollback_of", "TEXT"))


class Store:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        # The object verdicts a get_health() read last: (epoch, seq, objects).
        self._health_lock = threading.Lock()
        self._health_kept: tuple[Any, int, dict[str, list[str]]] = (None, -1, {})
        self.health_rows_read = 0  # for tests: a reader reads the rows that changed
        # executescript manages its own transaction, so it runs outside tx().
        conn = self._conn()
        conn.executescript(SCHEMA)
        for table, column, decl in ADDED_COLUMNS:
            have = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
        # On a column added above: every generate job asks which change a rollback undoes.
        conn.execute("CREATE INDEX IF NOT EXISTS deployments_rollback_pr "
                     "ON deployments(rollback_pr)")
        st = self.path.stat()
        # Who the file is: a state.db deleted or replaced under a running engine is a
        # different file, and the engine must notice rather than write into the void.
        self.identity = (st.st_dev, st.st_ino)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once so two writers never deadlock on upgrade."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def still_same_file(self) -> bool:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) == self.identity

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self._conn().execute(sql, args).fetchall()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return self._conn().execute(sql, args).fetchone()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One consistent view for several queries while another process writes."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # Small key-value settings (workspace options such as required approvals).
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key=?", key)
        return row["value"] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO meta(key, value) VALUES(?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    # The simulated cluster's journal (sandbox/cluster/sim/persist.py). Rows are JSON
    # strings already: the store does not need to know their shape.
    def write_cluster(self, upserts: dict[str, str], deletes: list[str],
                      events: list[tuple[int, str]], keep_events_after: int,
                      meta: dict[str, str]) -> None:
        """One transaction, so a kill leaves the cluster as it was before or after."""
        with self.tx() as db:
            db.executemany("INSERT INTO cluster_objects(key, data) VALUES(?, ?) ON CONFLICT(key)"
                           " DO UPDATE SET data=excluded.data", list(upserts.items()))
            db.executemany("DELETE FROM cluster_objects WHERE key=?", [(k,) for k in deletes])
            db.executemany("INSERT OR REPLACE INTO cluster_events(seq, data) VALUES(?, ?)", events)
            if events:
                db.execute("DELETE FROM cluster_events WHERE seq<=?", (keep_events_after,))
            db.executemany("INSERT INTO meta(key, value) VALUES(?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                           list(meta.items()))

    def read_cluster(self) -> tuple[list[str], list[str], dict[str, str]]:
        """(object rows, event rows oldest first, the "cluster.*" meta values)."""
        conn = self._conn()
        conn.execute("BEGIN")  # one consistent read while the engine may be writing
        try:
            objects = [r["data"] for r in conn.execute(
                "SELECT data FROM cluster_objects ORDER BY key")]
            events = [r["data"] for r in conn.execute(
                "SELECT data FROM cluster_events ORDER BY seq")]
            meta = {r["key"]: r["value"] for r in conn.execute(
                "SELECT key, value FROM meta WHERE key LIKE 'cluster.%'")}
        finally:
            conn.execute("COMMIT")
        return objects, events, meta

    def clear_cluster(self) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM cluster_objects")
            db.execute("DELETE FROM cluster_events")
            db.execute("DELETE FROM meta WHERE key LIKE 'cluster.%'")

    def put_snapshot(self, name: str, data: Any) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO snapshots(name, ts, data) VALUES(?, ?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET ts=excluded.ts, data=excluded.data",
                       (name, time.time(), json.dumps(data)))

    def put_health(self, record: dict[str, Any], upserts: dict[str, list[str]],
                   deletes: list[str], replace: bool = False) -> None:
        """The "health" snapshot without its objects, and the objects whose verdict
        changed (`replace`: these are all of them), in one transaction: a reader never
        sees a verdict without the object verdicts it was made of. `record["rows"]`
        says which write this is: {"epoch": ..., "seq": n}, a new epoch whenever rows
        were replaced or deleted (a reader then reads them all again)."""
        seq = int(record["rows"]["seq"])
        with self.tx() as db:
            db.execute("INSERT INTO snapshots(name, ts, data) VALUES('health', ?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET ts=excluded.ts, data=excluded.data",
                       (time.time(), json.dumps(record)))
            if replace:
                db.execute("DELETE FROM health_objects")
            db.executemany("INSERT INTO health_objects(key, seq, health, message) "
                           "VALUES(?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                           "seq=excluded.seq, health=excluded.health, message=excluded.message",
                           [(k, seq, str(v[0]), str(v[1])) for k, v in upserts.items()])
            db.executemany("DELETE FROM health_objects WHERE key=?", [(k,) for k in deletes])

    def get_health(self) -> dict[str, Any] | None:
        """The "health" snapshot with its objects' verdicts (a record written whole, with
        its own "objects", is taken as it is). What an earlier call read is kept: a
        call reads only the rows written since."""
        conn = self._conn()
        conn.execute("BEGIN")  # the record and its rows from one write
        try:
            row = conn.execute("SELECT data FROM snapshots WHERE name='health'").fetchone()
            record = json.loads(row["data"]) if row else None
            if record is None or "objects" in record:
                return record
            rows = record.pop("rows", None) or {}
            epoch, seq = rows.get("epoch"), int(rows.get("seq") or 0)
            with self._health_lock:
                kept_epoch, kept_seq, objects = self._health_kept
                if kept_epoch != epoch or kept_seq > seq:
                    objects, kept_seq = {}, -1
                if kept_seq < seq:
                    objects = dict(objects)
                    fresh = conn.execute("SELECT key, health, message FROM health_objects "
                                         "WHERE seq>?", (kept_seq,)).fetchall()
                    for key, health, message in fresh:
                        objects[key] = [health, message]
                    self.health_rows_read += len(fresh)
                self._health_kept = (epoch, seq, objects)
            record["objects"] = dict(sorted(objects.items()))
        finally:
            conn.execute("COMMIT")
        return record

    def get_snapshot(self, name: str) -> tuple[float, Any] | None:
        row = self.one("SELECT ts, data FROM snapshots WHERE name=?", name)
        return (row["ts"], json.loads(row["data"])) if row else None
