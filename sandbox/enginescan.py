"""What wakes the engine's stages: the file watcher, and the polls under it that look
at hld.git's refs and the registry.

The watcher only says "something moved"; the stage then re-reads the truth with
`git for-each-ref` rather than trusting the event. The polls look at file stats first
and run git only when a ref file moved, or at least every FULL_SCAN_SECONDS.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from . import repair
from .events import EventBus
from .gitutil import refs, refs_stamp, short
from .pipelines import enqueue
from .pullrequests import PullRequests
from .workspace import Workspace

FULL_SCAN_SECONDS = 30.0

CHANGES = frozenset({"created", "deleted", "modified", "moved", "closed"})


class Wake(FileSystemEventHandler):
    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Opening or reading a file changes nothing, and the engine's own git reads
        # would otherwise wake it again and again.
        if event.event_type not in CHANGES:
            return
        # git writes `x.lock` and renames it to `x`: the rename's destination is the news.
        path = str(getattr(event, "dest_path", "") or event.src_path)
        if path.endswith(".lock"):
            return
        self.wake()


def tree_stamp(root: Path) -> tuple[tuple[str, int], ...]:
    """The folders' and files' modification times under root (a new file changes them)."""
    out: list[tuple[str, int]] = []
    try:
        for dirpath, _dirs, files in os.walk(root):
            out.append((dirpath, os.stat(dirpath).st_mtime_ns))
            out += [(f, os.stat(os.path.join(dirpath, f)).st_mtime_ns) for f in files]
    except OSError:
        return ()
    return tuple(sorted(out))


class Scanner:
    """Turns moved refs and new registry tags into events and jobs."""

    def __init__(self, ws: Workspace, bus: EventBus, prs: PullRequests) -> None:
        self.ws = ws
        self.bus = bus
        self.prs = prs
        self._stamps: dict[str, tuple[Any, float]] = {}

    def moved(self, name: str, stamp: Any) -> bool:
        """Whether a polled thing changed since the last full look (always true once
        every FULL_SCAN_SECONDS), remembering this look."""
        last = self._stamps.get(name)
        now = time.monotonic()
        if last is not None and last[0] == stamp and now < last[1]:
            return False
        self._stamps[name] = (stamp, now + FULL_SCAN_SECONDS)
        return True

    def scan_hld_refs(self) -> None:
        if not self.moved("hld", refs_stamp(self.ws.hld_git)):
            return  # an idle poll: no git process
        store = self.ws.store
        now = refs(self.ws.hld_git, "refs/heads/")
        before = json.loads(store.get_meta("hld.refs", "null") or "null")
        if now == before:
            return  # the poll runs every second; most of the time nothing moved
        store.set_meta("hld.refs", json.dumps(now))
        for ref, sha in sorted(now.items()):
            if before is not None and before.get(ref) == sha:
                continue
            branch = ref.removeprefix("refs/heads/")
            if before is not None:
                self.bus.publish("push.received", "gitserver",
                                 f"hld.git: {branch} -> {short(sha)}", branch=branch, sha=sha)
            if branch == "main":
                # Every commit main gained gets its manifests, in order, even when
                # several merges landed between two scans.
                repair.enqueue_missing_generations(self.ws)
                continue
            for pr in self.prs.open_for_branch(branch):
                if pr.head_sha != sha:
                    self.prs.update_head(pr.id, sha)
                    enqueue(self.ws, "validate", pr=pr.id, sha=sha)

    def scan_registry(self) -> None:
        if not self.moved("registry", tree_stamp(self.ws.registry_dir)):
            return
        store = self.ws.store
        seen = set(json.loads(store.get_meta("images.seen", "[]") or "[]"))
        images = self.ws.registry.images()
        new = [i for i in images if f"{i.repository}:{i.tag}" not in seen]
        if not new:
            return
        store.set_meta("images.seen", json.dumps(sorted(seen | {
            f"{i.repository}:{i.tag}" for i in images})))
        for image in new:
            enqueue(self.ws, "release", repository=image.repository, tag=image.tag)
