"""Discovery documents as kubectl 1.30+ asks for them: `/version`, `/api`, `/apis` (plain
and aggregated: `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`),
the per-version `APIResourceList`s, and a small `/openapi/v2`. Everything is built from
the cluster's discovery (`sandbox/cluster/discovery.py`), built-in kinds and CRDs alike.
"""

from __future__ import annotations

import platform
from collections import OrderedDict
from typing import Any

from sandbox.cluster.discovery import Resource, version_priority

AGGREGATED = "as=APIGroupDiscoveryList"
AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

# Resources the API server serves beside the stored ones: core Events are made from the
# simulation's event history, events.k8s.io/v1 is their newer face.
EVENT_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update",
               "watch")
VIRTUAL = (
    Resource("", "v1", "Event", "events", "event", ("ev",), True, EVENT_VERBS),
    Resource("events.k8s.io", "v1", "Event", "events", "event", ("ev",), True, EVENT_VERBS),
    # `kubectl top`: what metrics-server would serve, from the simulated containers.
    Resource("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", "", (), True,
             ("get", "list")),
    Resource("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", "", (), False,
             ("get", "list")),
)


# `kubectl get all` asks for the "all" category: these kinds, as on a real cluster.
ALL_CATEGORY = {("", "Pod"), ("", "Service"), ("", "ReplicationController"),
                ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"),
                ("apps", "DaemonSet"), ("batch", "Job"), ("batch", "CronJob"),
                ("autoscaling", "HorizontalPodAutoscaler")}


def categories(r: Resource) -> dict[str, list[str]]:
    return {"categories": ["all"]} if (r.group, r.kind) in ALL_CATEGORY else {}


def version(kubernetes_version: str) -> dict[str, Any]:
    major, minor, *_ = (kubernetes_version.split(".") + ["0", "0"])
    return {"major": major, "minor": minor, "gitVersion": f"v{kubernetes_version}",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z",
            "goVersion": "go1.22.0", "compiler": "gc",
            "platform": f"{platform.system().lower()}/amd64"}


def group_versions(resources: list[Resource]) -> OrderedDict[str, list[str]]:
    """Group -> its versions, preferred first, core ("") first, in discovery's order."""
    out: OrderedDict[str, list[str]] = OrderedDict()
    for r in sorted(resources, key=lambda r: r.group != ""):
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    for versions in out.values():
        versions.sort(key=version_priority, reverse=True)
    return out


def _verbs(r: Resource) -> list[str]:
    return sorted(set(r.verbs))


def api_versions(address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": address}]}


def group_list(resources: list[Resource]) -> dict[str, Any]:
    groups = []
    for group, versions in group_versions(resources).items():
        if group:
            groups.append(_group(group, versions))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def group(resources: list[Resource], name: str) -> dict[str, Any] | None:
    versions = group_versions(resources).get(name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def resource_list(resources: list[Resource], group_version: str) -> dict[str, Any] | None:
    mine = [r for r in resources if r.api_version == group_version]
    if not mine:
        return None
    items: list[dict[str, Any]] = []
    for r in mine:
        items.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                      "kind": r.kind, "verbs": _verbs(r),
                      **({"shortNames": list(r.short_names)} if r.short_names else {}),
                      **categories(r)})
        for sub in r.subresources:
            items.append(_sub_entry(r, sub))
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": items}


def _sub_entry(r: Resource, sub: str) -> dict[str, Any]:
    if sub == "scale":
        return {"name": f"{r.plural}/scale", "singularName": "", "namespaced": r.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale",
                "verbs": ["get", "patch", "update"]}
    if sub == "log":
        return {"name": f"{r.plural}/log", "singularName": "", "namespaced": r.namespaced,
                "kind": "Pod", "verbs": ["get"]}
    return {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
            "kind": r.kind, "verbs": ["get", "patch", "update"]}


def aggregated(resources: list[Resource], core: bool, version_tag: str) -> dict[str, Any]:
    """The APIGroupDiscoveryList of /api (core) or /apis (named groups)."""
    items = []
    for group, versions in group_versions(resources).items():
        if (group == "") != core:
            continue
        vs = []
        for v in versions:
            entries = []
            for r in (r for r in resources if r.group == group and r.version == v):
                entry: dict[str, Any] = {
                    "resource": r.plural, "singularResource": r.singular,
                    "scope": "Namespaced" if r.namespaced else "Cluster",
                    "responseKind": {"group": group, "version": v, "kind": r.kind},
                    "verbs": _verbs(r)}
                if r.short_names:
                    entry["shortNames"] = list(r.short_names)
                entry.update(categories(r))
                subs = []
                for sub in r.subresources:
                    s = _sub_entry(r, sub)
                    subs.append({"subresource": sub, "verbs": s["verbs"],
                                 "responseKind": {"group": s.get("group", group),
                                                  "version": s.get("version", v),
                                                  "kind": s["kind"]}})
                if subs:
                    entry["subresources"] = subs
                entries.append(entry)
            vs.append({"version": v, "resources": entries, "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": vs})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version_tag}",
            "metadata": {}, "items": items}


def wants_aggregated(accept: str) -> str | None:
    """The aggregated format's version the client accepts first, if any."""
    for part in accept.split(","):
        p = part.replace(" ", "")
        if AGGREGATED in p and "g=apidiscovery.k8s.io" in p:
            return "v2" if "v=v2;" in p + ";" and "v2beta1" not in p else "v2beta1"
    return None


def openapi_v2(resources: list[Resource], kubernetes_version: str) -> dict[str, Any]:
    """A swagger document that names every kind (with `x-kubernetes-group-version-kind`)
    but describes no fields: kubectl's client-side validation then accepts any field,
    as the simulated cluster does."""
    definitions = {}
    for r in resources:
        group = r.group or "core"
        name = f"io.k8s.api.{group}.{r.version}.{r.kind}"
        definitions[name] = {
            "description": f"{r.kind} ({r.api_version}) as the gitops-sandbox cluster serves it",
            "type": "object",
            "x-kubernetes-group-version-kind": [{"group": r.group, "version": r.version,
                                                 "kind": r.kind}]}
    return {"swagger": "2.0", "info": {"title": "Kubernetes (gitops-sandbox)",
                                       "version": f"v{kubernetes_version}"},
            "paths": {}, "definitions": definitions}
