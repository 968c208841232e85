"""Jobs and CronJobs in the simulated cluster, over simulated time."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.kubectl_format import pod_status
from sandbox.cluster.sim.cron import CronError, parse
from sandbox.monitor import Health, health_of
from sandbox.registry import PROFILES, ImageProfile

IMAGES = {"task:ok": ImageProfile("task", startup_seconds=1.0, run_seconds=20.0),
          "task:crash": PROFILES["crash"],
          "task:long": ImageProfile("long", startup_seconds=1.0, run_seconds=3600.0)}
JOB = ObjRef("Job", "task", "default")
CJ = ObjRef("CronJob", "tick", "default")


def make() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, IMAGES.get, seed=6)


def run(clock: VirtualClock, cluster: SimCluster, seconds: float, tick: float = 1.0) -> None:
    for _ in range(int(seconds / tick)):
        clock.advance(tick)
        cluster.step()


def job_spec(image: str = "task:ok", restart: str = "Never", **spec: Any) -> dict[str, Any]:
    return {"template": {"spec": {"restartPolicy": restart,
                                  "containers": [{"name": "task", "image": image}]}}, **spec}


def job(image: str = "task:ok", restart: str = "Never", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "task", "namespace": "default"},
            "spec": job_spec(image, restart, **spec)}


def cronjob(schedule: str = "*/5 * * * *", image: str = "task:ok", **spec: Any
            ) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "default"},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": job_spec(image)}, **spec}}


def reasons(cluster: SimCluster, ref: ObjRef) -> list[str]:
    return [e.reason for e in cluster.events(ref)]


def test_a_job_runs_its_pods_to_completion_with_parallelism() -> None:
    clock, cluster = make()
    cluster.apply([job(completions=3, parallelism=2)])
    run(clock, cluster, 1)
    assert len(cluster.list("Pod", "default")) == 2
    assert health_of(cluster.get(JOB))[0] is Health.PROGRESSING
    run(clock, cluster, 80)
    status = cluster.get(JOB)["status"]  # type: ignore[index]
    assert status["succeeded"] == 3 and "active" not in status
    assert [c["type"] for c in status["conditions"]] == ["Complete"]
    assert health_of(cluster.get(JOB))[0] is Health.HEALTHY
    assert {pod_status(p) for p in cluster.list("Pod", "default")} == {"Completed"}
    assert reasons(cluster, JOB) == ["SuccessfulCreate"] * 3 + ["Completed"]
    pod = cluster.list("Pod", "default")[0]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "task"
    assert pod["status"]["phase"] == "Succeeded"


def test_failures_back_off_and_end_at_the_backoff_limit() -> None:
    clock, cluster = make()
    cluster.apply([job("task:crash", backoffLimit=2)])
    run(clock, cluster, 200)
    status = cluster.get(JOB)["status"]  # type: ignore[index]
    assert status["failed"] == 3
    failed = [c for c in status["conditions"] if c["type"] == "Failed"][0]
    assert (failed["reason"], failed["message"]) == (
        "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert health_of(cluster.get(JOB)) == (
        Health.DEGRADED, "Job has reached the specified backoff limit")
    created = [e.time for e in cluster.events(JOB) if e.reason == "SuccessfulCreate"]
    gaps = [round(b - a) for a, b in zip(created, created[1:], strict=False)]
    assert gaps[1] > gaps[0] >= 10  # 10 s, then 20 s of back-off, plus the run
    assert {p["status"]["phase"] for p in cluster.list("Pod", "default")} == {"Failed"}


def test_active_deadline_ends_a_long_job() -> None:
    clock, cluster = make()
    cluster.apply([job("task:long", activeDeadlineSeconds=30)])
    run(clock, cluster, 40)
    assert health_of(cluster.get(JOB)) == (
        Health.DEGRADED, "Job was active longer than specified deadline")
    assert "DeadlineExceeded" in reasons(cluster, JOB)
    run(clock, cluster, 5)
    assert cluster.list("Pod", "default") == []  # its pod was stopped


def test_ttl_after_finished_deletes_the_job_and_its_pods() -> None:
    clock, cluster = make()
    cluster.apply([job(ttlSecondsAfterFinished=30)])
    run(clock, cluster, 40)
    assert health_of(cluster.get(JOB))[0] is Health.HEALTHY
    run(clock, cluster, 20)
    assert cluster.get(JOB) is None and cluster.list("Pod", "default") == []


def test_a_cronjob_fires_on_schedule_and_keeps_its_history() -> None:
    clock, cluster = make()
    cluster.apply([cronjob("*/5 * * * *")])
    run(clock, cluster, 299)
    assert cluster.list("Job", "default") == []
    assert health_of(cluster.get(CJ)) == (Health.HEALTHY, "CronJob has not been scheduled yet")
    run(clock, cluster, 2)
    assert [j["metadata"]["name"] for j in cluster.list("Job", "default")] == ["tick-5"]
    assert cluster.get(CJ)["status"]["lastScheduleTime"] == "1970-01-01T00:05:00Z"  # type: ignore[index]
    run(clock, cluster, 25 * 60, tick=5.0)
    names = [j["metadata"]["name"] for j in cluster.list("Job", "default")]
    # successfulJobsHistoryLimit 3, and the one that just started
    assert names == ["tick-15", "tick-20", "tick-25", "tick-30"]
    assert health_of(cluster.get(CJ)) == (
        Health.HEALTHY, "The job is running. Its last execution may not have been successful")
    run(clock, cluster, 60, tick=5.0)
    assert health_of(cluster.get(CJ)) == (
        Health.HEALTHY, "CronJob has completed its last execution successfully")
    messages = [e.message for e in cluster.events(CJ)]
    assert "Created job tick-5" in messages and "Deleted job tick-5" in messages
    assert "Saw completed job: tick-5, status: Complete" in messages


def test_a_failing_cronjob_is_degraded_and_keeps_one_failed_job() -> None:
    clock, cluster = make()
    spec = job_spec("task:crash", backoffLimit=0)
    cluster.apply([{**cronjob("* * * * *"), "spec": {"schedule": "* * * * *",
                                                     "jobTemplate": {"spec": spec}}}])
    run(clock, cluster, 200)
    assert health_of(cluster.get(CJ)) == (Health.HEALTHY, "The Cronjob never completed "
                                          "succesfully. It may not be healthy")
    assert len(cluster.list("Job", "default")) == 1  # failedJobsHistoryLimit 1


def test_suspend_and_forbid() -> None:
    clock, cluster = make()
    cluster.apply([cronjob("* * * * *", suspend=True)])
    run(clock, cluster, 180, tick=5.0)
    assert cluster.list("Job", "default") == []
    assert health_of(cluster.get(CJ)) == (Health.SUSPENDED, "CronJob is Suspended")
    cluster.apply([cronjob("* * * * *", image="task:long", concurrencyPolicy="Forbid")])
    run(clock, cluster, 300, tick=5.0)
    assert len(cluster.list("Job", "default")) == 1  # the first still runs


@pytest.mark.parametrize(("text", "after", "expected"), [
    ("*/15 * * * *", 0, 900), ("0 3 * * *", 0, 3 * 3600), ("@hourly", 3600, 7200),
    ("30 1 1 jan *", 0, 30 * 60 + 3600), ("0 0 * * mon", 0, 4 * 86400),
    ("0 0 13 * 5", 0, 86400),  # day of month OR day of week: Friday 2 January 1970
])
def test_cron_schedules(text: str, after: float, expected: float) -> None:
    assert parse(text).next_after(after) == expected


@pytest.mark.parametrize("text", ["* * * *", "61 * * * *", "*/0 * * * *", "5-1 * * * *",
                                  "@every 5m"])
def test_bad_cron_schedules(text: str) -> None:
    with pytest.raises(CronError):
        parse(text)


def test_the_api_refuses_what_kubernetes_refuses() -> None:
    _, cluster = make()
    bad_policy = job(restart="Always")
    bad_schedule = cronjob("61 * * * *")
    results = cluster.apply([bad_policy, bad_schedule])
    assert results[0].error == ("Job 'task' is invalid: spec.template.spec.restartPolicy: "
                                'Unsupported value: "Always": supported values: "OnFailure", '
                                '"Never"')
    assert str(results[1].error).startswith(
        "CronJob 'tick' is invalid: spec.schedule: Invalid value: \"61 * * * *\": minute "
        "value 61 out of range")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"serviceAccountName": "ghost",
                    "containers": [{"name": "c", "image": "task:ok"}]}}
    assert cluster.apply([pod])[0].error == (
        'pods "p" is forbidden: error looking up service account default/ghost: '
        'serviceaccount "ghost" not found')
