"""yamllint over a big YAML file in parts, each part linted once per content.

A PR that changes one service's replicas in a 2,000-line ``config/prod.yaml`` would
otherwise lint the whole file again (a quarter of a second at 1,000 services), so a
check would cost what the file holds, not what the PR changed.

The file's top-level mapping, and within it every long entry whose value is a block
mapping, is cut into parts at the keys of its entries. Each part is linted alone in a
small document that gives yamllint's rules what they look at around it:
- the keys of the mappings it sits in, at their columns, and the first key of each of
  them (where a mapping starts sets the indentation its keys are judged by);
- the part's own lines, verbatim;
- the key of the line after it (comments and blank lines are judged against it).
Only findings on the part's own lines are kept. The indentation width yamllint would
detect from the whole file is found first and fixed for every part. Duplicate keys
between parts are found from the keys themselves, by yamllint's own rule.

Whatever reaches further than that is linted whole: anchors and aliases, yamllint
directives in comments, several documents or directives, tabs, carriage returns,
non-ASCII text (columns), explicit keys, rules that compare across the file
(key-ordering, quoted-strings' consistent quotes, consistent sequence indentation), and
rules this module does not know. Tests compare both ways on real files and random edits.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml
from yamllint import linter
from yamllint import parser as yparser
from yamllint.config import YamlLintConfig
from yamllint.rules import indentation, key_duplicates

from sandbox.limits import nesting_depth

SPLIT_LINES = 40  # an entry longer than this is linted as its entries, if it has any
# line (1-based), column, level, rule id, message; a part's lines count from its start
Problem = tuple[int, int, str, str, str]

# Rules whose verdict on a line depends only on the line, its tokens and their
# neighbours, the mappings it sits in, the line after it and the start or end of the
# file: what a part's document reproduces.
_LOCAL_RULES = frozenset({
    "anchors", "braces", "brackets", "colons", "commas", "comments",
    "comments-indentation", "document-end", "document-start", "empty-lines",
    "empty-values", "float-values", "hyphens", "indentation", "key-duplicates",
    "line-length", "new-line-at-end-of-file", "new-lines", "octal-values",
    "quoted-strings", "trailing-spaces", "truthy",
})
_CLoader: Any = getattr(yaml, "CLoader", None)
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


@dataclass(frozen=True)
class Part:
    """One part of a file and the document it is linted in."""

    doc: str  # what yamllint reads: the keys above, the part's lines, the key after
    first: int  # the doc's line (1-based) where the part's own lines start
    count: int  # how many lines are the part's own
    line: int  # the file's line (1-based) of the part's first line


@dataclass(frozen=True)
class Plan:
    """How a file is linted in parts."""

    config: YamlLintConfig  # the file's configuration, with its indentation width fixed
    spaces: int | str  # that width ('consistent': the file never indents)
    parts: list[Part]
    across: list[Problem]  # duplicate keys between parts, in file lines
    # those of them no part's document reports (a duplicate of the first key of its
    # mapping is reported by the part: that key is in its document)
    unseen: frozenset[Problem] = frozenset()


class _Whole(Exception):
    """The file is linted whole."""


@dataclass
class _Entry:
    line: int  # 0-based line of its key
    key_end: int  # the column after its ':'
    child: _Mapping | None  # its value, when that is a block mapping on the next lines


@dataclass
class _Mapping:
    entries: list[_Entry]
    keys: list[tuple[str, int, int]]  # each entry's key as yamllint reads it: value, line, column


def plan(text: str, config: YamlLintConfig, filepath: str | None = None,
         split_lines: int = SPLIT_LINES) -> Plan | None:
    """The parts ``text`` is linted in, or None when it must be linted whole."""
    if (_CLoader is None or not text.isascii() or "\t" in text or "\r" in text
            or "yamllint" in text or nesting_depth(text) is not None):
        return None  # (too deep: the check refuses the file before linting it)
    enabled = {rule.ID for rule in config.enabled_rules(filepath)}
    if not enabled <= _LOCAL_RULES:
        return None
    if "quoted-strings" in enabled and config.rules["quoted-strings"].get(
            "quote-type") == "consistent":
        return None
    lines = text.split("\n")
    ends = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        ends.append(lines[-1])  # the last line has no newline
    try:
        root = _structure(text, lines)
        fixed, spaces = _fixed(text, config, enabled)
    except _Whole:
        return None
    parts: list[Part] = []
    across: list[tuple[Problem, bool]] = []
    duplicates = config.rules.get("key-duplicates") if "key-duplicates" in enabled else None
    _cut(root, ends, split_lines, parts, across, duplicates)
    return Plan(fixed, spaces, parts, [p for p, _seen in across],
                frozenset(p for p, seen in across if not seen))


def lint_part(part: Part, config: YamlLintConfig, filepath: str | None) -> list[Problem] | None:
    """yamllint's findings on the part's own lines (counted from its first line, 0), or
    None when its document does not read as YAML (then the file is linted whole)."""
    found: list[Problem] = []
    low, high = part.first, part.first + part.count - 1
    for problem in linter.run(part.doc, config, filepath):
        if problem.rule is None:
            return None  # a syntax error: the cut was wrong, never a finding to report
        if low <= problem.line <= high:
            found.append((problem.line - low, problem.column, str(problem.level),
                          str(problem.rule), problem.desc))
    return found


def whole(text: str, config: YamlLintConfig, filepath: str | None) -> list[Problem] | None:
    """yamllint on the whole file (None: a syntax error, which a cut file has not)."""
    found = []
    for problem in linter.run(text, config, filepath):
        if problem.rule is None:
            return None
        found.append((problem.line, problem.column, str(problem.level), str(problem.rule),
                      problem.desc))
    return found


def split(plan_: Plan, problems: list[Problem]) -> list[list[Problem]]:
    """What each part's document gives, from the whole file's findings: its lines'
    findings (counted from its first line), less the duplicates between parts that its
    document does not see. A cold cache is filled by one lint of the file this way
    instead of one per part."""
    by_line: dict[int, list[Problem]] = {}
    for problem in set(problems) - plan_.unseen:
        by_line.setdefault(problem[0], []).append(problem)
    out = []
    for part in plan_.parts:
        mine = []
        for line in range(part.line, part.line + part.count):
            mine += [(line - part.line, *rest) for _line, *rest in by_line.get(line, ())]
        out.append(sorted(mine))
    return out


def assemble(plan_: Plan, found: list[list[Problem]]) -> list[Problem]:
    """The file's findings from its parts' (in the order of ``plan_.parts``)."""
    out = set(plan_.across)
    for part, problems in zip(plan_.parts, found, strict=True):
        out.update((part.line + line, *rest) for line, *rest in problems)
    return sorted(out)


# -- the file's structure -----------------------------------------------------------------

def _structure(text: str, lines: list[str]) -> _Mapping:
    """The top-level block mapping, with the block mappings nested in its entries, from
    libyaml's events (which also proves the file reads as YAML)."""
    try:
        events = list(yaml.parse(text, Loader=_CLoader))
    except yaml.YAMLError as exc:
        raise _Whole from exc
    for event in events:
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Whole  # an alias may point anywhere: no part stands alone
    start = events[1] if len(events) > 1 else None
    if (len(events) < 5 or not isinstance(start, yaml.DocumentStartEvent)
            or start.version is not None or start.tags
            or not isinstance(events[-2], yaml.DocumentEndEvent) or events[-2].explicit):
        raise _Whole  # several documents, directives or an explicit end
    if not (isinstance(events[2], yaml.MappingStartEvent) and not events[2].flow_style):
        raise _Whole
    root, index = _mapping(events, 2, lines)
    if index != len(events) - 2:
        raise _Whole
    return root


def _mapping(events: list[Any], index: int, lines: list[str]) -> tuple[_Mapping, int]:
    index += 1
    mapping = _Mapping([], [])
    while not isinstance(events[index], yaml.MappingEndEvent):
        key = events[index]
        if not isinstance(key, yaml.ScalarEvent):
            raise _Whole  # a complex key
        line, column = key.start_mark.line, key.start_mark.column
        text = lines[line]
        colon = key.end_mark.column
        while colon < len(text) and text[colon] == " ":
            colon += 1
        if (key.end_mark.line != line or text[:column].strip() or colon >= len(text)
                or text[colon] != ":"):
            raise _Whole  # not 'key:' at the start of its own line (explicit keys...)
        value = events[index + 1]
        child = None
        if (isinstance(value, yaml.MappingStartEvent) and not value.flow_style
                and value.start_mark.line > line):
            child, index = _mapping(events, index + 1, lines)
        else:
            index = _skip(events, index + 1)
        mapping.entries.append(_Entry(line, colon + 1, child))
        mapping.keys.append((key.value, line, column))
    return mapping, index + 1


def _skip(events: list[Any], index: int) -> int:
    """The index after the node that starts at ``index``."""
    depth = 0
    while True:
        event = events[index]
        index += 1
        if isinstance(event, _OPEN):
            depth += 1
        elif isinstance(event, _CLOSE):
            depth -= 1
        if depth == 0:
            return index


def _fixed(text: str, config: YamlLintConfig, enabled: set[str]) -> tuple[YamlLintConfig,
                                                                        int | str]:
    """The configuration with the indentation width yamllint would detect in the whole
    file (its first indented block), so every part is judged by the same width."""
    if "indentation" not in enabled:
        return config, "consistent"
    conf = config.rules["indentation"]
    if conf["indent-sequences"] == "consistent":
        raise _Whole  # detected from the first sequence, wherever it is
    if conf["spaces"] != "consistent":
        return config, conf["spaces"]
    if conf["indent-sequences"] is True:
        raise _Whole  # before the width is known, yamllint judges sequences differently
    context: dict[str, Any] = {}
    for elem in yparser.token_or_comment_generator(text):
        if isinstance(elem, yparser.Token):
            for _problem in indentation.check(conf, elem.curr, elem.prev, elem.next,
                                              elem.nextnext, context):
                pass
            if isinstance(context.get("spaces"), int):
                break
    spaces = context.get("spaces")
    if not isinstance(spaces, int):
        return config, "consistent"  # nothing is indented: the width is never asked
    memo = (id(config), spaces)
    found = _FIXED.get(memo)
    if found is None or found[0] is not config:
        fixed = copy.deepcopy(config)
        fixed.rules["indentation"] = {**conf, "spaces": spaces}
        if len(_FIXED) >= 64:
            _FIXED.clear()
        found = _FIXED[memo] = (config, fixed)
    return found[1], spaces


_FIXED: dict[tuple[int, int], tuple[YamlLintConfig, YamlLintConfig]] = {}


# -- cutting ---------------------------------------------------------------------------------

def _cut(root: _Mapping, ends: list[str], split_lines: int,
         parts: list[Part], across: list[tuple[Problem, bool]],
         duplicates: dict[str, Any] | None) -> None:
    total = len(ends)
    key_at: dict[int, str] = {}  # a key's line -> its text up to its ':'

    def key_of(entry: _Entry) -> str:
        return ends[entry.line][:entry.key_end] + "\n"

    def emit(spine: list[str], start: int, stop: int) -> None:
        after = key_at[stop] if stop < total else ""
        parts.append(Part("".join(spine) + "".join(ends[start:stop]) + after,
                          len(spine) + 1, stop - start, start + 1))

    def walk(mapping: _Mapping, spine: list[str], start_at: int, end: int) -> None:
        entries = mapping.entries
        if duplicates is not None:
            across.extend(_duplicates(mapping, duplicates))
        for n, entry in enumerate(entries):
            start = start_at if n == 0 else entry.line
            stop = entries[n + 1].line if n + 1 < len(entries) else end
            above = spine if n == 0 else [*spine, key_at[entries[0].line]]
            if entry.child is not None and stop - start > split_lines:
                first = entry.child.entries[0].line
                emit(above, start, first)  # the key and what precedes its first entry
                walk(entry.child, [*above, key_at[entry.line]], first, stop)
            else:
                emit(above, start, stop)

    # A part ends where the next entry of some cut mapping starts, at any depth: every
    # entry's key is noted first.
    stack = [root]
    while stack:
        mapping = stack.pop()
        for entry in mapping.entries:
            key_at[entry.line] = key_of(entry)
            if entry.child is not None:
                stack.append(entry.child)
    walk(root, [], 0, total)


def _duplicates(mapping: _Mapping, conf: dict[str, Any]) -> list[tuple[Problem, bool]]:
    """yamllint's key-duplicates rule over a cut mapping's own keys (each part sees only
    its own key and the mapping's first), and whether the part reports it too."""
    context: dict[str, Any] = {}
    mark = yaml.error.Mark("", 0, 0, 0, None, None)
    list(key_duplicates.check(conf, yaml.BlockMappingStartToken(mark, mark), None, None,
                              None, context))
    found: list[tuple[Problem, bool]] = []
    first = mapping.keys[0][0] if mapping.keys else None
    for value, line, column in mapping.keys:
        at = yaml.error.Mark("", 0, line, column, None, None)
        scalar = yaml.ScalarToken(value, True, at, at)
        for problem in key_duplicates.check(conf, yaml.KeyToken(at, at), None, scalar,
                                            None, context):
            found.append(((problem.line, problem.column, str(conf["level"]),
                           key_duplicates.ID, problem.desc), value == first))
    return found
