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
    from .hld import GenerateResult, ManifestDoc
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
        self.keys_of: GenerateResult | None = None  # main's generation, its objects' keys

    def after_generate(self, sha: str, result: GenerateResult | None) -> None:
        """Main's generate job built ``sha`` (``result``: None when hooks ran, its
        generation says nothing of a check's)."""
        from . import limits

        self.lint_of = sha
        if result is not None:
            self.keys_of = result
            self.objects = result.documents[: limits.MAX_OBJECTS_PER_COMMIT]

    def pending(self) -> bool:
        return self.lint_of is not None or self.keys_of is not None or bool(self.objects)

    def step(self) -> None:
        """One slice of the warm-up: main's lint first (one go), the keys of its
        components' objects (what a check's manifest diff compares by), then objects."""
        if self.lint_of is not None:
            self._lint()
            return
        from .ci_builds import object_keys_of, warm_slice

        if self.keys_of is not None:
            result, self.keys_of = self.keys_of, None
            object_keys_of(result)
            return

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
