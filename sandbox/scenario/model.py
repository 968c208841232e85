"""What a scenario is once loaded, and what running it produced.

A scenario file is checked as a whole before anything runs, so these objects only
ever hold steps whose action exists and whose arguments have the right shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..workspace import Settings


@dataclass(frozen=True)
class Problem:
    """A reason a scenario file cannot run, at the line a reader should look at."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class ScenarioFileError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Step:
    index: int  # 1-based, as printed
    line: int
    action: str
    args: dict[str, Any]
    arg_lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSeed:
    service: str
    tag: str
    profile: str


@dataclass
class Scenario:
    name: str
    file: str
    line: int
    description: str
    settings: Settings
    images: list[ImageSeed]
    steps: list[Step]


class StepFailed(Exception):
    """A step whose outcome was not the one the scenario expected."""

    def __init__(self, message: str, expected: str = "", seen: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.seen = seen


@dataclass
class StepResult:
    index: int
    line: int
    action: str
    text: str
    status: str  # passed | failed | skipped
    seconds: float = 0.0
    detail: str = ""  # a short note on success, e.g. the PR that was opened
    message: str = ""
    expected: str = ""
    seen: str = ""


@dataclass
class ScenarioResult:
    name: str
    file: str
    line: int
    description: str
    status: str = "passed"  # passed | failed | error (the set-up failed)
    seconds: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    setup: str = ""
    error: str = ""  # why the set-up failed
    recent_events: list[str] = field(default_factory=list)
    workspace: str | None = None  # kept for inspection when asked to

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def failure_summary(self) -> str:
        """One line for a JUnit message or a summary table."""
        step = self.failed_step
        if step is not None:
            text = (f"step {step.index} ({self.file}:{step.line}) {step.action}: "
                    f"{step.message}")
            if step.expected or step.seen:
                text += f" - expected {step.expected or '?'}, saw {step.seen or '?'}"
            return text
        return self.error or ""

    def failure_details(self) -> str:
        """Several lines: where it failed, what was expected and seen, recent events."""
        lines: list[str] = []
        step = self.failed_step
        if step is not None:
            lines.append(f"step {step.index} of {len(self.steps)} at {self.file}:{step.line}: "
                         f"{step.text}")
            lines.append(f"error:    {step.message}")
            if step.expected:
                lines.append(f"expected: {step.expected}")
            if step.seen:
                lines.append(f"seen:     {step.seen}")
        elif self.error:
            lines.append(f"set-up failed: {self.error}")
        if self.recent_events:
            lines.append("recent events:")
            lines.extend(f"  {e}" for e in self.recent_events)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        for step in data["steps"]:
            step["seconds"] = round(step["seconds"], 3)
        if not self.passed:
            data["failure"] = self.failure_summary()
        return data


def display_path(path: Path) -> str:
    """Paths as the user gave them when relative to the current folder, else absolute."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()
