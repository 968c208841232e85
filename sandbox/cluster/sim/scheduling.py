"""Nodes and the scheduler.

The simulated cluster has a few nodes (setting `nodes`, 3 by default), kept as Node
objects shaped like a kind cluster's, so `cluster get nodes` reads like `kubectl get
nodes`. The scheduler puts each pod on the node with the fewest pods (ties by name, so
a seed gives the same placement every time) once its PersistentVolumeClaims allow it,
with the scheduler's own FailedScheduling text when they do not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.pods import PodSim

NODE_PREFIX = "sim-node-"
CAPACITY = {"cpu": "4", "ephemeral-storage": "102626232Ki", "hugepages-1Gi": "0",
            "hugepages-2Mi": "0", "memory": "8039512Ki", "pods": "110"}


def node_names(count: int) -> list[str]:
    return [f"{NODE_PREFIX}{i}" for i in range(1, count + 1)]


def node_object(name: str, index: int, kubernetes_version: str, stamp: str) -> dict[str, Any]:
    """A Ready node as a kind worker reports itself."""
    ip = f"172.18.0.{index + 2}"
    version = f"v{kubernetes_version.lstrip('v')}"
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"],
                 "providerID": f"kind://docker/sandbox/{name}"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name}],
            "capacity": dict(CAPACITY), "allocatable": dict(CAPACITY),
            "conditions": [{"type": t, "status": s, "reason": r, "message": m,
                            "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
                           for t, s, r, m in conditions],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": f"sim-boot-{index}",
                "containerRuntimeVersion": "containerd://1.7.15",
                "kernelVersion": "6.5.0-sim", "kubeProxyVersion": version,
                "kubeletVersion": version, "machineID": f"sim-machine-{index}",
                "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": f"sim-uuid-{index}"},
        },
    }


def claim_names(pod: dict[str, Any]) -> list[str]:
    return [str(v["persistentVolumeClaim"].get("claimName", ""))
            for v in pod["spec"].get("volumes") or []
            if isinstance(v.get("persistentVolumeClaim"), dict)]


def unschedulable(nodes: int, why: str) -> str:
    """The scheduler's message when no node fits, for a reason every node shares."""
    return (f"0/{nodes} nodes are available: {why}. preemption: 0/{nodes} nodes are "
            f"available: {nodes} Preemption is not helpful for scheduling.")


class Scheduler:
    def __init__(self, ctx: Ctx, claim_check: Callable[[ObjRef, str], tuple[bool, str]]
                 ) -> None:
        self.ctx = ctx
        # (claim, node) -> (ready, why not): binds a WaitForFirstConsumer claim on the way.
        self.claim_check = claim_check

    def nodes(self) -> list[str]:
        return sorted(r.name for r, n in self.ctx.store.of_kind("Node").items() if _ready(n))

    def host_ip(self, node: str) -> str:
        obj = self.ctx.store.get(ObjRef("Node", node))
        for addr in ((obj or {}).get("status") or {}).get("addresses") or []:
            if addr.get("type") == "InternalIP":
                return str(addr.get("address"))
        return "172.18.0.2"

    def place(self, ps: PodSim, pod: dict[str, Any]) -> tuple[str | None, str]:
        nodes = self.nodes()
        if not nodes:
            return None, "no nodes available to schedule pods"
        wanted = str(pod["spec"].get("nodeName") or "")
        if wanted:
            # A pod bound to a node (a DaemonSet's) skips the scheduler.
            return self._take(wanted), ""
        node = min(nodes, key=lambda n: (self.ctx.node_pods.get(n, 0), n))
        for claim in claim_names(pod):
            ready, why = self.claim_check(ObjRef("PersistentVolumeClaim", claim,
                                                 ps.ref.namespace), node)
            if not ready:
                return None, unschedulable(len(nodes), why) if why else ""
        return self._take(node), ""

    def _take(self, node: str) -> str:
        self.ctx.node_pods[node] = self.ctx.node_pods.get(node, 0) + 1
        return node

    def release(self, node: str) -> None:
        if self.ctx.node_pods.get(node, 0) > 0:
            self.ctx.node_pods[node] -= 1

    def recount(self, pods: dict[ObjRef, PodSim]) -> None:
        """After a restore: the per-node counts follow from the pods."""
        self.ctx.node_pods = {}
        for ps in pods.values():
            if ps.node:
                self._take(ps.node)


def _ready(node: dict[str, Any]) -> bool:
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])
