"""Issue 8, point 5: nothing outside the workspace and the HLD is read or written: git
sources, config files, static paths, --env, --hld and path-like settings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sandbox.cli import main
from sandbox.facade import Sandbox, SandboxError
from sandbox.hld import HldError, generate, set_values
from sandbox.pipelines import CIRunner

from .conftest import repos

SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\nstringData:\n  k: hunter2\n"


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def git_repo(path: Path) -> Path:
    write(path / "component.yaml", "name: lib\ntype: static\npath: ./m\n")
    write(path / "m" / "secret.yaml", SECRET)
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "one"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return path


# -- method: git sources -------------------------------------------------------------------

@pytest.mark.parametrize("form", ["path", "relative", "uri"])
def test_local_git_source_outside_the_hld_is_refused(tmp_path: Path, form: str) -> None:
    repo = git_repo(tmp_path / "other")
    hld = tmp_path / "hld"
    source = {"path": str(repo), "relative": "../other", "uri": repo.as_uri()}[form]
    write(hld / "component.yaml", "name: app\nsubcomponents:\n  - name: lib\n"
          f"    method: git\n    source: {source}\n")
    with pytest.raises(HldError) as caught:
        generate(hld, ["prod"])
    assert caught.value.file == "component.yaml" and caught.value.line == 5
    assert "is a local path outside the HLD folder" in str(caught.value)
    assert not (hld / "components").exists()  # nothing was cloned


def test_local_git_source_outside_fails_the_pr_check(sb: Sandbox, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "other")
    component = sb.hld_file("component.yaml") + (
        f"  - name: lib\n    method: git\n    source: {repo}\n")
    sb.commit_files("steal", {"component.yaml": component}, "Add a library")
    pr = sb.open_pr("steal")
    before = repos(sb)
    CIRunner(sb.ws, sb.bus, sb.prs).run_pending()
    check = sb.get_pr(pr.id).checks[0]
    assert check.status == "failure"
    line = component.splitlines().index("  - name: lib") + 3
    assert f"component.yaml:{line}: error:" in check.summary
    assert "outside the HLD folder" in check.summary
    assert "hunter2" not in json.dumps(sb.job(check.job))  # type: ignore[arg-type]
    assert repos(sb) == before


def test_git_source_inside_the_hld_still_works(tmp_path: Path) -> None:
    hld = tmp_path / "hld"
    git_repo(hld / "vendor" / "lib")
    write(hld / "component.yaml", "name: app\nsubcomponents:\n  - name: lib\n"
          "    method: git\n    source: ./vendor/lib\n")
    assert [d.obj["metadata"]["name"] for d in generate(hld, ["prod"]).documents] == ["stolen"]


# -- symlinks ------------------------------------------------------------------------------

def test_config_file_symlinked_outside_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path / "secrets.yaml", "config:\n  password: hunter2\n")
    hld = tmp_path / "hld"
    write(hld / "component.yaml", "name: app\n")
    (hld / "config").mkdir()
    (hld / "config" / "prod.yaml").symlink_to(outside)
    with pytest.raises(HldError, match="config file leads outside its component") as caught:
        generate(hld, ["prod"])
    assert caught.value.file == "config/prod.yaml"


def test_static_path_symlinked_outside_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "secret.yaml", SECRET)
    hld = tmp_path / "hld"
    write(hld / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    (hld / "m").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(HldError, match="leads outside the HLD folder"):
        generate(hld, ["prod"])


def test_static_file_symlinked_outside_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "secret.yaml", SECRET)
    hld = tmp_path / "hld"
    write(hld / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    (hld / "m").mkdir()
    (hld / "m" / "s.yaml").symlink_to(tmp_path / "secret.yaml")
    with pytest.raises(HldError, match="leads outside the HLD folder"):
        generate(hld, ["prod"])


def test_hld_set_never_writes_through_a_symlink(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    target = write(tmp_path / "victim.yaml", "config:\n  keep: me\n")
    hld = tmp_path / "hld"
    write(hld / "component.yaml", "name: app\n")
    (hld / "config").mkdir()
    (hld / "config" / "prod.yaml").symlink_to(target)
    code = main(["hld", "set", "--hld", str(hld), "--env", "prod", "a=1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "config/prod.yaml is a symlink; hld set does not write through symlinks" in err
    assert target.read_text() == "config:\n  keep: me\n"


def test_hld_set_with_a_symlinked_config_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    hld = tmp_path / "hld"
    write(hld / "component.yaml", "name: app\n")
    (hld / "config").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(HldError, match="symlink"):
        set_values(hld, ["a=1"], env="prod")
    assert tree(tmp_path / "elsewhere") == []


# -- path arguments ------------------------------------------------------------------------

def test_hld_set_env_with_a_path_is_refused(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    hld = tmp_path / "a" / "b" / "hld"
    write(hld / "component.yaml", "name: app\n")
    before = tree(tmp_path)
    code = main(["hld", "set", "--hld", str(hld), "--env", "../../x", "a=1"])
    assert code == 1
    assert "environment name '../../x' is not a plain name" in capsys.readouterr().err
    assert tree(tmp_path) == before


def test_hld_set_on_a_missing_folder_creates_nothing(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nonexistent"
    code = main(["hld", "set", "--hld", str(missing), "a=1"])
    assert code == 1
    assert f"HLD folder {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()


def test_change_env_with_a_path_is_refused(sb: Sandbox, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    before, files = repos(sb), tree(tmp_path)
    code = main(["change", "evil", "a=1", "--env", "../../../x", "-w", str(sb.root)])
    assert code == 1
    assert "environment name '../../../x' is not a plain name" in capsys.readouterr().err
    assert repos(sb) == before
    assert tree(tmp_path) == files
    with pytest.raises(SandboxError, match="not a plain name"):
        sb.change("evil", ["a=1"], env="..")


@pytest.mark.parametrize(("key", "value"), [
    ("environments", "../x"), ("environments", "prod /etc"), ("environments", "a/b"),
    ("kubernetes_version", "../../../etc/passwd"), ("kubernetes_version", "1.30"),
    ("kubernetes_version", "9.99.0"),
])
def test_path_like_settings_are_refused(sb: Sandbox, capsys: pytest.CaptureFixture[str],
                                        key: str, value: str) -> None:
    marker = (sb.root / "gitops-sandbox.json").read_text()
    code = main(["settings", key, value, "-w", str(sb.root)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {key}")
    assert (sb.root / "gitops-sandbox.json").read_text() == marker
