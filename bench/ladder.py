"""The size ladder (issue 10's acceptance): HLDs of 10, 100, 1,000 and 3,000 services,
each a Deployment, a Service and a ConfigMap; `--quick` (CI) runs 1,000 only.

Each rung runs in its own process (a fresh interpreter, its own peak memory): a
workspace is made with that HLD, a real engine (watchers, CI runner, reconciler,
simulated cluster at 1x, images with zero start-up time) brings it to Healthy, then:
- PR check, open -> green: a one-line change (one service's replicas) pushed on a
  branch, from `pr open` to the green check;
- merged -> Healthy: that PR approved and merged, from the merge to the app Healthy on
  it (the deployment trace);
- idle CPU: the engine's CPU (its threads and the git it runs) over a quiet window
  after converging, as a share of one core.
Wall seconds and CPU seconds (process and children) are both printed: on a busy machine
the CPU figures and the same-run ratios are the ones to read.
Anchors: issue 10's goals (a one-line check at 1,000 services <= 3x its time at 10;
merged -> Healthy at most linear in services; idle under 2% of a core at 3,000) and
Flux v2's 30 s average poll delay.
"""

from __future__ import annotations

import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import child_python, hermetic_env

FULL = (10, 100, 1000, 3000)
MAX_GROUPS = 500  # static components at most (the HLD limit is 1,000)
QUICK = (1000,)
IDLE_S = 10.0
FLUX_POLL_AVERAGE_S = 30.0

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: ${{namespace}}
  labels: {{app: {name}}}
spec:
  replicas: ${{replicas.{key}}}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: localhost:5001/web:${{image.tag}}
          ports: [{{name: http, containerPort: 8080}}]
          envFrom: [{{configMapRef: {{name: {name}-config}}}}]
          resources:
            requests: {{cpu: 10m, memory: 32Mi}}
            limits: {{cpu: 100m, memory: 64Mi}}
"""
SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: ${{namespace}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  namespace: ${{namespace}}
data:
  LOG_LEVEL: info
"""


def service_name(i: int) -> str:
    return f"svc-{i:04d}"


def group_size(services: int) -> int:
    """Services per static component: the HLD stays within the component limit."""
    return max(1, math.ceil(services / MAX_GROUPS))


def build_hld(root: Path, services: int) -> Path:
    """A Fabrikate HLD of `services` services in static components (one per service up
    to MAX_GROUPS, then several per component), plus their namespace. Each service's
    replicas is its own config key, so a one-line change touches one service."""
    hld = root / "hld"
    (hld / "namespace").mkdir(parents=True)
    (hld / "namespace" / "namespace.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench\n")
    subs = ["  - name: namespace\n    type: static\n    path: ./namespace\n"]
    common, prod = ["subcomponents:\n"], ["subcomponents:\n"]
    size = group_size(services)
    for g in range(math.ceil(services / size)):
        group = f"grp-{g:04d}"
        folder = hld / group
        folder.mkdir()
        keys = []
        for i in range(g * size, min(services, (g + 1) * size)):
            name, key = service_name(i), f"s{i:04d}"
            keys.append(key)
            for file, text in (("deployment", DEPLOYMENT), ("service", SERVICE),
                               ("configmap", CONFIGMAP)):
                (folder / f"{name}-{file}.yaml").write_text(text.format(name=name, key=key))
        subs.append(f"  - name: {group}\n    type: static\n    path: ./{group}\n"
                    "    substitute: true\n")
        common.append(f"  {group}:\n    namespace: bench\n    config:\n      replicas:\n"
                      + "".join(f"        {k}: 1\n" for k in keys))
        prod.append(f"  {group}:\n    config:\n      image:\n        tag: 1.0.0\n")
    (hld / "component.yaml").write_text("name: bench\ntype: component\nsubcomponents:\n"
                                        + "".join(subs))
    (hld / "config").mkdir()
    (hld / "config" / "common.yaml").write_text("".join(common))
    (hld / "config" / "prod.yaml").write_text("".join(prod))
    return hld


def _cpu() -> float:
    """CPU seconds of this process (the engine's threads) and of the git it ran."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _thread_cpu() -> dict[str, float]:
    """CPU seconds per live thread of this process, by thread name (a diagnosis aid:
    os.times() cannot tell which thread spent the idle window's CPU)."""
    import threading

    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        name = names.get(int(task.name), f"tid-{task.name}")
        # utime and stime are fields 14 and 15 of stat; [0] here is field 3.
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    t = os.times()
    out["(git and other children)"] = t.children_user + t.children_system
    return out


def _py_spy(out: str | None) -> subprocess.Popen[bytes] | None:
    """py-spy recording this process over the idle window into `out` (raw folded
    stacks, one file per thread name), when asked for; its own CPU is not ours."""
    if not out:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(os.getpid()), "--duration",
                             str(int(IDLE_S)), "--format", "raw", "--threads",
                             "--nonblocking", "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class _GcPasses:
    """Wall time of the cyclic collector's passes by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.by_generation: dict[int, tuple[int, float]] = {}
        self._started = 0.0

    def note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        count, seconds = self.by_generation.get(info["generation"], (0, 0.0))
        self.by_generation[info["generation"]] = (
            count + 1, seconds + time.perf_counter() - self._started)


def _gc_passes() -> _GcPasses:
    passes = _GcPasses()
    gc.callbacks.append(passes.note)
    return passes


def _counters(engine: object) -> dict[str, float]:
    """The engine's work counters that an idle window should leave flat."""
    found: dict[str, float] = {}
    for label, path in (("health evaluations", "monitor.evaluations"),
                        ("drift compares", "flux.compared"),
                        ("samples", "sampler.samples"), ("samples computed", "sampler.computed"),
                        ("metric rows visited", "sampler.rows.visited"),
                        ("samples computed in full", "sampler.rows.full"),
                        ("pod rates filled in", "sampler.rows.filled"),
                        ("filling windows' rates moved", "sampler.rows.rates_moved"),
                        ("metric rows written", "sampler.writer.written"),
                        ("traffic windows computed", "cluster._traffic.computed")):
        value: object = engine
        for part in path.split("."):
            value = getattr(value, part, None)
        if isinstance(value, (int, float)):
            found[label] = float(value)
    return found


def _print_breakdown(before: dict[str, float], after: dict[str, float],
                     counters: dict[str, float], counters_after: dict[str, float]) -> None:
    """The idle window's CPU per thread and the engine's counters, on stderr."""
    spent = sorted(((after[n] - before.get(n, 0.0), n) for n in after), reverse=True)
    for seconds, name in spent:
        if seconds > 0:
            print(f"idle thread {name}: {seconds:.2f} s", file=sys.stderr)
    for label, value in counters_after.items():
        print(f"idle counter {label}: +{value - counters.get(label, 0.0):.0f}",
              file=sys.stderr)


def child(services: int, tmp: str) -> None:
    """One rung, in its own process; prints its figures as JSON."""
    from sandbox.facade import Sandbox
    from sandbox.limits import DEFAULT_MAX_PODS
    from sandbox.workspace import Settings, init_workspace

    root = Path(tmp)
    hermetic_env(root / "home")
    # merge -> Healthy as Flux sees it: the SLO analysis window is not part of it.
    settings = Settings(clock_speed=1.0, ci_job_seconds=3600.0, analysis_count=0,
                        max_pods=max(DEFAULT_MAX_PODS, 2 * services + 50))
    init_workspace(root / "ws", settings=settings, sample=build_hld(root, services))
    sb = Sandbox(root / "ws")
    sb.ws.registry.push("web", "1.0.0", "fast")
    timeout = 120 + services  # generous: a loaded machine must not fail the bench
    t0 = time.perf_counter()
    sb.start_engine()
    try:
        first = sb.wait_for_deployment(sb.branches()["main"], timeout=timeout)
        if first.get("health") != "Healthy":
            raise RuntimeError(f"{services} services did not converge: {first}")
        converge = time.perf_counter() - t0
        sb.change("bench-change", ["replicas.s0000=2"], subcomponent="grp-0000")
        wall, cpu = time.perf_counter(), _cpu()
        pr = sb.open_pr("bench-change", "Scale one service")
        checked = sb.wait_for_checks(pr.id, timeout)
        check_wall, check_cpu = time.perf_counter() - wall, _cpu() - cpu
        if checked.checks_state != "success":
            raise RuntimeError(f"the check failed: {[c.summary for c in checked.checks]}")
        sb.approve_pr(pr.id, "reviewer")
        wall, cpu = time.perf_counter(), _cpu()
        merged = sb.merge_pr(pr.id)
        dep = sb.wait_for_deployment(str(merged.merge_sha), timeout)
        healthy_wall, healthy_cpu = time.perf_counter() - wall, _cpu() - cpu
        if dep.get("health") != "Healthy":
            raise RuntimeError(f"the merge did not converge: {dep}")
        threads = _thread_cpu() if os.environ.get("LADDER_IDLE_THREADS") else None
        counters = _counters(sb.engine) if threads is not None else None
        passes = _gc_passes() if threads is not None else None
        spy = _py_spy(os.environ.get("LADDER_IDLE_PYSPY"))
        wall, cpu = time.perf_counter(), _cpu()
        time.sleep(IDLE_S)  # the measurement itself: nothing changes meanwhile
        idle = (_cpu() - cpu) / (time.perf_counter() - wall)
        if spy is not None:
            spy.wait()
        if threads is not None and counters is not None:
            _print_breakdown(threads, _thread_cpu(), counters, _counters(sb.engine))
        if passes is not None:
            gc.callbacks.remove(passes.note)
            for gen, (count, seconds) in sorted(passes.by_generation.items()):
                print(f"idle gc generation {gen}: {count} passes, {seconds:.2f} s",
                      file=sys.stderr)
    finally:
        sb.close()
    print(json.dumps({"services": services, "converge_s": converge,
                      "check_s": check_wall, "check_cpu_s": check_cpu,
                      "healthy_s": healthy_wall, "healthy_cpu_s": healthy_cpu,
                      "idle_core": idle}))


def _row(label: str, values: list[str]) -> str:
    return f"  {label:<28}" + "".join(f"{v:>16}" for v in values)


def run(quick: bool = False, sizes: tuple[int, ...] | None = None
        ) -> dict[int, dict[str, float]]:
    sizes = sizes or (QUICK if quick else FULL)
    results: dict[int, dict[str, float]] = {}
    for services in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-ladder-") as tmp:
            try:
                results[services] = child_python("bench.ladder", "--child", str(services), tmp)
            except RuntimeError as exc:
                print(f"  {services} services: failed: {str(exc).splitlines()[-1]}")
    print(f"ladder: services (Deployment + Service + ConfigMap each), simulated cluster at 1x"
          f"{' (--quick: 1,000 only)' if quick else ''}")
    shown = [s for s in sizes if s in results]
    print(_row("", [f"{s:,}" for s in shown]))
    for key, label, fmt in (
            ("converge_s", "first converge (wall)", "{:.1f} s"),
            ("check_s", "PR check open->green (wall)", "{:.2f} s"),
            ("check_cpu_s", "  (CPU)", "{:.2f} s"),
            ("healthy_s", "merged->Healthy (wall)", "{:.2f} s"),
            ("healthy_cpu_s", "  (CPU)", "{:.2f} s"),
            ("idle_core", "idle CPU (share of a core)", "{:.1%}"),
            ("peak_mb", "peak memory", "{:.0f} MB")):
        print(_row(label, [fmt.format(results[s][key]) for s in shown]))
    _ratios(results)
    return results


def _ratios(results: dict[int, dict[str, float]]) -> None:
    small, big = results.get(10), results.get(1000)
    if small and big:
        print(f"  ratio PR check 1,000 / 10: {big['check_s'] / small['check_s']:.2f} "
              f"(CPU {big['check_cpu_s'] / small['check_cpu_s']:.2f}; goal <= 3)")
    top = results.get(3000)
    if big and top:
        print(f"  ratio merged->Healthy 3,000 / 1,000: "
              f"{top['healthy_s'] / big['healthy_s']:.2f} (linear would be 3.0; goal <= 3)")
    largest = results[max(results)] if results else None
    if largest:
        print(f"  merged->Healthy at {largest['services']:,.0f} services / Flux v2 default "
              f"poll average ({FLUX_POLL_AVERAGE_S:.0f} s): "
              f"{largest['healthy_s'] / FLUX_POLL_AVERAGE_S:.3f}")
        print(f"  idle CPU at {largest['services']:,.0f} services: "
              f"{largest['idle_core']:.1%} of a core (goal < 2%)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3])
    else:
        run(quick="--quick" in sys.argv)
