"""Structural OpenAPI v3 schemas, as the apiextensions API server applies a CRD's
`openAPIV3Schema` to its custom resources.

Three steps, in the API server's order: unknown fields are pruned (kept under
`x-kubernetes-preserve-unknown-fields`; `apiVersion`, `kind` and `metadata` always kept
at the root and in `x-kubernetes-embedded-resource` objects), nulls of non-nullable
fields without a default are dropped and defaults filled in, then the object is
validated. Error text follows kube-openapi's validation messages as the API server
turns them into field errors (`spec.replicas: Invalid value: "string": spec.replicas in
body must be of type integer: "string"`).

Whether a CRD's schema is structural at all is structural.py's business.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

# The fields of ObjectMeta: what survives in `metadata` of a resource (others are pruned).
OBJECT_META = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields"})
RESOURCE_META = ("apiVersion", "kind", "metadata")


# -- values and field errors, printed as apimachinery's field.Error prints them ---------

class GoLiteral(str):
    """A value the API server prints with Go's %#v (a struct): shown as is, not quoted."""


def go_value(value: Any) -> str:
    """A bad value as field errors print it: strings quoted, numbers and booleans bare."""
    if isinstance(value, GoLiteral):
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class FieldError:
    path: str
    type: str  # "Invalid value", "Required value", "Unsupported value", "Too long", ...
    value: Any = None
    detail: str = ""
    show_value: bool = True

    def __str__(self) -> str:
        body = self.type
        if self.show_value and self.type not in ("Required value", "Forbidden", "Too long"):
            body += f": {go_value(self.value)}"
        if self.detail:
            body += f": {self.detail}"
        return f"{self.path or '<nil>'}: {body}"


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "Invalid value", value, detail)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "Required value", None, detail)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "Forbidden", None, detail)


def not_supported(path: str, value: Any, allowed: list[Any]) -> FieldError:
    quoted = ", ".join(json.dumps(v if isinstance(v, str) else go_value(v)) for v in allowed)
    return FieldError(path, "Unsupported value", value,
                      f"supported values: {quoted}" if allowed else "")


def aggregate(errors: list[FieldError]) -> str:
    """Several errors in one line, as the API server's invalid-object message joins them."""
    texts = [str(e) for e in errors]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def props_of(s: Schema) -> dict[str, Schema]:
    props = s.get("properties")
    return {k: v for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else {}


# -- the custom resource side: prune, default, validate ---------------------------------

def admit(obj: dict[str, Any], schema: Schema) -> tuple[list[str], list[FieldError]]:
    """Prune, default and validate `obj` in place. Returns the pruned field paths (the API
    server's `unknown field` warnings) and the validation errors."""
    pruned: list[str] = []
    _prune(obj, schema, "", pruned, resource=True)
    _default(obj, schema)
    errors: list[FieldError] = []
    _validate(obj, schema, "", errors, resource=True)
    return pruned, errors


def _prune(x: Any, s: Schema | None, path: str, pruned: list[str],
           resource: bool = False) -> None:
    if s is not None and s.get("x-kubernetes-preserve-unknown-fields"):
        _prune_known(x, s, path, pruned, resource)
        return
    if isinstance(x, dict):
        resource = resource or bool(s and s.get("x-kubernetes-embedded-resource"))
        props = props_of(s) if s else {}
        extra = s.get("additionalProperties") if s else None
        for key in list(x):
            if resource and key in RESOURCE_META:
                if key == "metadata":
                    _prune_meta(x[key], _join(path, key), pruned)
                continue
            if key in props:
                _prune(x[key], props[key], _join(path, key), pruned)
            elif isinstance(extra, dict) or extra is True:
                # `additionalProperties: true` keeps the key; an object under it has no
                # schema, so its own fields go, as the API server's pruning does.
                _prune(x[key], extra if isinstance(extra, dict) else None, _join(path, key),
                       pruned)
            else:
                pruned.append(_join(path, key))
                del x[key]
    elif isinstance(x, list):
        items = s.get("items") if s else None
        for i, v in enumerate(x):
            _prune(v, items if isinstance(items, dict) else None, f"{path}[{i}]", pruned)


def _prune_known(x: Any, s: Schema, path: str, pruned: list[str], resource: bool) -> None:
    """Unknown fields stay, but what the schema does specify is pruned below it."""
    if isinstance(x, dict):
        resource = resource or bool(s.get("x-kubernetes-embedded-resource"))
        props, extra = props_of(s), s.get("additionalProperties")
        for key in list(x):
            if resource and key in RESOURCE_META:
                if key == "metadata":
                    _prune_meta(x[key], _join(path, key), pruned)
            elif key in props:
                _prune(x[key], props[key], _join(path, key), pruned)
            elif isinstance(extra, dict):
                _prune(x[key], extra, _join(path, key), pruned)
    elif isinstance(x, list) and isinstance(s.get("items"), dict):
        for i, v in enumerate(x):
            _prune_known(v, s["items"], f"{path}[{i}]", pruned, False)


def _prune_meta(meta: Any, path: str, pruned: list[str]) -> None:
    if isinstance(meta, dict):
        for key in [k for k in meta if k not in OBJECT_META]:
            pruned.append(_join(path, key))
            del meta[key]


def _default(x: Any, s: Schema | None) -> None:
    if s is None:
        return
    if isinstance(x, dict):
        props = props_of(s)
        for key, prop in props.items():
            if key in x and x[key] is None and not prop.get("nullable") and "default" not in prop:
                del x[key]  # a non-nullable null is pruned, as if it had not been sent
            elif "default" in prop and (key not in x or (x[key] is None
                                                         and not prop.get("nullable"))):
                x[key] = json.loads(json.dumps(prop["default"]))
        extra = s.get("additionalProperties")
        for key, value in x.items():
            if key in props:
                _default(value, props[key])
            elif isinstance(extra, dict):
                _default(value, extra)
    elif isinstance(x, list) and isinstance(s.get("items"), dict):
        for v in x:
            _default(v, s["items"])


def _json_type(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int):
        return "integer"
    if isinstance(x, float):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, list):
        return "array"
    return "object" if isinstance(x, dict) else type(x).__name__


def _types(s: Schema) -> list[str]:
    if s.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    kind = s.get("type")
    return [kind] if isinstance(kind, str) and kind else []


def _validate(x: Any, s: Schema, path: str, errs: list[FieldError],
              resource: bool = False) -> None:
    name = path or "."
    types = _types(s)
    if types:
        actual = _json_type(x)
        ok = (actual in types
              or (actual == "number" and "integer" in types and float(x).is_integer())
              or (actual == "integer" and "number" in types)
              or (x is None and s.get("nullable")))
        if not ok:
            errs.append(invalid(path, actual,
                                f"{name} in body must be of type {','.join(types)}: "
                                f'"{actual}"'))
            return
    if x is None:
        return
    for sub in s.get("allOf") or []:
        if isinstance(sub, dict):
            _validate(x, sub, path, errs)
    options = [o for o in s.get("anyOf") or [] if isinstance(o, dict)]
    if options and not any(_passes(x, o, path) for o in options):
        errs.append(invalid(path, "", f"{name} must validate at least one schema (anyOf)"))
    options = [o for o in s.get("oneOf") or [] if isinstance(o, dict)]
    if options and sum(_passes(x, o, path) for o in options) != 1:
        errs.append(invalid(path, "", f"{name} must validate one and only one schema (oneOf)"))
    if isinstance(s.get("not"), dict) and _passes(x, s["not"], path):
        errs.append(invalid(path, "", f"{name} must not validate the schema (not)"))
    if isinstance(x, str):
        _string(x, s, path, name, errs)
    elif isinstance(x, dict):
        _object(x, s, path, errs, resource or bool(s.get("x-kubernetes-embedded-resource")))
    elif isinstance(x, list):
        _array(x, s, path, name, errs)
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        _number(x, s, path, name, errs)
    enum = s.get("enum")
    if isinstance(enum, list) and enum and not any(_same_value(x, e) for e in enum):
        errs.append(not_supported(path, x, enum))


def _passes(x: Any, s: Schema, path: str) -> bool:
    trial: list[FieldError] = []
    _validate(x, s, path, trial)
    return not trial


def _same_value(x: Any, e: Any) -> bool:
    if isinstance(x, bool) or isinstance(e, bool):
        return x is e
    return bool(x == e)


def _string(x: str, s: Schema, path: str, name: str, errs: list[FieldError]) -> None:
    length = len(x)
    if isinstance(s.get("maxLength"), int) and length > s["maxLength"]:
        errs.append(FieldError(path, "Too long", x, f"may not be longer than {s['maxLength']}"))
    if isinstance(s.get("minLength"), int) and length < s["minLength"]:
        errs.append(invalid(path, x, f"{name} in body should be at least {s['minLength']} "
                                     "chars long"))
    pattern = s.get("pattern")
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, x) is not None
        except re.error:
            matched = True  # the CRD check refuses bad patterns; never fail a resource on one
        if not matched:
            errs.append(invalid(path, x, f"{name} in body should match '{pattern}'"))


def _number(x: float, s: Schema, path: str, name: str, errs: list[FieldError]) -> None:
    for key, exclusive_key, above in (("maximum", "exclusiveMaximum", True),
                                      ("minimum", "exclusiveMinimum", False)):
        bound = s.get(key)
        if not isinstance(bound, (int, float)) or isinstance(bound, bool):
            continue
        exclusive = bool(s.get(exclusive_key))
        if isinstance(x, int):
            bound = int(bound)  # integers compare with the bound as an integer, as Go does
        bad = (x >= bound if exclusive else x > bound) if above else \
              (x <= bound if exclusive else x < bound)
        if bad:
            word = ("less than" if exclusive else "less than or equal to") if above else \
                   ("greater than" if exclusive else "greater than or equal to")
            errs.append(invalid(path, x, f"{name} in body should be {word} {go_value(bound)}"))
    factor = s.get("multipleOf")
    if isinstance(factor, (int, float)) and not isinstance(factor, bool) and factor > 0:
        ratio = x / factor
        if not float(ratio).is_integer():
            errs.append(invalid(path, x, f"{name} in body should be a multiple of "
                                         f"{go_value(factor)}"))


def _array(x: list[Any], s: Schema, path: str, name: str, errs: list[FieldError]) -> None:
    items = s.get("items")
    if isinstance(items, dict):
        for i, v in enumerate(x):
            _validate(v, items, f"{path}[{i}]", errs)
    if isinstance(s.get("minItems"), int) and len(x) < s["minItems"]:
        errs.append(invalid(path, len(x), f"{name} in body should have at least "
                                          f"{s['minItems']} items"))
    if isinstance(s.get("maxItems"), int) and len(x) > s["maxItems"]:
        errs.append(FieldError(path, "Too many", len(x),
                               f"must have at most {s['maxItems']} items"))


def _object(x: dict[str, Any], s: Schema, path: str, errs: list[FieldError],
            resource: bool) -> None:
    count = len(x)
    if isinstance(s.get("minProperties"), int) and count < s["minProperties"]:
        errs.append(invalid(path, count, f"{path or '.'} in body should have at least "
                                         f"{s['minProperties']} properties"))
        return
    if isinstance(s.get("maxProperties"), int) and count > s["maxProperties"]:
        errs.append(FieldError(path, "Too many", count,
                               f"must have at most {s['maxProperties']} items"))
        return
    props = props_of(s)
    extra = s.get("additionalProperties")
    for key, value in x.items():
        if resource and key in RESOURCE_META and key not in props:
            continue
        if key in props:
            _validate(value, props[key], _join(path, key), errs)
        elif isinstance(extra, dict):
            _validate(value, extra, _join(path, key), errs)
    for key in s.get("required") or []:
        if key not in x:
            errs.append(required(_join(path, str(key))))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
