"""A fixed history for the Metrics tab and the verdict column, written by the engine's
own writers (the event bus on a virtual clock, the deployment tracker) and the metrics
table: same numbers on every run, so an SVG snapshot of it is stable.

Two Deployments sampled every 15 simulated seconds for 10 minutes. The first sync (no
pull request) deployed both; pull request #7 synced at 300 s and touched only web,
whose error rate and p95 then rise above their objectives (5%, 500 ms); its verdict is
Failed.
"""

from __future__ import annotations

from sandbox.clock import VirtualClock
from sandbox.deployments import DeploymentTracker
from sandbox.events import EventBus
from sandbox.facade import Sandbox
from sandbox.metrics import FIELDS, ensure_schema

INTERVAL = 15.0
END = 600.0
DEPLOY_AT = 300.0
FIRST_SHA = "a" * 40
CHANGE_SHA = "b" * 40
PR = 7
REASON = "web: error rate 9.0% is above its SLO of 5.0% in 2 of 2 checks (failure limit 1)"


def web_values(sim: float) -> dict[str, float]:
    """A gentle wave before the change, the regression after it."""
    step = int(sim // INTERVAL)
    wave = (step % 4) - 1.5
    if sim < DEPLOY_AT:
        return {"rps": 20.0 + wave, "error_rate": 0.01, "p95_ms": 180.0 + 10 * wave}
    return {"rps": 19.0 + wave, "error_rate": 0.09, "p95_ms": 620.0 + 10 * wave}


def api_values(sim: float) -> dict[str, float]:
    wave = (int(sim // INTERVAL) % 3) - 1
    return {"rps": 8.0 + wave, "error_rate": 0.0, "p95_ms": 90.0 + 5 * wave}


def add_samples(sb: Sandbox, start: float, end: float) -> None:
    """Workload samples from `start` to `end` inclusive, every INTERVAL."""
    ensure_schema(sb.ws.store)
    rows = []
    sim = start
    while sim <= end:
        for name, values in (("web", web_values(sim)), ("api", api_values(sim))):
            full = {**dict.fromkeys(FIELDS), **values}
            rows.append((sim, 1_000_000.0 + sim, "Deployment", "demo", name,
                         f"Deployment/demo/{name}", *(full[f] for f in FIELDS)))
        sim += INTERVAL
    with sb.ws.store.tx() as db:
        db.executemany("INSERT INTO metric_samples(sim, ts, kind, namespace, name, workload, "
                       + ", ".join(FIELDS) + ") VALUES(?,?,?,?,?,?,"
                       + ",".join("?" * len(FIELDS)) + ")", rows)


def seed(sb: Sandbox) -> None:
    clock = VirtualClock()
    bus = EventBus(sb.ws.store, clock)
    tracker = DeploymentTracker(sb.ws.store, bus)
    try:
        clock.advance(10.0)
        bus.publish("sync.finished", "flux", "first sync", revision="r1", hld_sha=FIRST_SHA,
                    changed=["Namespace/demo created", "Deployment/web created",
                             "Deployment/api created"], new_revision=True)
        bus.publish("analysis.finished", "monitor", "first: Succeeded", hld_sha=FIRST_SHA,
                    revision="r1", verdict="Succeeded", reason="5 checks, 0 failed",
                    analysis={})
        clock.advance(DEPLOY_AT - 10.0)
        bus.publish("manifests.generated", "ci", "generated", sha=CHANGE_SHA, pr=PR,
                    manifest_sha="c" * 40)
        bus.publish("sync.finished", "flux", "change synced", revision="r2",
                    hld_sha=CHANGE_SHA, changed=["Deployment/web configured"],
                    new_revision=True)
        # A sync of nothing new draws no marker.
        bus.publish("sync.finished", "flux", "resync", revision="r2", hld_sha=CHANGE_SHA,
                    changed=[], new_revision=False)
        bus.publish("analysis.finished", "monitor", "change: Failed", hld_sha=CHANGE_SHA,
                    revision="r2", verdict="Failed", reason=REASON, analysis={})
    finally:
        tracker.close()
    add_samples(sb, 0.0, END)
    # The health the engine last wrote, as an attached TUI reads it.
    sb.ws.store.put_snapshot("health", {"app": "Healthy", "objects": {
        "Deployment/demo/api": ["Healthy", ""], "Deployment/demo/web": ["Healthy", ""],
        "Service/demo/web": ["Healthy", ""]}})
