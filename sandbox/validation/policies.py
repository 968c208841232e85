"""House rules for generated manifests, beyond what the schema says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_POD_TEMPLATE_KINDS = {
    "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job",
}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return None
    if kind == "Pod":
        found: Any = spec
    elif kind in _POD_TEMPLATE_KINDS:
        found = (spec.get("template") or {}).get("spec")
    elif kind == "CronJob":
        found = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get(
            "spec"
        )
    else:
        return None
    return found if isinstance(found, dict) else None


def containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(obj)
    if spec is None:
        return
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                yield container


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned, or None when it is."""
    if "@" in image:
        return None  # a digest pins the image whatever the tag says
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag, so it means :latest"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses the :latest tag"
    return None


def policy_problems(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(rule, message) pairs for every house rule the object breaks."""
    problems: list[tuple[str, str]] = []
    for container in containers(obj):
        name = container.get("name", "?")
        image = container.get("image")
        if isinstance(image, str):
            problem = image_problem(image)
            if problem:
                problems.append(
                    ("image-tag", f"container {name!r}: {problem}; pin a version tag or digest")
                )
        resources = container.get("resources") if isinstance(container.get("resources"), dict) else {}
        missing = [key for key in ("requests", "limits") if not resources.get(key)]
        if missing:
            problems.append((
                "resources",
                f"container {name!r} has no resources.{' or resources.'.join(missing)}; "
                "set both so the scheduler and the rollout can be trusted",
            ))
    if obj.get("kind") == "Secret":
        carried = [key for key in ("data", "stringData") if obj.get(key)]
        if carried:
            problems.append((
                "secret-in-hld",
                f"Secret carries values in {' and '.join(carried)} in plain text in the HLD; "
                "keep secrets out of git (sealed or external secrets)",
            ))
    return problems
