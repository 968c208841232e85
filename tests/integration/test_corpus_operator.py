"""Corpus: an operator install with CRDs and custom resources (tests/corpus/operator-crds),
carried through the whole pipeline: HLD change, pull request and checks, merge,
generation, reconcile, cluster and health. Expected outcomes and exact errors are in
the corpus' expected.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.cluster.base import UnknownResourceType
from sandbox.facade import Sandbox

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "operator-crds"
EXPECTED: dict[str, Any] = yaml.safe_load((CORPUS / "expected.yaml").read_text())
CRDS_COMPONENT = """  - name: operator-crds
    type: static
    path: ./operator/crds
"""
RESOURCES_COMPONENT = """  - name: operator
    type: static
    path: ./operator/resources
"""


def corpus_files(folder: str, hld_folder: str) -> dict[str, str | None]:
    return {f"operator/{hld_folder}/{p.name}": p.read_text()
            for p in sorted((CORPUS / folder).glob("*.yaml"))}


def components(*blocks: str, remove: bool = False) -> Any:
    """An edit of the HLD's component.yaml adding (or removing) subcomponent entries."""
    def edit(work: Path) -> None:
        component = work / "component.yaml"
        text = component.read_text().rstrip("\n") + "\n"
        for block in blocks:
            if remove:
                text = text.replace(block, "")
            elif block not in text:
                text += block
        component.write_text(text)
    return edit


def ship(sb: Sandbox, branch: str, files: dict[str, str | None], message: str,
         edit: Any = None) -> tuple[dict[str, Any], str]:
    """Commit, open a PR, and merge it when its checks pass. Returns the deployment
    record (or, when the checks fail, a record with the check's summary as error)."""
    sb.commit_files(branch, files, message, edit=edit)
    pr = sb.open_pr(branch, message)
    checked = sb.wait_for_checks(pr.id, 60)
    if checked.checks_state != "success":
        # The check dry-runs against the live cluster, as Flux does: its log has it all.
        return {"sync_status": "check failed"}, sb.pr_diff(pr.id)["log"]
    sb.approve_pr(pr.id, "reviewer")
    merged = sb.merge_pr(pr.id, "operator")
    assert merged.merge_sha
    dep = sb.wait_for_deployment(merged.merge_sha, 60)
    return dep, "\n".join(sb.sync_status().get("errors") or [])


def dig(obj: Any, path: str) -> Any:
    for key in path.split("."):
        if isinstance(obj, list):
            obj = obj[int(key)]
        elif isinstance(obj, dict):
            obj = obj.get(key)
        if obj is None:
            return None
    return obj


def stored(sb: Sandbox, ref: str) -> dict[str, Any]:
    kind, namespace, name = ref.split("/")
    found = [o for o in sb.cluster_objects(kind) if o["metadata"]["name"] == name
             and (o["metadata"].get("namespace") or "") in (namespace, "")]
    assert found, f"{ref} is not in the cluster"
    return found[0]


def test_operator_install_through_the_pipeline(running: Sandbox) -> None:
    sb = running
    # 1. Custom resources whose CRDs are nowhere: refused, nothing applied.
    dep, errors = ship(sb, "operator-crs-only", corpus_files("resources", "resources"),
                       "Add the operator's resources", components(RESOURCES_COMPONENT))
    assert dep["sync_status"] in ("failed", "check failed"), dep
    for line in EXPECTED["without_crds"]:
        assert line.split(": ", 1)[1] in errors, errors
    with pytest.raises(UnknownResourceType, match='resource type "certificates"'):
        sb.cluster_objects("certificates")  # as kubectl answers before the CRD exists

    # 2. The CRDs in the same change: CRDs first, then namespace, then the rest.
    dep, errors = ship(sb, "operator-install",
                       {**corpus_files("crds", "crds"), **corpus_files("resources", "resources")},
                       "Install the operator's CRDs",
                       components(RESOURCES_COMPONENT, CRDS_COMPONENT))
    installed = EXPECTED["installed"]
    assert dep["sync_status"] == "synced", (dep, errors)
    assert dep["health"] == installed["health"], (dep, sb.health())
    crds = sb.cluster_objects("CustomResourceDefinition")
    assert sorted(c["metadata"]["name"] for c in crds) == installed["crds"]
    for crd in crds:
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions == {"NamesAccepted": "True", "Established": "True"}
    for ref, fields in installed["stored"].items():
        obj = stored(sb, ref)
        for path, want in fields.items():
            assert dig(obj, path) == want, (ref, path, obj)
    # The CRDs' names are kubectl's names now: plural, singular, short names, categories.
    assert [o["metadata"]["name"] for o in sb.cluster_objects("certs")] == ["shop-tls"]
    assert [o["metadata"]["name"] for o in sb.cluster_objects("hr")] == ["podinfo"]
    objects = sb.health()["objects"]
    custom = {ref: health for ref, health in objects.items()
              if ref.split("/")[0] in ("Certificate", "ClusterIssuer", "HelmRelease",
                                       "Gateway", "HTTPRoute")}
    assert len(custom) == 5 and {h for h, _ in custom.values()} == {"Healthy"}, objects

    # 3. Broken manifests: each refused with the API server's exact words.
    broken = EXPECTED["broken"]
    files: dict[str, str | None] = {
        f"operator/{target}": (CORPUS / source).read_text()
        for target, source in broken["files"].items()}
    dep, errors = ship(sb, "operator-broken", files, "Break the operator's resources")
    assert dep["sync_status"] in ("failed", "check failed"), dep
    for line in broken["errors"]:
        assert line.split(": ", 1)[1] in errors, errors
    assert stored(sb, "Gateway/edge/public")["spec"]["listeners"][0]["port"] == 443

    # 4. The operator leaves the HLD: everything it brought is pruned.
    gone: dict[str, str | None] = {
        rel: None for rel in [*corpus_files("crds", "crds"), *files,
                              *corpus_files("resources", "resources")]}
    dep, errors = ship(sb, "operator-remove", gone, "Remove the operator",
                       components(RESOURCES_COMPONENT, CRDS_COMPONENT, remove=True))
    assert dep["sync_status"] == "synced", (dep, errors)
    assert sb.cluster_objects("CustomResourceDefinition") == EXPECTED["removed"]["crds"]
    with pytest.raises(UnknownResourceType):
        sb.cluster_objects("gtw")
