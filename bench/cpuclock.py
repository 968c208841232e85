"""What a timed stretch cost, told apart from what the machine's load added to it.

On a shared machine a stretch of pure computation can take several times its CPU time
in wall time: the process sits in the run queue while others use the cores. Linux
counts that wait per task (/proc/self/schedstat, the scheduler's run_delay), so a bench
can print wall = CPU + waiting for a CPU + anything else (sleeps, I/O, child
processes). A large "anything else" is a wait in the code; a large run-queue wait is
the neighbours. Children's CPU (git) is counted apart from the process's own.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass


def _run_delay() -> float:
    """Seconds this process's threads waited in a run queue, 0 where unknown."""
    total = 0.0
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Span:
    wall: float
    cpu: float  # this process, all threads
    children_cpu: float  # processes it started and waited for (git)
    queued: float  # ready to run, waiting for a core

    @property
    def other(self) -> float:
        """Wall time that is neither computing nor queueing: sleeps, I/O, waiting on
        children."""
        return max(0.0, self.wall - self.cpu - self.queued)

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}wall_s": self.wall, f"{prefix}cpu_s": self.cpu,
                f"{prefix}children_cpu_s": self.children_cpu,
                f"{prefix}queued_s": self.queued, f"{prefix}other_s": self.other}


class Stopwatch:
    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._children = _children_cpu()
        self._queued = _run_delay()

    def span(self) -> Span:
        return Span(time.perf_counter() - self._wall, time.process_time() - self._cpu,
                    _children_cpu() - self._children, _run_delay() - self._queued)
