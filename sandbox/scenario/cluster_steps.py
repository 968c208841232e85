"""Steps on the live cluster and around the pipeline: kubectl-style direct edits, the
reconciler's suspend/resume/reconcile, a plain `git push` to main, and `expect`, which
polls until the cluster, the reconciler and the event log say what the scenario says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cluster.base import resolve_kind
from ..facade import Sandbox
from ..gitserver import remote
from ..gitutil import GitError, git, short
from .base import (
    BY_OPERATOR,
    CHECK_STATES,
    HEALTH_WORDS,
    LAST_PR,
    NAMESPACE,
    PR_STATES,
    SYNC_WORDS,
    TARGET,
    Arg,
    Context,
    action,
    image_ref,
)
from .model import StepFailed


# -- direct edits and the reconciler ------------------------------------------
@action("scale", "kubectl scale: a direct edit that creates drift", fallible=True,
        text=lambda a: f"scale {a['target']} --replicas={a['replicas']}",
        target=TARGET, replicas=Arg("int", required=True), namespace=NAMESPACE)
def _scale(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    return str(ctx.sb.scale(a["target"], a["replicas"], a["namespace"]).get("command", ""))


@action("set_image", "kubectl set image: a direct edit that creates drift", fallible=True,
        text=lambda a: f"set_image {a['target']} {a['image']}",
        target=TARGET, image=Arg("str", required=True, help="web:1.1.0 or a full reference"),
        container=Arg("str", help="default: the object's name"), namespace=NAMESPACE)
def _set_image(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    container = a.get("container") or a["target"].partition("/")[2]
    result = ctx.sb.set_image(a["target"], container, image_ref(a["image"]), a["namespace"])
    return str(result.get("command", ""))


@action("delete", "kubectl delete: an object the reconciler brings back", fallible=True,
        shorthand="target", text=lambda a: f"delete {a['target']}",
        target=TARGET, namespace=NAMESPACE)
def _delete(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    return str(ctx.sb.delete_object(a["target"], a["namespace"]).get("command", ""))


@action("reconcile", "flux reconcile: sync now, correcting drift", fallible=True)
def _reconcile(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    return str(ctx.sb.reconcile_now().get("command", ""))


@action("suspend", "flux suspend: stop applying changes until resumed", fallible=True)
def _suspend(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    return str(ctx.sb.suspend().get("command", ""))


@action("resume", "flux resume: apply again, starting with a reconcile", fallible=True)
def _resume(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    return str(ctx.sb.resume().get("command", ""))


# -- the branch policy from a plain git client --------------------------------
@action("git_push_main", "commit in a clone of hld.git and `git push origin main`, as a "
        "user bypassing review would", shorthand="expect",
        text=lambda a: f"git push origin main (expect {a['expect']})",
        expect=Arg("choice", default="rejected", choices=("rejected", "accepted")),
        expect_output=Arg("str", help="text git must print, e.g. 'open a pull request'"),
        path=Arg("str", default="README.md"), content=Arg("str", default="a direct change\n"),
        message=Arg("str", default="A direct change to main"), by=BY_OPERATOR)
def _git_push_main(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    before = ctx.sb.branches().get("main")
    user = ctx.sb.users.get(a["by"])
    auth = remote.auth_env(ctx.sb.root, user)
    with ctx.sb.ws.tempdir("scenario-push-") as tmp:
        work = Path(tmp) / "clone"
        git("clone", "--quiet", remote.repo_url(ctx.sb.root, "hld"), str(work), env_extra=auth)
        target = work / a["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(a["content"])
        git("add", "-A", cwd=work)
        git("commit", "--quiet", "--allow-empty", "-m", a["message"], cwd=work,
            identity=user.identity)
        try:
            git("push", "origin", "HEAD:main", cwd=work, env_extra=auth)
            outcome, output = "accepted", ""
        except GitError as exc:
            outcome, output = "rejected", exc.stderr
    after = ctx.sb.branches().get("main")
    # The hook's reason comes back prefixed with "remote:"; the first words are the news.
    said = [ln.removeprefix("remote:").strip() for ln in output.splitlines()]
    first = next((ln for ln in said if ln), "")
    seen = f"push {outcome}" + (f": {first}" if first else "")
    if outcome != a["expect"]:
        raise StepFailed("the push to main was not handled as expected",
                         expected=f"push {a['expect']}", seen=seen)
    if outcome == "rejected" and after != before:
        raise StepFailed("git reported a rejection but main moved",
                         expected=f"main at {short(before)}", seen=f"main at {short(after)}")
    if a.get("expect_output") and a["expect_output"].lower() not in output.lower():
        raise StepFailed("git's output lacks the expected text",
                         expected=repr(a["expect_output"]), seen=output.strip() or "(nothing)")
    return seen


# -- expectations --------------------------------------------------------------
def _deployments(sb: Sandbox) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in sb.cluster_objects(resolve_kind("deploy"))}


def _observe(ctx: Context, a: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(expected, seen, holds) for each condition the step names."""
    sb = ctx.sb
    out: list[tuple[str, str, bool]] = []
    health = sb.health()
    sync = sb.sync_status()
    if a.get("health") is not None:
        out.append((f"health {a['health']}", f"health {health.get('app', 'Unknown')}",
                    health.get("app") == a["health"]))
    if a.get("health_check") is not None:
        word = health.get("check", "Unknown")
        out.append((f"health check {a['health_check']}", f"health check {word}",
                    word == a["health_check"]))
    if a.get("sync") is not None:
        word = sync.get("sync", "Unknown")
        drift = f" ({', '.join(sync.get('drifted') or [])})" if sync.get("drifted") else ""
        out.append((f"sync {a['sync']}", f"sync {word}{drift}", word == a["sync"]))
    if a.get("suspended") is not None:
        flag = bool(sync.get("suspended"))
        out.append((f"suspended {a['suspended']}", f"suspended {flag}",
                    flag == a["suspended"]))
    deps = _deployments(sb) if any(a.get(k) for k in ("replicas", "ready", "image")) else {}
    for name, want in (a.get("replicas") or {}).items():
        got = (deps.get(name) or {}).get("spec", {}).get("replicas") if name in deps else None
        out.append((f"{name} replicas {want}", f"{name} replicas {_missing(got, name, deps)}",
                    got == want))
    for name, want in (a.get("ready") or {}).items():
        got = ((deps.get(name) or {}).get("status") or {}).get("readyReplicas", 0)
        got = got if name in deps else None
        out.append((f"{name} ready {want}", f"{name} ready {_missing(got, name, deps)}",
                    got == want))
    for name, want in (a.get("image") or {}).items():
        images = [c.get("image", "") for c in ((deps.get(name) or {}).get("spec", {})
                  .get("template", {}).get("spec", {}).get("containers") or [])]
        holds = any(i == want or i.endswith(f":{want}") or i == image_ref(want)
                    for i in images)
        got = ", ".join(images) if name in deps else f"no Deployment {name}"
        out.append((f"{name} image {want}", f"{name} image {got}", holds))
    for key, after, label in (("events", ctx.events_start, ""),
                              ("new_events", ctx.previous_step_start, "new ")):
        if not a.get(key):
            continue
        kinds = {e.kind for e in sb.events(after=after, limit=100_000, kinds=tuple(a[key]))}
        missing = [k for k in a[key] if k not in kinds]
        out.append((f"{label}events {', '.join(a[key])}",
                    f"no {label}{', '.join(missing)} event yet" if missing
                    else "all events seen", not missing))
    if a.get("pr_state") is not None or a.get("checks") is not None:
        pr = sb.get_pr(ctx.pr(a.get("pr") or LAST_PR))
        if a.get("pr_state") is not None:
            out.append((f"#{pr.id} {a['pr_state']}", f"#{pr.id} {pr.state}",
                        pr.state == a["pr_state"]))
        if a.get("checks") is not None:
            out.append((f"#{pr.id} checks {a['checks']}", f"#{pr.id} checks {pr.checks_state}",
                        pr.checks_state == a["checks"]))
    return out


def _missing(value: Any, name: str, deps: dict[str, Any]) -> str:
    return str(value) if name in deps else "(no such Deployment)"


def _expect_text(a: dict[str, Any]) -> str:
    parts = []
    for key in ("health", "health_check", "sync", "suspended", "pr_state", "checks"):
        if a.get(key) is not None:
            parts.append(f"{key}={a[key]}")
    for key in ("replicas", "ready", "image"):
        parts += [f"{name} {key}={v}" for name, v in (a.get(key) or {}).items()]
    for key in ("events", "new_events"):
        if a.get(key):
            parts.append(f"{key} " + ",".join(a[key]))
    return "expect " + ", ".join(parts)


@action("expect", "poll until every condition holds, or fail with what was seen",
        text=_expect_text,
        health=Arg("choice", choices=HEALTH_WORDS), sync=Arg("choice", choices=SYNC_WORDS),
        health_check=Arg("choice", choices=("Passed", "Failed", "Waiting")),
        suspended=Arg("bool"), replicas=Arg("counts", help="Deployment name -> spec.replicas"),
        ready=Arg("counts", help="Deployment name -> ready replicas"),
        image=Arg("texts", help="Deployment name -> tag or image"),
        events=Arg("names", help="event kinds seen since the scenario started"),
        new_events=Arg("names", help="event kinds seen since the previous step began"),
        pr=Arg("pr", help="the PR pr_state and checks look at (default $pr)"),
        pr_state=Arg("choice", choices=PR_STATES), checks=Arg("choice", choices=CHECK_STATES))
def _expect(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    observed: list[tuple[str, str, bool]] = []

    def check() -> tuple[bool, str]:
        observed[:] = _observe(ctx, a)
        return all(holds for _, _, holds in observed), ""

    try:
        ctx.poll(check, timeout)
    except TimeoutError:
        wrong = [(want, got) for want, got, holds in observed if not holds]
        raise StepFailed(f"not true within {timeout:g}s",
                         expected="; ".join(w for w, _ in wrong),
                         seen="; ".join(g for _, g in wrong)) from None
    return ""


