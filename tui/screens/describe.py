"""`d` on the Cluster tab: `kubectl describe` of the selected object, scrollable."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


class DescribeScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"),
                Binding("q", "app.pop_screen", "Back", show=False),
                Binding("d", "app.pop_screen", "Back", show=False)]

    def __init__(self, command: str, text: str) -> None:
        super().__init__()
        self.command = command
        self.text = text

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text.assemble(("$ ", "bold magenta"), (self.command, "bold")),
                     id="describe-command")
        with VerticalScroll(id="describe"):
            yield Static(Text(self.text), id="describe-text")
        yield Footer()

    def on_mount(self) -> None:
        # Focused, the scroll view takes the arrow and page keys of a long description.
        self.query_one("#describe", VerticalScroll).focus()
