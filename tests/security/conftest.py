"""One running sandbox for the attacks (each is refused, so they can share it), and a
fingerprint of everything an attack could change: both repositories' refs, the pull
requests and their reviews, and the cluster."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.facade import Sandbox
from sandbox.gitutil import refs
from sandbox.workspace import Settings


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sb = Sandbox.init(tmp_path_factory.mktemp("sec") / "ws",
                      settings=Settings(clock_speed=50.0, resync_seconds=60.0))
    sb.start_engine()
    try:
        dep = sb.wait_for_deployment(sb.branches()["main"], timeout=60)
        assert dep["health"] == "Healthy", dep
        yield sb
    finally:
        sb.close()


def fingerprint(sb: Sandbox) -> dict[str, Any]:
    objects = sorted(
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"],
         hashlib.sha256(json.dumps(o.get("spec"), sort_keys=True).encode()).hexdigest())
        for o in sb.cluster_objects() if o["kind"] not in ("Pod", "ReplicaSet", "Event"))
    return {
        "hld": refs(sb.ws.hld_git), "manifests": refs(sb.ws.manifests_git),
        "prs": [tuple(r) for r in sb.ws.store.query("SELECT id, state, head_sha FROM prs")],
        "reviews": [tuple(r) for r in sb.ws.store.query("SELECT * FROM reviews")],
        "cluster": objects,
    }


@pytest.fixture
def unchanged(sandbox: Sandbox) -> Iterator[Callable[[], None]]:
    """Call it at the end of an attack: repos, database and cluster are as they were."""
    before = fingerprint(sandbox)

    def check() -> None:
        assert fingerprint(sandbox) == before

    yield check


def git(*args: str, cwd: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=check)


def commit(clone: Path, name: str = "change.txt", text: str = "a change\n",
           message: str = "A change") -> str:
    (clone / name).write_text(text)
    git("add", "-A", cwd=clone, check=True)
    git("commit", "-qm", message, cwd=clone, check=True)
    return git("rev-parse", "HEAD", cwd=clone, check=True).stdout.strip()


def repos(sb: Sandbox) -> tuple[dict[str, str], dict[str, str]]:
    return refs(sb.ws.hld_git, "refs/"), refs(sb.ws.manifests_git, "refs/")


def rows(sb: Sandbox, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(sb.root / "state.db") as db:
        return db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()  # noqa: S608
