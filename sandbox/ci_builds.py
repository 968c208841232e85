"""What the CI runner's jobs build from an HLD commit, reusing earlier work.

- a PR check's build: the commit's files in the check's own folder (moved from commit to
  commit), checked with the cache (generation by tree, lint of the files the PR touches,
  validation by object);
- a generation for the manifest diff or the generate job, from the cache by tree;
- the server-side dry run of a check's objects against the live cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .gitutil import export_tree, git, short
from .workspace import Workspace

if TYPE_CHECKING:
    from .cluster.discovery import Discovery
    from .hld import GeneratedComponent, GenerateResult, ManifestDoc
    from .validation import CheckReport, Finding
    from .validation.bounds import Deadline
    from .validation.cache import CheckCache

Log = Callable[[str], None]


def tree_of(git_dir: Path, sha: str) -> str | None:
    """The commit's tree id: what its generation depends on (a merge commit with the
    tree its PR's check built reuses that build)."""
    out = git("rev-parse", "--verify", "--quiet", f"{sha}^{{tree}}", git_dir=git_dir,
              check=False).strip()
    return out or None


def touched_files(git_dir: Path, base: str, head: str) -> list[str]:
    """The files a PR changes: from where it left its base to its head."""
    fork = git("merge-base", base, head, git_dir=git_dir, check=False).strip() or base
    out = git("diff", "--name-only", "-z", "--no-renames", fork, head, git_dir=git_dir)
    return [name for name in out.split("\0") if name]


def build_check(ws: Workspace, cache: CheckCache, sha: str, log: Log,
                deadline: Deadline | None = None, base: str | None = None,
                served: Discovery | None = None) -> tuple[CheckReport, list[dict[str, Any]]]:
    """Every check on ``sha``; with ``base``, only the files it changed are linted.
    ``served``: the live cluster's API discovery, when there is one."""
    from .validation import check_hld
    from .validation.checkout import Checkout

    # The check's own folder, moved from commit to commit: only changed files are
    # written (the generator runs without hooks here, so nothing else writes there).
    checkout = Checkout(ws.root / "cache" / "checkout")
    folder, _ = checkout.move_to(ws.hld_git, sha)
    if deadline is not None:
        deadline.note(f"checkout of {short(sha)}")
    touched = touched_files(ws.hld_git, base, sha) if base else None
    report = check_hld(folder, ws.settings.environments, ws.settings.kubernetes_version,
                       max_replicas=ws.settings.max_replicas, deadline=deadline,
                       served=served, cache=cache, tree=tree_of(ws.hld_git, sha), touched=touched,
                       listing=checkout.listing,
                       base_tree=tree_of(ws.hld_git, base) if base else None)
    log(f"{short(sha)}: {len(report.documents)} objects, {len(report.findings)} "
        f"findings ({checkout.written} files written for the checkout)")
    return report, [d.obj for d in report.documents]


def generation(ws: Workspace, cache: CheckCache | None, sha: str, allow_hooks: bool = False,
               deadline: Deadline | None = None, in_checkout: bool = False) -> GenerateResult:
    """The generation of an HLD commit: from the cache when its tree was built before.
    The caller passes no cache when hooks run: they may act outside the HLD.

    ``in_checkout`` (the generate job of main's commits, hooks off): built in the PR
    check's folder, which then holds main, so a PR's first check writes only the files
    it changed, and its components land in the cache the checks read."""
    from . import hld as hldlib
    from .validation.checkout import Checkout, tree_listing
    from .validation.components import ComponentStore, cached_generation

    envs = ws.settings.environments

    def build(store: ComponentStore | None) -> GenerateResult:
        if in_checkout and not allow_hooks:
            checkout = Checkout(ws.root / "cache" / "checkout")
            folder, _ = checkout.move_to(ws.hld_git, sha)
            if store is not None:
                store.listing = checkout.listing
            if deadline is not None:
                deadline.check(f"checkout of {short(sha)}")
            return hldlib.generate(folder, envs, reuse=store)
        with ws.tempdir("gen-") as tmp:
            folder = Path(tmp) / "hld"
            export_tree(ws.hld_git, sha, folder)
            if deadline is not None:
                deadline.check(f"export of {short(sha)}")
            return hldlib.generate(folder, envs, allow_hooks=allow_hooks, reuse=store)

    # The exported folder holds exactly the commit's files: its listing names their
    # contents, so unchanged components are taken from the cache.
    return cached_generation(cache, tree_of(ws.hld_git, sha), envs, build,
                             lambda: tree_listing(ws.hld_git, sha))


WARM_SLICE = 200  # objects validated into the cache between looks at the job queue


def warm_slice(pending: list[ManifestDoc], cache: CheckCache, ws: Workspace,
               served: Discovery | None = None) -> None:
    """Validate the next slice of ``pending`` (main's objects, from its generate job)
    into the cache, so a PR's first check, after this or any later engine start (the
    cache is on disk), validates only what it changed."""
    docs = pending[:WARM_SLICE]
    del pending[:WARM_SLICE]  # first: a slice that fails is not tried again
    cache.stats["warm.validated"] += warm(cache, docs, ws.settings.kubernetes_version,
                                          ws.settings.max_replicas, served)


def warm(cache: CheckCache, docs: list[ManifestDoc], kubernetes_version: str,
         max_replicas: int, served: Discovery | None = None) -> int:
    """Validate objects of a generation into the cache (the generate job's result for
    main): a PR's check then finds every object it did not change validated already,
    even on the first check after an engine start. Returns how many were validated."""
    from .validation.bounds import object_findings
    from .validation.documents import validate_documents

    before = cache.stats["validate.miss"]
    object_findings(docs, 0, max_replicas)
    validate_documents(docs, kubernetes_version, served, cache)
    return cache.stats["validate.miss"] - before


def _parts(components: list[GeneratedComponent],
           documents: list[ManifestDoc]) -> list[tuple[GeneratedComponent, list[ManifestDoc]]]:
    out, start = [], 0
    for component in components:
        out.append((component, documents[start:start + component.objects]))
        start += component.objects
    return out


_KEYS_OF: dict[str, frozenset[tuple[str, str, str]]] = {}  # by component fingerprint


def _object_keys(component: GeneratedComponent,
                 docs: list[ManifestDoc]) -> frozenset[tuple[str, str, str]]:
    """The (kind, namespace, name) of a component's objects; the same fingerprint makes
    the same objects, so they are worked out once."""
    from .manifestdiff import object_key

    found = _KEYS_OF.get(component.key)
    if found is None:
        if len(_KEYS_OF) >= 20_000:
            _KEYS_OF.clear()
        found = _KEYS_OF[component.key] = frozenset(object_key(d.obj) for d in docs)
    return found


def object_keys_of(result: GenerateResult) -> None:
    """Work out the keys of a generation's objects by component (main's, in the
    warm-up), so a PR's first manifest diff against it finds them known."""
    for component, docs in _parts(result.components, result.documents):
        if component.key:
            _object_keys(component, docs)


class Changed(NamedTuple):
    """What differs between a base's and a head's generations, by component."""

    base: list[ManifestDoc]  # the base's documents of components that changed or went
    head: list[ManifestDoc]  # the head's documents of components that changed or came
    components: int  # the head's components that changed or came


def changed_documents(base: GenerateResult, components: list[GeneratedComponent],
                      documents: list[ManifestDoc]) -> Changed | None:
    """The base's and the head's documents of the components whose inputs differ, or
    None when only a comparison of everything says what changed.

    A component with the same fingerprint in both made the same objects, so comparing
    the rest gives the whole diff, unless an object of the rest is also defined by an
    unchanged component (a duplicate: which one wins depends on the order of all)."""
    from .manifestdiff import object_key

    if (sum(c.objects for c in base.components) != len(base.documents)
            or sum(c.objects for c in components) != len(documents)):
        return None  # a result from before components were counted
    base_keys = {(c.output_path, c.key) for c in base.components if c.key}
    head_keys = {(c.output_path, c.key) for c in components if c.key}
    head_changed: list[ManifestDoc] = []
    same: set[tuple[str, str, str]] = set()
    count = 0
    for component, docs in _parts(components, documents):
        if component.key and (component.output_path, component.key) in base_keys:
            same.update(_object_keys(component, docs))
        else:
            head_changed.extend(docs)
            count += bool(docs or component.key)  # a folder of components makes none
    base_changed = [d for component, docs in _parts(base.components, base.documents)
                    if not (component.key and (component.output_path, component.key)
                            in head_keys) for d in docs]
    if any(object_key(d.obj) in same for d in (*head_changed, *base_changed)):
        return None
    return Changed(base_changed, head_changed, count)


def dry_run_refusals(dry_run: Callable[[list[dict[str, Any]]], list[Any]] | None,
                     report: CheckReport, log: Log,
                     changed: list[ManifestDoc] | None = None) -> list[Finding]:
    """What the live cluster would refuse of the report's objects (or of ``changed``
    only: the others are what main holds, applied already), as Flux's dry run would
    find it at reconcile; objects with errors of their own are not repeated. Warnings
    (the dry run could not run) go into the report."""
    if dry_run is None:
        log("server-side dry run: no live cluster (the engine is not running); skipped")
        return []
    from . import limits
    from .validation.dryrun import dry_run_findings

    docs = (report.documents if changed is None else changed)[: limits.MAX_OBJECTS_PER_COMMIT]
    if changed is not None:
        # The commit's CRDs and Namespaces go along unjudged: the changed objects may
        # need them, as they would in Flux's one apply of the whole commit.
        ids = {id(d) for d in docs}
        context = [d.obj for d in report.documents if id(d) not in ids
                   and d.obj.get("kind") in ("CustomResourceDefinition", "Namespace")]
        if context:
            said_for = dry_run
            dry_run = lambda objects: said_for([*objects, *context])[: len(objects)]  # noqa: E731
    said = dry_run_findings(docs, dry_run)
    report.findings.extend(f for f in said if f.severity != "error")
    found = [f for f in said if f.severity == "error"
             and not any(e.file == f.file and e.line == f.line and e.object == f.object
                         for e in report.errors)]
    what = "objects" if changed is None else "changed objects"
    log(f"server-side dry run against the live cluster: {len(docs)} {what}, "
        f"{len(found)} refused")
    log("".join(f"  {f}\n" for f in found).rstrip("\n"))
    return found
