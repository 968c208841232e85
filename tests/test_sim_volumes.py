"""Claims, storage classes, and pods whose ConfigMap, Secret, claim or ServiceAccount is
missing: Kubernetes' states and event texts, and recovery once the object appears."""

from __future__ import annotations

from typing import Any

from sandbox.clock import VirtualClock
from sandbox.cluster import ObjRef, SimCluster
from sandbox.cluster.kubectl_format import pod_status
from sandbox.monitor import Health, health_of
from sandbox.registry import PROFILES

IMAGES = {"app:1": PROFILES["default"]}


def make() -> tuple[VirtualClock, SimCluster]:
    clock = VirtualClock()
    return clock, SimCluster(clock, IMAGES.get, seed=4)


def run(clock: VirtualClock, cluster: SimCluster, seconds: float, tick: float = 0.5) -> None:
    for _ in range(int(seconds / tick)):
        clock.advance(tick)
        cluster.step()


def claim(name: str, cls: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "2Gi"}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def deployment(pod_spec: dict[str, Any]) -> dict[str, Any]:
    spec = {"containers": [{"name": "app", "image": "app:1"}], **pod_spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "app"}},
                     "template": {"metadata": {"labels": {"app": "app"}}, "spec": spec}}}


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": data}


def the_pod(cluster: SimCluster) -> dict[str, Any]:
    found = [p for p in cluster.list("Pod", "default")
             if not p["metadata"].get("deletionTimestamp")]
    assert len(found) == 1, found
    return found[0]


def messages(cluster: SimCluster, reason: str) -> list[str]:
    return [e.message for e in cluster.events() if e.reason == reason]


def test_every_namespace_has_its_default_service_account_and_root_ca() -> None:
    clock, cluster = make()
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}])
    assert cluster.get(ObjRef("ServiceAccount", "default", "shop")) is not None
    ca = cluster.get(ObjRef("ConfigMap", "kube-root-ca.crt", "shop"))
    assert ca is not None and "BEGIN CERTIFICATE" in ca["data"]["ca.crt"]
    sc = cluster.get(ObjRef("StorageClass", "standard"))
    assert sc is not None and sc["volumeBindingMode"] == "WaitForFirstConsumer"


def test_a_claim_waits_for_its_first_consumer_then_binds_on_its_node() -> None:
    clock, cluster = make()
    cluster.apply([claim("data")])
    run(clock, cluster, 5)
    ref = ObjRef("PersistentVolumeClaim", "data", "default")
    assert cluster.get(ref)["status"]["phase"] == "Pending"  # type: ignore[index]
    assert health_of(cluster.get(ref))[0] is Health.PROGRESSING
    assert messages(cluster, "WaitForFirstConsumer") == [
        "waiting for first consumer to be created before binding"]
    cluster.apply([deployment({"volumes": [
        {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]})])
    run(clock, cluster, 10)
    pvc = cluster.get(ref)
    assert pvc is not None and pvc["status"]["phase"] == "Bound"
    assert health_of(pvc)[0] is Health.HEALTHY
    pv = cluster.get(ObjRef("PersistentVolume", pvc["spec"]["volumeName"]))
    node = the_pod(cluster)["spec"]["nodeName"]
    assert pv is not None and pv["spec"]["capacity"] == {"storage": "2Gi"}
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0][
        "matchExpressions"][0]["values"] == [node]
    assert pod_status(the_pod(cluster)) == "Running"
    # Flux applying the claim again does not fight the bound volume.
    assert cluster.apply([claim("data")], dry_run=True)[0].action == "unchanged"


def test_an_immediate_class_binds_without_a_pod() -> None:
    clock, cluster = make()
    cluster.apply([{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                    "metadata": {"name": "now"}, "provisioner": "rancher.io/local-path",
                    "volumeBindingMode": "Immediate"}, claim("data", "now")])
    run(clock, cluster, 3)
    pvc = cluster.get(ObjRef("PersistentVolumeClaim", "data", "default"))
    assert pvc is not None and pvc["status"]["phase"] == "Bound"


def test_a_claim_for_a_missing_class_stays_pending_with_the_real_event() -> None:
    clock, cluster = make()
    cluster.apply([claim("data", "fast")])
    run(clock, cluster, 30)
    pvc = cluster.get(ObjRef("PersistentVolumeClaim", "data", "default"))
    assert pvc is not None and pvc["status"]["phase"] == "Pending"
    assert messages(cluster, "ProvisioningFailed") == [
        'storageclass.storage.k8s.io "fast" not found']


def test_a_missing_claim_keeps_the_pod_pending_until_it_appears() -> None:
    clock, cluster = make()
    cluster.apply([deployment({"volumes": [
        {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]})])
    run(clock, cluster, 10)
    pod = the_pod(cluster)
    assert pod_status(pod) == "Pending" and "nodeName" not in pod["spec"]
    assert messages(cluster, "FailedScheduling")[0] == (
        '0/3 nodes are available: persistentvolumeclaim "data" not found. preemption: '
        "0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
    cluster.apply([claim("data")])
    run(clock, cluster, 8)
    assert pod_status(the_pod(cluster)) == "Running"


def test_a_missing_configmap_volume_holds_the_pod_in_container_creating() -> None:
    clock, cluster = make()
    cluster.apply([deployment({"volumes": [{"name": "conf", "configMap": {"name": "cfg"}}]})])
    run(clock, cluster, 20)
    pod = the_pod(cluster)
    assert pod_status(pod) == "ContainerCreating"
    assert messages(cluster, "FailedMount")[0] == (
        'MountVolume.SetUp failed for volume "conf" : configmap "cfg" not found')
    assert health_of(cluster.get(ObjRef("Deployment", "app", "default")))[0] \
        is Health.PROGRESSING
    cluster.apply([configmap("cfg", a="1")])
    run(clock, cluster, 5)
    assert pod_status(the_pod(cluster)) == "Running"


def test_a_missing_secret_volume_says_secret() -> None:
    clock, cluster = make()
    cluster.apply([deployment({"volumes": [{"name": "tls", "secret": {"secretName": "certs"}}]})])
    run(clock, cluster, 5)
    assert messages(cluster, "FailedMount")[0] == (
        'MountVolume.SetUp failed for volume "tls" : secret "certs" not found')


def test_a_missing_env_reference_is_create_container_config_error() -> None:
    clock, cluster = make()
    containers = [{"name": "app", "image": "app:1",
                   "envFrom": [{"configMapRef": {"name": "env"}}],
                   "env": [{"name": "K", "valueFrom": {
                       "configMapKeyRef": {"name": "env", "key": "k"}}}]}]
    cluster.apply([deployment({"containers": containers})])
    run(clock, cluster, 10)
    pod = the_pod(cluster)
    assert pod_status(pod) == "CreateContainerConfigError"
    assert health_of(pod)[0] is Health.DEGRADED
    assert messages(cluster, "Failed")[0] == 'Error: configmap "env" not found'
    cluster.apply([configmap("env", other="1")])
    run(clock, cluster, 15)
    assert messages(cluster, "Failed")[-1] == "Error: couldn't find key k in ConfigMap default/env"
    cluster.apply([configmap("env", k="1")])
    run(clock, cluster, 5)
    assert pod_status(the_pod(cluster)) == "Running"


def test_a_missing_service_account_stops_the_replicaset_creating_pods() -> None:
    clock, cluster = make()
    cluster.apply([deployment({"serviceAccountName": "robot"})])
    run(clock, cluster, 5)
    assert cluster.list("Pod", "default") == []
    failed = messages(cluster, "FailedCreate")
    assert failed and failed[0].endswith(
        'is forbidden: error looking up service account default/robot: '
        'serviceaccount "robot" not found')
    assert failed[0].startswith('Error creating: pods "app-')
    cluster.apply([{"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "robot", "namespace": "default"}}])
    run(clock, cluster, 5)
    assert pod_status(the_pod(cluster)) == "Running"
