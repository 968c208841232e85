"""The sample app HLD: generates, validates clean, and takes a release's tag change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox.hld import generate, load_config, set_values
from sandbox.manifestdiff import diff_objects
from sandbox.validation import check_hld, lint_hld, validate_documents

SAMPLE = Path(__file__).resolve().parents[1] / "sandbox" / "sample" / "hld"


@pytest.fixture
def hld(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE, tmp_path / "hld"))


def images(result) -> dict[str, str]:
    return {
        d.obj["metadata"]["name"]: d.obj["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in result.documents
        if d.obj["kind"] == "Deployment"
    }


def test_sample_generates_the_app(hld: Path) -> None:
    result = generate(hld, ["prod"], hld / "generated")
    assert [(c.name, c.output_path) for c in result.components] == [
        ("app", "app.yaml"),
        ("namespace", "namespace/namespace.yaml"),
        ("config", "config/config.yaml"),
        ("web", "web/web.yaml"),
        ("api", "api/api.yaml"),
    ]
    objects = {(d.obj["kind"], d.obj["metadata"]["name"]) for d in result.documents}
    assert objects == {("Namespace", "demo"), ("ConfigMap", "app-config"),
                       ("Deployment", "web"), ("Service", "web"),
                       ("Deployment", "api"), ("Service", "api")}
    assert images(result) == {"web": "localhost:5001/web:1.0.0",
                              "api": "localhost:5001/api:1.0.0"}
    web = next(d for d in result.documents if d.obj["kind"] == "Deployment"
               and d.obj["metadata"]["name"] == "web")
    spec = web.obj["spec"]
    assert spec["replicas"] == 2 and spec["progressDeadlineSeconds"] == 60
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert web.obj["metadata"]["labels"]["app"] == "web"
    assert web.source_file == "web/deployment.yaml"
    assert all(d.obj["metadata"].get("namespace") == "demo" for d in result.documents
               if d.obj["kind"] != "Namespace")
    assert (hld / "generated" / "prod" / "web" / "web.yaml").is_file()
    assert not result.notes


def test_sample_validates_without_findings(hld: Path) -> None:
    assert validate_documents(generate(hld, ["prod"]).documents) == []
    assert lint_hld(hld) == []
    report = check_hld(hld, ["prod"])
    assert report.ok and report.findings == [], report.text
    assert "check passed" in report.text


def test_release_edit_changes_only_the_web_tag(hld: Path) -> None:
    before = generate(hld, ["prod"])
    written = set_values(hld, ["image.tag=1.1.0"], env="prod", subcomponent="web")
    assert written == hld / "config" / "prod.yaml"
    assert load_config(hld, "prod")["subcomponents"]["web"]["config"]["image"]["tag"] == "1.1.0"
    after = generate(hld, ["prod"])
    assert images(after) == {"web": "localhost:5001/web:1.1.0", "api": "localhost:5001/api:1.0.0"}
    diff = diff_objects([d.obj for d in before.documents], [d.obj for d in after.documents])
    assert diff.summary() == "0 added, 1 changed, 0 removed"
    changed_lines = [line for line in diff.changed[0].diff.splitlines()
                     if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
    assert [line.split()[-1] for line in changed_lines] == [
        "localhost:5001/web:1.0.0", "localhost:5001/web:1.1.0"]
    assert check_hld(hld, ["prod"]).ok
    assert lint_hld(hld) == []


def test_sample_without_prod_tags_fails_with_the_file_and_line(hld: Path) -> None:
    report = check_hld(hld, ["staging"])
    assert not report.ok
    [finding] = [f for f in report.findings if f.rule == "generate"]
    image_line = (hld / "web" / "deployment.yaml").read_text().splitlines().index(
        "          image: localhost:5001/web:${image.tag}") + 1
    assert (finding.file, finding.line) == ("web/deployment.yaml", image_line)
    assert f"web/deployment.yaml:{image_line}: error: " in report.text
    assert "image.tag" in finding.message
