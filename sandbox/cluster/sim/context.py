"""State the simulated controllers share while the cluster moves through time."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.cluster.base import ClusterEvent, ObjRef
from sandbox.cluster.sim.store import Store, Timers, rfc3339
from sandbox.limits import DEFAULT_MAX_PODS
from sandbox.registry import ImageProfile

# Where the events say they come from, as in `kubectl describe`'s "From" column.
SOURCES = {"Pod": "kubelet", "ReplicaSet": "replicaset-controller",
           "Deployment": "deployment-controller", "Service": "endpoint-controller",
           "StatefulSet": "statefulset-controller", "DaemonSet": "daemonset-controller",
           "Job": "job-controller", "CronJob": "cronjob-controller",
           "HorizontalPodAutoscaler": "horizontal-pod-autoscaler",
           "PersistentVolumeClaim": "persistentvolume-controller"}


@dataclass
class Ctx:
    store: Store
    timers: Timers
    rng: random.Random
    resolve_image: Callable[[str], ImageProfile | None]
    # The simulated instant being processed; never ahead of the clock.
    now: float = 0.0
    events: list[ClusterEvent] = field(default_factory=list)  # not yet returned by step()
    history: deque[ClusterEvent] = field(default_factory=lambda: deque(maxlen=5000))
    dirty_deploy: set[ObjRef] = field(default_factory=set)
    dirty_rs: set[ObjRef] = field(default_factory=set)
    # Pods whose readiness or existence changed: their Services' endpoints need a look.
    dirty_pods: set[ObjRef] = field(default_factory=set)
    dirty_svc: set[ObjRef] = field(default_factory=set)
    # The cluster's pod capacity, and the ReplicaSets waiting for room under it.
    max_pods: int = DEFAULT_MAX_PODS
    starved: set[ObjRef] = field(default_factory=set)
    emitted: int = 0  # events ever emitted: the journal's sequence for the history
    # The controllers of workloads.py (StatefulSet, DaemonSet, Job, CronJob, HPA, PVC)
    # with something to look at, and their own state per object (persisted with it).
    dirty_work: set[ObjRef] = field(default_factory=set)
    ctl: dict[ObjRef, dict[str, Any]] = field(default_factory=dict)
    # Pods per node, kept by the scheduler so that placing a pod does not count them all.
    node_pods: dict[str, int] = field(default_factory=dict)
    # Controllers whose pods could not be created (a missing ServiceAccount), by
    # namespace: they look again when that namespace gets a ServiceAccount.
    blocked: dict[str, set[ObjRef]] = field(default_factory=dict)

    def emit(self, reason: str, ref: ObjRef, message: str, type: str = "Normal",
             **data: Any) -> None:
        data.setdefault("source", SOURCES.get(ref.kind, "sim"))
        event = ClusterEvent(reason, ref, message, type, self.now, data)
        self.events.append(event)
        self.emitted += 1
        if len(self.events) > 50_000:
            del self.events[:10_000]  # nobody is stepping: keep memory bounded
        self.history.append(event)

    def stamp(self) -> str:
        return rfc3339(self.now)
