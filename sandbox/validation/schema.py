"""Kubernetes JSON-schema validation with validators cached per (version, kind, apiVersion).

``kubernetes_validate.validate()`` re-reads and re-registers the 1.2 MB definitions file on
every call (about 6 ms an object); CI validates every object of every PR, so the schema
registry and each kind's validator are built once per process instead.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from packaging.version import InvalidVersion, Version
from referencing import Registry, Resource

from sandbox import limits
from sandbox.kubeversions import available_versions, schema_root


def _schema_root() -> Path:
    return schema_root()


@functools.cache
def schema_version(desired: str) -> str:
    """The newest bundled schema not newer than ``desired`` (major.minor), as the package does."""
    try:
        wanted = Version(desired.lstrip("v"))
    except InvalidVersion as exc:
        raise ValueError(f"not a Kubernetes version: {desired!r}") from exc
    versions = available_versions()
    candidates = [v for v in versions if Version(v).release[:2] <= wanted.release[:2]]
    if not candidates:
        raise ValueError(
            f"no bundled schemas for Kubernetes {desired}; the oldest is {versions[0]}"
        )
    return candidates[-1]


@functools.cache
def _registry(version: str) -> Registry:
    path = _schema_root() / f"v{version}-local-strict" / "_definitions.json"
    definitions = Resource.from_contents(json.loads(path.read_text("utf-8")))
    return (definitions @ Registry()).crawl()


@functools.cache
def validator_for(version: str, kind: str, api_version: str) -> jsonschema.Validator | None:
    """A strict validator (unknown fields are errors) or None when no schema exists."""
    if limits.kind_problem(kind) or limits.api_version_problem(api_version):
        return None  # never build a file name from something that is not a name
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_root() / f"v{version}-local-strict" / f"{kind.lower()}-{group}.json"
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))


def schema_errors(obj: dict[str, Any], kubernetes_version: str, limit: int = 10) -> list[str] | None:
    """Messages for every schema violation, or None when the kind has no bundled schema."""
    problems = schema_problems(obj, kubernetes_version, limit)
    return None if problems is None else [message for _, message in problems]


def schema_problems(obj: dict[str, Any], kubernetes_version: str,
                    limit: int = 10) -> list[tuple[tuple[str | int, ...], str]] | None:
    """(path in the object, message) per violation; None when the kind has no schema."""
    version = schema_version(kubernetes_version)
    validator = validator_for(version, str(obj["kind"]), str(obj["apiVersion"]))
    if validator is None:
        return None
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path))):
        path = tuple(error.absolute_path)
        where = ".".join(str(part) for part in path) or "(top level)"
        problems.append((path, f"{where}: {error.message}"))
        if len(problems) >= limit:
            problems.append(((), "(further schema errors not shown)"))
            break
    return problems
