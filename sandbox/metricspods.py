"""A pod's numbers in a metric sample (metricsrows.py holds the rows): its rate since
its previous sample (or the steady rate it serves at), its version's latency, and the
CPU and memory its image uses (the simulated cluster's `usage()`), else modelled from
its rate and its requests and limits."""

from __future__ import annotations

import math
from typing import Any

from . import metricsmodel as model
from .metricsmodel import FIELDS


class PodValues:
    """The pod part of RowBuilder."""

    cluster: Any
    counts: dict[str, tuple[float, float, float, float, float]]
    _sizes_of: dict[str, tuple[float, float | None, float, float]]
    _usage: dict[str, tuple[float, float]]
    _last: float | None
    _unsettled: set[str]
    _predicted: dict[str, tuple[float, float]]

    def _read_usage(self, pods: list[str] | None) -> dict[str, tuple[float, float]]:
        usage = getattr(self.cluster, "usage", None)  # what the images use (simulated)
        if not callable(usage):
            return {}
        got: dict[str, tuple[float, float]] = usage() if pods is None else usage(pods)
        return got

    def _carried(self, key: str, prev: float | None
                 ) -> tuple[float, float, float, float, float] | None:
        """The pod's totals at the previous sample: a pod whose row was not computed
        since is moved there at its steady rate, as a computed sample would have read
        it."""
        before = self.counts.get(key)
        if before is None or prev is None or before[0] >= prev:
            return before
        then, requests, errors, rps, error_rate = before
        elapsed = prev - then
        return (prev, requests + rps * elapsed, errors + rps * error_rate * elapsed, rps,
                error_rate)

    def _pod_values(self, pod: dict[str, Any], key: str, now: float,
                    count: dict[str, Any] | None, version: dict[str, Any] | None
                    ) -> dict[str, float | None]:
        running = (pod.get("status") or {}).get("phase") == "Running"
        values: dict[str, float | None] = dict.fromkeys(FIELDS)
        if not running:
            return values
        rps = 0.0
        self._unsettled.discard(key)
        self._predicted.pop(key, None)
        if count is not None:
            before = self._carried(key, self._last)
            requests_now, errors_now = float(count["requests"]), float(count["errors"])
            self.counts[key] = (now, requests_now, errors_now, float(count.get("rps", 0.0)),
                                float(count.get("error_rate", 0.0)))
            if before is not None and now > before[0]:
                steady = count.get("steady_since")
                if steady is not None and steady <= before[0]:
                    # The same rate since before the last sample: that rate, exactly (the
                    # totals' float noise would make a steady pod's numbers flicker).
                    rps = float(count["rps"])
                    values["rps"] = round(rps, 2)
                    values["error_rate"] = round(float(count["error_rate"]), 4) if rps else 0.0
                else:
                    self._unsettled.add(key)
                    requests = requests_now - before[1]
                    errors = errors_now - before[2]
                    rps = max(0.0, requests) / (now - before[0])
                    values["rps"] = round(rps, 2)
                    values["error_rate"] = (round(errors / requests, 4) if requests > 0
                                            else 0.0)
            else:
                self._unsettled.add(key)
                steady = count.get("steady_since")
                if before is None and steady is not None and steady <= now:
                    self._predicted[key] = (float(count["rps"]),
                                            float(count.get("error_rate", 0.0)))
        if version:
            for f in ("p50_ms", "p95_ms", "p99_ms"):
                values[f] = version.get(f)
            values["p99_ms"] = values["p99_ms"] or version.get("p95_ms")
        # Per pod, not per sample: a pod whose traffic is steady reports steady numbers.
        limit, request, mem_limit, jitter = self._sizes(pod, key)
        used = self._usage.get(key)
        if used is not None:  # the simulated cluster's own figures (sim/behaviour.py)
            values["cpu_m"] = round(min(used[0] * (1 + 0.1 * jitter), limit), 1)
            values["memory_mib"] = round(used[1], 1)
            return values
        cpu = (model.IDLE_CPU_M + model.CPU_M_PER_RPS * rps) * (1 + 0.1 * jitter)
        values["cpu_m"] = round(min(cpu, limit), 1)
        memory = (request or 2 * model.DEFAULT_MEMORY_MIB) * (0.5 + 0.05 * jitter)
        values["memory_mib"] = round(min(memory, mem_limit), 1)
        return values

    def _sizes(self, pod: dict[str, Any], key: str
               ) -> tuple[float, float | None, float, float]:
        """(CPU limit, memory request, memory limit, its jitter): a pod's spec never
        changes, so they are parsed once per pod."""
        uid = str((pod.get("metadata") or {}).get("uid") or key)
        sizes = self._sizes_of.get(uid)
        if sizes is None:
            sizes = self._sizes_of[uid] = (
                model.resources(pod, "limits", model.cpu_millis, "cpu") or math.inf,
                model.resources(pod, "requests", model.memory_mib, "memory"),
                model.resources(pod, "limits", model.memory_mib, "memory") or math.inf,
                model.jitter(key))
        return sizes
