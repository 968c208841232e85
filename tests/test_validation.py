"""Validation: schema, required fields, duplicates, house rules, lint, check_hld."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.hld import ManifestDoc
from sandbox.validation import Finding, check_hld, lint_hld, schema_version, validate_documents


def container(image: str = "localhost:5001/web:1.0.0", resources: Any = "default") -> dict:
    spec: dict[str, Any] = {"name": "c", "image": image}
    if resources == "default":
        spec["resources"] = {"requests": {"cpu": "10m"}, "limits": {"cpu": "100m"}}
    elif resources is not None:
        spec["resources"] = resources
    return spec


def deployment(name: str = "web", **container_args: Any) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "demo"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [container(**container_args)]}},
        },
    }


def docs(*objects: dict) -> list[ManifestDoc]:
    return [ManifestDoc(obj, "web/deployment.yaml", 3 + 10 * i, "web")
            for i, obj in enumerate(objects)]


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def test_clean_deployment_has_no_findings() -> None:
    assert validate_documents(docs(deployment())) == []


def test_schema_is_strict_about_unknown_fields_and_types() -> None:
    obj = deployment()
    obj["spec"]["replica"] = 2
    obj["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": "http"}]
    findings = validate_documents(docs(obj))
    assert rules(findings) == ["schema", "schema"]
    assert "'replica' was unexpected" in findings[0].message
    assert findings[1].message.startswith("spec.template.spec.containers.0.ports.0.containerPort")
    assert (findings[0].file, findings[0].line, findings[0].object) == (
        "web/deployment.yaml", 3, "Deployment/demo/web")


def test_unknown_kind_is_a_warning() -> None:
    # A custom resource whose CRD is not in the commit: only the live cluster can tell
    # (see test_discovery_check.py for what the check says with and without it).
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    [finding] = validate_documents(docs(obj))
    assert (finding.severity, finding.rule) == ("warning", "api-version")


@pytest.mark.parametrize(
    ("obj", "missing"),
    [
        ({"kind": "ConfigMap", "metadata": {"name": "x"}}, "apiVersion"),
        ({"apiVersion": "v1", "metadata": {"name": "x"}}, "kind"),
        ({"apiVersion": "v1", "kind": "ConfigMap"}, "metadata.name"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"labels": {}}}, "metadata.name"),
    ],
)
def test_required_fields(obj: dict, missing: str) -> None:
    [finding] = validate_documents(docs(obj))
    assert finding.rule == "required-fields" and missing in finding.message


def test_duplicates_point_at_the_first_definition() -> None:
    findings = validate_documents(docs(deployment(), deployment(), deployment("api")))
    assert rules(findings) == ["duplicate"]
    assert findings[0].line == 13 and "first at web/deployment.yaml:3" in findings[0].message


@pytest.mark.parametrize(
    ("image", "bad"),
    [
        ("nginx", True),
        ("nginx:latest", True),
        ("localhost:5001/web", True),
        ("localhost:5001/web:latest", True),
        ("localhost:5001/web:1.0.0", False),
        ("nginx@sha256:" + "a" * 64, False),
    ],
)
def test_image_tag_policy(image: str, bad: bool) -> None:
    assert rules(validate_documents(docs(deployment(image=image)))) == (["image-tag"] if bad else [])


@pytest.mark.parametrize(
    "resources",
    [None, {}, {"requests": {"cpu": "1m"}}, {"limits": {"cpu": "1m"}}],
)
def test_resources_policy(resources: Any) -> None:
    findings = validate_documents(docs(deployment(resources=resources)))
    assert rules(findings) == ["resources"]


def test_resources_policy_covers_init_containers_and_cronjobs() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"initContainers": [container(resources=None)], "containers": [container()]}}
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "Never", "containers": [container(image="busybox")]}}}}}}
    assert rules(validate_documents(docs(pod, cron))) == ["resources", "image-tag"]


@pytest.mark.parametrize("field", ["data", "stringData"])
def test_secret_values_in_hld_are_errors(field: str) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              field: {"password": "aHVudGVyMg==" if field == "data" else "hunter2"}}
    [finding] = validate_documents(docs(secret))
    assert (finding.severity, finding.rule) == ("error", "secret-in-hld")
    empty = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
    assert validate_documents(docs(empty)) == []


def test_finding_str() -> None:
    finding = Finding("error", "web/deployment.yaml", 12, "bad", "schema", "Deployment/demo/web")
    assert str(finding) == "web/deployment.yaml:12: error: Deployment/demo/web: bad [schema]"
    assert str(Finding("warning", "a.yaml", 0, "x", "r")) == "a.yaml: warning: x [r]"


def test_schema_version_picks_newest_not_newer() -> None:
    assert schema_version("1.30.0") == "1.30.0"
    assert schema_version("v1.30.7") == "1.30.0"
    with pytest.raises(ValueError):
        schema_version("0.1")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_lint_reports_errors_and_warnings_relative_to_hld(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: app\nname: again\n")
    write(tmp_path / "m" / "a.yaml", "kind: X\n# comment\nkey: value   \non: yes\n")
    write(tmp_path / ".git" / "x.yaml", "bad: [\n")
    write(tmp_path / "components" / "vendored" / "x.yaml", "bad: [\n")
    findings = lint_hld(tmp_path)
    summary = {(f.file, f.line, f.severity, f.rule) for f in findings}
    assert ("component.yaml", 2, "error", "yamllint/key-duplicates") in summary
    assert ("m/a.yaml", 3, "warning", "yamllint/trailing-spaces") in summary
    assert ("m/a.yaml", 4, "error", "yamllint/truthy") in summary
    assert all(f.file in ("component.yaml", "m/a.yaml") for f in findings)


def test_check_hld_reports_yaml_syntax_error_once(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    write(tmp_path / "m" / "a.yaml", "kind: A\nmetadata:\n  name: [oops\n")
    report = check_hld(tmp_path, ["prod"])
    assert not report.ok
    errors = [f for f in report.findings if f.severity == "error"]
    assert len(errors) == 1 and errors[0].file == "m/a.yaml" and errors[0].line >= 3
    assert "m/a.yaml:" in report.text and "check failed" in report.text


def test_check_hld_reports_invalid_manifest(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml", "name: app\ntype: static\npath: ./m\n")
    write(tmp_path / "m" / "a.yaml",
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: v\n---\n"
          "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  portz: []\n")
    report = check_hld(tmp_path, ["prod"])
    assert not report.ok
    [finding] = report.findings
    assert (finding.file, finding.line, finding.rule, finding.object) == (
        "m/a.yaml", 8, "schema", "Service/s")
    assert len(report.documents) == 2
