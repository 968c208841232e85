"""The generate job commits what changed: a one-service change writes one manifest
file, whatever the size of the HLD, and the tree it commits is the one a fresh
generation (no cache, every file written) gives."""

from __future__ import annotations

from pathlib import Path

from sandbox import hld as hldlib
from sandbox.facade import Sandbox
from sandbox.gitutil import export_tree, git
from sandbox.manifestcommit import blob_id, output_files
from sandbox.pipelines import CIRunner, enqueue


def generate(sb: Sandbox, runner: CIRunner, sha: str) -> dict:  # type: ignore[type-arg]
    job = enqueue(sb.ws, "generate", sha=sha)
    runner.run_pending()
    row = sb.job(job)
    assert row["status"] == "success", row["log"]
    return row


def merge(sb: Sandbox, runner: CIRunner, branch: str) -> str:
    pr = sb.open_pr(branch)
    runner.run_pending()  # its check
    sb.approve_pr(pr.id, "reviewer")
    return str(sb.merge_pr(pr.id, "operator").merge_sha)


def committed(sb: Sandbox) -> dict[str, str]:
    """path -> blob id of every file of manifests.git main."""
    out = {}
    for item in git("ls-tree", "-r", "-z", "refs/heads/main",
                    git_dir=sb.ws.manifests_git).split("\0"):
        meta, _, path = item.partition("\t")
        if meta:
            out[path] = meta.split()[2]
    return out


def fresh(sb: Sandbox, sha: str, tmp: Path) -> dict[str, str]:
    """What a generation from nothing gives for an HLD commit: path -> blob id."""
    export_tree(sb.ws.hld_git, sha, tmp / "hld")
    envs = sb.ws.settings.environments
    result = hldlib.generate(tmp / "hld", envs)
    return {p: blob_id(d) for p, d in output_files(result, "-".join(envs)).items()}


def test_a_one_service_change_writes_one_file(sb: Sandbox, tmp_path: Path) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    generate(sb, runner, sb.branches()["main"])
    first = runner.files_written
    assert first >= 4  # the first generation writes every component's file
    sb.change("scale-web", ["replicas=3"], subcomponent="web")
    sha = merge(sb, runner, "scale-web")
    written = runner.files_written
    row = generate(sb, runner, sha)
    assert runner.files_written - written == 1
    assert "1 manifest file(s) written, 0 removed" in row["log"]
    env_files = {p: b for p, b in committed(sb).items()
                 if p.startswith("-".join(sb.ws.settings.environments) + "/")}
    assert env_files == fresh(sb, sha, tmp_path)
    # Generated again (a retry finds the same tree): nothing written, nothing committed.
    head = sb.ws.manifests_git
    before = git("rev-parse", "refs/heads/main", git_dir=head)
    sb.commit_files("main-noop", {"README.md": sb.hld_file("README.md") + "\nmore\n"},
                    "Docs only")
    noop = merge(sb, runner, "main-noop")
    written = runner.files_written
    row = generate(sb, runner, noop)
    assert runner.files_written == written
    assert "nothing to commit" in row["log"]
    assert git("rev-parse", "refs/heads/main", git_dir=head) == before


def test_a_removed_component_removes_its_file_only(sb: Sandbox, tmp_path: Path) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    generate(sb, runner, sb.branches()["main"])
    outside = {p: b for p, b in committed(sb).items() if "/" not in p}
    text = sb.hld_file("component.yaml")
    cut = text[:text.index("  - name: api")]
    sb.commit_files("drop-api", {"component.yaml": cut}, "Drop the api")
    sha = merge(sb, runner, "drop-api")
    written = runner.files_written
    row = generate(sb, runner, sha)
    assert runner.files_written == written
    assert "0 manifest file(s) written, 1 removed" in row["log"]
    files = committed(sb)
    env = "-".join(sb.ws.settings.environments)
    assert {p: b for p, b in files.items() if p.startswith(env + "/")} == fresh(sb, sha, tmp_path)
    # What the job does not generate stays as it was.
    assert {p: b for p, b in files.items() if "/" not in p} == outside
