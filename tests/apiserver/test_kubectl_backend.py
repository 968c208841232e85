"""The real-cluster path, tested for real: a second workspace whose reconciler drives
the first one's cluster through the kubectl backend (server-side apply, as for kind or
any kubeconfig context), talking to the sandbox's own API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.facade import Sandbox
from sandbox.workspace import Settings

from .conftest import Cluster, kubectl_binary, start_cluster, until

pytestmark = pytest.mark.usefixtures("kubectl_required")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Cluster]:
    c = start_cluster(tmp_path / "host")
    yield c
    c.sb.close()


def test_the_kubectl_backend_runs_the_whole_loop_against_the_sandbox(
        host: Cluster, tmp_path: Path) -> None:
    from sandbox.cluster.kubectl import KubectlCluster
    from sandbox.engine import Engine

    # The host's own reconciler steps aside, and its app goes: the other one drives it.
    host.suspend()
    host.kubectl("--context", "sandbox-reconciler", "delete", "namespace", "demo")
    until(lambda: host.live("Namespace", "demo", "") is None, why="demo deleted")

    driver = Sandbox.init(tmp_path / "driver", settings=Settings(clock_speed=50.0,
                                                                  resync_seconds=60.0))
    binary = kubectl_binary()
    assert binary
    backend = KubectlCluster("sandbox-reconciler", host.kubeconfig, kubectl=binary,
                             cache_seconds=0.5)
    driver.engine = Engine(driver.ws, cluster=backend).start()
    try:
        main = driver.branches()["main"]
        dep = driver.wait_for_deployment(main, timeout=180)
        assert dep["health"] == "Healthy", dep
        web = host.live("Deployment", "web")
        assert web is not None
        assert web["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gitops-sandbox-flux"
        ready = host.kubectl("get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}")
        assert ready.stdout == "2"
        # Drift made by a person with kubectl is put back by the driver's reconciler
        # (found by its drift check or by its periodic resync, whichever comes first).
        count = len(driver.events(limit=5000))
        host.kubectl("scale", "deployment", "web", "--replicas=4")
        until(lambda: any("Deployment/web" in e.message and (
            e.kind.startswith("drift.") or e.kind == "sync.applied")
            for e in driver.events(limit=5000)[count:]), timeout=120,
            why="the driver corrected the drift")
        until(lambda: host.live("Deployment", "web")["spec"]["replicas"] == 2, timeout=120,
              why="the driver put replicas back")
    finally:
        driver.close()
