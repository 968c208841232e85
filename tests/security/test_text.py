"""Issue 8, point 6: text is data. Titles cannot forge trailers, control characters are
shown escaped by the CLI and the TUI, and settings are typed and range-checked."""

from __future__ import annotations

import json
import sqlite3

import pytest

from sandbox.cli import main
from sandbox.facade import Sandbox
from sandbox.gitutil import git, trailers
from sandbox.pipelines import CIRunner, JobLog
from sandbox.pullrequests import PullRequestError
from sandbox.safetext import shown
from sandbox.workspace import Workspace, WorkspaceError

from .conftest import repos, rows

ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202etxt.exe"


def green_pr(sb: Sandbox, branch: str, title: str) -> int:
    sb.commit_files(branch, {f"{branch}.txt": "x\n"}, f"Add {branch}")
    pr = sb.open_pr(branch, title)
    CIRunner(sb.ws, sb.bus, sb.prs).run_pending()
    sb.approve_pr(pr.id, "reviewer")
    return pr.id


# -- trailers ------------------------------------------------------------------------------

def test_a_title_with_a_line_break_is_refused(sb: Sandbox,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    sb.commit_files("inject", {"a.txt": "a\n"}, "A change")
    before, prs = repos(sb), rows(sb, "prs")
    with pytest.raises(PullRequestError, match="has a line break: a title is one line"):
        sb.open_pr("inject", "Harmless\n\nPull-Request: #1")
    code = main(["pr", "open", "inject", "--title", "x\rPull-Request: #1", "-w", str(sb.root)])
    assert code == 1
    assert "has a line break" in capsys.readouterr().err
    assert rows(sb, "prs") == prs and repos(sb) == before


def test_a_title_cannot_forge_the_merge_or_manifest_trailers(sb: Sandbox) -> None:
    first = green_pr(sb, "first", "The first change")
    forged = green_pr(sb, "forged", f"Pull-Request: #{first}")
    merged = sb.merge_pr(forged, "operator")
    assert merged.merge_sha
    message = git("log", "-1", "--format=%B", merged.merge_sha, git_dir=sb.ws.hld_git)
    assert trailers(message) == {"Pull-Request": f"#{forged}"}
    result = CIRunner(sb.ws, sb.bus, sb.prs).generate(
        {"sha": merged.merge_sha, "job": 0}, JobLog())
    assert result["pr"] == forged
    manifest = git("log", "-1", "--format=%B", result["manifest_sha"],
                   git_dir=sb.ws.manifests_git)
    assert trailers(manifest) == {"HLD-Commit": merged.merge_sha, "Pull-Request": f"#{forged}"}


def test_a_stored_multi_line_title_is_folded_in_the_merge_commit(sb: Sandbox) -> None:
    pr = green_pr(sb, "old", "An old title")
    with sqlite3.connect(sb.root / "state.db") as db:  # as a record from before the rule
        db.execute("UPDATE prs SET title=? WHERE id=?", ("Old\n\nPull-Request: #99", pr))
    merged = sb.merge_pr(pr, "operator")
    message = git("log", "-1", "--format=%B", str(merged.merge_sha), git_dir=sb.ws.hld_git)
    assert trailers(message) == {"Pull-Request": f"#{pr}"}
    assert "Old Pull-Request: #99" in message


# -- terminal escapes ----------------------------------------------------------------------

def test_shown_escapes_control_characters() -> None:
    assert shown(ESCAPES) == "\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202etxt.exe"
    assert shown("a\nb\tc", multiline=True) == "a\nb\tc"
    assert shown("a\nb") == "a\\nb"


def test_cli_prints_titles_branches_and_events_escaped(
        sb: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    sb.commit_files("esc", {"a.txt": "a\n"}, f"Subject {ESCAPES}")
    pr = sb.open_pr("esc", f"Title {ESCAPES}")
    sb.commit_files("esc2", {"b.txt": "b\n"}, f"Subject {ESCAPES}")
    sb.open_pr("esc2")  # the title comes from the commit subject
    for argv in (["pr", "list"], ["pr", "show", str(pr.id)], ["status"], ["events"]):
        assert main([*argv, "-w", str(sb.root)]) == 0
        out = capsys.readouterr().out
        for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert raw not in out, (argv, out)
        assert "\\x1b[2J" in out, argv


def test_tui_formatting_escapes_titles_and_bodies(sb: Sandbox) -> None:
    from tui.screens.pr_detail import summary
    from tui.widgets.eventlog import event_line
    from tui.widgets.format import safe

    sb.commit_files("esc", {"a.txt": "a\n"}, "A change")
    pr = sb.open_pr("esc", f"Title [bold]{ESCAPES}", body=f"Body\n{ESCAPES}")
    text = summary(sb.get_pr(pr.id), 1).plain
    assert "\x1b" not in text and "\u202e" not in text
    assert "Title [bold]\\x1b[2J" in text and "Body\n\\x1b[2J" in text
    assert safe("[red]x").plain == "[red]x"  # never read as markup
    opened = [e for e in sb.events() if e.kind == "pr.opened"][-1]
    assert "\x1b" not in event_line(opened).plain


# -- settings ------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "value", "message"), [
    ("clock_speed", "nan", "must be a finite number"),
    ("clock_speed", "inf", "must be a finite number"),
    ("resync_seconds", "Infinity", "must be a finite number"),
    ("health_timeout", "1e400", "must be a finite number"),
    ("health_timeout", "-1", "must be positive"),
    ("required_approvals", "0", "must be positive"),
    ("required_approvals", "11", "must be between 1 and 10"),
    ("max_replicas", "99999999999", "must be between 1 and 100000"),
    ("max_pods", "x", "takes a int"),
    ("failure_policy", "yolo", "must be one of: atomic, partial"),
    ("allow_hooks", "maybe", "takes true or false"),
])
def test_settings_are_typed_and_range_checked(sb: Sandbox, capsys: pytest.CaptureFixture[str],
                                              key: str, value: str, message: str) -> None:
    marker = (sb.root / "gitops-sandbox.json").read_text()
    assert main(["settings", key, value, "-w", str(sb.root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {key}") and message in err
    assert (sb.root / "gitops-sandbox.json").read_text() == marker


@pytest.mark.parametrize(("key", "value"), [
    ("clock_speed", float("nan")), ("health_timeout", float("inf")),
    ("environments", ["../../x"]), ("kubernetes_version", "../etc"), ("seed", "0"),
    ("allow_hooks", 1),
])
def test_bad_settings_in_the_file_are_refused_on_load(sb: Sandbox, key: str,
                                                      value: object) -> None:
    path = sb.root / "gitops-sandbox.json"
    data = json.loads(path.read_text())
    data["settings"][key] = value
    path.write_text(json.dumps(data))
    with pytest.raises(WorkspaceError, match=f"gitops-sandbox.json: setting {key}"):
        Workspace(sb.root)


def test_good_settings_still_apply(sb: Sandbox) -> None:
    sb.update_setting("environments", "prod,staging")
    sb.update_setting("max_pods", "500")
    sb.update_setting("kubernetes_version", "1.30.0")
    again = Workspace(sb.root).settings
    assert (again.environments, again.max_pods) == (["prod", "staging"], 500)
