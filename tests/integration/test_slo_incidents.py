"""Issue 12 points 4 and 6 end to end: incidents that image profiles make real (a
latency regression that starts after the rollout, a memory leak, a CPU-heavy image)
and the countdowns `status` shows while the pipeline waits."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.countdowns import HEALTH, RESYNC, ROLLOUT
from sandbox.facade import Sandbox
from sandbox.workspace import Settings

from .conftest import FAST
from .test_slo_verdict import release, ship
from .waits import until

CLI = [sys.executable, "-m", "sandbox.cli"]
HPA = """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: ${namespace}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: 2
  maxReplicas: 5
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 150
"""


def cli(sb: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args, "-w", str(sb.root)], capture_output=True, text=True,
                          timeout=120)


def started(tmp_path: Path, **settings: Any) -> Sandbox:
    sb = Sandbox.init(tmp_path / "ws", settings=Settings(**{**FAST.__dict__, **settings}))
    sb.start_engine()
    dep = sb.wait_for_deployment(sb.branches()["main"], timeout=60)
    assert dep["health"] == "Healthy", dep
    return sb


@pytest.fixture
def steady(tmp_path: Path) -> Iterator[Sandbox]:
    """A running sandbox on a slower clock (20x): the analysis checks land near their
    15 s interval even on a loaded machine, so "the first checks pass" is the image's
    doing, not the scheduler's."""
    sb = started(tmp_path, clock_speed=20.0)
    yield sb
    sb.close()


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[Sandbox]:
    """5x, no analysis: a 60 s progress deadline lasts 12 wall seconds, long enough
    for a few `status` commands on a loaded machine."""
    sb = started(tmp_path, clock_speed=5.0, analysis_count=0)
    yield sb
    sb.close()


def test_a_latency_regression_is_caught_only_after_the_analysis_window_starts(
        steady: Sandbox) -> None:
    sb = steady
    # 900 ms from 60 s after each new pod is ready; the checks come every 15 s.
    proc = cli(sb, "image", "push", "web", "1.5.0", "--profile", "late-latency",
               "--after", "60")
    assert proc.returncode == 0, proc.stderr
    pr = sb.wait_for_release("web", "1.5.0", 60)
    pr = sb.wait_for_checks(pr.id, 60)
    sb.approve_pr(pr.id, "reviewer")
    dep = ship(sb, pr.id)
    assert dep["health"] == "Healthy"  # the rollout itself was fine
    assert dep["verdict"] == "Failed", dep
    checks = dep["analysis"]["checks"]
    assert checks[0]["broken"] == [], checks  # the first interval passed
    assert checks[0]["workloads"]["demo/web"]["p95_ms"] < 500
    assert checks[-1]["workloads"]["demo/web"]["p95_ms"] > 500
    reason = dep["verdict_reason"]
    assert reason.startswith("web: p95 latency ") and "is above its SLO of 500ms" in reason
    assert " in 2 of " in reason, reason


def test_a_leaking_image_is_oom_killed_and_restarted(running: Sandbox) -> None:
    sb = running
    ship(sb, release(sb, "1.6.0", "leak"))  # 64 MiB +0.5 MiB/s, limit 128Mi: 128 s

    def oom_killed() -> dict[str, Any] | None:
        for pod in sb.cluster_objects("Pod"):
            cs = pod["status"].get("containerStatuses") or [{}]
            last = (cs[0].get("lastState") or {}).get("terminated") or {}
            if (pod["metadata"]["name"].startswith("web-") and cs[0].get("restartCount")
                    and last.get("reason") == "OOMKilled"):
                return pod
        return None

    pod = until(oom_killed, timeout=120, why="a web pod restarted after an OOM kill")
    name = pod["metadata"]["name"]
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 137
    assert pod["status"]["containerStatuses"][0]["restartCount"] >= 1
    table = cli(sb, "cluster", "get", "pods").stdout
    row = [line for line in table.splitlines() if line.startswith(name)]
    assert row and (" ago)" in row[0]), table  # RESTARTS: "1 (3s ago)"
    shown = cli(sb, "cluster", "describe", f"pod/{name}").stdout
    assert "Reason:       OOMKilled" in shown and "Exit Code:    137" in shown, shown
    assert "memory:  128Mi" in shown
    until(lambda: "Back-off restarting failed container" in cli(
        sb, "cluster", "describe", f"pod/{name}").stdout, timeout=60, why="the BackOff event")
    # The memory in the samples climbs to the limit and falls back after the restart.
    rows = sb.metric_samples(f"pod/{name}", since=600)
    memory = [r["memory_mib"] for r in rows if r["memory_mib"] is not None]
    assert max(memory) > 100 and memory[0] < 100, memory


def test_a_cpu_heavy_image_makes_the_hpa_scale_up(running: Sandbox) -> None:
    sb = running
    sb.commit_files("autoscale-web", {"web/hpa.yaml": HPA}, "Autoscale web on CPU")
    pr = sb.open_pr("autoscale-web", "Autoscale web on CPU")
    pr = sb.wait_for_checks(pr.id, 60)
    assert pr.checks_state == "success", sb.pr_diff(pr.id)["log"]
    sb.approve_pr(pr.id, "reviewer")
    dep = ship(sb, pr.id)
    assert dep["health"] == "Healthy", dep

    def replicas() -> int:
        web = [d for d in sb.cluster_objects("Deployment") if d["metadata"]["name"] == "web"]
        return int(web[0]["spec"]["replicas"])

    def hpa() -> dict[str, Any]:
        return [h for h in sb.cluster_objects("HorizontalPodAutoscaler")
                if h["metadata"]["name"] == "web"][0]

    # The default image stays under its target: two replicas, as the HLD says.
    until(lambda: hpa()["status"].get("currentMetrics"), why="the HPA's first reading")
    assert replicas() == 2
    ship(sb, release(sb, "1.7.0", "cpu-heavy"))
    until(lambda: replicas() > 2, timeout=120, why="the HPA scaling web up")
    text = cli(sb, "cluster", "describe", "hpa/web").stdout
    assert "SuccessfulRescale" in text and "above target" in text, text


def test_status_counts_down_what_the_pipeline_waits_for(slow: Sandbox) -> None:
    sb = slow
    pr_id = release(sb, "1.8.0", "crash")  # never progresses: progressDeadlineSeconds 60
    sb.merge_pr(pr_id, "operator")

    def waiting() -> dict[str, dict[str, Any]] | None:
        data = json.loads(cli(sb, "status", "--json").stdout)
        found = {w["what"]: w for w in data["waits"]}
        return found if ROLLOUT in found and HEALTH in found else None

    found = until(waiting, timeout=60, why="status showing the rollout's deadline")
    rollout = found[ROLLOUT]
    assert rollout["target"] == "Deployment/demo/web"
    assert 0 < rollout["remaining_sim_s"] <= 60
    # Wall time at the clock's speed.
    assert rollout["remaining_wall_s"] == pytest.approx(rollout["remaining_sim_s"] / 5, abs=0.1)
    assert 0 < found[HEALTH]["remaining_sim_s"] <= sb.settings.health_timeout
    assert 0 <= found[RESYNC]["remaining_sim_s"] <= sb.settings.resync_seconds
    text = cli(sb, "status").stdout
    assert "waiting     rollout progress deadline (progressDeadlineSeconds) for " \
           "Deployment/demo/web: " in text, text
    assert "wall at this clock speed" in text
    # In this process too, with the shape the TUI reads.
    assert {w["what"] for w in sb.waits()} >= {ROLLOUT, HEALTH}
    assert all(set(w) == {"what", "target", "remaining_sim_s", "remaining_wall_s"}
               for w in sb.waits())
