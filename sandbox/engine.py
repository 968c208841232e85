"""The engine: the one process per workspace that runs the watchers, the CI runner, the
reconciler and the simulated cluster, each stage on its own thread.

Threads, each with its own SQLite connection and git calls:
- watcher (watchdog): wakes the stage that cares (enginescan.py);
- ci: reacts to ref changes in hld.git (push to a PR branch -> validate; main moved ->
  generate), to new registry tags (release) and runs the job queue;
- flux: reconciles when the manifest repo's main moves, and every resync period;
- tick: steps the cluster to the clock's now, then publishes health and snapshots
  (enginetick.py, enginehealth.py); renews the leases of running jobs and checks that
  its lock file and database are still the ones it opened.

Causal order: the reconciler does not start on a manifest commit while the generate
job that pushed it has not finished, so the log reads generate -> manifests.generated
-> job.finished -> sync.started -> apply -> sync.finished -> health.check.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from watchdog.observers import Observer

from . import clusterops, countdowns, repair
from .analysis import Analyzer, Objectives, abandon_unfinished, objectives_at
from .clock import Clock, RealClock
from .cluster.base import ClusterBackend
from .clusterstate import ClusterState
from .deployments import DeploymentTracker
from .enginehealth import HealthPublisher
from .enginescan import Scanner, Wake
from .enginetick import Ticker
from .events import EventBus
from .flux import Reconciler
from .gitserver.http import GitServer
from .gitutil import git, refs_stamp, trailers
from .metrics import MetricsSampler
from .monitor import Monitor
from .pipelines import CIRunner, pending_job
from .pullrequests import PullRequests
from .retention import Pruner
from .rollback import AutoRollback
from .workspace import EngineLock, Workspace

POLL_SECONDS = 1.0  # safety net under the watchers for the job queue and refs
DRIFT_CHECK_SECONDS = 2.0  # how often the live cluster is compared with git (a dry run)


class EngineError(Exception):
    pass


def make_cluster(ws: Workspace, clock: Clock) -> ClusterBackend:
    if ws.settings.cluster == "sim":
        from .cluster.sim import SimCluster

        return SimCluster(clock, ws.registry.resolve, seed=ws.settings.seed,
                          max_replicas=ws.settings.max_replicas,
                          max_pods=ws.settings.max_pods, nodes=ws.settings.nodes,
                          kubernetes_version=ws.settings.kubernetes_version)
    from .cluster.kind import KindCluster

    return KindCluster(ws)


class Engine:
    def __init__(self, ws: Workspace, clock: Clock | None = None,
                 cluster: ClusterBackend | None = None, tick_seconds: float = 0.05,
                 poll: bool = True) -> None:
        self.ws = ws
        # The simulated cluster outlives the engine (clusterstate.py); a cluster handed in
        # is the caller's to keep.
        self._cluster_state = None if cluster is not None else ClusterState.load(ws)
        self.clock = clock or RealClock(ws.settings.clock_speed,
                                        start=self._cluster_state.resume_time()
                                        if self._cluster_state else 0.0)
        self.bus = EventBus(ws.store, self.clock)
        self.prs = PullRequests(ws, self.bus)
        self.start_id = uuid.uuid4().hex[:8]
        self.ci = CIRunner(ws, self.bus, self.prs, owner=f"{os.getpid()}:{self.start_id}")
        self.ci.on_finished = self._job_finished
        self.ci.handlers["op"] = lambda params, log: clusterops.perform(self, params)
        self.rollback: AutoRollback | None = None
        self.ci.handlers["rollback"] = lambda params, log: self._rollback().open_revert(
            params, log)
        self.ci.handlers["rollback-merge"] = lambda params, log: self._rollback().merge_revert(
            params, log)
        if cluster is None and self._cluster_state:
            cluster = self._cluster_state.build(lambda: make_cluster(ws, self.clock), self.clock)
        self.cluster = cluster or make_cluster(ws, self.clock)
        self.flux = Reconciler(ws, self.cluster, self.bus)
        # The PR check dry-runs the head's objects against this cluster, as Flux will.
        self.ci.dry_run = lambda objects: self.cluster.apply(objects, dry_run=True)
        self.ci.served = lambda: getattr(self.cluster, "discovery", None)  # with its CRDs
        self.monitor = Monitor(self.cluster, self._publish_health)
        self.publisher = HealthPublisher(ws, self.bus, self.clock, self.cluster, self.flux,
                                         self.monitor)
        self.scanner = Scanner(ws, self.bus, self.prs)
        # False turns off the timed wake-ups under the watchers (the job-queue poll, the
        # resync and drift timer), so tests can prove that watcher events alone drive
        # the pipeline; stages then wake only on watcher events and explicit requests.
        self.poll = poll
        self.lock = EngineLock(ws.lock_path)
        self.pruner = Pruner(ws)  # retention of the event log and job logs
        self.sampler = MetricsSampler(ws.store, self.cluster, self.clock.now,
                                      ws.settings.metrics_interval_seconds,
                                      ws.settings.metrics_retention_seconds)
        self.analyzer = Analyzer(
            lambda kind, message, **data: self.bus.publish(kind, "analysis", message, **data),
            lambda sha: objectives_at(ws.hld_git, sha, ws.settings.environments,
                                      self._default_objectives()),
            self._default_objectives, lambda: self.ws.settings)
        self.sampler.listeners.append(self.analyzer.on_sample)
        self.countdowns = countdowns.for_engine(self)  # what `status` says is pending
        self._stop = threading.Event()
        self._wake_ci = threading.Event()
        self._wake_flux = threading.Event()
        # The tick sleeps until the cluster's next timer or a write wakes it (issue: an
        # idle engine is idle); tick_seconds is only its shortest period.
        self.ticker = Ticker(self, tick_seconds)
        self._reconcile_requested = threading.Event()
        self._threads: list[threading.Thread] = []
        self._observer: Any = None
        self.gitserver: GitServer | None = None
        self.apiserver: Any = None  # the Kubernetes API in front of a simulated cluster
        self._tracker: DeploymentTracker | None = None
        self._last_resync = self.clock.now()
        self._drift_due = 0.0
        self._reconciled_once = False
        self._head: str | None = None
        self._started = False
        # Why the engine stopped itself (its lock or database was taken from under it).
        self.fatal: str | None = None

    # -- life cycle ----------------------------------------------------------
    def start(self) -> Engine:
        dev, ino = self.ws.store.identity
        if not self.lock.acquire(f"db={dev}:{ino}\nstart={self.start_id}\n"):
            pid = self.lock.held_elsewhere()
            raise EngineError(
                f"an engine already runs on {self.ws.root} (pid {pid}); attach to it with "
                "'gitops-sandbox tui' or use the CLI, or stop it first")
        self._tracker = DeploymentTracker(self.ws.store, self.bus)
        self.rollback = AutoRollback(self.ws, self.bus)
        abandon_unfinished(self.ws.store, lambda kind, message, **data: self.bus.publish(
            kind, "analysis", message, **data))
        # The verdict needs the metric samples: a cluster without them gets none.
        self._analysis_unsubscribe = self.bus.subscribe(
            lambda ev: self.analyzer.on_event(ev.kind, ev.data, self.clock.now())
        ) if self.sampler.supported else (lambda: None)
        self._started = True
        self.gitserver = self._start_git_server()
        from .cluster.apiserver.glue import start_for

        try:
            self.apiserver = start_for(self)
            repair.repair_on_start(self.ws, self.bus, self.prs)
        except Exception:
            if self.apiserver is not None:
                self.apiserver.stop()
            self.gitserver.stop()
            self.lock.release()
            raise
        if self._cluster_state:
            self._cluster_state.attach(self.cluster, self.bus)
            self.publisher.seed()
        self.ws.signal_dir.mkdir(exist_ok=True)
        self.ws.registry_dir.mkdir(exist_ok=True)
        observer = Observer()
        for repo, wake in ((self.ws.hld_git, self._wake_ci), (self.ws.manifests_git,
                                                               self._wake_flux)):
            # Refs live in refs/ (loose) and in the repo folder (packed-refs); watching
            # objects/ would only add noise from every pack a push writes.
            observer.schedule(Wake(wake.set), str(repo), recursive=False)
            observer.schedule(Wake(wake.set), str(repo / "refs"), recursive=True)
        observer.schedule(Wake(self._wake_ci.set), str(self.ws.registry_dir), recursive=True)
        observer.schedule(Wake(self._wake_ci.set), str(self.ws.signal_dir), recursive=False)
        observer.start()
        self._observer = observer
        self.pruner.start()
        self.sampler.start(self.clock_speed)
        for name, target in (("ci", self._ci_loop), ("flux", self._flux_loop),
                             ("tick", self.ticker.loop)):
            thread = threading.Thread(target=target, name=f"engine-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.bus.publish("engine.started", "engine",
                         f"engine started on {self.ws.root.name} ({self.cluster.name} cluster)")
        self._wake_ci.set()
        self._wake_flux.set()
        return self

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake_ci.set()
        self._wake_flux.set()
        self.ticker.wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=30)
        self.pruner.stop()
        self.sampler.stop()
        if self._tracker:
            self._tracker.close()
            self._analysis_unsubscribe()
        if self.rollback is not None:
            self.rollback.close()
        if self.gitserver is not None:
            self.gitserver.stop()
        if self.apiserver is not None:
            self.apiserver.stop()
        try:
            if self.health and self.fatal is None:
                self.write_snapshots()  # what the CLI shows while no engine runs
            self.bus.publish("engine.stopped", "engine", "engine stopped")
        except sqlite3.Error:
            pass  # the database was taken away (see the ticker's guard): nothing left to tell
        self.lock.release()

    def _start_git_server(self) -> GitServer:
        def notify(kind: str, message: str, data: dict[str, Any]) -> None:
            self.bus.publish(kind, "gitserver", message, **data)
        try:
            return GitServer(self.ws.root, notify).start()
        except Exception:
            self.lock.release()
            raise

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _rollback(self) -> AutoRollback:
        if self.rollback is None:  # driven step by step (tests): no subscription
            self.rollback = AutoRollback(self.ws, self.bus)
            self.rollback.close()
        return self.rollback

    def _default_objectives(self) -> Objectives:
        s = self.ws.settings
        return Objectives(s.slo_error_rate, s.slo_p95_ms, s.slo_availability)

    def reconcile_now(self) -> None:
        self._reconcile_requested.set()
        self._wake_flux.set()

    # -- loops ---------------------------------------------------------------
    def _loop(self, wake: threading.Event, timeout: Callable[[], float | None],
              body: Callable[[], None]) -> None:
        while not self._stop.is_set():
            wake.wait(timeout())
            wake.clear()
            if self._stop.is_set():
                return
            try:
                body()
            except Exception as exc:  # noqa: BLE001 - a stage error is reported, the loop lives on
                self.bus.publish("engine.error", "engine", f"{type(exc).__name__}: {exc}")

    def _ci_loop(self) -> None:
        self._loop(self._wake_ci, lambda: POLL_SECONDS if self.poll else None, self._ci_step)

    def _flux_loop(self) -> None:
        def period() -> float | None:
            if not self.poll:
                return None
            resync = self.ws.settings.resync_seconds / self.clock_speed()
            return max(0.05, min(resync, DRIFT_CHECK_SECONDS))
        def seen() -> tuple[Any, ...]:
            st = self.flux.status
            return (st.last_run, st.last_attempted, st.last_applied, id(st.inventory),
                    st.suspended, st.sync)

        def step() -> None:
            before = seen()
            try:
                self._flux_step()
            finally:
                # A reconcile changes what health is judged against even when it
                # writes nothing to the cluster (a failed apply, a new revision); a
                # drift check that found nothing new leaves the tick asleep.
                if seen() != before:
                    self.ticker.wake.set()
        self._loop(self._wake_flux, period, step)

    def check_drift_soon(self) -> None:
        self._drift_due = 0.0
        self._wake_flux.set()

    def clock_speed(self) -> float:
        return float(getattr(self.clock, "speed", 1.0))

    # -- CI: hld refs, registry, job queue -----------------------------------
    def _ci_step(self) -> None:
        self.scan_hld_refs()
        self.scan_registry()
        self.ci.run_pending()

    def _job_finished(self, kind: str, result: dict[str, Any]) -> None:
        if kind == "generate":
            self._wake_flux.set()  # the reconciler may have waited for this record

    def scan_hld_refs(self) -> None:
        self.scanner.scan_hld_refs()

    def scan_registry(self) -> None:
        self.scanner.scan_registry()

    # -- flux ----------------------------------------------------------------
    def generate_pending_for(self, manifest_sha: str | None) -> bool:
        """Whether the generate job that pushed this manifest commit has not finished:
        its record (manifests.generated, job.finished) must come before the sync."""
        if not manifest_sha:
            return False
        message = git("log", "-1", "--format=%B", manifest_sha,
                      git_dir=self.ws.manifests_git, check=False)
        hld_sha = trailers(message).get("HLD-Commit") if message else None
        return bool(hld_sha) and pending_job(self.ws, "generate", sha=hld_sha)

    def _flux_step(self) -> None:
        now = self.clock.now()
        due = now - self._last_resync >= self.ws.settings.resync_seconds
        # A resync or a request reads main afresh, so the cheap stamp must not hide a
        # commit whose generate job is still running from the causal check below.
        moved = self.scanner.moved("manifests", refs_stamp(self.ws.manifests_git))
        if moved or self._head is None or due or self._reconcile_requested.is_set():
            self._head = self.flux.head()
        head = self._head
        if head != self.flux.status.last_attempted and self.generate_pending_for(head):
            return  # woken again when the job finishes
        if self._reconcile_requested.is_set():
            self._reconcile_requested.clear()
            self.flux.reconcile("requested", sha=head)
            self._last_resync = now
        elif not self._reconciled_once or head != self.flux.status.last_attempted:
            # A commit that failed is retried at the next resync, not on every wake.
            self.flux.reconcile("new commit" if self._reconciled_once else "engine start",
                                sha=head)
            self._reconciled_once = True
            self._last_resync = now
        elif due:
            self.flux.reconcile("periodic resync", sha=head)
            self.monitor.resync()  # the safety net: health is judged in full again
            self._last_resync = now
        elif time.monotonic() >= self._drift_due:
            self._drift_due = time.monotonic() + DRIFT_CHECK_SECONDS
            self.flux.check_drift()

    # -- cluster and health --------------------------------------------------
    def _publish_health(self, kind: str, stage: str, message: str,
                        data: dict[str, Any]) -> None:
        self.bus.publish(kind, stage, message, **data)

    def tick(self) -> None:
        self.ticker.tick()

    @property
    def ticks(self) -> int:
        return self.ticker.ticks

    @property
    def health(self) -> dict[str, Any]:
        """The last verdict: the app's health, Flux's health check and each object's."""
        return self.publisher.health

    def snapshots_current(self) -> bool:
        return self.publisher.snapshots_current()

    def write_snapshots(self) -> None:
        self.publisher.write_snapshots()
