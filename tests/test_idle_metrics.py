"""A metric sample costs what changed: a steady cluster's samples compute no traffic
window and start no new run in the store, yet read back as one row per target and
sample; a change is written for the targets it touched only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from test_metrics_over_time import IMAGES, deployment, run, service

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.metrics import FIELDS, MetricsSampler, Sample, query
from sandbox.registry import PROFILES
from sandbox.store import Store

SERVICES = 6


def web_fleet(images: dict[str, Any], seed: int, services: int, seconds: float,
              image: Callable[[int], str] = lambda i: "web:v1"
              ) -> tuple[VirtualClock, SimCluster]:
    """A namespace of `services` web Deployments with their Services, `seconds` on."""
    clock = VirtualClock()
    sim = SimCluster(clock, images.get, seed=seed)
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}]
    for i in range(services):
        objects += [deployment(f"web-{i}", image(i)), service(f"web-{i}")]
    sim.apply(objects)
    run(clock, sim, seconds)
    return clock, sim


def cluster() -> tuple[VirtualClock, SimCluster]:
    return web_fleet(IMAGES, 3, SERVICES, 120)  # ready, and a whole traffic window since


def runs(store: Store) -> int:
    return int(store.one("SELECT COUNT(*) AS n FROM metric_runs")["n"])


def test_a_steady_cluster_samples_at_no_cost_and_reads_back_every_sample(
        tmp_path: Path) -> None:
    clock, sim = cluster()
    store = Store(tmp_path / "state.db")
    sampler = MetricsSampler(store, sim, clock.now, interval=15, retention=3600)
    for _ in range(3):  # the first samples of a pod have no rate yet
        sampler.sample()
        run(clock, sim, 15)
    computed, written, stored = sim._traffic.computed, sampler.writer.written, runs(store)
    targets = len(sampler.sample())  # the same numbers again: steady from here
    assert targets == SERVICES * 3  # a Deployment and its two pods each
    samples = sampler.computed
    for _ in range(10):
        run(clock, sim, 15)
        rows = sampler.sample()
        assert len(rows) == targets
    assert sampler.computed == samples  # each sample repeated the last one...
    assert sim._traffic.computed == computed  # ...with no traffic window recomputed
    assert sampler.writer.written == written and runs(store) == stored  # nothing stored
    # ...yet every sample reads back in full, with the same numbers each time.
    web = query(store, "Deployment/demo/web-2", since=150, pods=True)
    assert len({r["sim"] for r in web}) == 11 and len(web) == 11 * 3
    deployment_rows = [r for r in web if r["kind"] == "Deployment"]
    assert deployment_rows[0]["rps"] > 0
    assert len({(r["rps"], r["error_rate"], r["p95_ms"], r["cpu_m"])
                for r in deployment_rows}) == 1


def test_a_change_is_written_for_the_targets_it_touched(tmp_path: Path) -> None:
    clock, sim = cluster()
    store = Store(tmp_path / "state.db")
    sampler = MetricsSampler(store, sim, clock.now, interval=15, retention=3600)
    for _ in range(3):
        sampler.sample()
        run(clock, sim, 15)
    computed, written = sim._traffic.computed, sampler.writer.written
    samples = sampler.computed
    sim.scale(ObjRef("Deployment", "web-4", "demo"), 3)
    for _ in range(8):  # the new pod starts, and the window moves past the change
        run(clock, sim, 15)
        sampler.sample()
    assert sampler.computed > samples  # a change is computed again
    # Its new pod's rate is measured between two samples as ever, repeated or not.
    run(clock, sim, 15)
    new_pod = [r for r in sampler.sample() if r.kind == "Pod" and r.workload.endswith("web-4")]
    assert len(new_pod) == 3 and all(r.values["rps"] for r in new_pod)
    # Only web-4 (its window) was computed again, and only its targets were written.
    assert 1 <= sim._traffic.computed - computed <= 8
    changed = {r[0] for r in store.query("SELECT DISTINCT name FROM metric_runs WHERE id>?",
                                         written)}
    assert changed and all(name.startswith("web-4") for name in changed), changed
    assert query(store, "web-4", since=15, pods=True)[-1]["rps"] > 0


# -- after a change: the rows of what changed, and only those ------------------------

MANY = 20
CHANGE_IMAGES = {"web:v1": PROFILES["fast"], "web:v2": PROFILES["late-errors"],
                 "web:v3": PROFILES["default"], "api:bad": PROFILES["errors"],
                 "web:heavy": PROFILES["cpu-heavy"],
                 "web:slow": PROFILES["late-latency"]}


def fleet(services: int) -> tuple[VirtualClock, SimCluster]:
    return web_fleet(CHANGE_IMAGES, 5, services, 90,
                     lambda i: "web:heavy" if i == 3 else "web:v1")


def rows_of(rows: list[Sample]) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    return {(r.kind, r.namespace, r.name): (r.workload, *(r.values.get(f) for f in FIELDS))
            for r in rows}


def twins(tmp_path: Path, sim: SimCluster,
          clock: VirtualClock) -> tuple[MetricsSampler, MetricsSampler]:
    """A sampler computing what changed, and one computing everything every time."""
    changing = MetricsSampler(Store(tmp_path / "a.db"), sim, clock.now, interval=15)
    full = MetricsSampler(Store(tmp_path / "b.db"), sim, clock.now, interval=15)
    real = full.rows.collect
    full.rows.collect = lambda now, incremental: real(now, False)  # type: ignore[method-assign]
    return changing, full


def first_sampled_then_started(tmp_path: Path, services: int, replicas: int = 2
                               ) -> tuple[VirtualClock, SimCluster, MetricsSampler,
                                          MetricsSampler]:
    """As in the engine: the samplers ran once before a fleet of ``services`` web
    Deployments and Services was applied."""
    clock = VirtualClock()
    sim = SimCluster(clock, CHANGE_IMAGES.get, seed=5)
    changing, full = twins(tmp_path, sim, clock)
    changing.sample()
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}]
    for i in range(services):
        objects += [deployment(f"web-{i}", "web:v1", replicas), service(f"web-{i}")]
    sim.apply(objects)
    return clock, sim, changing, full


def test_rows_computed_for_what_changed_equal_a_full_computation(tmp_path: Path) -> None:
    """The same cluster sampled twice: one sampler computes only what changed, the other
    everything at every sample; through rollouts, a scale-down, a bad and a late-failing
    image, a deleted Deployment and a new one, both read the same numbers."""
    clock, sim = fleet(8)
    changing, full = twins(tmp_path, sim, clock)
    edits = {2: lambda: sim.set_image(ObjRef("Deployment", "web-1", "demo"), "web-1",
                                      "web:v2"),
             4: lambda: sim.scale(ObjRef("Deployment", "web-2", "demo"), 4),
             6: lambda: sim.set_image(ObjRef("Deployment", "web-4", "demo"), "web-4",
                                      "api:bad"),
             8: lambda: sim.scale(ObjRef("Deployment", "web-2", "demo"), 1),
             10: lambda: sim.delete(ObjRef("Deployment", "web-5", "demo")),
             12: lambda: sim.apply([deployment("web-9", "web:v3", 3), service("web-9")]),
             14: lambda: sim.scale(ObjRef("Deployment", "web-3", "demo"), 3),
             16: lambda: sim.set_image(ObjRef("Deployment", "web-6", "demo"), "web-6",
                                       "web:slow")}
    for i in range(30):
        if i in edits:
            edits[i]()
        run(clock, sim, 15)
        assert rows_of(changing.sample()) == rows_of(full.sample()), f"sample {i}"
    # One full computation, then changes only; the other computed all every time.
    assert changing.rows.full == 1 and changing.computed > 10
    assert full.rows.full == full.computed > 10
    def stored(db: str) -> list[dict[str, Any]]:  # as readers see it, but the wall time
        return [{k: v for k, v in r.items() if k != "ts"}
                for r in query(Store(tmp_path / db), "web-1", since=400, pods=True)]

    assert stored("a.db") == stored("b.db")


def test_a_one_service_change_computes_that_service_rows_only(tmp_path: Path) -> None:
    clock, sim = fleet(MANY)
    store = Store(tmp_path / "state.db")
    sampler = MetricsSampler(store, sim, clock.now, interval=15)
    for _ in range(3):
        sampler.sample()
        run(clock, sim, 15)
    visited, computed = sampler.rows.visited, sim._traffic.computed
    pods = sum(1 for r in sampler.sample() if r.kind == "Pod")
    assert pods == MANY * 2
    # A rollout of one service: new pods start, old ones go, its window slides over the
    # change for a minute; every sample meanwhile is computed, for that service only.
    sim.set_image(ObjRef("Deployment", "web-7", "demo"), "web-7", "web:v3")
    for _ in range(8):
        run(clock, sim, 15)
        rows = sampler.sample()
        assert sum(1 for r in rows if r.kind == "Pod") == pods  # every row is still read
    changed = sampler.rows.visited - visited
    assert 0 < changed <= 8 * 4, changed  # web-7's pods (old and new), not 8 x 40
    assert sim._traffic.computed - computed <= 8
    assert {r.workload for r in rows if r.kind == "Pod" and r.name.startswith("web-7")} \
        == {"Deployment/demo/web-7"}
    # Then it is settled: samples repeat again, computing nothing.
    visited, samples = sampler.rows.visited, sampler.computed
    for _ in range(4):
        run(clock, sim, 15)
        sampler.sample()
    assert sampler.rows.visited == visited and sampler.computed == samples


def test_a_window_growing_over_a_start_reads_as_computed_in_full(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A window that began before its Deployment's endpoints did is scaled from one
    second of them (cheap while a fleet's windows slide over its start); it reads
    the same as the window integrated in full, for two versions, errors and a mix of
    latencies, and a late regression takes the full path."""
    from sandbox.cluster.sim.traffic import Endpoint, Traffic

    def traffic() -> Traffic:
        t = Traffic(seed=4)
        t.serve("demo/web", [])  # the Service before its pods are ready
        t.settle(100.0, "demo/web")
        t.serve("demo/web", [
            Endpoint("demo/web-a", "demo/web", "v1", "web:v1", PROFILES["default"], 90.0),
            Endpoint("demo/web-b", "demo/web", "v1", "web:v1", PROFILES["default"], 95.0),
            Endpoint("demo/web-c", "demo/web", "v2", "web:v2", PROFILES["errors"], 99.0),
            Endpoint("demo/web-d", "demo/web", "v3", "web:v3", PROFILES["latency"], 99.0)])
        return t

    scaled, full = traffic(), traffic()
    monkeypatch.setattr(full, "_growing", lambda *args: None)
    for now in (101.0, 117.5, 130.0, 159.0, 161.0):
        a, b = scaled.metrics(now, ["demo/web"]), full.metrics(now, ["demo/web"])
        assert a == b, now
    assert scaled._growth["demo/web"][1] is not None  # the scaled path was taken
    assert a["demo/web"]["versions"]["v2"]["error_rate"] == 0.25
    late = Traffic(seed=4)
    late.serve("demo/api", [Endpoint("demo/api-a", "demo/api", "v1", "api:v1",
                                     PROFILES["late-errors"], 0.0)])
    late.metrics(50.0, ["demo/api"])
    assert late._growth["demo/api"][1] is None  # its behaviour changes: integrated


class _Counting:
    """A connection that counts the statements sent to it (executemany: one)."""

    def __init__(self, conn: Any, sent: list[str]) -> None:
        self._conn, self._sent = conn, sent

    def execute(self, sql: str, *args: Any) -> Any:
        self._sent.append(sql)
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> Any:
        self._sent.append(sql)
        return self._conn.executemany(sql, rows)


def test_a_sample_whose_every_row_moved_is_one_insert_and_reads_back(tmp_path: Path,
                                                                      monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A fleet that just started moves every row in a sample: its new runs go to the
    store in one statement, not one per target, and read back as computed; runs started
    later (also by a fixture inserting through the view meanwhile) get ids of their own."""
    from contextlib import contextmanager

    clock, sim = cluster()
    store = Store(tmp_path / "state.db")
    sampler = MetricsSampler(store, sim, clock.now, interval=15, retention=3600)
    sent: list[str] = []
    real = store.tx

    @contextmanager
    def tx():  # type: ignore[no-untyped-def]
        with real() as conn:
            yield _Counting(conn, sent)

    monkeypatch.setattr(store, "tx", tx)
    sampler.sample()  # the first sample: every target is new
    inserts = [s for s in sent if s.startswith("INSERT INTO metric_runs")]
    assert len(inserts) == 1, sent
    assert sampler.writer.written == SERVICES * 3
    run(clock, sim, 15)
    with real() as conn:  # another writer's row between two samples
        conn.execute("INSERT INTO metric_samples(sim, ts, kind, namespace, name, workload)"
                     " VALUES(1.0, 0, 'Pod', 'x', 'y', '')")
    sim.scale(ObjRef("Deployment", "web-1", "demo"), 3)
    for _ in range(2):
        run(clock, sim, 15)
        rows = sampler.sample()
    assert sampler.writer.written > SERVICES * 3  # web-1's new pod and its sums
    stored = {(r["kind"], r["name"]): r["rps"]
              for r in query(store, since=0, pods=True) if r["sim"] == clock.now()}
    assert stored == {(r.kind, r.name): r.values["rps"] for r in rows}
    ids = [r["id"] for r in store.query("SELECT id FROM metric_runs")]
    assert len(ids) == len(set(ids)) == sampler.writer.written + 1


def test_a_fleet_just_started_fills_in_its_pods_rates_without_reading_them(
        tmp_path: Path) -> None:
    """Every pod's first sample has no rate yet; the next one has it. For a pod that
    served at a steady rate since before its first sample, that row is the first one
    with the rate filled in: the second sample of a fleet that just started reads no
    pod, yet reads as a sampler computing everything at every sample."""
    clock, sim = web_fleet(CHANGE_IMAGES, 5, MANY, 10)  # ready a few seconds ago: windows fill
    changing, full = twins(tmp_path, sim, clock)
    computed = sim._traffic.computed
    first = changing.sample()
    computed = sim._traffic.computed - computed  # the windows, once per sampler
    assert rows_of(first) == rows_of(full.sample())
    assert all(r.values["rps"] is None for r in first if r.kind == "Pod")
    visited = changing.rows.visited
    for _ in range(5):
        run(clock, sim, 15)
        rows = changing.sample()
        assert rows_of(rows) == rows_of(full.sample())
    assert changing.rows.visited == visited  # no pod read again...
    assert changing.rows.filled == MANY * 2  # ...each one's rate filled in once
    # A window filling over its one segment moves its rate only: not computed again.
    assert changing.rows.rates_moved >= MANY * 2
    assert computed == MANY  # once, at the first sample
    computed = sim._traffic.computed
    run(clock, sim, 15)
    changing.sample()
    assert sim._traffic.computed == computed  # steady: nothing at all
    assert all(r.values["rps"] for r in rows if r.kind == "Pod")


def test_a_fleet_first_sampled_when_its_pods_appear_computes_each_window_once(
        tmp_path: Path) -> None:
    """As in the engine: the sampler ran before the fleet existed, so the fleet's pods and
    Deployments are new rows of an incremental sample. Each new Deployment's window is
    computed once (its pods were all read with it), and the rows read as a sampler
    computing everything at every sample."""
    clock, sim, changing, full = first_sampled_then_started(tmp_path, MANY)
    run(clock, sim, 10)  # ready a few seconds ago: every window fills
    computed, visited = sim._traffic.computed, changing.rows.visited
    rows = changing.sample()
    assert sim._traffic.computed - computed == MANY  # once each, not again for its pods
    assert changing.rows.visited - visited == MANY * 2
    assert rows_of(rows) == rows_of(full.sample())


def stored_at(store: Store, sim: float) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    """The sample at `sim` as another process reads it (the view)."""
    return {(r["kind"], r["namespace"], r["name"]): (r["workload"], *(r[f] for f in FIELDS))
            for r in query(store, since=0, pods=True) if r["sim"] == sim}


def test_a_fleet_first_minute_writes_only_what_changed_and_reads_back_exactly(
        tmp_path: Path) -> None:
    """The fleet's first minute as the engine samples it: its pods appear, serve, get
    their first rate, and every window fills. A filling window is stored as its ramp and
    a pod's first row with the rate it reads from its next sample on, so once the pods
    serve, samples write nothing until the windows are full (then one row each). What
    another process reads at every sample equals a sampler computing everything, also
    when the cluster's time lags the sampler's clock."""
    clock, sim, changing, full = first_sampled_then_started(tmp_path, MANY, replicas=1)
    store = changing.store
    written: list[int] = []
    for i in range(9):
        run(clock, sim, 1 if i == 0 else 14)
        clock.advance(0.5 + i % 2)  # the cluster's time behind the sampler's
        before = changing.writer.written
        rows = changing.sample()
        written.append(changing.writer.written - before)
        expected = rows_of(full.sample())
        assert rows_of(rows) == expected, f"sample {i}"
        assert stored_at(store, clock.now()) == expected, f"sample {i}"
    # The pods' first rows (not yet serving, then serving); then nothing while the
    # windows fill; then each Deployment once, its window full.
    assert written[0] > 0 and written[1] > 0, written
    assert written[2:4] == [0, 0], written
    assert sum(written[4:]) == MANY, written
    assert changing.rows.filled == MANY and changing.rows.rates_moved >= MANY * 2


OLD_SCHEMA = """
CREATE TABLE metric_times (sim REAL PRIMARY KEY, ts REAL NOT NULL);
CREATE TABLE metric_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, sim_from REAL NOT NULL,
    sim_to REAL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    workload TEXT NOT NULL, rps REAL, error_rate REAL, p50_ms REAL, p95_ms REAL,
    p99_ms REAL, cpu_m REAL, memory_mib REAL);
CREATE VIEW metric_samples AS
    SELECT t.sim AS sim, t.ts AS ts, r.kind AS kind, r.namespace AS namespace,
           r.name AS name, r.workload AS workload, r.rps AS rps,
           r.error_rate AS error_rate, r.p50_ms AS p50_ms, r.p95_ms AS p95_ms,
           r.p99_ms AS p99_ms, r.cpu_m AS cpu_m, r.memory_mib AS memory_mib
    FROM metric_times t JOIN metric_runs r
      ON r.sim_from <= t.sim AND (r.sim_to IS NULL OR t.sim <= r.sim_to);
INSERT INTO metric_times VALUES (5.0, 0);
INSERT INTO metric_runs(sim_from, kind, namespace, name, workload, rps)
    VALUES (5.0, 'Deployment', 'demo', 'old', 'Deployment/demo/old', 7.5);
"""


def test_a_workspace_from_before_the_ramps_keeps_its_samples(tmp_path: Path) -> None:
    """The view is made again with the ramps, and the runs get their new columns: the
    samples stored before read as they did, and sampling goes on."""
    store = Store(tmp_path / "state.db")
    store._conn().executescript(OLD_SCHEMA)
    clock, sim = cluster()
    sampler = MetricsSampler(store, sim, clock.now, interval=15)
    assert [(r["name"], r["rps"]) for r in query(store, "old", since=1000)] == [("old", 7.5)]
    rows = sampler.sample()
    assert stored_at(store, clock.now()) == rows_of(rows)


def test_a_ramp_reads_exactly_with_the_cluster_far_behind_the_sampler(tmp_path: Path) -> None:
    """The engine's cluster moves on its own ticks: its time may lag the sampler's clock
    by more than a sample. A window stored as a ramp is still read at the traffic's own
    time of each sample, and a sampler computing everything reads the same."""
    clock, sim, changing, full = first_sampled_then_started(tmp_path, 4, replicas=1)
    store = changing.store
    run(clock, sim, 40)
    for lag in (60, 0, 20, 0, 35, 5, 0):
        clock.advance(lag)  # the sampler's clock on, the cluster not stepped
        expected = rows_of(full.sample())
        assert rows_of(changing.sample()) == expected, lag
        assert stored_at(store, clock.now()) == expected, lag
        run(clock, sim, 5)
