"""What the CI runner does for the check cache while its queue is empty.

After main's generate job: lint main's big YAML files in parts, then validate main's
objects in slices, looking at the queue between slices, so a PR's first check (after
this or any later engine start: the cache is on disk) lints and validates only what it
changed, and a check opened meanwhile waits for one slice at most.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .events import EventBus
from .workspace import Workspace

if TYPE_CHECKING:
    from .cluster.discovery import Discovery
    from .hld import ManifestDoc
    from .validation.cache import CheckCache


class WarmUp:
    """The cache warm-up of main's newest generation."""

    def __init__(self, ws: Workspace, bus: EventBus, cache: Callable[[], CheckCache],
                 served: Callable[[], Discovery | None], monotonic: Callable[[], float]
                 ) -> None:
        self.ws = ws
        self.bus = bus
        self.cache = cache
        self.served = served  # the live cluster's discovery, when there is one
        self.monotonic = monotonic  # the jobs' time budget clock
        self.objects: list[ManifestDoc] = []  # main's objects still to validate
        self.lint_of: str | None = None  # main's commit whose big files are to lint

    def after_generate(self, sha: str, documents: list[ManifestDoc] | None) -> None:
        """Main's generate job built ``sha`` (its objects, unless hooks ran)."""
        self.lint_of = sha
        if documents is not None:
            self.objects = documents

    def pending(self) -> bool:
        return self.lint_of is not None or bool(self.objects)

    def step(self) -> None:
        """One slice of the warm-up: main's lint first (one go), then objects."""
        if self.lint_of is not None:
            self._lint()
            return
        from .ci_builds import warm_slice

        try:
            warm_slice(self.objects, self.cache(), self.ws, self.served())
        except Exception as exc:  # noqa: BLE001 - a warm cache is an optimisation only
            self.bus.publish("engine.error", "pipelines", f"check cache warm-up: {exc}")

    def _lint(self) -> None:
        from .validation.bounds import Deadline, within
        from .validation.lintparts import warm

        sha, self.lint_of = str(self.lint_of), None
        deadline = Deadline(self.ws.settings.ci_job_seconds, self.monotonic)
        try:
            warm(self.ws.hld_git, sha, self.cache(),
                 lambda work: within(deadline, "yamllint warm-up", work))
        except Exception as exc:  # noqa: BLE001 - a warm cache is an optimisation only
            self.bus.publish("engine.error", "pipelines", f"check cache lint warm-up: {exc}")
