"""The validation job in one call: generate, lint, validate, and a readable log."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sandbox import limits
from sandbox.hld import GeneratedComponent, HldError, ManifestDoc, generate
from sandbox.validation.bounds import (
    BudgetExceeded,
    Deadline,
    file_findings,
    object_findings,
    within,
)
from sandbox.validation.documents import manifest_findings, validate_documents
from sandbox.validation.findings import Finding
from sandbox.validation.incremental import cached_generation, lint_with_cache
from sandbox.validation.lint import lint_hld

if TYPE_CHECKING:
    from sandbox.cluster.discovery import Discovery
    from sandbox.validation.cache import CheckCache


@dataclass
class CheckReport:
    ok: bool
    findings: list[Finding] = field(default_factory=list)
    documents: list[ManifestDoc] = field(default_factory=list)
    text: str = ""
    # The generation's components, each with the fingerprint of its inputs (when known)
    # and how many of ``documents`` it made, in order.
    components: list[GeneratedComponent] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def check_hld(hld_dir: Path, envs: list[str], kubernetes_version: str = "1.30.0", *,
              max_replicas: int = limits.DEFAULT_MAX_REPLICAS,
              deadline: Deadline | None = None,
              served: Discovery | None = None, cache: CheckCache | None = None,
              tree: str | None = None, touched: Collection[str] | None = None,
              listing: Mapping[str, tuple[str, int]] | None = None,
              base_tree: str | None = None) -> CheckReport:
    """Run every check on an HLD; ``ok`` is False when any finding is an error.

    ``served`` is the live cluster's API discovery (its CRDs included), when the caller
    has it: a custom resource whose CRD neither it nor the commit has is then an error.

    ``deadline`` is checked between phases: past it, the report fails with a finding
    naming the slowest phase instead of running the rest. With a ``cache``, the
    generation of ``tree`` (the HLD's git tree id), the lint of files outside
    ``touched`` (the files the PR changes; None: all) and the validation of objects seen
    before are reused. ``listing`` (path -> git blob id and size), when ``hld_dir``
    holds exactly one commit's files, saves walking the folder; then only ``touched``
    files are read for nesting and linted, the others keep what the check of
    ``base_tree`` (the base's tree) said of them.
    """
    hld_dir = Path(hld_dir)
    env_list = list(envs) or ["common"]
    log: list[str] = []
    findings: list[Finding] = []
    documents: list[ManifestDoc] = []
    components: list[GeneratedComponent] = []
    try:
        documents = _phases(hld_dir, env_list, kubernetes_version, max_replicas,
                            deadline or Deadline(None), log, findings, served,
                            _Reuse(cache, tree, touched, listing, base_tree), components)
    except BudgetExceeded as exc:
        findings.append(Finding("error", "", 0, str(exc), "time-budget"))

    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    log.extend(str(f) for f in findings)
    verdict = "passed" if errors == 0 else "failed"
    log.append(f"check {verdict}: {_count(errors, 'error')}, {_count(warnings, 'warning')}")
    return CheckReport(ok=errors == 0, findings=findings, documents=documents,
                       text="\n".join(log) + "\n", components=components)


@dataclass(frozen=True)
class _Reuse:
    cache: CheckCache | None = None
    tree: str | None = None
    touched: Collection[str] | None = None
    listing: Mapping[str, tuple[str, int]] | None = None
    base_tree: str | None = None


def _phases(hld_dir: Path, env_list: list[str], kubernetes_version: str, max_replicas: int,
            deadline: Deadline, log: list[str], findings: list[Finding],
            served: Discovery | None, reuse: _Reuse,
            components: list[GeneratedComponent]) -> list[ManifestDoc]:
    log.append("bounds: file sizes and nesting")
    too_big = file_findings(hld_dir, deadline, reuse.listing,
                            reuse.touched if reuse.cache is not None else None)
    findings.extend(too_big)
    log.append(f"  {_count(len(too_big), 'finding')}")
    if too_big:
        # Nothing parses a file built to be slow or huge: stop here, the queue moves on.
        return []

    documents: list[ManifestDoc] = []
    log.append(f"generate {' '.join(env_list)}")
    generate_error: Finding | None = None
    located: set[tuple[str, int]] = set()  # already reported; yamllint's syntax finding repeats
    try:
        result = cached_generation(reuse.cache, reuse.tree, env_list,
                                   lambda store: generate(hld_dir, env_list, reuse=store),
                                   reuse.listing)
    except HldError as exc:
        generate_error = Finding("error", exc.file or "", exc.line or 0,
                                 exc.reason + (f" ({exc.fix})" if exc.fix else ""), "generate")
        findings.append(generate_error)
        log.append(f"  failed: {generate_error}")
    else:
        documents = result.documents
        components.extend(result.components)
        log.append(f"  {_count(len(result.components), 'component')}, "
                   f"{_count(len(documents), 'object')}")
        log.extend(f"  note: {note}" for note in result.notes)
        findings.extend(not_manifests := manifest_findings(result.problems))
        located = {(f.file, f.line) for f in not_manifests}
    deadline.check("generate")

    log.append("yamllint")
    # yamllint is slow on big or nested files (quadratic in depth): the one phase that
    # runs where the deadline can stop it.
    def run_lint(only: Collection[str] | None) -> list[Finding]:
        if only is None:
            return within(deadline, "yamllint", lambda: lint_hld(hld_dir))
        if not only:
            return []
        return within(deadline, "yamllint", lambda: lint_hld(hld_dir, only=only))

    lint = lint_with_cache(hld_dir, reuse.cache, reuse.touched, run_lint, reuse.listing,
                           reuse.tree, reuse.base_tree,
                           lambda work: within(deadline, "yamllint", work))
    if generate_error is not None:
        located.add((generate_error.file, generate_error.line))
    # The parser already reported these syntax errors with the same file and line.
    lint = [f for f in lint if not (f.rule == "yamllint/syntax" and (f.file, f.line) in located)]
    findings.extend(lint)
    log.append(f"  {_count(len(lint), 'finding')}")
    deadline.check("yamllint")

    if generate_error is None:
        log.append("bounds: objects, replicas, kinds, labels")
        bounds = object_findings(documents, len(result.components), max_replicas)
        findings.extend(bounds)
        log.append(f"  {_count(len(bounds), 'finding')}")
        bad = {(f.file, f.line) for f in bounds if f.rule in ("bounds/kind", "bounds/objects")}
        # A kind or apiVersion that is not a name must never reach the schema lookup.
        checked = [d for d in documents[: limits.MAX_OBJECTS_PER_COMMIT]
                   if (d.source_file, d.source_line) not in bad] if bad \
            else documents[: limits.MAX_OBJECTS_PER_COMMIT]
        log.append(f"validate against Kubernetes {kubernetes_version}")
        validation = validate_documents(checked, kubernetes_version, served, reuse.cache)
        findings.extend(validation)
        log.append(f"  {_count(len(validation), 'finding')}")
        deadline.check("schema validation")
    return documents
