"""The loop an operator runs, by keys only: change -> open PR -> checks -> approve ->
merge; and a refused operation ends as a notification, not a crash."""

from __future__ import annotations

import asyncio

from sandbox.facade import Sandbox
from tui.app import GitOpsApp
from tui.screens.dialogs import ChangeForm, ConfirmDialog, UserPicker
from tui.screens.main import MainScreen
from tui.screens.pr_detail import PullRequestScreen
from tui.widgets.prlist import PullRequestTable

SIZE = (120, 40)


def _row(app: GitOpsApp, pr_id: int) -> list[str]:
    table = app.main_screen.query_one(PullRequestTable)
    if str(pr_id) not in [str(k.value) for k in table.rows]:
        return []
    return [str(c) for c in table.get_row(str(pr_id))]


def test_change_review_merge_by_keys(sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(sandbox, close_on_exit=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, what="first refresh")
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, ChangeForm), what="the form")
            form = app.screen
            assert form.query_one("#branch").value == "change-1"  # type: ignore[attr-defined]
            await pilot.press("enter")  # replicas=3 on web, the form's defaults
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog),
                           what="the offer to open a pull request")
            assert "gitops-sandbox pr open change-1" in app.screen.command  # type: ignore[attr-defined]
            await pilot.press("y")
            await wait_for(pilot, lambda: sandbox.list_prs("open"), what="the PR to open")
            pr_id = sandbox.list_prs("open")[0].id
            await wait_for(pilot, lambda: "success" in _row(app, pr_id), timeout=30,
                           what="the checks to pass in the PR list")

            await pilot.press("u")  # the author cannot approve: act as the reviewer
            await wait_for(pilot, lambda: isinstance(app.screen, UserPicker), what="picker")
            await pilot.press("down", "enter")
            await wait_for(pilot, lambda: "you are reviewer" in app.title, what="the switch")
            await pilot.press("a")
            await wait_for(pilot, lambda: "1/1" in _row(app, pr_id), what="the approval")
            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog),
                           what="the merge confirmation")
            assert app.screen.command == f"gitops-sandbox pr merge {pr_id}"
            await pilot.press("y")
            await wait_for(pilot, lambda: "merged" in _row(app, pr_id), what="the merge")
            assert sandbox.get_pr(pr_id).state == "merged"

    asyncio.run(scenario())


def test_refused_merge_is_a_notification(idle_sandbox: Sandbox, wait_for) -> None:
    idle_sandbox.change("change-x", ["replicas=2"], subcomponent="api")
    pr = idle_sandbox.open_pr("change-x", "scale api")

    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: _row(app, pr.id), what="the PR in the list")
            await pilot.press("2")
            await wait_for(pilot, lambda: app.main_screen.current_tab == "prs", what="PRs tab")
            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog),
                           what="the merge confirmation")
            await pilot.press("y")  # no approval yet: the service refuses
            await wait_for(pilot, lambda: any("cannot merge" in str(n.message)
                                              for n in app._notifications),
                           what="the refusal as a notification")
            assert isinstance(app.screen, MainScreen)
            assert idle_sandbox.get_pr(pr.id).state == "open"

    asyncio.run(scenario())


def test_enter_drills_into_a_pull_request(idle_sandbox: Sandbox, wait_for) -> None:
    idle_sandbox.change("change-d", ["replicas=4"], subcomponent="web")
    pr = idle_sandbox.open_pr("change-d", "scale web to 4")

    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: _row(app, pr.id), what="the PR in the list")
            await pilot.press("2")
            await wait_for(pilot, lambda: app.main_screen.current_tab == "prs", what="PRs tab")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, PullRequestScreen),
                           what="the pull request screen")
            assert app.screen.pr_id == pr.id
            summary = app.screen.query_one("#pr-summary")
            await wait_for(pilot, lambda: "scale web to 4" in str(summary.content),
                           what="the PR's summary")
            hld = app.screen.query_one("#diff-hld")
            assert "replicas" in hld.content.code  # type: ignore[attr-defined]
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen),
                           what="the main screen back")

    asyncio.run(scenario())
