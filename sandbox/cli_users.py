"""The identity commands: `user add|list|use`, `whoami` and `clone`."""

from __future__ import annotations

import argparse

from .cli_common import dump, open_sandbox
from .cli_output import print_table


def cmd_user(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    if args.user_command == "add":
        user, token = sb.add_user(args.name, "bot" if args.bot else "human")
        print(f"added {user.role} {user.name}; token (shown once, keep it): {token}")
        print(f"  clone as {user.name}: gitops-sandbox clone DIR --as {user.name}")
        return 0
    if args.user_command == "use":
        user = sb.use_user(args.name)
        print(f"commands in {sb.root} now act as {user.name}")
        return 0
    users = sb.list_users()
    if args.json:
        dump([u.to_dict() for u in users])
    else:
        print_table(["ID", "NAME", "ROLE", ""], [[u.id, u.name, u.role,
                                                  "<- you" if u.id == sb.user.id else ""]
                                                 for u in users])
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    import os

    from .facade import USER_ENV_VAR

    sb = open_sandbox(args)
    source = ("--as" if getattr(args, "global_user", None) else
              f"${USER_ENV_VAR}" if os.environ.get(USER_ENV_VAR) else "the workspace's user")
    if args.json:
        dump({**sb.user.to_dict(), "source": source})
    else:
        print(f"{sb.user.name} ({sb.user.role}, from {source})")
    return 0


def cmd_clone(args: argparse.Namespace) -> int:
    sb = open_sandbox(args)
    dest = sb.clone(args.dir)
    print(f"cloned hld.git into {dest} as {sb.user.name} "
          f"(remote {sb.git_server_url()}/hld.git; token stored for git)")
    print(f"  cd {dest} && git switch -c my-change && ... && git commit -am '...' && "
          "git push origin my-change")
    return 0


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    import os

    sb = open_sandbox(args)
    text = sb.kubeconfig()
    if args.print:
        print(text, end="")
        return 0
    path = (args.output or sb.root / "kubeconfig").expanduser().resolve()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds a token
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    print(f"wrote {path} (context sandbox, as {sb.user.name}; "
          f"context sandbox-reconciler, as the reconciler)")
    print(f"  export KUBECONFIG={path}")
    print("  kubectl get pods")
    return 0
