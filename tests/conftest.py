"""Hermetic test set-up: git never sees the developer's config or identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
