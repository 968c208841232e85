"""Bounds findings for the PR check: what the HLD's files and generated objects may
carry, and the CI job's time budget.

File checks run first and cheaply, before the generator, PyYAML or yamllint read a byte
of YAML, so a file built to be slow (yamllint is quadratic in nesting depth) fails in
milliseconds and the CI queue moves on.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from sandbox import limits
from sandbox.hld import ManifestDoc
from sandbox.validation.documents import locate
from sandbox.validation.findings import Finding, object_ref
from sandbox.validation.policies import pod_spec

_STRUCTURED = (".yaml", ".yml", ".json")
_DEPTHS: dict[object, tuple[int, int] | None] = {}  # by blob id or by file state
_CLEAN: set[tuple[str, int]] = set()  # objects (by content hash) with no bounds problem
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when its parent dies


class BudgetExceeded(Exception):
    """A CI job went past its time budget; the message names the slow phase."""


class Deadline:
    """A time budget checked between phases; remembers how long each phase took."""

    def __init__(self, seconds: float | None,
                 clock: Callable[[], float] = time.monotonic, *, hard: bool = True) -> None:
        self.seconds = seconds
        self.clock = clock
        # hard: a phase that may run long on its own (yamllint) runs where it can be
        # stopped at the deadline instead of only being measured after it.
        self.hard = hard and seconds is not None
        self.started = clock()
        self._mark = self.started
        self.phases: list[tuple[str, float]] = []

    def note(self, phase: str) -> float:
        """Record that ``phase`` just finished; the seconds spent so far."""
        now = self.clock()
        self.phases.append((phase, now - self._mark))
        self._mark = now
        return now - self.started

    def remaining(self) -> float | None:
        return None if self.seconds is None else self.seconds - (self.clock() - self.started)

    def check(self, phase: str) -> None:
        """Record that ``phase`` just finished; raise when the budget is spent."""
        spent = self.note(phase)
        if self.seconds is not None and spent > self.seconds:
            self.exceeded(f"after {phase}", spent)

    def exceeded(self, where: str, spent: float) -> None:
        slow, took = max(self.phases, key=lambda item: item[1])
        raise BudgetExceeded(
            f"the job went past its time budget of {self.seconds:g}s ({spent:.1f}s spent, "
            f"stopped {where}); slowest: {slow} ({took:.1f}s). Split large files "
            "or raise the ci_job_seconds setting")


def within(deadline: Deadline, phase: str, work: Callable[[], Any]) -> Any:
    """``work()`` stopped at the deadline: run in a forked child (copy-on-write, so it
    costs milliseconds) that is killed when the budget runs out, naming ``phase``."""
    remaining = deadline.remaining()
    if not deadline.hard or remaining is None:
        return work()
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(work, writer), daemon=True)
    child.start()
    writer.close()
    try:
        if reader.poll(max(0.0, remaining)):
            try:
                ok, value = reader.recv()
            except EOFError:
                ok, value = False, RuntimeError(f"{phase} stopped without an answer")
            if ok:
                return value
            raise value
        deadline.note(f"{phase} (stopped)")
        deadline.exceeded(f"during {phase}", deadline.clock() - deadline.started)
        raise AssertionError("unreachable")  # pragma: no cover - exceeded() raises
    finally:
        reader.close()
        if child.is_alive():
            child.kill()
        child.join()


def _child(work: Callable[[], Any], writer: Any) -> None:
    _detach(writer.fileno())
    try:
        writer.send((True, work()))
    except Exception as exc:  # noqa: BLE001 - handed to the parent to raise there
        writer.send((False, exc))
    finally:
        writer.close()


def _files(hld_dir: Path) -> Iterator[Path]:
    for path in sorted(hld_dir.rglob("*")):
        relative = path.relative_to(hld_dir)
        if any(part.startswith(".") for part in relative.parts[:-1]):
            continue
        if path.is_file() and not path.is_symlink():
            yield path


def _listed(hld_dir: Path, listing: Mapping[str, tuple[str, int]],
            touched: Collection[str] | None) -> Iterator[tuple[Path, str, int, str]]:
    for shown in sorted(listing):
        if "/." in f"/{shown.rpartition('/')[0]}":
            continue  # inside a hidden folder
        blob, size = listing[shown]
        if size <= limits.MAX_HLD_FILE_BYTES and (
                not shown.endswith(_STRUCTURED) or blob in _DEPTHS and _DEPTHS[blob] is None
                or touched is not None and shown not in touched):
            continue  # nothing to say about it: no Path, no deadline check (3,000 files)
        yield hld_dir / shown, shown, size, blob


def file_findings(hld_dir: Path, deadline: Deadline | None = None,
                  listing: Mapping[str, tuple[str, int]] | None = None,
                  touched: Collection[str] | None = None) -> list[Finding]:
    """Size and nesting of every file in the HLD, before anything parses them.

    ``listing`` (path -> git blob id and size, when the folder holds exactly a commit)
    saves walking the folder, and a blob's nesting is worked out once. With it,
    ``touched`` (the files a PR changes) limits the reading to them: every other file is
    the base's, which its generation parsed already; sizes come from the listing."""
    findings: list[Finding] = []
    if listing is not None:
        files: Iterator[tuple[Path, str, int, object]] = _listed(hld_dir, listing, touched)
    else:
        files = ((path, path.relative_to(hld_dir).as_posix(), path.stat().st_size, None)
                 for path in _files(hld_dir))
    for path, shown, size, blob in files:
        if size > limits.MAX_HLD_FILE_BYTES:
            findings.append(Finding(
                "error", shown, 0, f"file is {size} bytes, over the limit of "
                f"{limits.MAX_HLD_FILE_BYTES} for HLD files; not read", "bounds/file-size"))
            continue
        if path.suffix not in _STRUCTURED:
            continue
        if blob is None:
            seen = path.stat()
            memo: object = (str(path), seen.st_size, seen.st_mtime_ns, seen.st_ino)
        else:
            memo = blob  # the same content wherever it is
        if memo in _DEPTHS:
            deep = _DEPTHS[memo]
        else:
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # the generator and yamllint say why, with the line
            deep = limits.nesting_depth(text)
            if len(_DEPTHS) >= 50_000:
                _DEPTHS.clear()
            _DEPTHS[memo] = deep
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
        memo = (doc.digest, max_replicas)
        if doc.digest and memo in _CLEAN:
            continue  # the same object passed before (a shared, read-only one)
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
        if not problems and doc.digest:
            if len(_CLEAN) >= 100_000:
                _CLEAN.clear()
            _CLEAN.add(memo)
        ref = object_ref(obj) if not (kind or api) else None
        for rule, message in problems:
            # A replica count a ${var} filled in is fixed in the config that set it.
            path: tuple[str, ...] = ("spec", "replicas") if rule == "bounds/replicas" else ()
            file, line, message = locate(doc, path, message)
            findings.append(Finding("error", file, line, message, rule, ref))
    return findings


def _detach(keep: int) -> None:
    """The child must not outlive the engine, nor keep its files open: an inherited
    descriptor of the engine lock would keep the lock held after the engine died."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the deadline still stops the child
    os.closerange(3, keep)
    os.closerange(keep + 1, max(keep + 2, os.sysconf("SC_OPEN_MAX")))
