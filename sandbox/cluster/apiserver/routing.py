"""From a request line to what it asks: the resource, namespace, name, subresource and
the Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.cluster.discovery import Resource

from .errors import ApiError, method_not_allowed, not_found_path

NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass
class Target:
    resource: Resource
    namespace: str  # "" for cluster-scoped resources or lists across namespaces
    name: str
    subresource: str
    verb: str


def split(path: str) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(path)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    segments = [unquote(s) for s in parts.path.split("/") if s]
    return segments, query


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def route(method: str, segments: list[str], query: dict[str, str],
          resources: list[Resource]) -> Target:
    """segments: the path after /api/v1 or /apis/GROUP/VERSION, with that prefix as
    (group, version) in the first two entries."""
    group, version, rest = segments[0], segments[1], segments[2:]
    served = {r.plural: r for r in resources if r.group == group and r.version == version}
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and not (
            len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES):
        namespace, rest = rest[1], rest[2:]
    if not rest or rest[0] not in served or len(rest) > 3:
        raise not_found_path()
    resource = served[rest[0]]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if namespace and not resource.namespaced:
        raise not_found_path()
    if sub and sub not in resource.subresources:
        raise not_found_path()
    verb = _verb(method, bool(name), query)
    if verb not in resource.verbs and not sub and verb != "deletecollection":
        raise method_not_allowed(verb, resource.kind)
    return Target(resource, namespace, name, sub, verb)


def _verb(method: str, named: bool, query: dict[str, str]) -> str:
    if method == "GET":
        if truthy(query.get("watch")):
            return "watch"
        return "get" if named else "list"
    if method == "POST" and not named:
        return "create"
    if method == "PUT" and named:
        return "update"
    if method == "PATCH" and named:
        return "patch"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    raise ApiError(405, "MethodNotAllowed",
                   "the server does not allow this method on the requested resource")
