"""An idle engine is idle: health, drift and snapshots follow what changed, the
periodic resync stays the safety net, and a new commit applies its change set only."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.engine import Engine
from sandbox.events import read_events
from sandbox.gitutil import refs
from sandbox.workspace import Workspace, init_workspace
from tests.integration.waits import until

SERVICES = 12


def service(i: int, replicas: int = 1) -> list[dict[str, Any]]:
    name, labels = f"svc-{i}", {"app": f"svc-{i}"}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": "demo"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                      {"name": "app", "image": "localhost:5001/web:1.0.0"}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "demo"},
         "spec": {"selector": labels, "ports": [{"port": 80}]}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": name, "namespace": "demo"}, "data": {"i": str(i)}},
    ]


class Manifests:
    """Pushes files to manifests.git as generate-bot, as the generation job does."""

    def __init__(self, ws: Workspace, work: Path) -> None:
        self.work = work
        self.trailer = f"HLD-Commit: {refs(ws.hld_git)['refs/heads/main']}"

    def commit(self, files: dict[str, list[dict[str, Any]]]) -> str:
        for path, objects in files.items():
            (self.work / path).parent.mkdir(parents=True, exist_ok=True)
            (self.work / path).write_text(yaml.safe_dump_all(objects))
        for cmd in (["add", "-A"], ["commit", "-qm", "update", "-m", self.trailer],
                    ["push", "-q", "origin", "HEAD:main"]):
            subprocess.run(["git", *cmd], cwd=self.work, check=True)
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.work, check=True,
                              capture_output=True, text=True).stdout.strip()


def converged_engine(tmp_path: Path, serve, clone_as,  # type: ignore[no-untyped-def]
                     prepare: Callable[[Workspace, SimCluster], None] | None = None
                     ) -> tuple[Engine, Manifests, SimCluster, VirtualClock]:
    """An engine on SERVICES services, converged and Healthy on a virtual clock;
    `prepare` sees the workspace and the cluster before the first reconcile."""
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "component.yaml").write_text("name: tiny\n")
    ws = init_workspace(tmp_path / "ws", sample=sample)
    ws.registry.push("web", "1.0.0", "fast")
    serve(ws.root)
    man = Manifests(ws, clone_as(ws.root, "generate-bot", "manifests"))
    files = {f"prod/svc-{i}.yaml": service(i) for i in range(SERVICES)}
    files["prod/ns.yaml"] = [{"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": "demo"}}]
    man.commit(files)
    clock = VirtualClock()
    cluster = SimCluster(clock, ws.registry.resolve, seed=2)
    if prepare is not None:
        prepare(ws, cluster)
    eng = Engine(ws, clock=clock, cluster=cluster)
    eng.flux.reconcile("engine start")
    for _ in range(40):
        clock.advance(0.5)
        eng.tick()
    assert eng.health["app"] == "Healthy", eng.health
    eng.flux.check_drift()  # takes in what the controllers wrote while converging
    return eng, man, cluster, clock


@pytest.fixture
def engine(tmp_path: Path, serve, clone_as):  # type: ignore[no-untyped-def]
    return converged_engine(tmp_path, serve, clone_as)


def test_an_idle_tick_judges_nothing_and_writes_no_snapshot(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    eng, _, cluster, clock = engine
    deadline = time.monotonic() + 30
    while not eng.snapshots_current() and time.monotonic() < deadline:
        eng.tick()  # the last writes of the convergence, within the snapshot's throttle
    assert eng.snapshots_current()
    writes: list[str] = []
    real = eng.ws.store.put_snapshot
    monkeypatch.setattr(eng.ws.store, "put_snapshot",
                        lambda name, data: (writes.append(name), real(name, data)))
    before = eng.monitor.evaluations
    for _ in range(100):
        clock.advance(0.05)
        eng.tick()
    assert eng.monitor.evaluations == before
    assert writes == []
    # A change is judged, and only what changed: the Deployment the edit touched.
    cluster.scale(ObjRef("Deployment", "svc-3", "demo"), 2)
    for _ in range(20):
        clock.advance(0.5)
        eng.tick()
    judged = eng.monitor.evaluations - before
    assert 1 <= judged <= 10
    # The changed cluster is written for other processes (within the snapshot's
    # throttle, which counts wall time: tick until it is due).
    deadline = time.monotonic() + 30
    while "cluster" not in writes and time.monotonic() < deadline:
        eng.tick()
    assert "cluster" in writes
    assert eng.health["objects"]["Deployment/demo/svc-3"][0] == "Healthy"


def test_drift_from_a_direct_edit_is_found_and_corrected(engine) -> None:  # type: ignore[no-untyped-def]
    eng, _, cluster, clock = engine
    flux = eng.flux
    compared = flux.compared
    assert flux.check_drift() == [] and flux.compared == compared  # nothing changed
    cluster.scale(ObjRef("Deployment", "svc-5", "demo"), 3)
    assert flux.check_drift() == ["Deployment/demo/svc-5"]
    assert flux.compared - compared == 1  # only the object that changed was compared
    assert flux.status.sync == "OutOfSync"
    assert flux.check_drift() == ["Deployment/demo/svc-5"]  # still drifted, still said
    flux.reconcile("periodic resync")
    live = cluster.get(ObjRef("Deployment", "svc-5", "demo"))
    assert live and live["spec"]["replicas"] == 1 and flux.status.sync == "Synced"
    assert read_events(eng.ws.store, kinds=("drift.corrected",))


def test_the_resync_catches_a_change_nobody_announced(engine) -> None:  # type: ignore[no-untyped-def]
    eng, _, cluster, clock = engine
    flux = eng.flux
    # Written behind the API's back: no resourceVersion, no watch event.
    cluster._store.get(ObjRef("ConfigMap", "svc-1", "demo"))["data"] = {"i": "changed"}
    assert flux.check_drift() == []
    flux.reconcile("periodic resync")
    live = cluster.get(ObjRef("ConfigMap", "svc-1", "demo"))
    assert live and live["data"] == {"i": "1"}
    corrected = read_events(eng.ws.store, kinds=("drift.corrected",))
    assert [e.data["object"] for e in corrected] == ["ConfigMap/demo/svc-1"]


def test_a_new_commit_compares_and_applies_only_its_change_set(engine) -> None:  # type: ignore[no-untyped-def]
    eng, man, cluster, clock = engine
    flux = eng.flux
    compared = flux.compared
    sha = man.commit({"prod/svc-4.yaml": service(4, replicas=2)})
    status = flux.reconcile("new commit")
    assert status.ready and status.last_applied == sha
    assert flux.compared - compared == 3  # the changed file's objects, no others
    live = cluster.get(ObjRef("Deployment", "svc-4", "demo"))
    assert live and live["spec"]["replicas"] == 2
    assert len(status.inventory) == SERVICES * 3 + 1  # the rest is still ours
    finished = read_events(eng.ws.store, kinds=("sync.finished",))[-1]
    assert finished.data["changed"] == ["Deployment/svc-4 configured"]
    # A file removed from git is pruned as before.
    (man.work / "prod" / "svc-6.yaml").unlink()
    man.commit({})
    status = flux.reconcile("new commit")
    assert cluster.get(ObjRef("Deployment", "svc-6", "demo")) is None
    assert len(status.inventory) == (SERVICES - 1) * 3 + 1


def test_an_idle_poll_runs_no_git_until_a_ref_moves(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    eng, _, _, _ = engine
    import sandbox.enginescan as engine_module

    calls: list[str] = []
    real = engine_module.refs

    def counting(git_dir: Path, pattern: str = "refs/") -> dict[str, str]:
        calls.append(str(git_dir))
        return real(git_dir, pattern)

    monkeypatch.setattr(engine_module, "refs", counting)
    eng.scan_hld_refs()
    first = len(calls)
    for _ in range(5):
        eng.scan_hld_refs()
    assert len(calls) == first  # nothing moved: file stats only
    subprocess.run(["git", "--git-dir", str(eng.ws.hld_git), "update-ref", "refs/heads/moved",
                    "refs/heads/main"], check=True)
    eng.scan_hld_refs()
    assert len(calls) == first + 1
    assert "hld.git: moved" in read_events(eng.ws.store, kinds=("push.received",))[-1].message


class _Waits(threading.Event):
    """The tick's wake-up event, noting how long each wait was allowed to last."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        return super().wait(timeout)


def test_an_idle_tick_loop_sleeps_until_a_timer_or_a_write(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    eng, _, cluster, clock = engine
    import sandbox.enginetick as tick_module

    # Longer than any test: an idle loop waits on this only if nothing else is due.
    monkeypatch.setattr(tick_module, "IDLE_TICK_SECONDS", 3600.0)
    waits = _Waits()
    eng.ticker.wake = waits  # the cluster's writes set whatever event the ticker holds
    compared = eng.flux.compared
    loop = threading.Thread(target=eng.ticker.loop, daemon=True)
    loop.start()
    try:
        # Idle: once the last snapshot is written, the loop sleeps until the cluster's
        # next timer (none here: the simulated clock stands still), not every 50 ms.
        until(lambda: waits.timeouts and (waits.timeouts[-1] or 0) > 60, timeout=30,
              why="an idle wait")
        assert cluster.next_due() is None or cluster.next_due() - clock.now() > 60
        ticks = eng.ticks
        assert eng.flux.check_drift() == [] and eng.flux.compared == compared
        assert eng.ticks == ticks  # flat: nothing ticks while idle
        # A direct edit wakes it at once; the rollout's timers then bound its sleep.
        cluster.scale(ObjRef("Deployment", "svc-3", "demo"), 2)
        until(lambda: eng.ticks > ticks, timeout=30, why="the tick a write wakes")
        until(lambda: cluster.next_due() is not None, timeout=30, why="the new pod's timers")
        due = cluster.next_due()
        # The wait ends at the next timer (at the clock's speed), not at the cap.
        until(lambda: waits.timeouts[-1] is not None
              and abs(waits.timeouts[-1] - (due - clock.now())) < 1e-6,
              timeout=30, why="a wait bounded by the next timer")
        assert eng.flux.check_drift() == ["Deployment/demo/svc-3"]
        assert eng.flux.compared - compared == 1  # only what changed was compared
    finally:
        eng._stop.set()
        waits.set()
        loop.join(timeout=10)


def test_after_a_one_service_change_the_engine_settles_to_no_work(engine) -> None:  # type: ignore[no-untyped-def]
    """A commit changing one service: while it rolls out, health, metrics and drift
    cost that service's objects; once it settled, nothing is evaluated, sampled,
    compared or ticked any more, however long the clock runs."""
    eng, man, cluster, clock = engine
    sampler = eng.sampler
    for _ in range(6):  # every pod's row, then rates, until the windows are full
        sampler.sample()
        clock.advance(15)
        eng.tick()
    evaluations, visited, compared = (eng.monitor.evaluations, sampler.rows.visited,
                                      eng.flux.compared)
    man.commit({"prod/svc-4.yaml": service(4, replicas=3)})
    eng.flux.reconcile("new commit")

    def settle(seconds: int) -> None:
        for _ in range(seconds * 2):
            clock.advance(0.5)
            eng.tick()
            if sampler.due(clock.now()):
                sampler.sample()
            eng.flux.check_drift()

    settle(120)
    assert eng.health["app"] == "Healthy"
    assert eng.health["objects"]["Deployment/demo/svc-4"][0] == "Healthy"
    # The rollout's cost: svc-4's objects and its 3 pods' rows, not the 12 services'.
    assert 1 <= eng.monitor.evaluations - evaluations <= 20
    assert 1 <= sampler.rows.visited - visited <= 3 * 9  # 3 pods, 8 samples and a spare
    assert eng.flux.compared - compared <= 6
    # Settled: from here on, nothing moves.
    evaluations, visited, compared = (eng.monitor.evaluations, sampler.rows.visited,
                                      eng.flux.compared)
    samples, computed = sampler.samples, sampler.computed
    settle(120)
    assert (eng.monitor.evaluations, sampler.rows.visited, eng.flux.compared) == (
        evaluations, visited, compared)
    assert sampler.samples == samples + 8 and sampler.computed == computed
    assert cluster.next_due() is None  # no timer left: an idle tick loop sleeps


def test_the_collector_settles_once_when_the_app_first_converges(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A full collection at a random moment of the first idle minutes walked the whole
    heap of a big cluster (over a second at 3,000 services): once the app is first
    Healthy with objects to watch, what exists goes to the collector's permanent
    generation, once per process (an empty first revision is Healthy before the fleet
    exists)."""
    import gc

    from sandbox.cluster.sim import gcpause

    eng, _, cluster, clock = engine
    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))  # the test process stays
    monkeypatch.setattr(gc, "collect", lambda *args: 0)
    monkeypatch.setattr(gcpause, "_settled", False)
    eng.ticker.settled = False
    verdict: dict[str, object] = {"app": "Healthy", "objects": {}}
    monkeypatch.setattr(type(eng), "health", property(lambda self: verdict))
    clock.advance(0.5)
    eng.tick()
    assert frozen == []  # nothing to watch yet: the fleet is still to come
    verdict.update(app="Progressing", objects={"Deployment/demo/web": ["Progressing", ""]})
    clock.advance(0.5)
    eng.tick()
    assert frozen == []  # not before the app is Healthy
    verdict["app"] = "Healthy"
    for _ in range(5):
        clock.advance(0.5)
        eng.tick()
    assert frozen == [1]
    eng.ticker.settled = False  # another engine in the same process: already settled
    clock.advance(0.5)
    eng.tick()
    assert frozen == [1]
