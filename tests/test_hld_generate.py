"""Generator behaviour beyond the Fabrikate fixtures: precedence, ${var}, git, safety."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from sandbox.hld import HldError, generate


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: ${{value}}\n"


def make_precedence_hld(root: Path) -> None:
    write(root / "component.yaml", "name: root\nsubcomponents:\n  - name: child\n    source: ./child\n")
    write(root / "child" / "component.yaml",
          "name: child\ntype: static\npath: ./manifests\nsubstitute: true\n")
    write(root / "child" / "manifests" / "cm.yaml", CM.format(name="cm"))
    write(root / "child" / "config" / "common.yaml", "config:\n  value: common\n")
    write(root / "child" / "config" / "east.yaml", "config:\n  value: east\n")
    write(root / "child" / "config" / "prod.yaml", "config:\n  value: prod\n")


def value_of(result) -> str:
    return result.documents[0].obj["data"]["value"]


def test_precedence_envs_left_to_right_then_common(tmp_path: Path) -> None:
    make_precedence_hld(tmp_path)
    assert value_of(generate(tmp_path, ["prod", "east"])) == "prod"
    assert value_of(generate(tmp_path, ["east", "prod"])) == "east"
    assert value_of(generate(tmp_path, ["west"])) == "common"
    assert value_of(generate(tmp_path, [])) == "common"


def test_precedence_parent_pass_down_wins(tmp_path: Path) -> None:
    make_precedence_hld(tmp_path)
    write(tmp_path / "config" / "common.yaml",
          "subcomponents:\n  child:\n    config:\n      value: parent\n")
    assert value_of(generate(tmp_path, ["prod", "east"])) == "parent"


def test_config_disabled_skips_subtree_without_fetching(tmp_path: Path) -> None:
    make_precedence_hld(tmp_path)
    write(tmp_path / "config" / "prod.yaml", "subcomponents:\n  child:\n    disabled: true\n")
    assert [c.name for c in generate(tmp_path, ["prod"]).components] == ["root"]
    assert [c.name for c in generate(tmp_path, ["east"]).components] == ["root", "child"]


def static_hld(root: Path, manifest: str, config: str = "") -> Path:
    write(root / "component.yaml", "name: app\ntype: static\npath: ./m\nsubstitute: true\n")
    write(root / "m" / "a.yaml", manifest)
    if config:
        write(root / "config" / "common.yaml", config)
    return root


def test_substitution_values_defaults_escapes(tmp_path: Path) -> None:
    static_hld(tmp_path, "kind: X\nmetadata:\n  name: n\n  namespace: ${namespace}\n"
               "a: ${image.tag}\nb: ${replicas}\nc: ${missing:=fallback}\nd: $${image.tag}\n"
               "e: ${flag}\n",
               "namespace: demo\nconfig:\n  image:\n    tag: '1.2'\n  replicas: 3\n  flag: true\n")
    obj = generate(tmp_path, ["common"]).documents[0].obj
    assert obj["metadata"]["namespace"] == "demo"
    assert (obj["a"], obj["b"], obj["c"], obj["d"], obj["e"]) == (1.2, 3, "fallback",
                                                                   "${image.tag}", True)


@pytest.mark.parametrize(
    ("manifest", "line", "match"),
    [
        ("kind: X\nmetadata:\n  name: n\nimage: web:${image.tag}\n", 4, "'image.tag' is not defined"),
        ("kind: X\n\nbad: ${ spaced }\n", 3, "malformed placeholder"),
        ("kind: X\nmap: ${image}\n", 2, "not a single value"),
    ],
)
def test_substitution_errors_name_file_and_line(
    tmp_path: Path, manifest: str, line: int, match: str
) -> None:
    static_hld(tmp_path, manifest, "config:\n  image:\n    repo: x\n")
    with pytest.raises(HldError, match=match) as caught:
        generate(tmp_path, ["prod"])
    assert (caught.value.file, caught.value.line) == ("m/a.yaml", line)
    assert str(caught.value).startswith(f"m/a.yaml:{line}: ")


def test_without_substitute_placeholders_stay_byte_for_byte(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    text = "kind: X\nmetadata:\n  name: n\nv: ${undefined}\n"
    write(tmp_path / "m" / "a.yaml", text)
    assert generate(tmp_path, ["prod"]).components[0].manifest == f"---\n{text}\n"


def test_document_lines_are_traced_per_file(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    write(tmp_path / "m" / "a.yaml", "# header\nkind: A\nmetadata: {name: a}\n---\n\n"
          "kind: B\nmetadata: {name: b}\n---\n")
    docs = generate(tmp_path, ["prod"]).documents
    assert [(d.obj["kind"], d.source_file, d.source_line, d.component) for d in docs] == [
        ("A", "m/a.yaml", 2, "app"), ("B", "m/a.yaml", 6, "app")]


def test_manifest_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    text = "kind: A\nmetadata:\n  name: [oops\n"
    write(tmp_path / "m" / "a.yaml", text)
    result = generate(tmp_path, ["prod"])
    # Fabrikate copies the bytes; the problem is kept for the check to report.
    assert result.components[0].manifest == f"---\n{text}\n"
    [problem] = result.problems
    assert problem.file == "m/a.yaml" and problem.line


def test_helm_component_needs_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    write(tmp_path / "component.yaml", "name: app\nsubcomponents:\n  - name: chart\n"
          "    type: helm\n    path: ./chart\n")
    with pytest.raises(HldError, match=r"helm component chart needs the helm CLI: install helm"):
        generate(tmp_path, ["prod"])


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True)
    return done.stdout.strip()


def test_git_component_cloned_from_local_repo_at_version(tmp_path: Path) -> None:
    # A local source must be inside the HLD (issue 8): a vendored repository.
    hld = tmp_path / "hld"
    repo = hld / "vendor" / "repo"
    write(repo / "component.yaml", "name: lib\ntype: static\npath: ./m\n")
    write(repo / "m" / "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v1\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "one")
    first = git(repo, "rev-parse", "HEAD")
    write(repo / "m" / "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v2\n")
    git(repo, "commit", "-q", "-am", "two")
    write(hld / "component.yaml", f"name: app\nsubcomponents:\n  - name: lib\n    method: git\n"
          f"    source: {repo.as_uri()}\n    version: {first}\n")
    result = generate(hld, ["prod"])
    assert (hld / "components" / "lib" / ".git").is_dir()
    assert [d.obj["metadata"]["name"] for d in result.documents] == ["v1"]
    assert result.documents[0].source_file == "components/lib/m/cm.yaml"
    # A second run reuses the clone instead of fetching again.
    assert [d.obj["metadata"]["name"] for d in generate(hld, ["prod"]).documents] == ["v1"]


def test_remote_git_source_is_not_fetched(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: app\nsubcomponents:\n  - name: lib\n"
          "    method: git\n    source: https://example.invalid/lib.git\n")
    with pytest.raises(HldError, match="does not download"):
        generate(tmp_path, ["prod"])


@pytest.mark.parametrize("source", ["../outside", "/etc", "./link"])
def test_paths_escaping_the_hld_are_refused(tmp_path: Path, source: str) -> None:
    hld = tmp_path / "hld"
    write(tmp_path / "outside" / "component.yaml", "name: outside\n")
    write(hld / "component.yaml", f"name: app\nsubcomponents:\n  - name: x\n    source: {source}\n")
    (hld / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(HldError, match="outside the HLD|is absolute"):
        generate(hld, ["prod"])


def test_symlinked_manifest_pointing_out_is_refused(tmp_path: Path) -> None:
    hld = tmp_path / "hld"
    write(tmp_path / "secret.yaml", "kind: Secret\n")
    write(hld / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    (hld / "m").mkdir()
    (hld / "m" / "s.yaml").symlink_to(tmp_path / "secret.yaml")
    with pytest.raises(HldError, match="outside the HLD"):
        generate(hld, ["prod"])


def test_circular_subcomponents_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: root\nsubcomponents:\n  - name: a\n    source: ./a\n")
    write(tmp_path / "a" / "component.yaml", "name: a\nsubcomponents:\n  - name: back\n"
          "    source: ..\n")
    with pytest.raises(HldError, match="circular subcomponents"):
        generate(tmp_path, ["prod"])


BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_in_manifest_is_refused(tmp_path: Path) -> None:
    static_hld(tmp_path, "kind: X\n" + BOMB)
    with pytest.raises(HldError, match="alias bomb") as caught:
        generate(tmp_path, ["prod"])
    assert caught.value.file == "m/a.yaml"


def test_alias_bomb_in_component_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: app\n" + BOMB)
    with pytest.raises(HldError, match="alias bomb"):
        generate(tmp_path, ["prod"])


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    static_hld(tmp_path, "kind: X\n")
    with (tmp_path / "m" / "b.yaml").open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: instant to create
    with pytest.raises(HldError, match="over the 10 MB limit") as caught:
        generate(tmp_path, ["prod"])
    assert caught.value.file == "m/b.yaml"


def test_bad_component_fields_are_explained(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: app\ntype: kustomize\n")
    with pytest.raises(HldError, match="unknown type 'kustomize'") as caught:
        generate(tmp_path, ["prod"])
    assert caught.value.file == "component.yaml" and "component, static, helm" in str(caught.value)
    write(tmp_path / "component.yaml", "name: ../evil\n")
    with pytest.raises(HldError, match="may only use"):
        generate(tmp_path, ["prod"])


def test_unknown_config_keys_are_errors(tmp_path: Path) -> None:
    static_hld(tmp_path, "kind: X\n", "replicas: 3\n")
    with pytest.raises(HldError, match="unknown config key") as caught:
        generate(tmp_path, ["prod"])
    assert caught.value.file == "config/common.yaml"


def test_circular_through_a_static_component_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: root\ntype: static\npath: ./m\nsubcomponents:\n"
          "  - name: again\n    source: .\n")
    (tmp_path / "m").mkdir()
    with pytest.raises(HldError, match="circular subcomponents"):
        generate(tmp_path, ["prod"])


def test_inject_namespace_fills_in_objects_that_lack_one(tmp_path: Path) -> None:
    """Fabrikate's `injectNamespace: true` (its helm generator's addNamespaceToManifests):
    the config's namespace goes into every object without one; one that names its own
    namespace keeps it."""
    write(tmp_path / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    write(tmp_path / "m" / "a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n"
          "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: placed\n"
          "  namespace: other\n")

    def namespaces(config: str) -> tuple[dict[str, str | None], dict[str, str | None]]:
        write(tmp_path / "config" / "prod.yaml", config)
        result = generate(tmp_path, ["prod"])
        docs = {d.obj["metadata"]["name"]: d.obj["metadata"].get("namespace")
                for d in result.documents}
        # What lands in the manifest repo, not only the parsed view of it.
        written = {d["metadata"]["name"]: d["metadata"].get("namespace")
                   for d in yaml.safe_load_all(result.manifest) if d}
        return docs, written

    injected = {"plain": "shop", "placed": "other"}
    assert namespaces("namespace: shop\ninjectNamespace: true\n") == (injected, injected)
    as_written = {"plain": None, "placed": "other"}
    assert namespaces("namespace: shop\n") == (as_written, as_written)
    assert namespaces("injectNamespace: true\n") == (as_written, as_written)
