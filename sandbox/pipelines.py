"""The CI runner: jobs queued in SQLite, run one at a time by the engine.

- validate: on a PR open or push, build the manifests from the PR head and its base,
  validate them and post the result (with the object-by-object manifest diff) as the
  PR's check.
- generate: when main moves, generate the manifests from the HLD and commit them to
  manifests.git with trailers naming the HLD commit and the pull request.
- release: when an image tag lands in the registry, change the tag in the HLD on a
  `DEPLOY/<service>-<tag>` branch and open a pull request.

Any process may enqueue a job (and poke the engine); only the engine runs them.

Crash safety: a job is claimed with a lease (owner = engine pid and start id, expiry
renewed while the engine lives); a job whose engine died is queued again on the next
start, or taken over when its lease expires. Every job is idempotent, so running one
twice is harmless: generate finds the manifest commit an earlier run pushed (by its
`HLD-Commit:` trailer) and only records it, validate posts the check again, release
opens the pull request its branch lacks. `faults.point` marks each step for the tests.
"""

from __future__ import annotations

import json
import os
import re
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import faults, manifestcommit
from .ciwarm import WarmUp
from .events import EventBus
from .gitserver import remote
from .gitutil import git, rev, short, trailers, with_trailers
from .mainline import manifest_commit_for
from .pullrequests import PullRequests
from .safetext import one_line
from .users import GENERATE_BOT, RELEASE_BOT, Users
from .workspace import Workspace

if TYPE_CHECKING:
    from .ci_builds import Changed
    from .cluster.discovery import Discovery
    from .hld import GenerateResult
    from .validation.bounds import Deadline
    from .validation.cache import CheckCache

# The HLD tooling (YAML, schemas, yamllint) is imported by the jobs that use it: the
# command line imports this module to queue jobs and must start in a blink.

CHECK_NAME = "validate-manifests"
LEASE_SECONDS = 30.0  # wall time; the engine renews it well before it runs out


def enqueue(ws: Workspace, kind: str, **params: Any) -> int:
    with ws.store.tx() as db:
        cur = db.execute("INSERT INTO jobs(kind, params, status, created) VALUES(?,?,?,?)",
                         (kind, json.dumps(params), "queued", time.time()))
        job = int(cur.lastrowid or 0)
    ws.poke()
    return job


def pending_job(ws: Workspace, kind: str, **params: Any) -> bool:
    """Whether a job of this kind with these parameters waits or runs already."""
    where = " AND ".join(f"json_extract(params, '$.{k}')=?" for k in params)
    row = ws.store.one(f"SELECT 1 FROM jobs WHERE kind=? AND status IN ('queued','running') "
                       f"AND {where} LIMIT 1", kind, *params.values())
    return row is not None


def enqueue_once(ws: Workspace, kind: str, **params: Any) -> int | None:
    """Enqueue unless the same job waits or runs already (the repair calls this often)."""
    if pending_job(ws, kind, **params):
        return None
    return enqueue(ws, kind, **params)


def job_row(ws: Workspace, job: int) -> dict[str, Any] | None:
    row = ws.store.one("SELECT * FROM jobs WHERE id=?", job)
    if row is None:
        return None
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["result"] = json.loads(data["result"])
    return data


class JobLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class CIRunner:
    def __init__(self, ws: Workspace, bus: EventBus, prs: PullRequests,
                 owner: str | None = None) -> None:
        self.ws = ws
        self.bus = bus
        self.prs = prs
        self.owner = owner or f"{os.getpid()}:0"
        # Called after a job's record is final (the engine wakes the reconciler here).
        self.on_finished: Callable[[str, dict[str, Any]], None] | None = None
        self.handlers: dict[str, Callable[[dict[str, Any], JobLog], dict[str, Any]]] = {
            "validate": self.validate, "generate": self.generate, "release": self.release,
        }
        self.monotonic: Callable[[], float] = time.monotonic  # the jobs' time budget clock
        self._cache: CheckCache | None = None
        self.files_written = 0  # manifest files the generate job wrote, for tests
        # The live cluster's server-side dry run (set by the engine); None: no cluster.
        self.dry_run: Callable[[list[dict[str, Any]]], list[Any]] | None = None
        # The live cluster's API discovery, its CRDs included (set by the engine): every
        # object's kind is judged against what the cluster serves, where the dry run
        # judges only the changed objects. None: no cluster, or one that cannot say.
        self.served: Callable[[], Discovery | None] | None = None
        # main's newest generation, linted and validated into the cache once the queue
        # is empty (off the merge's path: the reconciler waits for the generate job).
        self.warm_up = WarmUp(ws, bus, lambda: self.cache,
                              lambda: self.served() if self.served else None,
                              lambda: self.monotonic())

    @property
    def cache(self) -> CheckCache:
        """Generated manifests, lint and validation results kept between jobs."""
        if self._cache is None:
            from .validation.cache import CheckCache

            self._cache = CheckCache(self.ws.root / "cache")
        return self._cache

    def run_pending(self) -> int:
        """Run every queued job, oldest first; returns how many ran."""
        ran = 0
        while True:
            # A running job whose lease ran out lost its engine: it is taken over.
            row = self.ws.store.one(
                "SELECT id FROM jobs WHERE status='queued' OR (status='running' AND "
                "(lease IS NULL OR lease<?) AND owner IS NOT ?) ORDER BY id LIMIT 1",
                time.time(), self.owner)
            if row is None:
                if not self.warm_up.pending():
                    return ran
                self.warm_up.step()  # one slice, then the queue again: a check never waits
                continue
            self.run(int(row["id"]))
            ran += 1

    def claim(self, job: int) -> bool:
        now = time.time()
        with self.ws.store.tx() as db:
            return db.execute(
                "UPDATE jobs SET status='running', started=?, owner=?, lease=? WHERE id=? AND "
                "(status='queued' OR (status='running' AND (lease IS NULL OR lease<?)))",
                (now, self.owner, now + LEASE_SECONDS, job, now)).rowcount > 0

    def renew_leases(self) -> None:
        with self.ws.store.tx() as db:
            db.execute("UPDATE jobs SET lease=? WHERE status='running' AND owner=?",
                       (time.time() + LEASE_SECONDS, self.owner))

    def run(self, job: int) -> dict[str, Any]:
        claimed = self.claim(job)
        data = job_row(self.ws, job)
        assert data is not None
        if not claimed:
            return data
        faults.point("job.after_claim")
        kind, params = data["kind"], data["params"]
        log = JobLog()
        log(f"job #{job}: {kind} {json.dumps(params)}")
        self.bus.publish("job.started", "pipelines", f"CI job #{job} ({kind}) started",
                         job=job, job_kind=kind, **params)
        started = time.monotonic()
        try:
            result = self.handlers[kind](dict(params, job=job), log)
            status = "success" if result.get("ok", True) else "failure"
        except Exception as exc:  # noqa: BLE001 - a job failure is reported, never fatal
            log(f"error: {exc}")
            log(traceback.format_exc())
            result, status = {"ok": False, "error": str(exc)}, "failure"
        took = time.monotonic() - started
        log(f"job #{job} {status} in {took:.2f}s")
        faults.point("job.before_finish")
        # The event goes first: whoever sees the job finished in the table (the
        # reconciler waits for generate jobs) finds its job.finished already logged.
        self.bus.publish("job.finished", "pipelines", f"CI job #{job} ({kind}) {status}",
                         job=job, job_kind=kind, status=status, seconds=round(took, 3),
                         **{k: v for k, v in result.items() if k in ("pr", "sha", "error")})
        with self.ws.store.tx() as db:
            db.execute("UPDATE jobs SET status=?, result=?, log=?, finished=?, lease=NULL "
                       "WHERE id=?",
                       (status, json.dumps(result, default=str), log.text, time.time(), job))
        if self.on_finished is not None:
            self.on_finished(kind, result)
        return job_row(self.ws, job) or {}

    # -- validate ------------------------------------------------------------
    def _build(self, sha: str, log: JobLog, deadline: Deadline | None = None,
               base: str | None = None) -> tuple[Any, list[dict[str, Any]]]:
        from .ci_builds import build_check

        served = self.served() if self.served is not None else None
        return build_check(self.ws, self.cache, sha, log, deadline, base, served)

    def _generated(self, sha: str, allow_hooks: bool = False,
                   deadline: Deadline | None = None, in_checkout: bool = False
                   ) -> GenerateResult:
        from .ci_builds import generation

        return generation(self.ws, None if allow_hooks else self.cache, sha, allow_hooks,
                          deadline, in_checkout)

    def validate(self, params: dict[str, Any], log: JobLog) -> dict[str, Any]:
        pr_id, sha, job = int(params["pr"]), str(params["sha"]), int(params["job"])
        pr = self.prs.get(pr_id)
        if pr.head_sha != sha:
            log(f"#{pr_id} moved on to {short(pr.head_sha)}; nothing to check for {short(sha)}")
            return {"ok": True, "pr": pr_id, "sha": sha, "skipped": True}
        self.prs.set_check(pr_id, sha, CHECK_NAME, "running", "building manifests", job)
        self.bus.publish("check.started", "pipelines", f"#{pr_id}: {CHECK_NAME} running",
                         pr=pr_id, sha=sha, job=job)
        faults.point("validate.after_running")
        # One time budget for the whole job: a check built to be slow fails, naming the
        # slow phase, and the queue moves on.
        from .validation.bounds import Deadline

        deadline = Deadline(self.ws.settings.ci_job_seconds, self.monotonic)
        base_sha = rev(self.ws.hld_git, f"refs/heads/{pr.base}") or pr.base_sha
        report, head_objs = self._build(sha, log, deadline, base=base_sha)
        log(report.text)
        errors = [f for f in report.findings if f.severity == "error"]
        build_error = next((f for f in errors if f.rule in ("generate", "manifest")), None)
        changed: Changed | None = None  # what differs, by component
        if build_error is not None:
            # The manifests were not built (or a file could not be read as one), so a
            # comparison would read missing objects as "removed", which this PR does not do.
            diff_text = f"(no diff: the manifest build failed: {build_error})"
            diff_summary = "build failed"
        else:
            from .ci_builds import changed_documents
            from .manifestdiff import diff_objects

            base_objs: list[dict[str, Any]] = []
            try:
                base = self._generated(base_sha)
            except Exception as exc:  # noqa: BLE001 - a broken base still lets the diff show the head
                log(f"base {short(base_sha)} did not build: {exc}")
            else:
                # Components with unchanged inputs made the same objects: compare the rest.
                changed = changed_documents(base, report.components, report.documents)
                base_objs = ([d.obj for d in base.documents] if changed is None
                             else [d.obj for d in changed[0]])
            diff = diff_objects(base_objs, head_objs if changed is None
                                else [d.obj for d in changed[1]])
            diff_text, diff_summary = diff.text(), diff.summary()
            log(f"manifest diff against {pr.base} ({short(base_sha)}): {diff_summary}"
                + ("" if changed is None else
                   f" ({changed.components} of {len(report.components)} components changed: "
                   f"their {len(changed.head)} of {len(head_objs)} objects compared)"))
        log(diff_text)
        if build_error is None:
            fresh = None
            if changed is not None:
                # Within a changed component, an object identical to the base's is not new.
                before = {d.digest for d in changed[0] if d.digest}
                fresh = [d for d in changed[1] if not d.digest or d.digest not in before]
            refused = self._dry_run(report, log, fresh)
            report.findings.extend(refused)
            errors.extend(refused)
        ok = report.ok and not errors
        summary = (f"{len(head_objs)} objects valid; {diff_summary}" if ok else
                   f"{len(errors)} error(s): " + "; ".join(str(f) for f in errors[:3]))
        self.prs.set_check(pr_id, sha, CHECK_NAME, "success" if ok else "failure", summary, job)
        faults.point("validate.after_check")
        self.bus.publish("check.finished", "pipelines",
                         f"#{pr_id}: {CHECK_NAME} {'passed' if ok else 'failed'}: {summary}",
                         pr=pr_id, sha=sha, job=job, status="success" if ok else "failure")
        return {"ok": ok, "pr": pr_id, "sha": sha, "summary": summary,
                "findings": [str(f) for f in report.findings], "diff": diff_text,
                "diff_summary": diff_summary}

    def _dry_run(self, report: Any, log: JobLog, changed: list[Any] | None) -> list[Any]:
        from .ci_builds import dry_run_refusals

        return dry_run_refusals(self.dry_run, report, log, changed)

    # -- generate ------------------------------------------------------------
    def generate(self, params: dict[str, Any], log: JobLog) -> dict[str, Any]:
        sha = str(params["sha"])
        pr_id = _pr_of_merge(self.ws.hld_git, sha)
        envs = self.ws.settings.environments
        done = manifest_commit_for(self.ws.manifests_git, sha, self.ws.hld_git)
        if done:
            # An earlier run pushed it and died before saying so: record it, nothing more.
            log(f"manifests {short(done)} for HLD {short(sha)} exist already; recording them")
            self.bus.publish("manifests.generated", "pipelines",
                             f"manifests {short(done)} generated from HLD {short(sha)}"
                             + (f" (PR #{pr_id})" if pr_id else "") + " (found after a restart)",
                             sha=sha, manifest_sha=done, pr=pr_id, recovered=True)
            faults.point("generate.after_publish")
            return {"ok": True, "sha": sha, "manifest_sha": done, "pr": pr_id,
                    "recovered": True}
        with self.ws.tempdir("gen-") as tmp:
            work = Path(tmp) / "work"
            from .validation.bounds import Deadline

            # The same budget as a check: a generate past it fails before anything is
            # pushed, naming its slow phase, and the queue moves on.
            deadline = Deadline(self.ws.settings.ci_job_seconds, self.monotonic, hard=False)
            builds = self.cache.stats["generate.build"]
            result = self._generated(sha, self.ws.settings.allow_hooks, deadline,
                                     in_checkout=True)
            deadline.check("manifest generation")
            if self.cache.stats["generate.build"] == builds:
                log(f"manifests of HLD {short(sha)} reused from the cache (built by its check)")
            self.warm_up.after_generate(sha, None if self.ws.settings.allow_hooks else result)
            log(f"generated {len(result.documents)} objects from HLD {short(sha)} "
                f"for {'-'.join(envs)}")
            faults.point("generate.after_build")
            bot = Users(self.ws.store).get(GENERATE_BOT)
            auth = remote.auth_env(self.ws.root, bot)
            # Only main's newest tree, and no checkout: the commit is made in the index
            # from the files that changed (a full clone or checkout would cost more with
            # every merge and every service).
            git("clone", "--quiet", "--depth=1", "--no-checkout",
                remote.repo_url(self.ws.root, "manifests"), str(work), env_extra=auth)
            env_dir = "-".join(envs)
            staged = manifestcommit.stage(work, manifestcommit.output_files(result, env_dir),
                                          env_dir)
            self.files_written += len(staged.written)
            if not staged.changed:
                log("manifests unchanged; nothing to commit")
                manifest_sha = rev(self.ws.manifests_git, "refs/heads/main")
                self.bus.publish("manifests.generated", "pipelines",
                                 f"HLD {short(sha)} gives the same manifests; nothing to commit",
                                 sha=sha, manifest_sha=manifest_sha, pr=pr_id, unchanged=True)
                return {"ok": True, "sha": sha, "manifest_sha": manifest_sha, "unchanged": True}
            log(f"{len(staged.written)} manifest file(s) written, {len(staged.removed)} removed")
            subject = _subject(self.ws.hld_git, sha)
            message = with_trailers(
                f"Update {env_dir} manifests from HLD {short(sha)}\n\n{one_line(subject)}\n",
                [("HLD-Commit", sha)] + ([("Pull-Request", f"#{pr_id}")] if pr_id else []))
            git("commit", "--quiet", "-F", "-", cwd=work, input=message, identity=bot.identity)
            faults.point("generate.after_commit")
            git("push", "--quiet", "origin", "HEAD:main", cwd=work, env_extra=auth)
            faults.point("generate.after_push")
            manifest_sha = git("rev-parse", "HEAD", cwd=work).strip()
        log(f"committed manifests {short(manifest_sha)} to manifests.git")
        self.bus.publish("manifests.generated", "pipelines",
                         f"manifests {short(manifest_sha)} generated from HLD {short(sha)}"
                         + (f" (PR #{pr_id})" if pr_id else ""),
                         sha=sha, manifest_sha=manifest_sha, pr=pr_id,
                         objects=len(result.documents))
        faults.point("generate.after_publish")
        return {"ok": True, "sha": sha, "manifest_sha": manifest_sha, "pr": pr_id}

    # -- release -------------------------------------------------------------
    def release(self, params: dict[str, Any], log: JobLog) -> dict[str, Any]:
        service, tag = str(params["repository"]), str(params["tag"])
        branch = f"DEPLOY/{service}-{tag}"
        hld = self.ws.hld_git
        done = self.ws.store.one("SELECT id FROM prs WHERE head=? AND state='merged' "
                                 "ORDER BY id DESC LIMIT 1", branch)
        if done is not None and not rev(hld, f"refs/heads/{branch}"):
            # Released, merged, and its branch deleted after the merge: nothing to redo.
            log(f"{branch} was merged in pull request #{done['id']}; nothing to do")
            return {"ok": True, "skipped": True}
        if rev(hld, f"refs/heads/{branch}"):
            if self.ws.store.one("SELECT 1 FROM prs WHERE head=?", branch):
                log(f"branch {branch} and its pull request exist already; nothing to do")
                return {"ok": True, "skipped": True}
            # An earlier run pushed the branch and died before opening the pull request.
            log(f"branch {branch} exists without a pull request; opening it")
            return self._open_release(service, tag, branch,
                                      _subject(hld, f"refs/heads/{branch}"))
        env = self.ws.settings.environments[0]
        with self.ws.tempdir("release-") as tmp:
            work = Path(tmp) / "work"
            bot = Users(self.ws.store).get(RELEASE_BOT)
            auth = remote.auth_env(self.ws.root, bot)
            git("clone", "--quiet", "--depth=1", remote.repo_url(self.ws.root, "hld"),
                str(work), env_extra=auth)
            git("checkout", "--quiet", "-b", branch, cwd=work)
            from . import hld as hldlib

            hldlib.set_values(work, [f"image.tag={tag}"], env=env, subcomponent=service)
            if not git("status", "--porcelain", cwd=work).strip():
                log(f"{service} already runs {tag} in the HLD; no change")
                return {"ok": True, "skipped": True}
            git("add", "-A", cwd=work)
            message = f"Updating {service} image tag to {tag}."
            git("commit", "--quiet", "-m", message, cwd=work, identity=bot.identity)
            git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work,
                env_extra=auth)
        log(f"pushed {branch}")
        faults.point("release.after_push")
        return self._open_release(service, tag, branch, message)

    def _open_release(self, service: str, tag: str, branch: str,
                      message: str) -> dict[str, Any]:
        pr = self.prs.open(branch, message, author=RELEASE_BOT, kind="release",
                           body=f"Image {service}:{tag} was pushed to the registry.")
        self.bus.publish("release.created", "pipelines",
                         f"release of {service}:{tag}: pull request #{pr.id}",
                         pr=pr.id, repository=service, tag=tag)
        faults.point("release.after_pr")
        enqueue(self.ws, "validate", pr=pr.id, sha=pr.head_sha)
        return {"ok": True, "pr": pr.id}


def _subject(git_dir: Path, sha: str) -> str:
    return git("log", "-1", "--format=%s", sha, git_dir=git_dir).strip()


def _pr_of_merge(git_dir: Path, sha: str) -> int | None:
    # Read from the trailer block only: a line in a title or body is not a trailer.
    value = trailers(git("log", "-1", "--format=%B", sha, git_dir=git_dir)).get("Pull-Request")
    match = re.fullmatch(r"#?(\d+)", value or "")
    return int(match.group(1)) if match else None
