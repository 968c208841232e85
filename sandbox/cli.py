"""The `gitops-sandbox` command line. Every command acts through the facade; state
printing commands take --json; mutating ones take --wait."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__
from .cli_output import print_pr, print_prs, print_status, print_table
from .cluster.base import resolve_kind
from .facade import Sandbox, SandboxError
from .gitutil import GitError, short
from .pullrequests import PullRequestError
from .registry import PROFILES
from .workspace import DEFAULT_ENV_VAR, Settings, WorkspaceError, default_workspace

DEFAULT_WAIT = 120.0
EPILOG = f"""The workspace (-w) defaults to ${DEFAULT_ENV_VAR}, then ~/.gitops-sandbox/default.
Start the engine with 'gitops-sandbox up' (or the TUI); other commands work from any
terminal and act through git and the workspace's database."""


class CliError(Exception):
    pass


def _ws_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-w", "--workspace", type=Path, default=None,
                   help=f"workspace folder (default: ${DEFAULT_ENV_VAR} or "
                        "~/.gitops-sandbox/default)")


def _wait_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--wait", nargs="?", type=float, const=DEFAULT_WAIT, default=None,
                   metavar="SECONDS",
                   help=f"block until {what}, print the outcome, exit non-zero on failure or "
                        f"time-out (default {DEFAULT_WAIT:g}s); needs a running engine")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops-sandbox", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Rehearse a GitOps pipeline locally: HLD repo with a protected branch, "
                    "pull requests with checks, CI that generates manifests, a Flux-like "
                    "reconciler and a simulated Kubernetes cluster.")
    parser.add_argument("--version", action="version", version=f"gitops-sandbox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", help="create a workspace with the sample app")
    _ws_arg(p)
    p.add_argument("--force", action="store_true", help="delete an existing workspace first")
    p.add_argument("--cluster", choices=("sim", "kind"), default="sim",
                   help="cluster backend (default: the built-in simulated cluster)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulated clock speed; 10 makes a 30 s rollout take 3 s")

    p = sub.add_parser("tui", help="the terminal UI (the default command)")
    _ws_arg(p)
    p = sub.add_parser("up", help="run the engine without a screen, until Ctrl-C")
    _ws_arg(p)
    p = sub.add_parser("status", help="stages, pull requests, sync and health at a glance")
    _ws_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("change", help="commit an HLD config change on a branch and push it",
                       description="A `fab set`-like edit of config/<env>.yaml committed on "
                                   "BRANCH (created from main when new) and pushed to hld.git.")
    _ws_arg(p)
    p.add_argument("branch")
    p.add_argument("assignments", nargs="+", metavar="KEY=VALUE", help="e.g. replicas=3")
    p.add_argument("--subcomponent", "-s", help="e.g. web")
    p.add_argument("--env", help="config environment (default: the pipeline's first)")
    p.add_argument("-m", "--message")
    p.add_argument("--as", dest="who", default="operator", help="author (default operator)")

    pr = sub.add_parser("pr", help="pull requests: open, list, show, approve, merge, close")
    prs = pr.add_subparsers(dest="pr_command", metavar="ACTION", required=True)
    p = prs.add_parser("open", help="open a pull request from a pushed branch")
    _ws_arg(p)
    p.add_argument("branch")
    p.add_argument("--title", "-t", default="")
    p.add_argument("--body", default="")
    p.add_argument("--as", dest="who", default="operator")
    _wait_arg(p, "its checks finish")
    p = prs.add_parser("list", help="list pull requests")
    _ws_arg(p)
    p.add_argument("--state", choices=("open", "merged", "closed"))
    p.add_argument("--json", action="store_true")
    p = prs.add_parser("show", help="a pull request with its checks, HLD and manifest diffs")
    _ws_arg(p)
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.add_argument("--log", action="store_true", help="also print the check's job log")
    for action, helptext in (("approve", "approve (not your own)"), ("close", "close")):
        p = prs.add_parser(action, help=helptext)
        _ws_arg(p)
        p.add_argument("id", type=int)
        p.add_argument("--as", dest="who", default="reviewer" if action == "approve"
                       else "operator")
    p = prs.add_parser("merge", help="merge an approved pull request with green checks")
    _ws_arg(p)
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="who", default="operator")
    _wait_arg(p, "the change is synced and the cluster Healthy (or Degraded)")

    img = sub.add_parser("image", help="the local container registry")
    imgs = img.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    p = imgs.add_parser("push", help="push an image tag; the release job opens a pull request")
    _ws_arg(p)
    p.add_argument("service")
    p.add_argument("tag")
    p.add_argument("--profile", default="default", choices=sorted(PROFILES),
                   help="how the container behaves in the simulated cluster")
    _wait_arg(p, "the release pull request's checks finish")
    p = imgs.add_parser("list", help="images and their behaviour profiles")
    _ws_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("revert", help="revert a change on main through a pull request")
    _ws_arg(p)
    p.add_argument("ref", nargs="?", help="commit to revert (default: the last merge on main)")
    p.add_argument("--as", dest="who", default="operator")
    _wait_arg(p, "the revert pull request's checks finish")

    cl = sub.add_parser("cluster", help="the cluster's objects")
    cls_ = cl.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    p = cls_.add_parser("get", help="list objects, kubectl style")
    _ws_arg(p)
    p.add_argument("kind", nargs="?", help="Deployment, Pod, Service, ... (default: all)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("events", help="the event log")
    _ws_arg(p)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=int, default=50)

    p = sub.add_parser("deployments", help="one trace per change: image, HLD, PR, sync, health")
    _ws_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("generate", help="Fabrikate-compatible generate of an HLD folder")
    p.add_argument("envs", nargs="*", metavar="ENV")
    p.add_argument("--hld", type=Path, default=Path("."), help="HLD folder (default: .)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: HLD/generated)")
    p.add_argument("--allow-hooks", action="store_true",
                   help="run before/after-generate hooks (they run shell commands from the HLD)")
    return parser


def _open(args: argparse.Namespace) -> Sandbox:
    return Sandbox(args.workspace)


def _dump(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_init(args: argparse.Namespace) -> int:
    path = args.workspace or default_workspace()
    sb = Sandbox.init(path, force=args.force,
                      settings=Settings(cluster=args.cluster, clock_speed=args.speed))
    print(f"workspace ready at {sb.root}")
    print("  hld.git, manifests.git (protected branch: main), registry: web:1.0.0 api:1.0.0")
    print(f"next: gitops-sandbox up -w {sb.root}   (or: gitops-sandbox tui -w {sb.root})")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    sb = _open(args)
    engine = sb.start_engine()
    print(f"engine running on {sb.root} ({engine.cluster.name} cluster); Ctrl-C stops it",
          flush=True)
    try:
        for ev in _follow(sb, sb.last_event_id() - 1):
            print(f"{time.strftime('%H:%M:%S', time.localtime(ev.ts))} {ev.stage:<12} "
                  f"{ev.message}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sb.close()
        print("engine stopped")
    return 0


def _follow(sb: Sandbox, after: int):  # type: ignore[no-untyped-def]
    while True:
        for ev in sb.events(after):
            after = ev.id
            yield ev
        time.sleep(0.2)


def cmd_pr(args: argparse.Namespace) -> int:
    sb = _open(args)
    action = args.pr_command
    if action == "list":
        items = sb.list_prs(args.state)
        if args.json:
            _dump([p.to_dict() for p in items])
        else:
            print_prs(items)
        return 0
    if action == "show":
        pr = sb.get_pr(args.id)
        diff = sb.pr_diff(args.id)
        if args.json:
            _dump({**pr.to_dict(), "hld_diff": diff["hld"], "manifest_diff": diff["manifests"]})
        else:
            print_pr(pr, diff, show_log=args.log)
        return 0
    if action == "open":
        pr = sb.open_pr(args.branch, args.title, args.body, author=args.who)
        print(f"opened #{pr.id}: {pr.title} ({pr.head} -> {pr.base})")
        return _wait_checks(sb, pr.id, args.wait)
    if action == "approve":
        pr = sb.approve_pr(args.id, args.who)
        print(f"#{pr.id} approved by {args.who} ({len(pr.approvals)}/"
              f"{sb.settings.required_approvals})")
        return 0
    if action == "close":
        pr = sb.close_pr(args.id, args.who)
        print(f"#{pr.id} closed")
        return 0
    pr = sb.merge_pr(args.id, args.who)
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
        print(f"  {check.name}: {check.status}: {check.summary}")
    return 0 if pr.checks_state == "success" else 1


def _wait_deploy(sb: Sandbox, sha: str, wait: float) -> int:
    print(f"waiting for {short(sha)} to reach the cluster...", flush=True)
    dep = sb.wait_for_deployment(sha, wait)
    print(f"  manifests {short(dep.get('manifest_sha'))}, sync {dep.get('sync_status')}, "
          f"health {dep.get('health') or 'n/a'}")
    ok = dep.get("sync_status") in ("synced", "unchanged") and dep.get("health") != "Degraded"
    return 0 if ok else 1


def cmd_image(args: argparse.Namespace) -> int:
    sb = _open(args)
    if args.image_command == "list":
        images = sb.images()
        if args.json:
            _dump([{"image": i.ref, "repository": i.repository, "tag": i.tag,
                    "profile": i.profile.__dict__, "pushed_at": i.pushed_at} for i in images])
        else:
            print_table(["IMAGE", "PROFILE"], [[i.ref, i.profile.name] for i in images])
        return 0
    image = sb.push_image(args.service, args.tag, args.profile)
    print(f"pushed {image.ref} (profile {image.profile.name})")
    if args.wait is None:
        return 0
    pr = sb.wait_for_release(args.service, args.tag, args.wait)
    print(f"release pull request #{pr.id}: {pr.title} (checks {pr.checks_state})")
    return 0 if pr.checks_state == "success" else 1


def cmd_revert(args: argparse.Namespace) -> int:
    sb = _open(args)
    pr = sb.revert(args.ref, author=args.who)
    print(f"opened #{pr.id}: {pr.title} ({pr.head})")
    return _wait_checks(sb, pr.id, args.wait)


def cmd_cluster(args: argparse.Namespace) -> int:
    sb = _open(args)
    objects = sb.cluster_objects(args.kind)
    if args.json:
        _dump(objects)
        return 0
    if not objects and not sb.engine_running():
        print("no cluster state yet: start the engine with 'gitops-sandbox up'",
              file=sys.stderr)
    from .cluster.kubectl_format import format_table

    now = float(sb.cluster_snapshot().get("now", 0.0))
    print(format_table(objects, resolve_kind(args.kind), now))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    sb = _open(args)
    after = max(0, sb.last_event_id() - args.limit)
    stream = _follow(sb, after) if args.follow else iter(sb.events(after))
    try:
        for ev in stream:
            if args.json:
                print(json.dumps(ev.to_dict(), default=str), flush=True)
            else:
                print(f"{time.strftime('%H:%M:%S', time.localtime(ev.ts))} "
                      f"{ev.kind:<22} {ev.message}", flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from . import hld

    envs = args.envs or ["common"]
    out = args.out or args.hld / "generated"
    result = hld.generate(args.hld, envs, out, allow_hooks=args.allow_hooks)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for comp in result.components:
        print(f"{comp.logical_path or comp.name}: {len(comp.manifest.encode())} bytes")
    print(f"wrote {len(result.documents)} objects to {out / '-'.join(envs)}")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    command = args.command or "tui"
    if command == "init":
        return cmd_init(args)
    if command == "tui":
        from tui.app import run

        return run(getattr(args, "workspace", None))
    if command == "up":
        return cmd_up(args)
    if command == "status":
        sb = _open(args)
        data = sb.status()
        if args.json:
            _dump(data)
        else:
            print_status(data)
        return 0
    if command == "change":
        sb = _open(args)
        sha = sb.change(args.branch, args.assignments, env=args.env,
                        subcomponent=args.subcomponent, message=args.message, author=args.who)
        print(f"pushed {short(sha)} to branch {args.branch}; next: gitops-sandbox pr open "
              f"{args.branch}")
        return 0
    if command == "deployments":
        deps = _open(args).deployments()
        if args.json:
            _dump(deps)
        else:
            print_table(["HLD", "PR", "IMAGE", "MANIFESTS", "SYNC", "HEALTH"],
                        [[short(d["hld_sha"]), f"#{d['pr']}" if d["pr"] else "-",
                          d["image"] or "-", short(d["manifest_sha"]) or "-",
                          d["sync_status"] or "-", d["health"] or "-"] for d in deps])
        return 0
    handlers = {"pr": cmd_pr, "image": cmd_image, "revert": cmd_revert,
                "cluster": cmd_cluster, "events": cmd_events, "generate": cmd_generate}
    return handlers[command](args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.workspace = None
    try:
        return dispatch(args)
    except (SandboxError, PullRequestError, WorkspaceError, CliError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"timed out: {exc}", file=sys.stderr)
        return 1
    except GitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one clear line rather than a traceback
        from .hld import HldError

        if isinstance(exc, HldError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
