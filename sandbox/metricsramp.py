"""The request rate of a filling traffic window, in one place for the simulated
cluster's traffic (sim/traffic.py computes it) and the metric store (metricstore.py
computes it again at read time, in SQL, for the samples of a stored ramp): the two must
give the same number to the last bit, so both call this function. No imports: the
store registers it on every connection it reads with."""

from __future__ import annotations

WINDOW = 60  # seconds of history behind rps, error rate and latency percentiles


def ramp(rate: float, since: float, at: float) -> float:
    """The request rate at `at` of a window that fills at `rate` requests per second
    from `since` (its one segment's start): exactly what trafficwindow.scaled() gives
    a growing window (Traffic._growing)."""
    length = float(min(WINDOW, max(1.0, at)))
    seconds = at - max(since, at - length)
    return round(rate * seconds / length, 2)
