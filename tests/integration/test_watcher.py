"""The file watcher on its own: with the engine's safety-net polling turned off, a plain
`git push` and the whole loop after it must still move, woken by watcher events only.
(With polling on, a deaf watcher hides behind the one-second poll.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sandbox.engine import Engine
from sandbox.facade import Sandbox

from .waits import until


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_a_push_is_noticed_through_the_watcher_alone(sandbox: Sandbox, tmp_path: Path) -> None:
    sb = sandbox
    engine = Engine(sb.ws, poll=False)
    assert not engine.poll
    sb.engine = engine.start()
    first = sb.wait_for_deployment(sb.branches()["main"], timeout=60)
    assert first["health"] == "Healthy", first

    # A learner's plain push from a clone: nobody pokes the engine.
    clone = sb.clone(tmp_path / "clone")  # over HTTP, as the README shows
    git("checkout", "-q", "-b", "by-hand", cwd=clone)
    (clone / "NOTES.md").write_text("pushed by hand\n")
    git("add", "-A", cwd=clone)
    git("commit", "-qm", "notes", cwd=clone)
    git("push", "-q", "origin", "by-hand", cwd=clone)
    sha = git("rev-parse", "HEAD", cwd=clone)
    until(lambda: any(e.data.get("sha") == sha for e in sb.events(kinds=("push.received",))),
          why="push.received for the pushed commit")

    # And the whole loop after it: check, merge, generate, reconcile, health.
    sb.change("more", ["replicas=3"], subcomponent="web")
    pr = sb.open_pr("more", "More web")
    assert sb.wait_for_checks(pr.id, 60).checks_state == "success"
    sb.approve_pr(pr.id, "reviewer")
    merged = sb.merge_pr(pr.id)
    dep = sb.wait_for_deployment(merged.merge_sha or "", timeout=60)
    assert dep["health"] == "Healthy", dep
