"""The PR check answers as the API server would for kinds and versions it does not serve:
`no matches for kind "X" in version "Y"`, an error at the HLD file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.cluster.discovery import Discovery, resources_from_crd
from sandbox.hld import ManifestDoc
from sandbox.validation import check_hld, validate_documents

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "helmreleases.helm.toolkit.fluxcd.io"},
    "spec": {"group": "helm.toolkit.fluxcd.io", "scope": "Namespaced",
             "names": {"kind": "HelmRelease", "plural": "helmreleases"},
             "versions": [{"name": "v2", "served": True, "storage": True}]},
}
RELEASE = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": "podinfo", "namespace": "demo"}, "spec": {"interval": "5m"}}


def legacy_deployment() -> dict[str, Any]:
    return {"apiVersion": "extensions/v1beta1", "kind": "Deployment",
            "metadata": {"name": "old", "namespace": "demo"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}


def docs(*objects: dict[str, Any]) -> list[ManifestDoc]:
    return [ManifestDoc(obj, "legacy/app.yaml", 1 + 10 * i, "legacy")
            for i, obj in enumerate(objects)]


def test_a_removed_api_version_is_an_error_at_its_line() -> None:
    [finding] = validate_documents(docs({"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "c"}}, legacy_deployment()))
    assert (finding.severity, finding.rule, finding.file, finding.line) == (
        "error", "api-version", "legacy/app.yaml", 11)
    assert finding.message == (
        'no matches for kind "Deployment" in version "extensions/v1beta1" '
        "(extensions/v1beta1 Deployment was removed in Kubernetes 1.16; use apps/v1)")


def test_what_is_removed_depends_on_the_chosen_version() -> None:
    hpa = {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "h", "namespace": "demo"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3}}
    assert validate_documents(docs(hpa), "1.25.0") == []
    [finding] = validate_documents(docs(hpa), "1.26.0")
    assert finding.severity == "error" and "removed in Kubernetes 1.26" in finding.message


def test_an_unknown_builtin_kind_is_an_error() -> None:
    typo = {"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "x"}}
    [finding] = validate_documents(docs(typo))
    assert finding.severity == "error"
    assert finding.message == 'no matches for kind "Deploymnet" in version "apps/v1"'


def test_a_crd_in_the_same_commit_serves_its_kind() -> None:
    findings = validate_documents(docs(CRD, RELEASE))
    assert [(f.severity, f.rule) for f in findings] == [("warning", "schema")]  # no schema


def test_a_crd_for_another_version_does_not_serve_this_one() -> None:
    older = {**RELEASE, "apiVersion": "helm.toolkit.fluxcd.io/v2beta1"}
    [finding] = validate_documents(docs(CRD, older))
    assert finding.severity == "error"
    assert finding.message.startswith(
        'no matches for kind "HelmRelease" in version "helm.toolkit.fluxcd.io/v2beta1"')


def test_with_the_live_clusters_discovery_a_missing_crd_is_an_error() -> None:
    live = Discovery("1.30.0")
    [finding] = validate_documents(docs(RELEASE), served=live)
    assert finding.severity == "error"
    assert finding.message.endswith("ensure CRDs are installed first")
    live.register(resources_from_crd(CRD))
    assert [f.rule for f in validate_documents(docs(RELEASE), served=live)] == ["schema"]


def test_without_it_a_missing_crd_is_a_warning_quoting_the_apply_error() -> None:
    [finding] = validate_documents(docs(RELEASE))
    assert finding.severity == "warning"
    assert 'no matches for kind "HelmRelease" in version "helm.toolkit.fluxcd.io/v2"' in (
        finding.message)


@pytest.fixture
def legacy_hld(tmp_path: Path) -> Path:
    root = tmp_path / "hld"
    (root / "legacy").mkdir(parents=True)
    (root / "component.yaml").write_text(
        "name: app\nsubcomponents:\n  - name: legacy\n    type: static\n"
        "    method: local\n    path: ./legacy\n")
    (root / "legacy" / "app.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\n"
        "---\n"
        "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: old\n"
        "  namespace: default\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - name: c\n          image: x:1\n")
    return root


def test_the_check_fails_naming_the_hld_file_and_line(legacy_hld: Path) -> None:
    report = check_hld(legacy_hld, ["common"], "1.30.0")
    assert not report.ok
    [error] = report.errors
    assert (error.file, error.line, error.rule) == ("legacy/app.yaml", 7, "api-version")
    assert str(error).startswith('legacy/app.yaml:7: error: Deployment/default/old: no matches '
                                 'for kind "Deployment" in version "extensions/v1beta1"')
