"""What a metric sample fills in without computing a row again (issue 10: an idle engine
is idle, also in the first minute of a fleet): the rate of a pod steady since its first
sample, and the rate of a Deployment whose traffic window fills over one segment.
RowBuilder (metricsrows.py) holds the rows; these are its shortcuts, each checked
against a full computation in tests/test_idle_metrics.py."""

from __future__ import annotations

from typing import Any

from .metricsmodel import Sample


def rated(rps: float, error_rate: float) -> tuple[float, float]:
    """A pod's (rps, error rate) as its row shows a steady rate (_pod_values)."""
    return round(rps, 2), round(error_rate, 4) if rps else 0.0


class FillIns:
    """Shortcuts of RowBuilder for rows of which one number moves."""

    cluster: Any
    pod_rows: dict[str, Sample]
    workload_rows: dict[str, Sample]
    _pods_of: dict[str, dict[str, Sample]]
    _unsettled: set[str]
    # pod -> (rate, error rate) steady since its first sample, which read no rate yet
    _predicted: dict[str, tuple[float, float]]
    _filling: dict[str, object]  # Deployment -> its filling window's token
    filled: int
    rates_moved: int
    at: float | None

    def _fill_rate(self, key: str) -> tuple[Sample, bool]:
        """The pod's row, unchanged but for its rate: steady since its first sample,
        which read no rate yet (the same numbers _pod_values would compute); and
        whether the store has it already (its first row's `then`)."""
        rps, error_rate = rated(*self._predicted.pop(key))
        self._unsettled.discard(key)
        self.filled += 1
        old = self.pod_rows[key]
        # The store has these numbers since the first row (its `then`): nothing to write.
        values = {**old.values, "rps": rps, "error_rate": error_rate}
        row = self.pod_rows[key] = Sample(old.kind, old.namespace, old.name, old.workload,
                                          values)
        self._pods_of.setdefault(old.workload, {})[key] = row
        return row, old.then == (rps, error_rate)

    # -- windows that fill --------------------------------------------------------
    def _still_filling(self, deps: set[str], dirty: set[str]) -> dict[str, Filling]:
        """The Deployments whose window fills as it did at their last computed row
        (the same token) and that nothing else touched: only their rate moved."""
        filling = getattr(self.cluster, "filling", None)
        ours = [d for d in deps if d in self._filling and f"Deployment/{d}" not in dirty]
        if not ours or not callable(filling):
            return {}
        got: dict[str, Filling] = filling(ours)
        self._note_at(got)
        return {d: g for d, g in got.items() if g[0] is self._filling[d]}

    def _note_filling(self, deps: set[str]) -> None:
        """After computing these Deployments' rows: the token of those whose window
        fills, when the cluster's filling rate reads as the row (the next samples then
        move their rate only); while it fills, the row is stored as its ramp."""
        filling = getattr(self.cluster, "filling", None)
        got: dict[str, Filling] = filling(sorted(deps)) if callable(filling) and deps else {}
        self._note_at(got)
        for d in deps:
            row = self.workload_rows.get(f"Deployment/{d}")
            token = got.get(d)
            if row is not None and token is not None and token[1] == row.values.get("rps"):
                self._filling[d] = token[0]
                # A row made by this sample (nothing else holds it yet).
                row.ramp = _ramp(token)
            else:
                self._filling.pop(d, None)

    def _note_at(self, got: dict[str, Filling]) -> None:
        """The traffic's time of this sample, which a stored ramp is read at."""
        for _token, _rps, ramp in got.values():
            if ramp is not None:
                self.at = ramp[2]
                return

    def _rate_moved(self, key: str, moved: Filling) -> tuple[Sample, bool]:
        """The Deployment's row with its filling window's rate now; and whether the
        store has it already (the same ramp: it reads this rate at this sample)."""
        old = self.workload_rows[key]
        ramp = _ramp(moved)
        row = self.workload_rows[key] = Sample(old.kind, old.namespace, old.name,
                                               old.workload, {**old.values, "rps": moved[1]},
                                               ramp=ramp)
        self.rates_moved += 1
        return row, ramp is not None and ramp == old.ramp


# What the cluster says of a filling window (Traffic.filling): its token, its rate now,
# and while it fills (rate per second, from, now).
Filling = tuple[object, float, "tuple[float, float, float] | None"]


def _ramp(filling: Filling) -> tuple[float, float] | None:
    ramp = filling[2]
    return None if ramp is None else (ramp[0], ramp[1])
