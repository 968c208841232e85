"""The built-in simulated cluster: Kubernetes behaviour a learner would notice, in-process."""

from sandbox.cluster.sim.cluster import SimCluster, event_dict

__all__ = ["SimCluster", "event_dict"]
