"""What a metric sample fills in without computing a row again (issue 10: an idle engine
is idle, also in the first minute of a fleet): the rate of a pod steady since its first
sample, and the rate of a Deployment whose traffic window fills over one segment.
RowBuilder (metricsrows.py) holds the rows; these are its shortcuts, each checked
against a full computation in tests/test_idle_metrics.py."""

from __future__ import annotations

from typing import Any

from .metricsmodel import Sample


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

    def _fill_rate(self, key: str) -> Sample:
        """The pod's row, unchanged but for its rate: steady since its first sample,
        which read no rate yet (the same numbers _pod_values would compute)."""
        rps, error_rate = self._predicted.pop(key)
        self._unsettled.discard(key)
        self.filled += 1
        old = self.pod_rows[key]
        values = {**old.values, "rps": round(rps, 2),
                  "error_rate": round(error_rate, 4) if rps else 0.0}
        row = self.pod_rows[key] = Sample(old.kind, old.namespace, old.name, old.workload,
                                          values)
        self._pods_of.setdefault(old.workload, {})[key] = row
        return row

    # -- windows that fill --------------------------------------------------------
    def _still_filling(self, deps: set[str], dirty: set[str]
                       ) -> dict[str, tuple[object, float]]:
        """The Deployments whose window fills as it did at their last computed row
        (the same token) and that nothing else touched: only their rate moved."""
        filling = getattr(self.cluster, "filling", None)
        ours = [d for d in deps if d in self._filling and f"Deployment/{d}" not in dirty]
        if not ours or not callable(filling):
            return {}
        got: dict[str, tuple[object, float]] = filling(ours)
        return {d: g for d, g in got.items() if g[0] is self._filling[d]}

    def _note_filling(self, deps: set[str]) -> None:
        """After computing these Deployments' rows: the token of those whose window
        fills, when the cluster's filling rate reads as the row (the next samples then
        move their rate only)."""
        filling = getattr(self.cluster, "filling", None)
        got: dict[str, tuple[object, float]] = filling(sorted(deps)) if callable(
            filling) and deps else {}
        for d in deps:
            row = self.workload_rows.get(f"Deployment/{d}")
            token = got.get(d)
            if row is not None and token is not None and token[1] == row.values.get("rps"):
                self._filling[d] = token[0]
            else:
                self._filling.pop(d, None)

    def _rate_moved(self, key: str, rps: float) -> Sample:
        old = self.workload_rows[key]
        row = self.workload_rows[key] = Sample(old.kind, old.namespace, old.name,
                                               old.workload, {**old.values, "rps": rps})
        self.rates_moved += 1
        return row
