"""yamllint helps instead of blocking: style warns, meaning-changing problems fail."""

from __future__ import annotations

from pathlib import Path

from sandbox.validation import check_hld, lint_hld

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: demo\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def hld(root: Path, vendored: str) -> Path:
    write(root / "component.yaml", "name: app\ntype: static\npath: ./vendor\n")
    write(root / "vendor" / "cm.yaml", vendored)
    return root


# Trailing spaces, a colon and a comma spaced oddly, a long line, odd indentation and no
# newline at the end: all style.
STYLE = ("apiVersion: v1   \nkind : ConfigMap\nmetadata:\n     name: cm\n     namespace: demo\n"
         "     labels: {a: x , b: y}\ndata:\n"
         f"     long: {'word ' * 40}\n     url: https://example.test/{'y' * 150}")


def test_vendored_manifest_with_style_problems_passes_with_warnings(tmp_path: Path) -> None:
    report = check_hld(hld(tmp_path, STYLE), ["prod"])
    assert report.ok, report.text
    rules = {f.rule for f in report.warnings}
    assert {"yamllint/trailing-spaces", "yamllint/colons", "yamllint/commas",
            "yamllint/line-length", "yamllint/new-line-at-end-of-file"} <= rules
    assert all(f.file == "vendor/cm.yaml" for f in report.warnings)
    assert "check passed: 0 errors" in report.text


def test_duplicate_keys_fail(tmp_path: Path) -> None:
    report = check_hld(hld(tmp_path, CM.format(name="a") + "  name: b\n"), ["prod"])
    assert not report.ok
    assert [(f.file, f.line, f.rule) for f in report.errors] == [
        ("vendor/cm.yaml", 6, "yamllint/key-duplicates")]


def test_truthy_values_fail_but_truthy_keys_do_not(tmp_path: Path) -> None:
    root = hld(tmp_path, CM.format(name="a") + "data:\n  on: 'x'\n  enabled: yes\n")
    [finding] = lint_hld(root)
    assert (finding.line, finding.severity, finding.rule) == (8, "error", "yamllint/truthy")


def test_hld_yamllint_file_is_honoured(tmp_path: Path) -> None:
    root = hld(tmp_path, CM.format(name="a") + "data:\n  k: v   \n")
    assert [f.severity for f in lint_hld(root)] == ["warning"]
    write(root / ".yamllint", "extends: relaxed\nrules:\n  trailing-spaces:\n    level: error\n")
    [finding] = lint_hld(root)
    assert (finding.severity, finding.rule) == ("error", "yamllint/trailing-spaces")
    assert not check_hld(root, ["prod"]).ok


def test_hld_yamllint_yaml_can_relax_and_ignore(tmp_path: Path) -> None:
    root = hld(tmp_path, CM.format(name="a") + "data:\n  enabled: yes\n")
    write(root / "legacy" / "x.yaml", "a: 1\na: 2\n")
    write(root / ".yamllint.yaml",
          "extends: default\nignore: |\n  legacy/\nrules:\n  truthy: disable\n")
    findings = lint_hld(root)
    # default's document-start warns about every file; nothing else is left.
    assert {(f.severity, f.rule) for f in findings} == {("warning", "yamllint/document-start")}
    assert "legacy/x.yaml" not in {f.file for f in findings}


def test_bad_or_escaping_yamllint_config_is_a_finding_and_default_applies(tmp_path: Path) -> None:
    root = hld(tmp_path, CM.format(name="a") + "  name: b\n")
    write(root / ".yamllint.yml", "extends: /etc/passwd\n")
    findings = lint_hld(root)
    assert [(f.file, f.rule) for f in findings] == [
        (".yamllint.yml", "yamllint/config"), ("vendor/cm.yaml", "yamllint/key-duplicates")]
    write(root / ".yamllint.yml", "rules: [\n")
    assert lint_hld(root)[0].rule == "yamllint/config"


def test_helm_templates_are_not_linted_as_yaml(tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "web"
    write(chart / "Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n")
    write(chart / "values.yaml", "replicas: 2\n")
    write(chart / "templates" / "deployment.yaml",
          "{{- if .Values.enabled }}\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
          "{{- end }}\n")
    # A folder named templates outside a chart is ordinary YAML and still linted.
    write(tmp_path / "templates" / "x.yaml", "a: 1\na: 2\n")
    assert [(f.file, f.rule) for f in lint_hld(tmp_path)] == [
        ("templates/x.yaml", "yamllint/key-duplicates")]


def test_a_syntax_error_is_yamllints_own_finding_and_valid_yaml_has_none(
        tmp_path: Path) -> None:
    # libyaml is asked first (fast); when it refuses, yamllint's own parser says where.
    broken = CM.format(name="cm") + "data:\n  a: [1, 2\n  b: 3\n"
    write(tmp_path / "broken.yaml", broken)
    write(tmp_path / "fine.yaml", CM.format(name="fine") + "data:\n  a: '1'\n")
    found = lint_hld(tmp_path)
    syntax = [f for f in found if f.rule == "yamllint/syntax"]
    assert [(f.file, f.severity) for f in syntax] == [("broken.yaml", "error")]
    assert syntax[0].message.startswith("syntax error: ")
    assert syntax[0].line == 8
