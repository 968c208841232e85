"""Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch
for built-in kinds, with the merge keys of their lists (containers by name, ports by
containerPort or port, env and volumes by name...) and the `$patch`,
`$setElementOrder`, `$deleteFromPrimitiveList` and `$retainKeys` directives."""

from __future__ import annotations

from typing import Any

from sandbox.cluster.sim.store import clone

from .errors import ApiError, bad_request

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY_YAML = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (MERGE_PATCH, JSON_PATCH, STRATEGIC, APPLY_YAML)

# List fields of built-in kinds that merge by a key (patchMergeKey in the API's types);
# every other list is replaced whole, as the real server does.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",),
    "env": ("name",), "volumes": ("name",), "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",), "imagePullSecrets": ("name",),
    "ports": ("containerPort", "port"), "conditions": ("type",), "hostAliases": ("ip",),
    "ownerReferences": ("uid",), "topologySpreadConstraints": ("topologyKey",),
    "resourceClaims": ("name",), "readinessGates": ("conditionType",),
}
PRIMITIVE_MERGE = ("finalizers",)
BUILTIN_GROUPS = ("", "apps", "batch", "autoscaling", "policy", "networking.k8s.io",
                  "rbac.authorization.k8s.io", "storage.k8s.io", "scheduling.k8s.io",
                  "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io")


# -- JSON merge patch ----------------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return clone(patch)
    out = clone(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# -- JSON patch ----------------------------------------------------------------------
def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f'the server rejected our request due to an error in our request: '
                          f'path "{path}" must start with "/"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], op: str) -> tuple[Any, str]:
    for part in parts[:-1]:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error "
                           f"in our request: {op} operation does not apply: doc is missing "
                           f"path: /{'/'.join(parts)}")
    return doc, parts[-1] if parts else ""


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise bad_request("the server rejected our request due to an error in our request: "
                          "a JSON patch is a list of operations")
    doc = clone(doc)
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in (
                "add", "remove", "replace", "move", "copy", "test"):
            raise bad_request(f"the server rejected our request due to an error in our request:"
                              f" unexpected kind of operation: {op!r}")
        kind = op["op"]
        parts = _pointer(str(op.get("path", "")))
        if kind in ("move", "copy"):
            src = _pointer(str(op.get("from", "")))
            parent, key = _walk(doc, src, kind)
            value = _get(parent, key, src, kind)
            if kind == "move":
                _remove(parent, key)
            doc = _add(doc, parts, clone(value), kind)
        elif kind == "test":
            parent, key = _walk(doc, parts, kind)
            if _get(parent, key, parts, kind) != op.get("value"):
                raise ApiError(422, "Invalid", "the server rejected our request due to an error "
                               f"in our request: testing value /{'/'.join(parts)} failed")
        elif kind == "remove":
            parent, key = _walk(doc, parts, kind)
            _get(parent, key, parts, kind)
            _remove(parent, key)
        elif kind == "replace":
            parent, key = _walk(doc, parts, kind)
            _get(parent, key, parts, kind)
            if isinstance(parent, list):
                parent[int(key)] = clone(op.get("value"))
            else:
                parent[key] = clone(op.get("value"))
        else:
            doc = _add(doc, parts, clone(op.get("value")), kind)
    return doc


def _get(parent: Any, key: str, parts: list[str], op: str) -> Any:
    if isinstance(parent, dict) and key in parent:
        return parent[key]
    if isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        return parent[int(key)]
    raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                   f"request: {op} operation does not apply: doc is missing path: "
                   f"/{'/'.join(parts)}")


def _remove(parent: Any, key: str) -> None:
    if isinstance(parent, list):
        del parent[int(key)]
    else:
        del parent[key]


def _add(doc: Any, parts: list[str], value: Any, op: str) -> Any:
    if not parts:
        return value
    parent, key = _walk(doc, parts, op)
    if isinstance(parent, list):
        if key == "-":
            parent.append(value)
        elif key.isdigit() and int(key) <= len(parent):
            parent.insert(int(key), value)
        else:
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in "
                           f"our request: {op} operation does not apply: index out of range")
    elif isinstance(parent, dict):
        parent[key] = value
    else:
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our "
                       f"request: {op} operation does not apply: doc is missing path")
    return doc


# -- strategic merge patch -----------------------------------------------------------
def strategic(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return clone(patch)
    if patch.get("$patch") == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    out = clone(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(out.get(field), list) and isinstance(value, list):
                out[field] = [v for v in out[field] if v not in value]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic(out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(out.get(key), list):
            out[key] = _merge_list(out[key], value, MERGE_KEYS[key])
        elif isinstance(value, list) and key in PRIMITIVE_MERGE and isinstance(out.get(key), list):
            out[key] = out[key] + [v for v in value if v not in out[key]]
        else:
            out[key] = _strip(value)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _key_of(item: Any, keys: tuple[str, ...]) -> tuple[str, Any] | None:
    if not isinstance(item, dict):
        return None
    for k in keys:
        if k in item:
            return (k, item[k])
    return None


def _merge_list(live: list[Any], patch: list[Any], keys: tuple[str, ...]) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [_strip(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    out = [clone(x) for x in live]
    for item in patch:
        key = _key_of(item, keys)
        index = next((i for i, x in enumerate(out) if key is not None
                      and _key_of(x, (key[0],)) == key), None)
        if isinstance(item, dict) and item.get("$patch") == "delete":
            if index is not None:
                del out[index]
            continue
        if index is None:
            out.append(_strip(item))
        else:
            merged = strategic(out[index], item)
            out[index] = merged
    return out


def _strip(value: Any) -> Any:
    """A value from a patch with its directives removed."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items()
                if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
