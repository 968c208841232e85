"""Other processes read the simulated cluster from its journal: the engine writes no
whole-cluster copy, a change writes the rows of what changed, an idle engine writes
nothing, and a reader elsewhere sees what the cluster holds (issue 10, point 1)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from sandbox import clusterread
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.sim import persist
from sandbox.facade import Sandbox
from sandbox.workspace import Workspace
from tests.test_idle_engine import SERVICES, converged_engine


class Spy:
    """Counts what reaches the workspace: journal rows and snapshot records."""

    def __init__(self, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows: list[str] = []
        self.writes = 0
        self.records: list[str] = []
        self.health_rows: list[str] = []
        write_cluster, put_snapshot = store.write_cluster, store.put_snapshot
        put_health = store.put_health

        def rows(upserts: dict[str, str], deletes: list[str], *rest: Any) -> None:
            self.writes += 1
            self.rows += list(upserts) + deletes
            write_cluster(upserts, deletes, *rest)

        def record(name: str, data: Any) -> None:
            self.records.append(name)
            put_snapshot(name, data)
        def health(record: Any, upserts: dict[str, Any], deletes: list[str], **kw: Any) -> None:
            self.records.append("health")
            self.health_rows += list(upserts) + deletes
            put_health(record, upserts, deletes, **kw)
        monkeypatch.setattr(store, "write_cluster", rows)
        monkeypatch.setattr(store, "put_snapshot", record)
        monkeypatch.setattr(store, "put_health", health)


@pytest.fixture
def journaled(tmp_path: Path, serve, clone_as, monkeypatch):  # type: ignore[no-untyped-def]
    def journal(ws: Workspace, cluster: SimCluster) -> None:
        cluster.journal_to(persist.sink(ws.store, time.time))  # as the started engine does

    eng, _, cluster, clock = converged_engine(tmp_path, serve, clone_as, journal)
    ws = eng.ws
    # Whole-cluster copies taken under the cluster's lock: the engine must take none.
    copies: list[str] = []
    for name in ("snapshot", "list"):
        real = getattr(cluster, name)
        monkeypatch.setattr(cluster, name, lambda *a, _real=real, _name=name, **k: (
            copies.append(_name), _real(*a, **k))[1])
    # A reader in another process: its own connection, and an engine that runs elsewhere.
    reader = Sandbox(ws.root)
    monkeypatch.setattr(reader, "engine_running", lambda: True)
    return eng, cluster, clock, reader, copies


def test_the_engine_announces_the_journal_and_writes_no_whole_cluster_copy(
        journaled) -> None:  # type: ignore[no-untyped-def]
    eng, cluster, _, reader, copies = journaled
    assert eng.snapshots_current()  # so the tick may sleep until the next timer
    assert eng.publisher.blobs_written == 0 and copies == []
    record = eng.ws.store.get_snapshot("cluster")
    assert record is not None and clusterread.from_journal(record[1])
    assert reader._reads_journal()


def test_a_one_object_change_writes_its_rows_and_readers_elsewhere_see_it(
        journaled, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    eng, cluster, clock, reader, copies = journaled
    spy = Spy(eng.ws.store, monkeypatch)
    assert len(reader.health()["objects"]) >= 3 * SERVICES  # the first read reads all
    read = reader.ws.store.health_rows_read
    total = len(clusterread.objects(eng.ws))
    assert total > 3 * SERVICES
    cluster.scale(ObjRef("Deployment", "svc-3", "demo"), 2)
    eng.tick()  # judged before its new pod is up: Progressing, then Healthy again
    assert eng.health["objects"]["Deployment/demo/svc-3"][0] == "Progressing"
    for _ in range(20):
        clock.advance(0.5)
        eng.tick()
    # Only what the change touched: the Deployment, its ReplicaSet, the new pod, the
    # Service's Endpoints; never the whole cluster, and no copy of it.
    assert spy.writes >= 1 and "Deployment/demo/svc-3" in spy.rows
    assert not {r for r in spy.rows if "svc-3" not in r} - {"Endpoints/demo/svc-3"}
    assert len(set(spy.rows)) <= 6 < total
    assert "cluster" not in spy.records and copies == []
    # The verdicts written are those of the objects whose verdict moved: svc-3's.
    assert "health" in spy.records
    assert spy.health_rows and {r.rsplit("/", 1)[-1] for r in spy.health_rows} == {"svc-3"}
    # A reader in another process sees the change, and the cluster as it is.
    deps = {d["metadata"]["name"]: d for d in reader.cluster_objects("deploy")}
    assert deps["svc-3"]["spec"]["replicas"] == 2
    assert deps["svc-3"]["status"]["availableReplicas"] == 2
    pods = reader.cluster_objects("pods")
    assert len([p for p in pods if p["metadata"]["name"].startswith("svc-3-")]) == 2
    copies_before = list(copies)
    live = cluster.snapshot()
    copies[:] = copies_before
    seen = reader.cluster_snapshot()
    assert seen["objects"] == live["objects"]  # the same objects, in the same order
    assert seen["events"] == live["events"]
    # The clock as of the last write, carried on with wall time (a virtual clock here).
    assert seen["now"] >= max(e["time"] for e in live["events"])
    described = reader.describe("deployment/svc-3")
    assert "ScalingReplicaSet" in described
    # The verdicts as the engine holds them, read back from their rows ("now" is the
    # time of the last verdict written).
    assert reader.health() == {**eng.health, "now": reader.health()["now"]}
    assert reader.ws.store.health_rows_read - read == len(set(spy.health_rows))


def test_an_idle_engine_writes_nothing(journaled, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    eng, _, clock, _, copies = journaled
    for _ in range(20):  # the last timers of the convergence
        clock.advance(0.5)
        eng.tick()
    spy = Spy(eng.ws.store, monkeypatch)
    for _ in range(100):
        clock.advance(0.05)
        eng.tick()
    assert spy.rows == [] and spy.records == [] and copies == []


def test_a_reader_reads_only_the_rows_of_the_kind_it_asks_for(journaled) -> None:  # type: ignore[no-untyped-def]
    _, cluster, _, reader, _ = journaled
    queries: list[tuple[str, tuple[Any, ...]]] = []
    real = reader.ws.store.query
    reader.ws.store.query = lambda sql, *args: (  # type: ignore[method-assign]
        queries.append((sql, args)), real(sql, *args))[1]
    services = reader.cluster_objects("svc")
    assert sorted(s["metadata"]["name"] for s in services) == sorted(
        s["metadata"]["name"] for s in cluster.list("Service"))
    assert queries and all("GLOB" in sql for sql, _ in queries)


def test_verdict_rows_stay_whole_across_a_failed_write_and_a_restart(tmp_path: Path) -> None:
    from sandbox.store import Store

    engine, reader = Store(tmp_path / "state.db"), Store(tmp_path / "state.db")
    objects = {f"Deployment/demo/svc-{i}": ["Healthy", ""] for i in range(5)}

    def write(epoch: str, seq: int, upserts: dict[str, list[str]], deletes: list[str],
              replace: bool = False) -> None:
        engine.put_health({"app": "Healthy", "rows": {"epoch": epoch, "seq": seq}},
                          upserts, deletes, replace=replace)

    write("a", 1, objects, [], replace=True)
    assert reader.get_health() == {"app": "Healthy", "objects": objects}
    # A write that dies half-way (a kill between two statements) leaves the last one.
    real = engine._conn()

    class Dying:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def executemany(self, sql: str, rows: Any) -> Any:
            raise KeyboardInterrupt("killed")
    engine._local.conn = Dying()
    with pytest.raises(KeyboardInterrupt):
        write("a", 2, {"Deployment/demo/svc-1": ["Degraded", "boom"]}, [])
    engine._local.conn = real
    assert reader.get_health() == {"app": "Healthy", "objects": objects}
    # A restarted engine replaces every row under a new epoch: a reader that kept the
    # old rows reads them all again, and what left the inventory is gone.
    del objects["Deployment/demo/svc-4"]
    objects["Deployment/demo/svc-0"] = ["Progressing", "1 of 2"]
    read = reader.health_rows_read
    write("b", 1, objects, [], replace=True)
    assert reader.get_health() == {"app": "Healthy", "objects": objects}
    assert reader.health_rows_read - read == len(objects)
