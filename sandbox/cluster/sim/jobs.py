"""The Job controller: pods that run to completion.

As in Kubernetes: up to `parallelism` pods at a time until `completions` of them
succeeded (without `completions`, the first success ends it once no pod runs); every
failed pod (or container restart under OnFailure) counts against `backoffLimit` (6),
and a failed pod is replaced only after the back-off (10 s, doubling, at most 6 min);
`activeDeadlineSeconds` ends a Job that runs too long. The Complete or Failed condition
is final; `ttlSecondsAfterFinished` then deletes the Job that long after. Pod texts and
events are kube-controller-manager's.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.kubectl_format import parse_time
from sandbox.cluster.sim.admission import refuse_pod
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.pods import Kubelet, PodSim
from sandbox.cluster.sim.workloads import (
    Create,
    Remove,
    owner_reference,
    pod_from,
    pods_of,
    random_suffix,
    room_for_pods,
    set_condition,
    wake,
)

BACKOFF_START = 10.0
BACKOFF_MAX = 360.0
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")


def finished(job: dict[str, Any]) -> str:
    """"Complete", "Failed" or "" (still running)."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return ""


class JobController:
    def __init__(self, ctx: Ctx, kubelet: Kubelet, create: Create, remove: Remove) -> None:
        self.ctx = ctx
        self.kubelet = kubelet
        self.create = create
        self.remove = remove

    def sync(self, ref: ObjRef) -> None:
        ctx = self.ctx
        job = ctx.store.get(ref)
        if job is None:
            return
        spec = job.get("spec") or {}
        status = dict(job.get("status") or {})
        status.setdefault("startTime", ctx.stamp())
        template_spec = (spec.get("template") or {}).get("spec") or {}
        on_failure = template_spec.get("restartPolicy") == "OnFailure"
        pods = pods_of(ctx, self.kubelet, job)
        active = [ps for _, ps in pods if _active(ps)]
        succeeded = sum(1 for _, ps in pods if ps.stage == "succeeded")
        failed = sum(1 for _, ps in pods if ps.stage == "failed")
        if on_failure:
            failed += sum(ps.restarts for ps in active)
        done = finished(job)
        if not done:
            done = self._judge(ref, job, spec, status, active, succeeded, failed)
        if done:
            for ps in active:
                self.kubelet.terminate(ps.ref)
                ctx.emit("SuccessfulDelete", ref, f"Deleted pod: {ps.ref.name}")
            active = []
        else:
            self._start_pods(ref, job, spec, len(active), succeeded, failed)
            active = [ps for _, ps in pods_of(ctx, self.kubelet, job) if _active(ps)]
        status.update(active=len(active), succeeded=succeeded, failed=failed,
                      ready=sum(1 for ps in active if ps.ready),
                      uncountedTerminatedPods={})
        for key in ("active", "succeeded", "failed"):
            if not status[key]:
                del status[key]  # the API omits zero counts
        if status != job.get("status"):
            job["status"] = status
            ctx.store.touch(job)
            owner = _owner(ctx, job)
            if owner is not None:
                ctx.dirty_work.add(owner)  # its CronJob keeps count of active jobs
        ttl = spec.get("ttlSecondsAfterFinished")
        if done and ttl is not None:
            # The ttl-after-finished controller: the Job and its pods go, silently.
            gone_at = _finished_at(job) + float(ttl)
            if ctx.now + 1e-9 >= gone_at:
                self.remove(ref)
            else:
                wake(ctx, ref, gone_at)

    def _judge(self, ref: ObjRef, job: dict[str, Any], spec: dict[str, Any],
               status: dict[str, Any], active: list[PodSim], succeeded: int,
               failed: int) -> str:
        ctx = self.ctx
        completions = spec.get("completions")
        limit = int(spec.get("backoffLimit", 6))
        deadline = spec.get("activeDeadlineSeconds")
        conds = list(status.get("conditions") or [])
        started = _seconds(status["startTime"])
        if deadline is not None and ctx.now + 1e-9 >= started + float(deadline):
            why = ("DeadlineExceeded", "Job was active longer than specified deadline")
        elif failed > limit:
            why = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif (succeeded >= int(completions) if completions is not None
              else succeeded > 0 and not active):
            # Kubernetes 1.31 adds SuccessCriteriaMet first; Complete is what stays.
            status["conditions"] = set_condition(conds, "Complete", "True", "", "",
                                                 ctx.stamp(), probe=True)
            for c in status["conditions"]:
                if c["type"] == "Complete":
                    c.pop("reason", None)
                    c.pop("message", None)
            status["completionTime"] = ctx.stamp()
            ctx.emit("Completed", ref, "Job completed")
            return "Complete"
        else:
            if deadline is not None:
                wake(ctx, ref, started + float(deadline))
            return ""
        status["conditions"] = set_condition(conds, "Failed", "True", why[0], why[1],
                                             ctx.stamp(), probe=True)
        ctx.emit(why[0], ref, why[1], "Warning")
        return "Failed"

    def _start_pods(self, ref: ObjRef, job: dict[str, Any], spec: dict[str, Any],
                    active: int, succeeded: int, failed: int) -> None:
        ctx = self.ctx
        parallelism = int(spec.get("parallelism", 1))
        completions = spec.get("completions")
        want = parallelism if completions is None else min(parallelism,
                                                            int(completions) - succeeded)
        if completions is None and succeeded:
            want = 0
        if want <= active:
            return
        state = ctx.ctl.setdefault(ref, {})
        if failed:
            # The controller waits longer after each failure before the next pod.
            delay = min(BACKOFF_MAX, BACKOFF_START * 2 ** (failed - 1))
            since = float(state.get("failed_at", ctx.now))
            if state.get("failures_seen") != failed:
                state.update(failures_seen=failed, failed_at=ctx.now)
                ctx.store.changed.add(ref)
                since = ctx.now
            if ctx.now + 1e-9 < since + delay:
                wake(ctx, ref, since + delay)
                return
        template = spec.get("template") or {}
        if refuse_pod(ctx, ref, f"{ref.name}-", template.get("spec") or {}):
            return
        labels = {JOB_NAME_LABELS[0]: ref.name, JOB_NAME_LABELS[1]: ref.name,
                  UID_LABELS[0]: job["metadata"]["uid"], UID_LABELS[1]: job["metadata"]["uid"]}
        for _ in range(want - active):
            if not room_for_pods(ctx, self.kubelet, ref):
                return
            name = random_suffix(ctx, f"{ref.name}-", ref.namespace)
            self.create(pod_from(template, name, ref.namespace,
                                 owner_reference("Job", "batch/v1", job), labels,
                                 generate_name=f"{ref.name}-"))
            ctx.emit("SuccessfulCreate", ref, f"Created pod: {name}")


def _active(ps: PodSim) -> bool:
    return not ps.terminating and ps.stage not in ("succeeded", "failed")


def _owner(ctx: Ctx, job: dict[str, Any]) -> ObjRef | None:
    for owner in job["metadata"].get("ownerReferences") or []:
        if owner.get("kind") == "CronJob":
            return ctx.store.by_uid(owner.get("uid"))
    return None


def _finished_at(job: dict[str, Any]) -> float:
    status = job.get("status") or {}
    if status.get("completionTime"):
        return _seconds(status["completionTime"])
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Failed":
            return _seconds(cond.get("lastTransitionTime"))
    return 0.0


def _seconds(stamp: Any) -> float:
    value = parse_time(stamp)
    return 0.0 if value is None else value
