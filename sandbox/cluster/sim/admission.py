"""What the API server and its built-in controllers add or check around namespaces and
pods: every namespace's `default` ServiceAccount and `kube-root-ca.crt` ConfigMap (made
by the serviceaccount and root-ca-cert-publisher controllers), the ServiceAccount
admission check that refuses a pod whose ServiceAccount does not exist, and what the
kubelet needs before it can start a pod's containers (its ConfigMaps and Secrets).
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.context import Ctx

ROOT_CA = "kube-root-ca.crt"
# Not a real certificate: a marker with the shape of one, so tools that read it see PEM.
SIM_CA = ("-----BEGIN CERTIFICATE-----\nc2FuZGJveCBzaW11bGF0ZWQgY2x1c3RlciByb290IENB\n"
          "-----END CERTIFICATE-----\n")


def namespace_defaults(namespace: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "default", "namespace": namespace}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": ROOT_CA, "namespace": namespace, "annotations": {
             "kubernetes.io/description": "Contains a CA bundle that can be used to verify "
             "the kube-apiserver when using internal endpoints such as the internal service "
             "IP or kubernetes.default.svc. No other usage is guaranteed across distributions "
             "of Kubernetes clusters."}},
         "data": {"ca.crt": SIM_CA}},
    ]


def service_account_problem(ctx: Ctx, namespace: str, pod_spec: dict[str, Any]) -> str:
    """The ServiceAccount admission plugin's refusal, or ""."""
    name = str(pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount")
               or "default")
    if ctx.store.get(ObjRef("ServiceAccount", name, namespace)) is None:
        return (f"error looking up service account {namespace}/{name}: "
                f'serviceaccount "{name}" not found')
    return ""


def refuse_pod(ctx: Ctx, owner: ObjRef, prefix: str, pod_spec: dict[str, Any]) -> bool:
    """True (with the controller's FailedCreate event) when the owner may not create its
    pod now; it is looked at again when the namespace gets a ServiceAccount."""
    problem = service_account_problem(ctx, owner.namespace, pod_spec)
    if not problem:
        if (ctx.ctl.get(owner) or {}).pop("refused", None) is not None:
            ctx.store.changed.add(owner)
        return False
    message = f'pods "{prefix}" is forbidden: {problem}'
    state = ctx.ctl.setdefault(owner, {})
    if state.get("refused") != message:  # said once, as long as it stays refused
        ctx.emit("FailedCreate", owner, f"Error creating: {message}", "Warning")
        state["refused"] = message  # also the ReplicaFailure condition's message
        ctx.store.changed.add(owner)
    ctx.blocked.setdefault(owner.namespace, set()).add(owner)
    return True


def _volume_sources(pod: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(volume, kind, name, optional) for each ConfigMap/Secret a pod's volumes need."""
    out = []
    for v in pod["spec"].get("volumes") or []:
        name = str(v.get("name", ""))
        if isinstance(v.get("configMap"), dict):
            src = v["configMap"]
            out.append((name, "ConfigMap", str(src.get("name", "")), bool(src.get("optional"))))
        if isinstance(v.get("secret"), dict):
            src = v["secret"]
            out.append((name, "Secret", str(src.get("secretName", "")),
                        bool(src.get("optional"))))
        for proj in (v.get("projected") or {}).get("sources") or []:
            for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                if isinstance(proj.get(key), dict):
                    out.append((name, kind, str(proj[key].get("name", "")),
                                bool(proj[key].get("optional"))))
    return out


def missing_volumes(ctx: Ctx, pod: dict[str, Any]) -> list[tuple[str, str]]:
    """(volume, kubelet's reason) for each volume whose ConfigMap or Secret is missing."""
    ns = ObjRef.of(pod).namespace
    out = []
    for volume, kind, name, optional in _volume_sources(pod):
        if not optional and ctx.store.get(ObjRef(kind, name, ns)) is None:
            out.append((volume, f'{kind.lower()} "{name}" not found'))
    return out


def missing_config(ctx: Ctx, pod: dict[str, Any]) -> str:
    """The container runtime's reason a container cannot be configured (an env or
    envFrom reference to a missing ConfigMap, Secret or key), or ""."""
    ns = ObjRef.of(pod).namespace
    spec = pod["spec"]
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for src in c.get("envFrom") or []:
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                ref = src.get(key)
                if isinstance(ref, dict) and not ref.get("optional"):
                    if ctx.store.get(ObjRef(kind, str(ref.get("name", "")), ns)) is None:
                        return f'{kind.lower()} "{ref.get("name")}" not found'
        for env in c.get("env") or []:
            source = env.get("valueFrom") or {}
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                ref = source.get(key)
                if not isinstance(ref, dict) or ref.get("optional"):
                    continue
                name, item = str(ref.get("name", "")), str(ref.get("key", ""))
                obj = ctx.store.get(ObjRef(kind, name, ns))
                if obj is None:
                    return f'{kind.lower()} "{name}" not found'
                data = {**(obj.get("data") or {}), **(obj.get("binaryData") or {})}
                if item not in data:
                    return f"couldn't find key {item} in {kind} {ns}/{name}"
    return ""
