"""The step vocabulary's frame: how an action declares its arguments, and the context
a running scenario keeps (its sandbox, the PRs and merges it remembers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..facade import Sandbox
from ..registry import REGISTRY_HOST
from .model import StepFailed

POLL_SECONDS = 0.05
HEALTH_WORDS = ("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown")
SYNC_WORDS = ("Synced", "OutOfSync", "Unknown")
CHECK_STATES = ("success", "failure")
PR_STATES = ("open", "merged", "closed")
REF_PREFIX = "$"
LAST_PR = "$pr"
LAST_MERGE = "$merge"


@dataclass(frozen=True)
class Arg:
    # str, int, float, bool, strs (one or a list), names (a list), pr (number or $name),
    # counts (name -> int), texts (name -> str), choice
    kind: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass
class Context:
    """What one running scenario knows: its sandbox and the results steps remembered."""

    sb: Sandbox
    stop: threading.Event
    events_start: int = 0
    # Event ids when the previous and the current step began: `new_events` looks at
    # what the previous step set off, not at what the set-up already did.
    previous_step_start: int = 0
    step_start: int = 0
    prs: dict[str, int] = field(default_factory=dict)  # "$pr", "$name" -> PR number
    merges: dict[str, str] = field(default_factory=dict)  # "$merge" -> HLD merge commit

    def pr(self, ref: int | str) -> int:
        if isinstance(ref, int):
            return ref
        if ref not in self.prs:
            raise StepFailed(f"{ref} names no pull request yet")
        return self.prs[ref]

    def remember_pr(self, pr_id: int, name: str | None) -> None:
        self.prs[LAST_PR] = pr_id
        if name:
            self.prs[REF_PREFIX + name] = pr_id

    def poll(self, check: Callable[[], tuple[bool, str]], timeout: float) -> str:
        """Until check() holds; on time-out the last thing seen goes in the failure."""
        deadline = time.monotonic() + timeout
        while True:
            ok, seen = check()
            if ok:
                return seen
            if time.monotonic() > deadline:
                raise TimeoutError(seen)
            if self.stop.wait(POLL_SECONDS):
                raise StepFailed("stopped")


Runner = Callable[[Context, dict[str, Any], float], str]


@dataclass(frozen=True)
class Action:
    name: str
    help: str
    args: dict[str, Arg]
    run: Runner
    text: Callable[[dict[str, Any]], str]
    timeout: float
    shorthand: str | None = None  # the argument a plain scalar stands for: `merge: 3`
    fallible: bool = False  # takes expect_error: the rehearsal is that it is refused
    produces: tuple[str, ...] = ()  # "pr", "merge": what later steps may refer to


ACTIONS: dict[str, Action] = {}
COMMON = {"timeout": Arg("float", help="seconds before the step fails (real time)")}
EXPECT_ERROR = {"expect_error": Arg(
    "str", help="the step must be refused with a message containing this text")}


def action(name: str, help: str, timeout: float = 30.0, shorthand: str | None = None,
           fallible: bool = False, produces: tuple[str, ...] = (),
           text: Callable[[dict[str, Any]], str] | None = None,
           **args: Arg) -> Callable[[Runner], Runner]:
    def register(fn: Runner) -> Runner:
        full = {**args, **COMMON, **(EXPECT_ERROR if fallible else {})}
        ACTIONS[name] = Action(name, help, full, fn, text or (lambda a: name), timeout,
                               shorthand, fallible, produces)
        return fn
    return register


PR = Arg("pr", default=LAST_PR, help="a PR number or a remembered name ($pr: the latest)")
AS = Arg("str", help="remember the pull request as $NAME for later steps")
BY_OPERATOR = Arg("str", default="operator", help="who does it")
TARGET = Arg("str", required=True, help="KIND/NAME, e.g. deployment/web")
NAMESPACE = Arg("str", default="demo")


def pr_text(a: dict[str, Any]) -> str:
    return f"#{a['pr']}"


def image_ref(image: str) -> str:
    return image if "/" in image else f"{REGISTRY_HOST}/{image}"
