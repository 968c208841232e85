"""The git server itself: its port is kept across starts (and moved, with a notice, when
taken), large pushes arrive in chunks, and a ready clone pushes in one command."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from sandbox.gitserver import remote
from sandbox.gitserver.http import GitServer
from sandbox.gitutil import refs
from sandbox.workspace import Workspace, init_workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "component.yaml").write_text("name: tiny\n")
    return init_workspace(tmp_path / "ws", sample=sample)


def test_the_port_is_kept_across_starts_and_moved_with_a_notice_when_taken(
        ws: Workspace) -> None:
    recorded = remote.recorded_port(ws.root)
    assert recorded
    server = GitServer(ws.root).start()
    assert server.port == recorded and server.url == remote.server_url(ws.root)
    server.stop()
    again = GitServer(ws.root).start()
    assert again.port == recorded
    again.stop()

    said: list[tuple[str, str]] = []
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", recorded))
        squatter.listen()
        moved = GitServer(ws.root, lambda kind, msg, data: said.append((kind, msg))).start()
        try:
            assert moved.port != recorded
            assert remote.recorded_port(ws.root) == moved.port
            assert said[0][0] == "gitserver.moved"
            assert f"port {recorded} is taken" in said[0][1] and moved.url in said[0][1]
        finally:
            moved.stop()


def test_commands_that_need_the_server_say_how_to_start_it(ws: Workspace) -> None:
    with pytest.raises(remote.ServerDown, match=f"gitops-sandbox up -w {ws.root}"):
        remote.require_server(ws.root)


def test_a_chunked_push_and_a_ready_clone(ws: Workspace, serve, clone_as) -> None:  # type: ignore[no-untyped-def]
    serve(ws.root)
    clone = clone_as(ws.root, "operator")
    assert subprocess.run(["git", "config", "user.name"], cwd=clone, capture_output=True,
                          text=True).stdout.strip() == "operator"
    (clone / "big.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    subprocess.run(["git", "add", "-A"], cwd=clone, check=True)
    subprocess.run(["git", "commit", "-qm", "Big"], cwd=clone, check=True)
    # A tiny post buffer makes git send the pack with chunked transfer encoding.
    proc = subprocess.run(["git", "-c", "http.postBuffer=4096", "push", "-q", "origin",
                           "HEAD:big"], cwd=clone, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True,
                          text=True).stdout.strip()
    assert refs(ws.hld_git)["refs/heads/big"] == head


def test_a_workspace_from_before_users_is_upgraded(ws: Workspace) -> None:
    from sandbox.facade import Sandbox
    from sandbox.users import SECRET_FILE

    with ws.store.tx() as db:
        for table in ("tokens", "ref_pushes", "users"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
    (ws.root / SECRET_FILE).unlink()
    sb = Sandbox(ws.root)
    assert sb.user.name == "operator"
    assert {u.name for u in sb.list_users()} >= {"operator", "reviewer", "generate-bot"}
    assert (ws.root / SECRET_FILE).is_file()
    main = refs(ws.manifests_git)["refs/heads/main"]
    assert sb.users.pusher_of("manifests", "refs/heads/main", main).name == "generate-bot"
