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

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .metricstore import FIELDS, RunWriter, ensure_schema, newest
from .store import Store

__all__ = ["FIELDS", "MetricsSampler", "Sample", "ensure_schema", "query"]

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
IDLE_CPU_M, CPU_M_PER_RPS = 2.0, 1.5  # the model of a pod's CPU
DEFAULT_MEMORY_MIB = 32.0  # a pod without a memory request
MIN_WALL_GAP = 0.25  # seconds between two samples of the engine's thread, at any speed


def workload_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


# -- quantities ----------------------------------------------------------------------

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_MEMORY = {"": 1 / 2**20, "Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 2**20,
           "k": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}


def cpu_millis(value: Any) -> float | None:
    match = _QUANTITY.match(str(value)) if value is not None else None
    if not match:
        return None
    number, unit = float(match[1]), match[2]
    return number if unit == "m" else number * 1000 if unit == "" else None


def memory_mib(value: Any) -> float | None:
    match = _QUANTITY.match(str(value)) if value is not None else None
    if not match or match[2] not in _MEMORY:
        return None
    return float(match[1]) * _MEMORY[match[2]]


def _resources(pod: dict[str, Any], which: str, parse: Callable[[Any], float | None],
               resource: str) -> float | None:
    total, seen = 0.0, False
    for c in (pod.get("spec") or {}).get("containers") or []:
        value = parse(((c.get("resources") or {}).get(which) or {}).get(resource))
        if value is not None:
            total, seen = total + value, True
    return total if seen else None


def _jitter(*parts: object) -> float:
    """A deterministic number in [-1, 1) from its inputs: the same run samples the same."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 2**31 - 1.0


# -- sampling ------------------------------------------------------------------------

@dataclass
class Sample:
    kind: str
    namespace: str
    name: str
    workload: str
    values: dict[str, float | None]


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
        # pod -> (sim, requests, errors, requests/s, error rate) at its last sample
        self._counts: dict[str, tuple[float, float, float, float, float]] = {}
        self.computed = 0  # samples computed from the cluster (a repeated one is not)
        self._rows: list[Sample] = []
        self._steady: Any = None  # the cluster's metrics key while samples repeat
        self._sizes_of: dict[str, tuple[float, float | None, float]] = {}  # pod uid -> sizes
        self._usage: dict[str, tuple[float, float]] = {}
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
        if (key is not None and key[0] == self._steady and now >= key[1]
                and self.writer.continues(now)):
            # Nothing changed since a sample that repeated the one before, and time alone
            # moves no number: this sample is that one again, written as one row.
            rows = self._rows
            self._carry_counts(now)
            self.writer.repeat(now, time.time())
        else:
            rows = self.collect(now)
            self.computed += 1
            written = self.writer.written
            self.writer.write(now, time.time(), [
                ((r.kind, r.namespace, r.name), (r.workload, *(r.values.get(f) for f in FIELDS)))
                for r in rows])
            repeated = self.writer.written == written and self._rows is not None
            self._steady = key[0] if key is not None and repeated and now >= key[1] else None
            self._rows = rows
        self.prune(now)
        self.samples += 1
        for listener in self.listeners:
            listener(now, rows)
        return rows

    def _metrics_key(self) -> tuple[Any, float] | None:
        key_of = getattr(self.cluster, "metrics_key", None)
        key: tuple[Any, float] | None = key_of() if callable(key_of) else None
        return key

    def _carry_counts(self, now: float) -> None:
        """Move each pod's totals to now at its steady rate, as a computed sample would
        have read them, so the next computed one measures from this sample."""
        for pod, (then, requests, errors, rps, error_rate) in self._counts.items():
            elapsed = max(0.0, now - then)
            self._counts[pod] = (now, requests + rps * elapsed,
                                 errors + rps * error_rate * elapsed, rps, error_rate)

    def prune(self, now: float) -> int:
        """Drop samples older than the retention, and any from a simulated time after
        now (a cluster that was reset starts its clock again)."""
        return self.writer.prune(now, self.retention)

    def collect(self, now: float) -> list[Sample]:
        inspect = getattr(self.cluster, "inspect", None)
        if callable(inspect):  # the simulated cluster: read its objects without copies
            rows: list[Sample] = inspect(lambda read: self._collect(now, read))
            return rows
        return self._collect(now, self.cluster.list)

    def _collect(self, now: float, read: Callable[[str], list[dict[str, Any]]]
                 ) -> list[Sample]:
        traffic: dict[str, dict[str, Any]] = self.cluster.metrics()
        usage = getattr(self.cluster, "usage", None)  # what the images use (simulated)
        self._usage: dict[str, tuple[float, float]] = usage() if callable(usage) else {}
        pods = read("Pod")
        owners = self._owners(pods, read)
        counts: dict[str, dict[str, Any]] = {}
        for dep in traffic.values():
            for pod, tot in (dep.get("pods") or {}).items():
                counts[f"{dep['namespace']}/{pod}"] = tot
        totals: dict[str, dict[str, float]] = {}
        out: list[Sample] = []
        seen: set[str] = set()
        for pod in pods:
            meta = pod.get("metadata") or {}
            ns, name = meta.get("namespace", "default"), meta.get("name", "")
            key = f"{ns}/{name}"
            seen.add(key)
            workload = owners.get(key, "")
            values = self._pod_values(pod, key, now, counts.get(key), traffic, workload)
            out.append(Sample("Pod", ns, name, workload, values))
            if workload:
                sums = totals.setdefault(workload, {"cpu_m": 0.0, "memory_mib": 0.0,
                                                    "rps": 0.0})
                for f in sums:
                    sums[f] += values.get(f) or 0.0
        for gone in set(self._counts) - seen:
            del self._counts[gone]
        if len(self._sizes_of) > 2 * len(pods) + 100:  # pods come and go: forget the gone
            self._sizes_of.clear()
        for kind in WORKLOADS:
            for obj in read(kind):
                meta = obj.get("metadata") or {}
                ns, name = meta.get("namespace", "default"), meta.get("name", "")
                key = workload_key(kind, ns, name)
                sums = totals.get(key, {})
                window = traffic.get(f"{ns}/{name}") if kind == "Deployment" else None
                values: dict[str, float | None] = {
                    "cpu_m": round(sums.get("cpu_m", 0.0), 1),
                    "memory_mib": round(sums.get("memory_mib", 0.0), 1)}
                if window:
                    values.update({f: window.get(f) for f in
                                   ("rps", "error_rate", "p50_ms", "p95_ms", "p99_ms")})
                    values["p99_ms"] = values["p99_ms"] or window.get("p95_ms")
                else:
                    values["rps"] = round(sums.get("rps", 0.0), 2)
                out.append(Sample(kind, ns, name, key, values))
        return out

    @staticmethod
    def _owners(pods: list[dict[str, Any]], read: Callable[[str], list[dict[str, Any]]]
                ) -> dict[str, str]:
        """Pod "ns/name" -> its workload key, through ReplicaSets for Deployments."""
        rs_owner: dict[str, str] = {}
        for rs in read("ReplicaSet"):
            meta = rs.get("metadata") or {}
            for ref in meta.get("ownerReferences") or []:
                if ref.get("kind") == "Deployment":
                    rs_owner[f"{meta.get('namespace')}/{meta.get('name')}"] = workload_key(
                        "Deployment", meta.get("namespace", "default"), ref.get("name", ""))
        owners: dict[str, str] = {}
        for pod in pods:
            meta = pod.get("metadata") or {}
            ns = meta.get("namespace", "default")
            for ref in meta.get("ownerReferences") or []:
                kind, name = ref.get("kind"), ref.get("name", "")
                if kind == "ReplicaSet" and f"{ns}/{name}" in rs_owner:
                    owners[f"{ns}/{meta.get('name')}"] = rs_owner[f"{ns}/{name}"]
                elif kind in WORKLOADS:
                    owners[f"{ns}/{meta.get('name')}"] = workload_key(kind, ns, name)
        return owners

    def _pod_values(self, pod: dict[str, Any], key: str, now: float,
                    count: dict[str, Any] | None, traffic: dict[str, dict[str, Any]],
                    workload: str) -> dict[str, float | None]:
        running = (pod.get("status") or {}).get("phase") == "Running"
        values: dict[str, float | None] = dict.fromkeys(FIELDS)
        if not running:
            return values
        rps = 0.0
        if count is not None:
            before = self._counts.get(key)
            requests_now, errors_now = float(count["requests"]), float(count["errors"])
            self._counts[key] = (now, requests_now, errors_now, float(count.get("rps", 0.0)),
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
                    requests = requests_now - before[1]
                    errors = errors_now - before[2]
                    rps = max(0.0, requests) / (now - before[0])
                    values["rps"] = round(rps, 2)
                    values["error_rate"] = (round(errors / requests, 4) if requests > 0
                                            else 0.0)
        version = self._version(pod, traffic, workload)
        if version:
            for f in ("p50_ms", "p95_ms", "p99_ms"):
                values[f] = version.get(f)
            values["p99_ms"] = values["p99_ms"] or version.get("p95_ms")
        limit, request, mem_limit = self._sizes(pod, key)
        # Per pod, not per sample: a pod whose traffic is steady reports steady numbers.
        jitter = _jitter(key)
        used = self._usage.get(key)
        if used is not None:  # the simulated cluster's own figures (sim/behaviour.py)
            values["cpu_m"] = round(min(used[0] * (1 + 0.1 * jitter), limit), 1)
            values["memory_mib"] = round(used[1], 1)
            return values
        cpu = (IDLE_CPU_M + CPU_M_PER_RPS * rps) * (1 + 0.1 * jitter)
        values["cpu_m"] = round(min(cpu, limit), 1)
        memory = (request or 2 * DEFAULT_MEMORY_MIB) * (0.5 + 0.05 * jitter)
        values["memory_mib"] = round(min(memory, mem_limit), 1)
        return values

    def _sizes(self, pod: dict[str, Any], key: str) -> tuple[float, float | None, float]:
        """(CPU limit, memory request, memory limit): a pod's spec never changes, so they
        are parsed once per pod."""
        uid = str((pod.get("metadata") or {}).get("uid") or key)
        sizes = self._sizes_of.get(uid)
        if sizes is None:
            sizes = self._sizes_of[uid] = (
                _resources(pod, "limits", cpu_millis, "cpu") or math.inf,
                _resources(pod, "requests", memory_mib, "memory"),
                _resources(pod, "limits", memory_mib, "memory") or math.inf)
        return sizes

    @staticmethod
    def _version(pod: dict[str, Any], traffic: dict[str, dict[str, Any]],
                 workload: str) -> dict[str, Any] | None:
        if not workload.startswith("Deployment/"):
            return None
        _kind, ns, name = workload.split("/", 2)
        dep = traffic.get(f"{ns}/{name}") or {}
        mine = (dep.get("pods") or {}).get((pod.get("metadata") or {}).get("name", ""))
        versions = dep.get("versions") or {}
        return versions.get(mine["version"]) if mine else None

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
