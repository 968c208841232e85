"""Named fault points, so that crash recovery is tested step by step, not by luck.

`GITOPS_SANDBOX_FAULT=generate.after_push` makes the process die at that point with
`os._exit(137)`, as a SIGKILL would: no `finally`, no flush, no clean-up. Several
points may be named, comma-separated. Tests in the same process may instead register
a hook for a point (for example to force an interleaving of two threads).
"""

from __future__ import annotations

import os
from collections.abc import Callable

ENV = "GITOPS_SANDBOX_FAULT"
EXIT_CODE = 137  # what a shell reports for a process killed by SIGKILL

# Every point the code defines, so a typo in a test or in the variable is refused.
POINTS = (
    "job.after_claim", "job.before_finish",
    "generate.after_build", "generate.after_commit", "generate.after_push",
    "generate.after_publish",
    "validate.after_running", "validate.after_check",
    "release.after_push", "release.after_pr",
    "merge.after_intent", "merge.after_push",
    "tick.after_evaluate", "flux.after_apply",
)

_hooks: dict[str, Callable[[], None]] = {}


def point(name: str) -> None:
    """Mark a step; dies here when the environment names it, runs a test hook if set."""
    hook = _hooks.get(name)
    if hook is not None:
        hook()
    wanted = os.environ.get(ENV, "")
    if wanted and name in {w.strip() for w in wanted.split(",")}:
        os._exit(EXIT_CODE)


def set_hook(name: str, hook: Callable[[], None] | None) -> None:
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r}; known: {', '.join(POINTS)}")
    if hook is None:
        _hooks.pop(name, None)
    else:
        _hooks[name] = hook
