"""Simulated traffic: each Service receives requests that its ready pods answer with the
error rate and latency of their image's profile at that moment (behaviour.py: a
regression may start a while after the pod became Ready), so a bad release shows in
the numbers and a revert visibly heals them.

Traffic is accounted per whole simulated second over a sliding window; a long jump in
time only plays back the last window second by second and adds the rest in bulk.
Each Service is accounted on its own, lazily: when its endpoints are about to change
(the traffic so far went to the old ones) and when someone reads its Deployments'
metrics. A cluster nobody watches does no traffic work at all.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sandbox.cluster.sim import behaviour
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
    ready_since: float | None = None  # simulated time it became Ready (behaviour.py)

    def ready_for(self, second: float) -> float | None:
        return None if self.ready_since is None else second - self.ready_since


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
        self._last: int | None = None  # the latest second any Service was accounted to
        self._upto: dict[str, int] = {}  # per Service: accounted up to this second
        # deployment -> version -> per-second buckets over the window
        self._series: dict[str, dict[str, deque[_Bucket]]] = {}
        self._images: dict[tuple[str, str], str] = {}
        self.pods: dict[str, dict[str, Any]] = {}  # cumulative per pod
        self._pods_of: dict[str, set[str]] = {}  # deployment -> its pods in `pods`
        # Service "namespace/name" -> the ready pods answering it; Deployment -> the
        # Services whose traffic reaches its pods. Kept as Endpoints change.
        self._serving: dict[str, list[Endpoint]] = {}
        self._feeds: dict[str, set[str]] = {}
        self._candidates: dict[float, set[str]] = {}  # error_candidates(), until serve()

    def serve(self, svc: str, eps: list[Endpoint] | None) -> None:
        """From now on these endpoints answer the Service (None: it is gone). Settle
        its traffic to now first (settle())."""
        self._candidates = {}
        for dep in {ep.deployment for ep in self._serving.get(svc, [])}:
            feeds = self._feeds.get(dep)
            if feeds is not None:
                feeds.discard(svc)
                if not feeds:
                    del self._feeds[dep]
        if eps is None:
            self._serving.pop(svc, None)
            self._upto.pop(svc, None)
            return
        self._serving[svc] = eps
        for ep in eps:
            self._feeds.setdefault(ep.deployment, set()).add(svc)

    def settle(self, now: float, svc: str) -> None:
        """Account a Service's traffic up to now with the endpoints it has had."""
        self.account(now, {svc: self._serving.get(svc, [])})

    def error_candidates(self, min_rate: float = 0.0) -> set[str]:
        """Deployments with a serving pod whose image fails more than `min_rate` of
        its requests."""
        found = self._candidates.get(min_rate)
        if found is None:
            found = self._candidates[min_rate] = {
                ep.deployment for eps in self._serving.values() for ep in eps
                if ep.deployment and behaviour.worst_error_rate(ep.profile) > min_rate}
        return set(found)

    def pod_rps(self) -> dict[str, float]:
        """Per serving pod ("namespace/name"): the requests per second its Services send
        it, their nominal rates shared among their ready pods (for CPU use)."""
        out: dict[str, float] = {}
        for svc, eps in self._serving.items():
            if eps:
                share = self.base_rps(svc) / len(eps)
                for ep in eps:
                    out[ep.pod] = out.get(ep.pod, 0.0) + share
        return out

    def base_rps(self, service: str) -> float:
        if service not in self._base:
            self._base[service] = round(5.0 + self.rng.random() * 45.0, 1)
        return self._base[service]

    def account(self, now: float, services: dict[str, list[Endpoint]]) -> None:
        """Play each Service's traffic up to the whole second before `now` with these
        endpoints (the ones it had since it was last accounted)."""
        end = math.floor(now)
        for svc, eps in sorted(services.items()):
            last = self._upto.get(svc, -1 if self._last is None else self._last)
            start = last + 1
            if end < start:
                continue
            self._upto[svc] = end
            if not eps:
                continue
            first_detailed = max(start, end - WINDOW + 1)
            skipped = first_detailed - start
            rps = self.base_rps(svc)
            if skipped:
                self._bulk(rps * skipped, eps, start, skipped)
            for second in range(first_detailed, end + 1):
                self._second(second, rps, eps)
            for dep in {ep.deployment for ep in eps}:
                self._trim(dep, end)
        if self._last is None or end > self._last:
            self._last = end

    def _trim(self, dep: str, end: int) -> None:
        horizon = end - WINDOW
        for series in self._series.get(dep, {}).values():
            while series and series[0].second <= horizon:
                series.popleft()

    def _bulk(self, requests: float, eps: list[Endpoint], start: int, seconds: int) -> None:
        share = requests / len(eps)
        for ep in eps:
            tot = self._pod(ep)
            tot["requests"] += int(share)
            rate = behaviour.mean_error_rate(ep.profile, ep.ready_for(start), seconds)
            tot["errors"] += int(share * rate)

    def _second(self, second: int, rps: float, eps: list[Endpoint]) -> None:
        rng = self.rng
        n = max(0, round(rps * (1.0 + 0.1 * rng.gauss(0.0, 1.0))))
        per, extra = divmod(n, len(eps))
        groups: dict[tuple[str, str], list[float]] = {}
        for i, ep in enumerate(eps):
            req = per + (1 if i < extra else 0)
            expected = req * behaviour.error_rate(ep.profile, ep.ready_for(second))
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
            groups.setdefault(key, []).append(
                behaviour.latency_ms(ep.profile, ep.ready_for(second)))
        for key, medians in groups.items():
            bucket = self._bucket(key, second)
            # The samples go round the version's pods: one that regressed shows in them.
            bucket.latencies.extend(medians[i % len(medians)] * rng.lognormvariate(0.0, 0.35)
                                    for i in range(SAMPLES))

    def _pod(self, ep: Endpoint) -> dict[str, Any]:
        tot = self.pods.get(ep.pod)
        if tot is None:
            tot = self.pods[ep.pod] = {"deployment": ep.deployment, "version": ep.version,
                                       "requests": 0, "errors": 0}
            self._pods_of.setdefault(ep.deployment, set()).add(ep.pod)
        return tot

    def _bucket(self, key: tuple[str, str], second: int) -> _Bucket:
        series = self._series.setdefault(key[0], {}).setdefault(key[1], deque())
        if not series or series[-1].second != second:
            series.append(_Bucket(second))
        return series[-1]

    def forget_pod(self, pod: str) -> None:
        tot = self.pods.pop(pod, None)
        if tot is not None:
            pods = self._pods_of.get(tot["deployment"])
            if pods is not None:
                pods.discard(pod)
                if not pods:
                    del self._pods_of[tot["deployment"]]

    def metrics(self, now: float, deployments: list[str]) -> dict[str, dict[str, Any]]:
        """Per deployment ("namespace/name"): rps, error rate, p50/p95 latency over the
        window, with a per-version breakdown and per-pod totals since start."""
        services = sorted({svc for dep in deployments for svc in self._feeds.get(dep, ())})
        self.account(now, {svc: self._serving[svc] for svc in services})
        window = float(min(WINDOW, max(1, math.floor(now) + 1)))
        out: dict[str, dict[str, Any]] = {}
        for dep in deployments:
            ns, _, name = dep.partition("/")
            self._trim(dep, math.floor(now))
            versions: dict[str, dict[str, Any]] = {}
            lat_all: list[float] = []
            req_all = err_all = 0
            for version, series in sorted(self._series.get(dep, {}).items()):
                if not series:
                    continue
                req = sum(b.requests for b in series)
                err = sum(b.errors for b in series)
                lat = [x for b in series for x in b.latencies]
                req_all, err_all = req_all + req, err_all + err
                lat_all.extend(lat)
                versions[version] = _summary(req, err, lat, window)
                versions[version]["image"] = self._images.get((dep, version), "")
            summary = _summary(req_all, err_all, lat_all, window)
            pods = {pod.partition("/")[2]: dict(self.pods[pod])
                    for pod in sorted(self._pods_of.get(dep, ()))}
            out[dep] = {"namespace": ns, "name": name, **summary, "window_seconds": window,
                        "versions": versions, "pods": pods}
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
