"""The cyclic garbage collector held off during one burst of simulation work.

An apply or a step of a big cluster allocates hundreds of thousands of containers that
all survive (the stored objects, their copies, index entries). The collector's young
passes, every 700 allocations, walk them again and again and promote them, and its
full passes walk the whole heap: at 3,000 services that was a third of the CPU, and it
grew faster than the cluster. The objects are JSON-like data without reference cycles,
so nothing is lost by collecting once, after the burst, instead of during it; and
that one pass moves the survivors straight to the oldest generation, whose full passes
Python already spaces out in proportion to the heap.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Net container allocations in a burst above which its survivors are swept at once.
SWEEP_AFTER = 10_000
_lock = threading.Lock()
_depth = 0  # nested or concurrent bursts (several clusters in one process, threads)
_resume = False  # whether the collector was on when the first burst began


@contextmanager
def paused() -> Iterator[None]:
    """Run the body with the collector off; it comes back on (if it was on) when the
    last burst in the process ends."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                if gc.get_count()[0] > SWEEP_AFTER:
                    # One pass over what the burst left, straight into the oldest
                    # generation, instead of a young pass now and a middle one later.
                    gc.collect(1)
                gc.enable()


_settled = False


def settle_once() -> bool:
    """Once per process, when the engine first sees its app converged: one full pass,
    then what exists moves to the collector's permanent generation (gc.freeze), so the
    later full passes, which stop every thread, walk only what came since. At 3,000
    services such a pass took over a second and landed at any moment of the first
    idle minutes (bench ladder LADDER_IDLE_THREADS). The cluster's objects have no
    reference cycles, so reference counting still frees them when they are replaced;
    the TUI does the same when it first shows the cluster (tui/app.py)."""
    global _settled
    with _lock:
        if _settled:
            return False
        _settled = True
    gc.collect()
    gc.freeze()
    return True

