"""Cluster backends behind one protocol: the simulated cluster (default) and kind."""

from sandbox.cluster.base import (
    CLUSTER_SCOPED,
    ApplyResult,
    ClusterBackend,
    ClusterError,
    ClusterEvent,
    ObjRef,
)
from sandbox.cluster.sim import SimCluster

__all__ = ["CLUSTER_SCOPED", "ApplyResult", "ClusterBackend", "ClusterError", "ClusterEvent",
           "ObjRef", "SimCluster"]
