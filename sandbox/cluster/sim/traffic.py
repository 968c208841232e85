"""Simulated traffic: each Service receives requests that its ready pods answer with the
error rate and latency of their image's profile, so a bad release shows in the numbers
and a revert visibly heals them.

The traffic is kept in closed form rather than played request by request: a Service
sends its base rate (drawn once from the seed) shared evenly among the pods that answer
it, each pod fails the share its profile says, and a request's latency is lognormal
around the profile's median. Between two changes of a Service's endpoints every rate is
constant, so a pod's counters are `accumulated + rate * elapsed`, and a Deployment's
window (rps, error rate, p50/p95/p99 over the last WINDOW seconds) is an integral over
the few segments that overlap it. A Deployment whose window lies in one segment with
steady behaviour gives the same numbers at any later time: they are computed once and
kept until its endpoints change, so a cluster where nothing changes does no traffic work.

How a pod answers at a given moment (`answering()`, from behaviour.py) is the one place
per-profile traffic numbers come from; a profile whose numbers change over time (a late
regression) says when, and the accounting splits its segments there.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, NamedTuple

from sandbox.cluster.sim import behaviour
from sandbox.cluster.sim import trafficwindow as window
from sandbox.registry import ImageProfile

WINDOW = window.WINDOW  # seconds of history behind rps, error rate and percentiles
KEEP_MOVING = 600.0  # simulated seconds a settled change is still told of by moving()


@dataclass
class Endpoint:
    pod: str  # "namespace/name"
    deployment: str  # "namespace/name", "" for a bare pod
    version: str
    image: str
    profile: ImageProfile
    ready_since: float | None = None  # simulated time it became Ready

    def ready_for(self, t: float) -> float | None:
        return None if self.ready_since is None else t - self.ready_since


class Behaviour(NamedTuple):
    error_rate: float
    latency_ms: float  # the median
    until: float | None  # ready_for at which this changes; None: it holds for good


def answering(p: ImageProfile, ready_for: float | None) -> Behaviour:
    """How a pod of this image answers requests `ready_for` seconds after it became
    Ready (None: not known to be ready, so as at start), and until when that holds.
    The numbers come from the profile's behaviour (behaviour.py); a profile whose
    numbers change over time must say here when, so the accounting splits there."""
    if p.regress_after is None:  # the same all its life: one answer per profile
        how = _STEADY.get(p)
        if how is None:
            how = _STEADY[p] = Behaviour(behaviour.error_rate(p, None),
                                         behaviour.latency_ms(p, None), None)
        return how
    until = None
    if not behaviour.regressed(p, ready_for) and ready_for is not None:
        until = p.regress_after
    return Behaviour(behaviour.error_rate(p, ready_for), behaviour.latency_ms(p, ready_for),
                     until)


_STEADY: dict[ImageProfile, Behaviour] = {}  # answering() of profiles that never change


def _pieces(ep: Endpoint, a: float, b: float) -> list[tuple[float, Behaviour]]:
    """[a, b) cut where the endpoint's behaviour changes: (seconds, behaviour) each."""
    out: list[tuple[float, Behaviour]] = []
    t = a
    while t < b:
        how = answering(ep.profile, ep.ready_for(t))
        end = b
        if how.until is not None and ep.ready_since is not None:
            end = min(b, max(t, ep.ready_since + how.until))
            if end <= t:  # a profile that says "changes now" must not stall the loop
                end = b
        out.append((end - t, how))
        t = end
    return out


def _steady_from(ep: Endpoint, since: float) -> float:
    """From when (at or after `since`) the endpoint's behaviour no longer changes."""
    t = since
    how = answering(ep.profile, ep.ready_for(t))
    while how.until is not None and ep.ready_since is not None:
        later = ep.ready_since + how.until
        if later <= t:
            break
        t = later
        how = answering(ep.profile, ep.ready_for(t))
    return t


class _PodTotals:
    """A pod's requests and errors since it first served, in closed form."""

    __slots__ = ("deployment", "ep", "errors", "rate", "requests", "since", "steady",
                 "version")

    def __init__(self, ep: Endpoint, now: float) -> None:
        self.deployment, self.version, self.ep = ep.deployment, ep.version, ep
        self.requests = self.errors = self.rate = 0.0
        self.since = now
        self.steady = now  # from when its rate and behaviour have not changed

    def set(self, ep: Endpoint, rate: float, now: float) -> None:
        """Serve at this rate from now (accounted to now at the old one first)."""
        self.advance(now)
        if rate != self.rate or ep.profile != self.ep.profile or (
                ep.ready_since != self.ep.ready_since):
            self.steady = now
        self.ep, self.version, self.rate = ep, ep.version, rate

    def advance(self, now: float) -> None:
        if now <= self.since:
            return
        if self.rate and self.ep.profile.regress_after is None:  # one piece (_pieces)
            seconds = now - self.since
            self.requests += self.rate * seconds
            self.errors += self.rate * seconds * answering(self.ep.profile, None).error_rate
        elif self.rate:
            for seconds, how in _pieces(self.ep, self.since, now):
                self.requests += self.rate * seconds
                self.errors += self.rate * seconds * how.error_rate
        self.since = now

    def at(self, now: float) -> dict[str, Any]:
        """Totals since start, and the rates now with the time they hold since, so a
        reader can tell a steady pod's exact rate from its totals' float noise."""
        self.advance(now)
        ep = self.ep
        how = answering(ep.profile, ep.ready_for(now))
        # A profile that never changes is steady from its last change (_steady_from).
        steady = self.steady if how.until is None and ep.profile.regress_after is None \
            else max(self.steady, _steady_from(ep, self.steady))
        return {"deployment": self.deployment, "version": self.version,
                "requests": self.requests, "errors": self.errors, "rps": self.rate,
                "error_rate": how.error_rate, "steady_since": steady}


# One segment of a Deployment's traffic: from `start`, these (endpoint, share) answer.
_Segment = tuple[float, tuple[tuple[Endpoint, float], ...]]


class Traffic:
    def __init__(self, seed: int) -> None:
        # A generator of its own, so traffic never shifts pod names or timings.
        self.rng = random.Random(seed * 7919 + 17)
        self._base: dict[str, float] = {}
        self._last: int | None = None  # the latest whole second the traffic was told of
        self._now = 0.0
        self.pods: dict[str, _PodTotals] = {}
        self._pods_of: dict[str, set[str]] = {}  # deployment -> its pods in `pods`
        # Service "namespace/name" -> the ready pods answering it; Deployment -> the
        # Services whose traffic reaches its pods. Kept as Endpoints change.
        self._serving: dict[str, list[Endpoint]] = {}
        self._feeds: dict[str, set[str]] = {}
        self._services_of: dict[str, set[str]] = {}  # pod -> the Services it answers
        self._segments: dict[str, list[_Segment]] = {}  # deployment -> its recent segments
        # deployment -> (steady from, window summary): a full window starting after
        # `steady from` has these numbers, until the Deployment's endpoints change.
        self._window: dict[str, tuple[float, dict[str, Any]]] = {}
        self._candidates: dict[float, set[str]] = {}  # error_candidates(), until serve()
        # deployment -> (its one segment, its numbers per second of it): a window that
        # began before the Deployment's endpoints did grows linearly (_growing()).
        self._growth: dict[str, tuple[_Segment, dict[str, Any] | None]] = {}
        # From when no number changes with time alone (every window in one steady
        # segment, every pod at a steady rate); moved by each change of endpoints.
        self.settled_at = 0.0
        self.version = 0  # moves with every change of endpoints
        # The same per Deployment ("namespace/name") and per pod: until when its window,
        # or its rate, still moves with time after its endpoints changed (moving()).
        self._dep_until: dict[str, float] = {}
        self._pod_until: dict[str, float] = {}
        self.computed = 0  # Deployment windows computed (the cached ones are not counted)

    def _at(self, now: float) -> float:
        self._now = max(self._now, now)
        second = math.floor(self._now)
        if self._last is None or second > self._last:
            self._last = second
        return self._now

    def settle(self, now: float, svc: str) -> None:
        """The time a Service's endpoints are about to change: what its pods answered
        so far is accounted at their old rates."""
        now = self._at(now)
        for ep in self._serving.get(svc, ()):
            tot = self.pods.get(ep.pod)
            if tot is not None:
                tot.advance(now)

    def serve(self, svc: str, eps: list[Endpoint] | None) -> None:
        """From now on (the time given to settle()) these endpoints answer the Service
        (None: it is gone)."""
        now = self._now
        self._candidates = {}
        old = self._serving.get(svc, [])
        touched = {ep.pod for ep in old} | {ep.pod for ep in eps or ()}
        deployments = {ep.deployment for ep in old} | {ep.deployment for ep in eps or ()}
        for dep in {ep.deployment for ep in old}:
            feeds = self._feeds.get(dep)
            if feeds is not None:
                feeds.discard(svc)
                if not feeds:
                    del self._feeds[dep]
        for ep in old:
            self._services_of.get(ep.pod, set()).discard(svc)
        if eps is None:
            self._serving.pop(svc, None)
        else:
            self._serving[svc] = eps
            for ep in eps:
                self._feeds.setdefault(ep.deployment, set()).add(svc)
                self._services_of.setdefault(ep.pod, set()).add(svc)
                if ep.pod not in self.pods:
                    self.pods[ep.pod] = _PodTotals(ep, now)
                    self._pods_of.setdefault(ep.deployment, set()).add(ep.pod)
        self.version += 1
        self.settled_at = max(self.settled_at, now + WINDOW, *(
            _steady_from(ep, now) + WINDOW for ep in eps or ()))
        serving = {ep.pod: ep for ep in eps or ()}
        for dep in deployments:
            if dep:
                until = max([now + WINDOW, *(_steady_from(ep, now) + WINDOW
                                             for ep in eps or () if ep.deployment == dep)])
                self._dep_until[dep] = max(self._dep_until.get(dep, 0.0), until)
        for pod in touched:
            tot = self.pods.get(pod)
            ep = serving.get(pod) or (tot.ep if tot is not None else None)
            until = now if ep is None else _steady_from(ep, now)
            self._pod_until[pod] = max(self._pod_until.get(pod, 0.0), until)
            if tot is not None:
                rate = sum(self.base_rps(s) / len(self._serving[s])
                           for s in self._services_of.get(pod, ()) if self._serving.get(s))
                tot.set(serving.get(pod, tot.ep), rate, now)
        for dep in deployments:
            self._new_segment(dep, now)

    def _new_segment(self, dep: str, now: float) -> None:
        shares = tuple((ep, self.base_rps(svc) / len(self._serving[svc]))
                       for svc in sorted(self._feeds.get(dep, ()))
                       for ep in self._serving[svc] if ep.deployment == dep)
        segments = self._segments.setdefault(dep, [])
        if segments and segments[-1][0] >= now:
            segments.pop()  # two changes at one instant: the last one stands
        segments.append((now, shares))
        # Only what overlaps the window (from any later time) is kept.
        while len(segments) > 1 and segments[1][0] <= now - WINDOW:
            segments.pop(0)
        self._window.pop(dep, None)

    def moving(self, since: float) -> tuple[set[str], set[str]]:
        """(Deployments, pods) whose numbers may differ at any time after `since` from
        what they were at `since`: a window that still slides over a change, a pod whose
        rate changed at or after `since` or whose behaviour changes later (a late
        regression). What settled KEEP_MOVING before `since` is forgotten."""
        for until in (self._dep_until, self._pod_until):
            for key in [k for k, t in until.items() if t < since - KEEP_MOVING]:
                del until[key]
        return ({d for d, t in self._dep_until.items() if t >= since},
                {p for p, t in self._pod_until.items() if t >= since})

    def _growing(self, dep: str, segment: _Segment, seconds: float, length: float
                 ) -> dict[str, Any] | None:
        """The window of a Deployment over `seconds` of its last segment (the window
        lies in it, or began before it with nothing served earlier), whose endpoints
        behave the same all along: its requests and errors are linear in `seconds`
        and its latency mix stays, so its numbers are one second's, scaled (a fleet
        that just rolled out slides its windows over its start for a minute; this
        keeps each sample cheap). None when an endpoint's behaviour changes within
        the segment (a late regression): the window is integrated then."""
        known = self._growth.get(dep)
        if known is None or known[0] is not segment:
            start, shares = segment
            rates: dict[str, Any] | None = None
            if all(_steady_from(ep, start) <= start for ep, _ in shares):
                rates = window.one_second([(ep.version, ep.image, share, answering(
                    ep.profile, ep.ready_for(start))) for ep, share in shares])
            known = self._growth[dep] = (segment, rates)
        rates = known[1]
        if rates is None:
            return None
        versions = {v: {**window.scaled(r, seconds, length), "image": r["image"]}
                    for v, r in rates["versions"].items()}
        return {**window.scaled(rates, seconds, length), "versions": versions}

    def filling(self, now: float, deployments: list[str]
                ) -> dict[str, tuple[object, float, tuple[float, float, float] | None]]:
        """Of these Deployments, those whose window is still filling (it began before
        its one segment) or lies in it, see _growing: only its request rate moves, so a
        reader that holds the rest of the window's numbers for the same token (the
        segment's numbers per second) needs this rate only: {deployment: (token, rps,
        ramp)}, the rate exactly as metrics() gives it; while the window still fills,
        ramp = (rate per second, from, now) gives it again (metricsramp.py), else
        None (the window lies in its segment: its numbers no longer move)."""
        now = self._at(now)
        length = float(min(WINDOW, max(1.0, now)))
        start = now - length
        out: dict[str, tuple[object, float, tuple[float, float, float] | None]] = {}
        for dep in deployments:
            segments = self._segments.get(dep)
            known = self._growth.get(dep)
            if not segments or known is None or known[1] is None \
                    or known[0] is not segments[-1]:
                continue
            last = segments[-1][0]
            if last <= start or (last <= now and not any(sh for _, sh in segments[:-1])):
                rate = known[1]["rps"]
                out[dep] = (known[1], window.ramp(rate, last, now),
                            (rate, last, now) if last > start else None)
        return out

    def error_candidates(self, min_rate: float = 0.0) -> set[str]:
        """Deployments with a serving pod whose image fails more than `min_rate` of
        its requests (at some point of its life)."""
        found = self._candidates.get(min_rate)
        if found is None:
            found = self._candidates[min_rate] = {
                ep.deployment for eps in self._serving.values() for ep in eps
                if ep.deployment and behaviour.worst_error_rate(ep.profile) > min_rate}
        return set(found)

    def base_rps(self, service: str) -> float:
        if service not in self._base:
            self._base[service] = round(5.0 + self.rng.random() * 45.0, 1)
        return self._base[service]

    def forget_pod(self, pod: str) -> None:
        tot = self.pods.pop(pod, None)
        self._services_of.pop(pod, None)
        if tot is not None:
            pods = self._pods_of.get(tot.deployment)
            if pods is not None:
                pods.discard(pod)
                if not pods:
                    del self._pods_of[tot.deployment]

    def metrics(self, now: float, deployments: list[str],
                pods_of: set[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per deployment ("namespace/name"): rps, error rate, p50/p95/p99 latency over
        the window, with a per-version breakdown and per-pod totals since start (of
        every pod, or of the pods named in `pods_of`)."""
        now = self._at(now)
        length = float(min(WINDOW, max(1.0, now)))
        out: dict[str, dict[str, Any]] = {}
        for dep in deployments:
            ns, _, name = dep.partition("/")
            summary = self._summary(dep, now - length, now, length)
            pods = {pod.partition("/")[2]: self.pods[pod].at(now)
                    for pod in sorted(self._pods_of.get(dep, ()))
                    if pods_of is None or pod in pods_of}
            out[dep] = {"namespace": ns, "name": name, **summary, "window_seconds": length,
                        "versions": {v: dict(d) for v, d in summary["versions"].items()},
                        "pods": pods}
        return out

    def _summary(self, dep: str, start: float, now: float, length: float) -> dict[str, Any]:
        segments = self._segments.get(dep, [])
        cached = self._window.get(dep)
        if cached is not None and start >= cached[0] and length == WINDOW:
            return cached[1]
        self.computed += 1
        # A window inside its last segment, or growing over its start (the segments
        # before its endpoints came, a Service without ready pods, add nothing).
        last = segments[-1][0] if segments else math.inf
        if last <= start or (last <= now and not any(sh for _, sh in segments[:-1])):
            grown = self._growing(dep, segments[-1], now - max(last, start), length)
            if grown is not None:
                if last <= start and length == WINDOW:
                    self._window[dep] = (last, grown)  # as below: steady from here on
                return grown
        versions: dict[str, dict[str, Any]] = {}
        parts: dict[str, list[float]] = {}  # version -> [requests, errors]
        medians: dict[str, dict[float, float]] = {}  # version -> median -> weight
        images: dict[str, str] = {}
        steady = start
        for i, (seg_start, shares) in enumerate(segments):
            seg_end = segments[i + 1][0] if i + 1 < len(segments) else math.inf
            a, b = max(seg_start, start), min(seg_end, now)
            if i == len(segments) - 1:
                steady = max(steady, seg_start)
            if b <= a:
                continue
            count: dict[str, int] = {}
            for ep, _ in shares:
                count[ep.version] = count.get(ep.version, 0) + 1
            for ep, share in shares:
                acc = parts.setdefault(ep.version, [0.0, 0.0])
                weights = medians.setdefault(ep.version, {})
                images[ep.version] = ep.image
                for seconds, how in _pieces(ep, a, b):
                    acc[0] += share * seconds
                    acc[1] += share * seconds * how.error_rate
                    # Each version is sampled every second it serves, its pods in turn.
                    weights[how.latency_ms] = (weights.get(how.latency_ms, 0.0)
                                               + seconds / count[ep.version])
                if i == len(segments) - 1:
                    steady = max(steady, _steady_from(ep, seg_start))
        for version in sorted(parts):
            req, err = parts[version]
            versions[version] = {**window.summary(req, err, medians[version], length),
                                 "image": images[version]}
        everything: dict[float, float] = {}
        for weights in medians.values():
            for median, weight in weights.items():
                everything[median] = everything.get(median, 0.0) + weight
        summary = {**window.summary(sum(p[0] for p in parts.values()),
                              sum(p[1] for p in parts.values()), everything, length),
                   "versions": versions}
        if start >= steady and length == WINDOW:
            # The window lies in one unchanging segment: any later one gives the same
            # numbers, until the endpoints change (_new_segment forgets this).
            self._window[dep] = (steady, summary)
        return summary
