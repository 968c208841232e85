"""The official Kubernetes Python client, a second client independent of kubectl:
list, watch and patch against the sandbox's API server."""

from __future__ import annotations

import threading

import pytest

from .conftest import Cluster, until

kubernetes = pytest.importorskip("kubernetes", reason="the dev extra installs kubernetes")


@pytest.fixture
def apis(cluster: Cluster):  # type: ignore[no-untyped-def]
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig),
                                               context="sandbox")
    yield client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    api_client.close()


def test_list_typed_objects(apis) -> None:  # type: ignore[no-untyped-def]
    core, apps = apis
    pods = core.list_namespaced_pod("demo", label_selector="app=web")
    assert len(pods.items) == 2
    assert all(p.status.phase == "Running" for p in pods.items)
    deployments = apps.list_deployment_for_all_namespaces()
    assert {d.metadata.name for d in deployments.items} == {"web", "api"}
    assert deployments.metadata.resource_version


def test_watch_sees_a_patch(apis, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    from kubernetes import watch

    core, apps = apis
    listed = core.list_namespaced_config_map("demo")
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def follow() -> None:
        for ev in w.stream(core.list_namespaced_config_map, "demo",
                           resource_version=listed.metadata.resource_version,
                           timeout_seconds=30):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["object"].metadata.name == "from-client" and ev["type"] == "MODIFIED":
                w.stop()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    core.create_namespaced_config_map("demo", {"metadata": {"name": "from-client"},
                                               "data": {"k": "1"}})
    patched = core.patch_namespaced_config_map("from-client", "demo", {"data": {"k": "2"}})
    assert patched.data == {"k": "2"}
    thread.join(timeout=30)
    assert ("ADDED", "from-client") in seen and ("MODIFIED", "from-client") in seen


def test_patch_a_deployment_strategically(apis, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    core, apps = apis
    cluster.suspend()
    try:
        body = {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "env": [{"name": "FROM_CLIENT", "value": "yes"}]}]}}}}
        apps.patch_namespaced_deployment(
            "web", "demo", body, _content_type="application/strategic-merge-patch+json")
        live = cluster.live("Deployment", "web")
        containers = live["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1  # merged by name, not replaced
        assert containers[0]["image"] == "localhost:5001/web:1.0.0"
        assert {"name": "FROM_CLIENT", "value": "yes"} in containers[0]["env"]
        scale = apps.read_namespaced_deployment_scale("web", "demo")
        assert scale.spec.replicas == 2
    finally:
        cluster.sb.resume()
    until(lambda: not any(e.get("name") == "FROM_CLIENT" for c in cluster.live(
        "Deployment", "web")["spec"]["template"]["spec"]["containers"]
        for e in c.get("env") or []), why="the reconciler removed the drift")


def test_a_too_old_watch_raises_410(apis, cluster: Cluster) -> None:  # type: ignore[no-untyped-def]
    from kubernetes import watch
    from kubernetes.client.rest import ApiException

    core, _ = apis
    hub = cluster.sb.engine.apiserver.hub
    hub._oldest = max(hub._oldest, 10)
    with pytest.raises(ApiException) as info:
        for _ in watch.Watch().stream(core.list_namespaced_pod, "demo", resource_version="3",
                                      timeout_seconds=5):
            pass
    assert info.value.status == 410
