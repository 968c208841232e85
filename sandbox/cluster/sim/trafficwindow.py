"""The numbers of a traffic window (traffic.py): request rate, errors and latency
percentiles of a mixture of lognormal latencies, from what the window integrated or
from one second of a window that grows linearly."""

from __future__ import annotations

import math
from typing import Any

from sandbox.metricsramp import WINDOW, ramp

__all__ = ["WINDOW", "one_second", "percentiles", "quantile", "ramp", "scaled", "summary"]

SIGMA = 0.35  # spread of a request's latency around its median (lognormal)
Z = {"p50_ms": 0.0, "p95_ms": 1.6448536269514722, "p99_ms": 2.3263478740408408}


def one_second(answers: list[tuple[str, str, float, Any]]) -> dict[str, Any]:
    """A window's numbers per second of traffic, from its endpoints' (version, image,
    requests per second, how it answers: error_rate and latency_ms)."""
    count: dict[str, int] = {}
    for version, *_ in answers:
        count[version] = count.get(version, 0) + 1
    parts: dict[str, list[float]] = {}
    medians: dict[str, dict[float, float]] = {}
    images: dict[str, str] = {}
    for version, image, share, how in answers:
        acc = parts.setdefault(version, [0.0, 0.0])
        acc[0] += share
        acc[1] += share * how.error_rate
        # Each version is sampled every second it serves, its pods in turn.
        weights = medians.setdefault(version, {})
        weights[how.latency_ms] = weights.get(how.latency_ms, 0.0) + 1 / count[version]
        images[version] = image
    everything: dict[float, float] = {}
    for weights in medians.values():
        for median, weight in weights.items():
            everything[median] = everything.get(median, 0.0) + weight
    return {**_rates(sum(p[0] for p in parts.values()), sum(p[1] for p in parts.values()),
                     everything),
            "versions": {v: {**_rates(*parts[v], medians[v]), "image": images[v]}
                         for v in sorted(parts)}}


# The percentiles of a latency mix (median -> weight), by the mix: a fleet's windows
# share a few mixes (one per image profile and pod count), and a fleet that just started
# computes thousands of windows in one metric sample.
_PERCENTILES: dict[tuple[tuple[float, float], ...], dict[str, float]] = {}


def percentiles(weights: dict[float, float]) -> dict[str, float]:
    """p50/p95/p99 of the mix, rounded as samples show them (shared: do not modify)."""
    key = tuple(weights.items())
    got = _PERCENTILES.get(key)
    if got is None:
        if len(_PERCENTILES) > 4096:
            _PERCENTILES.clear()
        got = _PERCENTILES[key] = {f: round(quantile(weights, z), 1) for f, z in Z.items()}
    return got


def _rates(req: float, err: float, weights: dict[float, float]) -> dict[str, Any]:
    latency = percentiles(weights)
    return {"rps": req, "eps": err, "latency": latency,
            "error_rate": round(err / req, 4) if req > 0 else 0.0}


def scaled(rates: dict[str, Any], seconds: float, length: float) -> dict[str, Any]:
    """A window's numbers from its numbers per second of traffic (see Traffic._growing)."""
    req, err = rates["rps"] * seconds, rates["eps"] * seconds
    return {"rps": round(req / length, 2), "requests": int(round(req)),
            "errors": int(round(err)), "error_rate": rates["error_rate"],
            **rates["latency"]}


def summary(req: float, err: float, medians: dict[float, float],
             window: float) -> dict[str, Any]:
    out: dict[str, Any] = {"rps": round(req / window, 2), "requests": int(round(req)),
                           "errors": int(round(err)),
                           "error_rate": round(err / req, 4) if req > 0 else 0.0}
    out.update(percentiles(medians))
    return out


def quantile(medians: dict[float, float], z: float) -> float:
    """The quantile at standard score z of a mixture of lognormal latencies (median ->
    weight), all with spread SIGMA."""
    weights = {m: w for m, w in medians.items() if w > 0 and m > 0}
    if not weights:
        return 0.0
    if len(weights) == 1:
        return next(iter(weights)) * math.exp(SIGMA * z)
    total = sum(weights.values())
    target = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    logs = {math.log(m): w / total for m, w in weights.items()}
    lo, hi = min(logs) + SIGMA * (z - 1), max(logs) + SIGMA * (z + 1)
    for _ in range(60):  # bisection on log latency: the mixture's CDF is monotonic
        mid = (lo + hi) / 2
        cdf = sum(w * 0.5 * (1 + math.erf((mid - lm) / (SIGMA * math.sqrt(2))))
                  for lm, w in logs.items())
        lo, hi = (mid, hi) if cdf < target else (lo, mid)
    return math.exp((lo + hi) / 2)
