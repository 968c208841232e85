"""API discovery of the chosen Kubernetes version: which kinds exist, their names and scope.

A real API server answers `kubectl api-resources` from its registry; the simulated one
answers from `data/discovery.json`, generated (see `data/generate.py`) from Kubernetes'
own OpenAPI documents: the JSON schemas kubernetes-validate ships say which
group/version/kind each version serves, and the official Python client (generated from
the same OpenAPI) gives the REST paths, hence plural, scope, verbs and subresources.
Short names come from the API server's registry; the data file says where.

The data loads on first use only: the command line's start-up never reads it.
Custom resources join through `register` when the cluster learns a CRD.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import weakref
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("data") / "discovery.json"


@dataclass(frozen=True)
class Resource:
    group: str  # "" for core
    version: str  # "v1"
    kind: str  # "Deployment"
    plural: str  # "deployments"
    singular: str  # "deployment"
    short_names: tuple[str, ...]  # ("deploy",)
    namespaced: bool
    verbs: tuple[str, ...]
    subresources: tuple[str, ...] = ()  # ("status", "scale")
    removed_in: str | None = None  # "1.16" for extensions/v1beta1 Deployment
    since: str | None = None  # first Kubernetes version serving it (None: custom resource)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def no_match(api_version: str, kind: str) -> str:
    """The API server's answer to an object whose kind or version it does not serve."""
    return f'no matches for kind "{kind}" in version "{api_version}"'


def unknown_resource_type(name: str) -> str:
    """kubectl's answer to `kubectl get <name>` for a name discovery does not know
    (kubectl prints it after `error: `, as the command line does)."""
    return f'the server doesn\'t have a resource type "{name}"'


DEFAULT_VERSION = "1.30.0"  # the workspace setting's default


def resources_from_crd(crd: dict[str, Any]) -> list[Resource]:
    """The resources a CustomResourceDefinition (apiextensions.k8s.io/v1) serves, one per
    served version; [] when it is not shaped like one."""
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    group, kind, plural = spec.get("group"), names.get("kind"), names.get("plural")
    if not all(isinstance(v, str) and v for v in (group, kind, plural)):
        return []
    short = tuple(s for s in names.get("shortNames") or [] if isinstance(s, str))
    singular = names.get("singular") if isinstance(names.get("singular"), str) else ""
    namespaced = spec.get("scope", "Namespaced") != "Cluster"
    verbs = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    found = []
    for entry in spec.get("versions") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        if entry.get("served", True) is False:
            continue
        subs = tuple(sorted((entry.get("subresources") or {}).keys())) if isinstance(
            entry.get("subresources"), dict) else ()
        found.append(Resource(group, entry["name"], kind, plural, singular or kind.lower(),
                              short, namespaced, verbs, subs))
    return found


def minor(version: str) -> tuple[int, int]:
    """`1.30.0`, `v1.30`, `1.30` -> (1, 30)."""
    match = re.match(r"^v?(\d+)\.(\d+)", version.strip())
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(match.group(1)), int(match.group(2))


_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' order of API versions: GA before beta before alpha, higher first.
    (apimachinery's CompareKubeAwareVersionStrings); larger sorts first when reversed."""
    match = _VERSION_RE.match(version)
    if not match:
        return (-1, 0, 0)
    stage = {None: 2, "beta": 1, "alpha": 0}[match.group(2)]
    return (stage, int(match.group(1)), int(match.group(3) or 0))


@functools.cache
def _all_builtin() -> tuple[Resource, ...]:
    """Every group/version/kind any known Kubernetes version served, from the data file."""
    raw: dict[str, Any] = json.loads(DATA.read_text("utf-8"))
    verb_sets: list[list[str]] = raw["verb_sets"]
    found = []
    for row in raw["resources"]:
        group, version, kind, plural, namespaced, verbs, subs, shorts, since, removed = row
        found.append(Resource(group, version, kind, plural, kind.lower(), tuple(shorts),
                              bool(namespaced), tuple(verb_sets[verbs]), tuple(subs),
                              removed, since))
    return tuple(found)


@functools.cache
def _builtin_groups() -> frozenset[str]:
    return frozenset(r.group for r in _all_builtin())


def builtin_groups() -> frozenset[str]:
    """Every API group a known Kubernetes version serves ("" is the core group)."""
    return _builtin_groups()


def data_provenance() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(DATA.read_text("utf-8"))
    return raw["provenance"]


@functools.cache
def builtin_cluster_scoped() -> frozenset[str]:
    """Kinds that are cluster-scoped in every group and version that defines them."""
    scoped = {r.kind for r in _all_builtin() if not r.namespaced}
    return frozenset(scoped - {r.kind for r in _all_builtin() if r.namespaced})


def _served(res: Resource, at: tuple[int, int]) -> bool:
    if res.since is not None and minor(res.since) > at:
        return False
    return res.removed_in is None or minor(res.removed_in) > at


# Scope of custom kinds, shared by every Discovery in the process: ObjRef (hot, with no
# cluster at hand) asks by kind alone. Counted, so two clusters in one process (tests)
# registering the same CRD do not unregister it for each other.
_custom_lock = threading.Lock()
_custom_cluster_scoped: Counter[str] = Counter()
_scope_listeners: list[Any] = []


def on_scope_change(listener: Any) -> None:
    """Call ``listener(kind, cluster_scoped_now)`` whenever a registered kind's scope changes."""
    _scope_listeners.append(listener)


def custom_cluster_scoped() -> set[str]:
    with _custom_lock:
        return {k for k, n in _custom_cluster_scoped.items() if n > 0}


class Discovery:
    """What `kubectl api-resources` lists on a server of ``kubernetes_version``."""

    def __init__(self, kubernetes_version: str, *, enable_alpha: bool = False) -> None:
        self.kubernetes_version = kubernetes_version
        at = minor(kubernetes_version)
        # Alpha API versions are off unless the server's --runtime-config turns them on
        # (Kubernetes API versioning), so a default server does not serve them.
        self._builtin = [r for r in _all_builtin() if _served(r, at)
                         and (enable_alpha or "alpha" not in r.version)]
        self._custom: dict[tuple[str, str, str], Resource] = {}  # (group, version, kind)
        # This instance's share of the process-wide scope table, handed back when it goes.
        self._claims: Counter[str] = Counter()
        weakref.finalize(self, _release, self._claims)
        self._rebuild()

    # --- lookups -------------------------------------------------------------
    def lookup(self, api_version: str, kind: str) -> Resource | None:
        """The resource for an object's apiVersion and kind, if this server serves it."""
        return self._by_gvk.get((api_version, kind))

    def known_group_version(self, api_version: str) -> bool:
        return api_version in self._group_versions

    def builtin_group(self, group: str) -> bool:
        """A group Kubernetes itself defines (in any version), as opposed to a CRD's."""
        return group in _builtin_groups()

    def resolve_name(self, name: str) -> list[Resource]:
        """Resources a kubectl name means, best first: plural, singular, short name or
        Kind, optionally qualified as `name.group` or `name.version.group`."""
        text = name.strip()
        if not text:
            return []
        found = self._by_name.get(text.lower(), [])
        if found:
            return list(found)
        # `deployments.apps`, `deploy.v1.apps`: split at each dot, longest name first.
        parts = text.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            head, rest = ".".join(parts[:cut]).lower(), ".".join(parts[cut:]).lower()
            candidates = self._by_name.get(head, [])
            by_group = [r for r in candidates if r.group == rest]
            if by_group:
                return by_group
            version, _, group = rest.partition(".")
            by_version = [r for r in self._all_versions_named(head)
                          if r.version == version and r.group == group]
            if by_version:
                return by_version
        return []

    def resources(self) -> list[Resource]:
        """The preferred version of each resource, as `kubectl api-resources` lists them."""
        return list(self._preferred)

    def all_versions(self) -> list[Resource]:
        """Every served group/version/kind (built-in and registered)."""
        return list(self._served)

    def namespaced(self, kind: str, api_version: str | None = None) -> bool:
        if api_version is not None:
            res = self.lookup(api_version, kind)
            if res is not None:
                return res.namespaced
        scoped = self._scope_by_kind.get(kind)
        return True if scoped is None else scoped

    def removed(self, api_version: str, kind: str) -> Resource | None:
        """The built-in resource this apiVersion/kind was, when the chosen version no
        longer serves it (for a message that says since when)."""
        at = minor(self.kubernetes_version)
        for res in _all_builtin():
            if (res.api_version == api_version and res.kind == kind
                    and res.removed_in is not None and minor(res.removed_in) <= at):
                return res
        return None

    # --- custom resources ----------------------------------------------------
    def register(self, resources: list[Resource]) -> None:
        """A CRD's kinds (one Resource per served version), as the cluster learns them."""
        for res in resources:
            key = (res.group, res.version, res.kind)
            old = self._custom.get(key)
            self._custom[key] = res
            if old is None or old.namespaced != res.namespaced:
                self._claim(res, +1)
                if old is not None:
                    self._claim(old, -1)
        self._rebuild()

    def unregister(self, group: str, kind: str) -> None:
        for key in [k for k in self._custom if k[0] == group and k[2] == kind]:
            self._claim(self._custom.pop(key), -1)
        self._rebuild()

    def _claim(self, res: Resource, delta: int) -> None:
        if res.namespaced:
            return
        self._claims[res.kind] += delta
        _count_scope(res.kind, delta)

    def registered(self) -> list[Resource]:
        return list(self._custom.values())

    def with_crds(self, objects: list[Any]) -> Discovery:
        """This view plus the CRDs among ``objects`` (a batch about to apply, where CRDs
        go first); itself when there are none. The copy leaves this one unchanged."""
        crds = [o for o in objects if isinstance(o, dict)
                and o.get("kind") == "CustomResourceDefinition"]
        if not crds:
            return self
        view = Discovery(self.kubernetes_version)
        view.register(self.registered())
        for crd in crds:
            view.register(resources_from_crd(crd))
        return view

    # --- indexes ---------------------------------------------------------------
    def _rebuild(self) -> None:
        served = self._builtin + list(self._custom.values())
        self._served = served
        self._by_gvk = {(r.api_version, r.kind): r for r in served}
        self._group_versions = {r.api_version for r in served}
        best: dict[tuple[str, str], Resource] = {}
        for res in served:
            key = (res.group, res.plural)
            if key not in best or version_priority(res.version) > version_priority(best[key].version):
                best[key] = res
        # Core first, then built-in groups, then custom ones, as kubectl's RESTMapper
        # orders its answers for an ambiguous name (`events`: core before events.k8s.io).
        self._preferred = sorted(best.values(), key=lambda r: (
            r.group != "", r.since is None, r.group, r.plural))
        by_name: dict[str, list[Resource]] = {}
        for res in self._preferred:
            for alias in (res.plural, res.singular, res.kind.lower(), *res.short_names):
                bucket = by_name.setdefault(alias.lower(), [])
                if res not in bucket:
                    bucket.append(res)
        self._by_name = by_name
        scope: dict[str, bool] = {}
        for res in self._preferred:
            scope.setdefault(res.kind, res.namespaced)
        self._scope_by_kind = scope

    def _all_versions_named(self, name: str) -> list[Resource]:
        return [r for r in self._served
                if name in (r.plural, r.singular, r.kind.lower(), *r.short_names)]


def _release(claims: Counter[str]) -> None:
    for kind, count in list(claims.items()):
        if count:
            _count_scope(kind, -count)


def _count_scope(kind: str, delta: int) -> None:
    with _custom_lock:
        before = _custom_cluster_scoped[kind] > 0
        _custom_cluster_scoped[kind] += delta
        if _custom_cluster_scoped[kind] <= 0:
            del _custom_cluster_scoped[kind]
        now = _custom_cluster_scoped.get(kind, 0) > 0
    if before != now:
        for listener in list(_scope_listeners):
            listener(kind, now)


def unserved(served: Discovery, api_version: str, kind: str) -> str:
    """The API server's `no matches for kind` with what a user needs next: since when a
    built-in version is gone and what serves the kind now, or that a CRD is missing."""
    message = no_match(api_version, kind)
    gone = served.removed(api_version, kind)
    if gone is not None:
        now = sorted({r.api_version for r in served.all_versions()
                      if r.kind == kind and served.builtin_group(r.group)})
        instead = f"; use {' or '.join(now)}" if now else ""
        return (f"{message} ({api_version} {kind} was removed in Kubernetes "
                f"{gone.removed_in}{instead})")
    group = api_version.rpartition("/")[0]
    if group and not served.builtin_group(group):
        return f"{message}: ensure CRDs are installed first"
    return message


@functools.cache
def for_version(kubernetes_version: str) -> Discovery:
    """A shared read-only view for callers that register nothing (the PR check, the CLI).
    A cluster that learns CRDs keeps its own Discovery."""
    return Discovery(kubernetes_version)
