"""SimCluster: the in-process cluster backend.

The API side (apply, delete, get, list, direct edits) stores Kubernetes-shaped objects;
the controller side (deployments, replicasets, kubelet, endpoints) moves them through
time when asked. Time comes only from the clock: every public call first plays the
simulation forward to clock.now(), processing due transitions in time order, so one
big jump of a virtual clock settles a whole rollout exactly as small steps would.
"""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sandbox import limits
from sandbox.clock import Clock
from sandbox.cluster.base import ApplyResult, ClusterError, ClusterEvent, ObjRef
from sandbox.cluster.discovery import DEFAULT_VERSION, Discovery
from sandbox.cluster.lists import unpack_all
from sandbox.cluster.sim.admission import service_account_problem
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.controllers import Controllers
from sandbox.cluster.sim.crds import CRD_KIND, CrdRegistry, batch_order
from sandbox.cluster.sim.deployments import DeploymentController
from sandbox.cluster.sim.immutable import immutable_problem
from sandbox.cluster.sim.ingress import IngressController
from sandbox.cluster.sim.persist import Delta, Journal, Saved, restore
from sandbox.cluster.sim.pods import Kubelet
from sandbox.cluster.sim.replicasets import ReplicaSetController
from sandbox.cluster.sim.services import EndpointsController, keep_allocated, without_allocated
from sandbox.cluster.sim.store import (
    SYSTEM_ANNOTATION_PREFIXES,
    Store,
    Timers,
    Watch,
    canonical,
    clone,
    is_namespaced,
    matches_selector,
    owner_uid,
)
from sandbox.cluster.sim.traffic import Endpoint, Traffic
from sandbox.cluster.sim.validate import validate
from sandbox.registry import ImageProfile

T = TypeVar("T")

# Spec fields the API server fills in; an apply that leaves them out does not change them.
SERVER_FIELDS = {"Service": ("clusterIP", "clusterIPs", "type"),
                 "Pod": ("nodeName", "restartPolicy"),
                 "PersistentVolumeClaim": ("storageClassName", "volumeName", "volumeMode")}
PROTECTED_NAMESPACES = ("default", "kube-system")
SCALABLE = ("Deployment", "ReplicaSet", "StatefulSet")


class SimCluster:
    name = "sim"

    def __init__(self, clock: Clock, resolve_image: Callable[[str], ImageProfile | None],
                 seed: int = 0, *, max_replicas: int = limits.DEFAULT_MAX_REPLICAS,
                 max_pods: int = limits.DEFAULT_MAX_PODS, nodes: int = 3,
                 kubernetes_version: str = DEFAULT_VERSION) -> None:
        self.clock = clock
        # What this API server serves: the version's built-in resources, plus the kinds
        # of the CRDs it established (crds.py registers them); apply refuses the rest.
        self.discovery = Discovery(kubernetes_version)
        self.seed = seed
        self.max_replicas = max_replicas
        self._lock = threading.RLock()
        self.lock = self._lock  # the API server's check-then-write holds it across calls
        self._store = Store(seed)
        self._ctx = Ctx(self._store, Timers(), random.Random(seed), resolve_image,
                        now=clock.now(), max_pods=max_pods)
        self._kubelet = Kubelet(self._ctx)
        self._rsc = ReplicaSetController(self._ctx, self._kubelet)
        self._dc = DeploymentController(self._ctx, self._rsc)
        self._eps = EndpointsController(self._ctx, self._kubelet)
        self._eps.before_change = self._before_endpoints_change
        self._ingress = IngressController(self._ctx)
        self._traffic = Traffic(seed)
        self._crds = CrdRegistry(self.discovery)
        self._work = Controllers(self._ctx, self._kubelet, self._create,
                                 lambda ref: self._remove(ref, graceful=False), nodes,
                                 kubernetes_version, self._service_rps)
        for ns in PROTECTED_NAMESPACES:
            self._create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self._work.ensure_defaults()
        self._journal: Journal | None = None
        self._restored = False
        self._sink: Callable[[Delta], None] | None = None

    # -- persistence (persist.py) -----------------------------------------------------

    def restore(self, saved: Saved) -> None:
        """Carry on from a journal's state (the clock must not be behind its time)."""
        with self._lock:
            restore(self, saved)
            self._eps.reindex()
            for sref in sorted(self._store.of_kind("Service")):
                self._serve(sref)
            self._work.restored()
            self._work.ensure_defaults()
            self._restored = True

    def journal_to(self, sink: Callable[[Delta], None]) -> None:
        """From now on hand every change to `sink`, inside the call that made it. A
        cluster that was not restored writes all it has at once."""
        with self._lock:
            self._journal = Journal(self)
            if self._restored:
                self._journal.mark_written()
            self._sink = sink
            self._commit()

    def _commit(self) -> None:
        if self._sink is None or self._journal is None:
            return
        delta = self._journal.take()
        if delta is not None:
            try:
                self._sink(delta)
            except Exception:
                self._journal.undo(delta)  # kept for the next write, then reported
                raise

    # -- ClusterBackend ---------------------------------------------------------------

    def apply(self, objects: list[dict[str, Any]], dry_run: bool = False) -> list[ApplyResult]:
        objects = unpack_all(objects)  # one result per item of a `kind: List`, as kubectl
        with self._lock:
            self._advance()
            namespaces = {r.name for r in self._store.of_kind("Namespace")}
            namespaces |= {str((o.get("metadata") or {}).get("name")) for o in objects
                           if isinstance(o, dict) and o.get("kind") == "Namespace"}
            results: list[ApplyResult] = []
            if len(objects) > limits.MAX_OBJECTS_PER_COMMIT:
                # Refused whole: a partial apply of a runaway commit helps nobody.
                error = (f"the apply carries {len(objects)} objects, over the limit of "
                         f"{limits.MAX_OBJECTS_PER_COMMIT}")
                return [ApplyResult(ObjRef.of(o) if isinstance(o, dict) else ObjRef("", ""),
                                    "invalid", error) for o in objects]
            pods = len(self._kubelet.pods)
            # CRDs, then Namespaces, then the rest, as Flux orders one apply; a dry run
            # sees the batch's valid CRDs as established, as the real apply will have them.
            order = batch_order(objects)
            self._crds.stage(objects if dry_run else [])
            for obj in [objects[i] for i in order]:
                ref = ObjRef.of(obj) if isinstance(obj, dict) else ObjRef("", "")
                error = validate(obj, namespaces, self.max_replicas, self.discovery)
                if not error or self._crds.serves(obj):  # a CRD's schema speaks first
                    error = self._crds.review(obj, self._store.get(ref)) or error
                if not error and ref.kind == "Pod" and self._store.get(ref) is None:
                    refused = service_account_problem(self._ctx, ref.namespace,
                                                      obj.get("spec") or {})
                    if refused and ref.namespace in self._namespaces():
                        error = f'pods "{ref.name}" is forbidden: {refused}'
                    pods += 1
                    if pods > self._ctx.max_pods:
                        error = (f'pods "{ref.name}" is forbidden: the cluster holds at most '
                                 f"{self._ctx.max_pods} pods (setting max_pods)")
                if error:
                    results.append(ApplyResult(ref, "invalid", error))
                    continue
                desired = self._crds.shape(_normalize(obj, ref))
                existing = self._store.get(ref)
                if existing is None:
                    action = "created"
                elif _same(existing, desired, self._work.owned_fields(ref)):
                    action = "unchanged"
                else:
                    action = "configured"
                    # Refused as the API server refuses it: the dry run says so too.
                    refused = immutable_problem(existing, desired)
                    if refused:
                        results.append(ApplyResult(ref, "invalid", refused))
                        continue
                if not dry_run and action == "created":
                    self._create(desired)
                elif not dry_run and action == "configured" and existing is not None:
                    self._update(ref, existing, desired)
                results.append(ApplyResult(ref, action))
            self._crds.stage([])
            results = [r for _, r in sorted(zip(order, results, strict=True))]
            if not dry_run:
                self._finish()
            self._commit()
            return results

    def delete(self, ref: ObjRef) -> bool:
        with self._lock:
            self._advance()
            if self._store.get(ref) is None:
                return False
            if ref.kind == "Namespace" and ref.name in PROTECTED_NAMESPACES:
                raise ClusterError(f'namespaces "{ref.name}" is forbidden: '
                                   "this namespace may not be deleted")
            if ref.kind == "Namespace":
                for child in self._store.in_namespace(ref.name):
                    self._remove(child, graceful=False)
                self._store.remove(ref)
            elif ref.kind == CRD_KIND:  # its custom resources go with it
                for child in self._crds.instances(ref.name, self._store):
                    self._remove(child, graceful=False)
                self._crds.forget(ref.name)
                self._store.remove(ref)
            else:
                self._remove(ref, graceful=True)
            self._finish()
            self._commit()
            return True

    def orphan(self, ref: ObjRef) -> None:
        """DeleteOptions' propagationPolicy Orphan: what `ref` owns loses that owner
        reference, so deleting `ref` next leaves it in place."""
        with self._lock:
            obj = self._store.get(ref)
            if obj is None:
                return
            uid = obj["metadata"].get("uid")
            for child_ref in self._store.children(str(uid)):
                child = self._store.get(child_ref)
                if child is None:
                    continue
                self._store.unindex(child_ref)
                meta = child["metadata"]
                meta["ownerReferences"] = [o for o in meta.get("ownerReferences") or []
                                           if o.get("uid") != uid]
                if not meta["ownerReferences"]:
                    del meta["ownerReferences"]
                self._store.put(child)
            self._commit()

    def get(self, ref: ObjRef) -> dict[str, Any] | None:
        with self._lock:
            obj = self._store.get(ref)
            return None if obj is None else clone(obj)

    def list(self, kind: str | None = None, namespace: str | None = None,
             labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for k in [kind] if kind else self._store.kinds():
                for ref, obj in sorted(self._store.of_kind(k).items()):
                    if namespace is not None and ref.namespace not in (namespace, ""):
                        continue
                    have = obj["metadata"].get("labels") or {}
                    if labels and any(have.get(a) != b for a, b in labels.items()):
                        continue
                    out.append(clone(obj))
            return out

    def inspect(self, fn: Callable[[Callable[[str], list[dict[str, Any]]]], T]) -> T:
        """fn(read) under the cluster's lock, where read(kind) gives the live objects of a
        kind without copying them: for samplers that only read and keep nothing."""
        with self._lock:
            return fn(lambda kind: list(self._store.of_kind(kind).values()))

    def step(self) -> list[ClusterEvent]:
        with self._lock:
            self._advance()
            self._commit()
            events, self._ctx.events = self._ctx.events, []
            return events

    def listen(self, listener: Callable[[str, dict[str, Any]], None] | None) -> int:
        """Tell `listener` of every write from now on (the API server's watch feed);
        returns the resourceVersion it starts after."""
        with self._lock:
            self._store.listener = listener
            return self._store._rv

    # -- direct edits (drift) ---------------------------------------------------------

    def scale(self, ref: ObjRef, replicas: int) -> None:
        """`kubectl scale`: set spec.replicas of a Deployment or ReplicaSet."""
        problem = limits.replicas_problem(replicas, self.max_replicas, "--replicas")
        if problem:
            raise ClusterError(problem)
        with self._lock:
            obj = self._editable(ref)
            obj["spec"]["replicas"] = int(replicas)
            self._spec_edited(ref, obj)

    def set_image(self, ref: ObjRef, container: str, image: str) -> None:
        """`kubectl set image`: change one container's image in the pod template."""
        with self._lock:
            obj = self._editable(ref)
            pod_spec = (obj["spec"].get("template") or {}).get("spec") or {}
            for c in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
                if c.get("name") == container:
                    c["image"] = image
                    self._spec_edited(ref, obj)
                    return
            raise ClusterError(f'unable to find container named "{container}" in {ref}')

    # -- reading the simulation -------------------------------------------------------

    def now(self) -> float:
        with self._lock:
            return self._ctx.now

    def events(self, ref: ObjRef | None = None, limit: int | None = None) -> list[ClusterEvent]:
        """Recent events (all, or those about one object), oldest first."""
        with self._lock:
            out = [e for e in self._ctx.history if ref is None or e.ref == ref]
            return out[-limit:] if limit else out

    def metrics(self, deployments: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Traffic per Deployment (all, or those named), keyed "namespace/name": rps,
        requests, errors, error_rate, p50_ms, p95_ms, window_seconds, versions{tag: ...},
        pods{name: ...}."""
        with self._lock:
            if deployments is None:
                deployments = [f"{r.namespace}/{r.name}"
                               for r in sorted(self._store.of_kind("Deployment"))]
            return self._traffic.metrics(self._ctx.now, deployments)

    def usage(self) -> dict[str, tuple[float, float]]:
        """Per running pod ("namespace/name"): (CPU millicores, memory MiB) in use now,
        from its image's behaviour (sim/behaviour.py), for the metrics sampler."""
        with self._lock:
            rps = self._traffic.pod_rps()
            out = {}
            for ref, ps in self._kubelet.pods.items():
                pod = self._store.get(ref)
                if pod is not None and ps.started_at is not None:
                    key = f"{ref.namespace}/{ref.name}"
                    out[key] = self._kubelet.usage(ps, pod, rps.get(key, 0.0))
            return out

    def error_candidates(self, min_rate: float = 0.0) -> set[str]:
        """Deployments ("namespace/name") with a ready pod whose image fails more than
        `min_rate` of its requests: the only ones whose error rate can go above it."""
        with self._lock:
            return self._traffic.error_candidates(min_rate)

    def watch(self, kinds: frozenset[str] | None = None) -> Watch:
        """A watch on every object (or those of these kinds): the refs written or
        removed since its last take()."""
        with self._lock:
            return self._store.watch(kinds=kinds)

    def revision(self) -> tuple[int, int]:
        """Moves whenever an object or the event history changed."""
        with self._lock:
            return self._store.version, self._ctx.emitted

    def snapshot(self) -> dict[str, Any]:
        """The full state as JSON-ready data, for processes that cannot see this one."""
        with self._lock:
            return {
                "backend": self.name, "now": self._ctx.now, "objects": self.list(),
                "metrics": self.metrics(),
                "events": [event_dict(e) for e in list(self._ctx.history)[-200:]],
            }

    # -- internals --------------------------------------------------------------------

    def _advance(self) -> None:
        """Play every due transition up to the clock's now, in time order."""
        ctx, timers = self._ctx, self._ctx.timers
        target = max(ctx.now, self.clock.now())
        self._settle()
        while (due := timers.next_time()) is not None and due <= target:
            ctx.now = max(ctx.now, due)
            for what, ref, gen in timers.pop_until(ctx.now):
                if what == "pod":
                    owner = self._kubelet.fire(ref, gen)
                    if owner is not None:
                        self._work.owner_changed(owner)
                    if self._store.get(ref) is None:
                        self._traffic.forget_pod(f"{ref.namespace}/{ref.name}")
                        # Recreate and history cleanup wait for old pods to be gone.
                        rs = self._store.get(owner) if owner is not None else None
                        dep = self._store.by_uid(owner_uid(rs, "Deployment")) if rs else None
                        if dep is not None:
                            ctx.dirty_deploy.add(dep)
                elif what == "deadline":
                    ctx.dirty_deploy.add(ref)
                elif what == "work":
                    self._work.timer(ref)
            self._settle()
        ctx.now = target
        self._flush_endpoints()

    def _settle(self) -> None:
        """Run controllers until none has anything left to do at this instant."""
        ctx = self._ctx
        if ctx.starved and len(self._kubelet.pods) < ctx.max_pods:
            for owner in ctx.starved:  # room again: controllers left short try again
                self._work.owner_changed(owner)
            ctx.starved = set()
        while ctx.dirty_rs or ctx.dirty_deploy or ctx.dirty_work:
            if ctx.dirty_work and not ctx.dirty_rs:
                self._work.sync_dirty()
            elif ctx.dirty_rs:
                refs, ctx.dirty_rs = sorted(ctx.dirty_rs), set()
                for ref in refs:
                    self._rsc.sync(ref)
            else:
                refs, ctx.dirty_deploy = sorted(ctx.dirty_deploy), set()
                for ref in refs:
                    self._dc.sync(ref)
                    # Its rollout progress may have moved without a status change.
                    self._store.changed.add(ref)

    def _finish(self) -> None:
        self._settle()
        self._flush_endpoints()

    def _flush_endpoints(self) -> None:
        self._ingress.flush()
        self._eps.flush()
        for sref in self._eps.take_changed():
            self._serve(sref)

    def _before_endpoints_change(self, sref: ObjRef) -> None:
        # The traffic so far went to the endpoints the Service had until now.
        self._traffic.settle(self._ctx.now, f"{sref.namespace}/{sref.name}")

    def _serve(self, sref: ObjRef) -> None:
        """Tell the traffic which ready pods answer a Service now."""
        svc = self._store.get(sref)
        if svc is None:
            self._traffic.serve(f"{sref.namespace}/{sref.name}", None)
            return
        eps = []
        for pref in self._eps.ready_pods(svc):
            ps = self._kubelet.pods.get(pref)
            pod = self._store.get(pref)
            if ps is None or pod is None or ps.profile is None:
                continue
            image = str((pod["spec"].get("containers") or [{}])[0].get("image", ""))
            eps.append(Endpoint(f"{pref.namespace}/{pref.name}", ps.deployment,
                                ps.version, image, ps.profile, ps.ready_since))
        self._traffic.serve(f"{sref.namespace}/{sref.name}", eps)

    def _namespaces(self) -> set[str]:
        return {r.name for r in self._store.of_kind("Namespace")}

    def _service_rps(self, namespace: str, labels: dict[str, str]) -> float:
        """The requests per second reaching pods with these labels, for the HPA."""
        total = 0.0
        for ref, svc in self._store.of_kind("Service").items():
            selector = (svc.get("spec") or {}).get("selector")
            if ref.namespace == namespace and selector and matches_selector(labels, selector):
                total += self._traffic.base_rps(f"{ref.namespace}/{ref.name}")
        return total

    def _create(self, obj: dict[str, Any]) -> None:
        ctx = self._ctx
        meta = obj["metadata"]
        meta.update(uid=self._store.new_uid(), generation=1, creationTimestamp=ctx.stamp())
        ref = ObjRef.of(obj)
        if ref.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
            self._store.put(obj)
            self._work.namespace_created(ref.name)
        elif ref.kind == "Deployment":
            obj["status"] = {}
            ctx.dirty_deploy.add(ref)
        elif ref.kind == "ReplicaSet":
            ctx.dirty_rs.add(ref)
        elif ref.kind == "Pod":
            self._kubelet.admit(obj)
            ctx.dirty_pods.add(ref)
        elif ref.kind == "Service":
            self._eps.admit(obj)
            ctx.dirty_svc.add(ref)
        elif ref.kind == CRD_KIND:
            self._crds.establish(obj, ctx.stamp())
        self._work.created(obj)
        self._store.put(obj)

    def _update(self, ref: ObjRef, existing: dict[str, Any], desired: dict[str, Any]) -> None:
        ctx = self._ctx
        old_spec_obj = clone(existing.get("spec"))
        old_spec = canonical(old_spec_obj)
        self._store.unindex(ref)  # its owner references may change
        for key in [k for k in existing if k not in ("metadata", "status")]:
            if key not in desired:
                del existing[key]
        server = {k: v for k, v in (existing.get("spec") or {}).items()
                  if k in SERVER_FIELDS.get(ref.kind, ()) + self._work.owned_fields(ref)}
        for key, value in desired.items():
            if key not in ("metadata", "status"):
                existing[key] = value
        if server and isinstance(existing.get("spec"), dict):
            existing["spec"] = {**server, **existing["spec"]}
        if ref.kind == "Service":
            keep_allocated(old_spec_obj, existing.get("spec"))
        meta, new_meta = existing["metadata"], desired["metadata"]
        old_labels = meta.get("labels")
        meta["labels"] = new_meta.get("labels") or {}
        meta["annotations"] = {**_system_annotations(meta), **(new_meta.get("annotations") or {})}
        if "ownerReferences" in new_meta:
            meta["ownerReferences"] = new_meta["ownerReferences"]
        if canonical(existing.get("spec")) != old_spec:
            meta["generation"] = meta.get("generation", 1) + 1
        if ref.kind == CRD_KIND:
            self._crds.establish(existing, ctx.stamp())
        self._store.put(existing)
        if ref.kind == "Deployment":
            ctx.dirty_deploy.add(ref)
        elif ref.kind == "ReplicaSet":
            ctx.dirty_rs.add(ref)
        elif ref.kind == "Service":
            ctx.dirty_svc.add(ref)
        elif ref.kind == "Pod" and old_labels != meta["labels"]:
            ctx.dirty_pods.add(ref)
        self._work.updated(ref)

    def _editable(self, ref: ObjRef) -> dict[str, Any]:
        self._advance()
        obj = self._store.get(ref)
        if obj is None:
            raise ClusterError(f'{ref.kind.lower()}s "{ref.name}" not found')
        if ref.kind not in SCALABLE:
            raise ClusterError(f"{ref.kind} has no pod template or replicas to edit; "
                               f"use a {' or '.join(SCALABLE)}")
        return obj

    def _spec_edited(self, ref: ObjRef, obj: dict[str, Any]) -> None:
        obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
        self._store.touch(obj)
        if ref.kind == "Deployment":
            self._ctx.dirty_deploy.add(ref)
        else:
            self._work.owner_changed(ref)
        self._finish()
        self._commit()

    def _remove(self, ref: ObjRef, graceful: bool) -> None:
        """Delete one object and, through owner references, what it owns."""
        ctx = self._ctx
        obj = self._store.get(ref)
        if obj is None:
            return
        if ref.kind == "Pod" and graceful and ref in self._kubelet.pods:
            self._kubelet.terminate(ref)
        else:
            self._store.remove(ref)
            if ref.kind == "Pod":
                self._kubelet.forget(ref)
                self._traffic.forget_pod(f"{ref.namespace}/{ref.name}")
            for child in self._store.children(obj["metadata"]["uid"]):
                self._remove(child, graceful)
            self._work.removed(obj)
        # Controllers put back what they own: a deleted pod or ReplicaSet is recreated.
        if ref.kind == "Service":
            ctx.dirty_svc.add(ref)  # its endpoints controller lets go of it
        for kind, dirty in (("ReplicaSet", ctx.dirty_rs), ("Deployment", ctx.dirty_deploy),
                            ("Service", ctx.dirty_svc)):
            owner = self._store.by_uid(owner_uid(obj, kind))
            if owner is not None:
                dirty.add(owner)
        owner = self._store.by_uid(owner_uid(obj))
        if owner is not None and owner.kind in self._work.syncs:
            ctx.dirty_work.add(owner)
        if ref.kind == "Deployment":
            self._dc.forget(ref)


def _normalize(obj: dict[str, Any], ref: ObjRef) -> dict[str, Any]:
    """What gets stored from an applied manifest: no status, no server-owned metadata,
    Secret stringData folded into base64 data as the API server does."""
    out = {k: clone(v) for k, v in obj.items() if k not in ("metadata", "status")}
    meta = obj.get("metadata") or {}
    new_meta: dict[str, Any] = {"name": ref.name}
    if is_namespaced(ref.kind):
        new_meta["namespace"] = ref.namespace
    for key in ("labels", "annotations", "ownerReferences"):
        if meta.get(key):
            new_meta[key] = clone(meta[key])
    out["metadata"] = new_meta
    if ref.kind == "Secret" and out.get("stringData"):
        data = dict(out.get("data") or {})
        for key, value in out.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        out["data"] = data
    return out


def _system_annotations(meta: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (meta.get("annotations") or {}).items()
            if k.startswith(SYSTEM_ANNOTATION_PREFIXES)}


def _same(existing: dict[str, Any], desired: dict[str, Any], owned: tuple[str, ...] = ()
          ) -> bool:
    kind = str(existing.get("kind"))
    have = {k: v for k, v in existing.items() if k not in ("metadata", "status")}
    want = {k: v for k, v in desired.items() if k != "metadata"}
    if isinstance(have.get("spec"), dict) and isinstance(want.get("spec"), dict):
        skip = [f for f in SERVER_FIELDS.get(kind, ()) + owned if f not in want["spec"]]
        have["spec"] = {k: v for k, v in have["spec"].items() if k not in skip}
        if kind == "Service":
            have["spec"] = without_allocated(have["spec"], want["spec"])
    meta, new_meta = existing["metadata"], desired["metadata"]
    user_annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                        if not k.startswith(SYSTEM_ANNOTATION_PREFIXES)}
    return (canonical(have) == canonical(want)
            and (meta.get("labels") or {}) == (new_meta.get("labels") or {})
            and user_annotations == (new_meta.get("annotations") or {}))


def event_dict(event: ClusterEvent) -> dict[str, Any]:
    return {"reason": event.reason, "kind": event.ref.kind, "name": event.ref.name,
            "namespace": event.ref.namespace, "message": event.message, "type": event.type,
            "time": event.time, "data": event.data}
