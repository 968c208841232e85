"""Who the TUI acts as is in its header; `u` switches. A pull request pushed by one
identity cannot be approved by that identity (the refusal is a notification), and can
be once the TUI acts as someone else."""

from __future__ import annotations

import asyncio

from textual.widgets import Header

from sandbox.facade import Sandbox
from tui.app import GitOpsApp
from tui.screens.dialogs import UserPicker
from tui.widgets.prlist import PullRequestTable

SIZE = (120, 40)


def _approvals(app: GitOpsApp, pr_id: int) -> str:
    table = app.main_screen.query_one(PullRequestTable)
    if str(pr_id) not in [str(k.value) for k in table.rows]:
        return ""
    return " ".join(str(c) for c in table.get_row(str(pr_id)))


def test_the_author_cannot_approve_until_the_tui_switches_user(
        idle_sandbox: Sandbox, wait_for) -> None:  # type: ignore[no-untyped-def]
    idle_sandbox.change("mine", ["replicas=2"], subcomponent="web")  # pushed as operator
    pr = idle_sandbox.open_pr("mine", "scale web")
    assert pr.author == "operator"

    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: _approvals(app, pr.id), what="the PR in the list")
            assert "you are operator" in app.title
            assert app.query_one(Header).screen_title == app.title
            await pilot.press("2", "a")
            await wait_for(pilot, lambda: any("operator pushed to 'mine'" in str(n.message)
                                              and "cannot approve" in str(n.message)
                                              for n in app._notifications),
                           what="the refusal as a notification")
            assert idle_sandbox.get_pr(pr.id).approvals == []

            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, UserPicker), what="picker")
            await pilot.press("down", "enter")  # operator -> reviewer
            await wait_for(pilot, lambda: "you are reviewer" in app.title,
                           what="the header to name the reviewer")
            await pilot.press("a")
            await wait_for(pilot, lambda: idle_sandbox.get_pr(pr.id).approvals == ["reviewer"],
                           what="the approval by the reviewer")
            # The notification comes from the worker after the approval is recorded.
            await wait_for(pilot, lambda: any("approved by reviewer" in str(n.message)
                                              for n in app._notifications),
                           what="the approval's notification")

            app.run_command("user оperator")  # a Cyrillic о: another, unknown name
            await wait_for(pilot, lambda: any("no user 'оperator'" in str(n.message)
                                              for n in app._notifications),
                           what="the unknown user refused")
            assert "you are reviewer" in app.title
            app.run_command("user operator")
            await wait_for(pilot, lambda: "you are operator" in app.title, what="back")

    asyncio.run(scenario())
