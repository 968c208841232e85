from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.facade import Sandbox
from sandbox.workspace import Settings

# The simulated clock runs 50x: the sample images start in 2 s, so 40 ms here.
FAST = Settings(clock_speed=50.0, resync_seconds=60.0)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sb = Sandbox.init(tmp_path / "ws", settings=Settings(**FAST.__dict__))
    yield sb
    sb.close()


@pytest.fixture
def running(sandbox: Sandbox) -> Sandbox:
    """A sandbox whose engine runs and whose first deployment is Healthy."""
    sandbox.start_engine()
    main = sandbox.branches()["main"]
    dep = sandbox.wait_for_deployment(main, timeout=60)
    assert dep["health"] == "Healthy", dep
    return sandbox
