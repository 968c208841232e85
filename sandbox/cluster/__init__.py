"""Cluster backends behind one protocol: the simulated cluster (default) and kind.

The simulated cluster is imported on first use (`from sandbox.cluster import
SimCluster` still works): commands that only read the workspace stay quick to start.
"""

from typing import Any

from sandbox.cluster.base import (
    CLUSTER_SCOPED,
    ApplyResult,
    ClusterBackend,
    ClusterError,
    ClusterEvent,
    ObjRef,
)

__all__ = ["CLUSTER_SCOPED", "ApplyResult", "ClusterBackend", "ClusterError", "ClusterEvent",
           "ObjRef", "SimCluster"]


def __getattr__(name: str) -> Any:
    if name == "SimCluster":
        from sandbox.cluster.sim import SimCluster

        return SimCluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
