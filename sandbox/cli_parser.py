"""The command line's grammar: every subcommand, its arguments and its help.

Only the grammar lives here, so `gitops-sandbox --help` loads nothing but this, the
registry's profile names and the standard library; the commands are in cli.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from . import __version__
from .registry import PROFILE_HELP, PROFILES

# workspace.DEFAULT_ENV_VAR, spelled out so that --help does not load the workspace
# (tests/test_cli_startup.py checks that the two agree).
DEFAULT_ENV_VAR = "GITOPS_SANDBOX_WORKSPACE"

DEFAULT_WAIT = 120.0
EPILOG = f"""The workspace (-w) defaults to ${DEFAULT_ENV_VAR}, then ~/.gitops-sandbox/default.
Start the engine with 'gitops-sandbox up' (or the TUI); other commands work from any
terminal and act through git and the workspace's database."""


def _ws_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-w", "--workspace", type=Path, default=None,
                   help=f"workspace folder (default: ${DEFAULT_ENV_VAR} or "
                        "~/.gitops-sandbox/default)")


def _wait_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--wait", nargs="?", type=float, const=DEFAULT_WAIT, default=None,
                   metavar="SECONDS",
                   help=f"block until {what}, print the outcome, exit non-zero on failure or "
                        f"time-out (default {DEFAULT_WAIT:g}s); needs a running engine")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end like every other error: one line on stderr and exit 1 (the
    subcommands' parsers are made of this class too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gitops-sandbox", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Rehearse a GitOps pipeline locally: HLD repo with a protected branch, "
                    "pull requests with checks, CI that generates manifests, a Flux-like "
                    "reconciler and a simulated Kubernetes cluster.")
    parser.add_argument("--version", action="version", version=f"gitops-sandbox {__version__}")
    parser.add_argument("--as", dest="global_user", metavar="USER", default=None,
                        help="act as USER (default: $GITOPS_SANDBOX_USER, then the "
                             "workspace's user, operator unless 'user use' changed it)")
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
    p.add_argument("--new-key", action="store_true",
                   help="allow keys the subcomponent has no value or placeholder for yet "
                        "(without it, an unknown key is refused as a likely typo)")
    p.add_argument("-m", "--message")
    p.add_argument("--as", dest="who", default=None, metavar="USER",
                   help="author (default: the configured user, see 'whoami')")

    pr = sub.add_parser("pr", help="pull requests: open, list, show, approve, merge, close")
    prs = pr.add_subparsers(dest="pr_command", metavar="ACTION", required=True)
    p = prs.add_parser("open", help="open a pull request from a pushed branch")
    _ws_arg(p)
    p.add_argument("branch")
    p.add_argument("--title", "-t", default="")
    p.add_argument("--body", default="")
    p.add_argument("--as", dest="who", default=None, metavar="USER")
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
        p.add_argument("--as", dest="who", default=None, metavar="USER",
                       help="act as USER (default: the configured user, see 'whoami')")
    p = prs.add_parser("merge", help="merge an approved pull request with green checks")
    _ws_arg(p)
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="who", default=None, metavar="USER")
    _wait_arg(p, "the change is synced and the cluster Healthy (or Degraded)")

    us = sub.add_parser("user", help="the workspace's users: add, list, use")
    uss = us.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = uss.add_parser("add", help="add a user and print its token (shown once)")
    _ws_arg(p)
    p.add_argument("name", help="lower-case letters, digits and '-', starting with a letter")
    p.add_argument("--bot", action="store_true", help="a bot (bots can do only their job)")
    p = uss.add_parser("list", help="users and their roles")
    _ws_arg(p)
    p.add_argument("--json", action="store_true")
    p = uss.add_parser("use", help="make NAME the user commands act as in this workspace")
    _ws_arg(p)
    p.add_argument("name")
    p = sub.add_parser("whoami", help="who commands act as, and why")
    _ws_arg(p)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("clone", help="a ready clone of hld.git over HTTP, credentials set",
                       description="Clone hld.git from the engine's git server into DIR "
                                   "(default: ./hld) with a new token of the user stored by "
                                   "git's credential helper, so 'git push' just works.")
    _ws_arg(p)
    p.add_argument("dir", nargs="?", type=Path, default=Path("hld"))
    p.add_argument("--as", dest="who", default=None, metavar="USER")

    p = sub.add_parser("kubeconfig", help="a kubeconfig for kubectl against the sandbox",
                       description="Write a kubeconfig for the engine's Kubernetes API server "
                                   "(context 'sandbox', as you, with a new token) to "
                                   "WORKSPACE/kubeconfig, or print it with --print.")
    _ws_arg(p)
    p.add_argument("--print", action="store_true", help="print it instead of writing a file")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="PATH",
                   help="where to write it (default: WORKSPACE/kubeconfig)")

    img = sub.add_parser("image", help="the local container registry")
    imgs = img.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    p = imgs.add_parser("push", help="push an image tag; the release job opens a pull request")
    _ws_arg(p)
    p.add_argument("service")
    p.add_argument("tag")
    p.add_argument("--profile", default="default", choices=sorted(PROFILES),
                   help="how the container behaves in the simulated cluster: "
                   + "; ".join(f"{name}: {text}" for name, text in PROFILE_HELP.items()
                               ).replace("%", "%%"))
    p.add_argument("--after", type=float, default=None, metavar="SECONDS",
                   help="for late-errors and late-latency: simulated seconds after a pod "
                   "became ready when the regression starts (default 45)")
    p.add_argument("--force", action="store_true",
                   help="move a tag that exists already (refused without it)")
    _wait_arg(p, "the release pull request's checks finish")
    p = imgs.add_parser("list", help="images and their behaviour profiles")
    _ws_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("revert", help="revert a change on main through a pull request")
    _ws_arg(p)
    p.add_argument("ref", nargs="?",
                   help="commit to revert, or a merged pull request (#N, or its branch name, "
                        "deleted or not); default: the last merge on main")
    p.add_argument("--as", dest="who", default=None, metavar="USER")
    _wait_arg(p, "the revert pull request's checks finish")

    cl = sub.add_parser("cluster", help="the cluster's objects")
    cls_ = cl.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    p = cls_.add_parser("get", help="list objects, kubectl style")
    _ws_arg(p)
    p.add_argument("kind", nargs="?", help="Deployment, Pod, Service, ... (default: all)")
    p.add_argument("--json", action="store_true")

    p = cls_.add_parser("down", help="delete the workspace's kind cluster")
    _ws_arg(p)
    p = cls_.add_parser("metrics", help="simulated traffic: requests, errors, latency")
    _ws_arg(p)
    p.add_argument("--json", action="store_true")
    p = cls_.add_parser("describe", help="one object in detail, with its events")
    _ws_arg(p)
    p.add_argument("target", metavar="KIND/NAME", help="e.g. deployment/web, pod/web-7d9f-x2")
    p.add_argument("-n", "--namespace", default="demo")
    p = cls_.add_parser("scale", help="kubectl scale: a direct edit that creates drift")
    _ws_arg(p)
    p.add_argument("target", metavar="KIND/NAME")
    p.add_argument("--replicas", type=int, required=True)
    p.add_argument("-n", "--namespace", default="demo")
    p = cls_.add_parser("set-image", help="kubectl set image: a direct edit that creates drift")
    _ws_arg(p)
    p.add_argument("target", metavar="KIND/NAME")
    p.add_argument("assignment", metavar="CONTAINER=IMAGE")
    p.add_argument("-n", "--namespace", default="demo")
    p = cls_.add_parser("delete", help="kubectl delete: a pod comes back from its ReplicaSet, "
                        "anything else from the next reconcile")
    _ws_arg(p)
    p.add_argument("target", metavar="KIND/NAME")
    p.add_argument("-n", "--namespace", default="demo")

    sy = sub.add_parser("sync", help="the reconciler: status, reconcile now, suspend, resume")
    sys_ = sy.add_subparsers(dest="sync_command", metavar="ACTION", required=True)
    for action, helptext in (("status", "last applied and attempted revisions, drift, health"),
                             ("now", "reconcile now (flux reconcile --with-source)"),
                             ("suspend", "stop applying changes until resumed"),
                             ("resume", "apply again, starting with a reconcile")):
        p = sys_.add_parser(action, help=helptext)
        _ws_arg(p)
        if action == "status":
            p.add_argument("--json", action="store_true")

    p = sub.add_parser("settings", help="show or change workspace settings",
                       description="Without KEY, print every setting. With KEY VALUE, change "
                                   "one (for example: failure_policy partial). Settings are "
                                   "read when the engine starts.")
    _ws_arg(p)
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("events", help="the event log")
    _ws_arg(p)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=int, default=50)

    p = sub.add_parser("metrics", help="metrics over time: rate, errors, latency, CPU, memory",
                       description="Samples of the simulated cluster, per Deployment, "
                                   "StatefulSet, DaemonSet and pod, each at its simulated "
                                   "time (settings metrics_interval_seconds, "
                                   "metrics_retention_seconds).")
    _ws_arg(p)
    p.add_argument("target", nargs="?", metavar="TARGET",
                   help="a workload or pod: NAME, NAMESPACE/NAME or KIND/NAME (default: "
                        "every workload)")
    p.add_argument("--since", default="5m", metavar="D",
                   help="how far back in simulated time, e.g. 90s, 5m, 2h (default: 5m)")
    p.add_argument("--pods", action="store_true", help="the workload's pods too")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("jobs", help="CI jobs (validate, generate, release) and their logs")
    _ws_arg(p)
    p.add_argument("id", nargs="?", type=int, help="show this job with its log")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("deployments", help="one trace per change: image, HLD, PR, sync, health")
    _ws_arg(p)
    p.add_argument("--json", action="store_true")

    h = sub.add_parser("hld", help="edit an HLD folder as Fabrikate's fab does")
    hs = h.add_subparsers(dest="hld_command", metavar="ACTION", required=True)
    p = hs.add_parser("set", help="set config values, like 'fab set'",
                      description="Write KEY=VALUE pairs into config/<env>.yaml of an HLD "
                                  "folder (values are stored as strings, as fab set does). "
                                  "Quote keys that contain dots: a.\"k8s.io/x\"=v.")
    p.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    p.add_argument("--hld", type=Path, default=Path("."), help="HLD folder (default: .)")
    p.add_argument("--env", default="common", help="config environment (default: common)")
    p.add_argument("--subcomponent", "-s", help="dotted path of a subcomponent, e.g. infra.efk")
    p.add_argument("--no-new-config-keys", action="store_true",
                   help="refuse keys that the config does not have yet")

    p = sub.add_parser("generate", help="Fabrikate-compatible generate of an HLD folder")
    p.add_argument("envs", nargs="*", metavar="ENV")
    p.add_argument("--hld", type=Path, default=Path("."), help="HLD folder (default: .)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: HLD/generated)")
    p.add_argument("--allow-hooks", action="store_true",
                   help="run the HLD's install and generate hooks (shell commands from the HLD)")
    sc = sub.add_parser("scenario", help="rehearse incidents from YAML scenario files, headless")
    scs = sc.add_subparsers(dest="scenario_command", metavar="ACTION", required=True)
    p = scs.add_parser("run", help="run scenario files (or folders of them), each in a fresh "
                       "workspace",
                       description="Each scenario runs in its own temporary workspace and "
                                   "engine. Exit 0: all passed, 1: one failed, 2: an invalid "
                                   "file (then nothing runs). Format: scenarios/README.md.")
    p.add_argument("files", nargs="+", metavar="FILE", help="a scenario file or a folder of them")
    p.add_argument("--junit", type=Path, metavar="PATH", help="write JUnit XML to PATH")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON on stdout (progress goes to stderr)")
    p.add_argument("--keep-workspace", action="store_true",
                   help="keep a failed scenario's workspace and print where it is")
    return parser


