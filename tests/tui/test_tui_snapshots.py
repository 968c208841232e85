"""SVG snapshots of screens whose content is fixed: no shas, times or paths in them.
Update with `pytest tests/tui --snapshot-update` after a deliberate change, and look at
the SVGs before committing them."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

import tui.app
from tui.screens.dialogs import ChangeForm, ConfirmDialog
from tui.screens.help import HelpScreen

SIZE = (100, 34)


class Harness(App[None]):
    """Shows one screen with the real stylesheet and nothing engine-made around it."""

    CSS_PATH = Path(tui.app.__file__).parent / "app.tcss"

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.first = screen

    def compose(self) -> ComposeResult:
        yield Static("(pipeline)")

    def on_mount(self) -> None:
        self.push_screen(self.first)


def test_help_screen(snap_compare) -> None:
    assert snap_compare(Harness(HelpScreen()), terminal_size=SIZE)


def test_merge_confirmation(snap_compare) -> None:
    dialog = ConfirmDialog("Merge pull request #3 into main?", "gitops-sandbox pr merge 3",
                           "A merge commit goes to main through the branch policy hook.")
    assert snap_compare(Harness(dialog), terminal_size=SIZE)


def test_change_form(snap_compare) -> None:
    assert snap_compare(Harness(ChangeForm("change-1", ["web", "api"])), terminal_size=SIZE)
