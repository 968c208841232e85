"""The workload controllers' state survives a restart: a cluster restored mid-way
(claims being provisioned, StatefulSets rolling, Jobs backing off, CronJobs between
schedules, HPAs inside their stabilisation window) goes on exactly as the original."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sandbox.clock import VirtualClock
from sandbox.cluster import SimCluster
from sandbox.cluster.sim import persist
from sandbox.registry import PROFILES, ImageProfile
from sandbox.store import Store

IMAGES: dict[str, ImageProfile] = {
    "db:1": PROFILES["default"], "db:2": PROFILES["default"],
    "job:ok": ImageProfile("job", startup_seconds=1.0, run_seconds=20.0),
    "job:crash": PROFILES["crash"],
    "web:1": ImageProfile("busy", cpu_millicores=150.0)}
STORY = Path(__file__).parent / "corpus" / "workloads" / "persist-story.yaml"


def run(clock: VirtualClock, cluster: SimCluster, seconds: float) -> None:
    for _ in range(int(seconds / 0.5)):
        clock.advance(0.5)
        cluster.step()


def view(cluster: SimCluster) -> str:
    return json.dumps(cluster.list(), sort_keys=True)


@pytest.mark.parametrize("at", [7, 95, 333])
def test_a_restored_cluster_goes_on_like_the_original(tmp_path: Path, at: int) -> None:
    store = Store(tmp_path / "state.db")
    clock = VirtualClock()
    original = SimCluster(clock, IMAGES.get, seed=9)
    original.journal_to(persist.sink(store, lambda: 0.0))
    original.apply([d for d in yaml.safe_load_all(STORY.read_text()) if d])
    run(clock, original, at)
    saved = persist.load(store)
    assert saved is not None
    twin_clock = VirtualClock(clock.now())
    twin = SimCluster(twin_clock, IMAGES.get, seed=9)
    twin.restore(saved)
    twin.journal_to(persist.sink(Store(tmp_path / "twin.db"), lambda: 0.0))
    assert view(twin) == view(original)
    for _ in range(3):
        run(clock, original, 40)
        run(twin_clock, twin, 40)
        assert view(twin) == view(original)
    assert [e.message for e in twin.events()][-50:] == [
        e.message for e in original.events()][-50:]
