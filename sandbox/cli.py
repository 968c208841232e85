"""The `gitops-sandbox` command line. Every command acts through the facade; state
printing commands take --json; mutating ones take --wait.

Start-up time is part of the interface (`--help` and `status` answer in a fraction of a
second, as kubectl does): this module imports only the standard library, the parser
and the error handler at the top. Each command imports what it uses inside its own
function, and the heavy parts (the engine, the simulated cluster, the HLD tooling with
YAML, schemas and yamllint, textual) only where they are needed. A new command follows
the same pattern:

    def cmd_whoami(args: argparse.Namespace) -> int:
        sb = open_sandbox(args)                      # the facade, imported inside it (cli_common)
        ...

tests/test_cli_startup.py fails when `--help` or `status` import a heavy module.
Errors: raise CliError (or a subsystem's error listed in cli_errors.KNOWN) with a
message that says what to do; cli_errors.run prints it as one line and exits 1.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_common import dump, open_sandbox
from .cli_errors import CliError, run
from .cli_flow import cmd_change, cmd_deployments, cmd_image, cmd_pr, cmd_revert
from .cli_metrics import cmd_metrics
from .cli_output import print_status, print_sync, print_table
from .cli_parser import build_parser
from .cli_users import cmd_clone, cmd_kubeconfig, cmd_user, cmd_whoami
from .safetext import shown

if TYPE_CHECKING:
    from .facade import Sandbox

__all__ = ["CliError", "main"]


def cmd_init(args: argparse.Namespace) -> int:
    from .facade import Sandbox
    from .workspace import Settings, default_workspace

    path = args.workspace or default_workspace()
    if args.cluster == "kind":
        from .cluster.kind import check_tools

        missing = check_tools()
        if missing:
            raise CliError("--cluster kind needs: " + "; ".join(missing)
                           + " (or leave out --cluster kind for the simulated cluster)")
    sb = Sandbox.init(path, force=args.force,
                      settings=Settings(cluster=args.cluster, clock_speed=args.speed))
    print(f"workspace ready at {sb.root}")
    if args.cluster == "kind":
        from .cluster.kind import cluster_name, create_cluster, kubeconfig_path

        print(f"creating kind cluster {cluster_name(sb.ws)} (the first one pulls a node "
              "image: a few minutes)...", flush=True)
        name = create_cluster(sb.ws)
        print(f"  kind cluster {name}: kubectl --kubeconfig {kubeconfig_path(sb.ws)} "
              f"--context kind-{name} get nodes")
    print("  hld.git (protected branch: main), manifests.git (written by generate-bot only), "
          "registry: web:1.0.0 api:1.0.0")
    print("  users: operator (you), reviewer; bots: release-bot, rollback-bot, generate-bot")
    print(f"  git server: {sb.git_server_url()} (runs with the engine)")
    print(f"next: gitops-sandbox up -w {sb.root}   (or: gitops-sandbox tui -w {sb.root}),"
          f" then: gitops-sandbox clone DIR -w {sb.root}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    pid = sb.engine_pid()
    if pid is not None:
        raise CliError(f"an engine already runs on {sb.root} (pid {pid}): follow it with "
                       f"'gitops-sandbox events -f -w {sb.root}' or open "
                       f"'gitops-sandbox tui -w {sb.root}'; stop it with kill {pid}")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # asked twice: stop waiting for a clean stop
        stop.set()

    # Ctrl-C and `kill` (SIGTERM) both stop the engine cleanly and exit 0; installed
    # before the start so a signal during it is not lost either.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    engine = sb.start_engine()
    try:
        print(f"engine running on {sb.root} ({engine.cluster.name} cluster); Ctrl-C stops it",
              flush=True)
        after = sb.last_event_id() - 1
        # The engine stops itself when its lock or database is taken from under it.
        while not stop.is_set() and engine.fatal is None:
            for ev in sb.events(after):
                after = ev.id
                print(f"{time.strftime('%H:%M:%S', time.localtime(ev.ts))} {ev.stage:<12} "
                      f"{shown(ev.message)}", flush=True)
            stop.wait(0.2)
    finally:
        sb.close()
    print("engine stopped", flush=True)
    return 1 if engine.fatal else 0


def _follow(sb: Sandbox, after: int, until=lambda: False):  # type: ignore[no-untyped-def]
    while not until():
        for ev in sb.events(after):
            after = ev.id
            yield ev
        time.sleep(0.2)


def cmd_cluster(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    action = args.cluster_command
    if action == "down":
        if sb.settings.cluster != "kind":
            print("this workspace uses the simulated cluster: nothing to delete")
            return 0
        if sb.engine_running():
            raise CliError("an engine is running on this workspace: stop it first")
        from .cluster.kind import cluster_name, delete_cluster

        name = cluster_name(sb.ws)
        print(f"deleted kind cluster {name}" if delete_cluster(sb.ws)
              else f"no kind cluster {name} to delete")
        return 0
    if action == "metrics":
        metrics = sb.cluster_metrics()
        if args.json:
            dump(metrics)
            return 0
        print_table(["DEPLOYMENT", "RPS", "ERRORS", "P50", "P95", "VERSIONS"],
                    [[key, f"{m.get('rps', 0):.1f}", f"{m.get('error_rate', 0):.1%}",
                      f"{m.get('p50_ms', 0):.0f}ms", f"{m.get('p95_ms', 0):.0f}ms",
                      ", ".join(sorted(m.get("versions") or {}))]
                     for key, m in sorted(metrics.items())])
        return 0
    if action == "describe":
        print(sb.describe(args.target, args.namespace))
        return 0
    if action in ("scale", "set-image", "delete"):
        if action == "scale":
            result = sb.scale(args.target, args.replicas, args.namespace)
        elif action == "set-image":
            container, sep, image = args.assignment.partition("=")
            if not sep or not container or not image:
                raise CliError(f"{args.assignment!r}: write CONTAINER=IMAGE, e.g. "
                               "web=localhost:5001/web:1.1.0")
            result = sb.set_image(args.target, container, image, args.namespace)
        else:
            result = sb.delete_object(args.target, args.namespace)
        print(f"ran: {result['command']}")
        print("this edit is outside git: the reconciler reports drift (OutOfSync) and puts "
              "git's version back at its next run (gitops-sandbox sync now)")
        return 0
    objects = sb.cluster_objects(args.kind)
    if args.json:
        dump(objects)
        return 0
    if not objects and not sb.engine_running():
        print("no cluster state yet: start the engine with 'gitops-sandbox up'",
              file=sys.stderr)
    from .cluster.kubectl_format import format_table

    now = sb.cluster_now()
    # Custom resources print their CRD's columns; built-in groups never hold a dot
    # except *.k8s.io ones, for which the lookup is merely wasted.
    custom = any("." in str(o.get("apiVersion", "")).rpartition("/")[0] for o in objects)
    crds = sb.cluster_objects("CustomResourceDefinition") if custom else []
    print(format_table(objects, sb.kind_named(args.kind) if args.kind else None, now, crds))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    action = args.sync_command
    if action == "status":
        health = sb.health()
        data = {**sb.sync_status(), "health": health.get("app"),
                "health_check": health.get("check"), "damage": sb.damage()}
        if args.json:
            dump(data)
            return 0
        print_sync(data)
        return 0
    result = sb.operate({"now": "reconcile"}.get(action, action))
    print(f"ran: {result['command']}")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    current = dict(sb.settings.__dict__)
    if args.key is None:
        if args.json:
            dump(current)
        else:
            print_table(["SETTING", "VALUE"], [[k, v] for k, v in current.items()])
        return 0
    if args.value is None:
        if args.key not in current:
            raise CliError(f"no setting {args.key!r}; settings: {', '.join(current)}")
        print(current[args.key])
        return 0
    sb.update_setting(args.key, args.value)
    print(f"{args.key} = {getattr(sb.settings, args.key)}"
          + ("; restart the engine to apply it" if sb.engine_running()
             and args.key != "direct_changes" else ""))  # the API server rereads that one
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    after = max(0, sb.last_event_id() - args.limit)
    stream = _follow(sb, after) if args.follow else iter(sb.events(after))
    try:
        for ev in stream:
            if args.json:
                print(json.dumps(ev.to_dict(), default=str), flush=True)
            else:
                # Sequence number first: the log's order is the id's, whatever the clocks.
                print(f"{ev.id:>5} {time.strftime('%H:%M:%S', time.localtime(ev.ts))} "
                      f"t+{ev.sim:<8.1f} {ev.kind:<22} {shown(ev.message)}", flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    if args.id is not None:
        job = sb.job(args.id)
        if args.json:
            dump(job)
        else:
            print(f"job #{job['id']} {job['kind']} {job['status']} {json.dumps(job['params'])}")
            print(shown(job["log"].rstrip(), multiline=True) or "(no log yet)")
        return 0
    jobs = sb.jobs(50)
    if args.json:
        dump(jobs)
    else:
        print_table(["#", "KIND", "STATUS", "PARAMS", "SECONDS"],
                    [[j["id"], j["kind"], j["status"], json.dumps(j["params"]),
                      f"{j['finished'] - j['started']:.2f}" if j["finished"] and j["started"]
                      else "-"] for j in jobs])
    return 0


def cmd_hld(args: argparse.Namespace) -> int:
    from . import hld

    path = hld.set_values(args.hld, args.assignments, env=args.env,
                          subcomponent=args.subcomponent,
                          no_new_config_keys=args.no_new_config_keys)
    print(f"wrote {path}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from . import hld

    if not args.hld.is_dir():
        raise CliError(f"HLD folder {args.hld} does not exist (--hld DIR)")
    envs = args.envs or ["common"]
    out = args.out or args.hld / "generated"
    result = hld.generate(args.hld, envs, out, allow_hooks=args.allow_hooks)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for comp in result.components:
        size = len(comp.manifest.encode("utf-8", "surrogateescape"))
        print(f"{comp.logical_path or comp.name}: {size} bytes")
    print(f"wrote {len(result.documents)} objects to {out / '-'.join(envs)}")
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    from tui.app import run as run_tui

    return run_tui(getattr(args, "workspace", None))


def cmd_status(args: argparse.Namespace) -> int:
    data = open_sandbox(args).status()
    if args.json:
        dump(data)
    else:
        print_status(data)
    return 0


def cmd_scenario(args: argparse.Namespace) -> int:
    from .scenario import cmd_scenario as run_scenarios

    return run_scenarios(args)


HANDLERS = {"init": cmd_init, "tui": cmd_tui, "up": cmd_up, "status": cmd_status,
            "change": cmd_change, "deployments": cmd_deployments, "pr": cmd_pr,
            "image": cmd_image, "revert": cmd_revert, "cluster": cmd_cluster,
            "events": cmd_events, "generate": cmd_generate, "sync": cmd_sync,
            "settings": cmd_settings, "hld": cmd_hld, "scenario": cmd_scenario,
            "jobs": cmd_jobs, "user": cmd_user, "whoami": cmd_whoami, "clone": cmd_clone,
            "metrics": cmd_metrics, "kubeconfig": cmd_kubeconfig}


def dispatch(args: argparse.Namespace) -> int:
    return HANDLERS[args.command or "tui"](args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        args.workspace = None
    return run(lambda: _dispatch_checked(args))


def _dispatch_checked(args: argparse.Namespace) -> int:
    try:
        return dispatch(args)
    except sqlite3.DatabaseError as exc:
        from .workspace import damaged_db_message, default_workspace

        root = getattr(args, "workspace", None) or default_workspace()
        raise CliError(damaged_db_message(Path(root).expanduser(), exc)) from None


if __name__ == "__main__":
    sys.exit(main())
