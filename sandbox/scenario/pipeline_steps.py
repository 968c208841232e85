"""Steps along the pipeline: HLD changes, pull requests, releases, reverts, and waiting
for a merged change to reach the cluster.
"""

from __future__ import annotations

import time
from typing import Any

from ..gitutil import short
from ..registry import PROFILES
from .base import (
    AS,
    BY_OPERATOR,
    CHECK_STATES,
    LAST_MERGE,
    PR,
    REF_PREFIX,
    Arg,
    Context,
    action,
    pr_text,
)
from .model import StepFailed


# -- the HLD and pull requests ------------------------------------------------
@action("change", "a `fab set`-like config edit committed on a branch and pushed",
        fallible=True, text=lambda a: f"change {a['branch']}: {' '.join(a['set'])}"
        + (f" ({a['subcomponent']})" if a.get("subcomponent") else ""),
        branch=Arg("str", required=True), set=Arg("strs", required=True, help="KEY=VALUE"),
        subcomponent=Arg("str"), env=Arg("str"), message=Arg("str"), by=BY_OPERATOR,
        new_key=Arg("bool", default=False, help="allow a key the subcomponent does not know"))
def _change(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    sha = ctx.sb.change(a["branch"], a["set"], env=a.get("env"),
                        subcomponent=a.get("subcomponent"), message=a.get("message"),
                        author=a["by"], new_key=a["new_key"])
    return short(sha)


@action("commit_file", "write (or delete) one HLD file on a branch and push it",
        fallible=True, text=lambda a: f"commit_file {a['branch']}: {a['path']}",
        branch=Arg("str", required=True), path=Arg("str", required=True),
        content=Arg("str", help="the file's new text"),
        delete=Arg("bool", default=False, help="delete the file instead"),
        message=Arg("str"), by=BY_OPERATOR)
def _commit_file(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    content = None if a["delete"] else a.get("content", "")
    verb = "Delete" if content is None else "Update"
    sha = ctx.sb.commit_files(a["branch"], {a["path"]: content},
                              a.get("message") or f"{verb} {a['path']}", author=a["by"])
    return short(sha)


@action("open_pr", "open a pull request from a pushed branch; it becomes $pr",
        fallible=True, produces=("pr",), text=lambda a: f"open_pr {a['branch']}",
        branch=Arg("str", required=True), title=Arg("str", default=""),
        body=Arg("str", default=""), by=BY_OPERATOR, **{"as": AS})
def _open_pr(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    pr = ctx.sb.open_pr(a["branch"], a["title"], a["body"], author=a["by"])
    ctx.remember_pr(pr.id, a.get("as"))
    return f"#{pr.id}"


def _await_checks(ctx: Context, pr_id: int, expect: str, timeout: float) -> str:
    pr = ctx.sb.wait_for_checks(pr_id, timeout)
    state = pr.checks_state if pr.state == "open" else f"{pr.checks_state} (PR {pr.state})"
    if expect != "any" and pr.checks_state != expect:
        summary = "; ".join(f"{c.name}: {c.summary}" for c in pr.checks if c.summary)
        raise StepFailed(f"checks of #{pr_id} finished {pr.checks_state}",
                         expected=f"checks {expect}",
                         seen=f"checks {state}" + (f": {summary}" if summary else ""))
    return f"checks {state}"


@action("wait_checks", "wait until a PR's checks finish and compare the outcome",
        timeout=60.0, shorthand="pr", text=lambda a: f"wait_checks {pr_text(a)}",
        pr=PR, expect=Arg("choice", default="success", choices=(*CHECK_STATES, "any")))
def _wait_checks(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    return _await_checks(ctx, a["pr"], a["expect"], timeout)


@action("approve", "approve a pull request (not your own)", fallible=True, shorthand="pr",
        text=lambda a: f"approve {pr_text(a)} by {a['by']}",
        pr=PR, by=Arg("str", default="reviewer", help="the reviewer"))
def _approve(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    pr = ctx.sb.approve_pr(a["pr"], a["by"])
    return f"{len(pr.approvals)} approval(s)"


@action("merge", "merge a pull request; the merge commit becomes $merge", fallible=True,
        shorthand="pr", produces=("merge",), text=lambda a: f"merge {pr_text(a)}",
        pr=PR, by=BY_OPERATOR)
def _merge(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    pr = ctx.sb.merge_pr(a["pr"], a["by"])
    ctx.merges[LAST_MERGE] = pr.merge_sha or ""
    return short(pr.merge_sha)


@action("close_pr", "close a pull request without merging", fallible=True, shorthand="pr",
        text=lambda a: f"close_pr {pr_text(a)}", pr=PR, by=BY_OPERATOR)
def _close_pr(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    ctx.sb.close_pr(a["pr"], a["by"])
    return "closed"


VERDICT = Arg("choice", default="not-Failed",
              choices=("Succeeded", "Failed", "Inconclusive", "not-Failed", "any"),
              help="the verdict by the SLOs (default: anything but Failed)")


def _await_deployment(ctx: Context, commit: str, expect: str, timeout: float,
                      verdict: str = "not-Failed") -> str:
    sha = ctx.merges.get(commit) if commit.startswith(REF_PREFIX) else commit
    if commit in ("main", "HEAD"):
        sha = ctx.sb.branches().get("main")
    if not sha:
        raise StepFailed(f"{commit} names no merged commit yet")
    try:
        dep = ctx.sb.wait_for_deployment(sha, timeout)
    except TimeoutError as exc:
        raise StepFailed("the change did not settle in time", expected=f"health {expect}",
                         seen=str(exc)) from None
    sync = dep.get("sync_status") or "?"
    # A merge that changes no manifest leaves the cluster as it was: judge it as it is.
    health = dep.get("health") or ctx.sb.health().get("app", "Unknown")
    seen = f"health {health}, sync {sync} ({short(sha)})"
    if dep.get("error"):
        seen += f": {dep['error']}"
    if expect != "any" and (health != expect or sync == "failed"):
        raise StepFailed(f"{short(sha)} settled {health} (sync {sync})",
                         expected=f"health {expect}", seen=seen)
    word = dep.get("verdict") or "none"
    if verdict != "any" and (word == "Failed" if verdict == "not-Failed" else word != verdict):
        raise StepFailed(f"{short(sha)} verdict {word}: {dep.get('verdict_reason')}",
                         expected=f"verdict {verdict}", seen=seen)
    return f"{health}, {sync}" + (f", verdict {word}" if dep.get("verdict") else "")


@action("wait_deployed", "wait until a merged change is synced and settles Healthy or "
        "Degraded, and compare", timeout=60.0, shorthand="expect_health",
        text=lambda a: f"wait_deployed {a['commit']} -> {a['expect_health']}",
        commit=Arg("str", default=LAST_MERGE, help="$merge (default), main, or a commit"),
        expect_health=Arg("choice", default="Healthy", choices=("Healthy", "Degraded", "any")),
        expect_verdict=VERDICT)
def _wait_deployed(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    return _await_deployment(ctx, a["commit"], a["expect_health"], timeout,
                             a["expect_verdict"])


@action("ship", "the review loop in one step: wait for green checks, approve, merge, wait "
        "until deployed", timeout=120.0, shorthand="pr", produces=("merge",),
        text=lambda a: f"ship {pr_text(a)} -> {a['expect_health']}",
        pr=PR, reviewers=Arg("names", default=["reviewer"]), by=BY_OPERATOR,
        expect_health=Arg("choice", default="Healthy", choices=("Healthy", "Degraded", "any")),
        expect_verdict=VERDICT)
def _ship(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    _await_checks(ctx, a["pr"], "success", timeout)
    for reviewer in a["reviewers"]:
        ctx.sb.approve_pr(a["pr"], reviewer)
    pr = ctx.sb.merge_pr(a["pr"], a["by"])
    ctx.merges[LAST_MERGE] = pr.merge_sha or ""
    left = max(1.0, deadline - time.monotonic())
    return f"{short(pr.merge_sha)} " + _await_deployment(ctx, LAST_MERGE, a["expect_health"],
                                                         left, a["expect_verdict"])


# -- registry and releases ----------------------------------------------------
@action("push_image", "push an image tag; the release job opens a pull request",
        fallible=True, text=lambda a: f"push_image {a['service']}:{a['tag']} ({a['profile']})",
        service=Arg("str", required=True), tag=Arg("str", required=True),
        profile=Arg("choice", default="default", choices=tuple(PROFILES)))
def _push_image(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    return ctx.sb.push_image(a["service"], a["tag"], a["profile"]).ref


@action("wait_release", "wait for the release PR of an image and its checks; it becomes $pr",
        timeout=60.0, produces=("pr",), text=lambda a: f"wait_release {a['service']}:{a['tag']}",
        service=Arg("str", required=True), tag=Arg("str", required=True),
        expect=Arg("choice", default="success", choices=(*CHECK_STATES, "any")),
        **{"as": AS})
def _wait_release(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    pr = ctx.sb.wait_for_release(a["service"], a["tag"], timeout)
    ctx.remember_pr(pr.id, a.get("as"))
    left = max(1.0, deadline - time.monotonic())
    return f"#{pr.id} " + _await_checks(ctx, pr.id, a["expect"], left)


@action("revert", "open a revert PR for a change on main (default: the last merge); it "
        "becomes $pr", fallible=True, produces=("pr",), shorthand="ref",
        text=lambda a: f"revert {a.get('ref') or 'last merge'}",
        ref=Arg("str", help="commit to revert; $merge for the scenario's last merge"),
        by=BY_OPERATOR, **{"as": AS})
def _revert(ctx: Context, a: dict[str, Any], timeout: float) -> str:
    ref = a.get("ref")
    if ref and ref.startswith(REF_PREFIX):
        ref = ctx.merges.get(ref) or ref
    pr = ctx.sb.revert(ref, author=a["by"])
    ctx.remember_pr(pr.id, a.get("as"))
    return f"#{pr.id}"
