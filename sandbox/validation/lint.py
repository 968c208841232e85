"""yamllint over the YAML files of an HLD, with rules relaxed for Kubernetes manifests."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from yamllint import linter
from yamllint.config import YamlLintConfig

from sandbox.hld import MAX_FILE_BYTES
from sandbox.validation.findings import Finding

# document-start: manifests and fab-written config rarely start with '---'.
# line-length: image references and URLs are long. truthy keys: 'on:' keys are common.
# indent-sequences: go-yaml (fab set) writes unindented lists, hand-written files indent.
LINT_CONFIG = """
extends: default
rules:
  document-start: disable
  line-length: disable
  truthy:
    check-keys: false
  indentation:
    spaces: consistent
    indent-sequences: whatever
"""

_SKIPPED_DIRS = {"components", "generated", "node_modules"}


@functools.cache
def _config() -> YamlLintConfig:
    return YamlLintConfig(LINT_CONFIG)


def yaml_files(hld_dir: Path) -> Iterator[Path]:
    """The HLD's own YAML files: not hidden folders, fetched components or generated output."""
    for path in sorted(hld_dir.rglob("*")):
        relative = path.relative_to(hld_dir)
        if any(part.startswith(".") or part in _SKIPPED_DIRS for part in relative.parts[:-1]):
            continue
        if path.suffix in (".yaml", ".yml") and path.is_file() and not path.is_symlink():
            yield path


def lint_hld(hld_dir: Path) -> list[Finding]:
    findings: list[Finding] = []
    for path in yaml_files(hld_dir):
        shown = path.relative_to(hld_dir).as_posix()
        if path.stat().st_size > MAX_FILE_BYTES:
            findings.append(Finding("error", shown, 0, "file is over the size limit for HLD "
                                    "files; not linted", "size"))
            continue
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            findings.append(Finding("error", shown, 0, f"cannot read file: {exc}", "read"))
            continue
        for problem in linter.run(text, _config(), str(path)):
            findings.append(Finding(
                "error" if problem.level == "error" else "warning",
                shown,
                problem.line,
                problem.desc,
                f"yamllint/{problem.rule or 'syntax'}",
            ))
    return findings
