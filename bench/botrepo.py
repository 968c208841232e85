"""Commits to manifests.git as the generation job makes them: through the workspace's
git server, as generate-bot, naming hld.git's main in an HLD-Commit trailer (the
reconciler refuses anything else)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class BotRepo:
    def __init__(self, ws: Any, work: Path) -> None:
        from sandbox.gitserver import remote
        from sandbox.gitserver.http import GitServer
        from sandbox.gitutil import refs
        from sandbox.users import GENERATE_BOT, Users

        self.server = GitServer(ws.root).start()
        users = Users(ws.store)
        bot = users.get(GENERATE_BOT)
        self.work = remote.clone(ws.root, bot, users.issue_token(bot, "bench"), work,
                                 "manifests")
        self.identity = bot.identity
        self.trailer = f"HLD-Commit: {refs(ws.hld_git)['refs/heads/main']}"

    def commit(self, files: dict[str, list[dict[str, Any]]], message: str = "bench") -> str:
        """Write these files (path -> objects) and push them as one commit."""
        from sandbox.gitutil import git

        for path, objects in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, "-m", self.trailer, cwd=self.work,
            identity=self.identity)
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).strip()

    def stop(self) -> None:
        self.server.stop()
