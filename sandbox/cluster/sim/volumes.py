"""PersistentVolumeClaims, PersistentVolumes and the default StorageClass.

Like a kind cluster, the sandbox has one default StorageClass, `standard`, served by
rancher.io/local-path with WaitForFirstConsumer: a claim stays Pending until a pod that
uses it is scheduled, then a volume is provisioned on that pod's node and bound. A
class with volumeBindingMode Immediate binds at once. A claim naming a class that does
not exist stays Pending with the persistentvolume-controller's event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.workloads import wake

DEFAULT_CLASS = "standard"
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PROVISION_SECONDS = 1.0  # local-path creates a directory: quick, not instant
SELECTED_NODE = "volume.kubernetes.io/selected-node"
WFFC = "WaitForFirstConsumer"


def default_storage_class() -> dict[str, Any]:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_ANNOTATION: "true"}},
            "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
            "volumeBindingMode": WFFC}


class VolumeController:
    def __init__(self, ctx: Ctx, create: Callable[[dict[str, Any]], None],
                 remove: Callable[[ObjRef], None]) -> None:
        self.ctx = ctx
        self.create = create
        self.remove = remove

    def admit(self, pvc: dict[str, Any]) -> None:
        """The DefaultStorageClass admission plugin: a claim without a class gets the
        default one."""
        spec = pvc.setdefault("spec", {})
        if "storageClassName" not in spec:
            default = self._default_class()
            if default is not None:
                spec["storageClassName"] = default
        pvc["status"] = {"phase": "Pending"}

    def _default_class(self) -> str | None:
        for ref, sc in sorted(self.ctx.store.of_kind("StorageClass").items()):
            if ((sc["metadata"].get("annotations") or {}).get(DEFAULT_ANNOTATION)) == "true":
                return ref.name
        return None

    def sync(self, ref: ObjRef) -> None:
        ctx = self.ctx
        pvc = ctx.store.get(ref)
        if pvc is None or (pvc.get("status") or {}).get("phase") == "Bound":
            return
        spec = pvc.get("spec") or {}
        cls_name = str(spec.get("storageClassName") or "")
        state = ctx.ctl.setdefault(ref, {})
        sc = ctx.store.get(ObjRef("StorageClass", cls_name)) if cls_name else None
        if sc is None:
            why = (f'storageclass.storage.k8s.io "{cls_name}" not found' if cls_name
                   else "no persistent volumes available for this claim and no storage "
                        "class is set")
            if state.get("said") != why:
                ctx.emit("ProvisioningFailed", ref, why, "Warning")
                state["said"] = why
                ctx.store.changed.add(ref)
            return
        node = (pvc["metadata"].get("annotations") or {}).get(SELECTED_NODE)
        if sc.get("volumeBindingMode") == WFFC and not node:
            said = "waiting for first consumer to be created before binding"
            if state.get("said") != said:
                ctx.emit("WaitForFirstConsumer", ref, said)
                state["said"] = said
                ctx.store.changed.add(ref)
            return
        due = state.get("bind_at")
        if due is None:
            provisioner = str(sc.get("provisioner", ""))
            ctx.emit("ExternalProvisioning", ref, "Waiting for a volume to be created either "
                     f"by the external provisioner '{provisioner}' or manually by the system "
                     "administrator. If volume creation is delayed, please verify that the "
                     "provisioner is running and correctly registered.")
            ctx.emit("Provisioning", ref, "External provisioner is provisioning volume for "
                     f'claim "{ref.namespace}/{ref.name}"', source=provisioner)
            state["bind_at"] = ctx.now + PROVISION_SECONDS
            ctx.store.changed.add(ref)
            wake(ctx, ref, state["bind_at"])
            return
        if ctx.now + 1e-9 < float(due):
            return
        self._bind(ref, pvc, sc, node)

    def _bind(self, ref: ObjRef, pvc: dict[str, Any], sc: dict[str, Any],
              node: str | None) -> None:
        ctx = self.ctx
        spec = pvc["spec"]
        pv_name = f"pvc-{pvc['metadata']['uid']}"
        size = str(((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi"))
        modes = list(spec.get("accessModes") or ["ReadWriteOnce"])
        provisioner = str(sc.get("provisioner", ""))
        pv: dict[str, Any] = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": {
                "pv.kubernetes.io/provisioned-by": provisioner}},
            "spec": {"capacity": {"storage": size}, "accessModes": modes,
                     "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                     "storageClassName": sc["metadata"]["name"], "volumeMode": "Filesystem",
                     "hostPath": {"path": f"/var/local-path-provisioner/{pv_name}_"
                                          f"{ref.namespace}_{ref.name}",
                                  "type": "DirectoryOrCreate"},
                     "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                  "name": ref.name, "namespace": ref.namespace,
                                  "uid": pvc["metadata"]["uid"]}},
        }
        if node:
            pv["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{
                "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                      "values": [node]}]}]}}
        self.create(pv)
        pv["status"] = {"phase": "Bound"}
        ctx.store.touch(pv)
        spec["volumeName"] = pv_name
        annotations = pvc["metadata"].setdefault("annotations", {})
        annotations.update({"pv.kubernetes.io/bind-completed": "yes",
                            "pv.kubernetes.io/bound-by-controller": "yes",
                            "volume.kubernetes.io/storage-provisioner": provisioner})
        pvc["status"] = {"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}}
        ctx.store.touch(pvc)
        ctx.emit("ProvisioningSucceeded", ref, f"Successfully provisioned volume {pv_name}",
                 source=provisioner)
        ctx.ctl.pop(ref, None)

    def claim_ready(self, ref: ObjRef, node: str) -> tuple[bool, str]:
        """For the scheduler: can a pod using this claim go to `node` now? A
        WaitForFirstConsumer claim learns its node here and is provisioned; the pod
        waits (quietly) until it is bound."""
        ctx = self.ctx
        pvc = ctx.store.get(ref)
        if pvc is None:
            return False, f'persistentvolumeclaim "{ref.name}" not found'
        if (pvc.get("status") or {}).get("phase") == "Bound":
            return True, ""
        cls_name = str((pvc.get("spec") or {}).get("storageClassName") or "")
        sc = ctx.store.get(ObjRef("StorageClass", cls_name)) if cls_name else None
        if sc is None:
            return False, (f'storageclass.storage.k8s.io "{cls_name}" not found' if cls_name
                           else "pod has unbound immediate PersistentVolumeClaims")
        if sc.get("volumeBindingMode") != WFFC:
            return False, "pod has unbound immediate PersistentVolumeClaims"
        annotations = pvc["metadata"].setdefault("annotations", {})
        if not annotations.get(SELECTED_NODE):
            annotations[SELECTED_NODE] = node
            ctx.store.touch(pvc)
            ctx.dirty_work.add(ref)
        return False, ""

    def removed(self, pvc: dict[str, Any]) -> None:
        """A deleted claim's dynamically provisioned volume goes with it (Delete)."""
        name = (pvc.get("spec") or {}).get("volumeName")
        pv = self.ctx.store.get(ObjRef("PersistentVolume", str(name))) if name else None
        if pv is not None and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            self.remove(ObjRef.of(pv))
        self.ctx.ctl.pop(ObjRef.of(pvc), None)
