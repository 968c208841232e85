"""Big YAML files linted in parts through the check cache (see lintchunks.py).

Each part's findings are kept by the text of the document it is linted in, so a PR that
changes one entry of a 2,000-line config file lints that entry; the others' findings
come from the cache, where the check of the base (or main's warm-up after its generate
job) put them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from yamllint.config import YamlLintConfig

from sandbox.hld import MAX_FILE_BYTES
from sandbox.validation.cache import CheckCache, digest
from sandbox.validation.checkout import contents, tree_listing
from sandbox.validation.findings import Finding
from sandbox.validation.lint import (
    CONFIG_FILES,
    LINT_CONFIG,
    config_from,
    default_config,
    listed_yaml_files,
)
from sandbox.validation.lintchunks import Problem, assemble, lint_part, plan, split, whole

PART_BYTES = 16 * 1024  # a file this big is linted in parts
HERE_BYTES = 32 * 1024  # parts up to this much text are linted here; more: the whole file
T = TypeVar("T")
Isolate = Callable[[Callable[[], T]], T]  # runs work where the job's deadline can stop it


def problems_in_parts(text: str, config: YamlLintConfig, config_text: bytes, shown: str,
                      cache: CheckCache, isolate: Isolate[Any] | None = None
                      ) -> list[Problem] | None:
    """yamllint's findings on ``text`` (the HLD file ``shown``) from its parts, linting
    only the parts the cache does not know; None when it must be linted whole."""
    cut = plan(text, config, shown)
    if cut is None:
        return None
    keys = [digest("lint-part", config_text, shown, f"{cut.spaces}:{part.first}:{part.count}",
                   part.doc) for part in cut.parts]
    known = cache.get_many("lint-part", keys)
    missing = [n for n, key in enumerate(keys) if key not in known]
    cache.stats["lint.parts"] += len(keys)
    cache.stats["lint.parts.linted"] += len(missing)
    found = dict(known)
    if missing:
        todo = [cut.parts[n] for n in missing]
        if sum(len(part.doc) for part in todo) <= HERE_BYTES:
            results = [lint_part(part, cut.config, shown) for part in todo]
        else:
            # Many parts to lint (a cold cache): one lint of the file, in a child the
            # deadline can stop, says what each part's own lint would.
            cache.stats["lint.parts.whole"] += 1
            said = isolate(lambda: whole(text, config, shown)) if isolate else whole(
                text, config, shown)
            if said is None:
                return None
            per_part = split(cut, said)
            results = [per_part[n] for n in missing]
        if any(result is None for result in results):
            return None
        fresh = {keys[n]: [list(p) for p in result or ()] for n, result in zip(missing, results,
                                                                                 strict=True)}
        cache.put_many("lint-part", fresh)
        found.update(fresh)
    return assemble(cut, [[(int(p[0]), int(p[1]), str(p[2]), str(p[3]), str(p[4]))
                           for p in found[key]] for key in keys])


def lint_in_parts(hld_dir: Path, names: Collection[str], config: YamlLintConfig,
                  config_text: bytes, cache: CheckCache, isolate: Isolate[Any] | None = None,
                  listing: Mapping[str, tuple[str, int]] | None = None
                  ) -> dict[str, list[Finding]]:
    """The findings of those of ``names`` that are big enough to lint in parts and can
    be; the others are left to a whole lint (which also says why a file cannot be read)."""
    out: dict[str, list[Finding]] = {}
    for shown in names:
        path = hld_dir / shown
        try:
            size = (listing or {}).get(shown, ("", 0))[1] or path.stat().st_size
            if (size < PART_BYTES or size > MAX_FILE_BYTES or path.is_symlink()
                    or not path.is_file()):
                continue
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        problems = problems_in_parts(text, config, config_text, shown, cache, isolate)
        if problems is not None:
            out[shown] = findings(shown, problems)
    return out


def warm(git_dir: Path, sha: str, cache: CheckCache, isolate: Isolate[Any] | None = None
         ) -> int:
    """Lint the big YAML files of commit ``sha`` in parts into the cache (main's, after
    its generate job): a PR's first check of one of them then lints only the parts it
    changed. Returns how many parts were linted."""
    listing = tree_listing(git_dir, sha)
    name = next((n for n in CONFIG_FILES if n in listing), None)
    config_text = contents(git_dir, [listing[name][0]])[0] if name else LINT_CONFIG.encode()
    try:
        config = config_from(name, config_text.decode("utf-8"))[0] if name else default_config()
    except UnicodeDecodeError:
        config = default_config()
    names = [shown for shown in listed_yaml_files(listing)
             if (str(cache.folder), config_text, shown, listing[shown][0]) not in _WARMED
             and not config.is_file_ignored(shown)]
    blobs = contents(git_dir, [listing[shown][0] for shown in names])
    before = cache.stats["lint.parts.linted"]
    if len(_WARMED) >= 100_000:
        _WARMED.clear()
    for shown, data in zip(names, blobs, strict=True):
        _WARMED.add((str(cache.folder), config_text, shown, listing[shown][0]))
        if not PART_BYTES <= len(data) <= MAX_FILE_BYTES:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        problems_in_parts(text, config, config_text, shown, cache, isolate)
    return cache.stats["lint.parts.linted"] - before


# (cache, configuration, path, blob) of the files warmed (or too small to be) in this process:
# the next warm-up reads only the files that changed.
_WARMED: set[tuple[str, bytes, str, str]] = set()


def findings(shown: str, problems: list[Problem]) -> list[Finding]:
    """Findings as the check reports them, from yamllint's problems on file ``shown``."""
    return [Finding("error" if level == "error" else "warning", shown, line, message,
                    f"yamllint/{rule}") for line, _column, level, rule, message in problems]
