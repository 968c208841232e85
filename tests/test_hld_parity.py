"""Fabrikate parity where the sandbox used to diverge: folders and non-YAML files in a
static path, and the install hooks (generators/static.go, core/component.go)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.hld import HldError, generate
from sandbox.validation import check_hld

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "fabrikate"
MASTER = FIXTURES / "master-0.17" / "testdata"
DEVELOP = FIXTURES / "develop-1.0a1" / "testdata"
# The conftest fixture skips when ../shared is missing, and fails under CI=true, so a
# green CI run means these parity tests really ran.
needs_fixtures = pytest.mark.usefixtures("fabrikate_fixtures")
NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def static_hld(root: Path) -> Path:
    write(root / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    write(root / "m" / "a.yaml", NS.format(name="a"))
    return root


# -- (a) a folder inside a static path --------------------------------------------------


@needs_fixtures
def test_folder_in_fixture_static_path_is_fabrikates_error(tmp_path: Path) -> None:
    hld = copy(MASTER / "generate" / "infra" / "static", tmp_path)
    (hld / "manifests" / "extra").mkdir()
    with pytest.raises(HldError) as caught:
        generate(hld, ["prod"])
    assert caught.value.reason == "read manifests/extra: is a directory"
    assert caught.value.file == "component.json"


def test_folder_in_static_path_fails_the_check_naming_the_component(tmp_path: Path) -> None:
    hld = static_hld(tmp_path)
    write(hld / "m" / "nested" / "b.yaml", NS.format(name="b"))
    report = check_hld(hld, ["prod"])
    assert not report.ok
    assert [(f.file, f.rule) for f in report.errors] == [("component.yaml", "generate")]
    assert "read m/nested: is a directory" in report.errors[0].message


# -- (b) non-YAML files: bytes kept, the check names the file ----------------------------


@needs_fixtures
@pytest.mark.parametrize("data", [MASTER, DEVELOP], ids=["master", "develop"])
def test_non_yaml_file_in_fixture_is_included_byte_for_byte(data: Path, tmp_path: Path) -> None:
    hld = copy(data / "generate-hooks", tmp_path)
    blob = b"\x89PNG\r\n\x1a\n\x00\xff binary"
    write(hld / "manifests" / "logo.png", blob)
    result = generate(hld, ["prod"], tmp_path / "out")
    # The file exactly as ReadFile gives it (name order: logo.png first), then the
    # namespace's 103 bytes (fixture README).
    written = (tmp_path / "out" / "prod" / "generate-hooks.yaml").read_bytes()
    assert written.startswith(b"---\n" + blob + b"\n")
    assert len(written) == len(b"---\n" + blob + b"\n") + 103
    assert [p.file for p in result.problems] == ["manifests/logo.png"]
    assert [d.obj["kind"] for d in result.documents] == ["Namespace"]


def test_text_that_is_not_a_manifest_is_a_finding_not_a_refusal(tmp_path: Path) -> None:
    hld = static_hld(tmp_path)
    write(hld / "m" / "README.md", "Notes about these manifests.\n")
    write(hld / "m" / "run.sh", "#!/bin/sh\necho: hello\n")
    result = generate(hld, ["prod"])
    assert result.components[0].manifest == (  # name order, as ioutil.ReadDir gives
        f"---\nNotes about these manifests.\n\n---\n{NS.format(name='a')}\n"
        "---\n#!/bin/sh\necho: hello\n\n")
    report = check_hld(hld, ["prod"])
    assert not report.ok
    by_file = {f.file: f.rule for f in report.errors}
    # A scalar is no object at all; a mapping without kind fails as a manifest would.
    assert by_file == {"m/README.md": "manifest", "m/run.sh": "required-fields"}


def test_non_utf8_file_is_a_finding_with_its_line(tmp_path: Path) -> None:
    hld = static_hld(tmp_path)
    write(hld / "m" / "b.yaml", b"kind: A\nname: \xff\n")
    report = check_hld(hld, ["prod"])
    [finding] = [f for f in report.errors if f.rule == "manifest"]
    assert (finding.file, finding.line) == ("m/b.yaml", 2)
    assert "not UTF-8" in finding.message


def test_yaml_syntax_error_is_reported_once(tmp_path: Path) -> None:
    hld = static_hld(tmp_path)
    write(hld / "m" / "b.yaml", "kind: A\nmetadata:\n  name: [oops\n")
    report = check_hld(hld, ["prod"])
    assert [(f.file, f.rule) for f in report.errors] == [("m/b.yaml", "manifest")]
    # The good file is still validated.
    assert [d.obj["metadata"]["name"] for d in report.documents] == ["a"]


# -- (c) every hook name; install hooks around fetching ---------------------------------


def hooks_hld(root: Path, repo: Path | None = None) -> Path:
    subs = ""
    if repo is not None:
        subs = (f"subcomponents:\n  - name: lib\n    method: git\n    source: {repo.as_uri()}\n")
    # Each hook appends its name and whether the clone exists yet.
    write(root / "hook.sh",
          'echo "$1 $(test -d components/lib && echo fetched || echo missing)" >> order.log\n')
    hooks = "".join(f"  {name}: ['sh hook.sh {name}']\n" for name in (
        "before-install", "after-install", "before-generate", "after-generate"))
    write(root / "component.yaml", f"name: app\ntype: static\npath: ./m\nhooks:\n{hooks}{subs}")
    write(root / "m" / "a.yaml", NS.format(name="a"))
    return root


def make_repo(path: Path) -> Path:
    if not (path / "component.yaml").exists():
        write(path / "component.yaml", "name: lib\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "one"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    return path


def test_all_four_hook_names_are_accepted_and_not_run_without_allow(tmp_path: Path) -> None:
    hld = hooks_hld(tmp_path / "hld")
    result = generate(hld, ["prod"])
    assert not (hld / "order.log").exists()
    [note] = [n for n in result.notes if "hooks not run" in n]
    assert "before-install" in note and "after-install" in note


def test_install_hooks_run_around_fetching_then_generate_hooks(tmp_path: Path) -> None:
    # The repository lives inside the HLD: local sources outside it are refused.
    repo = make_repo(tmp_path / "hld" / "upstream" / "lib")
    hld = hooks_hld(tmp_path / "hld", repo)
    generate(hld, ["prod"], allow_hooks=True)
    assert (hld / "order.log").read_text().splitlines() == [
        "before-install missing", "after-install fetched",
        "before-generate fetched", "after-generate fetched",
    ]


def test_install_hooks_of_a_fetched_component_run_in_its_folder(tmp_path: Path) -> None:
    hld = tmp_path / "hld"
    repo = hld / "upstream" / "lib"
    write(repo / "component.yaml", "name: lib\nhooks:\n  before-install: ['touch installed']\n")
    make_repo(repo)
    write(hld / "component.yaml", f"name: app\nsubcomponents:\n  - name: lib\n    method: git\n"
          f"    source: {repo.as_uri()}\n")
    generate(hld, ["prod"], allow_hooks=True)
    assert (hld / "components" / "lib" / "installed").is_file()
    assert not (hld / "installed").exists()


def test_failing_install_hook_is_an_error_naming_the_component_file(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: h\nhooks:\n  after-install: ['exit 4']\n")
    with pytest.raises(HldError) as caught:
        generate(tmp_path, ["prod"], allow_hooks=True)
    assert caught.value.file == "component.yaml" and "after-install" in caught.value.reason


def test_unknown_hook_name_lists_fabrikates_names(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: h\nhooks:\n  before-deploy: ['true']\n")
    with pytest.raises(HldError) as caught:
        generate(tmp_path, ["prod"])
    assert "before-install" in caught.value.fix and "after-generate" in caught.value.fix
