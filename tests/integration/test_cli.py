"""The command line from a second terminal while `gitops-sandbox up` runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .waits import until

CLI = [sys.executable, "-m", "sandbox.cli"]


def cli(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    cli("init", "-w", str(path), "--speed", "50")
    return path


@pytest.fixture
def engine(ws: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([*CLI, "up", "-w", str(ws)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def healthy() -> bool:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        status = json.loads(cli("status", "-w", str(ws), "--json").stdout)
        return bool(status["health"]["app"] == "Healthy")

    until(healthy, 60, "the engine bringing the sample app up")
    yield proc
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def test_help_explains_commands() -> None:
    out = cli("--help").stdout
    for word in ("init", "up", "status", "pr", "image", "revert", "cluster", "events",
                 "generate"):
        assert word in out
    assert "--wait" in cli("pr", "merge", "--help").stdout


def test_init_refuses_an_existing_workspace(ws: Path) -> None:
    proc = cli("init", "-w", str(ws), check=False)
    assert proc.returncode == 1 and "--force" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_wait_without_an_engine_says_how_to_start_one(ws: Path, serve) -> None:  # type: ignore[no-untyped-def]
    refused = cli("change", "-w", str(ws), "more-web", "replicas=3", "-s", "web", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "git server" in refused.stderr and f"gitops-sandbox up -w {ws}" in refused.stderr
    server = serve(ws)  # the git server alone: pushes work, nothing runs the checks
    cli("change", "-w", str(ws), "more-web", "replicas=3", "-s", "web")
    server.stop()
    proc = cli("pr", "open", "-w", str(ws), "more-web", "--wait", "5", check=False)
    assert proc.returncode == 1
    assert "no engine is running" in proc.stderr and "gitops-sandbox up" in proc.stderr


def test_settings_are_checked_and_saved(ws: Path) -> None:
    w = ["-w", str(ws)]
    assert json.loads(cli("settings", *w, "--json").stdout)["failure_policy"] == "atomic"
    cli("settings", *w, "failure_policy", "partial")
    assert cli("settings", *w, "failure_policy").stdout.strip() == "partial"
    bad = cli("settings", *w, "failure_policy", "sometimes", check=False)
    assert bad.returncode == 1 and "atomic, partial" in bad.stderr
    bad = cli("settings", *w, "clock_speed", "fast", check=False)
    assert bad.returncode == 1 and "takes a float" in bad.stderr


def test_bad_input_is_one_clear_error(ws: Path, serve) -> None:  # type: ignore[no-untyped-def]
    serve(ws)
    for args, words in ((("pr", "show", "-w", str(ws), "42"), "no pull request #42"),
                        (("pr", "open", "-w", str(ws), "nope"), "not in the HLD repository"),
                        (("image", "push", "-w", str(ws), "Web!", "1"), "invalid repository"),
                        (("change", "-w", str(ws), "x", "zoo"), "zoo"),
                        (("change", "-w", str(ws), "bad..name", "replicas=2", "-s", "web"),
                         "not a valid branch name"),
                        (("change", "-w", str(ws), "x", "replicas=2", "-s", "nosuch"),
                         "no subcomponent 'nosuch'"),
                        (("generate", "--hld", str(ws / "nope")), "does not exist"),
                        (("status", "-w", str(ws / "missing")), "not a gitops-sandbox"),
                        (("--as", "mallory", "status", "-w", str(ws)), "no user 'mallory'"),
                        (("user", "add", "-w", str(ws), "Bad Name"), "not a valid user name"),
                        (("clone", "-w", str(ws), str(ws)), "not empty")):
        proc = cli(*args, check=False)
        assert proc.returncode != 0, args
        assert words in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_the_loop_from_a_second_terminal(ws: Path, engine: subprocess.Popen[str]) -> None:
    w = ["-w", str(ws)]
    second = cli("up", *w, check=False, timeout=30)
    assert second.returncode == 1 and "already runs" in second.stderr

    cli("change", *w, "scale-api", "replicas=3", "-s", "api", "-m", "Scale api")
    opened = cli("pr", "open", *w, "scale-api", "--title", "Scale api", "--wait", "60")
    assert "validate-manifests: success" in opened.stdout
    prs = json.loads(cli("pr", "list", *w, "--json").stdout)
    assert prs[0]["checks"] == "success" and prs[0]["state"] == "open"
    shown = cli("pr", "show", *w, "1").stdout
    assert "manifest diff" in shown and "Deployment/demo/api" in shown
    denied = cli("pr", "approve", *w, "1", check=False)  # as operator, who pushed it
    assert denied.returncode == 1 and "cannot approve" in denied.stderr
    assert "approved by reviewer" in cli("--as", "reviewer", "pr", "approve", *w, "1").stdout
    merged = cli("pr", "merge", *w, "1", "--wait", "60")
    assert "health Healthy" in merged.stdout

    pods = json.loads(cli("cluster", "get", "Pod", *w, "--json").stdout)
    api = [p for p in pods if p["metadata"]["name"].startswith("api-")]
    assert len(api) == 3
    assert "api" in cli("cluster", "get", "deployments", *w).stdout
    # Traffic only the live cluster knows: the engine in the other process is asked.
    metrics = json.loads(cli("cluster", "metrics", *w, "--json").stdout)
    assert "demo/api" in metrics and "rps" in metrics["demo/api"]

    pushed = cli("image", "push", *w, "web", "2.0.0", "--wait", "60")
    assert "release pull request #2" in pushed.stdout
    reverted = cli("revert", *w, "--wait", "60")
    assert "opened #3" in reverted.stdout

    events = [json.loads(line) for line in cli("events", *w, "--json", "--limit", "500")
              .stdout.splitlines()]
    kinds = {e["kind"] for e in events}
    assert {"pr.opened", "pr.merged", "sync.finished", "release.created"} <= kinds
    described = cli("cluster", "describe", *w, "deployment/web").stdout
    assert "web" in described and "Replicas" in described
    scaled = cli("cluster", "scale", *w, "deploy/web", "--replicas", "4")
    assert "kubectl -n demo scale deploy/web --replicas=4" in scaled.stdout
    assert "drift" in scaled.stdout
    cli("sync", "now", *w)
    sync = json.loads(cli("sync", "status", *w, "--json").stdout)
    assert sync["policy"] == "atomic" and "last_applied" in sync
    bad = cli("cluster", "scale", *w, "deploy/nope", "--replicas", "1", check=False)
    assert bad.returncode == 1 and "not found" in bad.stderr

    jobs = json.loads(cli("jobs", *w, "--json").stdout)
    assert {"validate", "generate", "release"} <= {j["kind"] for j in jobs}
    generate = next(j for j in jobs if j["kind"] == "generate")
    assert "committed manifests" in cli("jobs", *w, str(generate["id"])).stdout

    status = json.loads(cli("status", *w, "--json").stdout)
    assert status["user"]["name"] == "operator"
    assert status["git_server"]["answering"] is True
    assert status["manifests"]["flux_sync"] == status["manifests"]["main"]
    assert os.path.isdir(ws / "hld.git")


def test_users_whoami_and_a_ready_clone(ws: Path, engine: subprocess.Popen[str],
                                        tmp_path: Path) -> None:
    w = ["-w", str(ws)]
    assert cli("whoami", *w).stdout.startswith("operator (human")
    env_user = subprocess.run([*CLI, "whoami", *w, "--json"], capture_output=True, text=True,
                              env={**os.environ, "GITOPS_SANDBOX_USER": "reviewer"})
    assert json.loads(env_user.stdout)["name"] == "reviewer"
    added = cli("user", "add", *w, "dana").stdout
    assert "token (shown once" in added
    names = {u["name"]: u["role"] for u in json.loads(cli("user", "list", *w, "--json").stdout)}
    assert names["dana"] == "human" and names["release-bot"] == "bot"
    assert "you are     operator" in cli("status", *w).stdout

    clone = tmp_path / "mine"
    out = cli("clone", *w, str(clone), "--as", "dana").stdout
    assert "as dana" in out
    (clone / "notes.txt").write_text("from dana\n")
    git = ["git", "-C", str(clone)]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "Dana's notes"], check=True)
    pushed = subprocess.run([*git, "push", "-q", "origin", "HEAD:dana-notes"],
                            capture_output=True, text=True)
    assert pushed.returncode == 0, pushed.stderr  # one command: credentials are stored
    assert "gitops-sandbox-credentials" in subprocess.run(
        [*git, "config", "credential.helper"], capture_output=True, text=True).stdout
    cli("pr", "open", *w, "dana-notes")
    pr = json.loads(cli("pr", "list", *w, "--json").stdout)[-1]
    assert pr["author"] == "dana"
    refused = cli("--as", "dana", "pr", "approve", *w, str(pr["id"]), check=False)
    assert refused.returncode == 1 and "dana pushed to 'dana-notes'" in refused.stderr


FABRIKATE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "fabrikate"


def test_generate_and_hld_set_on_a_copy_of_the_sample(tmp_path: Path) -> None:
    import shutil

    hld = tmp_path / "hld"
    shutil.copytree(Path(__file__).resolve().parents[2] / "sandbox" / "sample" / "hld", hld)
    cli("hld", "set", "--hld", str(hld), "--env", "prod", "-s", "web", "image.tag=2.0.0")
    out = cli("generate", "prod", "--hld", str(hld), "--out", str(tmp_path / "out")).stdout
    assert "wrote 6 objects" in out
    web = (tmp_path / "out" / "prod" / "web" / "web.yaml").read_text()
    assert "localhost:5001/web:2.0.0" in web
    bad = cli("hld", "set", "--hld", str(hld), "zoo=zaa=wrong", check=False)
    assert bad.returncode == 1 and "zoo" in bad.stderr and "Traceback" not in bad.stderr
    refused = cli("hld", "set", "--hld", str(hld), "--no-new-config-keys", "brand.new=1",
                  check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr


def test_generate_matches_fabrikate_byte_counts(tmp_path: Path, fabrikate_fixtures: Path
                                               ) -> None:
    hld = fabrikate_fixtures / "master-0.17" / "testdata" / "generate-hooks"
    out = cli("generate", "prod", "--hld", str(hld), "--out", str(tmp_path / "g")).stdout
    assert "generate-hooks: 103 bytes" in out
    assert (tmp_path / "g" / "prod" / "generate-hooks.yaml").stat().st_size == 103
    broken = cli("generate", "--hld", str(fabrikate_fixtures / "master-0.17" / "testdata" /
                                          "badyamlcomponent"), check=False)
    assert broken.returncode == 1 and "component.yaml" in broken.stderr


def test_init_with_kind_names_what_is_missing(tmp_path: Path) -> None:
    from sandbox.cluster.kind import check_tools

    if not check_tools():
        pytest.skip("docker and kind are present: this checks the message when they are not")
    proc = cli("init", "-w", str(tmp_path / "k"), "--cluster", "kind", check=False)
    assert proc.returncode == 1 and "--cluster kind needs" in proc.stderr
    assert "kind" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "k").exists()
