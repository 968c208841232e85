"""`cluster get` columns for the workload, storage and node kinds, as kubectl prints."""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox.clock import VirtualClock
from sandbox.cluster import SimCluster
from sandbox.cluster.kubectl_format import format_table
from sandbox.registry import PROFILES, ImageProfile

IMAGES = {"db:1": PROFILES["default"], "job:ok": ImageProfile("job", run_seconds=5.0),
          "job:crash": PROFILES["crash"], "web:1": ImageProfile("busy", cpu_millicores=150.0)}
STORY = Path(__file__).parent / "corpus" / "workloads" / "persist-story.yaml"


def table(kind: str) -> list[list[str]]:
    clock = VirtualClock()
    cluster = SimCluster(clock, IMAGES.get, seed=2)
    cluster.apply([d for d in yaml.safe_load_all(STORY.read_text()) if d])
    for _ in range(130):
        clock.advance(1.0)
        cluster.step()
    text = format_table(cluster.list(kind), kind, clock.now())
    return [line.split() for line in text.splitlines()]


def test_workload_tables() -> None:
    assert table("StatefulSet") == [["NAME", "READY", "AGE"], ["db", "3/3", "2m10s"]]
    ds = table("DaemonSet")
    assert ds[0][:6] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE"]
    assert ds[1] == ["agent", "3", "3", "3", "3", "3", "<none>", "2m10s"]
    cron = table("CronJob")
    assert cron[1] == ["tick", "*", "*", "*", "*", "*", "<none>", "False", "0", "10s", "2m10s"]
    jobs = {row[0]: row for row in table("Job")[1:]}
    assert jobs["tick-1"][1:3] == ["Complete", "1/1"]
    assert jobs["flaky"][1] in ("Running", "Failed")
    hpa = table("HorizontalPodAutoscaler")
    assert hpa[0] == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert hpa[1][:3] == ["web", "Deployment/web", "cpu:"] and hpa[1][4:7] == ["1", "5", "5"]


def test_storage_and_node_tables() -> None:
    pvc = {row[0]: row for row in table("PersistentVolumeClaim")[1:]}
    assert pvc["data-db-0"][1] == "Bound" and pvc["data-db-0"][3:6] == ["1Gi", "RWO", "standard"]
    assert pvc["scratch"][1:3] == ["Pending", "fast"]
    assert table("StorageClass")[1][:5] == ["standard", "(default)", "rancher.io/local-path",
                                            "Delete", "WaitForFirstConsumer"]
    assert table("Node")[1:] == [[f"sim-node-{i}", "Ready", "<none>", "2m10s", "v1.30.0"]
                                 for i in (1, 2, 3)]
