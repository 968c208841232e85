"""Cause before effect in the event log, and health stamped on the revision it was
measured against: both forced with fault-point hooks, not left to thread timing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import faults
from sandbox.clock import VirtualClock
from sandbox.engine import Engine
from sandbox.events import Event
from sandbox.facade import Sandbox
from sandbox.pipelines import enqueue
from sandbox.workspace import Settings

from .ci_push import push_as_ci


@pytest.fixture
def hooks() -> Iterator[None]:
    yield
    for name in faults.POINTS:
        faults.set_hook(name, None)


def first(events: list[Event], kind: str, **match: object) -> int:
    for ev in events:
        if ev.kind == kind and all(ev.data.get(k) == v for k, v in match.items()):
            return ev.id
    raise AssertionError(f"no {kind} {match} in {[(e.id, e.kind) for e in events]}")


def test_reconciler_waits_for_the_generate_job_record(running: Sandbox, hooks: None) -> None:
    sb = running
    engine = sb.engine
    assert engine is not None
    after = sb.last_event_id()
    seen: list[int] = []

    def reconciler_runs_now() -> None:
        # The manifest commit is on main and the watcher fired: make the reconciler
        # run right here, before the job has published anything.
        faults.set_hook("generate.after_push", None)
        engine._flux_step()
        seen.append(len(sb.events(after, kinds=("sync.started",))))

    faults.set_hook("generate.after_push", reconciler_runs_now)
    sb.change("info", ["logLevel=debug"], subcomponent="config")
    pr = sb.open_pr("info", "Debug logging")
    assert sb.wait_for_checks(pr.id, 60).checks_state == "success"
    sb.approve_pr(pr.id, "reviewer")
    merged = sb.merge_pr(pr.id)
    sha = merged.merge_sha
    dep = sb.wait_for_deployment(sha or "", 60)
    assert seen == [0], "the reconciler synced a commit whose generate job had not finished"
    revision = dep["manifest_sha"]
    events = sb.events(after)
    chain = [first(events, "job.started", job_kind="generate", sha=sha),
             first(events, "manifests.generated", sha=sha),
             first(events, "job.finished", job_kind="generate", sha=sha),
             first(events, "sync.started", revision=revision),
             first(events, "sync.finished", revision=revision),
             first(events, "health.check", revision=revision)]
    assert chain == sorted(chain), chain
    ids = [e.id for e in events]
    assert ids == sorted(ids)
    sims = [e.sim for e in events]
    assert sims == sorted(sims) and sims[-1] > 0  # simulated time rides along
    assert events[-1].to_dict()["seq"] == events[-1].id


def _push_manifest_change(sb: Sandbox, old: str, new: str) -> str:
    def edit(work: Path) -> None:
        files = [p for p in work.rglob("*.yaml") if old in p.read_text()]
        assert files, f"{old!r} in no manifest"
        for path in files:
            path.write_text(path.read_text().replace(old, new))

    return push_as_ci(sb, edit, "Edit by hand")


def test_health_is_never_stamped_on_a_revision_applied_after_the_reading(
        tmp_path: Path, hooks: None, serve) -> None:  # type: ignore[no-untyped-def]
    sb = Sandbox.init(tmp_path / "ws", settings=Settings(clock_speed=50.0))
    serve(sb.root)  # the engine is driven step by step, so its git server runs alone
    clock = VirtualClock()
    engine = Engine(sb.ws, clock=clock)  # driven step by step: no threads
    enqueue(sb.ws, "generate", sha=sb.branches()["main"])
    engine.ci.run_pending()
    engine.flux.reconcile("first")
    for _ in range(20):
        clock.advance(5)
        engine.tick()
    assert engine.health["app"] == "Healthy"
    old = engine.flux.status.last_applied
    new = _push_manifest_change(sb, "replicas: 2", "replicas: 5")
    done = threading.Event()

    def apply_in_between() -> None:
        # Exactly between the health reading and the revision reading, the reconciler
        # applies the new commit from its own thread.
        faults.set_hook("tick.after_evaluate", None)
        worker = threading.Thread(target=lambda: (engine.flux.reconcile("race"), done.set()))
        worker.start()
        while not (done.is_set() or engine.flux.lock.contended.is_set()):
            done.wait(0.01)

    faults.set_hook("tick.after_evaluate", apply_in_between)
    engine.tick()
    done.wait(30)
    assert engine.flux.status.last_applied == new != old
    engine.tick()  # the clock did not move: the new replicas cannot be ready yet
    assert engine.health["revision"] == new
    assert engine.health["app"] != "Healthy"
    passed = [e for e in sb.events(kinds=("health.check", "health.changed"))
              if e.data.get("revision") == new and
              (e.data.get("result") == "Passed" or e.data.get("health") == "Healthy")]
    assert not passed, [e.message for e in passed]
