"""Hermetic test set-up: git never sees the developer's config or identity."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sandbox.gitserver import remote
from sandbox.gitserver.http import GitServer
from sandbox.store import Store
from sandbox.users import Users

if TYPE_CHECKING:
    from sandbox.facade import Sandbox

# ../shared beside the repository (for a worktree, beside the worktree).
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
FABRIKATE = FIXTURES / "fabrikate"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture
def fabrikate_fixtures() -> Path:
    """Fabrikate's own test data. Missing on a developer's machine: a skip that says so.
    Missing under CI (CI=true): a failure, so a green CI run means the conformance tests
    ran."""
    if not FABRIKATE.is_dir():
        missing = f"Fabrikate fixtures not found at {FABRIKATE} (../shared is missing)"
        if in_ci():
            pytest.fail(f"{missing}; CI=true requires them: check out the shared fixtures "
                        "beside the repository", pytrace=False)
        pytest.skip(missing)
    return FABRIKATE


@pytest.fixture(autouse=True, scope="session")
def hermetic_git(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("home")
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        del os.environ[key]
    os.environ.update({
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.test",
        "GIT_COMMITTER_NAME": "Test Author",
        "GIT_COMMITTER_EMAIL": "author@example.test",
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    })
    os.environ.pop("GITOPS_SANDBOX_WORKSPACE", None)
    os.environ.pop("GITOPS_SANDBOX_USER", None)


@pytest.fixture
def serve() -> Iterator[Callable[[Path], GitServer]]:
    """serve(workspace_root): the workspace's git server without an engine, for tests
    that push but need no cluster; stopped at the end of the test."""
    started: list[GitServer] = []

    def start(root: Path) -> GitServer:
        server = GitServer(Path(root)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sb(tmp_path: Path, serve: Callable[[Path], GitServer]) -> Iterator[Sandbox]:
    """A workspace with no engine, only its git server: pushes go through it. (Test
    files that need an engine define their own `sb`.)"""
    from sandbox.facade import Sandbox

    sandbox = Sandbox.init(tmp_path / "ws")
    serve(sandbox.root)
    yield sandbox
    sandbox.close()


@pytest.fixture
def clone_as(tmp_path: Path) -> Callable[..., Path]:
    """clone_as(workspace_root, user, repo="hld"): a clone over HTTP whose pushes
    authenticate as `user` (a token in the clone's own credential store)."""
    count = [0]

    def make(root: Path, user: str, repo: str = "hld") -> Path:
        count[0] += 1
        users = Users(Store(Path(root) / "state.db"))
        who = users.get(user)
        dest = tmp_path / f"clone-{user}-{repo}-{count[0]}"
        return remote.clone(Path(root), who, users.issue_token(who, "test"), dest, repo)

    return make
