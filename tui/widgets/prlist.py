"""The pull-request list, lazygit style: one row per PR, the cursor picks the PR that
`a`, `m`, `x` and `enter` act on."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from sandbox.pullrequests import PullRequest

from .format import PR_STATE_STYLE, age, check_text, safe, styled
from .tables import selected_key, sync_rows


class PullRequestTable(DataTable[Any]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.filter_text = ""

    def on_mount(self) -> None:
        self.add_columns("#", "TITLE", "AUTHOR", "BRANCH", "CHECKS", "APPROVALS", "STATE",
                         "UPDATED")

    def show(self, prs: list[PullRequest], required: int) -> None:
        rows = []
        needle = self.filter_text.lower()
        # Newest first, as on a git host's PR page.
        for pr in reversed(prs):
            haystack = f"{pr.id} {pr.title} {pr.author} {pr.head} {pr.state}".lower()
            if needle and needle not in haystack:
                continue
            approvals = Text(f"{len(pr.approvals)}/{required}",
                             style="green" if len(pr.approvals) >= required else "")
            rows.append((str(pr.id), (
                str(pr.id), safe(pr.title), safe(pr.author), safe(pr.head),
                check_text(pr.checks_state),
                approvals, styled(pr.state, PR_STATE_STYLE), age(pr.updated))))
        sync_rows(self, rows)

    @property
    def selected_pr(self) -> int | None:
        key = selected_key(self)
        return int(key) if key else None
