"""API discovery: the simulated server's resources per Kubernetes version, from generated
data that must agree with the schemas the installed kubernetes-validate ships."""

from __future__ import annotations

import gc
import json

import pytest

from sandbox.cluster import discovery
from sandbox.cluster.base import CLUSTER_SCOPED, ObjRef, UnknownResourceType, resolve_kind
from sandbox.cluster.discovery import Discovery, Resource, no_match, resources_from_crd
from sandbox.kubeversions import available_versions, schema_root

# Every name `kubectl get` accepts for these kinds on a 1.30 server.
KUBECTL_NAMES = {
    "hpa": "HorizontalPodAutoscaler", "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "sts": "StatefulSet", "statefulset": "StatefulSet", "ds": "DaemonSet",
    "cj": "CronJob", "cronjobs": "CronJob", "jobs": "Job", "pvc": "PersistentVolumeClaim",
    "pv": "PersistentVolume", "ing": "Ingress", "netpol": "NetworkPolicy",
    "crd": "CustomResourceDefinition", "crds": "CustomResourceDefinition",
    "sa": "ServiceAccount", "deploy": "Deployment", "Deployment": "Deployment",
    "deployments.apps": "Deployment", "deployment.v1.apps": "Deployment",
    "po": "Pod", "svc": "Service", "cm": "ConfigMap", "secrets": "Secret", "ep": "Endpoints",
    "ns": "Namespace", "no": "Node", "rs": "ReplicaSet", "sc": "StorageClass",
    "pdb": "PodDisruptionBudget", "ingressclasses": "IngressClass", "quota": "ResourceQuota",
    "limits": "LimitRange", "pc": "PriorityClass", "csr": "CertificateSigningRequest",
    "events.events.k8s.io": "Event", "ev": "Event", "roles": "Role",
    "clusterrolebindings": "ClusterRoleBinding",
    "validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
}


@pytest.fixture(scope="module")
def d130() -> Discovery:
    return Discovery("1.30.0")


@pytest.mark.parametrize("name,kind", sorted(KUBECTL_NAMES.items()))
def test_every_kubectl_name_resolves(d130: Discovery, name: str, kind: str) -> None:
    assert d130.resolve_name(name)[0].kind == kind
    assert resolve_kind(name, d130) == kind


@pytest.mark.parametrize("name", ["foo", "deployments.nope", "deploy.v9.apps", "hpas"])
def test_unknown_names_are_kubectls_error(d130: Discovery, name: str) -> None:
    assert d130.resolve_name(name) == []
    with pytest.raises(UnknownResourceType) as err:
        resolve_kind(name, d130)
    assert str(err.value) == f'the server doesn\'t have a resource type "{name}"'


def test_a_resource_carries_its_names_scope_verbs_and_subresources(d130: Discovery) -> None:
    dep = d130.lookup("apps/v1", "Deployment")
    assert dep == Resource("apps", "v1", "Deployment", "deployments", "deployment", ("deploy",),
                           True, ("create", "delete", "deletecollection", "get", "list",
                                  "patch", "update", "watch"), ("scale", "status"),
                           None, dep.since if dep else None)
    assert dep is not None and dep.api_version == "apps/v1"
    ns = d130.lookup("v1", "Namespace")
    assert ns is not None and not ns.namespaced and ns.api_version == "v1"
    assert "deletecollection" not in ns.verbs  # a Namespace cannot be deleted by collection


def test_removed_versions_are_not_served_and_say_when(d130: Discovery) -> None:
    assert d130.lookup("extensions/v1beta1", "Deployment") is None
    gone = d130.removed("extensions/v1beta1", "Deployment")
    assert gone is not None and gone.removed_in == "1.16"
    assert d130.removed("extensions/v1beta1", "Ingress").removed_in == "1.22"  # type: ignore[union-attr]
    assert d130.lookup("batch/v1beta1", "CronJob") is None  # removed in 1.25
    assert Discovery("1.24").lookup("batch/v1beta1", "CronJob") is not None
    assert d130.lookup("autoscaling/v2", "HorizontalPodAutoscaler") is not None
    assert no_match("extensions/v1beta1", "Deployment") == (
        'no matches for kind "Deployment" in version "extensions/v1beta1"')


def test_alpha_versions_are_off_as_on_a_default_server() -> None:
    alpha = [r for r in discovery._all_builtin() if "alpha" in r.version
             and discovery._served(r, (1, 30))]
    assert alpha, "the data has alpha resources served by 1.30"
    assert Discovery("1.30").lookup(alpha[0].api_version, alpha[0].kind) is None
    assert Discovery("1.30", enable_alpha=True).lookup(alpha[0].api_version, alpha[0].kind)


def test_resources_lists_the_preferred_version_once(d130: Discovery) -> None:
    hpas = [r for r in d130.resources() if r.kind == "HorizontalPodAutoscaler"]
    assert [r.api_version for r in hpas] == ["autoscaling/v2"]
    events = [r.group for r in d130.resources() if r.plural == "events"]
    assert events == ["", "events.k8s.io"]  # core first, as kubectl resolves `events`


@pytest.mark.parametrize("kind", ["IngressClass", "ValidatingWebhookConfiguration",
                                  "MutatingWebhookConfiguration", "StorageClass", "Namespace",
                                  "ClusterRole", "PersistentVolume", "CSIDriver", "Node",
                                  "APIService", "RuntimeClass", "PriorityClass"])
def test_cluster_scoped_kinds_come_from_discovery(kind: str) -> None:
    assert kind in CLUSTER_SCOPED
    ref = ObjRef.of({"kind": kind, "metadata": {"name": "x", "namespace": "default"}})
    assert ref.namespace == ""


def test_namespaced_kinds_default_their_namespace() -> None:
    for kind in ("Deployment", "PersistentVolumeClaim", "Role", "Ingress", "Lease"):
        assert ObjRef.of({"kind": kind, "metadata": {"name": "x"}}).namespace == "default"


CLUSTER_ISSUER_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "clusterissuers.cert-manager.io"},
    "spec": {"group": "cert-manager.io", "scope": "Cluster",
             "names": {"kind": "ClusterIssuer", "plural": "clusterissuers",
                       "singular": "clusterissuer", "shortNames": ["ciss"]},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}}},
                          {"name": "v1alpha2", "served": False, "storage": False}]},
}


def test_registered_crds_resolve_and_decide_scope() -> None:
    found = Discovery("1.30")
    resources = resources_from_crd(CLUSTER_ISSUER_CRD)
    assert [r.api_version for r in resources] == ["cert-manager.io/v1"]  # v1alpha2 not served
    ref = {"kind": "ClusterIssuer", "metadata": {"name": "le", "namespace": "default"}}
    assert ObjRef.of(ref).namespace == "default"
    found.register(resources)
    assert ObjRef.of(ref).namespace == ""
    assert found.lookup("cert-manager.io/v1", "ClusterIssuer") is not None
    for name in ("clusterissuers", "clusterissuer", "ciss", "ClusterIssuer",
                 "clusterissuers.cert-manager.io"):
        assert resolve_kind(name, found) == "ClusterIssuer"
    assert not found.namespaced("ClusterIssuer")
    found.unregister("cert-manager.io", "ClusterIssuer")
    assert found.lookup("cert-manager.io/v1", "ClusterIssuer") is None
    assert ObjRef.of(ref).namespace == "default"
    with pytest.raises(UnknownResourceType):
        resolve_kind("ciss", found)


def test_a_discarded_discovery_gives_its_crd_scope_back() -> None:
    found = Discovery("1.30")
    found.register(resources_from_crd(CLUSTER_ISSUER_CRD))
    assert "ClusterIssuer" in CLUSTER_SCOPED
    del found
    gc.collect()
    assert "ClusterIssuer" not in CLUSTER_SCOPED


def test_a_crd_that_is_not_shaped_like_one_registers_nothing() -> None:
    assert resources_from_crd({"spec": {"group": "x.io"}}) == []
    assert resources_from_crd({"spec": "nonsense"}) == []


# --- the committed data against its source ------------------------------------------

def _schema_gvks(version: str) -> set[tuple[str, str, str]]:
    path = schema_root() / f"v{version}-local-strict" / "_definitions.json"
    raw = json.loads(path.read_text("utf-8"))
    defs = raw.get("$defs") or raw.get("definitions") or {}
    return {(g["group"], g["version"], g["kind"]) for name, schema in defs.items()
            if not name.startswith("io.k8s.apimachinery.")
            for g in schema.get("x-kubernetes-group-version-kind") or []
            if not g["kind"].endswith("List")}


@pytest.mark.parametrize("version", available_versions())
def test_committed_data_matches_the_installed_schemas(version: str) -> None:
    """Drift: a newer kubernetes-validate (a new Kubernetes version, a kind added or
    removed) fails here until `python -m sandbox.cluster.data.generate` runs again."""
    raw = json.loads(discovery.DATA.read_text("utf-8"))
    label = ".".join(version.split(".")[:2])
    assert label in raw["versions"], f"discovery data has no Kubernetes {label}: regenerate it"
    dropped = set(raw["dropped"])
    at = discovery.minor(version)
    in_data = {(r.group, r.version, r.kind) for r in discovery._all_builtin()
               if discovery._served(r, at)}
    expected = {gvk for gvk in _schema_gvks(version) if "/".join(gvk) not in dropped}
    assert in_data == expected
