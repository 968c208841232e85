"""One pull request: checks, approvals, the HLD diff, the manifest diff and the check log,
as a git host shows them. Refreshes itself while checks run."""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from sandbox.facade import shown
from sandbox.pullrequests import PullRequest

from ..widgets.format import PR_STATE_STYLE, check_text, safe, short

REFRESH_SECONDS = 1.0


class PullRequestScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("d", "show_tab('tab-hld')", "HLD diff"),
        Binding("f", "show_tab('tab-manifests')", "Manifest diff"),
        Binding("l", "show_tab('tab-log')", "Check log"),
    ]

    def __init__(self, pr_id: int) -> None:
        super().__init__()
        self.pr_id = pr_id
        self._shown: tuple[Any, ...] | None = None
        self._loading = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"#{self.pr_id} …", id="pr-summary")
        with TabbedContent(id="pr-tabs"):
            with TabPane("HLD diff", id="tab-hld"), VerticalScroll():
                yield Static("", id="diff-hld")
            with TabPane("Manifest diff", id="tab-manifests"), VerticalScroll():
                yield Static("", id="diff-manifests")
            with TabPane("Check log", id="tab-log"), VerticalScroll():
                yield Static("", id="check-log")
        yield Footer()

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#pr-tabs", TabbedContent).active = tab

    def on_mount(self) -> None:
        self.load()
        self.set_interval(REFRESH_SECONDS, self.load)

    def load(self) -> None:
        if not self._loading:
            self._loading = True
            self._fetch()

    @work(thread=True, group="pr-detail")
    def _fetch(self) -> None:
        try:
            pr = self.app.sandbox.get_pr(self.pr_id)  # type: ignore[attr-defined]
            diff = self.app.sandbox.pr_diff(self.pr_id)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            self.app.call_from_thread(self.notify, str(exc), severity="error",
                                      title=f"#{self.pr_id}")
            return
        finally:
            self._loading = False
        self.app.call_from_thread(self.show, pr, diff)

    def show(self, pr: PullRequest, diff: dict[str, str]) -> None:
        key = (pr.state, pr.head_sha, tuple(pr.approvals),
               tuple((c.name, c.status, c.summary) for c in pr.checks), tuple(diff.items()))
        if key == self._shown:
            return
        self._shown = key
        self.query_one("#pr-summary", Static).update(summary(pr, self._required()))
        self.query_one("#diff-hld", Static).update(_diff(diff.get("hld", ""), "no changes"))
        self.query_one("#diff-manifests", Static).update(
            _diff(diff.get("manifests", ""), "no changes to the generated manifests"))
        self.query_one("#check-log", Static).update(
            Text(diff.get("log") or "(no log yet)"))

    def _required(self) -> int:
        snap = getattr(self.app, "snapshot", None)
        return snap.required_approvals if snap else 1


def _diff(text: str, empty: str) -> Syntax | Text:
    if not text.strip():
        return Text(empty, style="dim")
    if text.lstrip().startswith(("diff", "---", "@@", "+", "-")):
        return Syntax(text, "diff", theme="ansi_dark", word_wrap=False)
    return Text(text)


def summary(pr: PullRequest, required: int) -> Text:
    out = Text.assemble((f"#{pr.id} ", "bold"), safe(pr.title, "bold"), "  ",
                        (pr.state, PR_STATE_STYLE.get(pr.state, "")), "\n")
    out.append(f"{shown(pr.author)} wants to merge {shown(pr.head)} ({short(pr.head_sha)}) "
               f"into {shown(pr.base)}")
    if pr.merge_sha:
        out.append(f"; merged as {short(pr.merge_sha)}", style="magenta")
    out.append("\n\nChecks: ", style="bold")
    out.append_text(check_text(pr.checks_state))
    for c in pr.checks:
        out.append("\n  ")
        out.append_text(check_text(c.status))
        out.append(f"  {c.name}  ", style="bold")
        out.append_text(safe(c.summary or "", "dim"))
    if not pr.checks:
        out.append("\n  (waiting for the CI runner)", style="dim")
    out.append("\nApprovals: ", style="bold")
    have = len(pr.approvals)
    out.append(f"{have}/{required}", style="green" if have >= required else "yellow")
    if pr.approvals:
        out.append(f"  by {shown(', '.join(pr.approvals))}")
    if pr.body:
        out.append("\n\n")
        out.append_text(safe(pr.body, "dim", multiline=True))
    return out
