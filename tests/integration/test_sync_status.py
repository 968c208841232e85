"""Sync status in Flux's terms, damage the sandbox cannot repair shown one line each,
and `--wait` reporting this change's manifest commit, sync and health."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import cli, cli_flow, repair
from sandbox.engine import EngineError
from sandbox.facade import Sandbox
from sandbox.gitutil import git
from sandbox.pipelines import manifest_commit_for
from sandbox.workspace import EngineLock

from .ci_push import push_as_ci
from .waits import until


def push_manifests(sb: Sandbox, rel: str, text: str) -> str:
    def edit(work: Path) -> None:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)

    return push_as_ci(sb, edit, "By hand")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


BAD = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad, namespace: demo}\n" \
      "spec: {replicas: lots}\n"


def test_failed_reconcile_is_ready_false_with_both_revisions(
        running: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    sb = running
    good = sb.sync_status()["last_applied"]
    assert sb.sync_status()["reason"] == "ReconciliationSucceeded"
    bad = push_manifests(sb, "prod/bad.yaml", BAD)
    status = until(lambda: (s := sb.sync_status())["last_attempted"] == bad and
                   s["reason"] == "ReconciliationFailed" and s)
    assert status["ready_status"] == "False" and status["last_applied"] == good
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert status["lastAttemptedRevision"] == f"main@sha1:{bad}"
    assert any("behind" not in line and bad[:7] in line for line in status["behind"])
    sb.stop_engine()
    code, out, _ = run(capsys, "sync", "status", "-w", str(sb.root))
    assert code == 0
    assert "Ready False ReconciliationFailed" in out
    assert f"main@sha1:{good}" in out and f"main@sha1:{bad}" in out
    assert "behind main" in out
    code, out, _ = run(capsys, "status", "-w", str(sb.root))
    assert "Ready False ReconciliationFailed" in out and "behind" in out
    code, out, _ = run(capsys, "sync", "status", "--json", "-w", str(sb.root))
    assert '"reason": "ReconciliationFailed"' in out


def test_missing_hook_and_missing_object_are_shown_with_what_to_do(
        running: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    sb = running
    # Converged first: no generate job is left to trip over the broken repository.
    sb.stop_engine()
    (sb.ws.hld_git / "hooks" / "pre-receive").unlink()
    main_ref = sb.ws.manifests_git / "refs" / "heads" / "main"
    good = git("rev-parse", "refs/heads/main", git_dir=sb.ws.manifests_git).strip()
    git("pack-refs", "--all", git_dir=sb.ws.manifests_git)
    main_ref.parent.mkdir(parents=True, exist_ok=True)
    main_ref.write_text("1" * 40 + "\n")
    code, out, _ = run(capsys, "status", "-w", str(sb.root))
    problems = [line for line in out.splitlines() if line.startswith("problem:")]
    assert len(problems) == 2, out
    assert any("pre-receive hook is missing" in p and "gitops-sandbox up" in p
               for p in problems)
    assert any("missing object 1111111" in p and "update-ref" in p for p in problems)
    assert "manifests   main unreadable, " in out
    code, out, _ = run(capsys, "sync", "status", "-w", str(sb.root))
    assert sum(line.startswith("problem:") for line in out.splitlines()) == 2
    sb.start_engine()
    until(lambda: sb.sync_status()["reason"] == "DependencyNotReady")
    assert (sb.ws.hld_git / "hooks" / "pre-receive").is_file()  # repaired on start
    # With an engine running, starting one is no advice: it must be restarted. (A running
    # engine puts the hook back within a second, so the line is read with it stopped.)
    sb.stop_engine()
    (sb.ws.hld_git / "hooks" / "pre-receive").unlink()
    assert any("pre-receive hook is missing" in p and "restart the engine" in p
               for p in repair.damage(sb.ws, None, running=True))
    sb.start_engine()
    assert not sb.events(kinds=("engine.error",))
    main_ref.write_text(good + "\n")
    sb.reconcile_now()
    until(lambda: sb.sync_status()["reason"] == "ReconciliationSucceeded")
    assert sb.damage() == []


def test_a_lock_held_by_a_dead_process_or_a_replaced_database_is_reported(
        sandbox: Sandbox) -> None:
    sb = sandbox
    lock = EngineLock(sb.ws.lock_path)
    assert lock.acquire("db=1:2\n")  # as an engine that opened another state.db
    try:
        assert any("state.db was deleted or replaced" in line for line in sb.damage())
        dead = subprocess.Popen(["true"])
        dead.wait()
        sb.ws.lock_path.write_text(f"{dead.pid}\n")
        assert any(f"names pid {dead.pid}, which is not running" in line
                   for line in sb.damage())
    finally:
        lock.release()
    assert sb.damage() == []


def test_deleted_lock_is_recreated_so_no_second_engine_starts(running: Sandbox) -> None:
    sb = running
    sb.ws.lock_path.unlink()
    until(lambda: sb.events(kinds=("engine.warning",)))
    assert sb.ws.lock_path.exists()
    with pytest.raises(EngineError, match="already runs"):
        Sandbox(sb.root).start_engine()


def test_running_engine_puts_a_deleted_hook_back(running: Sandbox) -> None:
    sb = running
    hook = sb.ws.hld_git / "hooks" / "pre-receive"
    hook.unlink()
    until(lambda: any("hook" in e.message for e in sb.events(kinds=("engine.repaired",))))
    assert hook.is_file() and sb.damage() == []


def test_replaced_database_stops_the_engine(running: Sandbox) -> None:
    sb = running
    engine = sb.engine
    assert engine is not None
    (sb.root / "state.db").rename(sb.root / "state.db.moved")
    until(lambda: engine.fatal)
    assert "state.db was deleted or replaced" in (engine.fatal or "")


def test_malformed_database_is_one_clear_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ws"
    # Made in another process, so that no connection here remembers the good file.
    subprocess.run([sys.executable, "-m", "sandbox.cli", "init", "-w", str(root)],
                   check=True, capture_output=True)
    (root / "state.db").write_bytes(b"SQLite format 3\x00" + b"\x07" * 3000)
    code, out, err = run(capsys, "status", "-w", str(root))
    assert code == 1 and out == "", (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "state.db" in lines[0] and "mv state.db" in lines[0], err
    assert "Traceback" not in err


def test_failed_build_diff_says_so_instead_of_removing_everything(running: Sandbox) -> None:
    sb = running
    for branch, path in (("broken-file", "web/deployment.yaml"), ("broken-hld", "component.yaml")):
        sb.commit_files(branch, {path: "kind: Deployment\n  bad: [\n"}, "Break")
        pr = sb.open_pr(branch, f"Break {path}")
        assert sb.wait_for_checks(pr.id, 60).checks_state == "failure"
        diff = sb.pr_diff(pr.id)["manifests"]
        assert "build failed" in diff and "removed" not in diff, diff


def test_configmap_only_merges_wait_for_their_own_manifest_commit(running: Sandbox) -> None:
    sb = running
    for i in range(25):
        branch = f"level-{i}"
        sb.change(branch, [f"logLevel=level{i}"], subcomponent="config")
        pr = sb.open_pr(branch, f"Log level {i}")
        assert sb.wait_for_checks(pr.id, 60).checks_state == "success"
        sb.approve_pr(pr.id, "reviewer")
        merged = sb.merge_pr(pr.id)
        dep = sb.wait_for_deployment(merged.merge_sha or "", 60)
        expected = manifest_commit_for(sb.ws.manifests_git, merged.merge_sha or "")
        assert expected and dep["manifest_sha"] == expected, (i, dep)
        assert dep["sync_status"] == "synced" and dep["health"] == "Healthy", (i, dep)
        assert dep["health_check"] == "Passed"
        # Healthy always comes with the moment it was so, after the merge.
        assert float(dep["healthy"]) >= float(dep["generated"]), (i, dep)


def test_wait_timeout_names_the_stage(running: Sandbox, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    sb = running
    sb.suspend()
    sb.change("held", ["logLevel=held"], subcomponent="config")
    pr = sb.open_pr("held", "Held back")
    sb.wait_for_checks(pr.id, 60)
    sb.approve_pr(pr.id, "reviewer")
    # Suspended, the sync never comes: the wait ends at the sync stage whatever its
    # length, so it is long enough for the generate job (a clone and a push) under load.
    code, out, err = run(capsys, "pr", "merge", str(pr.id), "--wait", "15", "-w", str(sb.root))
    assert code == 1 and "merged into main" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("timed out:"), err
    assert "stuck at " in lines[0] and "{" not in lines[0]
    # On a loaded machine the 1 s wait may end while the generate job still runs; the
    # stage this test is about comes once the manifest commit exists, so wait for that.
    merged = sb.get_pr(pr.id).merge_sha or ""
    until(lambda: manifest_commit_for(sb.ws.manifests_git, merged))
    with pytest.raises(TimeoutError) as caught:
        cli_flow._wait_deploy(sb, merged, 0.5)
    assert "stuck at sync of manifests" in str(caught.value) and "{" not in str(caught.value)


def test_a_change_applied_with_a_later_one_reports_superseded(running: Sandbox) -> None:
    sb = running
    sb.suspend()
    merged: list[str] = []
    for i, (setting, where) in enumerate((("logLevel=a", "config"), ("replicas=3", "web"))):
        sb.change(f"both-{i}", [setting], subcomponent=where)
        pr = sb.open_pr(f"both-{i}", f"Change {i}")
        assert sb.wait_for_checks(pr.id, 60).checks_state == "success"
        sb.approve_pr(pr.id, "reviewer")
        sha = sb.merge_pr(pr.id).merge_sha or ""
        until(lambda sha=sha: (sb.deployment(sha) or {}).get("manifest_sha"))
        merged.append(sha)
    sb.resume()
    second = sb.wait_for_deployment(merged[1], 60)
    first = sb.wait_for_deployment(merged[0], 60)
    assert first["sync_status"] == "superseded"
    assert first["synced_in"] == second["manifest_sha"] != first["manifest_sha"]


def test_a_passed_health_check_dates_healthy_when_the_app_event_is_missing(
        running: Sandbox) -> None:
    # The app can stay Healthy across a change (no health.changed of its own), or that
    # event can come after the check: the trace still says when the change was Healthy.
    sb = running
    sb.change("dated", ["logLevel=dated"], subcomponent="config")
    pr = sb.open_pr("dated", "Dated")
    assert sb.wait_for_checks(pr.id, 60).checks_state == "success"
    sb.approve_pr(pr.id, "reviewer")
    sha = sb.merge_pr(pr.id).merge_sha or ""
    assert sb.wait_for_deployment(sha, 60)["health"] == "Healthy"
    with sb.ws.store.tx() as db:
        db.execute("UPDATE deployments SET healthy=NULL WHERE hld_sha=?", (sha,))
    done, dep, _ = sb.deployment_progress(sha)
    check = sb.events(kinds=("health.check",))
    passed = [e.ts for e in check if e.data.get("revision") == dep["manifest_sha"]]
    assert done and dep["health"] == "Healthy" and dep["healthy"] == passed[-1]
