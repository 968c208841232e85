"""The event log: the pipeline's audit trail, newest at the bottom, failures in red."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from sandbox.events import Event

from .format import event_style

MAX_LINES = 1000


class EventLog(RichLog):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=False, markup=False, **kwargs)
        self._seen: set[int] = set()
        self.events: list[Event] = []
        self.filter_text = ""

    def add(self, event: Event) -> None:
        # The initial read and the live subscription overlap by design; ids dedupe them.
        if event.id in self._seen:
            return
        self._seen.add(event.id)
        self.events.append(event)
        del self.events[:-MAX_LINES]
        if self._matches(event):
            self.write(self._line(event))

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.clear()
        for event in self.events:
            if self._matches(event):
                self.write(self._line(event))

    def _matches(self, event: Event) -> bool:
        needle = self.filter_text.lower()
        return not needle or needle in f"{event.kind} {event.stage} {event.message}".lower()

    @staticmethod
    def _line(event: Event) -> Text:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
        style = event_style(event.kind, event.data)
        return Text.assemble((f"{stamp} ", "dim"), (f"{event.kind:<24}", style or "cyan"),
                             (event.message, style))
