"""Simulated traffic: each Service receives requests that its ready pods answer with the
error rate and latency of their image's profile, so a bad release shows in the numbers
and a revert visibly heals them.

Traffic is accounted per whole simulated second over a sliding window; a long jump in
time only plays back the last window second by second and adds the rest in bulk.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sandbox.registry import ImageProfile

WINDOW = 60  # seconds of history behind rps, error rate and latency percentiles
SAMPLES = 3  # latency samples drawn per (deployment, version) and second


@dataclass
class Endpoint:
    pod: str  # "namespace/name"
    deployment: str  # "namespace/name", "" for a bare pod
    version: str
    image: str
    profile: ImageProfile


@dataclass
class _Bucket:
    second: int
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


class Traffic:
    def __init__(self, seed: int) -> None:
        # A generator of its own, so traffic never shifts pod names or timings.
        self.rng = random.Random(seed * 7919 + 17)
        self._base: dict[str, float] = {}
        self._last: int | None = None
        self._series: dict[tuple[str, str], deque[_Bucket]] = {}
        self._images: dict[tuple[str, str], str] = {}
        self.pods: dict[str, dict[str, Any]] = {}  # cumulative per pod

    def base_rps(self, service: str) -> float:
        if service not in self._base:
            self._base[service] = round(5.0 + self.rng.random() * 45.0, 1)
        return self._base[service]

    def due(self, now: float) -> bool:
        return self._last is None or math.floor(now) > self._last

    def account(self, now: float, services: dict[str, list[Endpoint]]) -> None:
        """Play traffic up to the whole second before `now` with today's endpoints."""
        end = math.floor(now)
        start = 0 if self._last is None else self._last + 1
        if end < start:
            return
        first_detailed = max(start, end - WINDOW + 1)
        skipped = first_detailed - start
        for svc, eps in sorted(services.items()):
            if not eps:
                continue
            rps = self.base_rps(svc)
            if skipped:
                self._bulk(rps * skipped, eps)
            for second in range(first_detailed, end + 1):
                self._second(second, rps, eps)
        self._last = end
        horizon = end - WINDOW
        for series in self._series.values():
            while series and series[0].second <= horizon:
                series.popleft()

    def _bulk(self, requests: float, eps: list[Endpoint]) -> None:
        share = requests / len(eps)
        for ep in eps:
            tot = self._pod(ep)
            tot["requests"] += int(share)
            tot["errors"] += int(share * ep.profile.error_rate)

    def _second(self, second: int, rps: float, eps: list[Endpoint]) -> None:
        rng = self.rng
        n = max(0, round(rps * (1.0 + 0.1 * rng.gauss(0.0, 1.0))))
        per, extra = divmod(n, len(eps))
        groups: dict[tuple[str, str], ImageProfile] = {}
        for i, ep in enumerate(eps):
            req = per + (1 if i < extra else 0)
            expected = req * ep.profile.error_rate
            # Deterministic rounding with a random tie-break keeps the mean exact.
            err = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
            tot = self._pod(ep)
            tot["requests"] += req
            tot["errors"] += err
            key = (ep.deployment, ep.version)
            bucket = self._bucket(key, second)
            bucket.requests += req
            bucket.errors += err
            self._images[key] = ep.image
            groups[key] = ep.profile
        for key, prof in groups.items():
            bucket = self._bucket(key, second)
            bucket.latencies.extend(prof.latency_ms * rng.lognormvariate(0.0, 0.35)
                                    for _ in range(SAMPLES))

    def _pod(self, ep: Endpoint) -> dict[str, Any]:
        tot = self.pods.get(ep.pod)
        if tot is None:
            tot = self.pods[ep.pod] = {"deployment": ep.deployment, "version": ep.version,
                                       "requests": 0, "errors": 0}
        return tot

    def _bucket(self, key: tuple[str, str], second: int) -> _Bucket:
        series = self._series.setdefault(key, deque())
        if not series or series[-1].second != second:
            series.append(_Bucket(second))
        return series[-1]

    def forget_pod(self, pod: str) -> None:
        self.pods.pop(pod, None)

    def metrics(self, now: float, deployments: list[str]) -> dict[str, dict[str, Any]]:
        """Per deployment ("namespace/name"): rps, error rate, p50/p95 latency over the
        window, with a per-version breakdown and per-pod totals since start."""
        window = float(min(WINDOW, max(1, math.floor(now) + 1)))
        series_of: dict[str, list[tuple[str, deque[_Bucket]]]] = {}
        for (d, version), series in sorted(self._series.items()):
            if series:
                series_of.setdefault(d, []).append((version, series))
        pods_of: dict[str, dict[str, Any]] = {}
        for pod, tot in sorted(self.pods.items()):
            pods_of.setdefault(tot["deployment"], {})[pod.partition("/")[2]] = dict(tot)
        out: dict[str, dict[str, Any]] = {}
        for dep in deployments:
            ns, _, name = dep.partition("/")
            versions: dict[str, dict[str, Any]] = {}
            lat_all: list[float] = []
            req_all = err_all = 0
            for version, series in series_of.get(dep, []):
                req = sum(b.requests for b in series)
                err = sum(b.errors for b in series)
                lat = [x for b in series for x in b.latencies]
                req_all, err_all = req_all + req, err_all + err
                lat_all.extend(lat)
                versions[version] = _summary(req, err, lat, window)
                versions[version]["image"] = self._images.get((dep, version), "")
            summary = _summary(req_all, err_all, lat_all, window)
            out[dep] = {"namespace": ns, "name": name, **summary, "window_seconds": window,
                        "versions": versions, "pods": pods_of.get(dep, {})}
        return out

def _summary(req: int, err: int, lat: list[float], window: float) -> dict[str, Any]:
    lat = sorted(lat)
    return {"rps": round(req / window, 2), "requests": req, "errors": err,
            "error_rate": round(err / req, 4) if req else 0.0,
            "p50_ms": round(_pct(lat, 0.50), 1), "p95_ms": round(_pct(lat, 0.95), 1),
            "p99_ms": round(_pct(lat, 0.99), 1)}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]
