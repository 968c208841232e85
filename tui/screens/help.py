"""The `?` screen: every key, grouped."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..keys import HELP


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style="bold cyan", no_wrap=True)
    table.add_column()
    for group, keys in HELP:
        table.add_row("", Text(group, style="bold underline"))
        for key, what in keys:
            table.add_row(key, what)
        table.add_row("", "")
    return table


class HelpScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back"),
                Binding("question_mark", "app.pop_screen", "Back", show=False),
                Binding("q", "app.pop_screen", "Back", show=False)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("gitops-sandbox: keys", style="bold"), classes="help-title")
            yield Static(help_table())
        yield Footer()
