"""Messages that carry engine data from worker threads to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.message import Message

from sandbox.events import Event
from sandbox.pullrequests import PullRequest
from sandbox.scenario import ScenarioResult

from .widgets.cluster import RowsDelta


class EngineEvents(Message):
    """Events from the sandbox's bus, whichever process published them: one message
    per batch, since a big rollout publishes hundreds at once."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


@dataclass
class Snapshot:
    """What the main screen shows, read in one go off the UI thread; the cluster's rows
    come as changes (`SnapshotReady.rows`)."""

    status: dict[str, Any]
    prs: list[PullRequest]
    branches: dict[str, str] = field(default_factory=dict)
    required_approvals: int = 1
    health: dict[str, Any] = field(default_factory=dict)  # with Flux's health `check` state
    # Per service, the verdict of the newest change that touched it (facade.service_verdicts).
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the pipeline waits for and how long is left (facade.waits).
    waits: list[dict[str, Any]] = field(default_factory=list)


class SnapshotReady(Message):
    """A fresh snapshot, or None when reading failed (the next tick tries again), and
    the cluster rows that changed since the previous one."""

    def __init__(self, snapshot: Snapshot | None, rows: RowsDelta | None = None) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.rows = rows


class ScenarioLine(Message):
    """A progress line from the scenario running in a worker thread."""

    def __init__(self, line: Text) -> None:
        super().__init__()
        self.line = line


class ScenarioDone(Message):
    """The scenario's result, or None when it could not run at all."""

    def __init__(self, result: ScenarioResult | None) -> None:
        super().__init__()
        self.result = result
