"""CustomResourceDefinitions in the simulated cluster, as apiextensions-apiserver has them.

Applying a CRD validates it as the API server does (its name, group, scope, versions,
names and structural schema), and once stored the naming and establishing controllers'
work is done at the same simulated instant: `NamesAccepted` and `Established` conditions,
`acceptedNames`, `storedVersions`, and the kind registered in discovery for each served
version. A custom resource is then admitted through its version's schema (pruned,
defaulted, validated, see schema.py). A real API server takes a second or two to
establish a CRD; here it is immediate, which is what Flux waits for anyway.

The registry is rebuilt from the stored CRD objects when the cluster is restored, so a
restarted engine serves the same kinds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sandbox.cluster.base import custom_group
from sandbox.cluster.discovery import Discovery, resources_from_crd
from sandbox.cluster.sim.schema import (
    FieldError,
    GoLiteral,
    admit,
    aggregate,
    invalid,
    not_supported,
    required,
)
from sandbox.cluster.sim.store import clone
from sandbox.cluster.sim.structural import structural_problems

CRD_KIND = "CustomResourceDefinition"
CRD_GROUP = "apiextensions.k8s.io"
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_MESSAGE = ("a DNS-1035 label must consist of lower case alphanumeric characters or "
                   "'-', start with an alphabetic character, and end with an alphanumeric "
                   "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                   "'[a-z]([-a-z0-9]*[a-z0-9])?')")
DNS1123_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                   "characters, '-' or '.', and must start and end with an alphanumeric "
                   "character (e.g. 'example.com', regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


# Flux's apply order (fluxcd/pkg/ssa): CRDs first, then Namespaces, then the rest.
FIRST_KINDS = (CRD_KIND, "Namespace")


def batch_order(objects: list[Any]) -> list[int]:
    """Indexes of `objects` in apply order; the rest keep the order they came in."""
    def rank(i: int) -> int:
        kind = objects[i].get("kind") if isinstance(objects[i], dict) else None
        return FIRST_KINDS.index(kind) if kind in FIRST_KINDS else len(FIRST_KINDS)
    return sorted(range(len(objects)), key=rank)


@dataclass(frozen=True)
class Version:
    name: str
    served: bool
    storage: bool
    schema: dict[str, Any]
    subresources: tuple[str, ...] = ()


@dataclass
class Crd:
    name: str
    group: str
    kind: str
    plural: str
    singular: str
    list_kind: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    namespaced: bool
    versions: dict[str, Version] = field(default_factory=dict)

    @classmethod
    def of(cls, obj: dict[str, Any]) -> Crd:
        """From a CRD that passed `check` (with v1's defaults for singular and listKind)."""
        spec = obj["spec"]
        names = spec["names"]
        kind = str(names["kind"])
        versions = {}
        for v in spec["versions"]:
            subresources = tuple(sorted((v.get("subresources") or {}).keys()))
            versions[str(v["name"])] = Version(
                str(v["name"]), bool(v.get("served")), bool(v.get("storage")),
                (v.get("schema") or {}).get("openAPIV3Schema") or {}, subresources)
        return cls(name=str(obj["metadata"]["name"]), group=str(spec["group"]), kind=kind,
                   plural=str(names["plural"]),
                   singular=str(names.get("singular") or kind.lower()),
                   list_kind=str(names.get("listKind") or f"{kind}List"),
                   short_names=tuple(str(s) for s in names.get("shortNames") or ()),
                   categories=tuple(str(c) for c in names.get("categories") or ()),
                   namespaced=spec.get("scope") == "Namespaced", versions=versions)

    @property
    def storage_version(self) -> str:
        return next(v.name for v in self.versions.values() if v.storage)


# -- validation of the CRD itself -------------------------------------------------------

def check(obj: dict[str, Any], old: dict[str, Any] | None = None) -> str | None:
    """The API server's answer to creating (or updating `old` to) this CRD: None when
    accepted, else its invalid-object message."""
    errs = _problems(obj, old)
    if not errs:
        return None
    name = (obj.get("metadata") or {}).get("name", "")
    return f'{CRD_KIND}.{CRD_GROUP} "{name}" is invalid: {aggregate(errs)}'


def _problems(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    errs: list[FieldError] = []
    name = str((obj.get("metadata") or {}).get("name", ""))
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    group = spec.get("group")
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    plural = names.get("plural") or ""
    if name != f"{plural}.{group or ''}":
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        errs.append(required("spec.group"))
    elif not isinstance(group, str) or not _DNS1123_SUBDOMAIN.match(group):
        errs.append(invalid("spec.group", group, DNS1123_MESSAGE))
    elif "." not in group:
        errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope")
    if not scope:
        errs.append(required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        errs.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
    errs += _version_problems(spec.get("versions"))
    kind = names.get("kind") or ""
    if not plural:
        errs.append(required("spec.names.plural"))
    if not kind:
        errs.append(required("spec.names.kind"))
    for key in ("plural", "singular"):
        value = names.get(key)
        if value and (not isinstance(value, str) or not _DNS1035.match(value)):
            errs.append(invalid(f"spec.names.{key}", value, DNS1035_MESSAGE))
    for key in ("kind", "listKind"):
        value = names.get(key)
        if value and (not isinstance(value, str) or not _DNS1035.match(value.lower())):
            errs.append(invalid(f"spec.names.{key}", value,
                                f"may have mixed case, but should otherwise match: "
                                f"{DNS1035_MESSAGE}"))
    if kind and names.get("listKind") == kind:
        errs.append(invalid("spec.names.listKind", kind, "kind and listKind may not be the same"))
    for key in ("shortNames", "categories"):
        for i, value in enumerate(names.get(key) or []):
            if not isinstance(value, str) or not _DNS1035.match(value):
                errs.append(invalid(f"spec.names.{key}[{i}]", value, DNS1035_MESSAGE))
    if old is not None and not errs:
        errs += _update_problems(obj, old)
    return errs


def _version_problems(versions: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    if not isinstance(versions, list):
        versions = []
    seen: set[str] = set()
    storage = 0
    for i, v in enumerate(versions):
        where = f"spec.versions[{i}]"
        if not isinstance(v, dict):
            errs.append(invalid(where, v, "must be an object"))
            continue
        vname = v.get("name")
        if not isinstance(vname, str) or not _DNS1035.match(vname):
            errs.append(invalid(f"{where}.name", vname or "", DNS1035_MESSAGE))
        for flag in ("served", "storage"):
            if not isinstance(v.get(flag), bool):
                # v1 declares both flags required booleans; the API server refuses the
                # CRD rather than guess whether a version is served.
                errs.append(required(f"{where}.{flag}") if flag not in v
                            else invalid(f"{where}.{flag}", v[flag], "must be a boolean"))
        storage += v.get("storage") is True
        seen_before = vname in seen
        seen.add(str(vname))
        if seen_before:
            errs.append(invalid("spec.versions", _versions_value(versions),
                                "must contain unique version names"))
        schema = (v.get("schema") or {}).get("openAPIV3Schema") if isinstance(
            v.get("schema"), dict) else None
        if schema is None:
            errs.append(required(f"{where}.schema.openAPIV3Schema", "schemas are required"))
        else:
            errs += structural_problems(schema, f"{where}.schema.openAPIV3Schema")
    if storage != 1:
        errs.append(invalid("spec.versions", _versions_value(versions),
                            "must have exactly one version marked as storage version"))
    return errs


def _versions_value(versions: list[Any]) -> GoLiteral:
    # The real server prints the whole Go struct slice here; the version names carry the
    # same information in a line a person can read.
    if not versions:
        return GoLiteral("[]apiextensions.CustomResourceDefinitionVersion(nil)")
    names = ", ".join(str(v.get("name")) if isinstance(v, dict) else "?" for v in versions)
    return GoLiteral(f"[]apiextensions.CustomResourceDefinitionVersion{{{names}}}")


def _update_problems(obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    spec, old_spec = obj["spec"], old.get("spec") or {}
    if _established(old):
        if spec.get("scope") != old_spec.get("scope"):
            errs.append(invalid("spec.scope", spec.get("scope"), "field is immutable"))
        if spec["names"].get("kind") != (old_spec.get("names") or {}).get("kind"):
            errs.append(invalid("spec.names.kind", spec["names"].get("kind"),
                                "field is immutable"))
    names = {v.get("name") for v in spec.get("versions") or []}
    stored = ((old.get("status") or {}).get("storedVersions") or [])
    for i, v in enumerate(stored):
        if v not in names:
            errs.append(invalid(f"status.storedVersions[{i}]", v, "must appear in spec.versions"))
    return errs


def _established(obj: dict[str, Any]) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


# -- the registry: what the cluster serves ----------------------------------------------

class CrdRegistry:
    """The established CRDs, by name, and the kinds they serve."""

    def __init__(self, discovery: Discovery | None = None) -> None:
        self.discovery = discovery
        self._crds: dict[str, Crd] = {}
        self._staged: list[str] = []

    def find(self, api_version: str, kind: str) -> tuple[Crd, Version] | None:
        """The CRD and version serving this apiVersion and kind, if one does."""
        group, _, version = api_version.rpartition("/")
        for crd in self._crds.values():
            if crd.group == group and crd.kind == kind:
                v = crd.versions.get(version)
                return (crd, v) if v is not None and v.served else None
        return None

    def serves(self, obj: Any) -> bool:
        """Whether `obj` is a custom resource of an established CRD's served version."""
        return isinstance(obj, dict) and self.find(str(obj.get("apiVersion", "")),
                                                   str(obj.get("kind", ""))) is not None

    def establish(self, obj: dict[str, Any], now: str) -> None:
        """The naming and establishing controllers: accept the names unless another CRD
        of the group holds them, write the status, and serve the kind."""
        crd = Crd.of(obj)
        conflict = self._conflict(crd)
        status = obj.setdefault("status", {})
        previous = {c.get("type"): c for c in status.get("conditions") or []}
        stored = list(status.get("storedVersions") or [])
        if crd.storage_version not in stored:
            stored.append(crd.storage_version)
        status["storedVersions"] = stored
        if conflict:
            reason, message = conflict
            conditions = [("NamesAccepted", "False", reason, message),
                          ("Established", "False", "NotAccepted", "not all names are accepted")]
            status.setdefault("acceptedNames", {"plural": "", "kind": ""})
        else:
            conditions = [("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
                          ("Established", "True", "InitialNamesAccepted",
                           "the initial names have been accepted")]
            status["acceptedNames"] = _accepted(crd)
        status["conditions"] = [_condition(previous.get(t), t, s, r, m, now)
                                for t, s, r, m in conditions]
        self.forget(crd.name)
        if not conflict:
            self._serve(crd, obj)

    def forget(self, name: str) -> Crd | None:
        if name in self._staged:
            self._staged.remove(name)
        crd = self._crds.pop(name, None)
        if crd is not None and self.discovery is not None:
            self.discovery.unregister(crd.group, crd.kind)
        return crd

    def restore(self, objects: Iterable[dict[str, Any]]) -> None:
        """Serve again what the stored CRDs say was established (after an engine restart)."""
        for obj in objects:
            if _established(obj):
                self._serve(Crd.of(obj), obj)

    def _serve(self, crd: Crd, obj: dict[str, Any]) -> None:
        self._crds[crd.name] = crd
        if self.discovery is not None:
            self.discovery.register(resources_from_crd(obj))

    def stage(self, objects: list[Any]) -> None:
        """For a dry run: the batch's own valid CRDs count as established while it is
        checked (the real apply creates them first). Whatever was staged before goes."""
        for name in list(self._staged):
            self.forget(name)
        for obj in objects:
            if (isinstance(obj, dict) and obj.get("kind") == CRD_KIND
                    and not _problems(obj, None)):
                crd = Crd.of(obj)
                if crd.name not in self._crds and self._conflict(crd) is None:
                    self._serve(crd, obj)
                    self._staged.append(crd.name)

    def review(self, obj: Any, existing: dict[str, Any] | None) -> str | None:
        """The API server's verdict on applying `obj` over `existing`, for CRDs and for
        custom resources (checked on a copy: nothing is changed)."""
        if not isinstance(obj, dict):
            return None
        if obj.get("kind") == CRD_KIND and str(obj.get("apiVersion", "")).startswith(
                f"{CRD_GROUP}/"):
            return check(obj, existing)
        if not self.serves(obj):
            return None  # no CRD's kind: discovery decides (validate.py), no copy needed
        return self.admit(clone(obj))

    def shape(self, obj: dict[str, Any]) -> dict[str, Any]:
        """What gets stored of a custom resource: pruned and defaulted by its schema."""
        self.admit(obj)
        return obj

    def instances(self, name: str, store: Any) -> list[Any]:
        """The stored custom resources of the CRD `name` (for its cascading delete)."""
        crd = self._crds.get(name)
        if crd is None:
            return []
        return sorted(store.of_kind(crd.kind, custom_group(crd.group)))

    def admit(self, obj: dict[str, Any]) -> str | None:
        """Prune, default and validate a custom resource in place against its version's
        schema; None when accepted (or when no established CRD serves it)."""
        # A kind or version no CRD serves is discovery's to refuse (validate.py).
        found = self.find(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if found is None:
            return None
        crd, version = found
        _, errs = admit(obj, version.schema)
        if not errs:
            return None
        name = (obj.get("metadata") or {}).get("name", "")
        return f'{crd.kind}.{crd.group} "{name}" is invalid: {aggregate(errs)}'

    def _conflict(self, crd: Crd) -> tuple[str, str] | None:
        for other in self._crds.values():
            if other.group != crd.group or other.name == crd.name:
                continue
            taken = {other.plural, other.singular, *other.short_names}
            for value, reason in ((crd.plural, "PluralConflict"),
                                  (crd.singular, "SingularConflict")):
                if value in taken:
                    return reason, f'"{value}" is already in use'
            for short in crd.short_names:
                if short in taken:
                    return "ShortNamesConflict", f'"{short}" is already in use'
            if crd.kind in (other.kind, other.list_kind):
                return "KindConflict", f'"{crd.kind}" is already in use'
            if crd.list_kind in (other.kind, other.list_kind):
                return "ListKindConflict", f'"{crd.list_kind}" is already in use'
        return None


def _accepted(crd: Crd) -> dict[str, Any]:
    out: dict[str, Any] = {"plural": crd.plural, "singular": crd.singular, "kind": crd.kind,
                           "listKind": crd.list_kind}
    if crd.short_names:
        out["shortNames"] = list(crd.short_names)
    if crd.categories:
        out["categories"] = list(crd.categories)
    return out


def _condition(previous: dict[str, Any] | None, type_: str, status: str, reason: str,
               message: str, now: str) -> dict[str, Any]:
    # The transition time moves only when the status does, as on a real API server.
    since = previous.get("lastTransitionTime", now) if previous and \
        previous.get("status") == status else now
    return {"type": type_, "status": status, "lastTransitionTime": since, "reason": reason,
            "message": message}

