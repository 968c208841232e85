"""Direct edits from the Cluster tab and the reconciler's state on the Pipeline tab: a
`kubectl scale` by keys turns the Reconciler box OutOfSync, `S` suspends and resumes,
`d` describes, and the latest events sit under the stages."""

from __future__ import annotations

import asyncio

from textual.widgets import Input

from sandbox.facade import Sandbox
from tui.app import GitOpsApp
from tui.cluster_ops import DRIFT_NOTE
from tui.screens.describe import DescribeScreen
from tui.screens.dialogs import ConfirmDialog, PromptDialog, ScaleForm
from tui.screens.main import MainScreen
from tui.widgets.cluster import ClusterTable
from tui.widgets.eventlog import RecentEvents
from tui.widgets.pipeline import PipelineView, reconciler_body

SIZE = (120, 40)
WEB = "Deployment/demo/web"


def _reconciler(app: GitOpsApp) -> str:
    return str(app.main_screen.query_one(PipelineView).stage("reconciler").render())


def _replicas(sb: Sandbox, name: str) -> int:
    dep = next(o for o in sb.cluster_objects("Deployment") if o["metadata"]["name"] == name)
    return int(dep["spec"]["replicas"])


def _notified(app: GitOpsApp, text: str) -> bool:
    return any(text in str(n.message) for n in app._notifications)


async def _select(pilot, table: ClusterTable, key: str, wait_for) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: key in table.objects, what=f"{key} in the cluster table")
    # The displayed position: rows added later are sorted into place, not appended.
    await pilot.press(*["down"] * (table.get_row_index(key) - table.cursor_row))
    name = key.rsplit("/", 1)[-1]
    await wait_for(pilot, lambda: (table.selected_object or {}).get("metadata", {}).get("name")
                   == name, what=f"{key} selected")


def test_scale_from_the_cluster_tab_shows_drift(sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(sandbox, close_on_exit=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "Synced" in _reconciler(app), what="first sync")
            await pilot.press("3")
            await _select(pilot, app.main_screen.query_one(ClusterTable), WEB, wait_for)
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, ScaleForm), what="the form")
            form = app.screen
            assert form.query_one("#replicas", Input).value == "2"
            await pilot.press("backspace", "backspace", "5", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog),
                           what="the confirmation")
            assert app.screen.command == "kubectl -n demo scale deployment/web --replicas=5"
            await pilot.press("y")
            await wait_for(pilot, lambda: _replicas(sandbox, "web") == 5, what="the scale")
            await wait_for(pilot, lambda: _notified(app, DRIFT_NOTE), what="the drift note")
            # The Reconciler box is on the Pipeline tab (a hidden tab paints when shown).
            await pilot.press("1")
            await wait_for(pilot, lambda: "OutOfSync" in _reconciler(app),
                           what="OutOfSync in the Reconciler box")
            assert WEB in _reconciler(app)

    asyncio.run(scenario())


def test_suspend_and_resume_with_S(sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(sandbox, close_on_exit=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "active" in _reconciler(app), what="first sync")
            await pilot.press("S")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog),
                           what="the suspend confirmation")
            assert app.screen.command == "flux suspend kustomization sandbox"
            await pilot.press("y")
            await wait_for(pilot, lambda: "suspended" in _reconciler(app),
                           what="the Reconciler box to say suspended")
            assert sandbox.sync_status()["suspended"]
            await pilot.press("S")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog),
                           what="the resume confirmation")
            assert app.screen.command == "flux resume kustomization sandbox"
            await pilot.press("y")
            await wait_for(pilot, lambda: "active" in _reconciler(app), what="the resume")
            assert not sandbox.sync_status()["suspended"]

    asyncio.run(scenario())


def test_describe_opens_a_scrollable_screen(sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(sandbox, close_on_exit=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await _select(pilot, app.main_screen.query_one(ClusterTable), WEB, wait_for)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, DescribeScreen),
                           what="the describe screen")
            screen = app.screen
            assert isinstance(screen, DescribeScreen)
            assert screen.command == "kubectl -n demo describe deployment/web"
            assert "Name:" in screen.text and "web" in screen.text
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen),
                           what="the main screen back")

    asyncio.run(scenario())


def test_command_mode_cluster_verbs(idle_sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            def confirming() -> bool:
                return isinstance(app.screen, ConfirmDialog)

            def answered() -> bool:
                return isinstance(app.screen, MainScreen)

            await pilot.press("colon")
            await wait_for(pilot, lambda: isinstance(app.focused, Input)
                           and isinstance(app.screen, PromptDialog), what="the prompt")
            await pilot.press(*"suspend", "enter")
            await wait_for(pilot, confirming, what="the suspend confirmation")
            assert app.screen.command == "flux suspend kustomization sandbox"
            await pilot.press("n")
            await wait_for(pilot, answered, what="the dialog to close")
            # The parser behind `:`, without typing every letter.
            app.run_command("scale deployment/web x")
            await wait_for(pilot, lambda: _notified(app, "scale deployment/web 3"),
                           what="the usage hint")
            app.run_command("scale deployment/web 4")
            await wait_for(pilot, confirming, what="the scale confirmation")
            assert app.screen.command == "kubectl -n demo scale deployment/web --replicas=4"
            # Answered the moment it is on screen, before it is mounted: this used to
            # crash focusing a button the dismissed dialog no longer had.
            await pilot.press("n")
            await wait_for(pilot, answered, what="the dialog to close")
            app.run_command("delete pod/web-1")
            await wait_for(pilot, confirming, what="the delete confirmation")
            assert app.screen.command == "kubectl -n demo delete pod/web-1"
            await pilot.press("n")
            await wait_for(pilot, answered, what="the dialog to close")
            app.run_command("set-image deployment/web web=localhost:5001/web:2.0.0")
            await wait_for(pilot, confirming, what="the set-image confirmation")
            assert app.screen.command == ("kubectl -n demo set image deployment/web "
                                          "web=localhost:5001/web:2.0.0")

    asyncio.run(scenario())


def test_pipeline_tab_shows_recent_events(idle_sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            recent = app.main_screen.query_one(PipelineView).query_one(RecentEvents)
            await wait_for(pilot, lambda: app._unsubscribe is not None, what="subscription")
            idle_sandbox.push_image("web", "9.9.9", "crash")
            await wait_for(pilot, lambda: "image.pushed" in str(recent.content),
                           what="image.pushed under the stages")
            assert len(recent.events) <= 10
            assert app.main_screen.current_tab == "pipeline"

    asyncio.run(scenario())


def test_reconciler_body_words() -> None:
    body, state = reconciler_body(
        {"ready": True, "message": "Applied revision: main@abc", "sync": "OutOfSync",
         "drifted": ["Deployment/demo/web"], "policy": "partial"}, {"check": "Failed"})
    text = body.plain
    for word in ("Ready", "OutOfSync", "Deployment/demo/web", "active", "policy partial",
                 "health check Failed"):
        assert word in text
    assert state == "busy"
    body, state = reconciler_body({"suspended": True, "sync": "Synced"}, {"check": "Passed"})
    assert "Suspended" in body.plain and "suspended" in body.plain and state == "idle"


def test_reconciler_body_speaks_flux_and_shows_behind_main() -> None:
    body, state = reconciler_body(
        {"ready": False, "ready_status": "False", "reason": "ReconciliationFailed",
         "message": "validation failed", "last_applied": "a" * 40, "last_attempted": "b" * 40,
         "errors": ["Deployment/demo/bad: invalid"],
         "behind": ["the cluster runs main@aaaaaaa, manifests main is 1 commit(s) ahead"]},
        {"check": "Passed"})
    text = body.plain
    for words in ("Ready False ReconciliationFailed", "applied aaaaaaa", "attempted bbbbbbb",
                  "behind main: the cluster runs main@aaaaaaa"):
        assert words in text
    assert state == "bad"


def test_a_changed_object_repaints_its_row_without_rebuilding_the_table(
        sandbox: Sandbox, wait_for) -> None:
    """As k9s does: a scale changes the Deployment's row in place (and adds its new pod's
    row); the table is filled once, never cleared and filled again."""
    async def scenario() -> None:
        app = GitOpsApp(sandbox, close_on_exit=False)
        async with app.run_test(size=SIZE) as pilot:
            table = app.main_screen.query_one(ClusterTable)
            await wait_for(pilot, lambda: WEB in table
                           and str(table.get_row(WEB)[3]) == "2/2", what="web ready 2/2")
            rebuilds, updates = table.rebuilds, table.cell_updates
            pods = sum(1 for k in table.ordered_keys if k.startswith("Pod/demo/web-"))
            await asyncio.to_thread(sandbox.scale, "deployment/web", 3)
            await wait_for(pilot, lambda: str(table.get_row(WEB)[3]).endswith("/3"),
                           what="web's READY column to say /3")
            await wait_for(pilot, lambda: sum(1 for k in table.ordered_keys if k
                                              .startswith("Pod/demo/web-")) == pods + 1,
                           what="the new pod's row")
            assert table.rebuilds == rebuilds == 1  # filled once, at the first data
            assert table.cell_updates > updates
            await asyncio.to_thread(sandbox.scale, "deployment/web", 2)
            await wait_for(pilot, lambda: sum(1 for k in table.ordered_keys if k
                                              .startswith("Pod/demo/web-")) == pods,
                           what="the removed pod's row to go")
            assert table.rebuilds == 1
            shown = table.ordered_keys  # as on screen
            assert shown == sorted(shown, key=lambda k: (
                ("Deployment", "Pod", "Service").index(k.split("/")[0]), k))

    asyncio.run(scenario())
