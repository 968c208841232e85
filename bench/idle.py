"""An idle engine is idle, and a one-service change costs one service (issue: fast at
any size).

A real engine (watchers, CI runner, reconciler, simulated cluster at 1x) holds N
services (a Deployment, a Service and a ConfigMap each, one manifest file per service
as the generation job writes them). Once all is Healthy, its CPU is measured over an
idle stretch (goal < 2% of a core at 3,000 services), then one service's file is
changed and pushed as the generation job would: the time from the push to the app
Healthy at that revision is compared with the same change at 10 services. Then the
engine's CPU over the first seconds after that change, with the metric rows computed
meanwhile: what the change still costs, which should be that one service's rows.
Last, the metric sampler alone over a fleet's first minute (`--first-minute N`): what
each sample costs while every window fills and every pod gets its first rate.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import child_python, hermetic_env
from .scale import service_objects

IDLE_SECONDS = 20.0
AFTER_SECONDS = 20.0  # measured right after the one-service change is Healthy


def _wait(cond: Any, timeout: float, what: str) -> float:
    started = time.perf_counter()
    while not cond():
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.perf_counter() - started


def child(services: int, tmp: str) -> None:
    from sandbox import limits
    from sandbox.engine import Engine
    from sandbox.workspace import Settings, init_workspace

    from .botrepo import BotRepo

    # The per-commit object limit guards the PR check; the bench holds more on purpose.
    limits.MAX_OBJECTS_PER_COMMIT = max(limits.MAX_OBJECTS_PER_COMMIT, services * 3 + 100)
    root = Path(tmp)
    hermetic_env(root / "home")
    ws = init_workspace(root / "ws", settings=Settings(max_pods=services + 200))
    ws.registry.push("web", "1.0.0", "fast")
    ws.registry.push("web", "1.0.1", "fast")
    repo = BotRepo(ws, root / "manifests")
    files = {f"prod/svc-{i:04d}.yaml": _objects(i, "1.0.0") for i in range(services)}
    files["prod/namespaces.yaml"] = [{"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": f"team-{n}"}} for n in range(10)]
    repo.commit(files, "all services")
    repo.stop()  # the engine serves git itself
    engine = Engine(ws).start()
    try:
        converge = _wait(lambda: engine.health.get("app") == "Healthy", 900, "convergence")
        # Idle means nothing changes any more: the last snapshots of the convergence are
        # written, and the metrics' traffic window has moved past the last rollout (a
        # sample then repeats the one before without being computed).
        settle = _wait(engine.snapshots_current, 300, "the last snapshot")
        settle += _wait(lambda: _metrics_settled(engine), 600, "steady metrics")
        evaluations = engine.monitor.evaluations
        compared = engine.flux.compared
        traffic = getattr(engine.cluster, "_traffic", None)
        windows = traffic.computed if traffic is not None else 0
        written, samples = engine.sampler.writer.written, engine.sampler.samples
        computed = engine.sampler.computed
        wall, cpu = time.perf_counter(), time.process_time()
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        time.sleep(IDLE_SECONDS)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (kids_after.ru_utime + kids_after.ru_stime
                     - kids.ru_utime - kids.ru_stime)
        idle_evaluations = engine.monitor.evaluations - evaluations
        idle_compared = engine.flux.compared - compared
        idle_windows = (traffic.computed if traffic is not None else 0) - windows
        idle_written = engine.sampler.writer.written - written
        idle_samples = engine.sampler.samples - samples
        idle_computed = engine.sampler.computed - computed
        # The safety net's price: one periodic resync compares every object with git.
        cpu_resync = time.process_time()
        engine.flux.reconcile("periodic resync")
        resync_cpu = time.process_time() - cpu_resync
        # One service changes: its image tag, as a release would.
        repo = BotRepo.__new__(BotRepo)
        repo.work, repo.identity, repo.trailer = (root / "manifests", _bot(ws),
                                                  _trailer(ws))
        sha = repo.commit({"prod/svc-0000.yaml": _objects(0, "1.0.1")}, "one service")
        pushed = time.perf_counter()
        _wait(lambda: engine.health.get("revision") == sha
              and engine.health.get("app") == "Healthy", 600, "the change")
        change = time.perf_counter() - pushed
        rows, evaluations = engine.sampler.rows.visited, engine.monitor.evaluations
        wall, after_cpu = time.perf_counter(), time.process_time()
        time.sleep(AFTER_SECONDS)
        after_cpu = (time.process_time() - after_cpu) / (time.perf_counter() - wall)
        after_rows = engine.sampler.rows.visited - rows
        after_evaluations = engine.monitor.evaluations - evaluations
    finally:
        engine.stop()
    print(json.dumps({"converge_s": converge, "settle_s": settle, "idle_cpu": cpu / wall,
                      "idle_windows": idle_windows, "idle_written": idle_written,
                      "idle_samples": idle_samples, "idle_computed": idle_computed,
                      "idle_child_cpu": child_cpu / wall,
                      "idle_evaluations": idle_evaluations, "idle_compared": idle_compared,
                      "resync_cpu": resync_cpu,
                      "resync_every": ws.settings.resync_seconds,
                      "change_s": change, "after_cpu": after_cpu, "after_rows": after_rows,
                      "after_evaluations": after_evaluations}))


def _metrics_settled(engine: Any) -> bool:
    """Whether the last metric sample repeated the one before without computing it
    (nothing changed and time alone moves no number), waiting for the next sample."""
    sampler = engine.sampler
    if not sampler.supported:
        return True
    samples, computed = sampler.samples, sampler.computed
    _wait(lambda: sampler.samples >= samples + 1, 120, "a metric sample")
    return bool(sampler.computed == computed and sampler.samples == samples + 1)


def _objects(i: int, tag: str) -> list[dict[str, Any]]:
    objects = service_objects(i, f"team-{i % 10}")
    container = objects[0]["spec"]["template"]["spec"]["containers"][0]
    container["image"] = f"localhost:5001/web:{tag}"
    return objects


def _bot(ws: Any) -> Any:
    from sandbox.users import GENERATE_BOT, Users

    return Users(ws.store).get(GENERATE_BOT).identity


def _trailer(ws: Any) -> str:
    from sandbox.gitutil import refs

    return f"HLD-Commit: {refs(ws.hld_git)['refs/heads/main']}"


def first_minute(services: int, samples: int = 7) -> list[dict[str, float]]:
    """The metric sampler over a fleet's first minute, in this process (a simulated
    cluster and a store, no engine): the fleet appears after the sampler's first sample,
    as in the engine, and one pod per service serves; per sample, its CPU and the rows
    it computed and wrote. While the windows fill, a sample should write nothing."""
    import gc

    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.metrics import MetricsSampler
    from sandbox.registry import PROFILES
    from sandbox.store import Store

    clock = VirtualClock()
    sim = SimCluster(clock, lambda image: PROFILES["fast"], seed=1,
                     max_pods=2 * services + 50)
    out: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-minute-") as tmp:
        sampler = MetricsSampler(Store(Path(tmp) / "state.db"), sim, clock.now)
        sampler.sample()
        objects: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{n}"}}
            for n in range(10)]
        for i in range(services):
            objects += _objects(i, "1.0.0")
        sim.apply(objects)
        for i in range(samples):
            for _ in range(2 if i == 0 else 15):
                clock.advance(1)
                sim.step()
            gc.collect()
            gc.freeze()  # as the engine, once Healthy: the fleet is not the sample's cost
            rows, written = sampler.rows, sampler.writer.written
            visited, moved, filled = rows.visited, rows.rates_moved, rows.filled
            cpu = time.thread_time()
            sampler.sample()
            out.append({"sim": clock.now(), "cpu": time.thread_time() - cpu,
                        "visited": rows.visited - visited, "moved": rows.rates_moved - moved,
                        "filled": rows.filled - filled,
                        "written": sampler.writer.written - written})
        gc.unfreeze()
    return out


def _print_first_minute(services: int) -> None:
    for s in first_minute(services):
        print(f"  first minute at {services} services, sample at {s['sim']:.0f}s: "
              f"{s['cpu'] * 1000:.0f} ms CPU, {int(s['visited'])} pod rows computed, "
              f"{int(s['filled'])} rates filled in, {int(s['moved'])} windows' rates "
              f"moved, {int(s['written'])} runs written", flush=True)


def run(sizes: tuple[int, ...] = (10, 3000)) -> dict[str, float]:
    out: dict[str, float] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
            data = child_python("bench.idle", "--child", str(n), tmp)
        out[f"idle_cpu_{n}"] = data["idle_cpu"]
        out[f"change_s_{n}"] = data["change_s"]
        print(f"idle: {n} services converged in {data['converge_s']:.1f}s; idle engine CPU "
              f"{data['idle_cpu']:.1%} of a core (+{data['idle_child_cpu']:.1%} in git "
              f"children), {int(data['idle_evaluations'])} health evaluations and "
              f"{int(data['idle_compared'])} drift comparisons over {IDLE_SECONDS:.0f}s; "
              f"peak {data['peak_mb']:.0f} MB", flush=True)
        print(f"  metrics while idle: {int(data['idle_samples'])} samples "
              f"({int(data['idle_computed'])} computed), "
              f"{int(data['idle_windows'])} traffic windows computed, "
              f"{int(data['idle_written'])} runs written (settled "
              f"{data['settle_s']:.0f}s after Healthy)", flush=True)
        print(f"  periodic resync (the safety net, every {data['resync_every']:.0f} simulated s): "
              f"{data['resync_cpu']:.2f} CPU s, {data['resync_cpu'] / data['resync_every']:.2%} "
              f"of a core averaged at 1x", flush=True)
        print(f"  one-service change, push -> Healthy: {data['change_s']:.2f}s", flush=True)
        print(f"  the {AFTER_SECONDS:.0f}s after it: engine CPU {data['after_cpu']:.1%} of a "
              f"core, {int(data['after_rows'])} metric pod rows computed (of {n} pods), "
              f"{int(data['after_evaluations'])} health evaluations", flush=True)
        out[f"after_cpu_{n}"] = data["after_cpu"]
    _print_first_minute(sizes[-1])
    if len(sizes) > 1:
        small, big = sizes[0], sizes[-1]
        print(f"  goal: idle CPU < 2% at {big}; change at {big} / at {small}: "
              f"{out[f'change_s_{big}'] / out[f'change_s_{small}']:.2f} (about 1)")
    return out


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 2 and sys.argv[1] == "--first-minute":
        _print_first_minute(int(sys.argv[2]))
    else:
        run()
