"""Does the API server serve each object's kind and apiVersion? The PR check's view of
API discovery: the chosen Kubernetes version's resources, the CRDs the commit itself
carries and, when the caller knows it, what the live cluster has registered.

A kind or version the server does not serve is its own error, `no matches for kind "X"
in version "Y"`, at the HLD file and line. A custom resource whose CRD is not in the
commit is only a warning without the live cluster: its CRD may have been installed
outside this repository, and the dry run against the cluster tells.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.discovery import Discovery, for_version, unserved


class ServedCheck:
    """One per check run: answers `problem(obj)` for every object of the commit."""

    def __init__(self, objects: list[dict[str, Any]], kubernetes_version: str,
                 live: Discovery | None = None) -> None:
        self.knows_cluster = live is not None
        base = live if live is not None else for_version(kubernetes_version)
        # A CRD and its resources in one commit work (CRDs apply first), so the commit's
        # own CRDs count as served.
        self.served = base.with_crds(objects)
        self._answers: dict[tuple[str, str], tuple[str, str] | None] = {}

    def problem(self, obj: dict[str, Any]) -> tuple[str, str] | None:
        """(severity, message) when the server would not serve this object, else None."""
        asked = (str(obj["apiVersion"]), str(obj["kind"]))
        if asked not in self._answers:  # one answer per kind and version in a commit
            self._answers[asked] = self._problem(*asked)
        return self._answers[asked]

    def _problem(self, api_version: str, kind: str) -> tuple[str, str] | None:
        if self.served.lookup(api_version, kind) is not None:
            return None
        message = unserved(self.served, api_version, kind)
        group = api_version.rpartition("/")[0]
        custom = bool(group) and not self.served.builtin_group(group)
        if custom and not self.knows_cluster and not self._group_defined(group):
            return ("warning", f"no CRD in this commit serves {api_version} {kind}; unless the "
                    f"cluster has one, applying it fails with: {message}")
        return ("error", message)

    def _group_defined(self, group: str) -> bool:
        return any(r.group == group for r in self.served.registered())
