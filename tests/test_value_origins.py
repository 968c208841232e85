"""A bad value that a ${var} put into a manifest is reported where the value is set."""

from __future__ import annotations

from pathlib import Path

from sandbox.validation import check_hld

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: localhost:5001/web:1.0.0
          resources: {requests: {cpu: 10m}, limits: {cpu: 100m}}
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def hld(root: Path, prod: str, common: str = "") -> Path:
    write(root / "component.yaml", "name: app\nsubcomponents:\n  - name: web\n    type: static\n"
          "    path: ./web\n    substitute: true\n")
    write(root / "web" / "deployment.yaml", DEPLOY)
    write(root / "config" / "prod.yaml", prod)
    if common:
        write(root / "config" / "common.yaml", common)
    return root


def schema_errors(root: Path) -> list:
    report = check_hld(root, ["prod"])
    assert not report.ok
    return [f for f in report.errors if f.rule == "schema"]


def test_bad_substituted_value_points_at_the_config_line(tmp_path: Path) -> None:
    root = hld(tmp_path, "subcomponents:\n  web:\n    config:\n      replicas: abc\n")
    [finding] = schema_errors(root)
    assert (finding.file, finding.line) == ("config/prod.yaml", 4)
    assert "spec.replicas" in finding.message
    assert "${replicas} at web/deployment.yaml:7" in finding.message


def test_the_winning_file_is_named_when_several_set_the_key(tmp_path: Path) -> None:
    # prod beats common (fab 0.17 precedence), so prod's line is where to fix it.
    root = hld(tmp_path, "# prod\nsubcomponents:\n  web:\n    config:\n      replicas: abc\n",
               "subcomponents:\n  web:\n    config:\n      replicas: 2\n")
    [finding] = schema_errors(root)
    assert (finding.file, finding.line) == ("config/prod.yaml", 5)
    root = hld(tmp_path / "b", "subcomponents:\n  web:\n    config:\n      other: 1\n",
               "subcomponents:\n  web:\n    config:\n      replicas: abc\n")
    [finding] = schema_errors(root)
    assert (finding.file, finding.line) == ("config/common.yaml", 4)


def test_a_components_own_config_folder_is_found(tmp_path: Path) -> None:
    write(tmp_path / "component.yaml",
          "name: app\nsubcomponents:\n  - name: web\n    source: ./web\n")
    write(tmp_path / "web" / "component.yaml",
          "name: web\ntype: static\npath: ./m\nsubstitute: true\n")
    write(tmp_path / "web" / "m" / "deployment.yaml", DEPLOY)
    write(tmp_path / "web" / "config" / "prod.yaml", "config:\n  replicas: many\n")
    [finding] = schema_errors(tmp_path)
    assert (finding.file, finding.line) == ("web/config/prod.yaml", 2)


def test_a_value_written_in_the_manifest_still_points_at_the_manifest(tmp_path: Path) -> None:
    root = hld(tmp_path, "subcomponents:\n  web:\n    config:\n      replicas: 2\n")
    text = DEPLOY.replace("replicas: ${replicas}", "replicas: ${replicas}\n  paused: maybe")
    write(root / "web" / "deployment.yaml", text)
    [finding] = schema_errors(root)
    assert (finding.file, finding.line) == ("web/deployment.yaml", 1)
    assert "spec.paused" in finding.message


def test_a_house_rule_on_a_substituted_image_points_at_the_config(tmp_path: Path) -> None:
    root = hld(tmp_path, "subcomponents:\n  web:\n    config:\n      replicas: 2\n"
               "      tag: latest\n")
    write(root / "web" / "deployment.yaml", DEPLOY.replace("web:1.0.0", "web:${tag}"))
    report = check_hld(root, ["prod"])
    [finding] = report.errors
    assert (finding.file, finding.line, finding.rule) == ("config/prod.yaml", 5, "image-tag")


def test_a_replica_count_over_the_bound_points_at_the_config(tmp_path: Path) -> None:
    root = hld(tmp_path, "subcomponents:\n  web:\n    config:\n      replicas: 99999999999\n")
    [finding] = [f for f in check_hld(root, ["prod"]).errors if f.rule == "bounds/replicas"]
    assert (finding.file, finding.line) == ("config/prod.yaml", 4)
