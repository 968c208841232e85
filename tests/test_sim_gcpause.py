"""The cyclic garbage collector is held off during the simulation's bursts of work (an
apply, a step) and comes back as it was: the scale bench's growth ratio depends on it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from sandbox.clock import VirtualClock
from sandbox.cluster import SimCluster
from sandbox.cluster.sim import gcpause
from sandbox.registry import PROFILES, ImageProfile


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def deployment(name: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "web:v1"}]}}}}


def test_apply_and_step_run_with_the_collector_off_and_give_it_back(collector_on: None
                                                                     ) -> None:
    seen: list[bool] = []

    def resolve(image: str) -> ImageProfile:
        seen.append(gc.isenabled())  # asked while pods are created and started
        return PROFILES["default"]

    clock = VirtualClock()
    cluster = SimCluster(clock, resolve)
    cluster.apply([deployment("web")])
    assert gc.isenabled()
    clock.advance(30)
    cluster.step()
    assert seen and not any(seen)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_overlapping_bursts_on_threads_turn_it_back_on_once_the_last_ends(
        collector_on: None) -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with gcpause.paused():
            inside.set()
            release.wait()

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    try:
        inside.wait()
        with gcpause.paused():
            pass
        assert not gc.isenabled()  # the other burst still runs
    finally:
        release.set()
        thread.join()
    assert gc.isenabled()


def test_an_error_in_the_burst_still_gives_the_collector_back(collector_on: None) -> None:
    with pytest.raises(RuntimeError), gcpause.paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_what_a_big_burst_leaves_is_swept_once_when_it_ends(collector_on: None) -> None:
    seen: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.collect()  # every generation's count at zero: the next pass would be a young one
    gc.callbacks.append(note)
    try:
        with gcpause.paused():
            kept = [[i] for i in range(3 * gcpause.SWEEP_AFTER)]
            assert seen == []  # nothing collected meanwhile
        assert seen[:1] == [1]  # one pass through the middle generation, at the end
    finally:
        gc.callbacks.remove(note)
    assert len(kept) == 3 * gcpause.SWEEP_AFTER
