"""The CI runner: jobs queued in SQLite, run one at a time by the engine.

- validate: on a PR open or push, build the manifests from the PR head and its base,
  validate them and post the result (with the object-by-object manifest diff) as the
  PR's check.
- generate: when main moves, generate the manifests from the HLD and commit them to
  manifests.git with trailers naming the HLD commit and the pull request.
- release: when an image tag lands in the registry, change the tag in the HLD on a
  `DEPLOY/<service>-<tag>` branch and open a pull request.

Any process may enqueue a job (and poke the engine); only the engine runs them.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import hld as hldlib
from .events import EventBus
from .gitserver import remote
from .gitutil import export_tree, git, rev, short
from .manifestdiff import diff_objects
from .pullrequests import PullRequests
from .users import GENERATE_BOT, RELEASE_BOT, Users
from .validation import check_hld
from .workspace import Workspace

CHECK_NAME = "validate-manifests"


def enqueue(ws: Workspace, kind: str, **params: Any) -> int:
    with ws.store.tx() as db:
        cur = db.execute("INSERT INTO jobs(kind, params, status, created) VALUES(?,?,?,?)",
                         (kind, json.dumps(params), "queued", time.time()))
        job = int(cur.lastrowid or 0)
    ws.poke()
    return job


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
    def __init__(self, ws: Workspace, bus: EventBus, prs: PullRequests) -> None:
        self.ws = ws
        self.bus = bus
        self.prs = prs
        self.handlers: dict[str, Callable[[dict[str, Any], JobLog], dict[str, Any]]] = {
            "validate": self.validate, "generate": self.generate, "release": self.release,
        }

    def run_pending(self) -> int:
        """Run every queued job, oldest first; returns how many ran."""
        ran = 0
        while True:
            row = self.ws.store.one(
                "SELECT id FROM jobs WHERE status='queued' ORDER BY id LIMIT 1")
            if row is None:
                return ran
            self.run(int(row["id"]))
            ran += 1

    def run(self, job: int) -> dict[str, Any]:
        with self.ws.store.tx() as db:
            claimed = db.execute(
                "UPDATE jobs SET status='running', started=? WHERE id=? AND status='queued'",
                (time.time(), job)).rowcount
        data = job_row(self.ws, job)
        assert data is not None
        if not claimed:
            return data
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
        with self.ws.store.tx() as db:
            db.execute("UPDATE jobs SET status=?, result=?, log=?, finished=? WHERE id=?",
                       (status, json.dumps(result, default=str), log.text, time.time(), job))
        self.bus.publish("job.finished", "pipelines", f"CI job #{job} ({kind}) {status}",
                         job=job, job_kind=kind, status=status, seconds=round(took, 3),
                         **{k: v for k, v in result.items() if k in ("pr", "sha", "error")})
        return job_row(self.ws, job) or {}

    # -- validate ------------------------------------------------------------
    def _build(self, sha: str, log: JobLog) -> tuple[Any, list[dict[str, Any]]]:
        with self.ws.tempdir("hld-") as tmp:
            folder = Path(tmp) / "hld"
            export_tree(self.ws.hld_git, sha, folder)
            report = check_hld(folder, self.ws.settings.environments,
                               self.ws.settings.kubernetes_version)
            log(f"{short(sha)}: {len(report.documents)} objects, "
                f"{len(report.findings)} findings")
            return report, [d.obj for d in report.documents]

    def validate(self, params: dict[str, Any], log: JobLog) -> dict[str, Any]:
        pr_id, sha, job = int(params["pr"]), str(params["sha"]), int(params["job"])
        pr = self.prs.get(pr_id)
        if pr.head_sha != sha:
            log(f"#{pr_id} moved on to {short(pr.head_sha)}; nothing to check for {short(sha)}")
            return {"ok": True, "pr": pr_id, "sha": sha, "skipped": True}
        self.prs.set_check(pr_id, sha, CHECK_NAME, "running", "building manifests", job)
        self.bus.publish("check.started", "pipelines", f"#{pr_id}: {CHECK_NAME} running",
                         pr=pr_id, sha=sha, job=job)
        report, head_objs = self._build(sha, log)
        log(report.text)
        base_sha = rev(self.ws.hld_git, f"refs/heads/{pr.base}") or pr.base_sha
        try:
            _, base_objs = self._build(base_sha, JobLog())
        except Exception as exc:  # noqa: BLE001 - a broken base still lets the diff show the head
            log(f"base {short(base_sha)} did not build: {exc}")
            base_objs = []
        diff = diff_objects(base_objs, head_objs)
        log(f"manifest diff against {pr.base} ({short(base_sha)}): {diff.summary()}")
        log(diff.text())
        errors = [f for f in report.findings if f.severity == "error"]
        ok = report.ok and not errors
        summary = (f"{len(head_objs)} objects valid; {diff.summary()}" if ok else
                   f"{len(errors)} error(s): " + "; ".join(str(f) for f in errors[:3]))
        self.prs.set_check(pr_id, sha, CHECK_NAME, "success" if ok else "failure", summary, job)
        self.bus.publish("check.finished", "pipelines",
                         f"#{pr_id}: {CHECK_NAME} {'passed' if ok else 'failed'}: {summary}",
                         pr=pr_id, sha=sha, job=job, status="success" if ok else "failure")
        return {"ok": ok, "pr": pr_id, "sha": sha, "summary": summary,
                "findings": [str(f) for f in report.findings], "diff": diff.text(),
                "diff_summary": diff.summary()}

    # -- generate ------------------------------------------------------------
    def generate(self, params: dict[str, Any], log: JobLog) -> dict[str, Any]:
        sha = str(params["sha"])
        pr_id = _pr_of_merge(self.ws.hld_git, sha)
        envs = self.ws.settings.environments
        with self.ws.tempdir("gen-") as tmp:
            hld_dir, out, work = Path(tmp) / "hld", Path(tmp) / "generated", Path(tmp) / "work"
            export_tree(self.ws.hld_git, sha, hld_dir)
            result = hldlib.generate(hld_dir, envs, out, allow_hooks=self.ws.settings.allow_hooks)
            log(f"generated {len(result.documents)} objects from HLD {short(sha)} "
                f"for {'-'.join(envs)}")
            bot = Users(self.ws.store).get(GENERATE_BOT)
            auth = remote.auth_env(self.ws.root, bot)
            git("clone", "--quiet", remote.repo_url(self.ws.root, "manifests"), str(work),
                env_extra=auth)
            env_dir = "-".join(envs)
            shutil.rmtree(work / env_dir, ignore_errors=True)
            shutil.copytree(out / env_dir, work / env_dir)
            git("add", "-A", cwd=work)
            if not git("status", "--porcelain", cwd=work).strip():
                log("manifests unchanged; nothing to commit")
                manifest_sha = rev(self.ws.manifests_git, "refs/heads/main")
                self.bus.publish("manifests.generated", "pipelines",
                                 f"HLD {short(sha)} gives the same manifests; nothing to commit",
                                 sha=sha, manifest_sha=manifest_sha, pr=pr_id, unchanged=True)
                return {"ok": True, "sha": sha, "manifest_sha": manifest_sha, "unchanged": True}
            subject = _subject(self.ws.hld_git, sha)
            pr_line = f"\nPull-Request: #{pr_id}" if pr_id else ""
            message = (f"Update {env_dir} manifests from HLD {short(sha)}\n\n{subject}\n\n"
                       f"HLD-Commit: {sha}{pr_line}\n")
            git("commit", "--quiet", "-F", "-", cwd=work, input=message, identity=bot.identity)
            git("push", "--quiet", "origin", "HEAD:main", cwd=work, env_extra=auth)
            manifest_sha = git("rev-parse", "HEAD", cwd=work).strip()
        log(f"committed manifests {short(manifest_sha)} to manifests.git")
        self.bus.publish("manifests.generated", "pipelines",
                         f"manifests {short(manifest_sha)} generated from HLD {short(sha)}"
                         + (f" (PR #{pr_id})" if pr_id else ""),
                         sha=sha, manifest_sha=manifest_sha, pr=pr_id,
                         objects=len(result.documents))
        return {"ok": True, "sha": sha, "manifest_sha": manifest_sha, "pr": pr_id}

    # -- release -------------------------------------------------------------
    def release(self, params: dict[str, Any], log: JobLog) -> dict[str, Any]:
        service, tag = str(params["repository"]), str(params["tag"])
        branch = f"DEPLOY/{service}-{tag}"
        hld = self.ws.hld_git
        if rev(hld, f"refs/heads/{branch}"):
            log(f"branch {branch} exists already; nothing to do")
            return {"ok": True, "skipped": True}
        env = self.ws.settings.environments[0]
        with self.ws.tempdir("release-") as tmp:
            work = Path(tmp) / "work"
            bot = Users(self.ws.store).get(RELEASE_BOT)
            auth = remote.auth_env(self.ws.root, bot)
            git("clone", "--quiet", remote.repo_url(self.ws.root, "hld"), str(work),
                env_extra=auth)
            git("checkout", "--quiet", "-b", branch, cwd=work)
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
        pr = self.prs.open(branch, message, author=RELEASE_BOT, kind="release",
                           body=f"Image {service}:{tag} was pushed to the registry.")
        self.bus.publish("release.created", "pipelines",
                         f"release of {service}:{tag}: pull request #{pr.id}",
                         pr=pr.id, repository=service, tag=tag)
        enqueue(self.ws, "validate", pr=pr.id, sha=pr.head_sha)
        return {"ok": True, "pr": pr.id}


def _subject(git_dir: Path, sha: str) -> str:
    return git("log", "-1", "--format=%s", sha, git_dir=git_dir).strip()


_PR_RE = re.compile(r"^Pull-Request:\s*#?(\d+)\s*$", re.MULTILINE)


def _pr_of_merge(git_dir: Path, sha: str) -> int | None:
    body = git("log", "-1", "--format=%B", sha, git_dir=git_dir)
    match = _PR_RE.search(body)
    return int(match.group(1)) if match else None
