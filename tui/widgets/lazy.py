"""Work a hidden view does not need: deferred until it is shown, and a footer that
recomposes only when its keys change.

A widget in a hidden tab still asks Textual for a new layout of the whole screen each
time its content changes (a Static's `update`, a RichLog's `write`). During a rollout
the event log and the pipeline's boxes change several times a second, and every one of
those layouts ran on the UI thread whatever tab was on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class WhenShown:
    """Mixin for a widget: `when_shown(name, fn)` runs fn now if the widget is on
    screen, else keeps the latest fn under that name and runs it once the widget shows."""

    _on_screen = False
    _deferred: dict[str, Callable[[], None]] | None = None

    def when_shown(self, name: str, fn: Callable[[], None]) -> None:
        if self._on_screen:
            fn()
            return
        if self._deferred is None:
            self._deferred = {}
        self._deferred[name] = fn

    def on_show(self) -> None:
        self._on_screen = True
        if self._deferred:
            # After the frame that shows the tab: the key's answer is on screen at once,
            # and what came while hidden is drawn in the next frame.
            self.call_after_refresh(self._run_deferred)  # type: ignore[attr-defined]

    def _run_deferred(self) -> None:
        deferred, self._deferred = self._deferred or {}, None
        if not self._on_screen:  # hidden again meanwhile: keep it for the next show
            self._deferred = deferred
            return
        for fn in deferred.values():
            fn()

    def on_hide(self) -> None:
        self._on_screen = False


class LeanFooter(Footer):
    """Textual's Footer mounts a widget per key again on every change of focus, and a
    tab switch moves the focus twice; this one recomposes once, and only when the keys
    it would show differ from the ones it shows."""

    _shown: tuple[Any, ...] | None = None
    _due = False
    recomposes = 0  # for the tests

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._due:
            self._due = True
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        self._due = False
        if not self.is_attached:
            return
        shown = tuple((binding.key, binding.description, enabled, tooltip)
                      for _, binding, enabled, tooltip in self.screen.active_bindings.values()
                      if binding.show)
        if shown != self._shown:
            self._shown = shown
            self.recomposes += 1
            await self.recompose()
