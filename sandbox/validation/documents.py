"""Checks on generated objects: required fields, schema, duplicates, house rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.hld import HldError, ManifestDoc
from sandbox.validation.findings import Finding, object_ref
from sandbox.validation.policies import policy_problems
from sandbox.validation.schema import schema_problems
from sandbox.validation.served import ServedCheck

if TYPE_CHECKING:
    from sandbox.cluster.discovery import Discovery
    from sandbox.validation.cache import CheckCache


def _missing_fields(obj: dict) -> list[str]:
    missing = [key for key in ("apiVersion", "kind") if not isinstance(obj.get(key), str)
               or not obj.get(key)]
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        missing.append("metadata.name")
    return missing


def _origin(doc: ManifestDoc,
            path: tuple[str | int, ...]) -> tuple[str, int, str, int] | None:
    """Where the value at ``path`` (or the value holding it) was set, if a ${var} set it."""
    for end in range(len(path), 0, -1):
        found = doc.value_origins.get(path[:end])
        if found is not None:
            return found
    return None


def locate(doc: ManifestDoc, path: tuple[str | int, ...],
           message: str) -> tuple[str, int, str]:
    """File, line and message of a finding about the value at ``path`` in ``doc``."""
    origin = _origin(doc, path)
    if origin is None:
        return doc.source_file, doc.source_line, message
    # The value came from a ${var}: the fix is in the config, not the template.
    return (origin[0], origin[1],
            f"{message} (from ${{{origin[2]}}} at {doc.source_file}:{origin[3]})")


def _value_at(obj: object, path: tuple[str | int, ...]) -> object:
    for part in path:
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and 0 <= part < len(obj):
            obj = obj[part]
        else:
            return None
    return obj


def _quoted_path(doc: ManifestDoc, message: str) -> tuple[str | int, ...]:
    """The ${var}-filled value a house-rule message quotes (an image tag, say), if any."""
    if not doc.value_origins:
        return ()
    for path in doc.value_origins:
        value = _value_at(doc.obj, path)
        if isinstance(value, str) and repr(value) in message:
            return path
    return ()


# Cached answers already decoded in this process, by cache key (read-only tuples/lists).
_DECODED: dict[str, tuple[Any, list[tuple[str, str]]]] = {}
# (content hash, Kubernetes version) -> (kind, namespace, name) of objects with no
# finding of their own (schema, house rules, required fields).
_PASSED: dict[tuple[str, str], tuple[str, str, str]] = {}


def validate_documents(docs: list[ManifestDoc], kubernetes_version: str = "1.30.0",
                       served: Discovery | None = None,
                       cache: CheckCache | None = None) -> list[Finding]:
    """Every problem in ``docs``, each located at the HLD file and line it came from.
    ``served`` is the live cluster's API discovery (with its CRDs), when known.

    With a cache, an object validated before (same content, same Kubernetes version)
    reuses its schema and house-rule answers; duplicates are always worked out afresh."""
    from sandbox.validation import incremental

    keys: dict[int, str] = {}
    known: dict[str, Any] = {}
    fresh: dict[str, Any] = {}
    # Shared, read-only objects (from the component cache) known to pass: only what
    # depends on the whole commit (duplicates, served kinds) is worked out for them.
    passed = [_PASSED.get((doc.digest, kubernetes_version)) if doc.digest else None
              for doc in docs]
    lacking = [None if passed[i] else _missing_fields(doc.obj) for i, doc in enumerate(docs)]
    if cache is not None:
        for index, doc in enumerate(docs):
            if not lacking[index] and not passed[index]:
                key = incremental.object_key(doc, kubernetes_version)
                if key is not None:
                    keys[index] = key
        known = cache.get_many("validate", [k for k in keys.values() if k not in _DECODED])
    findings: list[Finding] = []
    seen: dict[tuple[str, str, str], ManifestDoc] = {}
    # Only the commit's CRDs change what is served.
    api = ServedCheck([d.obj for d in docs if isinstance(d.obj, dict)
                       and d.obj.get("kind") == "CustomResourceDefinition"],
                      kubernetes_version, served)
    for index, doc in enumerate(docs):
        obj = doc.obj
        same = passed[index]
        if same is not None and same not in seen and api.problem(obj) is None:
            seen[same] = doc
            continue
        ref = object_ref(obj)

        def add(rule: str, message: str, severity: str = "error", *, _doc: ManifestDoc = doc,
                _ref: str = ref, path: tuple[str | int, ...] = ()) -> None:
            file, line, message = locate(_doc, path, message)
            findings.append(Finding(severity, file, line, message, rule, _ref))

        missing = lacking[index] if lacking[index] is not None else _missing_fields(obj)
        if missing:
            add("required-fields", f"object has no {', '.join(missing)}")
            continue
        key = (obj["kind"], str(obj["metadata"].get("namespace") or ""), obj["metadata"]["name"])
        if key in seen:
            first = seen[key]
            add("duplicate", f"defined twice; first at {first.source_file}:{first.source_line}")
        else:
            seen[key] = doc
        unserved = api.problem(obj)
        if unserved is not None:
            add("api-version", unserved[1], unserved[0])
            if unserved[0] == "error":
                continue  # the server refuses it whole: its fields do not matter yet
        cache_key = keys.get(index) or (incremental.object_key(doc, kubernetes_version)
                                         if same is not None else None)
        if cache_key is not None and cache_key in _DECODED:
            errors, policy = _DECODED[cache_key]
        elif cache_key is not None and cache_key in known:
            errors, policy = incremental.problems_from(known[cache_key])
            if len(_DECODED) >= 100_000:
                _DECODED.clear()
            _DECODED[cache_key] = (errors, policy)
        else:
            errors, policy = schema_problems(obj, kubernetes_version), policy_problems(obj)
            if cache_key is not None:
                fresh[cache_key] = incremental.problems_json(errors, policy)
                _DECODED[cache_key] = incremental.problems_from(fresh[cache_key])
        if doc.digest and errors == [] and not policy and unserved is None:
            if len(_PASSED) >= 100_000:
                _PASSED.clear()
            _PASSED[(doc.digest, kubernetes_version)] = key
        if errors is None:
            if unserved is None:  # a served kind with no bundled schema: a custom resource
                add("schema", f"no Kubernetes {kubernetes_version} schema for "
                    f"{obj['apiVersion']} {obj['kind']}; not validated", "warning")
        else:
            for path, message in errors:
                add("schema", message, path=path)
        for rule, message in policy:
            add(rule, message, path=_quoted_path(doc, message))
    if cache is not None and fresh:
        cache.put_many("validate", fresh)
    return findings


def manifest_findings(problems: list[HldError]) -> list[Finding]:
    """Content of a static path that is not a Kubernetes object, one error per file."""
    return [Finding("error", p.file or "", p.line or 0,
                    f"not a Kubernetes manifest: {p.reason}"
                    + (f" ({p.fix})" if p.fix else "")
                    + "; static paths are copied byte for byte, so keep only manifests there",
                    "manifest") for p in problems]
