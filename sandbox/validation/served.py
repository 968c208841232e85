"""Does the API server serve each object's kind and apiVersion? The PR check's view of
API discovery: the chosen Kubernetes version's resources plus the CRDs the commit itself
carries (CRDs apply first), and, when the caller has it, the live cluster's discovery.

A kind or version the server does not serve is its own error, `no matches for kind "X"
in version "Y"`, at the HLD file and line. A custom resource whose CRD is not in the
commit is only a warning without the live cluster: its CRD may have been installed
outside this repository, and the dry run against the cluster tells.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.cluster.discovery import Discovery, for_version, unserved
from sandbox.validation.findings import Finding, object_ref

if TYPE_CHECKING:
    from sandbox.hld import ManifestDoc

RULE = "api-version"


def served_findings(docs: list[ManifestDoc], kubernetes_version: str,
                    live: Discovery | None = None) -> list[Finding]:
    base = live if live is not None else for_version(kubernetes_version)
    served = base.with_crds([d.obj for d in docs])
    findings = []
    for doc in docs:
        obj = doc.obj
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            continue  # reported as missing fields
        if served.lookup(api_version, kind) is not None:
            continue
        message = unserved(served, api_version, kind)
        group = api_version.rpartition("/")[0]
        severity = "error"
        if (live is None and group and not served.builtin_group(group)
                and not any(r.group == group for r in served.registered())):
            severity = "warning"
            message = (f"no CRD in this commit serves {api_version} {kind}; unless the "
                       f"cluster has one, applying it fails with: {message}")
        findings.append(Finding(severity, doc.source_file, doc.source_line, message, RULE,
                                object_ref(obj)))
    return findings


def without_schema_notes(findings: list[Finding], served: list[Finding]) -> list[Finding]:
    """The schema check's "no schema; not validated" note says nothing more about an
    object that API discovery already reported."""
    reported = {(f.file, f.line, f.object) for f in served}
    return [f for f in findings if not (f.rule == "schema" and f.severity == "warning"
                                        and (f.file, f.line, f.object) in reported)]
