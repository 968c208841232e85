"""The reconciler, after Flux: make the cluster match the manifest repo's main.

Triggered by the engine when the manifest repo's refs change (file watcher), on a
periodic resync (the safety net that also corrects drift) and on demand. Each run:
read the commit's YAML straight from git, label every object as ours, validate all of
them with a dry run, apply (CRDs and namespaces first), prune what we applied before
and no longer see (never what we did not create, never what opts out), and move the
`flux-sync` tag to the applied commit.

Failure policy: `atomic` (Flux v2, the default) applies nothing when any object is
invalid; `partial` (Flux v1) applies the valid ones and records per-object errors.

Status in Flux's terms: the Ready condition (`True`/`False`/`Unknown`) with its reason
(`ReconciliationSucceeded`, `ReconciliationFailed`, `Progressing`,
`DependencyNotReady`), `lastAppliedRevision` and `lastAttemptedRevision`. A reconcile
runs under `lock`, and whoever reads health takes the same lock, so health is never
stamped on a revision it was not measured against.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import faults
from .cluster.base import ApplyResult, ClusterBackend, ObjRef
from .events import EventBus
from .fluxsource import ManifestSource
from .gitutil import git, refs, rev, short, trailers
from .workspace import Workspace

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "gitops-sandbox-flux"
PRUNE_ANNOTATION = "gitops-sandbox.io/prune"  # "disabled" keeps the object when removed
SYNC_TAG = "refs/tags/flux-sync"
# Flux's kustomize-controller applies CRDs, then Namespaces, then the rest (fluxcd/pkg/ssa).
FIRST_KINDS = ("CustomResourceDefinition", "Namespace")
POLICIES = ("atomic", "partial")
SUCCEEDED, FAILED = "ReconciliationSucceeded", "ReconciliationFailed"
PROGRESSING, DEPENDENCY = "Progressing", "DependencyNotReady"


class WatchedLock:
    """A re-entrant lock that remembers when someone had to wait for it (tests use that
    to force an interleaving without timing)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.contended = threading.Event()

    def __enter__(self) -> WatchedLock:
        if not self._lock.acquire(blocking=False):
            self.contended.set()
            self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


@dataclass
class SyncStatus:
    ready: bool = False
    message: str = "never reconciled"
    last_applied: str | None = None
    last_attempted: str | None = None
    hld_sha: str | None = None
    # [kind, name, namespace], plus the group of a custom resource's kind (ObjRef.group)
    inventory: list[list[str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    suspended: bool = False
    last_run: float = 0.0
    policy: str = "atomic"
    sync: str = "Unknown"  # Synced | OutOfSync (Argo CD's words): does the cluster match git?
    drifted: list[str] = field(default_factory=list)
    ready_status: str = "Unknown"  # Flux's Ready condition: True | False | Unknown
    reason: str = PROGRESSING

    def refs(self) -> list[ObjRef]:
        return [ObjRef(*item) for item in self.inventory]


def _order(ref: ObjRef) -> tuple[int, ObjRef]:
    # CRDs, then Namespaces, then the rest (what may be of their kinds or live in them).
    rank = FIRST_KINDS.index(ref.kind) if ref.kind in FIRST_KINDS else len(FIRST_KINDS)
    return (rank, ref)


class Reconciler:
    def __init__(self, ws: Workspace, cluster: ClusterBackend, bus: EventBus) -> None:
        self.ws = ws
        self.cluster = cluster
        self.bus = bus
        saved = ws.store.get_snapshot("flux")
        known = set(SyncStatus.__dataclass_fields__)
        self.status = SyncStatus(**{k: v for k, v in saved[1].items() if k in known}
                                 ) if saved else SyncStatus()
        self.status.policy = ws.settings.failure_policy
        self._desired: list[dict[str, Any]] | None = None  # what the last apply sent
        self._desired_by_ref: dict[ObjRef, dict[str, Any]] = {}
        self._trusted: set[str] = set()  # revisions that passed the server's rules
        self.lock = WatchedLock()
        self.source = ManifestSource(ws.manifests_git)
        # What the last apply left in the cluster as git says: the digest of each file
        # it applied whole, and the objects it could not apply (tried again next time).
        self._applied_files: dict[str, str] = {}
        self._retry: set[ObjRef] = set()
        # Live objects changed since they were last compared with git (the cluster's
        # watch): only those can have drifted. None: compare everything.
        watch = getattr(cluster, "watch", None)
        self._watch = watch() if callable(watch) else None
        self._suspects: set[ObjRef] | None = None
        self.compared = 0  # objects dry-run against git, for tests of the change set

    def head(self) -> str | None:
        return refs(self.ws.manifests_git, "refs/heads/main").get("refs/heads/main")

    def _save(self) -> None:
        self.ws.store.put_snapshot("flux", asdict(self.status))

    def set_suspended(self, suspended: bool) -> None:
        self.status.suspended = suspended
        self._save()
        word = "suspended" if suspended else "resumed"
        self.bus.publish(f"sync.{word}", "flux", f"reconciliation {word}")

    def load(self, sha: str) -> tuple[list[dict[str, Any]], list[str]]:
        objects: list[dict[str, Any]] = []
        errors: list[str] = []
        for _path, _digest, docs, problems in self._files(sha):
            objects += docs
            errors += problems
        return objects, errors

    def _files(self, sha: str) -> list[tuple[str, str, list[dict[str, Any]], list[str]]]:
        return self.source.files(sha)

    def reconcile(self, reason: str = "manual", sha: str | None = None) -> SyncStatus:
        """Reconcile main, or the commit `sha` the caller already vetted (the engine
        checks that its generate job has finished; main may have moved on since)."""
        with self.lock:
            return self._reconcile(reason, sha)

    def _condition(self, status: str, reason: str, message: str) -> None:
        st = self.status
        st.ready_status, st.reason, st.message = status, reason, message
        st.ready = status == "True"

    def _reconcile(self, reason: str, sha: str | None = None) -> SyncStatus:
        st = self.status
        if st.suspended:
            return st
        sha = sha or self.head()
        if sha is None:
            return st
        if rev(self.ws.manifests_git, sha) is None:
            # No artifact to apply: Flux reports its source as not ready, and retries.
            if st.reason != DEPENDENCY or st.last_attempted != sha:
                st.last_attempted = sha
                self._condition("False", DEPENDENCY,
                                f"manifests.git main points at a missing object {short(sha)}")
                self._save()
                self.bus.publish("sync.failed", "flux",
                                 f"Reconciliation failed: {st.message}", revision=sha,
                                 errors=[st.message])
            return st
        started = time.monotonic()
        new_revision = sha != st.last_applied
        st.last_attempted = sha
        st.last_run = time.time()
        body = git("log", "-1", "--format=%B", sha, git_dir=self.ws.manifests_git)
        hld_sha = trailers(body).get("HLD-Commit")
        untrusted = None if sha in self._trusted else self._untrusted(sha, body)
        if untrusted:
            return self._refused(sha, hld_sha, untrusted)
        self._trusted.add(sha)
        if new_revision:
            self._condition("Unknown", PROGRESSING,
                            f"reconciliation in progress for main@{short(sha)}")
            self.bus.publish("sync.started", "flux",
                             f"reconciling {short(sha)} ({reason})", revision=sha,
                             hld_sha=hld_sha, reason=reason)
        files = self._files(sha)
        objects = [o for _, _, docs, _ in files for o in docs]
        load_errors = [e for _, _, _, problems in files for e in problems]
        for obj in objects:
            meta = obj.setdefault("metadata", {})
            labels = meta.get("labels") or {}
            if labels.get(MANAGED_BY) != MANAGER:
                meta["labels"] = {**labels, MANAGED_BY: MANAGER}
        # Flux's change set: on a new commit only what git changed, what failed last
        # time and what the cluster saw change is compared and applied; a resync (or a
        # request) compares everything, the safety net for changes nobody announced.
        full = reason in ("periodic resync", "requested") or self._desired is None
        suspects = self._take_suspects()
        if full or suspects is None:
            compare = objects
        else:
            fresh = {path for path, digest, _, _ in files
                     if self._applied_files.get(path) != digest}
            compare = [o for path, _, docs, _ in files for o in docs
                       if path in fresh or ObjRef.of(o) in suspects
                       or ObjRef.of(o) in self._retry]
        self.compared += len(compare)
        checks = self.cluster.apply(compare, dry_run=True)
        invalid = [r for r in checks if r.error]
        errors = load_errors + [f"{r.ref.short}: {r.error}" for r in invalid]
        if errors and (st.policy == "atomic" or load_errors):
            # Nothing was applied: what was suspect still is.
            self._suspects = None if suspects is None or full else self._suspects | suspects
            return self._failed(sha, hld_sha, errors, started)
        # The dry run saw the batch's own CRDs established, so it knows the scope of
        # their kinds before this process does: a cluster-scoped custom resource whose
        # CRD comes in the same commit must not be read as namespaced here.
        cluster_kinds = {r.ref.kind for r in checks if not r.ref.namespace}

        def ref_of(o: dict[str, Any]) -> ObjRef:
            ref = ObjRef.of(o)
            return replace(ref, namespace="") if ref.namespace and ref.kind in cluster_kinds \
                else ref

        bad = {r.ref for r in invalid}
        valid = [o for o in objects if ref_of(o) not in bad]
        if not new_revision:
            self._report_drift(checks, bad)
        todo = {r.ref for r in checks if not r.error and r.action != "unchanged"}
        send = sorted((o for o in valid if ref_of(o) in todo),
                      key=lambda o: _order(ref_of(o)))
        results = self.cluster.apply(send)
        if self._watch is not None:
            # Our own writes are not drift. (A hand edit racing this very apply waits
            # for the periodic resync, which compares everything.)
            self._watch.take()
        faults.point("flux.after_apply")
        self._desired = valid
        self._desired_by_ref = {ref_of(o): o for o in valid}
        failed = bad | {r.ref for r in results if r.error}
        self._retry = failed
        self._applied_files = {path: digest for path, digest, docs, _ in files}
        results += [ApplyResult(ref_of(o), "unchanged") for o in valid
                    if ref_of(o) not in todo]
        applied = {r.ref for r in results if not r.error}
        pruned = self._prune(st.refs(), applied | bad)
        changed = [r for r in results if r.action in ("created", "configured")]
        for r in results:
            if r.error:
                errors.append(f"{r.ref.short}: {r.error}")
        st.inventory = [[r.kind, r.name, r.namespace, *([r.group] if r.group else [])]
                        for r in sorted(applied | bad)]
        st.errors = errors
        st.sync, st.drifted = "Synced", []
        st.hld_sha = hld_sha
        moved = st.last_applied != sha
        st.last_applied = sha
        git("update-ref", SYNC_TAG, sha, git_dir=self.ws.manifests_git)
        took = time.monotonic() - started
        if errors:
            self._condition("False", FAILED,
                            f"Applied revision main@{short(sha)} with {len(errors)} error(s)")
        else:
            self._condition("True", SUCCEEDED, f"Applied revision: main@{short(sha)}")
        self._save()
        if changed or pruned:
            # Flux's change-set event: one line per object, as `flux events` shows it.
            lines = [_line(r) for r in changed] + [f"{p.short} deleted" for p in pruned]
            self.bus.publish("sync.applied", "flux", "\n".join(lines), revision=sha,
                             changed=lines)
        if moved or changed or pruned or errors:
            next_run = self.ws.settings.resync_seconds
            self.bus.publish(
                "sync.finished", "flux",
                f"Reconciliation finished in {took * 1000:.0f}ms, next run in "
                f"{_duration(next_run)}: main@{short(sha)}, {len(changed)} changed, "
                f"{len(pruned)} pruned"
                + (f", {len(errors)} error(s)" if errors else ""),
                revision=sha, hld_sha=hld_sha, changed=[_line(r) for r in changed],
                pruned=[str(p) for p in pruned], errors=errors, seconds=round(took, 4),
                new_revision=moved)
        return st

    def _untrusted(self, sha: str, body: str) -> str | None:
        """The git server's rules for manifests.git, checked again before applying: a
        commit written to the repository's folder behind the server's back is refused."""
        from .gitserver.policy import hld_commit_problem, is_ancestor
        from .users import GENERATE_BOT, Users

        pusher = Users(self.ws.store).pusher_of("manifests", "refs/heads/main", sha)
        if pusher is None or pusher.name != GENERATE_BOT:
            who = pusher.name if pusher else "nobody through the git server"
            return (f"main@{short(sha)} was pushed by {who}, not by the generation job "
                    f"({GENERATE_BOT})")
        last = self.status.last_applied
        if last and last != sha and not is_ancestor(self.ws.manifests_git, last, sha):
            return (f"main@{short(sha)} does not descend from the last applied "
                    f"{short(last)}: history was rewritten")
        parents = git("rev-list", "--parents", "-1", sha, git_dir=self.ws.manifests_git).split()
        if len(parents) == 1 and "HLD-Commit" not in trailers(body):
            return None  # the repository's first commit, made by init: no HLD yet
        return hld_commit_problem(self.ws.hld_git, body, sha)

    def _refused(self, sha: str, hld_sha: str | None, reason: str) -> SyncStatus:
        st = self.status
        st.errors = [reason]
        self._condition("False", FAILED, f"refused to apply main@{short(sha)}: {reason}")
        self._save()
        self.bus.publish("sync.refused", "flux", f"Reconciliation refused: {reason}; "
                         "nothing applied", revision=sha, hld_sha=hld_sha, reason=reason)
        return st

    def _failed(self, sha: str, hld_sha: str | None, errors: list[str],
                started: float) -> SyncStatus:
        st = self.status
        st.errors = errors
        self._condition("False", FAILED, f"validation failed for main@{short(sha)}: {errors[0]}")
        self._save()
        self.bus.publish("sync.failed", "flux",
                         f"Reconciliation failed after {(time.monotonic() - started) * 1000:.0f}ms"
                         f": {len(errors)} invalid object(s), nothing applied: {errors[0]}",
                         revision=sha, hld_sha=hld_sha, errors=errors)
        return st

    def check_drift(self) -> list[str]:
        """Compare the cluster with what was last applied (a dry run, nothing changes);
        new drift is an event, and the status turns OutOfSync until the next reconcile."""
        with self.lock:
            return self._check_drift()

    def _take_suspects(self) -> set[ObjRef] | None:
        """The live objects changed since they were last compared (None: all), and
        start collecting anew."""
        if self._watch is None:
            return None
        taken = self._watch.take()
        suspects = None if taken is None or self._suspects is None else self._suspects | taken
        self._suspects = set()
        return suspects

    def _check_drift(self) -> list[str]:
        st = self.status
        if self._desired is None or st.suspended:
            return st.drifted
        suspects = self._take_suspects()
        if suspects is None:
            desired = self._desired
        else:
            desired = [self._desired_by_ref[r] for r in sorted(suspects)
                       if r in self._desired_by_ref]
            if not desired:
                return st.drifted
        self.compared += len(desired)
        checks = self.cluster.apply(desired, dry_run=True)
        drifted = [r for r in checks if not r.error and r.action in ("created", "configured")]
        self._announce(drifted)
        checked = {str(r.ref) for r in checks}
        # What was not compared this time keeps its last verdict until it is.
        still = [d for d in st.drifted if d not in checked]
        st.drifted = still + [str(r.ref) for r in drifted if str(r.ref) not in still]
        if suspects is not None:
            # Drifted objects stay suspects: the next look compares them again.
            self._suspects = (self._suspects or set()) | {r.ref for r in drifted}
        st.sync = "OutOfSync" if st.drifted else "Synced"
        return st.drifted

    def _announce(self, drifted: list[ApplyResult]) -> None:
        for r in drifted:
            if str(r.ref) in self.status.drifted:
                continue
            what = "was deleted" if r.action == "created" else "differs from git"
            self.bus.publish("drift.detected", "flux",
                             f"{r.ref.short} {what}: OutOfSync until the next reconcile",
                             object=str(r.ref))

    def _report_drift(self, checks: list[ApplyResult], bad: set[ObjRef]) -> None:
        drifted = [r for r in checks if r.ref not in bad and r.action in ("created", "configured")]
        self._announce(drifted)
        for r in drifted:
            self.bus.publish("drift.corrected", "flux", f"{_line(r)} (drift corrected)",
                             object=str(r.ref))

    def _prune(self, before: list[ObjRef], keep: set[ObjRef]) -> list[ObjRef]:
        pruned: list[ObjRef] = []
        gone = [ref for ref in before if ref not in keep]
        # Reverse apply order: workloads first, their namespace last.
        for ref in sorted(gone, key=_order, reverse=True):
            live = self.cluster.get(ref)
            if live is None:
                continue
            meta = live.get("metadata") or {}
            if (meta.get("labels") or {}).get(MANAGED_BY) != MANAGER:
                continue
            if (meta.get("annotations") or {}).get(PRUNE_ANNOTATION) == "disabled":
                continue
            if self.cluster.delete(ref):
                pruned.append(ref)
        return pruned


def flux_revision(sha: str | None) -> str:
    """A revision as Flux v2 writes it: `main@sha1:<full sha>`."""
    return f"main@sha1:{sha}" if sha else ""


def _duration(seconds: float) -> str:
    """Go-style durations, as Flux prints them: 1m0s, 45s, 2m30s."""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _line(result: ApplyResult) -> str:
    return f"{result.ref.short} {result.action}"
