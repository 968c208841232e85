"""OpenAPI v3 documents (`/openapi/v3` and one per group-version), from the Kubernetes
schemas that `kubernetes-validate` ships for the cluster's version.

kubectl needs them for three things: to see that the server validates fields itself
(the PATCH operation takes `fieldValidation`), so it sends `fieldValidation=Strict`
instead of downloading the v2 protobuf document; to build strategic merge patches with
the real merge keys (`x-kubernetes-patch-merge-key`); and for `kubectl explain`.
Custom resources get an open schema (any field) until the CRD module gives one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from sandbox.cluster.discovery import Resource

_REF = re.compile(r'"#/\$defs/')


@functools.lru_cache(maxsize=2)
def _definitions(kubernetes_version: str) -> dict[str, Any]:
    import kubernetes_validate

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    wanted = tuple(int(p) for p in kubernetes_version.split(".")[:2])
    have = sorted((tuple(int(x) for x in d.name[1:].split("-")[0].split(".")[:2]), d)
                  for d in base.glob("v*-local") if d.is_dir())
    if not have:
        return {}
    chosen = next((d for v, d in reversed(have) if v <= wanted), have[0][1])
    text = (chosen / "_definitions.json").read_text()
    defs = json.loads(_REF.sub('"#/components/schemas/', text)).get("$defs") or {}
    return {k: _openapi(v) for k, v in defs.items()}


def _openapi(node: Any) -> Any:
    """JSON Schema's `"type": ["string", "null"]` as OpenAPI's single type: kubectl's
    explain templates compare the type with a string."""
    if isinstance(node, dict):
        out = {k: _openapi(v) for k, v in node.items()}
        kind = out.get("type")
        if isinstance(kind, list):
            rest = [t for t in kind if t != "null"]
            if rest:
                out["type"] = rest[0]
            else:
                del out["type"]
        if isinstance(out.get("enum"), list):
            out["enum"] = [e for e in out["enum"] if e is not None]
        return out
    if isinstance(node, list):
        return [_openapi(v) for v in node]
    return node


def _def_name(defs: dict[str, Any], r: Resource) -> str | None:
    first = (r.group or "core").split(".")[0]
    suffix = f".{first}.{r.version}.{r.kind}"
    if r.group == "apiextensions.k8s.io":
        suffix = f".apiextensions.{r.version}.{r.kind}"
    return next((n for n in defs if n.endswith(suffix)), None)


def _reachable(defs: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in out or name not in defs:
            continue
        out[name] = defs[name]
        for ref in re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(defs[name])):
            todo.append(ref)
    return out


def _path(r: Resource) -> str:
    prefix = f"/api/{r.version}" if not r.group else f"/apis/{r.group}/{r.version}"
    if r.namespaced:
        return f"{prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}"
    return f"{prefix}/{r.plural}/{{name}}"


def _gv_key(r: Resource) -> str:
    return f"api/{r.version}" if not r.group else f"apis/{r.group}/{r.version}"


def root(resources: list[Resource], kubernetes_version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for key in sorted({_gv_key(r) for r in resources}):
        mine = sorted(f"{r.plural}:{r.kind}" for r in resources if _gv_key(r) == key)
        digest = hashlib.sha256(f"{kubernetes_version}|{mine}".encode()).hexdigest().upper()
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def group_version(resources: list[Resource], key: str,
                  kubernetes_version: str) -> dict[str, Any] | None:
    mine = [r for r in resources if _gv_key(r) == key]
    if not mine:
        return None
    defs = _definitions(kubernetes_version)
    roots, schemas, paths = [], {}, {}
    for r in mine:
        gvk = [{"group": r.group, "version": r.version, "kind": r.kind}]
        name = _def_name(defs, r)
        if name is None:
            name = f"{'.'.join(reversed((r.group or 'core').split('.')))}.{r.version}.{r.kind}"
            schemas[name] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                             "description": f"{r.kind} ({r.api_version})",
                             "x-kubernetes-group-version-kind": gvk}
        else:
            roots.append(name)
        ref = {"$ref": f"#/components/schemas/{name}"}
        body = {"content": {"application/json": {"schema": ref}}}
        params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")]
        paths[_path(r)] = {"patch": {
            "description": f"partially update the specified {r.kind}",
            "operationId": f"patch{r.kind}", "parameters": params,
            "requestBody": body, "responses": {"200": {"description": "OK", **body}},
            "x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk[0]}}
    reached = _reachable(defs, roots)
    for r in mine:
        name = _def_name(defs, r)
        if name in reached:
            reached[name] = {**reached[name], "x-kubernetes-group-version-kind": [
                {"group": r.group, "version": r.version, "kind": r.kind}]}
    schemas.update(reached)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": f"v{kubernetes_version}"},
            "paths": paths, "components": {"schemas": schemas}}
