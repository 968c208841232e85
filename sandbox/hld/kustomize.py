"""Kustomize's own files met in a static component's folder.

Fabrikate's static components copy every file as it is and never run kustomize, so a
`kustomization.yaml` there would reach the cluster as an object with no name. It is
named for what it is instead, with the two ways out.
"""

from __future__ import annotations

from typing import Any

from sandbox.hld.errors import HldError

KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def is_kustomization(shown: str, obj: dict[str, Any]) -> bool:
    """kustomize's file: by kustomize's apiVersion, or by its file name (where it often
    has no apiVersion or kind). A Flux `kustomize.toolkit.fluxcd.io` Kustomization is a
    real custom resource, not this."""
    api = obj.get("apiVersion")
    if isinstance(api, str) and api.startswith("kustomize.config.k8s.io/"):
        return True
    name = shown.rsplit("/", 1)[-1]
    return name in KUSTOMIZE_FILES and obj.get("kind") in (None, "Kustomization", "Component")


def kustomization_error(shown: str, line: int) -> HldError:
    return HldError(
        "a kustomize file (kustomization.yaml), not a Kubernetes object: static components "
        "do not run kustomize, they copy each file as it is",
        file=shown, line=line,
        fix="commit the output of 'kustomize build' in its place, or list the manifests "
            "themselves in the static folder")
