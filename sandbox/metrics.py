"""Metrics over time (issue 12 point 1): the simulated cluster's request rate, error
rate, latency (p50/p95/p99), CPU and memory, sampled on the clock into SQLite, per
workload (Deployment, StatefulSet, DaemonSet) and per pod, each sample stamped with its
simulated time, as Prometheus scrapes a cluster every interval.

- Workloads: rate, errors and latency over the traffic window (like `rate(x[1m])`),
  CPU and memory summed over their pods.
- Pods: rate and errors since the pod's previous sample (the first sample of a pod has
  none), latency of the version it runs, CPU and memory as the simulated cluster says
  its image uses them (`usage()`, sim/behaviour.py: CPU grows with requests, memory of
  a leaking image with time), CPU with a small deterministic jitter per pod. A
  cluster that does not say (kind): CPU from the request rate (capped by the limit),
  memory near half the request.
Settings: `metrics_interval_seconds` (simulated, default 15) and
`metrics_retention_seconds` (simulated, default 6 h): older samples are deleted after
each sample, so the table holds at most retention / interval samples per target.
Samples are stored as runs of unchanged values (metricstore.py), so a steady cluster
costs a row per sample, not one per target. Another process reads the view
`metric_samples` (`gitops-sandbox metrics`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from .metricsmodel import WORKLOADS, Sample, SampleRows
from .metricsrows import RowBuilder
from .metricstore import FIELDS, RunWriter, ensure_schema, newest
from .store import Store

__all__ = ["FIELDS", "MetricsSampler", "Sample", "SampleRows", "ensure_schema", "query"]

MIN_WALL_GAP = 0.25  # seconds between two samples of the engine's thread, at any speed


class MetricsSampler:
    """Samples a cluster that offers `metrics()` (the simulated one) into the store."""

    def __init__(self, store: Store, cluster: Any, now: Callable[[], float],
                 interval: float = 15.0, retention: float = 21_600.0) -> None:
        self.writer = RunWriter(store)
        self.store = store
        self.cluster = cluster
        self.now = now
        self.interval = interval
        self.retention = retention
        self.samples = 0  # tests wait on this
        # Called with (now, rows) after each sample: the analysis of a change reads them.
        self.listeners: list[Callable[[float, list[Sample]], None]] = []
        self.rows = RowBuilder(cluster)  # the last rows, computed again for what changed
        self.computed = 0  # samples computed from the cluster (a repeated one is not)
        self._rows: SampleRows | None = None
        self._steady: Any = None  # the cluster's metrics key while samples repeat
        self._next = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def supported(self) -> bool:
        return callable(getattr(self.cluster, "metrics", None))

    def due(self, now: float) -> bool:
        return now >= self._next

    def sample(self, now: float | None = None) -> list[Sample]:
        """Take one sample at the clock's time, write it, prune what retention drops."""
        now = self.now() if now is None else now
        # The next sample falls on the next multiple of the interval in simulated time.
        self._next = (math.floor(now / self.interval) + 1) * self.interval
        key = self._metrics_key()
        rows: list[Sample]
        if (key is not None and key[0] == self._steady and now >= key[1]
                and self.writer.continues(now) and self._rows is not None):
            # Nothing changed since a sample that repeated the one before, and time alone
            # moves no number: this sample is that one again, written as one row.
            rows = self._rows
            self.rows.repeated(now)
            self.writer.repeat(now, time.time())
        else:
            # A leaking image moves every pod's memory with time: all of it is computed.
            got = self.rows.collect(now, incremental=key is not None
                                    and self.writer.continues(now))
            self.computed += 1
            written = self.writer.written
            self.writer.write(now, time.time(), [
                ((r.kind, r.namespace, r.name), *r.stored()) for r in got.computed],
                None if got.full else got.gone, got.at)
            repeated = self.writer.written == written and not got.gone
            self._steady = key[0] if (key is not None and repeated and now >= key[1]
                                      and not self.writer.ramps_open) else None
            rows = self._rows = got.rows
        self.prune(now)
        self.samples += 1
        for listener in self.listeners:
            listener(now, rows)
        return rows

    def _metrics_key(self) -> tuple[Any, float] | None:
        key_of = getattr(self.cluster, "metrics_key", None)
        key: tuple[Any, float] | None = key_of() if callable(key_of) else None
        return key

    def prune(self, now: float) -> int:
        """Drop samples older than the retention, and any from a simulated time after
        now (a cluster that was reset starts its clock again)."""
        return self.writer.prune(now, self.retention)

    # -- the engine's thread -------------------------------------------------------
    def start(self, speed: Callable[[], float] = lambda: 1.0) -> MetricsSampler:
        if not self.supported:
            return self

        def run() -> None:
            while not self._stop.is_set():
                try:
                    if self.due(self.now()):
                        self.sample()
                except Exception:  # noqa: BLE001 - a failed sample is skipped, the next one comes
                    pass
                wait = (self._next - self.now()) / max(speed(), 1e-6)
                # A fast clock is sampled at most four times a (wall) second: the
                # samples then lie further apart in simulated time than the interval.
                self._stop.wait(min(max(wait, MIN_WALL_GAP), 5.0))

        self._thread = threading.Thread(target=run, name="engine-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


# -- reading -------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_KINDS = {"deployment": "Deployment", "deploy": "Deployment", "deployments": "Deployment",
          "statefulset": "StatefulSet", "sts": "StatefulSet", "statefulsets": "StatefulSet",
          "daemonset": "DaemonSet", "ds": "DaemonSet", "daemonsets": "DaemonSet",
          "pod": "Pod", "po": "Pod", "pods": "Pod"}


class MetricsError(ValueError):
    """A query the user can fix; the message says how."""


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise MetricsError(f"--since {text!r}: write a duration such as 90s, 5m, 2h or 1d")
    return float(match[1]) * _UNITS[match[2]]


def _matches(target: str, row: dict[str, Any]) -> bool:
    parts = target.split("/")
    kind = _KINDS.get(parts[0].lower()) if len(parts) > 1 else None
    if kind:
        parts = parts[1:]
        if row["kind"] != kind:
            return False
    if len(parts) == 1:
        return bool(row["name"] == parts[0])
    return bool(len(parts) == 2 and row["namespace"] == parts[0] and row["name"] == parts[1])


def query(store: Store, target: str | None = None, since: float = 300.0,
          pods: bool = False) -> list[dict[str, Any]]:
    """Samples of the last `since` simulated seconds (before the newest sample), oldest
    first: every workload's, or one target's (a workload, with its pods when `pods`; or
    a pod). An unknown target is a MetricsError naming the known ones."""
    ensure_schema(store)
    last = newest(store)
    if last is None:
        return []
    start = last - since
    rows = [dict(r) for r in store.query(
        "SELECT * FROM metric_samples WHERE sim>=? ORDER BY sim, workload, kind, name",
        start)]
    if target is None:
        return [r for r in rows if r["kind"] in WORKLOADS or (pods and r["kind"] == "Pod")]
    chosen = {r["workload"] for r in rows if r["kind"] in WORKLOADS and _matches(target, r)}
    picked = [r for r in rows if (r["kind"] in WORKLOADS and r["workload"] in chosen)
              or (r["kind"] == "Pod" and ((pods and r["workload"] in chosen)
                                          or _matches(target, r)))]
    if not picked:
        known = sorted({f"{r['kind']}/{r['namespace']}/{r['name']}" for r in rows
                        if r["kind"] in WORKLOADS})
        raise MetricsError(f"no metrics for {target!r} in the last {since:g}s of simulated "
                           f"time; workloads sampled: {', '.join(known) or 'none yet'}")
    return picked
