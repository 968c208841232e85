"""SimCluster: the in-process cluster backend, its API side.

The API side (apply, delete, get, list, direct edits, here) checks and stores
Kubernetes-shaped objects; the controller side (runtime.py: deployments, replicasets,
kubelet, endpoints and the workload controllers) moves them through time when asked.
Time comes only from the clock: every public call first plays the simulation forward to
clock.now(), processing due transitions in time order, so one big jump of a virtual
clock settles a whole rollout exactly as small steps would.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sandbox import limits
from sandbox.clock import Clock
from sandbox.cluster.base import ApplyResult, ClusterError, ClusterEvent, ObjRef, custom_group
from sandbox.cluster.discovery import DEFAULT_VERSION, Discovery
from sandbox.cluster.lists import unpack_all
from sandbox.cluster.sim import gcpause
from sandbox.cluster.sim.admission import service_account_problem
from sandbox.cluster.sim.crds import CRD_KIND, batch_order
from sandbox.cluster.sim.immutable import immutable_problem
from sandbox.cluster.sim.persist import Delta, Journal, Saved, restore
from sandbox.cluster.sim.runtime import SimRuntime, normalize, same_as_applied
from sandbox.cluster.sim.store import (
    Reader,
    Watch,
    clone,
)
from sandbox.cluster.sim.validate import validate
from sandbox.registry import ImageProfile

T = TypeVar("T")

PROTECTED_NAMESPACES = ("default", "kube-system")
SCALABLE = ("Deployment", "ReplicaSet", "StatefulSet")


class SimCluster(SimRuntime):
    name = "sim"

    def __init__(self, clock: Clock, resolve_image: Callable[[str], ImageProfile | None],
                 seed: int = 0, *, max_replicas: int = limits.DEFAULT_MAX_REPLICAS,
                 max_pods: int = limits.DEFAULT_MAX_PODS, nodes: int = 3,
                 kubernetes_version: str = DEFAULT_VERSION) -> None:
        # What this API server serves: the version's built-in resources, plus the kinds
        # of the CRDs it established (crds.py registers them); apply refuses the rest.
        self.discovery = Discovery(kubernetes_version)
        self.max_replicas = max_replicas
        self._lock = threading.RLock()
        self.lock = self._lock  # the API server's check-then-write holds it across calls
        super().__init__(clock, self.discovery, seed, resolve_image, max_pods=max_pods,
                         nodes=nodes, kubernetes_version=kubernetes_version)
        for ns in PROTECTED_NAMESPACES:
            self._create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self._work.ensure_defaults()
        self._journal: Journal | None = None
        self._restored = False
        self._rekey: list[ObjRef] = []  # restored rows to write under their new key
        self._sink: Callable[[Delta], None] | None = None
        # Told of every write from outside the clock (an apply, a delete, a direct edit),
        # so an engine that sleeps until the next timer wakes for it.
        self.on_write: Callable[[], None] | None = None

    # -- persistence (persist.py) -----------------------------------------------------

    def restore(self, saved: Saved) -> None:
        """Carry on from a journal's state (the clock must not be behind its time)."""
        with self._lock:
            self._rekey = restore(self, saved)
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
                self._journal.mark_written(self._rekey)
            self._sink = sink
            self._commit(wrote=False)

    @property
    def journaled(self) -> bool:
        """Whether every change is written to a journal (readers elsewhere follow it)."""
        return self._sink is not None

    def _commit(self, wrote: bool = True) -> None:
        if wrote and self.on_write is not None:
            self.on_write()
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
        with self._lock, gcpause.paused():
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
                desired = self._crds.shape(normalize(obj, ref))
                existing = self._store.get(ref)
                if existing is None:
                    action = "created"
                elif same_as_applied(existing, desired, self._work.owned_fields(ref)):
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
            self._commit(wrote=not dry_run)
            return results

    def delete(self, ref: ObjRef) -> bool:
        with self._lock:
            self._advance()
            ref = self._resolve(ref)
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
            ref = self._resolve(ref)
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
            obj = self._store.get(self._resolve(ref))
            return None if obj is None else clone(obj)

    def _resolve(self, ref: ObjRef) -> ObjRef:
        """A ref written by kind alone (`Widget/default/w`, or an inventory saved before
        refs carried groups) for a kind that only custom groups hold means the object of
        that kind and name in the first such group, as kubectl picks one group for a
        bare kind."""
        store = self._store
        if ref.group or store.get(ref) is not None:
            return ref
        for group in store.groups_of(ref.kind):
            found = dataclasses.replace(ref, group=group)
            if group and store.get(found) is not None:
                return found
        return ref

    def list(self, kind: str | None = None, namespace: str | None = None,
             labels: dict[str, str] | None = None, group: str | None = None
             ) -> list[dict[str, Any]]:
        """Copies of the objects of a kind (all kinds when None) of every group, or of
        one group when `group` is given (a custom resource's kind may exist in several)."""
        with self._lock:
            out = []
            store = self._store
            for k in [kind] if kind else store.kinds():
                groups = store.groups_of(k) if group is None else [custom_group(group)]
                items = [item for g in groups for item in store.of_kind(k, g).items()]
                for ref, obj in sorted(items):
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
            return fn(Reader(self._store))

    def step(self) -> list[ClusterEvent]:
        with self._lock, gcpause.paused():
            self._advance()
            self._commit(wrote=False)
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

    def event_log(self) -> tuple[int, list[ClusterEvent]]:
        """The history, and how many events were ever emitted (the newest one's number):
        the API server's resourceVersion for events, so a watch resumes after a list."""
        with self._lock:
            return self._ctx.emitted, list(self._ctx.history)

    def events(self, ref: ObjRef | None = None, limit: int | None = None) -> list[ClusterEvent]:
        """Recent events (all, or those about one object), oldest first."""
        with self._lock:
            out = [e for e in self._ctx.history if ref is None or e.ref == ref]
            return out[-limit:] if limit else out

    def metrics(self, deployments: list[str] | None = None,
                pods_of: set[str] | None = None) -> dict[str, dict[str, Any]]:
        """Traffic per Deployment (all, or those named), keyed "namespace/name": rps,
        requests, errors, error_rate, p50_ms, p95_ms, window_seconds, versions{tag: ...},
        pods{name: ...} (every pod's, or those named "namespace/name" in `pods_of`)."""
        with self._lock:
            if deployments is None:
                deployments = [f"{r.namespace}/{r.name}"
                               for r in sorted(self._store.of_kind("Deployment"))]
            return self._traffic.metrics(self._ctx.now, deployments, pods_of)

    def usage(self, pods: list[str] | None = None) -> dict[str, tuple[float, float]]:
        """Per running pod ("namespace/name"; all, or those named): (CPU millicores,
        memory MiB) in use now, from its image's behaviour (sim/behaviour.py), for the
        metrics sampler."""
        with self._lock:
            rates = self._traffic.pods
            refs = self._kubelet.pods.keys() if pods is None else [
                ObjRef("Pod", name, ns) for ns, name in (p.split("/", 1) for p in pods)]
            out = {}
            for ref in refs:
                ps = self._kubelet.pods.get(ref)
                pod = self._store.get(ref)
                if ps is not None and pod is not None and ps.started_at is not None:
                    key = f"{ref.namespace}/{ref.name}"
                    tot = rates.get(key)
                    out[key] = self._kubelet.usage(ps, pod, tot.rate if tot else 0.0)
            return out

    def moving(self, since: float) -> tuple[set[str], set[str]]:
        """The Deployments ("namespace/name") whose traffic window, and the pods whose
        rate, may read differently at any time after `since` than at `since`: the
        metrics sampler computes only these again (and what was written)."""
        with self._lock:
            return self._traffic.moving(since)

    def filling(self, deployments: list[str]
                ) -> dict[str, tuple[object, float, tuple[float, float, float] | None]]:
        """Of these Deployments, those whose window still fills over its one segment:
        (a token that stays the same while it fills, its request rate now, and while it
        fills (rate per second, from, now) to compute that rate again: Traffic.filling)."""
        with self._lock:
            return self._traffic.filling(self._ctx.now, deployments)

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

    def next_due(self) -> float | None:
        """The simulated time of the next timer (a pod's next phase, a rollout's
        deadline, a controller's work), None when nothing waits on time."""
        with self._lock:
            return self._ctx.timers.next_time()

    def revision(self) -> tuple[int, int]:
        """Moves whenever an object or the event history changed."""
        with self._lock:
            return self._store.version, self._ctx.emitted

    def metrics_key(self) -> tuple[Any, ...] | None:
        """What the metric numbers depend on besides time, and from when time alone no
        longer moves them: (key, settled at). None while a running container's numbers
        move with time (a leaking image), so every sample is computed afresh."""
        with self._lock:
            version = self._store.version
            leaks = getattr(self, "_leaks_at", (None, False))
            if leaks[0] != version:  # looked at again only when an object changed
                leaks = self._leaks_at = (version, any(
                    ps.profile is not None and ps.profile.leak_mib_per_second > 0
                    and ps.started_at is not None for ps in self._kubelet.pods.values()))
            if leaks[1]:
                return None
            return (version, self._traffic.version), self._traffic.settled_at

    def snapshot(self) -> dict[str, Any]:
        """The full state as JSON-ready data, for processes that cannot see this one."""
        with self._lock:
            return {
                "backend": self.name, "now": self._ctx.now, "objects": self.list(),
                "metrics": self.metrics(),
                "events": [event_dict(e) for e in list(self._ctx.history)[-200:]],
            }

    def _namespaces(self) -> set[str]:
        return {r.name for r in self._store.of_kind("Namespace")}

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


def event_dict(event: ClusterEvent) -> dict[str, Any]:
    return {"reason": event.reason, "kind": event.ref.kind, "name": event.ref.name,
            "namespace": event.ref.namespace, "message": event.message, "type": event.type,
            "time": event.time, "data": event.data}
