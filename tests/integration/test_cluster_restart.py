"""The simulated cluster outlives the engine, as a real cluster outlives its GitOps
controller: after a restart (clean or SIGKILL) the first reconcile finds nothing to do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sandbox.facade import Sandbox
from sandbox.workspace import Settings

from .waits import until

CLI = [sys.executable, "-m", "sandbox.cli"]
QUIET = ("drift.detected", "drift.corrected", "health.changed", "sync.started", "sync.applied",
         "sync.finished", "sync.failed", "health.check", "rollout.progress", "alert.fired",
         "cluster.event", "cluster.reset", "engine.error")



def workload(objects: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Names of the pods and ReplicaSets, and each Deployment's replicas."""
    out: dict[str, list[str]] = {}
    for o in objects:
        if o["kind"] in ("Pod", "ReplicaSet"):
            out.setdefault(o["kind"], []).append(o["metadata"]["name"])
        if o["kind"] == "Deployment":
            out.setdefault("Deployment", []).append(
                f"{o['metadata']['name']}={o['spec']['replicas']}")
    return {k: sorted(v) for k, v in out.items()}


def restarted_quietly(sb: Sandbox, after: int) -> None:
    """Wait for the restarted engine's first reconcile and a health reading after it,
    then check that neither said anything."""
    engine = sb.engine
    assert engine is not None
    until(lambda: engine._reconciled_once)
    reconciled = time.monotonic()
    until(lambda: engine.health.get("now") is not None
          and time.monotonic() > reconciled and engine.health.get("app") == "Healthy")
    assert engine.flux.check_drift() == []
    noise = [f"{e.kind}: {e.message}" for e in sb.events(after, kinds=QUIET)]
    assert noise == []
    assert sb.health()["app"] == "Healthy"
    assert sb.sync_status()["sync"] == "Synced"


def test_clean_restart_keeps_the_cluster_and_reports_nothing(running: Sandbox) -> None:
    sb = running
    before = workload(sb.cluster_objects())
    uids = {o["metadata"]["uid"] for o in sb.cluster_objects("Pod")}
    sb.stop_engine()
    assert workload(sb.cluster_objects()) == before  # read back with the engine stopped
    after = sb.last_event_id()
    sb.start_engine()
    restarted_quietly(sb, after)
    assert workload(sb.cluster_objects()) == before
    assert {o["metadata"]["uid"] for o in sb.cluster_objects("Pod")} == uids
    assert [e.kind for e in sb.events(after, kinds=("cluster.restored",))] == [
        "cluster.restored"]


def test_a_direct_edit_before_a_restart_is_still_drift_after_it(tmp_path: Path) -> None:
    # A resync far away, so only the restart's first reconcile can correct the edit.
    sb = Sandbox.init(tmp_path / "ws", settings=Settings(clock_speed=50.0,
                                                         resync_seconds=36000.0))
    try:
        sb.start_engine()
        assert sb.wait_for_deployment(sb.branches()["main"], timeout=60)["health"] == "Healthy"
        sb.scale("deployment/web", 5)
        until(lambda: len([p for p in sb.cluster_objects("Pod")
                           if p["metadata"]["name"].startswith("web-")]) == 5)
        sb.stop_engine()
        after = sb.last_event_id()
        sb.start_engine()
        drift = until(lambda: sb.events(after, kinds=("drift.detected",)))
        assert "Deployment/web differs from git" in drift[0].message
        until(lambda: "web=2" in workload(sb.cluster_objects())["Deployment"])
        assert sb.events(after, kinds=("drift.corrected",))
    finally:
        sb.close()


def converged(status_json: str) -> bool:
    """Healthy on the manifests of hld main: the seed's empty revision is Healthy too, so
    a freshly started engine is only converged once its first generate has synced."""
    status = json.loads(status_json)
    return (status["health"]["app"] == "Healthy" and not status["sync"].get("behind")
            and status["sync"].get("hld_sha") == status["hld"]["main"])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def up(ws: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "up", "-w", str(ws)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def test_sigkill_of_the_engine_loses_no_object(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    cli("init", "-w", str(ws), "--speed", "50")
    w = ["-w", str(ws)]
    engine = up(ws)
    try:
        until(lambda: converged(cli("status", *w, "--json").stdout))
        pods = json.loads(cli("cluster", "get", "pods", *w, "--json").stdout)
        before = workload(json.loads(cli("cluster", "get", *w, "--json").stdout))
        engine.send_signal(signal.SIGKILL)
        engine.wait(timeout=30)
        # With no engine, the CLI shows the cluster as it was saved.
        stopped = json.loads(cli("cluster", "get", "pods", *w, "--json").stdout)
        assert workload(stopped) == workload(pods)
        assert {p["status"]["phase"] for p in stopped} == {"Running"}
        assert "Running" in cli("cluster", "get", "pods", *w).stdout
        after = Sandbox(ws).last_event_id()
        killed_at = time.time()
        engine = up(ws)
        until(lambda: (json.loads(cli("sync", "status", *w, "--json").stdout)
                       .get("last_run", 0) > killed_at))
        until(lambda: json.loads(cli("status", *w, "--json").stdout)["engine"]["running"])
        sb = Sandbox(ws)
        until(lambda: sb.events(after, kinds=("cluster.restored",)))
        assert workload(json.loads(cli("cluster", "get", *w, "--json").stdout)) == before
        noise = [f"{e.kind}: {e.message}" for e in sb.events(after, kinds=QUIET)]
        assert noise == []
        assert json.loads(cli("status", *w, "--json").stdout)["health"]["app"] == "Healthy"
    finally:
        if engine.poll() is None:
            os.kill(engine.pid, signal.SIGINT)
            engine.wait(timeout=30)


def test_sigkill_right_after_an_edit_keeps_the_edit(tmp_path: Path) -> None:
    """What the engine said it did is on disk when the CLI hears it, whenever the kill
    comes. The reconciler is suspended so that only the kill and the restart act."""
    ws = tmp_path / "ws"
    cli("init", "-w", str(ws), "--speed", "50")
    w = ["-w", str(ws)]
    engine = up(ws)
    try:
        until(lambda: converged(cli("status", *w, "--json").stdout))
        cli("sync", "suspend", *w)
        cli("cluster", "scale", *w, "deployment/web", "--replicas", "4")
        engine.send_signal(signal.SIGKILL)
        engine.wait(timeout=30)
        stopped = workload(json.loads(cli("cluster", "get", *w, "--json").stdout))
        assert "web=4" in stopped["Deployment"]
        web_pods = [p for p in stopped["Pod"] if p.startswith("web-")]
        assert len(web_pods) == 4
        engine = up(ws)
        until(lambda: json.loads(cli("status", *w, "--json").stdout)["engine"]["running"])
        assert workload(json.loads(cli("cluster", "get", *w, "--json").stdout)
                        )["Deployment"] == stopped["Deployment"]
        cli("sync", "resume", *w)
        until(lambda: "web=2" in workload(json.loads(cli("cluster", "get", *w, "--json")
                                                     .stdout))["Deployment"])
    finally:
        if engine.poll() is None:
            os.kill(engine.pid, signal.SIGINT)
            engine.wait(timeout=30)
