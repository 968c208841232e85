"""TUI keystroke -> repaint at 300 Deployments during a rollout (issue: a TUI that never
stalls).

A workspace whose HLD holds 300 services (a Deployment of 2 replicas and a Service
each), the engine in its own process (`gitops-sandbox up`, as the TUI starts it), the
app converged; then a pull request that changes every service's image is merged and,
while the 300 Deployments roll out, the TUI (driven by Textual's Pilot, headless) gets
keystrokes: tab switches and cursor moves on the Cluster tab. For each one, the time
from the key press to the first screen update that shows its effect; and the longest
stall of the UI's event loop over the whole run. Anchor: k9s repaints only changed rows.
Goals: p95 <= 150 ms, no stall over 1 s.

Every key changes what the screen shows, and a key's time ends at the first frame the
compositor rendered with the new tab or cursor row. Printed: p50/p95/max, the same per
kind of key, the UI thread's own CPU per key (the figure the machine's load does not
stretch), and the count of event-loop stalls over 1 s. Diagnostics, off by default:
BENCH_TUI_WHY=1 (screen layouts, render time per widget class, gc pauses),
BENCH_TUI_STACKS=1 (samples the UI thread's stack while the loop is held),
BENCH_TUI_PROFILE=file (cProfile of the UI thread over the keys).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import ROOT, hermetic_env, median, percentile
from .tui_probe import GcPauses, Probe, WidgetCosts

SERVICES = 300
KEYS = 60
GOAL_P95_MS = 150.0
GOAL_STALL_S = 1.0

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: bench
  labels: {{app: {name}}}
spec:
  replicas: 2
  progressDeadlineSeconds: 600
  selector:
    matchLabels: {{app: {name}}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: localhost:5001/web:${{tag}}
          ports: [{{containerPort: 8080}}]
          resources:
            requests: {{cpu: 10m, memory: 16Mi}}
            limits: {{cpu: 100m, memory: 64Mi}}
"""

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: bench
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def names(n: int) -> list[str]:
    return [f"svc-{i:03d}" for i in range(n)]


def common_config(n: int, tag: str) -> str:
    lines = ["subcomponents:"]
    for name in names(n):
        lines += [f"  {name}:", "    namespace: bench", "    config:", f"      tag: {tag}"]
    return "\n".join(lines) + "\n"


def write_hld(folder: Path, n: int, tag: str) -> None:
    """A Fabrikate HLD of n static services plus their namespace."""
    parts = ["name: bench", "type: component", "subcomponents:",
             "  - name: namespace", "    type: static", "    path: ./namespace"]
    (folder / "namespace").mkdir(parents=True)
    (folder / "namespace" / "namespace.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n")
    for name in names(n):
        parts += [f"  - name: {name}", "    type: static", f"    path: ./{name}",
                  "    substitute: true"]
        (folder / name).mkdir()
        (folder / name / "deployment.yaml").write_text(DEPLOYMENT.format(name=name))
        (folder / name / "service.yaml").write_text(SERVICE.format(name=name))
    (folder / "component.yaml").write_text("\n".join(parts) + "\n")
    (folder / "config").mkdir()
    (folder / "config" / "common.yaml").write_text(common_config(n, tag))


def wait(cond: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def start_engine(ws: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "sandbox.cli", "up", "-w", str(ws)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Every key changes what the screen shows (a tab or the cursor row), and the cycle's last
# key differs from its first: a key that changed nothing would time nothing.
PLAN = (["3"] + ["down"] * 8 + ["up"] * 4 + ["1", "3"] + ["down"] * 3 + ["2", "4", "1"])


async def drive(sb: Any, pr_id: int, services: int, keys: int) -> dict[str, float]:
    from tui.app import GitOpsApp
    from tui.widgets.cluster import ClusterTable
    from tui.widgets.format import image_of

    app = GitOpsApp(sb, close_on_exit=False, start_engine=False)
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.main_screen.query_one(ClusterTable)

        def state() -> tuple[object, ...]:
            return (app.main_screen.current_tab, table.cursor_row)

        probe = Probe(app, state)
        stop_watch = asyncio.Event()
        watcher = asyncio.create_task(probe.watch_loop(stop_watch))
        deadline = time.monotonic() + 120
        while table.row_count < services * 4:  # Deployments, Services and their pods
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster table shows {table.row_count} rows")
            await pilot.pause(0.1)
        await asyncio.to_thread(sb.merge_pr, pr_id)
        # The rollout has begun once pods of the new image show up.
        deadline = time.monotonic() + float(os.environ.get("BENCH_TUI_ROLLOUT_WAIT", 180))
        while "web:1.1.0" not in " ".join(str(c) for c in _column(table, "IMAGE")):
            if time.monotonic() > deadline:
                images = sorted({str(c) for c in _column(table, "IMAGE")})
                raise RuntimeError(f"the rollout did not start: the table shows {images}, "
                                   f"refreshing {app._refreshing}, follower "
                                   f"{app._follower and app._follower.rows_read} rows read, "
                                   f"cluster {sorted({image_of(o) for o in sb.cluster_objects()})}")
            await pilot.pause(0.2)
        probe.reset()  # the stall goal is about the rollout, not the start
        costs = WidgetCosts() if os.environ.get("BENCH_TUI_WHY") else None
        gc_pauses = GcPauses() if costs is not None else None
        stop_sampler = threading.Event()
        sampler = probe.sampler(stop_sampler) if os.environ.get("BENCH_TUI_STACKS") else None
        if sampler is not None:
            sampler.start()
        profile = os.environ.get("BENCH_TUI_PROFILE")
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()  # the UI thread only: the workers are not profiled
        cpu0 = time.thread_time()
        latencies: list[float] = []
        kinds: dict[str, list[float]] = {"tab": [], "cursor": []}
        key_cpu: list[float] = []
        kind_cpu: dict[str, list[float]] = {"tab": [], "cursor": []}
        for i in range(keys):
            key = PLAN[i % len(PLAN)]
            before = state()
            t0, c0 = time.perf_counter(), time.thread_time()
            await pilot.press(key)
            limit = time.monotonic() + 30
            while state() == before and time.monotonic() < limit:
                await asyncio.sleep(0.001)
            wanted = state()
            took = probe.repaint_after(t0, wanted) if wanted != before else None
            while took is None and time.monotonic() < limit:
                await asyncio.sleep(0.001)
                took = probe.repaint_after(t0, wanted)
            latencies.append(took if took is not None else 30.0)
            # The UI thread's own CPU from the press to that repaint (the key's work and
            # whatever else the UI did meanwhile), which the machine's load does not
            # stretch as it stretches wall time.
            at = probe.cpu_at_repaint(t0, wanted)
            key_cpu.append((at if at is not None else time.thread_time()) - c0)
            kind = "cursor" if key in ("up", "down") else "tab"
            kinds[kind].append(latencies[-1])
            kind_cpu[kind].append(key_cpu[-1])
            await pilot.pause(0.15)  # a person's typing speed
        ui_cpu = time.thread_time() - cpu0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        stop_sampler.set()
        stop_watch.set()
        await watcher
        still_rolling = "Progressing" in str(sb.health().get("app"))
    ms = [x * 1000 for x in latencies]
    load = os.getloadavg()[0]
    if sampler is not None:
        print(sampler.report())
    if costs is not None and gc_pauses is not None:
        costs.undo()
        gc_pauses.undo()
        print(costs.report())
        print(gc_pauses.report())
        print("  UI thread CPU from key to repaint, median: " + ", ".join(
            f"{kind} {median([x * 1000 for x in v]):.0f} ms" for kind, v in kind_cpu.items()))
    by_kind = {kind: (percentile([x * 1000 for x in v], 50), percentile([x * 1000 for x in v], 95))
               for kind, v in kinds.items()}
    cpu_ms = [x * 1000 for x in key_cpu]
    return {"p50_ms": median(ms), "p95_ms": percentile(ms, 95), "max_ms": max(ms),
            "tab_p50_ms": by_kind["tab"][0], "tab_p95_ms": by_kind["tab"][1],
            "cursor_p50_ms": by_kind["cursor"][0], "cursor_p95_ms": by_kind["cursor"][1],
            "cpu_p50_ms": median(cpu_ms), "cpu_p95_ms": percentile(cpu_ms, 95),
            "stall_s": probe.max_lag, "stalls": probe.stalls(), "keys": keys,
            "rolling": float(still_rolling), "load": load, "ui_cpu_s": ui_cpu,
            "frames": len(probe.frames)}


def _column(table: Any, label: str) -> list[object]:
    return table.column_values(label)


def run(services: int = SERVICES, keys: int = KEYS) -> dict[str, float]:
    from sandbox.facade import Sandbox
    from sandbox.workspace import Settings, init_workspace

    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        root = Path(tmp)
        hermetic_env(root / "home")
        write_hld(root / "hld", services, "1.0.0")
        init_workspace(root / "ws", settings=Settings(clock_speed=1.0),
                       sample=root / "hld")
        sb = Sandbox(root / "ws")
        sb.ws.registry.push("web", "1.1.0", startup_seconds=45.0)  # the rollout outlasts the keys
        engine = start_engine(root / "ws")
        try:
            wait(sb.engine_running, 60, "the engine to start")
            wait(lambda: sb.health().get("app") == "Healthy"
                 and len(sb.health().get("objects") or {}) >= services, 600,
                 f"{services} services to be Healthy")
            sb.commit_files("rollout", {"config/common.yaml": common_config(services, "1.1.0")},
                            "Roll out web 1.1.0 everywhere")
            pr = sb.open_pr("rollout", "Roll out web 1.1.0")
            checked = sb.wait_for_checks(pr.id, 600)
            if checked.checks_state != "success":
                raise RuntimeError(f"the rollout's checks failed: {checked.checks}")
            sb.approve_pr(pr.id, "reviewer")
            result = asyncio.run(drive(sb, pr.id, services, keys))
        finally:
            stop(engine)
    print(f"tui: {services} Deployments rolling out, engine in its own process, "
          f"{keys} keystrokes with Pilot")
    print(f"  keystroke -> repaint p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms"
          f" (goal <= {GOAL_P95_MS:.0f} ms), max {result['max_ms']:.0f} ms")
    print(f"  by key: tab switch p50 {result['tab_p50_ms']:.0f} / p95 {result['tab_p95_ms']:.0f}"
          f" ms, cursor move p50 {result['cursor_p50_ms']:.0f} / p95 "
          f"{result['cursor_p95_ms']:.0f} ms; UI thread CPU from key to repaint p50 "
          f"{result['cpu_p50_ms']:.0f} / p95 {result['cpu_p95_ms']:.0f} ms")
    print(f"  UI loop stalls over {GOAL_STALL_S:.0f} s: {result['stalls']} (goal 0), longest "
          f"{result['stall_s']:.2f} s; UI thread CPU over the keystrokes "
          f"{result['ui_cpu_s']:.1f} s")
    # Wall-clock figures: on a machine busy with other work they stretch with the load.
    print(f"  load average during the run: {result['load']:.1f} on {os.cpu_count()} cores")
    if not result["rolling"]:
        print("  note: the rollout had finished before the last keystroke")
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run(int(sys.argv[1]) if len(sys.argv) > 1 else SERVICES)
