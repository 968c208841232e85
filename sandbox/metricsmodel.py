"""What a metric sample is made of: its rows (one per workload and pod), and the
quantities of a pod's spec the samples read (sandbox/metrics.py, metricsrows.py)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .metricstore import FIELDS

__all__ = ["FIELDS", "Sample", "SampleRows", "cpu_millis", "memory_mib", "workload_key"]

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
IDLE_CPU_M, CPU_M_PER_RPS = 2.0, 1.5  # the model of a pod's CPU
DEFAULT_MEMORY_MIB = 32.0  # a pod without a memory request


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


def resources(pod: dict[str, Any], which: str, parse: Callable[[Any], float | None],
               resource: str) -> float | None:
    total, seen = 0.0, False
    for c in (pod.get("spec") or {}).get("containers") or []:
        value = parse(((c.get("resources") or {}).get(which) or {}).get(resource))
        if value is not None:
            total, seen = total + value, True
    return total if seen else None


def jitter(*parts: object) -> float:
    """A deterministic number in [-1, 1) from its inputs: the same run samples the same."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 2**31 - 1.0


@dataclass
class Sample:
    kind: str
    namespace: str
    name: str
    workload: str
    values: dict[str, float | None]
    # Numbers that move with time alone, kept by the store as what moves them
    # (metricstore.py), so the samples that follow write nothing for this target:
    # a filling window's request rate (per second, from: metricsramp.py); a pod's
    # first row (which reads no rate) the (rps, error rate) it reads from the next
    # sample on, as long as it serves at that rate (metricsfill.py fills it in).
    ramp: tuple[float, float] | None = None
    then: tuple[float, float] | None = None

    def stored(self) -> tuple[tuple[Any, ...], bool]:
        """(workload, FIELDS, ramp rate, ramp from) as the store keeps them, and whether
        the row's own sample reads no rate (a pod's first row, with `then`)."""
        v = self.values
        if self.ramp is not None:
            return (self.workload, None, *map(v.get, FIELDS[1:]), *self.ramp), False
        if self.then is not None:
            return (self.workload, *self.then, *map(v.get, FIELDS[2:]), None, None), True
        return (self.workload, *map(v.get, FIELDS), None, None), False


class SampleRows(list[Sample]):
    """A sample's rows, with its pod rows by workload: a reader that judges a few
    workloads (the analysis of a change) looks at theirs only."""

    def __init__(self, rows: Iterable[Sample], pods_of: dict[str, dict[str, Sample]],
                 named: dict[str, set[str]]) -> None:
        super().__init__(rows)
        self._pods_of = pods_of
        self._named = named

    def pods(self, workload: str) -> list[Sample]:
        return list(self._pods_of.get(workload, {}).values())

    def workloads_named(self, name: str) -> set[str]:
        return set(self._named.get(name, ()))
