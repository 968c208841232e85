"""The event log: the pipeline's audit trail, newest at the bottom, failures in red; and
its last few lines, for the Pipeline tab."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import RichLog, Static

from sandbox.events import Event
from sandbox.facade import shown

from .format import event_style
from .lazy import WhenShown

MAX_LINES = 1000
RECENT = 10
HIDDEN_FLUSH_SECONDS = 1.0


def event_line(event: Event, first_line_only: bool = False) -> Text:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
    style = event_style(event.kind, event.data)
    message = shown(event.message, multiline=True)
    if first_line_only and "\n" in message:
        # A change set lists one object per line; one line is enough under the stages.
        head, *rest = message.splitlines()
        message = f"{head} (+{len(rest)} more)"
    return Text.assemble((f"{stamp} ", "dim"), (f"{event.kind:<24}", style or "cyan"),
                         (message, style))


class EventLog(WhenShown, RichLog):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=False, markup=False, **kwargs)
        self._seen: set[int] = set()
        self.events: list[Event] = []
        self.filter_text = ""
        self._unwritten: list[Text] = []  # lines that came while the log was hidden
        self._flush_due = False

    def add(self, events: list[Event]) -> None:
        # The initial read and the live subscription overlap by design; ids dedupe them.
        fresh = [e for e in events if e.id not in self._seen]
        self._seen.update(e.id for e in fresh)
        self.events.extend(fresh)
        del self.events[:-MAX_LINES]
        # A burst (a rollout of hundreds of Deployments) writes only what the log keeps.
        for event in [e for e in fresh if self._matches(e)][-MAX_LINES:]:
            self.note(event_line(event))

    def note(self, line: Text) -> None:
        """Write a line now when the log is on screen; when hidden, at most once a second
        (each write asks for a new layout of the whole screen, even from a hidden tab),
        and the rest when it shows, so showing it has little left to write."""
        self._unwritten.append(line)
        del self._unwritten[:-MAX_LINES]
        self.when_shown("write", self._write_unwritten)
        if not self._on_screen and not self._flush_due and self.is_mounted:
            self._flush_due = True
            self.set_timer(HIDDEN_FLUSH_SECONDS, self._flush_hidden)

    def _flush_hidden(self) -> None:
        self._flush_due = False
        self._write_unwritten()

    def _write_unwritten(self) -> None:
        lines, self._unwritten = self._unwritten, []
        for line in lines:
            self.write(line)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._unwritten = []
        self.clear()
        for event in self.events:
            if self._matches(event):
                self.write(event_line(event))

    def _matches(self, event: Event) -> bool:
        needle = self.filter_text.lower()
        return not needle or needle in f"{event.kind} {event.stage} {event.message}".lower()


class RecentEvents(WhenShown, Static):
    """The newest events only, one line each; the Events tab keeps the full log."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Text("no events yet", style="dim"), **kwargs)
        self.border_title = "Recent events (4: the full log)"
        self._seen: set[int] = set()
        self.events: list[Event] = []

    def add(self, events: list[Event]) -> None:
        fresh = [e for e in events if e.id not in self._seen]
        if not fresh:
            return
        self._seen.update(e.id for e in fresh)
        # The backlog and the live bus overlap and may interleave: order by id.
        self.events = sorted([*self.events, *fresh], key=lambda e: e.id)[-RECENT:]
        self.when_shown("lines", self._show_lines)

    def _show_lines(self) -> None:
        self.update(Text("\n").join(event_line(e, first_line_only=True)
                                     for e in self.events))
