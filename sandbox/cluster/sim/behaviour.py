"""What a container does over time, from its image's behaviour profile (registry.py).

The one place that turns a profile into numbers, for every part of the simulated
cluster that needs them: the traffic (error rate, latency), the kubelet (memory, and
the OOM kill when it reaches the limit), the HPA and the metrics sampler (CPU and
memory). Everything is a function of simulated time and of the request rate, never of
the wall clock, so a clock and a seed replay the same run.

- Regressions: `regress_after` seconds after the pod became Ready, its error rate and
  median latency step to `regress_error_rate` / `regress_latency_ms` (as when a cache
  expires, a pool runs dry or a timer flips a feature on). An analysis window shorter
  than that never sees it: the window matters.
- Memory: `memory_mib` when the container starts, growing `leak_mib_per_second` while
  it runs; a restarted container starts again from `memory_mib`. At the container's
  memory limit the kernel kills it (OOMKilled, exit code 137, pods.py).
- CPU: `cpu_millicores` at rest plus `cpu_per_request` for each request per second
  the pod answers, throttled at the container's CPU limit (the CFS quota).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from sandbox.registry import ImageProfile

OOM_EXIT_CODE = 137  # 128 + SIGKILL, what the runtime reports for an OOM kill


def regressed(p: ImageProfile, ready_for: float | None) -> bool:
    """Whether the regression has started, `ready_for` seconds after the pod became
    Ready (None: not known to be ready, so it behaves as at start)."""
    return (p.regress_after is not None and ready_for is not None
            and ready_for >= p.regress_after)


def error_rate(p: ImageProfile, ready_for: float | None) -> float:
    if p.regress_error_rate is not None and regressed(p, ready_for):
        return p.regress_error_rate
    return p.error_rate


def latency_ms(p: ImageProfile, ready_for: float | None) -> float:
    if p.regress_latency_ms is not None and regressed(p, ready_for):
        return p.regress_latency_ms
    return p.latency_ms


def mean_error_rate(p: ImageProfile, ready_from: float | None, seconds: float) -> float:
    """The average error rate over `seconds` of traffic starting `ready_from` seconds
    after the pod became Ready (for traffic accounted in bulk)."""
    if (seconds <= 0 or ready_from is None or p.regress_after is None
            or p.regress_error_rate is None):
        return error_rate(p, ready_from)
    before = min(seconds, max(0.0, p.regress_after - ready_from))
    return (before * p.error_rate + (seconds - before) * p.regress_error_rate) / seconds


def worst_error_rate(p: ImageProfile) -> float:
    """The highest error rate the image ever reaches."""
    return max(p.error_rate, p.regress_error_rate or 0.0)


def memory_mib(p: ImageProfile, running_for: float) -> float:
    """Memory in use `running_for` seconds after the container started."""
    return p.memory_mib + p.leak_mib_per_second * max(0.0, running_for)


def seconds_to_oom(p: ImageProfile, limit_mib: float | None) -> float | None:
    """How long after its start the container reaches `limit_mib` and is killed; None
    when it never does (no leak, or no limit)."""
    if p.leak_mib_per_second <= 0 or limit_mib is None or math.isinf(limit_mib):
        return None
    return max(0.0, (limit_mib - p.memory_mib) / p.leak_mib_per_second)


def cpu_m(p: ImageProfile, rps: float, limit_m: float | None = None) -> float:
    """Millicores in use while the pod answers `rps` requests per second."""
    used = p.cpu_millicores + p.cpu_per_request * max(0.0, rps)
    return min(used, limit_m) if limit_m is not None else used


def combined(profiles: list[ImageProfile]) -> ImageProfile:
    """A pod behaves as its worst container: slowest start, any crash, highest error
    rate and latency, the earliest regression; it uses the sum of their CPU and
    memory."""
    first = profiles[0]
    if len(profiles) == 1:
        return first
    after = [p.regress_after for p in profiles if p.regress_after is not None]
    errs = [p.regress_error_rate for p in profiles if p.regress_error_rate is not None]
    lats = [p.regress_latency_ms for p in profiles if p.regress_latency_ms is not None]
    return ImageProfile(
        name="+".join(p.name for p in profiles),
        startup_seconds=max(p.startup_seconds for p in profiles),
        crash=any(p.crash for p in profiles),
        pull_fail=False,
        ready_fail=any(p.ready_fail for p in profiles),
        error_rate=max(p.error_rate for p in profiles),
        latency_ms=max(p.latency_ms for p in profiles),
        run_seconds=max(p.run_seconds for p in profiles),
        cpu_millicores=sum(p.cpu_millicores for p in profiles),
        memory_mib=sum(p.memory_mib for p in profiles),
        regress_after=min(after) if after else None,
        regress_error_rate=max(errs) if errs else None,
        regress_latency_ms=max(lats) if lats else None,
        leak_mib_per_second=sum(p.leak_mib_per_second for p in profiles),
        cpu_per_request=sum(p.cpu_per_request for p in profiles),
    )


# -- resource quantities of a pod's containers ----------------------------------------

@functools.lru_cache(maxsize=4096)  # a few distinct quantities, read for every pod
def quantity(text: Any, cpu: bool) -> float | None:
    """A resource quantity in millicores (cpu) or MiB (memory)."""
    s = str(text).strip()
    if not s:
        return None
    units = {"m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024.0, "Mi": 1024.0 ** 2,
             "Gi": 1024.0 ** 3, "Ti": 1024.0 ** 4}
    for suffix in sorted(units, key=len, reverse=True):
        if s.endswith(suffix):
            try:
                value = float(s[: -len(suffix)]) * units[suffix]
            except ValueError:
                return None
            break
    else:
        try:
            value = float(s)
        except ValueError:
            return None
    return value * 1000.0 if cpu else value / 1024.0 ** 2


def pod_limit(pod: dict[str, Any], cpu: bool) -> float | None:
    """The pod's CPU (millicores) or memory (MiB) limit: the sum of its containers'
    limits; None when a container has none (it may use what the node has)."""
    total = 0.0
    for c in (pod.get("spec") or {}).get("containers") or [{}]:
        raw = ((c.get("resources") or {}).get("limits") or {}).get("cpu" if cpu else "memory")
        value = quantity(raw, cpu) if raw is not None else None
        if value is None:
            return None
        total += value
    return total
