"""kubectl-like tables and describe output over simulated cluster objects."""

from __future__ import annotations

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.kubectl_format import describe, format_table, human_age
from sandbox.registry import PROFILES


def test_human_age_matches_kubectl() -> None:
    assert [human_age(s) for s in (0, 59, 119, 125, 600, 7200, 4 * 3600 + 60, 30 * 3600,
                                   3 * 86400 + 3600, 40 * 86400)] == [
        "0s", "59s", "119s", "2m5s", "10m", "120m", "4h1m", "30h", "3d1h", "40d"]


def build() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    images = {"web:v1": PROFILES["default"], "api:v1": PROFILES["crash"]}
    cluster = SimCluster(clock, images.get, seed=2)
    objs = []
    for name, image in (("web", "web:v1"), ("api", "api:v1")):
        objs += [{"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": name},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                           "template": {"metadata": {"labels": {"app": name}},
                                        "spec": {"containers": [{"name": name,
                                                                 "image": image}]}}}},
                 {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                  "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}]
    cluster.apply(objs)
    for _ in range(40):
        clock.advance(1)
        cluster.step()
    return clock, cluster


def test_tables_look_like_kubectl_get() -> None:
    clock, cluster = build()
    now = clock.now()
    deploys = format_table(cluster.list("Deployment"), "Deployment", now).splitlines()
    assert deploys[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploys[1].split() == ["api", "0/2", "2", "0", "40s"]
    assert deploys[2].split() == ["web", "2/2", "2", "2", "40s"]
    pods = format_table(cluster.list("Pod"), "Pod", now).splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    api_rows = [line.split() for line in pods[1:] if line.startswith("api-")]
    assert all(r[1] == "0/1" and r[2] in ("CrashLoopBackOff", "Running") for r in api_rows)
    assert any("ago)" in r for r in api_rows)  # RESTARTS like "2 (7s ago)"
    svcs = format_table(cluster.list("Service"), "Service", now).splitlines()
    assert svcs[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svcs[1].split()[1:] == ["ClusterIP", svcs[1].split()[2], "<none>", "80/TCP", "40s"]
    everything = format_table(cluster.list(), None, now)
    assert "deployment/web" in everything and "pod/web-" in everything
    assert format_table([], "Pod", now) == "No resources found."


def test_describe_shows_conditions_and_events() -> None:
    clock, cluster = build()
    dep = cluster.get(ObjRef("Deployment", "web", "default"))
    assert dep is not None
    text = describe(dep, cluster.events(), clock.now())
    assert "Name:          web" in text
    assert "2 desired | 2 updated | 2 total | 2 available" in text
    assert "NewReplicaSetAvailable" in text
    assert "ScalingReplicaSet" in text and "deployment-controller" in text
    pod = cluster.list("Pod", labels={"app": "api"})[0]
    text = describe(pod, cluster.events(ObjRef.of(pod)), clock.now())
    assert "BackOff" in text and "Restart Count:" in text


def test_describe_shows_a_creation_age_not_a_1970_date() -> None:
    from sandbox.cluster.kubectl_format import describe

    obj = {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "demo",
                                             "creationTimestamp": "1970-01-01T00:01:40Z"}}
    text = describe(obj, [], now=400.0)
    assert "1970" not in text and "5m ago (simulated clock)" in text
    real = describe({**obj, "metadata": {**obj["metadata"],
                                         "creationTimestamp": "2026-01-01T00:00:00Z"}},
                    [], now=1767225600.0 + 90)
    assert "2026" in real and "90s ago" in real
