"""A bare app for TUI tests: it mounts one MainScreen with nothing engine-made around it."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.screen import Screen

import tui.app
from tui.screens.main import MainScreen


class BareApp(App[None]):
    CSS_PATH = Path(tui.app.__file__).parent / "app.tcss"

    def __init__(self, screen: MainScreen) -> None:
        super().__init__()
        self.main = screen

    def get_default_screen(self) -> Screen[None]:
        return self.main
