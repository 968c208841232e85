"""Image behaviour profiles that make metric incidents real (issue 12 point 6): late
regressions, memory leaks that end in OOM kills, CPU-heavy images that make the HPA
scale. All on the simulated clock and the seed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.kubectl_format import describe, format_table, pod_status
from sandbox.cluster.sim import behaviour
from sandbox.registry import PROFILES, ImageProfile, Registry, RegistryError

WEB = ObjRef("Deployment", "web", "default")
HPA = ObjRef("HorizontalPodAutoscaler", "web", "default")


def web(image: str, replicas: int = 2, memory: str | None = "128Mi",
        cpu: str | None = "250m") -> dict[str, Any]:
    resources: dict[str, Any] = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {}}
    if memory:
        resources["limits"]["memory"] = memory
    if cpu:
        resources["limits"]["cpu"] = cpu
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "containers": [{"name": "web", "image": image,
                                         "resources": resources}]}}}}


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web",
                                                             "namespace": "default"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


def make(profile: ImageProfile, seed: int = 5) -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, {"web:1": profile}.get, seed=seed)


def run(clock: VirtualClock, cluster: SimCluster, seconds: float, tick: float = 0.5) -> None:
    for _ in range(int(seconds / tick)):
        clock.advance(tick)
        cluster.step()


def ready_since(cluster: SimCluster) -> float:
    return max(ps.ready_since or 0.0 for ps in cluster._kubelet.pods.values())


def window(cluster: SimCluster) -> dict[str, Any]:
    return cluster.metrics(["default/web"])["default/web"]


# -- late regressions ------------------------------------------------------------------

def test_a_late_latency_regression_starts_its_seconds_after_the_pod_became_ready() -> None:
    clock, cluster = make(replace(PROFILES["late-latency"], regress_after=60.0))
    cluster.apply([web("web:1"), SERVICE])
    run(clock, cluster, 10)
    ready = ready_since(cluster)
    run(clock, cluster, ready + 55 - clock.now())
    before = window(cluster)
    assert before["rps"] > 0 and before["p95_ms"] < 150, before
    run(clock, cluster, 30)  # 25 s into the regression: over 5 % of the window's samples
    after = window(cluster)
    assert after["p95_ms"] > 500 and after["p50_ms"] < 150, after
    run(clock, cluster, 60)  # the whole window regressed
    assert window(cluster)["p50_ms"] > 500


def test_a_late_error_regression_steps_the_error_rate() -> None:
    clock, cluster = make(PROFILES["late-errors"])
    cluster.apply([web("web:1"), SERVICE])
    run(clock, cluster, 40)
    assert window(cluster)["error_rate"] < 0.02
    run(clock, cluster, 90)  # 45 s after ready, then a full window
    assert 0.18 < window(cluster)["error_rate"] < 0.32
    # The monitor's alert candidates know the image can fail, before it does.
    assert cluster.error_candidates(0.05) == {"default/web"}


def test_bulk_accounting_counts_the_regression_by_its_share_of_the_gap() -> None:
    prof = replace(PROFILES["late-errors"], regress_after=100.0)
    assert behaviour.mean_error_rate(prof, 0.0, 200) == pytest.approx(
        (100 * 0.001 + 100 * 0.25) / 200)
    assert behaviour.mean_error_rate(prof, 150.0, 10) == 0.25
    assert behaviour.mean_error_rate(prof, None, 10) == 0.001  # not ready: as at start


def test_the_same_seed_and_clock_give_the_same_numbers() -> None:
    def once() -> dict[str, Any]:
        clock, cluster = make(PROFILES["late-latency"], seed=11)
        cluster.apply([web("web:1"), SERVICE])
        run(clock, cluster, 120)
        return window(cluster)

    assert once() == once()


# -- memory leaks ------------------------------------------------------------------------

def test_a_leaking_image_is_oom_killed_at_its_limit_and_restarted() -> None:
    clock, cluster = make(PROFILES["leak"])  # 64 MiB at start, +0.5 MiB/s, limit 128Mi
    cluster.apply([web("web:1", replicas=1), SERVICE])
    run(clock, cluster, 60)
    pod = cluster.list("Pod")[0]
    key = f"default/{pod['metadata']['name']}"
    started = cluster._kubelet.pods[ObjRef.of(pod)].started_at or 0.0
    memory = cluster.usage()[key][1]
    assert memory == pytest.approx(64 + 0.5 * (clock.now() - started), abs=0.01)
    run(clock, cluster, started + 128 - clock.now() - 1)
    pod = cluster.list("Pod")[0]
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
    run(clock, cluster, 1.5)  # past the limit: the kernel kills it
    pod = cluster.list("Pod")[0]
    cs = pod["status"]["containerStatuses"][0]
    assert pod_status(pod) == "OOMKilled" and not cs["ready"]
    dead = cs["state"]["terminated"]
    assert (dead["reason"], dead["exitCode"]) == ("OOMKilled", 137)
    assert cs["lastState"] == {}  # no earlier run to tell of yet
    run(clock, cluster, 1)
    pod = cluster.list("Pod")[0]
    assert pod_status(pod) == "CrashLoopBackOff"
    last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"]) == ("OOMKilled", 137)
    run(clock, cluster, 12)  # the 10 s back-off, then a fresh container
    pod = cluster.list("Pod")[0]
    cs = pod["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 1 and cs["ready"] and pod_status(pod) == "Running"
    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert cluster.usage()[key][1] < 70  # starts again from the image's memory
    table = format_table(cluster.list("Pod"), "Pod", clock.now())
    assert "Running   1 (" in table, table
    text = describe(pod, cluster.events(ObjRef.of(pod)), clock.now())
    assert "Last State:     Terminated" in text and "Reason:       OOMKilled" in text
    assert "Exit Code:    137" in text and "memory:  128Mi" in text, text
    reasons = [e.reason for e in cluster.events(ObjRef.of(pod))]
    assert "BackOff" in reasons and reasons.count("Started") == 2


def test_oom_kills_back_off_and_keep_restarting() -> None:
    clock, cluster = make(replace(PROFILES["leak"], leak_mib_per_second=8.0))  # 8 s a run
    cluster.apply([web("web:1", replicas=1)])
    run(clock, cluster, 120)
    cs = cluster.list("Pod")[0]["status"]["containerStatuses"][0]
    assert cs["restartCount"] >= 3
    backoffs = [e.data["backoff"] for e in cluster.events() if e.reason == "BackOff"]
    assert backoffs[:3] == [10.0, 20.0, 40.0]


def test_without_a_memory_limit_the_node_runs_out_and_says_so() -> None:
    # 7,851 MiB of node memory at 100 MiB/s: killed about 78 s after the start.
    clock, cluster = make(replace(PROFILES["leak"], leak_mib_per_second=100.0))
    cluster.apply([web("web:1", replicas=1, memory=None)])
    run(clock, cluster, 70)
    assert cluster.list("Pod")[0]["status"]["containerStatuses"][0]["restartCount"] == 0
    run(clock, cluster, 12)
    pod = cluster.list("Pod")[0]
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == \
        "OOMKilled"
    oom = [e for e in cluster.events() if e.reason == "SystemOOM"]
    assert len(oom) == 1 and oom[0].ref.kind == "Node" and oom[0].type == "Warning"
    assert oom[0].message.startswith("System OOM encountered, victim process: web-")


# -- CPU -------------------------------------------------------------------------------

def hpa(high: int = 6, target: int = 200) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "web"},
                     "minReplicas": 2, "maxReplicas": high, "metrics": [
                         {"type": "Resource", "resource": {"name": "cpu", "target": {
                             "type": "Utilization", "averageUtilization": target}}}]}}


@pytest.mark.parametrize(("profile", "scaled"), [("default", False), ("cpu-heavy", True)])
def test_a_cpu_heavy_image_makes_the_hpa_scale_up(profile: str, scaled: bool) -> None:
    clock, cluster = make(PROFILES[profile])
    cluster.apply([web("web:1"), SERVICE, hpa()])
    run(clock, cluster, 90)
    replicas = cluster.get(WEB)["spec"]["replicas"]  # type: ignore[index]
    assert (replicas > 2) is scaled, replicas
    usage = cluster.usage()
    if scaled:
        rescale = [e.message for e in cluster.events(HPA) if e.reason == "SuccessfulRescale"]
        assert rescale and "cpu resource utilization (percentage of request) above target" \
            in rescale[0]
        assert replicas == 6  # its maximum
        assert all(50 < cpu <= 250 for cpu, _ in usage.values()), usage  # above request
    else:
        assert all(cpu < 100 for cpu, _ in usage.values())


def test_cpu_grows_with_the_request_rate() -> None:
    prof = PROFILES["cpu-heavy"]
    assert behaviour.cpu_m(prof, 10) > behaviour.cpu_m(prof, 1) > behaviour.cpu_m(prof, 0)
    assert behaviour.cpu_m(prof, 100, limit_m=250) == 250


# -- the registry ------------------------------------------------------------------------

def test_push_sets_when_the_regression_starts(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    img = reg.push("web", "1.4.0", "late-latency", regress_after=300)
    assert reg.get("web", "1.4.0").profile.regress_after == 300.0  # type: ignore[union-attr]
    assert img.profile.regress_latency_ms == 900.0
    assert img.profile.label == "late-latency (after 300s)"
    assert PROFILES["late-latency"].label == "late-latency"
    with pytest.raises(RegistryError, match="has no regression to delay"):
        reg.push("web", "1.4.1", "leak", regress_after=30)
    with pytest.raises(RegistryError, match="seconds between 0 and"):
        reg.push("web", "1.4.2", "late-errors", regress_after=-1)


def test_a_profile_written_by_a_newer_version_still_reads(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    reg.push("web", "1.0.0", "leak")
    path = tmp_path / "web" / "1.0.0.json"
    path.write_text(path.read_text().replace('"name": "leak"', '"name": "leak", "gpu": 1'))
    assert reg.get("web", "1.0.0").profile.leak_mib_per_second == 0.5  # type: ignore[union-attr]


def test_every_profile_is_explained_in_the_help() -> None:
    from sandbox.registry import PROFILE_HELP

    assert set(PROFILE_HELP) == set(PROFILES)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in PROFILES)


def test_a_leaking_pod_is_oom_killed_on_time_after_a_restore(tmp_path: Path) -> None:
    from sandbox.cluster.sim import persist
    from sandbox.store import Store

    store = Store(tmp_path / "state.db")
    clock, cluster = make(PROFILES["leak"])
    cluster.journal_to(persist.sink(store, lambda: 0.0))
    cluster.apply([web("web:1", replicas=1)])
    run(clock, cluster, 60)  # half way to its limit
    saved = persist.load(store)
    assert saved is not None
    clock = VirtualClock(clock.now())
    again = SimCluster(clock, {"web:1": PROFILES["leak"]}.get, seed=5)
    again.restore(saved)
    run(clock, again, 80)
    cs = again.list("Pod")[0]["status"]["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled"


def test_a_tag_file_that_is_not_one_reads_as_missing(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    reg.push("web", "1.0.0")
    (tmp_path / "web" / "1.0.0.json").write_text('{"repository": "web", "profile": []}')
    assert reg.get("web", "1.0.0") is None and reg.images() == []
