"""Big YAML files are linted in parts (sandbox/validation/lintchunks.py, lintparts.py):
the findings must be yamllint's on the whole file, for real files, random edits of them
and generated nested mappings, under several configurations; a PR's check then lints
only the parts it changed. Counters and comparisons, never clocks."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from yamllint import linter
from yamllint.config import YamlLintConfig

from bench.ladder import build_hld
from sandbox.facade import Sandbox
from sandbox.gitserver.http import GitServer
from sandbox.pipelines import CIRunner, enqueue
from sandbox.validation import lintparts
from sandbox.validation.lint import LINT_CONFIG, default_config
from sandbox.validation.lintchunks import Problem, assemble, lint_part, plan
from sandbox.workspace import init_workspace

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
CONFIGS = {
    "ours": LINT_CONFIG,
    "strict": "extends: default\nrules:\n"
              "  indentation: {spaces: 2, indent-sequences: whatever}\n"
              "  comments-indentation: enable\n  document-start: {present: true}\n"
              "  empty-values: enable\n  truthy: enable\n  line-length: {max: 40}\n"
              "  empty-lines: {max: 1}\n",
    "multi-line": "extends: default\nrules:\n"
                  "  indentation: {spaces: consistent, indent-sequences: false,\n"
                  "                check-multi-line-strings: true}\n"
                  "  document-start: disable\n"
                  "  quoted-strings: {quote-type: double, required: only-when-needed}\n",
}


def whole(text: str, config: YamlLintConfig) -> list[Problem]:
    return sorted({(p.line, p.column, str(p.level), str(p.rule), p.desc)
                   for p in linter.run(text, config, "f.yaml")})


def in_parts(text: str, config: YamlLintConfig, split: int) -> list[Problem] | None:
    cut = plan(text, config, "f.yaml", split)
    if cut is None:
        return None
    found = []
    for part in cut.parts:
        problems = lint_part(part, cut.config, "f.yaml")
        assert problems is not None, f"a part's document does not parse:\n{part.doc}"
        found.append(problems)
    return assemble(cut, found)


def corpus() -> list[str]:
    files = [*FIXTURES.rglob("*.yaml"), *(ROOT / "tests" / "corpus").rglob("*.yaml"),
             *(ROOT / "sandbox" / "sample").rglob("*.yaml")]
    texts = [path.read_text("utf-8") for path in sorted(files)]
    assert len(texts) > 40  # the fixtures are there: this test must not pass on nothing
    return texts


def edit(text: str, rng: random.Random) -> str:
    """One to three random edits a person (or a bad merge) makes."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        line = lines[i]
        lines[i:i + 1] = rng.choice([
            [lines[rng.randrange(len(lines))], line], [], [" " + line],
            [line[1:] if line.startswith(" ") else line], [line + "  "], ["", line],
            [" " * rng.randrange(8) + "# note", line], [line + "  # c"],
            [line.replace(": ", ":  ", 1)], [line.replace("true", "on") + ""],
            [line + " x" * 30], [line, line],
        ])
    return "\n".join(lines)


def nested(rng: random.Random, depth: int = 0, indent: int = 0, step: int = 2) -> list[str]:
    """A random nested mapping: comments, blank lines, sequences, flows, block scalars,
    odd indentation, duplicate and truthy keys."""
    out: list[str] = []
    for _ in range(rng.randint(1, 5 if depth < 3 else 3)):
        key = rng.choice(["a", "b", "config", "svc-1", "svc-2", '"q k"', "'s'", "on"])
        if rng.random() < 0.15:
            out.append(" " * rng.choice([0, indent, indent + step]) + "# comment")
        if rng.random() < 0.12:
            out.append("")
        inner = indent + (step if rng.random() > 0.05 else rng.choice([1, 3, 4]))
        kind = rng.random()
        if depth < 4 and kind < 0.45:
            out.append(" " * indent + key + ":" + rng.choice(["", "", " # c", "  "]))
            out += nested(rng, depth + 1, inner, step)
        elif kind < 0.6:
            out.append(" " * indent + key + ":")
            out += [" " * rng.choice([indent, indent + step]) + "- "
                    + rng.choice(["x", "yes", "{a: 1}", "[1, 2]", "k: v"])
                    for _ in range(rng.randint(1, 3))]
        elif kind < 0.7:
            out += [" " * indent + key + ": |", " " * inner + "text", " " * inner + "more  "]
        elif kind < 0.8:
            out.append(" " * indent + key + ": {a: 1,b: 2, c: [1,2 ]}")
        else:
            out.append(" " * indent + key + ": " + rng.choice(
                ["1", "yes", "'x'", "", "on", "0777", "x" * 90, "a b  "]))
    return out


def test_parts_give_yamllints_findings_on_real_files_and_random_edits() -> None:
    rng = random.Random(7)
    texts = corpus()
    configs = {name: YamlLintConfig(text) for name, text in CONFIGS.items()}
    compared = 0
    for case in range(900):
        if case % 2:
            text = rng.choice(texts)
            text = edit(text, rng) if case % 3 else text
        else:
            lines = nested(rng, step=rng.choice([2, 2, 4, 3]))
            lines[:0] = rng.choice([[], ["---"], ["# head"], [""]])
            text = "\n".join(lines) + rng.choice(["\n", "", "\n\n\n"])
        name = rng.choice(sorted(configs))
        found = in_parts(text, configs[name], rng.choice([0, 1, 2, 5]))
        if found is None:
            continue
        compared += 1
        assert found == whole(text, configs[name]), f"config {name}:\n{text}"
    assert compared > 250  # most inputs were cut, not refused


@pytest.mark.parametrize("text", [
    "a: &x\n  b: 1\nc: *x\n",  # an alias may point anywhere
    "a: 1\n---\nb: 2\n",  # several documents
    "%YAML 1.2\n---\na: 1\n",  # a directive
    "a: 1\n...\n",  # an explicit end
    "a: 1  # yamllint disable-line\nb: 2\n",  # a directive to yamllint
    "? a\n: 1\n",  # an explicit key
    "- a\n- b\n",  # not a mapping
    "a:\tb\n",
    "a: 1\r\nb: 2\r\n",
    "a: caf\u00e9\n",
    "a: [1\n",  # not YAML
    "".join(f"{' ' * 2 * n}k{n}:\n" for n in range(400)) + " " * 800 + "v: 1\n",  # too deep
])
def test_what_reaches_across_parts_is_linted_whole(text: str) -> None:
    assert plan(text, default_config(), "f.yaml", 0) is None


@pytest.mark.parametrize("rules", ["key-ordering: enable",
                                   "quoted-strings: {quote-type: consistent}",
                                   "indentation: {indent-sequences: consistent}",
                                   "indentation: {spaces: consistent, indent-sequences: true}"])
def test_rules_that_compare_across_the_file_lint_it_whole(rules: str) -> None:
    config = YamlLintConfig(f"extends: default\nrules:\n  {rules}\n")
    assert plan("a:\n  b: 1\nc: 2\n", config, "f.yaml", 0) is None


def test_duplicate_keys_in_different_parts_are_found() -> None:
    text = "top:\n  a: 1\n  b:\n    c: 2\n  d: 3\n  b: 4\nother: 5\ntop: 6\n"
    config = default_config()
    found = in_parts(text, config, 0)
    assert found == whole(text, config)
    assert {(line, rule) for line, _c, _l, rule, _m in found} >= {
        (6, "key-duplicates"), (8, "key-duplicates")}


@pytest.fixture
def ladder(tmp_path: Path, serve: Callable[[Path], GitServer],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The ladder's HLD of 20 services; its config files count as big."""
    monkeypatch.setattr(lintparts, "PART_BYTES", 0)
    init_workspace(tmp_path / "ws", sample=build_hld(tmp_path, 20))
    sandbox = Sandbox(tmp_path / "ws")
    serve(sandbox.root)
    yield sandbox
    sandbox.close()


def check(sb: Sandbox, runner: CIRunner, branch: str, files: dict[str, str]) -> dict:
    sb.commit_files(branch, files, "Edit")
    sb.open_pr(branch)
    runner.run_pending()
    return sb.jobs(1)[0]


def test_a_check_lints_only_the_parts_its_pr_changed(ladder: Sandbox) -> None:
    runner = CIRunner(ladder.ws, ladder.bus, ladder.prs)
    enqueue(ladder.ws, "generate", sha=ladder.branches()["main"])
    runner.run_pending()  # main's generate job, then its warm-up lints main's files
    stats = runner.cache.stats
    assert stats["lint.parts.linted"] == stats["lint.parts"] > 10
    prod = ladder.hld_file("config/prod.yaml")
    lines = prod.splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if line.strip() == "grp-0003:")
    # One edit in one group's part, with problems yamllint reports there.
    assert lines[at + 1].strip() == "config:"
    lines.insert(at + 2, "      notes: yes   \n")
    edited = "".join(lines)
    before = dict(stats)
    job = check(ladder, runner, "one", {"config/prod.yaml": edited})
    assert stats["lint.parts.linted"] - before["lint.parts.linted"] == 1
    assert stats["lint.parts"] - before["lint.parts"] > 10
    expected = {f"config/prod.yaml:{p.line}: {p.level}: {p.desc} [yamllint/{p.rule}]"
                for p in linter.run(edited, default_config(), "config/prod.yaml")}
    reported = {f for f in job["result"]["findings"] if f.startswith("config/prod.yaml:")}
    assert len(expected) == 2 and reported == expected
    assert job["status"] == "failure"  # 'yes' is a truthy error in our configuration


def test_a_part_that_does_not_read_as_yaml_gives_way_to_a_whole_lint(
        ladder: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lintparts, "lint_part", lambda *_args: None)
    runner = CIRunner(ladder.ws, ladder.bus, ladder.prs)
    prod = ladder.hld_file("config/prod.yaml").replace("tag: 1.0.0", "tag: 1.0.0   ", 1)
    job = check(ladder, runner, "two", {"config/prod.yaml": prod})
    assert runner.cache.stats["lint.parts.linted"] > 0
    assert any(f.startswith("config/prod.yaml:") and "trailing spaces" in f
               for f in job["result"]["findings"])
