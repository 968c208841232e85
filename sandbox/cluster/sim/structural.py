"""Whether a CRD version's openAPIV3Schema is structural, with the messages of
apiextensions' CRD validation (generic OpenAPI checks first; the structural invariants
only on a schema that passed them, as the API server reports them, sorted).
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.sim.schema import (
    FieldError,
    Schema,
    forbidden,
    invalid,
    not_supported,
    props_of,
    required,
)

OPENAPI_TYPES = ("array", "boolean", "integer", "number", "object", "string")
# Schema keywords a structural schema may not use (CRD validation forbids them outright).
_UNSUPPORTED = (("id", "id is not supported"),
                ("additionalItems", "additionalItems is not supported"),
                ("patternProperties", "patternProperties is not supported"),
                ("definitions", "definitions is not supported"),
                ("dependencies", "dependencies is not supported"),
                ("$ref", "$ref is not supported"))


def structural_problems(schema: Any, path: str) -> list[FieldError]:
    """Why `schema` cannot be a CRD version's openAPIV3Schema (empty when it can)."""
    if not isinstance(schema, dict):
        return [invalid(path, schema, "must be an object")]
    errs = _generic_problems(schema, path, root=True)
    if errs:  # as the API server does: structurality is judged on a schema that parses
        return errs
    if schema.get("nullable"):
        errs.append(forbidden(f"{path}.nullable", "nullable cannot be true at the root"))
    structural = _invariants(schema, "root", path)
    return errs + sorted(structural, key=str)


def _generic_problems(s: Schema, path: str, root: bool = False) -> list[FieldError]:
    errs: list[FieldError] = []
    kind = s.get("type")
    if kind is not None and kind not in OPENAPI_TYPES:
        if kind == "null":
            errs.append(forbidden(f"{path}.type",
                                  "type cannot be set to null, use nullable as an alternative"))
        else:
            errs.append(not_supported(f"{path}.type", kind, list(OPENAPI_TYPES)))
    for key, why in _UNSUPPORTED:
        if s.get(key):
            errs.append(forbidden(f"{path}.{key}", why))
    if isinstance(s.get("items"), list):
        errs.append(forbidden(f"{path}.items", "items must be a schema object and not an array"))
    if s.get("uniqueItems") is True:
        errs.append(forbidden(f"{path}.uniqueItems", "uniqueItems cannot be set to true since "
                              "the runtime complexity becomes quadratic"))
    extra = s.get("additionalProperties")
    if extra is not None and s.get("properties") and (extra is False or isinstance(extra, dict)):
        errs.append(forbidden(f"{path}.additionalProperties",
                              "additionalProperties and properties are mutual exclusive"))
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False,
                            "must be true or undefined"))
    if isinstance(extra, dict):
        errs += _generic_problems(extra, f"{path}.additionalProperties")
    for name, sub in props_of(s).items():
        errs += _generic_problems(sub, f"{path}.properties[{name}]")
    if isinstance(s.get("items"), dict):
        errs += _generic_problems(s["items"], f"{path}.items")
    for junctor in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(s.get(junctor) or []):
            if isinstance(sub, dict):
                errs += _generic_problems(sub, f"{path}.{junctor}[{i}]")
    return errs


def _invariants(s: Schema, level: str, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    kind = s.get("type")
    items = s.get("items")
    if kind == "array" and items is None:
        errs.append(required(f"{path}.items", "must be specified"))
    if isinstance(items, dict):
        errs += _invariants(items, "item", f"{path}.items")
    for name, sub in props_of(s).items():
        errs += _invariants(sub, "field", f"{path}.properties[{name}]")
    extra = s.get("additionalProperties")
    if extra is not None and level == "root":
        errs.append(forbidden(f"{path}.additionalProperties", "must not be used at the root"))
    if isinstance(extra, dict):
        errs += _invariants(extra, "field", f"{path}.additionalProperties")
    int_or_string = bool(s.get("x-kubernetes-int-or-string"))
    preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    if int_or_string and preserve:
        errs.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", True,
                            "must be false if x-kubernetes-int-or-string is true"))
    if int_or_string and embedded:
        errs.append(invalid(f"{path}.x-kubernetes-embedded-resource", True,
                            "must be false if x-kubernetes-int-or-string is true"))
    for junctor in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(s.get(junctor) or []):
            if isinstance(sub, dict) and not _int_or_string_pattern(s, junctor, i):
                errs += _nested(sub, f"{path}.{junctor}[{i}]")
    if isinstance(s.get("not"), dict):
        errs += _nested(s["not"], f"{path}.not")
    if embedded and kind != "object":
        if not kind:
            errs.append(required(f"{path}.type",
                                 "must be object if x-kubernetes-embedded-resource is true"))
        else:
            errs.append(invalid(f"{path}.type", kind,
                                "must be object if x-kubernetes-embedded-resource is true"))
    elif not kind and not int_or_string and not preserve:
        where = {"root": "at the root", "item": "for specified array items",
                 "field": "for specified object fields"}[level]
        errs.append(required(f"{path}.type", f"must not be empty {where}"))
    if embedded and extra is not None:
        errs.append(forbidden(f"{path}.additionalProperties",
                              "must not be used if x-kubernetes-embedded-resource is set"))
    if level == "root" and kind and kind != "object":
        errs.append(invalid(f"{path}.type", kind, "must be object at the root"))
    props = props_of(s)
    if level == "root" or embedded:
        for name, want in (("kind", "string"), ("apiVersion", "string"), ("metadata", "object")):
            if name in props and props[name].get("type") != want:
                errs.append(invalid(f"{path}.properties[{name}].type",
                                    props[name].get("type", ""), f"must be {want}"))
    meta = props.get("metadata")
    if level == "root" and isinstance(meta, dict):
        extra_keys = set(meta) - {"type", "properties", "description"}
        names = set(props_of(meta)) - {"name", "generateName"}
        if extra_keys or names:
            errs.append(forbidden(f"{path}.properties[metadata]",
                                  "must not specify anything other than name and generateName, "
                                  "but metadata is implicitly specified"))
    if embedded and not preserve and not props:
        errs.append(required(f"{path}.properties", "must not be empty if "
                             "x-kubernetes-embedded-resource is true without "
                             "x-kubernetes-preserve-unknown-fields"))
    return errs


def _int_or_string_pattern(s: Schema, junctor: str, i: int) -> bool:
    """The two shapes int-or-string fields may take (anyOf: integer, string)."""
    def is_pair(options: Any) -> bool:
        return (isinstance(options, list) and len(options) == 2
                and options[0] == {"type": "integer"} and options[1] == {"type": "string"})
    if junctor == "anyOf":
        return is_pair(s.get("anyOf"))
    if junctor == "allOf" and i == 0:
        first = (s.get("allOf") or [{}])[0]
        return isinstance(first, dict) and is_pair(first.get("anyOf"))
    return False


def _nested(v: Schema, path: str) -> list[FieldError]:
    """Inside allOf/anyOf/oneOf/not only value validations may appear."""
    errs: list[FieldError] = []
    for key, word in (("type", "empty"), ("additionalProperties", "undefined"),
                      ("default", "undefined"), ("title", "empty"), ("description", "empty"),
                      ("nullable", "false"), ("x-kubernetes-preserve-unknown-fields", "false"),
                      ("x-kubernetes-embedded-resource", "false"),
                      ("x-kubernetes-int-or-string", "false"),
                      ("x-kubernetes-list-map-keys", "empty"),
                      ("x-kubernetes-list-type", "undefined")):
        if v.get(key) not in (None, False, "", []):
            errs.append(forbidden(f"{path}.{key}", f"must be {word} to be structural"))
    if "metadata" in props_of(v):
        errs.append(forbidden(f"{path}.properties[metadata]",
                              "must not be specified in a nested context"))
    if isinstance(v.get("items"), dict):
        errs += _nested(v["items"], f"{path}.items")
    for name, sub in props_of(v).items():
        if name != "metadata":
            errs += _nested(sub, f"{path}.properties[{name}]")
    return errs
