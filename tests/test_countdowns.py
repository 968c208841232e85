"""Countdowns (issue 12 point 4): what the pipeline waits for and how long is left, in
simulated and wall time, on the simulated clock (no sleeps)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox import countdowns
from sandbox.analysis import Run
from sandbox.clock import VirtualClock
from sandbox.cluster import SimCluster
from sandbox.cluster.sim.store import rfc3339
from sandbox.countdowns import ANALYSIS, HEALTH, RESYNC, ROLLOUT, RolloutWatch, remaining
from sandbox.registry import PROFILES
from sandbox.workspace import Settings

SHAPE = {"what", "target", "remaining_sim_s", "remaining_wall_s"}


def deployment(image: str, deadline: int = 60, replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "progressDeadlineSeconds": deadline,
                     "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "containers": [{"name": "web", "image": image}]}}}}


def make() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    images = {"web:1": PROFILES["fast"], "web:crash": PROFILES["crash"],
              "web:slow": replace(PROFILES["default"], startup_seconds=20.0)}
    return clock, SimCluster(clock, images.get, seed=1)


def run(clock: VirtualClock, cluster: SimCluster, seconds: float) -> None:
    for _ in range(int(seconds * 2)):
        clock.advance(0.5)
        cluster.step()


def test_the_shape_and_the_wall_time_at_the_clock_speed() -> None:
    snap = {"now": 100.0, "wall": 1000.0, "speed": 50.0, "deadlines": [
        {"what": RESYNC, "target": "manifests main", "at": 700.0},
        {"what": HEALTH, "target": "revision abc", "at": 160.0},
        {"what": ROLLOUT, "target": "Deployment/demo/web", "at": 110.0}]}
    # Half a wall second later, 25 simulated seconds went by at 50x.
    waits = remaining(snap, 1000.5)
    assert [set(w) for w in waits] == [SHAPE] * 3
    assert [(w["what"], w["remaining_sim_s"], w["remaining_wall_s"]) for w in waits] == [
        (ROLLOUT, 0.0, 0.0), (HEALTH, 35.0, 0.7), (RESYNC, 575.0, 11.5)]
    assert remaining(None, 5.0) == [] and remaining(snap, 0.0)[0]["remaining_sim_s"] == 10.0


def test_a_stuck_rollout_counts_down_its_progress_deadline_then_stops() -> None:
    clock, cluster = make()
    cluster.apply([deployment("web:1")])
    run(clock, cluster, 10)
    watch = RolloutWatch(cluster)
    assert watch() == []  # rolled out: nothing to wait for
    cluster.apply([deployment("web:crash")])
    run(clock, cluster, 5)
    (found,) = watch()
    assert (found.what, found.target) == (ROLLOUT, "Deployment/default/web")
    left = found.at - clock.now()
    assert 53 <= left <= 56, left
    run(clock, cluster, 30)
    assert watch()[0].at == found.at  # a crash loop is no progress
    run(clock, cluster, 30)  # past the deadline: ProgressDeadlineExceeded, no countdown
    conds = {c["type"]: c for c in cluster.get(  # type: ignore[index]
        found_ref())["status"]["conditions"]}
    assert conds["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    assert watch() == []


def found_ref() -> Any:
    from sandbox.cluster import ObjRef

    return ObjRef("Deployment", "web", "default")


def test_progress_moves_the_deadline_as_the_controller_does() -> None:
    clock, cluster = make()
    cluster.apply([deployment("web:1", replicas=3)])
    run(clock, cluster, 10)
    cluster.apply([deployment("web:slow", replicas=3)])  # one pod at a time, 20 s each
    watch = RolloutWatch(cluster)
    run(clock, cluster, 2)
    first = watch()[0].at
    run(clock, cluster, 25)  # the first pod became ready: progress
    later = watch()[0].at
    assert later >= first + 19
    run(clock, cluster, 20)  # the second: the same reason, but progress all the same
    assert watch()[0].at >= later + 19
    later = watch()[0].at
    cond = [c for c in cluster.get(found_ref())["status"]["conditions"]  # type: ignore[index]
            if c["type"] == "Progressing"][0]
    assert cond["lastUpdateTime"] == rfc3339(later - 60)
    assert cond["lastTransitionTime"] == rfc3339(0)  # True since the first rollout


def fake_engine(cluster: SimCluster, clock: VirtualClock, **settings: Any) -> Any:
    written: list[dict[str, Any]] = []
    ws = SimpleNamespace(settings=Settings(**{"health_timeout": 300.0, "resync_seconds": 600.0,
                                              **settings}),
                         store=SimpleNamespace(put_snapshot=lambda name, data:
                                               written.append(data)))
    return SimpleNamespace(
        ws=ws, cluster=cluster, clock=clock, clock_speed=lambda: 1.0, poll=True,
        _started=True, _synced_at=(None, 0.0), _health_check="Unknown", _last_resync=0.0,
        flux=SimpleNamespace(status=SimpleNamespace(suspended=False)),
        analyzer=SimpleNamespace(run=None), written=written)


def test_the_engine_deadlines_count_down_on_the_clock(tmp_path: Path) -> None:
    clock, cluster = make()
    engine = fake_engine(cluster, clock)
    cd = countdowns.for_engine(engine)

    def waits() -> dict[str, dict[str, Any]]:
        return {w["what"]: w for w in remaining(cd.snapshot(), 0.0, clock.now())}

    assert set(waits()) == {RESYNC}
    assert waits()[RESYNC]["remaining_sim_s"] == 600.0
    clock.advance(100)
    engine._synced_at, engine._health_check = ("f" * 40, 90.0), "Waiting"
    engine.analyzer.run = Run("a" * 40, "m", [], {}, None, 95.0, 110.0)  # type: ignore[arg-type]
    now = waits()
    assert now[RESYNC]["remaining_sim_s"] == 500.0
    assert now[HEALTH]["target"] == "revision fffffff"
    assert now[HEALTH]["remaining_sim_s"] == 290.0  # 300 s from the sync at 90 s
    # Checks fall on the metric samples: the first at or after 110 s is at 120 s.
    assert now[ANALYSIS] == {"what": ANALYSIS, "target": "aaaaaaa (check 1 of 5)",
                             "remaining_sim_s": 20.0, "remaining_wall_s": 20.0}
    engine._health_check = "Passed"
    engine.flux.status.suspended = True  # a suspended reconciler does not resync
    assert set(waits()) == {ANALYSIS}


def test_publish_writes_only_when_a_deadline_moves() -> None:
    clock, cluster = make()
    engine = fake_engine(cluster, clock)
    cd = countdowns.for_engine(engine)
    cd.publish()
    for _ in range(50):  # an idle engine: the countdowns move, the snapshot does not
        clock.advance(0.5)
        cluster.step()
        cd.publish()
    assert cd.writes == 1
    engine._last_resync = clock.now()
    cd.publish()
    cluster.apply([deployment("web:crash")])
    run(clock, cluster, 1)
    cd.publish()
    assert cd.writes == 3
    assert [d["what"] for d in engine.written[-1]["deadlines"]] == [RESYNC, ROLLOUT]


@pytest.mark.parametrize("speed", [1.0, 50.0])
def test_wall_time_follows_the_clock_speed(speed: float) -> None:
    snap = {"now": 0.0, "wall": 0.0, "speed": speed,
            "deadlines": [{"what": RESYNC, "target": "manifests main", "at": 600.0}]}
    assert remaining(snap, 0.0)[0]["remaining_wall_s"] == round(600.0 / speed, 1)


def test_people_see_one_line_per_kind_of_wait_and_how_many_more() -> None:
    def wait(what: str, target: str, left: float) -> dict[str, Any]:
        return {"what": what, "target": target, "remaining_sim_s": left,
                "remaining_wall_s": left}

    waits = [wait(ROLLOUT, f"Deployment/bench/svc-{i:03d}", 600.0 - i) for i in range(300)]
    waits.append(wait(RESYNC, "flux", 30.0))
    lines = countdowns.grouped(waits)
    assert [(w["what"], w["target"], w["more"]) for w in lines] == [
        (RESYNC, "flux", 0), (ROLLOUT, "Deployment/bench/svc-299", 299)]
    assert len(waits) == 301  # the full list (`--json`) is left as it was


def test_status_prints_a_rollout_of_hundreds_in_one_line() -> None:
    from sandbox.cli_output import wait_line

    line = wait_line({**countdowns.grouped([
        {"what": ROLLOUT, "target": f"Deployment/d/w{i}", "remaining_sim_s": 60.0 + i,
         "remaining_wall_s": 60.0 + i} for i in range(3)])[0]})
    assert line.startswith(f"{ROLLOUT} for Deployment/d/w0 and 2 more (--json lists all): ")
