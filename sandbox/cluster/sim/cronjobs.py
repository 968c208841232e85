"""The CronJob controller: a Job per schedule time, in simulated time.

As the cronjob-controller does: each time the schedule comes it creates the Job
`<cronjob>-<scheduled minutes since the epoch>` (unless `suspend`; under
concurrencyPolicy Forbid while one runs; under Replace after deleting the running
one), records lastScheduleTime, notices finished Jobs (SawCompletedJob,
lastSuccessfulTime) and keeps only successfulJobsHistoryLimit (3) and
failedJobsHistoryLimit (1) of them.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.kubectl_format import parse_time
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.cron import CronError, parse
from sandbox.cluster.sim.jobs import finished
from sandbox.cluster.sim.store import clone, rfc3339
from sandbox.cluster.sim.workloads import Create, Remove, owner_reference, wake

SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"


class CronJobController:
    def __init__(self, ctx: Ctx, create: Create, remove: Remove) -> None:
        self.ctx = ctx
        self.create = create
        self.remove = remove

    def sync(self, ref: ObjRef) -> None:
        ctx = self.ctx
        cj = ctx.store.get(ref)
        if cj is None:
            return
        spec = cj.get("spec") or {}
        state = ctx.ctl.setdefault(ref, {})
        jobs = self._jobs(cj)
        self._saw_finished(ref, cj, jobs, state)
        try:
            schedule = parse(str(spec.get("schedule", "")))
        except CronError as exc:
            if state.get("bad") != str(exc):
                ctx.emit("UnparseableSchedule", ref,
                         f"unparseable schedule: {spec.get('schedule')!r} : {exc}", "Warning")
                state["bad"] = str(exc)
                ctx.store.changed.add(ref)
            return
        last = float(state.get("from", _seconds(cj["metadata"]["creationTimestamp"])))
        due = schedule.next_after(last)
        while due is not None and due <= ctx.now + 1e-9:
            # Timers fire in time order, so each schedule is met at its own instant.
            self._fire(ref, cj, spec, due, jobs)
            state["from"] = due
            ctx.store.changed.add(ref)
            jobs = self._jobs(cj)
            due = schedule.next_after(due)
        if due is not None:
            wake(ctx, ref, due)
        self._history(ref, spec, jobs)
        self._status(cj, self._jobs(cj))

    def _jobs(self, cj: dict[str, Any]) -> list[dict[str, Any]]:
        out = [self.ctx.store.get(r) for r in self.ctx.store.children(cj["metadata"]["uid"])
               if r.kind == "Job"]
        return sorted((j for j in out if j is not None),
                      key=lambda j: (j["metadata"].get("creationTimestamp", ""),
                                     j["metadata"]["name"]))

    def _fire(self, ref: ObjRef, cj: dict[str, Any], spec: dict[str, Any], at: float,
              jobs: list[dict[str, Any]]) -> None:
        ctx = self.ctx
        if spec.get("suspend"):
            return
        active = [j for j in jobs if not finished(j)]
        policy = spec.get("concurrencyPolicy", "Allow")
        if active and policy == "Forbid":
            return
        if active and policy == "Replace":
            for job in active:
                self.remove(ObjRef.of(job))
                ctx.emit("SuccessfulDelete", ref, f"Deleted job {job['metadata']['name']}")
        name = f"{ref.name}-{int(at // 60)}"
        if ctx.store.get(ObjRef("Job", name, ref.namespace)) is not None:
            return
        template = clone(spec.get("jobTemplate") or {})
        tmeta = template.get("metadata") or {}
        self.create({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": ref.namespace,
                         "labels": dict(tmeta.get("labels") or {}),
                         "annotations": {**(tmeta.get("annotations") or {}),
                                         SCHEDULED_AT: rfc3339(at)},
                         "ownerReferences": [owner_reference("CronJob", "batch/v1", cj)]},
            "spec": template.get("spec") or {}})
        ctx.emit("SuccessfulCreate", ref, f"Created job {name}")
        cj.setdefault("status", {})["lastScheduleTime"] = rfc3339(at)
        ctx.store.touch(cj)

    def _saw_finished(self, ref: ObjRef, cj: dict[str, Any], jobs: list[dict[str, Any]],
                      state: dict[str, Any]) -> None:
        seen = set(state.get("seen") or [])
        for job in jobs:
            done, name = finished(job), job["metadata"]["name"]
            if not done or name in seen:
                continue
            seen.add(name)
            self.ctx.emit("SawCompletedJob", ref, f"Saw completed job: {name}, status: {done}")
            if done == "Complete":
                when = (job.get("status") or {}).get("completionTime") or self.ctx.stamp()
                status = cj.setdefault("status", {})
                if str(when) > str(status.get("lastSuccessfulTime", "")):
                    status["lastSuccessfulTime"] = when
                    self.ctx.store.touch(cj)
        names = {j["metadata"]["name"] for j in jobs}
        state["seen"] = sorted(seen & names)
        self.ctx.store.changed.add(ref)

    def _history(self, ref: ObjRef, spec: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
        for kind, key, default in (("Complete", "successfulJobsHistoryLimit", 3),
                                   ("Failed", "failedJobsHistoryLimit", 1)):
            done = [j for j in jobs if finished(j) == kind]
            for job in done[: max(0, len(done) - int(spec.get(key, default)))]:
                self.remove(ObjRef.of(job))
                self.ctx.emit("SuccessfulDelete", ref, f"Deleted job {job['metadata']['name']}")

    def _status(self, cj: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
        status = dict(cj.get("status") or {})
        active = [{"apiVersion": "batch/v1", "kind": "Job", "name": j["metadata"]["name"],
                   "namespace": j["metadata"]["namespace"], "uid": j["metadata"]["uid"]}
                  for j in jobs if not finished(j)]
        if active:
            status["active"] = active
        else:
            status.pop("active", None)
        if status != cj.get("status"):
            cj["status"] = status
            self.ctx.store.touch(cj)


def _seconds(stamp: Any) -> float:
    value = parse_time(stamp)
    return 0.0 if value is None else value
