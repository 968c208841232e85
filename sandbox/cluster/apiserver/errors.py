"""Kubernetes `Status` answers: every refusal the API server gives, with the code,
reason and message text a real API server uses (apimachinery's `errors` package)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised anywhere in a request; the server turns it into a `Status` body."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Failure", "message": self.message,
                               "reason": self.reason, "code": self.code}
        if self.details:
            out["details"] = self.details
        return out


def _details(resource: str, name: str, group: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        out["group"] = group
    return out


def qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    _details(resource, name, group))


def not_found_path() -> ApiError:
    # What a real server says for a path no API serves.
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists",
                    f'{qualified(resource, group)} "{name}" already exists',
                    _details(resource, name, group))


def conflict(resource: str, name: str, why: str, group: str = "") -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
                    _details(resource, name, group))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, name: str, causes: list[tuple[str, str, str]],
            group: str = "") -> ApiError:
    """422 with causes: (field, reason type, message) each, as field.ErrorList reads."""
    text = ", ".join(f"{f}: {m}" if f else m for f, _, m in causes)
    if len(causes) > 1:
        text = "[" + text + "]"
    details = _details(kind, name, group)
    details["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    return ApiError(422, "Invalid", f'{kind}{"." + group if group else ""} "{name}" is invalid: {text}',
                    details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(verb: str, resource: str = "") -> ApiError:
    what = f"{verb} is not supported on resources of kind \"{resource}\"" if resource else \
        "the server does not allow this method on the requested resource"
    return ApiError(405, "MethodNotAllowed", what)


def too_large() -> ApiError:
    return ApiError(413, "RequestEntityTooLarge",
                    "the server has received a request that is too large: limit is 3145728")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(user: str, verb: str, resource: str, name: str, namespace: str, why: str,
              group: str = "") -> ApiError:
    target = f'{qualified(resource, group)} "{name}"' if name else qualified(resource, group)
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    return ApiError(403, "Forbidden",
                    f'{target} is forbidden: User "{user}" cannot {verb} resource '
                    f'"{resource}" in API group "{group}"{scope}: {why}',
                    _details(resource, name, group))


def gone(requested: str, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def unsupported_media(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - accepted media '
                    f'types include: application/json, application/yaml, '
                    f'application/vnd.kubernetes.protobuf (for built-in kinds only) '
                    f'(got "{content_type}")')


def not_acceptable(accept: str) -> ApiError:
    return ApiError(406, "NotAcceptable",
                    "only the following media types are accepted: application/json, "
                    "application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io")
