"""Conformance with Fabrikate's own test data (see shared/fixtures/fabrikate/README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox.hld import (
    HldError,
    dump_config,
    generate,
    load_component,
    load_config,
    merge_config,
    set_values,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "fabrikate"
MASTER = FIXTURES / "master-0.17" / "testdata"
DEVELOP = FIXTURES / "develop-1.0a1" / "testdata"
BOTH = [MASTER, DEVELOP]


@pytest.fixture(autouse=True)
def _needs_fixtures(fabrikate_fixtures: Path) -> None:
    """Skipped without ../shared, failed without it under CI (see tests/conftest.py)."""


def copy_fixture(src: Path, tmp_path: Path) -> Path:
    """Fixtures are read-only; anything that writes works on a copy."""
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def sizes(result) -> dict[str, int]:
    return {c.name: len(c.manifest.encode()) for c in result.components}


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_generate_hooks_manifest_and_location(data: Path, tmp_path: Path) -> None:
    hld = copy_fixture(data / "generate-hooks", tmp_path)
    result = generate(hld, ["prod"], hld / "generated")
    assert sizes(result) == {"generate-hooks": 103}
    assert (hld / "generated" / "prod" / "generate-hooks.yaml").stat().st_size == 103
    assert any("hooks not run" in note for note in result.notes)
    assert not (hld / "before-generate").exists()


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_generate_hooks_run_in_component_folder_when_allowed(data: Path, tmp_path: Path) -> None:
    hld = copy_fixture(data / "generate-hooks", tmp_path)
    (hld / "component.json").write_text(
        (hld / "component.json").read_text().replace("rm before-generate", "mv before-generate ran")
    )
    result = generate(hld, ["prod"], allow_hooks=True)
    assert (hld / "ran").exists() and not (hld / "before-generate").exists()
    assert sizes(result) == {"generate-hooks": 103}


def test_failing_hook_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "component.yaml").write_text(
        "name: h\nhooks:\n  before-generate: ['exit 3']\n"
    )
    with pytest.raises(HldError, match="exit 3"):
        generate(tmp_path, ["prod"], allow_hooks=True)


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_generate_remote_static(data: Path, tmp_path: Path) -> None:
    result = generate(data / "generate-remote-static", ["common"], tmp_path / "out")
    assert sizes(result) == {"keyvault-flexvolume": 5, "keyvault-sub": 1372}
    assert (tmp_path / "out/common/keyvault-flexvolume.yaml").stat().st_size == 5
    assert (tmp_path / "out/common/keyvault-sub/keyvault-sub.yaml").stat().st_size == 1372
    kinds = [(d.obj["kind"], d.source_file, d.source_line) for d in result.documents]
    assert kinds == [
        ("Namespace", "components/keyvault-sub/keyvault-sub.yaml", 1),
        ("DaemonSet", "components/keyvault-sub/keyvault-sub.yaml", 6),
    ]


@pytest.mark.parametrize("env", ["prod", "common", "east"])
def test_generate_static_three_namespaces(env: str, tmp_path: Path) -> None:
    folder = MASTER / "generate" / "infra" / "static"
    result = generate(folder, [env], tmp_path)
    assert sizes(result) == {"static": 188}
    manifest = result.components[0].manifest.encode()
    files = sorted((folder / "manifests").iterdir())
    assert manifest == b"".join(b"---\n" + f.read_bytes() + b"\n" for f in files)
    assert [d.obj["metadata"]["name"] for d in result.documents] == [
        "elasticsearch", "fluentd", "kibana"
    ]


def test_generate_disabled_visits_only_root(tmp_path: Path) -> None:
    result = generate(DEVELOP / "generate-disabled", ["disabled"], tmp_path)
    assert sizes(result) == {"disabled-stack": 0}
    assert (tmp_path / "disabled" / "disabled-stack.yaml").read_bytes() == b""
    assert not (DEVELOP / "generate-disabled" / "components").exists()


def test_generate_disabled_without_env_tries_to_fetch() -> None:
    # Without the 'disabled' env the children are enabled and must be fetched.
    with pytest.raises(HldError, match="pod-info"):
        generate(DEVELOP / "generate-disabled", ["prod"])


def test_disabled_config_files() -> None:
    cfg = load_config(DEVELOP / "disabled", "disabled")
    assert cfg["subcomponents"]["cloud-native"]["disabled"] is True
    assert cfg["subcomponents"]["elasticsearch"]["config"] == {"fod": "bar"}
    assert "disabled" not in load_config(DEVELOP / "disabled", "default")["subcomponents"][
        "elasticsearch"]


def test_output_folder_is_emptied_and_named_after_envs(tmp_path: Path) -> None:
    stale = tmp_path / "prod-east" / "stale.yaml"
    stale.parent.mkdir()
    stale.write_text("old")
    generate(MASTER / "generate" / "infra" / "static", ["prod", "east"], tmp_path)
    assert not stale.exists()
    assert (tmp_path / "prod-east" / "static.yaml").is_file()


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_iterator_logical_paths(data: Path) -> None:
    result = generate(data / "iterator", ["common"])
    assert [(c.name, c.logical_path, c.output_path) for c in result.components] == [
        ("microservices-workload", "", "microservices-workload.yaml"),
        ("infra", "infra", "infra/infra.yaml"),
        ("efk", "infra/efk", "infra/efk/efk.yaml"),
    ]
    assert result.components[2].source_file == "infra/components/efk/component.json"


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_load_config_prefers_yaml(data: Path) -> None:
    cfg = load_config(data / "load", "test")
    assert cfg["config"]["foo"] == "bar"
    assert cfg["namespace"] == "myapp"


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_merge_keeps_current_and_adds_new(data: Path) -> None:
    merged = merge_config(load_config(data / "merge", "current"), load_config(data / "merge", "new"))
    store = merged["subcomponents"]["jaeger"]["config"]["provisionDataStore"]
    assert store["elasticsearch"] is False
    assert store["mixed"] == 1
    assert store["cassandra"] is False
    assert store["slice"][3] == {"foo": 1, "bar": ["bstring", 1]}


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_write_serialisation(data: Path, suffix: str) -> None:
    expected = (data / "write" / "config" / f"test.{suffix}").read_bytes()
    cfg = {"config": {"foo": "bar"}, "subcomponents": {"myapp": {"config": {"zoo": "zar"}}}}
    assert dump_config(cfg, suffix).encode() == expected
    assert len(expected) == {"yaml": 70, "json": 132}[suffix]


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_set_reproduces_fixture_state(data: Path, tmp_path: Path) -> None:
    hld = copy_fixture(data / "set", tmp_path)
    expected_new = (hld / "config" / "new.yaml").read_bytes()
    expected_test = (hld / "config" / "test.yaml").read_bytes()
    (hld / "config" / "new.yaml").unlink()
    for bad in (["zoo"], ["zoo=zaa=wrong"]):
        with pytest.raises(HldError, match="not a properly formatted"):
            set_values(hld, bad, env="test")
    assert (hld / "config" / "test.yaml").read_bytes() == expected_test
    set_values(hld, ["foo=faa"], env="test")
    set_values(hld, ["zoo=zaa"], env="test", subcomponent="myapp")
    assert (hld / "config" / "test.yaml").read_bytes() == expected_test
    set_values(hld, ["zoo.zii=zbb"], env="new", subcomponent="myapp")
    set_values(hld, ["foo.bar.line=solid"], env="new", subcomponent="myservice.mysubservice")
    written = set_values(hld, ['foo.bar."k8.beta.io/load-balancer-group"=foo-bar-updated'],
                         env="new", subcomponent="myservice.mysubservice")
    assert written == hld / "config" / "new.yaml"
    assert written.read_bytes() == expected_new


def test_set_stores_strings_and_guards_new_keys(tmp_path: Path) -> None:
    hld = copy_fixture(MASTER / "set", tmp_path)
    set_values(hld, ["replicas=3", "enabled=true"], env="test", subcomponent="myapp")
    cfg = load_config(hld, "test")
    assert cfg["subcomponents"]["myapp"]["config"]["replicas"] == "3"
    assert cfg["subcomponents"]["myapp"]["config"]["enabled"] == "true"
    before = (hld / "config" / "test.yaml").read_bytes()
    with pytest.raises(HldError, match="no_new_config_keys"):
        set_values(hld, ["newfoo=faa"], env="test", no_new_config_keys=True)
    with pytest.raises(HldError, match="no_new_config_keys"):
        set_values(hld, ["foo=x"], env="test", subcomponent="nosuch", no_new_config_keys=True)
    assert (hld / "config" / "test.yaml").read_bytes() == before
    set_values(hld, ["foo=updated"], env="test", no_new_config_keys=True)
    assert load_config(hld, "test")["config"]["foo"] == "updated"
    with pytest.raises(HldError, match="non-map"):
        set_values(hld, ["foo.deeper=x"], env="test")


def test_set_keeps_json_serialisation(tmp_path: Path) -> None:
    hld = copy_fixture(MASTER / "load", tmp_path)
    (hld / "config" / "test.yaml").unlink()
    written = set_values(hld, ["foo=baz"], env="test")
    assert written.suffix == ".json"
    assert load_config(hld, "test")["config"]["foo"] == "baz"


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_add_fixture_loads(data: Path) -> None:
    component = load_component(data / "add")
    assert component.name == "add"
    assert [s.name for s in component.subcomponents] == ["cloud-native", "elasticsearch"]
    assert component.subcomponents[1].type == "helm"
    assert component.subcomponents[1].path == "stable/elasticsearch"
    assert component.subcomponents[0].version == "8ad79e73e0665e347e1553ad7ca32b6e590e007a"


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_definition_components(data: Path) -> None:
    infra = load_component(data / "definition" / "infra")
    assert infra.name == "infra"
    assert [(s.name, s.method) for s in infra.subcomponents] == [("efk", "git")]
    assert load_component(data / "definition").subcomponents[0].source == "./infra"
    with pytest.raises(HldError, match="empty"):
        load_component(data / "definition" / "services")


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
def test_root_that_is_a_precloned_git_component(data: Path) -> None:
    root = load_component(data / "definition" / "infra-single")
    assert (root.method, root.path) == ("git", "fabrikate-elasticsearch-fluentd-kibana")
    # Generation follows the root into its clone, whose manifests folder is absent.
    with pytest.raises(HldError) as caught:
        generate(data / "definition" / "infra-single", ["common"])
    assert "elasticsearch-fluentd-kibana" in str(caught.value)


@pytest.mark.parametrize("data", BOTH, ids=["master", "develop"])
@pytest.mark.parametrize(
    ("folder", "file", "line"),
    [
        ("badyamlcomponent", "component.yaml", 2),
        ("badjsoncomponent", "component.json", 1),
        ("badyamlconfig", "config/common.yaml", 14),
        ("badjsonconfig", "config/common.json", 1),
    ],
)
def test_bad_inputs_name_the_file(data: Path, folder: str, file: str, line: int) -> None:
    hld = data / folder
    if "config" in folder:
        with pytest.raises(HldError) as caught:
            load_config(hld, "common", hld)
    else:
        with pytest.raises(HldError) as caught:
            load_component(hld, hld)
    assert caught.value.file == file
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{file}:{line}: invalid")
