"""Checks on generated objects: required fields, schema, duplicates, house rules."""

from __future__ import annotations

from sandbox.hld import ManifestDoc
from sandbox.validation.findings import Finding, object_ref
from sandbox.validation.policies import policy_problems
from sandbox.validation.schema import schema_errors


def _missing_fields(obj: dict) -> list[str]:
    missing = [key for key in ("apiVersion", "kind") if not isinstance(obj.get(key), str)
               or not obj.get(key)]
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        missing.append("metadata.name")
    return missing


def validate_documents(docs: list[ManifestDoc], kubernetes_version: str = "1.30.0") -> list[Finding]:
    """Every problem in ``docs``, each located at the HLD file and line it came from."""
    findings: list[Finding] = []
    seen: dict[tuple[str, str, str], ManifestDoc] = {}
    for doc in docs:
        obj = doc.obj
        ref = object_ref(obj)

        def add(rule: str, message: str, severity: str = "error", *, _doc: ManifestDoc = doc,
                _ref: str = ref) -> None:
            findings.append(Finding(severity, _doc.source_file, _doc.source_line, message, rule,
                                    _ref))

        missing = _missing_fields(obj)
        if missing:
            add("required-fields", f"object has no {', '.join(missing)}")
            continue
        key = (obj["kind"], str(obj["metadata"].get("namespace") or ""), obj["metadata"]["name"])
        if key in seen:
            first = seen[key]
            add("duplicate", f"defined twice; first at {first.source_file}:{first.source_line}")
        else:
            seen[key] = doc
        errors = schema_errors(obj, kubernetes_version)
        if errors is None:
            add("schema", f"no Kubernetes {kubernetes_version} schema for {obj['apiVersion']} "
                f"{obj['kind']}; not validated", "warning")
        else:
            for message in errors:
                add("schema", message)
        for rule, message in policy_problems(obj):
            add(rule, message)
    return findings
