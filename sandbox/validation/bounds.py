"""Bounds findings for the PR check: what the HLD's files and generated objects may
carry, and the CI job's time budget.

File checks run first and cheaply, before the generator, PyYAML or yamllint read a byte
of YAML, so a file built to be slow (yamllint is quadratic in nesting depth) fails in
milliseconds and the CI queue moves on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sandbox import limits
from sandbox.hld import ManifestDoc
from sandbox.validation.findings import Finding, object_ref
from sandbox.validation.policies import pod_spec

_STRUCTURED = (".yaml", ".yml", ".json")


class BudgetExceeded(Exception):
    """A CI job went past its time budget; the message names the slow phase."""


class Deadline:
    """A time budget checked between phases; remembers how long each phase took."""

    def __init__(self, seconds: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.started = clock()
        self._mark = self.started
        self.phases: list[tuple[str, float]] = []

    def note(self, phase: str) -> float:
        """Record that ``phase`` just finished; the seconds spent so far."""
        now = self.clock()
        self.phases.append((phase, now - self._mark))
        self._mark = now
        return now - self.started

    def check(self, phase: str) -> None:
        """Record that ``phase`` just finished; raise when the budget is spent."""
        spent = self.note(phase)
        if self.seconds is not None and spent > self.seconds:
            slow, took = max(self.phases, key=lambda item: item[1])
            raise BudgetExceeded(
                f"the job went past its time budget of {self.seconds:g}s ({spent:.1f}s spent, "
                f"stopped after {phase}); slowest: {slow} ({took:.1f}s). Split large files "
                "or raise the ci_job_seconds setting")


def _files(hld_dir: Path) -> Iterator[Path]:
    for path in sorted(hld_dir.rglob("*")):
        relative = path.relative_to(hld_dir)
        if any(part.startswith(".") for part in relative.parts[:-1]):
            continue
        if path.is_file() and not path.is_symlink():
            yield path


def file_findings(hld_dir: Path, deadline: Deadline | None = None) -> list[Finding]:
    """Size and nesting of every file in the HLD, before anything parses them."""
    findings: list[Finding] = []
    for path in _files(hld_dir):
        shown = path.relative_to(hld_dir).as_posix()
        size = path.stat().st_size
        if size > limits.MAX_HLD_FILE_BYTES:
            findings.append(Finding(
                "error", shown, 0, f"file is {size} bytes, over the limit of "
                f"{limits.MAX_HLD_FILE_BYTES} for HLD files; not read", "bounds/file-size"))
            continue
        if path.suffix not in _STRUCTURED:
            continue
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the generator and yamllint say why, with the line
        deep = limits.nesting_depth(text)
        if deep is not None:
            findings.append(Finding(
                "error", shown, deep[1], f"nested more than {limits.MAX_YAML_DEPTH} levels "
                "deep; not parsed (flatten the structure)", "bounds/nesting"))
        if deadline is not None:
            deadline.check(f"reading {shown}")
    return findings


def _replicas_of(obj: dict[str, Any]) -> Any:
    spec = obj.get("spec")
    return spec.get("replicas") if isinstance(spec, dict) else None


def object_findings(docs: list[ManifestDoc], components: int,
                    max_replicas: int = limits.DEFAULT_MAX_REPLICAS) -> list[Finding]:
    """Counts, replicas, kinds and label/annotation sizes of the generated objects."""
    findings: list[Finding] = []
    if components > limits.MAX_COMPONENTS:
        findings.append(Finding("error", "", 0, f"the HLD has {components} components, over "
                                f"the limit of {limits.MAX_COMPONENTS}", "bounds/components"))
    if len(docs) > limits.MAX_OBJECTS_PER_COMMIT:
        findings.append(Finding("error", docs[limits.MAX_OBJECTS_PER_COMMIT].source_file,
                                docs[limits.MAX_OBJECTS_PER_COMMIT].source_line,
                                f"the HLD generates {len(docs)} objects, over the limit of "
                                f"{limits.MAX_OBJECTS_PER_COMMIT} per commit",
                                "bounds/objects"))
    for doc in docs[: limits.MAX_OBJECTS_PER_COMMIT]:
        obj = doc.obj
        problems: list[tuple[str, str]] = []
        # Missing kind or apiVersion is the required-fields check's to report.
        kind = limits.kind_problem(obj["kind"]) if obj.get("kind") else None
        if kind:
            problems.append(("bounds/kind", kind))
        api = limits.api_version_problem(obj["apiVersion"]) if obj.get("apiVersion") else None
        if api:
            problems.append(("bounds/kind", api))
        replicas = limits.replicas_problem(_replicas_of(obj), max_replicas)
        if replicas:
            problems.append(("bounds/replicas", replicas))
        for problem in limits.metadata_problems(obj.get("metadata")):
            problems.append(("bounds/metadata", problem))
        if pod_spec(obj) is not None and obj.get("kind") != "Pod":
            template = (obj.get("spec") or {}).get("template")
            if isinstance(template, dict):
                for problem in limits.metadata_problems(template.get("metadata")):
                    problems.append(("bounds/metadata", f"spec.template: {problem}"))
        ref = object_ref(obj) if not (kind or api) else None
        for rule, message in problems:
            findings.append(Finding("error", doc.source_file, doc.source_line, message, rule,
                                    ref))
    return findings
