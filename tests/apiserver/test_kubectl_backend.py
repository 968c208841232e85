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


def _remove_component(sb: Sandbox, name: str) -> str:
    """Drop a subcomponent from the HLD through a reviewed, merged pull request; the
    merge commit."""
    def edit(work: Path) -> None:
        component = work / "component.yaml"
        text = component.read_text()
        block = (f"  - name: {name}\n    type: static\n    path: ./{name}\n"
                 "    substitute: true\n")
        assert block in text
        component.write_text(text.replace(block, ""))

    branch = f"remove-{name}"
    sb.commit_files(branch, {f"{name}/deployment.yaml": None, f"{name}/service.yaml": None},
                    f"Remove {name}", edit=edit)
    pr = sb.open_pr(branch, f"Remove {name}")
    assert sb.wait_for_checks(pr.id, 120).checks_state == "success", sb.pr_diff(pr.id)["log"]
    sb.approve_pr(pr.id, "reviewer")
    merged = sb.merge_pr(pr.id, "operator")
    assert merged.merge_sha
    return merged.merge_sha


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
        # Prune: a component removed from the HLD and merged is deleted from the cluster.
        assert host.live("Deployment", "api") is not None
        assert host.live("Service", "api") is not None
        merged = _remove_component(driver, "api")
        dep = driver.wait_for_deployment(merged, timeout=180)
        assert dep["sync_status"] == "synced", dep
        until(lambda: host.live("Deployment", "api") is None
              and host.live("Service", "api") is None, timeout=120,
              why="the removed component's objects pruned")
        gone = host.kubectl("get", "deploy", "api", check=False)
        assert 'deployments.apps "api" not found' in gone.stderr
        assert host.live("Deployment", "web") is not None  # the rest stays
    finally:
        driver.close()
