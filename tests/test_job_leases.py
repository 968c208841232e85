"""Job leases: a job whose lease ran out is taken over, a live lease is respected, and
a finished job drops its lease. No engine threads: the runner is driven directly."""

from __future__ import annotations

import time
from pathlib import Path

from sandbox.events import EventBus
from sandbox.pipelines import CIRunner, enqueue, job_row
from sandbox.pullrequests import PullRequests
from sandbox.workspace import Workspace, init_workspace


def runner(ws: Workspace, owner: str) -> CIRunner:
    bus = EventBus(ws.store)
    ci = CIRunner(ws, bus, PullRequests(ws, bus), owner=owner)
    ci.handlers["noop"] = lambda params, log: {"ok": True, "ran_by": owner}
    return ci


def test_expired_lease_is_taken_over_and_a_live_one_is_not(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    dead, live = enqueue(ws, "noop"), enqueue(ws, "noop")
    with ws.store.tx() as db:
        db.execute("UPDATE jobs SET status='running', owner='111:gone', lease=? WHERE id=?",
                   (time.time() - 1, dead))
        db.execute("UPDATE jobs SET status='running', owner='222:alive', lease=? WHERE id=?",
                   (time.time() + 600, live))
    ci = runner(ws, "333:new")
    assert ci.run_pending() == 1
    taken = job_row(ws, dead)
    assert taken and taken["status"] == "success" and taken["owner"] == "333:new"
    assert taken["lease"] is None and taken["result"]["ran_by"] == "333:new"
    assert (job_row(ws, live) or {})["status"] == "running"


def test_renewal_keeps_the_lease_ahead(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    job = enqueue(ws, "noop")
    ci = runner(ws, "444:me")
    assert ci.claim(job)
    before = (job_row(ws, job) or {})["lease"]
    with ws.store.tx() as db:
        db.execute("UPDATE jobs SET lease=? WHERE id=?", (time.time() - 5, job))
    ci.renew_leases()
    assert (job_row(ws, job) or {})["lease"] >= before
    assert not runner(ws, "555:other").claim(job)
