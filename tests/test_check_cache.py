"""Issue 10, point 2: a PR check costs what the PR changed. Lint only the files the PR
touches, generated manifests cached by HLD tree (the base is never rebuilt), validation
of unchanged objects reused; a damaged cache entry is never trusted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandbox.facade import Sandbox
from sandbox.pipelines import CIRunner, enqueue
from sandbox.validation.cache import CheckCache

CONFIG_ONE = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: demo\n" \
    "data:\n  A: '1'\n"


def check(sb: Sandbox, runner: CIRunner, branch: str, files: dict[str, str]) -> str:
    sb.commit_files(branch, files, f"Change {branch}")
    pr = sb.open_pr(branch)
    runner.run_pending()
    state = sb.get_pr(pr.id)
    return state.checks_state


def web_change(sb: Sandbox, text: str) -> dict[str, str]:
    return {"web/deployment.yaml": sb.hld_file("web/deployment.yaml") + f"# {text}\n"}


def test_a_pr_touching_one_file_lints_one_file(sb: Sandbox) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    assert check(sb, runner, "one", web_change(sb, "first")) == "success"
    assert runner.cache.stats["lint.files"] == 1
    # Two files touched: two linted, the rest keep what their last lint said.
    before = runner.cache.stats["lint.files"]
    files = {**web_change(sb, "second"), "web/extra.yaml": CONFIG_ONE}
    assert check(sb, runner, "two", files) == "success"
    assert runner.cache.stats["lint.files"] - before == 2


def test_lint_findings_of_untouched_files_stay_in_the_report(sb: Sandbox) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flag\n  namespace: demo\n" \
        "data:\n  ON: 'x'\n  enabled: yes\n"
    assert check(sb, runner, "bad", {"web/flag.yaml": bad}) == "failure"
    job = sb.jobs(1)[0]
    assert any("web/flag.yaml:8" in f and "truthy" in f for f in job["result"]["findings"])
    # The same branch moves on: the touched file is linted again, the finding stays.
    sb.commit_files("bad", web_change(sb, "more"), "More")
    sb.prs.update_head(1, sb.branches()["bad"])
    enqueue(sb.ws, "validate", pr=1, sha=sb.branches()["bad"])
    before = runner.cache.stats["lint.files"]
    runner.run_pending()
    assert runner.cache.stats["lint.files"] - before == 1
    job = sb.jobs(1)[0]
    assert any("web/flag.yaml:8" in f and "truthy" in f for f in job["result"]["findings"])
    assert sb.get_pr(1).checks_state == "failure"


def test_a_second_check_of_an_unchanged_base_reuses_the_cache(sb: Sandbox) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    assert check(sb, runner, "one", web_change(sb, "first")) == "success"
    assert runner.cache.stats["generate.build"] == 2  # the head, then the base
    validated = runner.cache.stats["validate.miss"]
    assert check(sb, runner, "two", web_change(sb, "second")) == "success"
    # Only the new head was built: the base came from the cache.
    assert runner.cache.stats["generate.build"] == 3
    # Comments do not change an object: nothing needed validating again.
    assert runner.cache.stats["validate.miss"] == validated
    # A fresh runner (an engine restart) finds the cache in the workspace.
    again = CIRunner(sb.ws, sb.bus, sb.prs)
    assert check(sb, again, "three", web_change(sb, "third")) == "success"
    assert again.cache.stats["generate.build"] == 1


def test_the_merged_head_is_not_generated_again(sb: Sandbox) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    assert check(sb, runner, "one", web_change(sb, "first")) == "success"
    sb.approve_pr(1, "reviewer")
    merged = sb.merge_pr(1, "operator")
    builds = runner.cache.stats["generate.build"]
    job = enqueue(sb.ws, "generate", sha=str(merged.merge_sha))
    runner.run_pending()
    assert sb.job(job)["status"] == "success"
    assert "reused from the cache" in sb.job(job)["log"]
    assert runner.cache.stats["generate.build"] == builds


@pytest.mark.parametrize("damage", ["tampered", "truncated", "garbage file"])
def test_a_damaged_cache_entry_is_not_trusted(sb: Sandbox, damage: str) -> None:
    runner = CIRunner(sb.ws, sb.bus, sb.prs)
    assert check(sb, runner, "one", web_change(sb, "first")) == "success"
    runner.cache.close()
    path = sb.root / "cache" / "cache.db"
    if damage == "garbage file":
        path.write_bytes(b"not a database" * 100)
    else:
        with sqlite3.connect(path) as db:
            for key, value in db.execute("SELECT key, value FROM entries WHERE ns='generate'"):
                value = bytes(value)
                changed = (value.replace(b"replicas", b"replicaz") if damage == "tampered"
                           else value[: len(value) // 2])
                db.execute("UPDATE entries SET value=? WHERE key=?", (changed, key))
    fresh = CIRunner(sb.ws, sb.bus, sb.prs)
    assert check(sb, fresh, "two", web_change(sb, "second")) == "success"
    # The base was rebuilt rather than read from the damaged entry.
    assert fresh.cache.stats["generate.build"] == 2
    if damage != "garbage file":
        assert fresh.cache.stats["rejected"] >= 1
    job = sb.jobs(1)[0]
    assert "replicaz" not in job["log"] and "0 removed" in job["result"]["diff_summary"]


def test_the_cache_stays_within_its_size(tmp_path: Path) -> None:
    cache = CheckCache(tmp_path / "cache", max_bytes=20_000)
    for i in range(100):
        cache.put("lint", f"k{i}", ["x" * 1000])
    assert cache.size() <= 20_000
    assert cache.stats["evicted"] > 0
    assert cache.get("lint", "k99") == ["x" * 1000]  # the newest stay
    assert cache.get("lint", "k0") is None


def test_a_write_does_not_sum_the_whole_cache(tmp_path: Path) -> None:
    cache = CheckCache(tmp_path / "cache", max_bytes=10_000_000)
    cache.put("lint", "first", ["x"])
    sums: list[str] = []
    cache._open().set_trace_callback(lambda sql: sums.append(sql) if "sum(size)" in sql else None)
    for i in range(200):
        cache.put("lint", f"k{i}", ["x" * 100])
    assert 0 < len(sums) <= 200 // 32  # now and then, as a safety net for other writers
    cache._open().set_trace_callback(None)
    # Another writer of the same file: its entries count once this one sums again.
    other = CheckCache(tmp_path / "cache", max_bytes=10_000_000)
    for i in range(100):
        other.put("lint", f"o{i}", ["y" * 1000])
    small = CheckCache(tmp_path / "cache", max_bytes=50_000)
    for i in range(70):
        small.put("lint", f"s{i}", ["z"])
    assert small.size() <= 50_000


def test_a_commit_listing_names_the_same_yaml_files_as_a_walk(tmp_path: Path) -> None:
    from sandbox.validation.lint import listed_yaml_files, yaml_files

    names = ["a.yaml", "b/c.yml", "b/templates/x.yaml", "b/Chart.yaml", "templates/y.yaml",
             ".hidden/z.yaml", "components/q.yaml", "d/templates/e.yaml", "x.txt", "Chart.yml",
             "generated/prod/all.yaml"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a: 1\n")
    walked = [p.relative_to(tmp_path).as_posix() for p in yaml_files(tmp_path)]
    assert listed_yaml_files(names) == walked
    assert "templates/y.yaml" not in walked and "d/templates/e.yaml" in walked
