"""Generated manifests kept per component (by the fingerprint of what each one reads)
and per HLD tree (as the list of its components), in the check cache.

A check of a one-line change then generates one component and takes the others' output
as it was; the generation of a tree the cache knows is assembled from its components'
entries. Both are also kept in this process (the engine runs every job), so the objects
of unchanged components are not decoded again: they are shared between results and
nobody changes them (``ComponentOutput``'s contract).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.hld import GenerateResult, HldError, ManifestDoc
from sandbox.hld.results import ComponentOutput, GeneratedComponent
from sandbox.hld.rewalk import Walk, stats
from sandbox.validation.cache import CheckCache, digest

Listing = Mapping[str, tuple[str, int]]  # path -> (git blob id, size)
MEMO_OBJECTS = 60_000  # objects kept decoded in this process, across components
MEMO_TREES = 8


def object_digest(obj: dict[str, Any]) -> str:
    """sha256 of an object's canonical JSON ("" when JSON cannot carry it)."""
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return ""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


# -- JSON forms ------------------------------------------------------------------------

def _doc_json(d: ManifestDoc) -> list[Any]:
    return [d.obj, d.source_file, d.source_line, d.component,
            [[list(path), list(origin)] for path, origin in d.value_origins.items()], d.digest]


def _doc_from(data: list[Any]) -> ManifestDoc:
    obj, file, line, component, origins, *rest = data
    return ManifestDoc(obj, file, int(line), component,
                       {tuple(path): tuple(origin) for path, origin in origins},
                       str(rest[0]) if rest else "")


def _component_json(c: GeneratedComponent) -> list[Any]:
    return [c.name, c.logical_path, c.manifest, c.output_path, c.type, c.source_file, c.key,
            c.objects]


def _problem_json(p: HldError) -> list[Any]:
    return [p.reason, p.file, p.line, p.fix]


def _problem_from(data: list[Any]) -> HldError:
    reason, file, line, fix = data
    return HldError(reason, file=file, line=line, fix=fix)


def _output_json(out: ComponentOutput) -> dict[str, Any]:
    return {"component": _component_json(out.component),
            "documents": [_doc_json(d) for d in out.documents],
            "problems": [_problem_json(p) for p in out.problems], "notes": out.notes,
            "anchors": out.anchors}


def _output_from(data: dict[str, Any]) -> ComponentOutput:
    return ComponentOutput(GeneratedComponent(*data["component"]),
                           [_doc_from(d) for d in data["documents"]],
                           [_problem_from(p) for p in data["problems"]],
                           [str(n) for n in data["notes"]],
                           {str(f): int(line) for f, line in data["anchors"].items()})


# -- the store ---------------------------------------------------------------------------

class ComponentStore:
    """The generator's ``ComponentReuse`` over the check cache, with an in-process memo.
    Writes wait for :meth:`flush` (one transaction for a whole generation)."""

    def __init__(self, cache: CheckCache,
                 listing: Mapping[str, tuple[str, int]] | None = None) -> None:
        self.cache = cache
        self.listing: Mapping[str, tuple[str, int]] = listing or {}
        memo = cache.memo.setdefault("components", OrderedDict())
        self.memo: OrderedDict[str, ComponentOutput] = memo
        self._pending: dict[str, Any] = {}
        # Earlier walks kept in this process, most recent first: the generator starts
        # from the closest one and walks only what changed (hld/rewalk.py).
        self.earlier: list[Walk] = []

    def key(self, parts: list[Any]) -> str:
        return digest("component", parts)

    def get(self, key: str) -> ComponentOutput | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, ComponentOutput]:
        found = {k: self.memo[k] for k in keys if k in self.memo}
        for key in found:
            self.memo.move_to_end(key)
        missing = [k for k in keys if k not in found]
        if missing:
            for key, data in self.cache.get_many("generate", missing).items():
                try:
                    found[key] = self._remember(key, _output_from(data))
                except (KeyError, TypeError, ValueError):
                    self.cache.stats["rejected"] += 1  # signed but of an older shape
        self.cache.stats["component.reused"] += len(found)
        return found

    def put(self, key: str, output: ComponentOutput) -> None:
        self.cache.stats["component.build"] += 1
        for doc in output.documents:
            # The lazy trace reads the config files of the folder as it is now: keep the
            # answer, the folder moves on to other commits.
            doc.value_origins = dict(doc.value_origins)
            doc.digest = object_digest(doc.obj)
        self._pending[key] = _output_json(output)
        self._remember(key, output)

    def flush(self) -> None:
        if self._pending:
            self.cache.put_many("generate", self._pending)
            self._pending = {}

    def _remember(self, key: str, output: ComponentOutput) -> ComponentOutput:
        self.memo[key] = output
        held = self.cache.memo.get("components.objects", 0) + len(output.documents)
        while held > MEMO_OBJECTS and len(self.memo) > 1:
            _, dropped = self.memo.popitem(last=False)
            held -= len(dropped.documents)
        self.cache.memo["components.objects"] = held
        return output


# -- whole trees ------------------------------------------------------------------------

def _tree_json(result: GenerateResult) -> dict[str, Any]:
    parts: list[Any] = []
    start = 0
    for c in result.components:
        docs = result.documents[start:start + c.objects]
        start += c.objects
        parts.append({"ref": c.key} if c.key else
                     {"inline": _output_json(ComponentOutput(c, docs))})
    return {"envs": result.envs, "notes": result.notes, "parts": parts,
            "problems": [_problem_json(p) for p in result.problems]}


def _tree_from(data: dict[str, Any], store: ComponentStore) -> GenerateResult | None:
    refs = [p["ref"] for p in data["parts"] if "ref" in p]
    found = store.get_many(refs)
    if len(found) < len(set(refs)):
        return None  # a component's entry is gone (evicted or damaged): build again
    result = GenerateResult(envs=list(data["envs"]), notes=list(data["notes"]),
                            problems=[_problem_from(p) for p in data["problems"]])
    for part in data["parts"]:
        out = found[part["ref"]] if "ref" in part else _output_from(part["inline"])
        result.components.append(out.component)
        result.documents.extend(out.documents)
    return result


def _copy(result: GenerateResult) -> GenerateResult:
    """A result of its own over shared components and documents."""
    return GenerateResult(list(result.envs), list(result.components), list(result.documents),
                          list(result.notes), list(result.problems))


def cached_generation(cache: CheckCache | None, tree: str | None, envs: list[str],
                      build: Callable[[ComponentStore | None], GenerateResult],
                      listing: Listing | Callable[[], Listing] | None = None) -> GenerateResult:
    """The generation of ``tree`` from the cache, else ``build(store)`` stored for next
    time; ``store`` reuses unchanged components when ``listing`` (or what it returns,
    asked only when something is built) describes the folder.

    Raises what ``build`` raises (a broken HLD is not cached: it is cheap to refuse)."""
    if cache is None or tree is None:
        return build(None)
    key = digest("generate", tree, envs)
    trees: OrderedDict[str, GenerateResult] = cache.memo.setdefault("trees", OrderedDict())
    if key in trees:
        trees.move_to_end(key)
        cache.stats["generate.hit"] += 1
        return _copy(trees[key])
    store = ComponentStore(cache)
    found = cache.get("generate", key)
    result: GenerateResult | None = None
    if found is not None:
        try:
            result = _tree_from(found, store)
        except (KeyError, TypeError, ValueError):
            cache.stats["rejected"] += 1  # signed but of an older shape: rebuild it
    if result is None:
        cache.stats["generate.build"] += 1
        if callable(listing):
            listing = listing()
        store.listing = listing or {}
        store.earlier = [r.walk for r in reversed(trees.values()) if r.walk is not None]
        result = build(store if listing is not None else None)
        store.flush()
        for name, count in stats(result).items():
            cache.stats[f"generate.{name}"] += count
        try:
            cache.put("generate", key, _tree_json(result))
        except (TypeError, ValueError):
            pass  # an object JSON cannot carry: rebuilt next time
    trees[key] = result
    while len(trees) > MEMO_TREES:
        trees.popitem(last=False)
    return _copy(result)
