"""The PR check's server-side dry run: the head's objects against the live cluster.

Flux dry-runs every object before it applies any; whatever the cluster would refuse
then (a namespace neither in the cluster nor in the commit, a kind it does not serve, a
field it will not change) leaves main stuck at reconcile. The check asks the same
question before the merge, through the cluster backend's own dry run (the simulated API
server, or `kubectl apply --dry-run=server` on kind), and reports each refusal at the
HLD file and line that produced the object. It reports what the cluster says; it does
not guess.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.hld import ManifestDoc
from sandbox.validation.findings import Finding, object_ref

DryRun = Callable[[list[dict[str, Any]]], list[Any]]  # objects -> ApplyResult per object

# What to do about the usual refusals; the cluster's own words come first.
_FIXES = (
    ("not found", "namespaces", "add the Namespace to the HLD, or create it in the cluster"),
    ("field is immutable", "", "the object must be replaced: give it a new name, or "
     "delete it in an earlier change"),
    ("may not change once set", "", "leave the field out, or replace the object under a "
     "new name"),
    ("Forbidden", "immutable", "the object must be replaced: give it a new name, or "
     "delete it in an earlier change"),
    ("Forbidden: updates to statefulset spec", "", "only replicas, template, "
     "updateStrategy and a few more may change; replace the StatefulSet to change others"),
    ("no matches for kind", "", "apply its CustomResourceDefinition first (in this commit "
     "or before), or use an apiVersion this Kubernetes version serves"),
)


def _fix(error: str) -> str:
    for needle, also, fix in _FIXES:
        if needle in error and also in error:
            return fix
    return ""


def dry_run_findings(docs: list[ManifestDoc], dry_run: DryRun) -> list[Finding]:
    """One error per object the cluster refuses, at the file and line it came from."""
    if not docs:
        return []
    try:
        results = dry_run([doc.obj for doc in docs])
    except Exception as exc:  # noqa: BLE001 - an unreachable cluster must not fail the job
        return [Finding("warning", "", 0, f"the server-side dry run did not run ({exc}); "
                        "the cluster may still refuse these objects at reconcile",
                        "dry-run")]
    findings: list[Finding] = []
    for doc, result in zip(docs, results, strict=False):
        error = getattr(result, "error", None)
        if not error:
            continue
        fix = _fix(str(error))
        findings.append(Finding(
            "error", doc.source_file, doc.source_line,
            f"the cluster refuses it (server-side dry run, as Flux does before it applies): "
            f"{error}" + (f" ({fix})" if fix else ""), "dry-run", object_ref(doc.obj)))
    return findings
