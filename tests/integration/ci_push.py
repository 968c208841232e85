"""Commits to manifests.git as the generation job makes them (generate-bot, through the
git server, naming hld.git's main in HLD-Commit), for tests that need a manifest commit
the generator would not write, such as a broken one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sandbox.facade import Sandbox
from sandbox.gitserver import remote
from sandbox.gitutil import git


def push_as_ci(sb: Sandbox, edit: Callable[[Path], None], message: str) -> str:
    bot = sb.users.get("generate-bot")
    auth = remote.auth_env(sb.root, bot)
    hld_main = sb.branches()["main"]
    with sb.ws.tempdir("edit-") as tmp:
        work = Path(tmp) / "work"
        git("clone", "--quiet", remote.repo_url(sb.root, "manifests"), str(work),
            env_extra=auth)
        edit(work)
        git("add", "-A", cwd=work)
        git("commit", "--quiet", "-F", "-", cwd=work, identity=bot.identity,
            input=f"{message}\n\nHLD-Commit: {hld_main}\n")
        git("push", "--quiet", "origin", "HEAD:main", cwd=work, env_extra=auth)
        return git("rev-parse", "HEAD", cwd=work).strip()
