"""What every command of the command line shares: opening the workspace as the acting
user, printing JSON, short SHAs. Light imports only: see cli.py's docstring."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .facade import Sandbox


def open_sandbox(args: argparse.Namespace) -> Sandbox:
    from .facade import Sandbox

    who = getattr(args, "who", None)
    return Sandbox(args.workspace, user=who if who is not None
                   else getattr(args, "global_user", None))


def short(sha: str | None) -> str:
    from .gitutil import short as git_short

    return git_short(sha)


def dump(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))
