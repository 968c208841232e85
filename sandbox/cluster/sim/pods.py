"""The simulated kubelet: plays each pod's life back from its images' profiles.

A pod goes Pending -> (Scheduled) ContainerCreating -> Running -> Ready. What happens
in between comes from the registry: an image that cannot be pulled waits in
ErrImagePull / ImagePullBackOff and is retried with back-off (a later push heals it), a
crashing image restarts with back-off 10s, 20s, 40s ... 300s (CrashLoopBackOff), an
unready one runs but never passes its readiness probe. A pod that does not restart
(restartPolicy Never/OnFailure: a Job's) runs to completion for the profile's
run_seconds and ends Succeeded (or Failed when it crashes under Never).

What the pod needs from the API is checked where Kubernetes checks it: the scheduler
(scheduling.py) places it on a node and binds its claims, the volume manager mounts
its ConfigMap and Secret volumes (FailedMount until they exist), and the container
runtime resolves its env references (CreateContainerConfigError).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim import behaviour
from sandbox.cluster.sim.admission import missing_config, missing_volumes
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.oom import MemoryKills
from sandbox.cluster.sim.podstatus import render_status
from sandbox.cluster.sim.store import owner_uid
from sandbox.registry import ImageProfile, PullError, parse_image

NODE = "sim-node-1"  # where pods go when no scheduler is attached
HOST_IP = "172.18.0.2"
MOUNT_RETRY_START = 0.5  # the volume manager's exponential back-off, as in Kubernetes
MOUNT_RETRY_MAX = 122.0
CONFIG_RETRY_START = 10.0
BACKOFF_START = 10.0
BACKOFF_MAX = 300.0
TERMINATION_SECONDS = 1.0  # containers in the sim exit promptly on SIGTERM
CRASH_AFTER = 1.5  # a crashing container lives this long (plus jitter) after each start


@dataclass
class PodSim:
    ref: ObjRef
    created: float
    stage: str = "pending"  # pending|creating|pull_err|pull_backoff|running|crash_backoff
    gen: int = 0
    restarts: int = 0
    crash_backoff: float = 0.0
    pull_backoff: float = 0.0
    ready: bool = False
    ready_since: float | None = None
    started_at: float | None = None
    scheduled_at: float | None = None
    last_crash: tuple[float, float] | None = None  # (started, finished) of the last run
    terminating: bool = False
    profile: ImageProfile | None = None
    bad_images: list[str] = field(default_factory=list)
    deployment: str = ""  # "namespace/name" of the owning Deployment, for metrics
    version: str = ""  # image tag of the first container
    pod_ip: str = ""
    due: float | None = None  # when its pending transition fires (timer generation `gen`)
    node: str = ""
    wait_backoff: float = 0.0  # scheduling, mount or container-config retries
    waiting_on: str = ""  # why it waits there (the last FailedMount / config error text)
    finished_at: float | None = None  # when a pod that does not restart ended
    waits: bool = False  # listed in Kubelet.waiting (kept so a restore lists it again)
    oom_at: float | None = None  # when a leaking container reaches its memory limit
    last_reason: str = "Error"  # why the last run ended (lastState.terminated)
    last_exit: int = 1


class Scheduler(Protocol):
    def place(self, ps: PodSim, pod: dict[str, Any]) -> tuple[str | None, str]:
        """A node for the pod, or (None, why not) ("" when it only waits a moment)."""
        ...

    def host_ip(self, node: str) -> str: ...

    def release(self, node: str) -> None: ...


WAIT_STAGES = ("pending", "mount_wait", "config_err")
BATCH_POLICIES = ("Never", "OnFailure")


# A pod behaves as its worst container (kept under its old name for callers).
combined_profile = behaviour.combined


class Kubelet(MemoryKills):
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.pods: dict[ObjRef, PodSim] = {}
        self._ips = 0
        # Images already on the node: as with imagePullPolicy IfNotPresent, a second pod
        # of the same image starts without a pull.
        self.images: set[str] = set()
        self.scheduler: Scheduler | None = None
        # Pods waiting on something another object can give (a claim, a ConfigMap...),
        # by namespace: creating such an object in the namespace wakes them at once.
        self.waiting: dict[str, set[ObjRef]] = {}

    # -- lifecycle entry points -------------------------------------------------------

    def admit(self, pod: dict[str, Any], deployment: str = "") -> PodSim:
        ref = ObjRef.of(pod)
        containers = pod.get("spec", {}).get("containers") or [{}]
        ps = PodSim(ref, self.ctx.now, deployment=deployment,
                    version=parse_image(str(containers[0].get("image", "")))[1])
        self.pods[ref] = ps
        pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        self._later(ps, 0.02 + self.ctx.rng.random() * 0.08)
        return ps

    def terminate(self, ref: ObjRef) -> bool:
        """Graceful delete: Terminating now, gone after the grace period."""
        ps, pod = self.pods.get(ref), self.ctx.store.get(ref)
        if ps is None or pod is None or ps.terminating:
            return False
        ps.terminating = True
        self._set_ready(ps, False)
        pod["metadata"]["deletionTimestamp"] = self.ctx.stamp()
        pod["metadata"]["deletionGracePeriodSeconds"] = 30
        if ps.stage in ("running", "crash_backoff"):
            for c in pod["spec"].get("containers") or []:
                self.ctx.emit("Killing", ref, f"Stopping container {c.get('name')}")
        self._render(ps, pod)
        self.ctx.store.touch(pod)  # the API server bumps the version with deletionTimestamp
        self._later(ps, TERMINATION_SECONDS)
        self.ctx.dirty_pods.add(ref)
        return True

    def forget(self, ref: ObjRef) -> None:
        ps = self.pods.pop(ref, None)
        if ps is not None:
            self._unwait(ps)
            if ps.node and self.scheduler is not None:
                self.scheduler.release(ps.node)
        self.ctx.dirty_pods.add(ref)

    def kick(self, namespace: str) -> None:
        """Something pods may wait for appeared in the namespace: they retry now."""
        for ref in sorted(self.waiting.pop(namespace, set())):
            ps = self.pods.get(ref)
            if ps is not None:
                ps.waits = False
            if ps is not None and ps.stage in WAIT_STAGES and not ps.terminating:
                self._later(ps, 0.0)

    def _wait(self, ps: PodSim, delay: float) -> None:
        ps.waits = True
        self.waiting.setdefault(ps.ref.namespace, set()).add(ps.ref)
        self._later(ps, delay)

    def relist(self) -> None:
        """After a restore: the waiting lists follow from the pods."""
        self.waiting = {}
        for ps in self.pods.values():
            if ps.waits:
                self.waiting.setdefault(ps.ref.namespace, set()).add(ps.ref)

    def _unwait(self, ps: PodSim) -> None:
        ps.waits = False
        waiting = self.waiting.get(ps.ref.namespace)
        if waiting is not None:
            waiting.discard(ps.ref)

    def fire(self, ref: ObjRef, gen: int) -> ObjRef | None:
        """Run a due transition. Returns the pod's owner ReplicaSet when the pod vanished
        or changed in a way its controllers care about."""
        ps, pod = self.pods.get(ref), self.ctx.store.get(ref)
        if ps is None or pod is None or gen != ps.gen:
            return None
        ps.due = None  # fired; the step may schedule the next one
        self._unwait(ps)
        if ps.terminating:
            self.ctx.store.remove(ref)
            self.forget(ref)
            return self._owner(pod)
        step = getattr(self, f"_on_{ps.stage}")
        changed: bool = step(ps, pod)
        self._render(ps, pod)
        self.ctx.store.touch(pod)
        return self._owner(pod) if changed else None

    # -- transitions ------------------------------------------------------------------

    def _on_pending(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        ctx = self.ctx
        node, problem = (self.scheduler.place(ps, pod) if self.scheduler is not None
                         else (NODE, ""))
        if node is None:
            if problem:
                ctx.emit("FailedScheduling", ps.ref, problem, "Warning",
                         source="default-scheduler")
                pod["status"]["conditions"] = [{
                    "type": "PodScheduled", "status": "False", "lastProbeTime": None,
                    "lastTransitionTime": ctx.stamp(), "reason": "Unschedulable",
                    "message": problem}]
                ps.wait_backoff = min(60.0, ps.wait_backoff * 2 or 1.0)
            self._wait(ps, ps.wait_backoff if problem else 0.5)
            return False
        ps.wait_backoff = 0.0
        ps.node = node
        ps.scheduled_at = ctx.now
        self._ips += 1
        ps.pod_ip = f"10.244.{self._ips // 250}.{self._ips % 250 + 2}"
        pod["spec"]["nodeName"] = node
        ctx.dirty_pods.add(ps.ref)  # it has an IP now: a not-ready endpoint
        ctx.emit("Scheduled", ps.ref,
                 f"Successfully assigned {ps.ref.namespace}/{ps.ref.name} to {node}",
                 source="default-scheduler")
        return self._pull(ps, pod)

    def _on_mount_wait(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        return self._pull(ps, pod)

    def _on_config_err(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        return self._on_creating(ps, pod)

    def _pull(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        missing = missing_volumes(self.ctx, pod)
        if missing:
            for volume, why in missing:
                self.ctx.emit("FailedMount", ps.ref,
                              f'MountVolume.SetUp failed for volume "{volume}" : {why}',
                              "Warning")
            ps.stage = "mount_wait"
            ps.waiting_on = missing[0][1]
            ps.wait_backoff = min(MOUNT_RETRY_MAX, ps.wait_backoff * 2 or MOUNT_RETRY_START)
            self._wait(ps, ps.wait_backoff)
            return False
        ps.waiting_on = ""
        ps.wait_backoff = 0.0
        images = [str(c.get("image", "")) for c in pod["spec"].get("containers") or []]
        ps.stage = "creating"
        if images and all(image in self.images for image in images):
            for image in images:
                self.ctx.emit("Pulled", ps.ref,
                              f'Container image "{image}" already present on machine')
            self._later(ps, 0.0)
            return False
        for image in images:
            self.ctx.emit("Pulling", ps.ref, f'Pulling image "{image}"')
        self._later(ps, 0.5 + self.ctx.rng.random())
        return False

    def _on_creating(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        ctx = self.ctx
        profiles: list[ImageProfile] = []
        ps.bad_images = []
        why: dict[str, str] = {}
        for c in pod["spec"].get("containers") or []:
            image = str(c.get("image", ""))
            try:
                prof = ctx.resolve_image(image)
            except PullError as exc:  # the registry says why, in the runtime's words
                prof, why[image] = None, exc.detail
            except (OSError, ValueError, KeyError):
                prof = None
            if prof is None or prof.pull_fail:
                ps.bad_images.append(image)
            else:
                profiles.append(prof)
        if ps.bad_images:
            for image in ps.bad_images:
                detail = why.get(image) or (f"rpc error: manifest unknown: {image} not found "
                                            "in the registry")
                ctx.emit("Failed", ps.ref, f'Failed to pull image "{image}": {detail}',
                         "Warning")
                ctx.emit("Failed", ps.ref, "Error: ErrImagePull", "Warning")
            ps.stage = "pull_err"
            self._later(ps, 1.0)
            return True
        ps.profile = combined_profile(profiles)
        for c in pod["spec"].get("containers") or []:
            image = str(c.get("image", ""))
            if image not in self.images:
                self.images.add(image)
                ctx.emit("Pulled", ps.ref, f'Successfully pulled image "{image}"')
        problem = missing_config(ctx, pod)
        if problem:
            ctx.emit("Failed", ps.ref, f"Error: {problem}", "Warning")
            changed = ps.stage != "config_err"
            ps.stage = "config_err"
            ps.waiting_on = problem
            ps.wait_backoff = min(BACKOFF_MAX, ps.wait_backoff * 2 or CONFIG_RETRY_START)
            self._wait(ps, ps.wait_backoff)
            return changed
        ps.waiting_on = ""
        ps.wait_backoff = 0.0
        return self._start(ps, pod)

    def _on_pull_err(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        ps.pull_backoff = min(BACKOFF_MAX, ps.pull_backoff * 2 or BACKOFF_START)
        for image in ps.bad_images:
            self.ctx.emit("BackOff", ps.ref, f'Back-off pulling image "{image}"', "Warning")
        ps.stage = "pull_backoff"
        self._later(ps, ps.pull_backoff)
        return True

    def _on_pull_backoff(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        return self._pull(ps, pod)

    def _start(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        ctx = self.ctx
        for c in pod["spec"].get("containers") or []:
            if ps.restarts:
                ctx.emit("Pulled", ps.ref,
                         f'Container image "{c.get("image")}" already present on machine')
            ctx.emit("Created", ps.ref, f"Created container {c.get('name')}")
            ctx.emit("Started", ps.ref, f"Started container {c.get('name')}")
        ps.stage = "running"
        ps.started_at = ctx.now
        ps.oom_at = None
        prof = ps.profile or ImageProfile()
        if prof.crash:
            self._later(ps, CRASH_AFTER + ctx.rng.random())
        else:
            self._later(ps, max(0.0, prof.startup_seconds))
        return True

    def _on_running(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        ctx = self.ctx
        prof = ps.profile or ImageProfile()
        policy = pod["spec"].get("restartPolicy", "Always")
        if ps.oom_at is not None and ctx.now >= ps.oom_at - 1e-9:
            return self._oom_kill(ps, pod)
        if prof.crash and policy == "Never":
            ps.stage = "failed"
            ps.finished_at = ctx.now
            self._set_ready(ps, False)
            return True
        if prof.crash:
            ps.last_crash = (ps.started_at or ctx.now, ctx.now)
            ps.last_reason, ps.last_exit = "Error", 1
            ps.crash_backoff = min(BACKOFF_MAX, ps.crash_backoff * 2 or BACKOFF_START)
            ps.stage = "crash_backoff"
            for c in pod["spec"].get("containers") or []:
                ctx.emit("BackOff", ps.ref, f"Back-off restarting failed container "
                         f"{c.get('name')} in pod {ps.ref.name}", "Warning",
                         backoff=ps.crash_backoff, restarts=ps.restarts)
            self._later(ps, ps.crash_backoff)
            return True
        if policy not in BATCH_POLICIES:
            self._arm_oom(ps, pod, prof)
        if prof.ready_fail:
            ctx.emit("Unhealthy", ps.ref,
                     "Readiness probe failed: HTTP probe failed with statuscode: 503", "Warning")
            return False
        self._set_ready(ps, True)
        if policy in BATCH_POLICIES:
            ps.stage = "finishing"
            self._later(ps, max(0.0, prof.run_seconds))
        return True

    def _on_finishing(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        ps.stage = "succeeded"
        ps.finished_at = self.ctx.now
        self._set_ready(ps, False)
        return True

    def _on_crash_backoff(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        ps.restarts += 1
        return self._start(ps, pod)

    # -- helpers ----------------------------------------------------------------------

    def _later(self, ps: PodSim, delay: float) -> None:
        ps.gen += 1
        ps.due = self.ctx.now + delay
        self.ctx.timers.push(ps.due, "pod", ps.ref, ps.gen)

    def _set_ready(self, ps: PodSim, ready: bool) -> None:
        if ps.ready != ready:
            ps.ready = ready
            ps.ready_since = self.ctx.now if ready else None
            self.ctx.dirty_pods.add(ps.ref)

    def _owner(self, pod: dict[str, Any]) -> ObjRef | None:
        """The controller that owns the pod, whatever its kind."""
        for owner in pod["metadata"].get("ownerReferences") or []:
            if owner.get("controller"):
                return self.ctx.store.by_uid(owner.get("uid"))
        return self.ctx.store.by_uid(owner_uid(pod, "ReplicaSet"))

    def _render(self, ps: PodSim, pod: dict[str, Any]) -> None:
        """Write the pod's status the way the real API shows it."""
        def host_ip() -> str:
            return self.scheduler.host_ip(ps.node) if self.scheduler and ps.node else HOST_IP

        render_status(ps, pod, self.ctx.now, self.ctx.stamp(), host_ip)
