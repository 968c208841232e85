"""Issue 10, point 2, as the ladder measures it: the first check of a new branch on an
engine that has just started costs what the PR changed. The generate job that built
main's manifests leaves them (per component), their validation and the check's folder
ready; all of it is on disk, so an engine restart keeps it; a change of the tools'
versions or of a shared file gives what a build from nothing gives. Counters, never
clocks."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.ladder import build_hld
from sandbox import ci_builds, limits
from sandbox.facade import Sandbox
from sandbox.gitserver.http import GitServer
from sandbox.gitutil import export_tree
from sandbox.hld import generate
from sandbox.manifestdiff import diff_objects
from sandbox.pipelines import CIRunner, enqueue
from sandbox.validation import cache as cache_module
from sandbox.workspace import init_workspace

GROUPS = 12  # static components, one service (3 objects) each, plus the namespace


@pytest.fixture
def big(tmp_path: Path, serve: Callable[[Path], GitServer]) -> Iterator[Sandbox]:
    """A ladder HLD whose objects no other test makes (its own namespace): what this
    process validated for another test cannot stand in for the cache on disk."""
    hld = build_hld(tmp_path, GROUPS)
    namespace = f"t{uuid.uuid4().hex[:12]}"
    for name in ("config/common.yaml", "namespace/namespace.yaml"):
        path = hld / name
        path.write_text(path.read_text().replace("bench", namespace))
    init_workspace(tmp_path / "ws", sample=hld)
    sandbox = Sandbox(tmp_path / "ws")
    serve(sandbox.root)
    yield sandbox
    sandbox.close()


GENERATE_MAIN = """
import sys
from sandbox.facade import Sandbox
from sandbox.pipelines import CIRunner, enqueue
sb = Sandbox(sys.argv[1])
runner = CIRunner(sb.ws, sb.bus, sb.prs)
job = enqueue(sb.ws, "generate", sha=sb.branches()["main"])
runner.run_pending()
row = sb.job(job)
assert row["status"] == "success", row["log"]
print(runner.cache.stats["warm.validated"])
"""


def generate_main_elsewhere(sb: Sandbox) -> int:
    """main's generate job in another process (an engine that then stops); returns how
    many objects it validated into the cache."""
    done = subprocess.run([sys.executable, "-c", GENERATE_MAIN, str(sb.root)],
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def generate_main(sb: Sandbox, runner: CIRunner) -> None:
    job = enqueue(sb.ws, "generate", sha=sb.branches()["main"])
    runner.run_pending()
    assert sb.job(job)["status"] == "success"


def first_check(sb: Sandbox, runner: CIRunner, branch: str,
                assignments: list[str] | None = None, env: str | None = None,
                new_key: bool = False) -> dict[str, Any]:
    """A new branch with a one-line change of one service, its PR and its check."""
    sb.change(branch, assignments or ["replicas.s0000=2"], env=env, subcomponent="grp-0000",
              new_key=new_key)
    pr = sb.open_pr(branch)
    runner.run_pending()
    job = sb.jobs(1)[0]
    assert job["kind"] == "validate" and job["params"]["pr"] == pr.id
    return job


def full_diff(sb: Sandbox, tmp_path: Path, branch: str) -> str:
    """The diff of main and the branch, both generated from nothing, without a cache."""
    built = []
    for name, ref in (("base", "main"), ("head", branch)):
        export_tree(sb.ws.hld_git, sb.branches()[ref], tmp_path / name)
        built.append([d.obj for d in generate(tmp_path / name,
                                              sb.ws.settings.environments).documents])
    return diff_objects(*built).text()


def test_a_fresh_engines_first_check_reuses_what_mains_generate_job_made(
        big: Sandbox) -> None:
    objects = 1 + 3 * GROUPS
    assert generate_main_elsewhere(big) == objects
    # A fresh engine (this process never saw these objects): its first check.
    runner = CIRunner(big.ws, big.bus, big.prs)
    job = first_check(big, runner, "one")
    assert job["status"] == "success", job["log"]
    stats = runner.cache.stats
    assert stats["component.build"] == 1  # grp-0000; the other 12 come from the cache
    assert stats["generate.build"] == 1  # the head; main's tree was built by its job
    # Only the changed Deployment is validated; the other objects' answers are on disk.
    assert stats["validate.miss"] == 1
    assert stats["validate.hit"] == objects - 1
    assert "(1 files written for the checkout)" in job["log"]
    assert f"(1 of {GROUPS + 2} components changed: their 3 of {objects} objects " \
           "compared)" in job["log"]


def test_a_first_check_touching_one_file_reads_lints_and_keys_what_it_changed(
        big: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox import manifestdiff

    runner = CIRunner(big.ws, big.bus, big.prs)
    generate_main(big, runner)  # and its warm-up
    scanned: list[str] = []
    keyed: list[object] = []
    real_scan, real_key = limits._nesting_depth, manifestdiff.object_key
    monkeypatch.setattr(limits, "_nesting_depth",
                        lambda text, limit: scanned.append(text) or real_scan(text, limit))
    monkeypatch.setattr(manifestdiff, "object_key", lambda obj: keyed.append(obj) or real_key(obj))
    job = first_check(big, runner, "one")
    assert job["status"] == "success", job["log"]
    # One file changed (config/prod.yaml): one linted, no other file looked up or read.
    assert runner.cache.stats["lint.files"] == 1
    assert runner.cache.stats["lint.looked"] == 1
    # Its nesting asked by the bounds, the generator and its config reads: one scan; the
    # root's definition and the one regenerated group's files are the only others.
    assert big.hld_file("config/prod.yaml", ref="one") in scanned
    assert len(scanned) == len(set(scanned)) <= 5
    # The diff compared the changed component only, its 3 objects keyed, head and base,
    # by the diff and by the test for duplicates: main's warm-up keyed the others.
    assert "(1 of" in job["log"]
    assert 0 < len(keyed) <= 4 * 3


def test_new_tool_versions_rebuild_everything_and_give_a_full_rebuilds_diff(
        big: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate_main(big, CIRunner(big.ws, big.bus, big.prs))
    # An upgrade of the generator, yamllint or kubernetes-validate: nothing is reused.
    monkeypatch.setattr(cache_module, "tools_version", lambda: "a newer toolchain")
    runner = CIRunner(big.ws, big.bus, big.prs)
    job = first_check(big, runner, "one")
    assert job["status"] == "success", job["log"]
    # The head's 13 static components, then main's grp-0000 (the rest are the head's).
    assert runner.cache.stats["component.build"] == GROUPS + 2
    assert runner.cache.stats["validate.hit"] == 0
    assert job["result"]["diff"] == full_diff(big, tmp_path / "full", "one")


def test_a_shared_config_file_edit_gives_a_full_rebuilds_diff_and_lines(
        big: Sandbox, tmp_path: Path) -> None:
    runner = CIRunner(big.ws, big.bus, big.prs)
    generate_main(big, runner)
    built = runner.cache.stats["component.build"]
    # config/common.yaml is read by every group: a key added to the first group's part
    # moves every later part down; the first group's replicas is also out of bounds.
    job = first_check(big, runner, "shared", ["replicas.s0000=5000", "extra.note=x"],
                      env="common", new_key=True)
    assert runner.cache.stats["component.build"] - built == 1
    assert job["result"]["diff"] == full_diff(big, tmp_path / "full", "shared")
    # The same part, moved down a line: reused, its bad value reported at its new line.
    built = runner.cache.stats["component.build"]
    common = "# moved\n" + big.hld_file("config/common.yaml", ref="shared")
    big.commit_files("shared-2", {"config/common.yaml": common}, "Moved")
    pr = big.open_pr("shared-2")
    runner.run_pending()
    job = big.jobs(1)[0]
    assert job["params"]["pr"] == pr.id and job["status"] == "failure"
    [where] = {f.split(":")[1] for f in job["result"]["findings"]
               if f.startswith("config/common.yaml:")}
    assert common.splitlines()[int(where) - 1].strip() == 's0000: "5000"'
    assert runner.cache.stats["component.build"] == built


def test_an_untouched_files_lint_findings_come_from_the_bases_check(big: Sandbox) -> None:
    runner = CIRunner(big.ws, big.bus, big.prs)
    generate_main(big, runner)
    # A file with a style warning passes its check and is merged.
    noisy = big.hld_file("grp-0001/svc-0001-configmap.yaml") + "# trailing   \n"
    big.commit_files("noisy", {"grp-0001/svc-0001-configmap.yaml": noisy}, "Noisy")
    pr = big.open_pr("noisy")
    runner.run_pending()
    assert big.get_pr(pr.id).checks_state == "success"
    big.approve_pr(pr.id, "reviewer")
    big.merge_pr(pr.id, "operator")
    # The next branch does not touch it: not linted, its warning still reported.
    job = first_check(big, runner, "other")
    assert runner.cache.stats["lint.looked"] == 2  # the noisy file's check, then this one
    assert any(f.startswith("grp-0001/svc-0001-configmap.yaml:") and "trailing" in f
               for f in job["result"]["findings"])


def test_a_check_queued_during_the_warm_up_runs_after_one_slice_of_it(
        big: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ci_builds, "WARM_SLICE", 5)
    runner = CIRunner(big.ws, big.bus, big.prs)
    warm = runner.warm_up.step
    opened: list[int] = []

    def warm_then_open() -> None:
        warm()
        if not opened and runner.cache.stats["warm.validated"]:
            # The user opens a PR while main's objects are being validated.
            big.change("one", ["replicas.s0000=2"], subcomponent="grp-0000")
            opened.append(big.open_pr("one").id)

    monkeypatch.setattr(runner.warm_up, "step", warm_then_open)
    validate = runner.handlers["validate"]
    warmed_then: list[int] = []

    def counted(params: dict[str, Any], log: Any) -> dict[str, Any]:
        warmed_then.append(runner.cache.stats["warm.validated"])
        return validate(params, log)

    runner.handlers["validate"] = counted
    generate_main(big, runner)
    assert warmed_then == [5]  # the check waited for one slice, not for all of it
    assert not runner.warm_up.pending()  # and the warm-up went on after it
    assert big.get_pr(opened[0]).checks_state == "success"
