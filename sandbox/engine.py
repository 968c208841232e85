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
  SQLite for other processes, renews the leases of running jobs and checks that its
  lock file and database are still the ones it opened.

Causal order: the reconciler does not start on a manifest commit while the generate
job that pushed it has not finished, so the log reads generate -> manifests.generated
-> job.finished -> sync.started -> apply -> sync.finished -> health.check. Health is
evaluated under the reconciler's lock, so a verdict always belongs to the revision
that was live when it was taken.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from . import clusterops, faults, repair
from .analysis import Analyzer, Objectives, abandon_unfinished, objectives_at
from .clock import Clock, RealClock
from .cluster.base import ClusterBackend, ObjRef, parse_ref
from .clusterstate import ClusterState
from .deployments import DeploymentTracker
from .events import EventBus
from .flux import Reconciler
from .gitserver.http import GitServer
from .gitutil import git, refs, refs_stamp, short, trailers
from .metrics import MetricsSampler
from .monitor import Monitor
from .pipelines import CIRunner, enqueue, pending_job
from .pullrequests import PullRequests
from .retention import Pruner
from .rollback import AutoRollback
from .workspace import EngineLock, Workspace

POLL_SECONDS = 1.0  # safety net under the watchers for the job queue and refs
DRIFT_CHECK_SECONDS = 2.0  # how often the live cluster is compared with git (a dry run)
GUARD_SECONDS = 1.0  # how often leases are renewed and the lock and database checked
# The polls under the watchers look at file stats first and run git only when a ref
# file moved, or at least this often.
FULL_SCAN_SECONDS = 30.0


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


def _tree_stamp(root: Path) -> tuple[tuple[str, int], ...]:
    """The folders' and files' modification times under root (a new file changes them)."""
    out: list[tuple[str, int]] = []
    try:
        for dirpath, _dirs, files in os.walk(root):
            out.append((dirpath, os.stat(dirpath).st_mtime_ns))
            out += [(f, os.stat(os.path.join(dirpath, f)).st_mtime_ns) for f in files]
    except OSError:
        return ()
    return tuple(sorted(out))


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
        self.monitor = Monitor(self.cluster, self._publish_health)
        self.tick_seconds = tick_seconds
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
        self._stop = threading.Event()
        self._wake_ci = threading.Event()
        self._wake_flux = threading.Event()
        self._reconcile_requested = threading.Event()
        self._threads: list[threading.Thread] = []
        self._observer: Any = None
        self.gitserver: GitServer | None = None
        self.apiserver: Any = None  # the Kubernetes API in front of a simulated cluster
        self._tracker: DeploymentTracker | None = None
        self._last_resync = self.clock.now()
        self._drift_due = 0.0
        self._reconciled_once = False
        self._synced_at: tuple[str | None, float] = (None, 0.0)
        self._health_check = "Unknown"
        self._app_health: tuple[str | None, str] = (None, "")
        self._snapshot_due = 0.0
        self._health_written: Any = None
        self._cluster_written: Any = None
        self._verdict_seen: Any = None
        self._verdict: tuple[str, str] = ("Unknown", "not synced")
        self._objects: dict[str, list[str]] = {}
        self._inventory_seen: tuple[Any, list[ObjRef]] = (None, [])
        self._guard_due = 0.0
        self._stamps: dict[str, tuple[Any, float]] = {}
        self._head: str | None = None
        self._started = False
        self.health: dict[str, Any] = {}
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
            self._seed_health()
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
        self.pruner.start()
        self.sampler.start(self.clock_speed)
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
            pass  # the database was taken away (see _guard): nothing left to tell
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

    def _job_finished(self, kind: str, result: dict[str, Any]) -> None:
        if kind == "generate":
            self._wake_flux.set()  # the reconciler may have waited for this record

    def _moved(self, name: str, stamp: Any) -> bool:
        """Whether a polled thing changed since the last full look (always true once
        every FULL_SCAN_SECONDS), remembering this look."""
        last = self._stamps.get(name)
        now = time.monotonic()
        if last is not None and last[0] == stamp and now < last[1]:
            return False
        self._stamps[name] = (stamp, now + FULL_SCAN_SECONDS)
        return True

    def scan_hld_refs(self) -> None:
        if not self._moved("hld", refs_stamp(self.ws.hld_git)):
            return  # an idle poll: no git process
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
                # Every commit main gained gets its manifests, in order, even when
                # several merges landed between two scans.
                repair.enqueue_missing_generations(self.ws)
                continue
            for pr in self.prs.open_for_branch(branch):
                if pr.head_sha != sha:
                    self.prs.update_head(pr.id, sha)
                    enqueue(self.ws, "validate", pr=pr.id, sha=sha)

    def scan_registry(self) -> None:
        if not self._moved("registry", _tree_stamp(self.ws.registry_dir)):
            return
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
        if (self._moved("manifests", refs_stamp(self.ws.manifests_git)) or self._head is None
                or due or self._reconcile_requested.is_set()):
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
        if time.monotonic() >= self._guard_due:
            self._guard_due = time.monotonic() + GUARD_SECONDS
            if not self._guard():
                return
        for ev in self.cluster.step():
            if ev.type == "Warning" or ev.reason in ("ScalingReplicaSet",):
                self.bus.publish("cluster.event", "cluster",
                                 f"{ev.ref.short}: {ev.reason}: {ev.message}",
                                 reason=ev.reason, object=str(ev.ref), type=ev.type)
        # One snapshot under the reconciler's lock: the objects, their health and the
        # revision they belong to are read with no apply in between. The monitor judges
        # only what the cluster changed since the last tick.
        with self.flux.lock:
            expected = self._expected_refs()
            results = self.monitor.evaluate(expected)
            faults.point("tick.after_evaluate")
            revision = self.flux.status.last_applied
            hld_sha = self.flux.status.hld_sha
        seen = (self.monitor.version, revision, bool(expected))
        if seen != self._verdict_seen:
            # Something changed: aggregate again (an idle tick skips all of this).
            self._verdict_seen = seen
            if expected:
                health, why = self.monitor.overall(results)
                word = health.value
            else:  # an empty revision has nothing to wait for; no revision, nothing to say
                word, why = (("Healthy", "nothing to watch") if revision
                             else ("Unknown", "not synced"))
            self._verdict = (word, why)
            self._objects = {str(ref): [h.value, msg] for ref, (h, msg) in results.items()}
        word, why = self._verdict
        if expected and (revision, word) != self._app_health:
            self._app_health = (revision, word)
            self.bus.publish("health.changed", "monitor",
                             f"app is {word} at {short(revision)}: {why}", scope="app",
                             health=word, revision=revision, hld_sha=hld_sha)
        self._health_gate(revision, word, why)
        self.health = {"app": word, "message": why, "revision": revision,
                       "check": self._health_check, "now": self.clock.now(),
                       "objects": self._objects}
        verdict = (revision, word, self._health_check, self._verdict_seen)
        cluster_rev = self._cluster_revision()
        if time.monotonic() >= self._snapshot_due and (
                cluster_rev is None or cluster_rev != self._cluster_written):
            started = time.monotonic()
            self.write_snapshots()
            self._cluster_written = cluster_rev
            self._health_written = verdict
            # Other processes read these snapshots; a big cluster makes them costly, so
            # they are kept to a fifth of the engine's time at most.
            cost = time.monotonic() - started
            self._snapshot_due = time.monotonic() + max(0.25, 4 * cost)
        elif verdict != self._health_written:
            # A verdict is written when it changes, so an engine killed right after
            # still knows on restart what it last said (and does not say it again).
            self.ws.store.put_snapshot("health", self.health)
            self._health_written = verdict

    def _expected_refs(self) -> list[ObjRef]:
        """The reconciler's inventory as refs, rebuilt only when it changed."""
        inventory = self.flux.status.inventory
        if inventory is not self._inventory_seen[0]:
            self._inventory_seen = (inventory, self.flux.status.refs())
        return self._inventory_seen[1]

    def snapshots_current(self) -> bool:
        """Whether the cluster snapshot other processes read shows the cluster as it is."""
        revision = self._cluster_revision()
        return revision is not None and revision == self._cluster_written

    def _cluster_revision(self) -> Any:
        """Whatever moves when the cluster changed (None: no way to know, so the
        snapshot is rewritten on its timer)."""
        revision = getattr(self.cluster, "revision", None)
        return revision() if callable(revision) else None

    def _seed_health(self) -> None:
        """A restarted engine finds the cluster as it was: it takes the health it last
        published as known, so only real changes make events."""
        snap = self.ws.store.get_snapshot("health")
        data = snap[1] if snap else {}
        revision = data.get("revision")
        if not revision or revision != self.flux.status.last_applied:
            return
        self._app_health = (revision, str(data.get("app")))
        self._synced_at = (revision, self.clock.now())
        self._health_check = str(data.get("check") or "Waiting")
        self.monitor.seed({ref: health for ref, health in (
            (parse_ref(key), value) for key, value in (data.get("objects") or {}).items())
            if ref is not None})

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

    def _guard(self) -> bool:
        """Renew job leases; check the lock file and the database are still ours."""
        if not self._started:
            return True  # driven step by step (tests): no lock, no leases to guard
        if not self.ws.store.still_same_file():
            self._die("state.db was deleted or replaced under the running engine, which "
                      "would write into a file nobody reads: the engine stops; start it "
                      "again (gitops-sandbox up)")
            return False
        if not self.lock.still_ours():
            if self.lock.retake():
                self.bus.publish("engine.warning", "engine",
                                 "engine.lock was deleted under the running engine: "
                                 "recreated it, so no second engine can start")
            else:
                pid = self.lock.held_elsewhere()
                self._die(f"engine.lock was deleted and another engine (pid {pid}) took it: "
                          "this engine stops so that only one runs")
                return False
        problem = repair.hook_problem(self.ws)
        if problem:
            # Without the hook main takes any push: put the branch policy back at once.
            from .gitserver import install_hook

            install_hook(self.ws.hld_git, self.ws.root)
            self.bus.publish("engine.repaired", "engine", f"hld.git's pre-receive hook was "
                             f"{problem}: installed it again")
        self.ci.renew_leases()
        return True

    def _die(self, why: str) -> None:
        self.fatal = why
        print(f"error: {why}", file=sys.stderr, flush=True)
        try:
            self.bus.publish("engine.error", "engine", why)
        except sqlite3.Error:
            pass  # the database may be the thing that is gone
        # stop() joins this very thread, so it runs on another one.
        threading.Thread(target=self.stop, name="engine-stop", daemon=True).start()

    def write_snapshots(self) -> None:
        snap = getattr(self.cluster, "snapshot", None)
        data = snap() if callable(snap) else {"objects": self.cluster.list()}
        if data.get("backend") not in ("kind", "kubectl"):  # a real cluster keeps Unix time
            data["now"] = self.clock.now()
        self.ws.store.put_snapshot("cluster", data)
        self.ws.store.put_snapshot("health", self.health)
