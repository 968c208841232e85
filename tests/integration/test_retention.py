"""Issue 10 point 5: the event log and the CI jobs' logs have retention settings (the
newest N, nothing older than D days), pruned on the engine's own thread."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sandbox.events import EventBus, read_events
from sandbox.facade import Sandbox
from sandbox.retention import DAY, Pruner, prune
from sandbox.workspace import Settings, Workspace, init_workspace

from .waits import until


def add_jobs(ws: Workspace, statuses: list[str], finished: float) -> None:
    with ws.store.tx() as db:
        for status in statuses:
            db.execute("INSERT INTO jobs(kind, params, status, log, created, finished) "
                       "VALUES('validate', '{}', ?, 'a long log', ?, ?)",
                       (status, finished, None if status in ("queued", "running") else finished))


def count(ws: Workspace, table: str) -> int:
    row = ws.store.one(f"SELECT COUNT(*) AS n FROM {table}")  # noqa: S608
    return int(row["n"]) if row else 0


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")


def test_the_event_log_keeps_the_newest_n(ws: Workspace) -> None:
    bus = EventBus(ws.store)
    for i in range(120):
        bus.publish("test.event", "test", f"event {i}", i=i)
    first_kept = read_events(ws.store, limit=10_000)[-50].id
    pruned = prune(ws.store, Settings(event_log_keep=50))
    assert pruned.events == 70 + 0 and count(ws, "events") == 50
    left = read_events(ws.store, limit=10_000)
    assert left[0].id == first_kept and left[-1].data == {"i": 119}
    # The sequence goes on: readers following by id never see an id again.
    assert bus.publish("test.event", "test", "after").id > left[-1].id


def test_events_older_than_the_age_go_whatever_the_count(ws: Workspace) -> None:
    bus = EventBus(ws.store)
    for i in range(30):
        bus.publish("test.event", "test", f"event {i}")
    with ws.store.tx() as db:  # the first 20 were written three days ago
        db.execute("UPDATE events SET ts=ts-? WHERE id IN (SELECT id FROM events ORDER BY id "
                   "LIMIT 20)", (3 * DAY,))
    prune(ws.store, Settings(event_log_days=2.0))
    assert count(ws, "events") == 10


def test_job_retention_never_touches_waiting_or_running_jobs(ws: Workspace) -> None:
    now = time.time()
    add_jobs(ws, ["queued", "running"], now - 10 * DAY)
    add_jobs(ws, ["success"] * 30 + ["failure"] * 10, now - 10 * DAY)
    add_jobs(ws, ["success"] * 15, now)
    pruned = prune(ws.store, Settings(job_log_keep=20, job_log_days=5.0), now=now)
    statuses = [r["status"] for r in ws.store.query("SELECT status FROM jobs ORDER BY id")]
    assert statuses == ["queued", "running"] + ["success"] * 15
    assert pruned.jobs == 40
    prune(ws.store, Settings(job_log_keep=10), now=now)
    assert count(ws, "jobs") == 2 + 10


def test_large_prunes_go_in_small_transactions(ws: Workspace,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import sandbox.retention as retention

    bus = EventBus(ws.store)
    for i in range(95):
        bus.publish("test.event", "test", f"event {i}")
    monkeypatch.setattr(retention, "BATCH", 10)
    transactions = []
    real_tx = ws.store.tx

    def counted_tx():  # type: ignore[no-untyped-def]
        transactions.append(1)
        return real_tx()

    monkeypatch.setattr(ws.store, "tx", counted_tx)
    prune(ws.store, Settings(event_log_keep=10))
    assert count(ws, "events") == 10
    assert len(transactions) >= 9


def test_a_pruned_checks_log_says_so(tmp_path: Path) -> None:
    sb = Sandbox.init(tmp_path / "ws")
    with sb.ws.store.tx() as db:
        db.execute("INSERT INTO prs(title, author, head, base, head_sha, base_sha, created, "
                   "updated) VALUES('t', 'operator', 'b', 'main', 'h', 'b', 0, 0)")
        db.execute("INSERT INTO checks(pr, sha, name, status, job, ts) "
                   "VALUES(1, 'h', 'validate-manifests', 'success', 41, 0)")
    assert "job #41 and its log were pruned" in sb.pr_diff(1)["manifests"]


def test_the_engine_prunes_in_the_background(tmp_path: Path) -> None:
    settings = Settings(clock_speed=50.0, event_log_keep=20, job_log_keep=10)
    sb = Sandbox.init(tmp_path / "ws", settings=settings)
    add_jobs(sb.ws, ["success"] * 40, time.time())
    for i in range(60):
        sb.bus.publish("test.event", "test", f"event {i}", data=json.dumps({"i": i}))
    engine = sb.start_engine()
    try:
        until(lambda: count(sb.ws, "jobs") <= 10 + count_unfinished(sb.ws),
              why="old jobs pruned by the engine")
        passes = engine.pruner.passes
        engine.pruner.wake()
        until(lambda: engine.pruner.passes > passes, why="a second pass")
        assert count(sb.ws, "events") <= 20 + 5  # the few the engine wrote meanwhile
    finally:
        sb.close()


def count_unfinished(ws: Workspace) -> int:
    row = ws.store.one("SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued','running')")
    return int(row["n"]) if row else 0


def test_the_pruner_stops_with_its_engine(ws: Workspace) -> None:
    pruner = Pruner(ws, interval=3600).start()
    until(lambda: pruner.passes >= 1, why="the first pass at start")
    pruner.stop()
    assert pruner._thread is not None and not pruner._thread.is_alive()


def test_retention_settings_are_range_checked() -> None:
    with pytest.raises(ValueError, match="event_log_keep must be between"):
        Settings().with_value("event_log_keep", "3")
    assert Settings().with_value("job_log_days", "0.5").job_log_days == 0.5
