"""The facade's view of the live cluster: objects, health and sync status, and the
kubectl/flux-style actions (scale, set image, delete, reconcile, suspend, resume) that the
engine runs, in this process or in another.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import clusterops, clusterread, repair
from .cluster.base import ClusterEvent, resolve_kind
from .clusterfollow import JournalFollower, ListFollower
from .facade_waits import SandboxError

if TYPE_CHECKING:
    from .cluster.discovery import Discovery
    from .engine import Engine
    from .workspace import Workspace


class ClusterView:
    ws: Workspace
    engine: Engine | None

    def engine_running(self) -> bool:
        raise NotImplementedError

    def engine_pid(self) -> int | None:
        raise NotImplementedError

    def cluster_snapshot(self) -> dict[str, Any]:
        """The whole cluster (objects with status, newest events, now, and metrics where
        they can be had without asking the engine): read from wherever it lives."""
        if self.engine is not None:
            return self.engine.publisher.cluster_data()  # in memory: nothing is written
        if self._reads_journal():
            return clusterread.snapshot(self.ws)
        if not self.engine_running():
            from .clusterstate import offline_snapshot

            saved = offline_snapshot(self.ws)  # the simulated cluster lives on in SQLite
            if saved is not None:
                return saved
        snap = self.ws.store.get_snapshot("cluster")
        return snap[1] if snap else {"objects": []}

    def _reads_journal(self) -> bool:
        """Whether the cluster is read from the simulated cluster's own rows: an engine
        in another process runs it and writes every change there (a kind/kubectl engine
        writes a whole-cluster record on a timer instead; with no engine, the saved
        cluster is played forward to now)."""
        if self.engine is not None or self.ws.settings.cluster != "sim" \
                or not self.engine_running():
            return False
        snap = self.ws.store.get_snapshot("cluster")
        return snap is not None and clusterread.from_journal(snap[1])

    def cluster_now(self) -> float:
        """The cluster's clock (simulated seconds; Unix time for a real cluster)."""
        if self.engine is not None:
            return self.engine.clock.now()
        if self._reads_journal():
            return clusterread.now(self.ws)
        return float(self.cluster_snapshot().get("now", 0.0))

    def _events_and_now(self) -> tuple[list[dict[str, Any]], float]:
        """The cluster's newest events (oldest first) and its clock, from one read."""
        if self._reads_journal():
            return clusterread.events(self.ws), clusterread.now(self.ws)
        snap = self.cluster_snapshot()
        return list(snap.get("events", [])), float(snap.get("now", 0.0))

    def cluster_metrics(self) -> dict[str, Any]:
        """Traffic per Deployment (`cluster metrics`), as the cluster computes it now. An
        engine in another process is asked (a read-only operation): only the live
        cluster knows its traffic, and it is no longer copied out on every change."""
        if self.engine is not None:
            metrics = getattr(self.engine.cluster, "metrics", None)
            return dict(metrics()) if callable(metrics) else {}
        if self._reads_journal():
            return dict(self.operate("metrics").get("metrics") or {})
        return dict(self.cluster_snapshot().get("metrics", {}))

    def discovery(self) -> Discovery:
        """API discovery of the cluster: the chosen Kubernetes version's resources plus the
        CRDs the cluster holds (the running engine's own view when it is in this process)."""
        from .cluster import discovery

        if self.engine is not None:
            return clusterops.engine_discovery(self.engine)
        found = discovery.Discovery(self.ws.settings.kubernetes_version)
        crds = (clusterread.objects(self.ws, "CustomResourceDefinition")
                if self._reads_journal() else self.cluster_snapshot().get("objects", []))
        for obj in crds:
            if obj.get("kind") == "CustomResourceDefinition":
                found.register(discovery.resources_from_crd(obj))
        return found

    def discovery_for(self, name: str) -> Discovery:
        """The discovery that knows ``name``: the built-in resources when one answers to
        it (no snapshot read for the common case), else the cluster's, CRDs included."""
        from .cluster import discovery

        builtin = discovery.for_version(self.ws.settings.kubernetes_version)
        return builtin if builtin.resolve_name(name) else self.discovery()

    def kind_named(self, name: str) -> str:
        """The Kind behind any name kubectl accepts (deploy, sts, hpa, deployments.apps,
        a CRD's plural...); UnknownResourceType, kubectl's error, for any other."""
        return resolve_kind(name, self.discovery_for(name)) or name

    def cluster_objects(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Objects with status; kind takes every name kubectl accepts (see kind_named)."""
        kind = self.kind_named(kind) if kind else None
        if self.engine is not None:
            return self.engine.cluster.list(kind)
        if self._reads_journal():
            return clusterread.objects(self.ws, kind)  # only that kind's rows are read
        objects = self.cluster_snapshot().get("objects", [])
        if kind:
            objects = [o for o in objects if o.get("kind") == kind]
        return objects

    def follow_cluster(self) -> JournalFollower | ListFollower:
        """A follower whose `poll()` gives what changed in the cluster since its last
        poll, read from the workspace (whichever process runs the engine): cheap enough
        to call every half second at thousands of objects."""
        if self.ws.settings.cluster == "sim":
            return JournalFollower(self.ws, self.engine_running)
        return ListFollower(self.cluster_objects)

    def health(self) -> dict[str, Any]:
        if self.engine is not None:
            return self.engine.health
        return self.ws.store.get_health() or {"app": "Unknown", "objects": {}}

    def sync_status(self) -> dict[str, Any]:
        """Flux's view (Ready, reason, revisions) and how far behind main it is."""
        if self.engine is not None:
            from dataclasses import asdict

            status = asdict(self.engine.flux.status)
        else:
            snap = self.ws.store.get_snapshot("flux")
            status = snap[1] if snap else {"ready": False, "message": "never reconciled"}
        return repair.sync_view(self.ws, status)

    def damage(self) -> list[str]:
        """What is broken and not repaired by itself, one line each with what to do."""
        return repair.damage(self.ws, self.engine_pid(), running=self.engine is not None)

    def reconcile_now(self) -> dict[str, Any]:
        return self.operate("reconcile")

    def suspend(self) -> dict[str, Any]:
        return self.operate("suspend")

    def resume(self) -> dict[str, Any]:
        return self.operate("resume")

    def scale(self, target: str, replicas: int, namespace: str = "demo") -> dict[str, Any]:
        try:  # refused here already, so a runaway count never reaches the queue
            replicas = clusterops.check_replicas(replicas, self.settings.max_replicas)
        except clusterops.OperationError as exc:
            raise SandboxError(str(exc)) from exc
        return self.operate("scale", target=target, replicas=replicas, namespace=namespace)

    def set_image(self, target: str, container: str, image: str,
                  namespace: str = "demo") -> dict[str, Any]:
        return self.operate("set-image", target=target, container=container, image=image,
                            namespace=namespace)

    def delete_object(self, target: str, namespace: str = "demo") -> dict[str, Any]:
        return self.operate("delete", target=target, namespace=namespace)

    def operate(self, action: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """A kubectl/flux-style action; the engine (here or in another process) runs it."""
        from .pipelines import enqueue, job_row

        params["action"] = action
        params.setdefault("user", self.user.name)  # whom the API server's audit names
        try:
            if self.engine is not None:
                return clusterops.perform(self.engine, params)
            self._require_engine()
            job = enqueue(self.ws, "op", **params)
            deadline = time.monotonic() + timeout
            while (row := job_row(self.ws, job)) and row["status"] in ("queued", "running"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the engine did not run '{action}' within {timeout:g}s")
                time.sleep(0.05)
        except clusterops.OperationError as exc:
            raise SandboxError(str(exc)) from exc
        result = row["result"] if row else {}
        if not result.get("ok"):
            raise SandboxError(result.get("error") or f"'{action}' failed")
        return result

    def describe(self, target: str, namespace: str = "demo") -> str:
        from .cluster.kubectl_format import describe

        try:
            ref = clusterops.parse_target(target, namespace,
                                          self.discovery_for(target.partition("/")[0]))
        except clusterops.OperationError as exc:
            raise SandboxError(str(exc)) from exc
        found = [o for o in self.cluster_objects(ref.kind)
                 if o["metadata"]["name"] == ref.name
                 and (not ref.namespace or o["metadata"].get("namespace") == ref.namespace)]
        if not found:
            raise SandboxError(f"{ref} not found in the cluster")
        recent, now = self._events_and_now()
        events = [ClusterEvent(e["reason"], ref, e.get("message", ""), e.get("type", "Normal"),
                               float(e.get("time", 0.0)))
                  for e in recent
                  if (e.get("kind"), e.get("name"), e.get("namespace")) == (
                      ref.kind, ref.name, ref.namespace)]
        return describe(found[0], events, now)
