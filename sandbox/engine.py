"""The engine: the one process per workspace that runs the watchers, the CI runner, the
reconciler and the simulated cluster.

Threads, each with its own SQLite connection and git calls:
- watcher (watchdog): any event under hld.git, manifests.git, registry/ or signal/
  wakes the stage that cares; lock files are ignored, and the stage then re-reads the
  truth with `git for-each-ref` rather than trusting the event;
- ci: reacts to ref changes in hld.git (push to a PR branch -> validate; main moved ->
  generate), to new registry tags (release) and runs the job queue;
- flux: reconciles when the manifest repo's main moves, and every resync period;
- tick: steps the cluster to the clock's now, evaluates health, keeps snapshots in
  SQLite for other processes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from . import clusterops
from .clock import Clock, RealClock
from .cluster.base import ClusterBackend
from .deployments import DeploymentTracker
from .events import EventBus
from .flux import Reconciler
from .gitserver.http import GitServer
from .gitutil import refs, short
from .monitor import Monitor
from .pipelines import CIRunner, enqueue
from .pullrequests import PullRequests
from .workspace import EngineLock, Workspace

POLL_SECONDS = 1.0  # safety net under the watchers for the job queue and refs
DRIFT_CHECK_SECONDS = 2.0  # how often the live cluster is compared with git (a dry run)


class EngineError(Exception):
    pass


CHANGES = frozenset({"created", "deleted", "modified", "moved", "closed"})


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Opening or reading a file changes nothing, and the engine's own git reads
        # would otherwise wake it again and again.
        if event.event_type not in CHANGES:
            return
        # git writes `x.lock` and renames it to `x`: the rename's destination is the news.
        path = str(getattr(event, "dest_path", "") or event.src_path)
        if path.endswith(".lock"):
            return
        self.wake()


def make_cluster(ws: Workspace, clock: Clock) -> ClusterBackend:
    if ws.settings.cluster == "sim":
        from .cluster.sim import SimCluster

        return SimCluster(clock, ws.registry.resolve, seed=ws.settings.seed)
    from .cluster.kind import KindCluster

    return KindCluster(ws)


class Engine:
    def __init__(self, ws: Workspace, clock: Clock | None = None,
                 cluster: ClusterBackend | None = None, tick_seconds: float = 0.05) -> None:
        self.ws = ws
        self.clock = clock or RealClock(ws.settings.clock_speed)
        self.bus = EventBus(ws.store)
        self.prs = PullRequests(ws, self.bus)
        self.ci = CIRunner(ws, self.bus, self.prs)
        self.ci.handlers["op"] = lambda params, log: clusterops.perform(self, params)
        self.cluster = cluster or make_cluster(ws, self.clock)
        self.flux = Reconciler(ws, self.cluster, self.bus)
        self.monitor = Monitor(self.cluster, self._publish_health)
        self.tick_seconds = tick_seconds
        self.lock = EngineLock(ws.lock_path)
        self._stop = threading.Event()
        self._wake_ci = threading.Event()
        self._wake_flux = threading.Event()
        self._reconcile_requested = threading.Event()
        self._threads: list[threading.Thread] = []
        self._observer: Any = None
        self.gitserver: GitServer | None = None
        self._tracker: DeploymentTracker | None = None
        self._last_resync = self.clock.now()
        self._drift_due = 0.0
        self._reconciled_once = False
        self._synced_at: tuple[str | None, float] = (None, 0.0)
        self._health_check = "Unknown"
        self._app_health: tuple[str | None, str] = (None, "")
        self._snapshot_due = 0.0
        self.health: dict[str, Any] = {}

    # -- life cycle ----------------------------------------------------------
    def start(self) -> Engine:
        if not self.lock.acquire():
            pid = self.lock.held_elsewhere()
            raise EngineError(
                f"an engine already runs on {self.ws.root} (pid {pid}); attach to it with "
                "'gitops-sandbox tui' or use the CLI, or stop it first")
        self._tracker = DeploymentTracker(self.ws.store, self.bus)
        self.gitserver = self._start_git_server()
        self.ws.signal_dir.mkdir(exist_ok=True)
        self.ws.registry_dir.mkdir(exist_ok=True)
        observer = Observer()
        for repo, wake in ((self.ws.hld_git, self._wake_ci), (self.ws.manifests_git,
                                                               self._wake_flux)):
            # Refs live in refs/ (loose) and in the repo folder (packed-refs); watching
            # objects/ would only add noise from every pack a push writes.
            observer.schedule(_Wake(wake.set), str(repo), recursive=False)
            observer.schedule(_Wake(wake.set), str(repo / "refs"), recursive=True)
        observer.schedule(_Wake(self._wake_ci.set), str(self.ws.registry_dir), recursive=True)
        observer.schedule(_Wake(self._wake_ci.set), str(self.ws.signal_dir), recursive=False)
        observer.start()
        self._observer = observer
        for name, target in (("ci", self._ci_loop), ("flux", self._flux_loop),
                             ("tick", self._tick_loop)):
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
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=30)
        if self._tracker:
            self._tracker.close()
        if self.gitserver is not None:
            self.gitserver.stop()
        self.bus.publish("engine.stopped", "engine", "engine stopped")
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

    def reconcile_now(self) -> None:
        self._reconcile_requested.set()
        self._wake_flux.set()

    # -- loops ---------------------------------------------------------------
    def _loop(self, wake: threading.Event, timeout: Callable[[], float],
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
        self._loop(self._wake_ci, lambda: POLL_SECONDS, self._ci_step)

    def _flux_loop(self) -> None:
        def period() -> float:
            resync = self.ws.settings.resync_seconds / self.clock_speed()
            return max(0.05, min(resync, DRIFT_CHECK_SECONDS))
        self._loop(self._wake_flux, period, self._flux_step)

    def check_drift_soon(self) -> None:
        self._drift_due = 0.0
        self._wake_flux.set()

    def clock_speed(self) -> float:
        return float(getattr(self.clock, "speed", 1.0))

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001
                self.bus.publish("engine.error", "engine", f"tick: {type(exc).__name__}: {exc}")

    # -- CI: hld refs, registry, job queue -----------------------------------
    def _ci_step(self) -> None:
        self.scan_hld_refs()
        self.scan_registry()
        self.ci.run_pending()

    def scan_hld_refs(self) -> None:
        store = self.ws.store
        now = refs(self.ws.hld_git, "refs/heads/")
        before = json.loads(store.get_meta("hld.refs", "null") or "null")
        if now == before:
            return  # the poll runs every second; most of the time nothing moved
        store.set_meta("hld.refs", json.dumps(now))
        for ref, sha in sorted(now.items()):
            if before is not None and before.get(ref) == sha:
                continue
            branch = ref.removeprefix("refs/heads/")
            if before is not None:
                self.bus.publish("push.received", "gitserver",
                                 f"hld.git: {branch} -> {short(sha)}", branch=branch, sha=sha)
            if branch == "main":
                if store.one("SELECT 1 FROM deployments WHERE hld_sha=?", sha) is None:
                    enqueue(self.ws, "generate", sha=sha)
                continue
            for pr in self.prs.open_for_branch(branch):
                if pr.head_sha != sha:
                    self.prs.update_head(pr.id, sha)
                    enqueue(self.ws, "validate", pr=pr.id, sha=sha)

    def scan_registry(self) -> None:
        store = self.ws.store
        seen = set(json.loads(store.get_meta("images.seen", "[]") or "[]"))
        images = self.ws.registry.images()
        new = [i for i in images if f"{i.repository}:{i.tag}" not in seen]
        if not new:
            return
        store.set_meta("images.seen", json.dumps(sorted(seen | {
            f"{i.repository}:{i.tag}" for i in images})))
        for image in new:
            enqueue(self.ws, "release", repository=image.repository, tag=image.tag)

    # -- flux ----------------------------------------------------------------
    def _flux_step(self) -> None:
        head = self.flux.head()
        now = self.clock.now()
        due = now - self._last_resync >= self.ws.settings.resync_seconds
        if self._reconcile_requested.is_set():
            self._reconcile_requested.clear()
            self.flux.reconcile("requested")
            self._last_resync = now
        elif not self._reconciled_once or head != self.flux.status.last_attempted:
            # A commit that failed is retried at the next resync, not on every wake.
            self.flux.reconcile("new commit" if self._reconciled_once else "engine start")
            self._reconciled_once = True
            self._last_resync = now
        elif due:
            self.flux.reconcile("periodic resync")
            self._last_resync = now
        elif time.monotonic() >= self._drift_due:
            self._drift_due = time.monotonic() + DRIFT_CHECK_SECONDS
            self.flux.check_drift()

    # -- cluster and health --------------------------------------------------
    def _publish_health(self, kind: str, stage: str, message: str,
                        data: dict[str, Any]) -> None:
        self.bus.publish(kind, stage, message, **data)

    def tick(self) -> None:
        for ev in self.cluster.step():
            if ev.type == "Warning" or ev.reason in ("ScalingReplicaSet",):
                self.bus.publish("cluster.event", "cluster",
                                 f"{ev.ref.short}: {ev.reason}: {ev.message}",
                                 reason=ev.reason, object=str(ev.ref), type=ev.type)
        expected = self.flux.status.refs()
        results = self.monitor.evaluate(expected)
        revision = self.flux.status.last_applied
        if expected:
            health, why = self.monitor.overall(results)
            word = health.value
        else:  # an empty revision has nothing to wait for; no revision, nothing to say
            word, why = ("Healthy", "nothing to watch") if revision else ("Unknown", "not synced")
        if expected and (revision, word) != self._app_health:
            self._app_health = (revision, word)
            self.bus.publish("health.changed", "monitor",
                             f"app is {word} at {short(revision)}: {why}", scope="app",
                             health=word, revision=revision, hld_sha=self.flux.status.hld_sha)
        self._health_gate(revision, word, why)
        self.health = {"app": word, "message": why, "revision": revision,
                       "check": self._health_check, "now": self.clock.now(),
                       "objects": {str(ref): [h.value, msg] for ref, (h, msg) in results.items()}}
        if time.monotonic() >= self._snapshot_due:
            started = time.monotonic()
            self.write_snapshots()
            # Other processes read these snapshots; a big cluster makes them costly, so
            # they are kept to a fifth of the engine's time at most.
            cost = time.monotonic() - started
            self._snapshot_due = time.monotonic() + max(0.25, 4 * cost)

    def _health_gate(self, revision: str | None, word: str, why: str) -> None:
        """Flux's health check: after a sync, wait (in simulated time) for every applied
        object to be healthy, up to the timeout. A newer revision replaces the wait."""
        now = self.clock.now()
        if revision != self._synced_at[0]:
            self._synced_at = (revision, now)
            self._health_check = "Waiting"
        if self._health_check != "Waiting" or revision is None:
            return
        waited = now - self._synced_at[1]
        if word == "Healthy":
            self._health_check = "Passed"
            self.bus.publish("health.check", "flux",
                             f"Health check passed in {waited:.1f}s for {short(revision)}",
                             revision=revision, result="Passed", seconds=round(waited, 3))
        elif word == "Degraded" or waited > self.ws.settings.health_timeout:
            self._health_check = "Failed"
            reason = (why if word == "Degraded" else
                      f"timeout after {self.ws.settings.health_timeout:g}s waiting for: {why}")
            self.bus.publish("health.check", "flux",
                             f"Health check failed for {short(revision)}: {reason}",
                             revision=revision, result="Failed", reason=reason)

    def write_snapshots(self) -> None:
        snap = getattr(self.cluster, "snapshot", None)
        data = snap() if callable(snap) else {"objects": self.cluster.list()}
        if data.get("backend") not in ("kind", "kubectl"):  # a real cluster keeps Unix time
            data["now"] = self.clock.now()
        self.ws.store.put_snapshot("cluster", data)
        self.ws.store.put_snapshot("health", self.health)
