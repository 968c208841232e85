"""Memory over time in the simulated kubelet: a container whose image leaks
(behaviour.py) is OOM-killed when it reaches its memory limit, as the kernel does:
`lastState.terminated` says OOMKilled with exit code 137, `get pods` shows OOMKilled
for a moment and then CrashLoopBackOff, and the kubelet restarts it with the back-off
of any failed container (10 s doubling to 300 s, starting over after 10 minutes
without a failure). The restarted container starts again from the image's memory.

Without a memory limit, the container grows until it has the node's allocatable
memory; the kernel's OOM killer then takes the biggest process, the leaking one, and
the kubelet's OOM watcher records a `SystemOOM` event on the Node. (A real kubelet may
evict the pod first under memory pressure; eviction is not simulated.) Pods that run to
completion (a Job's) finish before any leak matters: they are not watched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim import behaviour
from sandbox.cluster.sim.context import Ctx
from sandbox.registry import ImageProfile

if TYPE_CHECKING:
    from sandbox.cluster.sim.pods import PodSim

EXIT_SHOWN_SECONDS = 1.0  # an OOM-killed container shows as terminated this long
NODE_MEMORY_MIB = 8039512 / 1024  # a node's allocatable memory (scheduling.CAPACITY)


class MemoryKills:
    """The kubelet's part that watches memory (a mixin of pods.Kubelet)."""

    ctx: Ctx

    def _later(self, ps: PodSim, delay: float) -> None: ...

    def _set_ready(self, ps: PodSim, ready: bool) -> None: ...

    def _arm_oom(self, ps: PodSim, pod: dict[str, Any], prof: ImageProfile) -> None:
        """A server whose memory grows is killed when it reaches its limit; without a
        limit, when it has taken the node's memory (the kernel's OOM killer picks the
        biggest process: the leaking one). The kubelet's eviction is not simulated."""
        if ps.oom_at is not None or ps.started_at is None:
            return
        after = behaviour.seconds_to_oom(prof, self._memory_limit(pod))
        if after is not None:
            ps.oom_at = max(self.ctx.now, ps.started_at + after)
            self._later(ps, ps.oom_at - self.ctx.now)

    def _memory_limit(self, pod: dict[str, Any]) -> float:
        limit = behaviour.pod_limit(pod, cpu=False)
        return limit if limit is not None else NODE_MEMORY_MIB

    def _oom_kill(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        """The kernel kills the container (exit code 137, OOMKilled); the kubelet
        restarts it with the back-off of any failed container."""
        from sandbox.cluster.sim.pods import BACKOFF_MAX, BACKOFF_START, NODE

        ctx = self.ctx
        previous = ps.last_crash
        ps.oom_at = None
        ps.last_crash = (ps.started_at or ctx.now, ctx.now)
        ps.last_reason, ps.last_exit = "OOMKilled", behaviour.OOM_EXIT_CODE
        self._set_ready(ps, False)
        if behaviour.pod_limit(pod, cpu=False) is None:
            # No limit: the node ran out, and the kubelet's OOM watcher says so on it.
            ctx.emit("SystemOOM", ObjRef("Node", ps.node or NODE, ""),
                     f"System OOM encountered, victim process: {ps.ref.name}, pid: "
                     f"{10_000 + ctx.rng.randrange(50_000)}", "Warning", source="kubelet")
        # As the kubelet's back-off: it starts over after 10 minutes without a failure.
        fresh = previous is None or ctx.now - previous[1] > 2 * BACKOFF_MAX
        ps.crash_backoff = (BACKOFF_START if fresh
                            else min(BACKOFF_MAX, ps.crash_backoff * 2 or BACKOFF_START))
        ps.stage = "exited"  # `get pods` shows OOMKilled until the kubelet's next sync
        self._later(ps, EXIT_SHOWN_SECONDS)
        return True

    def _on_exited(self, ps: PodSim, pod: dict[str, Any]) -> bool:
        ps.stage = "crash_backoff"
        for c in pod["spec"].get("containers") or []:
            self.ctx.emit("BackOff", ps.ref, f"Back-off restarting failed container "
                          f"{c.get('name')} in pod {ps.ref.name}", "Warning",
                          backoff=ps.crash_backoff, restarts=ps.restarts)
        self._later(ps, max(0.0, ps.crash_backoff - EXIT_SHOWN_SECONDS))
        return True

    def usage(self, ps: PodSim, pod: dict[str, Any], rps: float) -> tuple[float, float]:
        """(CPU millicores, memory MiB) the pod uses now, answering `rps` requests per
        second (behaviour.py); nothing while its container does not run."""
        if ps.stage not in ("running", "finishing") or ps.started_at is None:
            return 0.0, 0.0
        prof = ps.profile or ImageProfile()
        memory = behaviour.memory_mib(prof, self.ctx.now - ps.started_at)
        return (behaviour.cpu_m(prof, rps, behaviour.pod_limit(pod, cpu=True)),
                min(memory, self._memory_limit(pod)))
