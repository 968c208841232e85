"""Commands of a change's way to the cluster: `change`, `pr`, `image`, `revert` and
`deployments`, with their --wait (for the checks, for the deployment). Imports follow
cli.py's rule: the standard library at the top, the rest inside each command."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .cli_common import dump, open_sandbox, short
from .cli_errors import one_line
from .cli_output import print_pr, print_prs, print_table
from .safetext import shown

if TYPE_CHECKING:
    from .facade import Sandbox


def cmd_change(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    sha = sb.change(args.branch, args.assignments, env=args.env,
                    subcomponent=args.subcomponent, message=args.message, author=args.who,
                    new_key=args.new_key)
    print(f"pushed {short(sha)} to branch {shown(args.branch)}; next: gitops-sandbox pr "
          f"open {shown(args.branch)}")
    return 0


def cmd_deployments(args: argparse.Namespace) -> int:
    from .deployments import analysis_numbers

    deps = open_sandbox(args).deployments()
    if args.json:
        dump(deps)
    else:
        print_table(["HLD", "PR", "IMAGE", "MANIFESTS", "SYNC", "HEALTH", "VERDICT",
                     "ANALYSIS"],
                    [[short(d["hld_sha"]), f"#{d['pr']}" if d["pr"] else "-",
                      d["image"] or "-", short(d["manifest_sha"]) or "-",
                      d["sync_status"] or "-", d["health"] or "-", d.get("verdict") or "-",
                      analysis_numbers(d)] for d in deps])
        for d in deps:
            if d.get("verdict") in ("Failed", "Inconclusive"):
                print(f"{short(d['hld_sha'])}: {d['verdict']}: {d.get('verdict_reason')}"
                      + (f"; rolled back by #{d['rollback_pr']}" if d.get("rollback_pr")
                         else ""))
            if d.get("rollback_of"):
                print(f"{short(d['hld_sha'])}: the automatic rollback of "
                      f"{short(d['rollback_of'])}")
    return 0


def cmd_pr(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    action = args.pr_command
    if action == "list":
        items = sb.list_prs(args.state)
        if args.json:
            dump([p.to_dict() for p in items])
        else:
            print_prs(items)
        return 0
    if action == "show":
        pr = sb.get_pr(args.id)
        diff = sb.pr_diff(args.id)
        if args.json:
            dump({**pr.to_dict(), "hld_diff": diff["hld"], "manifest_diff": diff["manifests"]})
        else:
            print_pr(pr, diff, show_log=args.log)
        return 0
    if action == "open":
        pr = sb.open_pr(args.branch, args.title, args.body)
        print(f"opened #{pr.id}: {shown(pr.title)} ({shown(pr.head)} -> {shown(pr.base)})")
        return _wait_checks(sb, pr.id, args.wait)
    if action == "approve":
        pr = sb.approve_pr(args.id)
        print(f"#{pr.id} approved by {sb.user.name} ({len(pr.approvals)}/"
              f"{sb.settings.required_approvals})")
        return 0
    if action == "close":
        pr = sb.close_pr(args.id)
        print(f"#{pr.id} closed")
        return 0
    before = sb.get_pr(args.id)
    if before.state == "merged" and before.merge_sha:
        # A retry of a merge whose push landed (the command was killed, or the engine's
        # repair finished it): the merge happened once; say so and carry on as a merge.
        pr = before
        print(f"#{pr.id} was already merged into {pr.base} as {short(pr.merge_sha)}")
    else:
        pr = sb.merge_pr(args.id)
        assert pr.merge_sha
        print(f"#{pr.id} merged into {pr.base} as {short(pr.merge_sha)}")
    if args.wait is None:
        return 0
    return _wait_deploy(sb, pr.merge_sha, args.wait)


def _wait_checks(sb: Sandbox, pr_id: int, wait: float | None) -> int:
    if wait is None:
        return 0
    print(f"waiting for the checks of #{pr_id}...", flush=True)
    pr = sb.wait_for_checks(pr_id, wait)
    for check in pr.checks:
        print(f"  {check.name}: {check.status}: {shown(check.summary)}")
    return 0 if pr.checks_state == "success" else 1


def _wait_deploy(sb: Sandbox, sha: str, wait: float) -> int:
    print(f"waiting for {short(sha)} to reach the cluster...", flush=True)
    try:
        dep = sb.wait_for_deployment(sha, wait)
    except TimeoutError as exc:
        # One readable line: the stage the wait says it was stuck in, else the wait's
        # own message, else (a message carrying a raw record) the stage in words.
        stage = getattr(exc, "stage", None)
        text = one_line(str(exc))
        if stage:
            text = f"{short(sha)} did not reach the cluster within {wait:g}s: stuck at {stage}"
        elif "{" in text or not text:
            text = (f"{short(sha)} did not reach the cluster within {wait:g}s: "
                    f"{_stage(sb.deployment(sha))}")
        raise TimeoutError(text) from None
    print(f"  manifests {short(dep.get('manifest_sha')) or '-'}, sync {dep.get('sync_status')}, "
          f"health {dep.get('health') or 'n/a'}"
          + (f", verdict {dep['verdict']}" if dep.get("verdict") else "")
          + (f" ({dep['verdict_reason']})" if dep.get("verdict") == "Inconclusive" else "")
          + (f": {dep['error']}" if dep.get("error") else ""))
    ok = (dep.get("sync_status") in ("synced", "unchanged", "superseded")
          and dep.get("health") != "Degraded" and dep.get("verdict") != "Failed")
    return 0 if ok else 1


def _stage(dep: dict[str, Any] | None) -> str:
    """Where a change is in the pipeline, in words."""
    if not dep or not dep.get("manifest_sha"):
        return "no manifest commit yet (see 'gitops-sandbox jobs')"
    if not dep.get("sync_status"):
        return f"manifests {short(dep['manifest_sha'])} generated, not synced yet"
    return (f"manifests {short(dep['manifest_sha'])}, sync {dep['sync_status']}, health "
            f"{dep.get('health') or 'not known yet'}")


def cmd_image(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    if args.image_command == "list":
        images = sb.images()
        if args.json:
            dump([{"image": i.ref, "repository": i.repository, "tag": i.tag,
                    "profile": i.profile.__dict__, "pushed_at": i.pushed_at} for i in images])
        else:
            print_table(["IMAGE", "PROFILE"], [[i.ref, i.profile.label] for i in images])
        return 0
    image = sb.push_image(args.service, args.tag, args.profile, force=args.force,
                          regress_after=args.after)
    print(f"pushed {image.ref} (profile {image.profile.label})")
    if args.wait is None:
        return 0
    pr = sb.wait_for_release(args.service, args.tag, args.wait)
    print(f"release pull request #{pr.id}: {shown(pr.title)} (checks {pr.checks_state})")
    return 0 if pr.checks_state == "success" else 1


def cmd_revert(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    pr = sb.revert(args.ref)
    print(f"opened #{pr.id}: {shown(pr.title)} ({shown(pr.head)})")
    return _wait_checks(sb, pr.id, args.wait)
