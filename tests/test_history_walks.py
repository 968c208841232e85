"""Issue 10 point 5: no slow drift. What the pipeline does per merge must not read the
whole history: the generate job, its idempotency check and the search for HLD commits
without manifests read a handful of commits whether main has ten or ten thousand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import mainline, pipelines
from sandbox.events import EventBus
from sandbox.gitutil import Identity, git, rev
from sandbox.pipelines import CIRunner, JobLog
from sandbox.pullrequests import PullRequests
from sandbox.workspace import Workspace, init_workspace

HISTORY = 200  # merges already behind main; every walk below must read far fewer
FEW = 30  # objects a lookup or a whole generate job may read from that history


def fast_import(git_dir: Path, stream: str, marks: Path) -> dict[int, str]:
    git("fast-import", "--quiet", f"--export-marks={marks}", git_dir=git_dir, input=stream)
    found: dict[int, str] = {}
    for line in marks.read_text().splitlines():
        mark, sha = line.split()
        found[int(mark.lstrip(":"))] = sha
    return found


def commits(ref: str, parent: str, messages: list[str]) -> str:
    """A fast-import stream of empty commits (the parent's tree) on `ref`."""
    out = []
    for i, message in enumerate(messages, start=1):
        data = message.encode()
        out.append(f"commit {ref}\nmark :{i}\ncommitter Test <t@example.test> {1_700_000_000 + i} "
                   f"+0000\ndata {len(data)}\n{message}\n" + (f"from {parent}\n" if i == 1
                                                              else ""))
    return "".join(out)


@pytest.fixture
def history(tmp_path: Path) -> tuple[Workspace, list[str], list[str]]:
    """A workspace whose hld main has HISTORY merges, each with its manifest commit."""
    ws = init_workspace(tmp_path / "ws")
    hld_parent = rev(ws.hld_git, "refs/heads/main")
    man_parent = rev(ws.manifests_git, "refs/heads/main")
    assert hld_parent and man_parent
    hld = fast_import(ws.hld_git, commits("refs/heads/main", hld_parent,
                                          [f"Merge {i}" for i in range(HISTORY)]),
                      tmp_path / "hld.marks")
    hld_shas = [hld[i + 1] for i in range(HISTORY)]
    man = fast_import(ws.manifests_git, commits(
        "refs/heads/main", man_parent,
        [f"Update prod manifests\n\nHLD-Commit: {sha}\n" for sha in hld_shas]),
        tmp_path / "man.marks")
    return ws, hld_shas, [man[i + 1] for i in range(HISTORY)]


@pytest.fixture
def read_lines(monkeypatch: pytest.MonkeyPatch,
               tmp_path: Path) -> Iterator[list[tuple[str, int]]]:
    """Every git command the history code runs, with how many objects it read from the
    history's pack (git's own trace of pack access: a walk shows as the commits it read)."""
    seen: list[tuple[str, int]] = []
    real = git
    trace = tmp_path / "pack-access.trace"

    def spy(*args: str, **kwargs: Any) -> Any:
        trace.write_text("")
        env = dict(kwargs.pop("env_extra", None) or {}, GIT_TRACE_PACK_ACCESS=str(trace))
        try:
            return real(*args, env_extra=env, **kwargs)
        finally:
            seen.append((args[0], len(trace.read_text().splitlines())))

    monkeypatch.setattr(mainline, "git", spy)
    monkeypatch.setattr(pipelines, "git", spy)
    yield seen


def extend(ws: Workspace, parent: str, message: str) -> str:
    """One more commit on hld.git's main (as a merge would add)."""
    sha = git("commit-tree", "-p", parent, "-m", message, f"{parent}^{{tree}}",
              git_dir=ws.hld_git, identity=Identity.of("test")).strip()
    git("update-ref", "refs/heads/main", sha, git_dir=ws.hld_git)
    return sha


def lines_read(seen: list[tuple[str, int]]) -> int:
    return sum(n for _cmd, n in seen)


def test_manifest_lookup_reads_the_newest_commits_only(
        history: tuple[Workspace, list[str], list[str]],
        read_lines: list[tuple[str, int]]) -> None:
    ws, hld, man = history
    assert mainline.manifest_commit_for(ws.manifests_git, hld[-1]) == man[-1]
    new = extend(ws, hld[-1], "Merge new")
    assert mainline.manifest_commit_for(ws.manifests_git, new) is None
    assert lines_read(read_lines) <= FEW, read_lines
    # Deeper answers are still right (a generate job run again long after its push).
    assert mainline.manifest_commit_for(ws.manifests_git, hld[HISTORY - 40]) == man[-40]


def test_missing_generations_start_from_the_newest_generated(
        history: tuple[Workspace, list[str], list[str]],
        read_lines: list[tuple[str, int]]) -> None:
    ws, hld, _man = history
    assert mainline.missing_generations(ws) == []
    added = [extend(ws, hld[-1], "Merge extra 0")]
    added.append(extend(ws, added[0], "Merge extra 1"))
    read_lines.clear()
    assert mainline.missing_generations(ws) == added
    assert lines_read(read_lines) <= FEW, read_lines


def test_a_change_with_unchanged_manifests_counts_as_generated(
        history: tuple[Workspace, list[str], list[str]]) -> None:
    ws, hld, _man = history
    same = extend(ws, hld[-1], "Merge same")
    assert mainline.missing_generations(ws) == [same]
    with ws.store.tx() as db:  # what the deployment trace records for "unchanged"
        db.execute("INSERT INTO deployments(hld_sha, manifest_sha, created) VALUES(?,?,0)",
                   (same, "x" * 40))
    assert mainline.missing_generations(ws) == []


def test_the_generate_job_works_on_the_newest_tree_only(
        history: tuple[Workspace, list[str], list[str]], serve: Callable[[Path], Any],
        read_lines: list[tuple[str, int]], monkeypatch: pytest.MonkeyPatch) -> None:
    ws, hld, _man = history
    serve(ws.root)
    new = extend(ws, hld[-1], "Merge a real change")
    in_clone: list[int] = []
    spy = pipelines.git

    def counting(*args: str, **kwargs: Any) -> Any:
        if args[0] == "commit" and kwargs.get("cwd"):  # the job's working copy, before it commits
            in_clone.append(int(git("rev-list", "--count", "HEAD", cwd=kwargs["cwd"])))
        return spy(*args, **kwargs)

    monkeypatch.setattr(pipelines, "git", counting)
    bus = EventBus(ws.store)
    result = CIRunner(ws, bus, PullRequests(ws, bus)).generate({"sha": new, "job": 0},
                                                                  JobLog())
    assert result["ok"] and result["manifest_sha"], result
    assert in_clone == [1], "the job's clone holds only main's newest commit"
    assert lines_read(read_lines) <= FEW, read_lines
    # Its idempotency check finds the commit it pushed (a job run again after a crash).
    assert mainline.manifest_commit_for(ws.manifests_git, new) == result["manifest_sha"]


# What the pipeline asks the database on every merge and every poll of a wait; each
# must be an index search, or it costs more with every merge behind it.
PER_MERGE_QUERIES = (
    ("SELECT reviewer FROM reviews WHERE pr=? AND sha=? AND state='approved'", (1, "x")),
    ("SELECT MAX(id) FROM checks WHERE pr=? AND sha=? GROUP BY name", (1, "x")),
    ("SELECT id FROM prs WHERE head=? AND state='open'", ("b",)),
    ("SELECT * FROM merge_intents WHERE pr=? AND state='pending'", (1,)),
    ("SELECT 1 FROM deployments WHERE hld_sha=? AND manifest_sha IS NOT NULL", ("x",)),
    ("SELECT id FROM jobs WHERE kind='generate' AND json_extract(params, '$.sha')=?", ("x",)),
    ("SELECT data FROM events WHERE kind='health.check' AND "
     "json_extract(data, '$.revision')=?", ("x",)),
    ("SELECT user_id FROM ref_pushes WHERE repo=? AND ref=? AND new=?", ("a", "b", "c")),
    # The deployment trace of each generate job: does this merge undo an earlier change?
    ("SELECT hld_sha FROM deployments WHERE rollback_pr=?", (1,)),
)


@pytest.mark.parametrize(("sql", "args"), PER_MERGE_QUERIES)
def test_per_merge_lookups_are_index_searches(tmp_path: Path, sql: str,
                                              args: tuple[Any, ...]) -> None:
    ws = init_workspace(tmp_path / "ws")
    plan = " | ".join(r["detail"] for r in ws.store.query(f"EXPLAIN QUERY PLAN {sql}", *args))
    assert "SCAN" not in plan, plan
