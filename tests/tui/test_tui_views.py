"""Views and modes: command mode, filtering, the live event log, attaching to an engine
in another process; and the pure formatting rules behind the colours."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from textual.widgets import Input, TabbedContent

from sandbox.facade import Sandbox
from tui.app import GitOpsApp
from tui.screens.dialogs import PromptDialog
from tui.widgets import format as fmt
from tui.widgets.eventlog import EventLog
from tui.widgets.prlist import PullRequestTable

SIZE = (120, 40)


def test_command_mode_and_filter(idle_sandbox: Sandbox, wait_for) -> None:
    idle_sandbox.change("change-a", ["replicas=2"], subcomponent="api")
    idle_sandbox.open_pr("change-a", "scale api")
    idle_sandbox.change("change-b", ["replicas=5"], subcomponent="web")
    idle_sandbox.open_pr("change-b", "scale web")

    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            table = app.main_screen.query_one(PullRequestTable)
            await wait_for(pilot, lambda: table.row_count == 2, what="both PRs")
            await pilot.press("colon")
            await wait_for(pilot, lambda: isinstance(app.focused, Input)
                           and isinstance(app.screen, PromptDialog), what="the prompt")
            await pilot.press(*"prs", "enter")
            tabs = app.main_screen.query_one(TabbedContent)
            await wait_for(pilot, lambda: tabs.active == "prs", what="the PRs tab")
            await pilot.press("slash")
            await wait_for(pilot, lambda: isinstance(app.focused, Input)
                           and isinstance(app.screen, PromptDialog), what="the filter")
            await pilot.press(*"web", "enter")
            await wait_for(pilot, lambda: table.row_count == 1, what="the filter")
            assert "scale web" in [str(c) for c in table.get_row_at(0)]

    asyncio.run(scenario())


def test_event_log_follows_the_bus(idle_sandbox: Sandbox, wait_for) -> None:
    async def scenario() -> None:
        app = GitOpsApp(idle_sandbox, close_on_exit=False, start_engine=False)
        async with app.run_test(size=SIZE) as pilot:
            log = app.main_screen.query_one(EventLog)
            await wait_for(pilot, lambda: app._unsubscribe is not None, what="subscription")
            idle_sandbox.push_image("web", "9.9.9", "crash")
            await wait_for(pilot, lambda: any(e.kind == "image.pushed" for e in log.events),
                           what="the image.pushed event in the log")

    asyncio.run(scenario())


ENGINE = textwrap.dedent("""
    import sys, time
    from sandbox.facade import Sandbox
    sb = Sandbox(sys.argv[1])
    sb.start_engine()
    print("up", flush=True)
    sys.stdin.read()
    sb.close()
""")


def test_attaches_to_an_engine_in_another_process(workspace: Path, wait_for) -> None:
    engine = subprocess.Popen([sys.executable, "-c", ENGINE, str(workspace)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    sb = Sandbox(workspace)
    try:
        assert engine.stdout is not None and engine.stdout.readline().strip() == "up"

        async def scenario() -> None:
            app = GitOpsApp(sb)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: f"attached to engine pid {engine.pid}"
                               in app.sub_title, what="attach")
                assert sb.engine is None

        asyncio.run(scenario())
        assert engine.poll() is None  # closing the client leaves the other engine alone
    finally:
        engine.communicate("", timeout=20)


def test_formatting_rules() -> None:
    assert fmt.short("0123456789abcdef") == "0123456"
    assert fmt.short(None) == "-"
    assert fmt.age(100.0, now=105.0) == "5s"
    assert fmt.age(0.0, now=3 * 3600) == "3h"
    assert fmt.age("1970-01-01T00:02:00Z", now=300.0) == "3m"
    assert fmt.health_text("Degraded").style == "bold red"
    assert fmt.health_text("Healthy").style == "bold green"
    assert fmt.health_text("Progressing").style == "bold yellow"
    assert fmt.health_text(None).plain == "Unknown"
    assert fmt.health_word(["Degraded", "deadline exceeded"]) == "Degraded"
    assert fmt.event_style("sync.failed", {}) == "bold red"
    assert fmt.event_style("check.finished", {"status": "failure"}) == "red"
    pod = {"kind": "Pod", "spec": {"containers": [{"image": "localhost:5001/web:1.0.1"}]},
           "status": {"phase": "Running", "containerStatuses": [
               {"ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}
    assert fmt.pod_status(pod) == "CrashLoopBackOff"
    assert fmt.ready_column(pod) == "0/1"
    assert fmt.image_of(pod) == "web:1.0.1"
    assert fmt.status_column(pod).style == "bold red"
