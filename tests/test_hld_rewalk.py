"""Issue 10, point 2: a generation that starts from the last one walks only what changed
(hld/rewalk.py), and gives exactly what a whole walk gives: documents, value origins,
components, notes, problems, or the same error. Counters, never clocks."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.ladder import build_hld
from sandbox.hld import GenerateResult, HldError, generate, set_values
from sandbox.hld.results import ComponentOutput
from sandbox.workspace import SAMPLE_HLD

FABRIKATE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "fabrikate"
ENVS = ["prod"]


class Store:
    """The generator's component reuse in memory, as the check cache's store does it."""

    def __init__(self) -> None:
        self.outputs: dict[str, ComponentOutput] = {}
        self.listing: dict[str, tuple[str, int]] = {}
        self.earlier: list[Any] = []

    def get(self, key: str) -> ComponentOutput | None:
        return self.outputs.get(key)

    def put(self, key: str, output: ComponentOutput) -> None:
        for doc in output.documents:
            doc.value_origins = dict(doc.value_origins)
        self.outputs[key] = output

    def key(self, parts: list[Any]) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def listing(root: Path) -> dict[str, tuple[str, int]]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found[path.relative_to(root).as_posix()] = (hashlib.sha1(data).hexdigest(), len(data))
    return found


def outcome(hld: Path, store: Store | None) -> tuple[str, Any]:
    """What a generation gives, in comparable form: its result or its error."""
    if store is not None:
        store.listing = listing(hld)
    try:
        result = generate(hld, ENVS, reuse=store)
    except HldError as exc:
        return "error", (exc.reason, exc.file, exc.line, exc.fix)
    return "result", comparable(result)


def comparable(result: GenerateResult) -> Any:
    return (
        [(c.name, c.logical_path, c.manifest, c.output_path, c.type, c.source_file, c.objects)
         for c in result.components],
        [(d.obj, d.source_file, d.source_line, d.component, dict(d.value_origins))
         for d in result.documents],
        result.notes,
        [(p.reason, p.file, p.line, p.fix) for p in result.problems],
    )


def again(hld: Path, store: Store) -> tuple[tuple[str, Any], GenerateResult | None]:
    """A generation from the store's last walk, and its result when it built one."""
    store.listing = listing(hld)
    try:
        result = generate(hld, ENVS, reuse=store)
    except HldError as exc:
        return ("error", (exc.reason, exc.file, exc.line, exc.fix)), None
    return ("result", comparable(result)), result


def check_edits(hld: Path, edits: list[Any], rng: random.Random, rounds: int) -> int:
    """Apply random edits one after another; after each, the generation from the last
    walk equals a whole walk without any reuse. Returns how many started from a walk."""
    store = Store()
    store.listing = listing(hld)
    try:
        last = generate(hld, ENVS, reuse=store)
    except HldError:
        last = None
    started = 0
    for _ in range(rounds):
        try:
            rng.choice(edits)(hld, rng)
        except HldError:
            pass  # fab set refuses a broken config file: the HLD stays as it was
        store.earlier = [last.walk] if last is not None and last.walk is not None else []
        found, result = again(hld, store)
        assert found == outcome(hld, None)
        if result is not None:
            started += result.walk is not None and result.walk.again
            last = result
    return started


# -- edits of the ladder's HLD -----------------------------------------------------------

def _group(rng: random.Random) -> str:
    return f"grp-{rng.randrange(12):04d}"


def set_replicas(hld: Path, rng: random.Random) -> None:
    group = _group(rng)
    service = int(group[4:])
    set_values(hld, [f"replicas.s{service:04d}={rng.randrange(1, 5)}"],
               env=rng.choice(["prod", "common"]), subcomponent=group)


def _edit_line(hld: Path, file: str, rng: random.Random, make: Any) -> None:
    path = hld / file
    lines = path.read_text().splitlines(keepends=True)
    at = rng.randrange(len(lines) + 1)
    lines[at:at] = [make(rng)]
    path.write_text("".join(lines))


def insert_comment(hld: Path, rng: random.Random) -> None:
    _edit_line(hld, rng.choice(["config/prod.yaml", "config/common.yaml"]), rng,
               lambda r: "#" + " moved" * r.randrange(1, 3) + "\n")


def insert_value(hld: Path, rng: random.Random) -> None:
    path = hld / "config" / "prod.yaml"
    group = _group(rng)
    text = path.read_text()
    line = rng.choice(["    namespace: other\n", "    config:\n      extra: 1\n",
                       "    injectNamespace: true\n", "    disabled: true\n",
                       "    config: {replicas: {s0000: '9'}}\n", "    bad: key\n",
                       f"  {group}:\n    config: {{image: {{tag: dup}}}}\n",
                       "    config:\n      image: &tag {tag: anchored}\n"])
    path.write_text(text.replace(f"  {group}:\n", f"  {group}:\n{line}", 1))


def retag(hld: Path, rng: random.Random) -> None:
    path = hld / "config" / "prod.yaml"
    text = path.read_text()
    old = "tag: 1.0.0" if "tag: 1.0.0" in text else "tag:"
    path.write_text(text.replace(old, rng.choice(["tag: 2.0.0", "tag: [a, b]", "tag: 1.0.0"]),
                                 rng.randrange(1, 3)))


def edit_static(hld: Path, rng: random.Random) -> None:
    folder = hld / _group(rng)
    target = rng.choice(sorted(folder.iterdir()))
    choice = rng.randrange(4)
    if choice == 0:
        target.write_text(target.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    elif choice == 1:
        (folder / f"extra-{rng.randrange(3)}.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x${namespace}\n")
    elif choice == 2:
        target.write_text(target.read_text() + "\nnot: [valid\n")
    else:
        target.write_text(target.read_text().replace("${namespace}", "${missing}"))


def break_yaml(hld: Path, rng: random.Random) -> None:
    path = hld / "config" / rng.choice(["prod.yaml", "common.yaml"])
    path.write_text(path.read_text() + rng.choice(["  grp-9999: [\n", "extra: 1\n", "%\n"]))


def add_component(hld: Path, rng: random.Random) -> None:
    path = hld / "component.yaml"
    name = f"more-{rng.randrange(3)}"
    if f"name: {name}\n" not in path.read_text():
        path.write_text(path.read_text()
                        + f"  - name: {name}\n    type: static\n    path: ./namespace\n")


def restore(hld: Path, rng: random.Random) -> None:
    """Back to a clean ladder HLD, so later edits meet a generating tree again."""
    shutil.rmtree(hld)
    build_hld(hld.parent, 12)


LADDER_EDITS = [set_replicas, set_replicas, insert_comment, insert_value, retag, edit_static,
                break_yaml, add_component, restore]


@pytest.mark.parametrize("seed", range(4))
def test_random_edits_of_the_ladder_generate_as_a_whole_walk(tmp_path: Path, seed: int) -> None:
    hld = build_hld(tmp_path, 12)
    assert check_edits(hld, LADDER_EDITS, random.Random(seed), 25) > 0


# -- edits of the sample and of Fabrikate's test data ---------------------------------

def mutate_any_config(hld: Path, rng: random.Random) -> None:
    """A line inserted, changed, doubled or removed in any config or component file."""
    files = sorted(p for p in hld.rglob("*") if p.is_file() and p.suffix in (".yaml", ".json"))
    path = rng.choice(files)
    lines = path.read_text().splitlines(keepends=True) or ["\n"]
    at = rng.randrange(len(lines))
    how = rng.randrange(4)
    if how == 0:
        lines.insert(at, "# a comment\n" if path.suffix == ".yaml" else "\n")
    elif how == 1:
        lines[at] = lines[at].replace(": ", ": x", 1)
    elif how == 2:
        lines.insert(at, lines[at])
    else:
        del lines[at]
    path.write_text("".join(lines))


def set_in_sample(hld: Path, rng: random.Random) -> None:
    set_values(hld, [f"{rng.choice(['replicas', 'logLevel', 'image.tag'])}="
                     f"{rng.choice(['2', '3', 'debug'])}"],
               env=rng.choice(["prod", "common"]),
               subcomponent=rng.choice(["web", "api", "config", None]))


@pytest.mark.parametrize("seed", range(3))
def test_random_edits_of_the_sample_generate_as_a_whole_walk(tmp_path: Path, seed: int) -> None:
    hld = tmp_path / "hld"
    shutil.copytree(SAMPLE_HLD, hld)
    edits = [set_in_sample, set_in_sample, mutate_any_config]
    assert check_edits(hld, edits, random.Random(seed), 20) > 0


@pytest.mark.usefixtures("fabrikate_fixtures")
@pytest.mark.parametrize("release", ["master-0.17", "develop-1.0a1"])
def test_random_edits_of_fabrikate_fixtures_generate_as_a_whole_walk(
        tmp_path: Path, release: str) -> None:
    rng = random.Random(release)
    for fixture in sorted((FABRIKATE / release / "testdata").iterdir()):
        if not fixture.is_dir():
            continue
        hld = tmp_path / release / fixture.name
        shutil.copytree(fixture, hld)
        for path in [hld, *hld.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        if not any(hld.rglob("*.yaml")) and not any(hld.rglob("*.json")):
            continue
        check_edits(hld, [mutate_any_config], rng, 6)


# -- what it costs -----------------------------------------------------------------------

def one_line_change(tmp_path: Path, services: int) -> GenerateResult:
    hld = build_hld(tmp_path, services)
    store = Store()
    store.listing = listing(hld)
    base = generate(hld, ENVS, reuse=store)
    assert base.walked == services + 2  # a first walk: all, the root and namespace too
    set_values(hld, ["replicas.s0000=2"], env="prod", subcomponent="grp-0000")
    store.listing, store.earlier = listing(hld), [base.walk]
    return generate(hld, ENVS, reuse=store)


def test_a_one_line_change_in_a_shared_config_walks_what_it_changed(tmp_path: Path) -> None:
    small = one_line_change(tmp_path / "small", 5)
    big = one_line_change(tmp_path / "big", 60)
    # The root (it owns the file) and the one component whose part changed: not one
    # per component, however many there are.
    assert small.walked == big.walked == 2
    assert small.fingerprinted == big.fingerprinted == 1
    assert big.walk is not None and big.walk.again
    moved = [d for d in big.documents if d.component == "grp-0001"]
    # Its part of config/prod.yaml moved two lines down: so did its values' origins.
    assert ("config/prod.yaml", 11) in {o[:2] for d in moved for o in d.value_origins.values()}
