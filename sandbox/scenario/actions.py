"""The step vocabulary: every action a scenario can take, declared once with its
argument types (so the loader rejects a typo or a wrong type before a workspace
exists, and the README's table matches what runs) and run against the facade.
Waiting steps poll with a deadline and never sleep a fixed time: a scenario is as fast
as the pipeline it rehearses.
"""

from __future__ import annotations

from . import cluster_steps, pipeline_steps  # noqa: F401 - importing them registers the steps
from .base import (
    ACTIONS,
    COMMON,
    LAST_MERGE,
    LAST_PR,
    REF_PREFIX,
    Action,
    Arg,
    Context,
)

EXPECT_KEYS = frozenset(k for k in ACTIONS["expect"].args if k not in COMMON)

__all__ = ["ACTIONS", "EXPECT_KEYS", "LAST_MERGE", "LAST_PR", "REF_PREFIX", "Action", "Arg",
           "Context"]
