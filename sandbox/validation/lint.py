"""yamllint over the YAML files of an HLD: real YAML problems fail, style only warns.

Vendored manifests (charts, operators, upstream YAML) rarely follow one house style, and
a missing newline at the end of a file says nothing about what reaches the cluster. So
the default is yamllint's own ``relaxed`` preset, with the problems that change meaning
kept as errors: syntax, duplicate keys (the last one silently wins), and ``yes``/``on``
style truthy values (YAML 1.1 reads them as booleans, Kubernetes' YAML 1.2 parsers as
strings). A ``.yamllint``/``.yamllint.yaml``/``.yamllint.yml`` at the HLD root replaces
the default, as it would for yamllint run in the repository.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator
from pathlib import Path

import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig, YamlLintConfigError

from sandbox.hld import MAX_FILE_BYTES
from sandbox.validation.findings import Finding

# relaxed: braces, brackets, colons, commas, empty lines, hyphens, indentation and line
# length at warning level. On top of it: the rest of the style rules warn too, truthy
# values are errors (keys are not checked: 'on:' is a common key), documents need no
# '---', and lists may be indented or not (go-yaml, which fab set uses, does not).
LINT_CONFIG = """
extends: relaxed
rules:
  document-start: disable
  line-length:
    level: warning
    max: 120
    allow-non-breakable-words: true
    allow-non-breakable-inline-mappings: true
  indentation:
    level: warning
    spaces: consistent
    indent-sequences: whatever
  trailing-spaces:
    level: warning
  new-line-at-end-of-file:
    level: warning
  new-lines:
    level: warning
  truthy:
    level: error
    allowed-values: ['true', 'false']
    check-keys: false
  key-duplicates:
    level: error
"""

CONFIG_FILES = (".yamllint", ".yamllint.yaml", ".yamllint.yml")
# yamllint resolves any other 'extends' as a file path: a pushed HLD must not make the
# check read files of the machine it runs on.
_PRESETS = ("default", "relaxed")
_SKIPPED_DIRS = {"components", "generated", "node_modules"}


_python_syntax_error = linter.get_syntax_error
_CParser: type | None = getattr(yaml, "CBaseLoader", None)


def _syntax_error(buffer: str) -> object:
    """yamllint's syntax check, asking libyaml first: its C parser reads a file tens of
    times faster than PyYAML's pure Python one, and it is the parser the generator
    reads HLD files with, so what it accepts is what reaches the cluster. Only when it
    refuses does PyYAML's parser run, so the message and place are yamllint's own."""
    if _CParser is not None:
        try:
            for _event in yaml.parse(buffer, Loader=_CParser):
                pass
            return None
        except yaml.YAMLError:
            pass
    return _python_syntax_error(buffer)


# A third of yamllint's time on a big config file was its syntax check's parse.
linter.get_syntax_error = _syntax_error


@functools.cache
def default_config() -> YamlLintConfig:
    return YamlLintConfig(LINT_CONFIG)


def hld_config(hld_dir: Path) -> tuple[YamlLintConfig, list[Finding]]:
    """The HLD's own yamllint config if it has one, else the default; plus its problems."""
    for name in CONFIG_FILES:
        path = hld_dir / name
        if not path.is_file() or path.is_symlink():
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise YamlLintConfigError("file is over the size limit for HLD files")
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError, YamlLintConfigError) as exc:
            return _refused(name, exc)
        return config_from(name, text)
    return default_config(), []


def config_from(name: str, text: str) -> tuple[YamlLintConfig, list[Finding]]:
    """The configuration an HLD's ``name`` (one of CONFIG_FILES) holding ``text`` gives."""
    try:
        data = yaml.safe_load(text)
        extends = data.get("extends") if isinstance(data, dict) else None
        if extends is not None and extends not in _PRESETS:
            raise YamlLintConfigError(
                f"'extends: {extends}' is not allowed; extend one of {', '.join(_PRESETS)} "
                "and list the rules to change")
        return YamlLintConfig(text), []
    except (yaml.YAMLError, YamlLintConfigError) as exc:
        return _refused(name, exc)


def _refused(name: str, exc: Exception) -> tuple[YamlLintConfig, list[Finding]]:
    message = str(exc).removeprefix("invalid config: ")
    return default_config(), [Finding(
        "error", name, 0, f"yamllint config not used ({message}); linted with the "
        "default instead", "yamllint/config")]


def _helm_templates(hld_dir: Path, relative: Path) -> bool:
    """Inside a Helm chart's templates/ folder: Go templates, not YAML."""
    parts = relative.parts[:-1]
    for index, part in enumerate(parts):
        if part == "templates":
            chart = hld_dir.joinpath(*parts[:index])
            if (chart / "Chart.yaml").is_file() or (chart / "Chart.yml").is_file():
                return True
    return False


def yaml_files(hld_dir: Path) -> Iterator[Path]:
    """The HLD's own YAML files: not hidden folders, fetched components, generated output
    or Helm templates."""
    for path in sorted(hld_dir.rglob("*")):
        relative = path.relative_to(hld_dir)
        if any(part.startswith(".") or part in _SKIPPED_DIRS for part in relative.parts[:-1]):
            continue
        if path.suffix in (".yaml", ".yml") and path.is_file() and not path.is_symlink():
            if not _helm_templates(hld_dir, relative):
                yield path


# path -> a YAML file outside hidden, fetched and generated folders (its own name says)
_PLAIN: dict[str, bool] = {}


def listed_yaml_files(names: Collection[str]) -> list[str]:
    """:func:`yaml_files` over a commit's file names (relative paths) instead of a walk."""
    present = set(names)
    out = []
    for shown in sorted(present):
        plain = _PLAIN.get(shown)
        if plain is None:
            parts = shown.split("/")
            plain = _PLAIN[shown] = shown.endswith((".yaml", ".yml")) and not any(
                part.startswith(".") or part in _SKIPPED_DIRS for part in parts[:-1])
            if len(_PLAIN) >= 100_000:
                _PLAIN.clear()
        if not plain:
            continue
        if "templates/" not in shown:
            out.append(shown)
            continue
        parts = shown.split("/")
        charts = ["/".join(parts[:i]) for i, part in enumerate(parts[:-1]) if part == "templates"]
        if any(f"{c}/Chart.yaml" in present or f"{c}/Chart.yml" in present
               or (not c and ({"Chart.yaml", "Chart.yml"} & present)) for c in charts):
            continue  # Go templates of a Helm chart, not YAML
        out.append(shown)
    return out


def lint_hld(hld_dir: Path, only: Collection[str] | None = None) -> list[Finding]:
    """yamllint over the HLD's YAML files (or only those relative paths)."""
    config, findings = hld_config(hld_dir)
    if only is None:
        paths = [(p, p.relative_to(hld_dir).as_posix()) for p in yaml_files(hld_dir)]
    else:
        # Only the named files: walking a 3,000-file HLD to lint one costs more than it.
        listed = set(listed_yaml_files(_with_charts(hld_dir, only)))
        paths = [(hld_dir / shown, shown) for shown in sorted(set(only) & listed)
                 if (hld_dir / shown).is_file() and not (hld_dir / shown).is_symlink()]
    for path, shown in paths:
        if config.is_file_ignored(shown):
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            findings.append(Finding("error", shown, 0, "file is over the size limit for HLD "
                                    "files; not linted", "size"))
            continue
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            findings.append(Finding("error", shown, 0, f"cannot read file: {exc}", "read"))
            continue
        for problem in linter.run(text, config, str(path)):
            findings.append(Finding(
                "error" if problem.level == "error" else "warning",
                shown,
                problem.line,
                problem.desc,
                f"yamllint/{problem.rule or 'syntax'}",
            ))
    return findings


def _with_charts(hld_dir: Path, names: Collection[str]) -> set[str]:
    """``names`` plus the Chart.yaml files that make a templates/ folder among them a
    Helm chart's, so the listing rules skip the same files a walk skips."""
    out = set(names)
    for shown in names:
        parts = shown.split("/")
        for index, part in enumerate(parts[:-1]):
            if part == "templates":
                for chart in ("Chart.yaml", "Chart.yml"):
                    candidate = "/".join([*parts[:index], chart])
                    if (hld_dir / candidate).is_file():
                        out.add(candidate)
    return out
