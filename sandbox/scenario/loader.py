"""Reading scenario files: YAML with a line number for every step and argument, and
every mistake reported at once, before anything runs.

The YAML is composed into nodes first (which carry their line) and built into plain
values from the same nodes, so errors point at the line a reader has to fix.
A file may hold several scenarios as YAML documents separated by `---`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..registry import PROFILES
from ..workspace import Settings
from .actions import ACTIONS, EXPECT_KEYS, LAST_MERGE, LAST_PR, REF_PREFIX, Action, Arg
from .model import ImageSeed, Problem, Scenario, ScenarioFileError, Step, display_path

DEFAULT_CLOCK_SPEED = 600.0  # a five-minute rollout in half a second
MAX_FILE_BYTES = 1024 * 1024
TOP_KEYS = ("name", "description", "settings", "images", "steps")

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loading; timestamps stay text, as a tag like 2024-01-01 should."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _pairs(node: MappingNode, problems: list[Problem], file: str) -> dict[str, tuple[int, Node]]:
    """A mapping's keys with their lines; a key given twice is an error, not a silent win."""
    out: dict[str, tuple[int, Node]] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
        if key in out:
            problems.append(Problem(file, _line(key_node), f"'{key}' is given twice"))
        out[key] = (_line(key_node), value_node)
    return out


def _value(loader: Any, node: Node) -> Any:
    return loader.construct_object(node, deep=True)


def load_file(path: Path | str) -> list[Scenario]:
    """Every scenario in a file, or ScenarioFileError listing each problem found."""
    path = Path(path)
    file = display_path(path)
    try:
        if path.is_dir():
            raise ScenarioFileError([Problem(file, None, "is a folder, not a scenario file")])
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioFileError([Problem(file, None, "is over 1 MB: not a scenario file")])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioFileError([Problem(file, None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioFileError([Problem(file, None, f"cannot read: {exc}")]) from None
    return load_text(text, file, default_name=path.stem)


def load_text(text: str, file: str = "<scenario>", default_name: str = "scenario"
              ) -> list[Scenario]:
    problems: list[Problem] = []
    scenarios: list[Scenario] = []
    loader = _Loader(text)
    try:
        docs: list[Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioFileError([Problem(file, line, f"not valid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    if not docs:
        raise ScenarioFileError([Problem(file, None, "holds no scenario (the file is empty)")])
    for number, doc in enumerate(docs, 1):
        name = default_name if len(docs) == 1 else f"{default_name} #{number}"
        scenario = _scenario(doc, file, name, problems)
        if scenario is not None:
            scenarios.append(scenario)
    if problems:
        raise ScenarioFileError(problems)
    return scenarios


def _scenario(doc: Node, file: str, default_name: str,
              problems: list[Problem]) -> Scenario | None:
    if not isinstance(doc, MappingNode):
        problems.append(Problem(file, _line(doc), "a scenario is a mapping with name, "
                                "description, settings, images and steps"))
        return None
    loader = _Loader("")
    top = _pairs(doc, problems, file)
    for key, (line, _) in top.items():
        if key not in TOP_KEYS:
            problems.append(Problem(file, line, f"unknown key '{key}'; a scenario has "
                                    f"{', '.join(TOP_KEYS)}"))
    name = _text(top, "name", file, problems, loader) or default_name
    description = _text(top, "description", file, problems, loader) or ""
    settings = _settings(top.get("settings"), file, problems, loader)
    images = _images(top.get("images"), file, problems, loader)
    steps: list[Step] = []
    if "steps" not in top:
        problems.append(Problem(file, _line(doc), "no 'steps': a scenario needs at least one"))
    else:
        line, node = top["steps"]
        if not isinstance(node, SequenceNode) or not node.value:
            problems.append(Problem(file, line, "'steps' must be a list of one or more steps"))
        else:
            for index, item in enumerate(node.value, 1):
                step = _step(index, item, file, problems, loader)
                if step is not None:
                    steps.append(step)
            _check_references(steps, file, problems)
    return Scenario(name, file, _line(doc), description, settings, images, steps)


def _text(top: dict[str, tuple[int, Node]], key: str, file: str, problems: list[Problem],
          loader: Any) -> str | None:
    if key not in top:
        return None
    line, node = top[key]
    value = _value(loader, node)
    if not isinstance(value, str):
        problems.append(Problem(file, line, f"'{key}' must be text"))
        return None
    return value


def _settings(entry: tuple[int, Node] | None, file: str, problems: list[Problem],
              loader: Any) -> Settings:
    settings = Settings(clock_speed=DEFAULT_CLOCK_SPEED)
    if entry is None:
        return settings
    line, node = entry
    if not isinstance(node, MappingNode):
        problems.append(Problem(file, line, "'settings' must be a mapping, e.g. "
                                "{clock_speed: 600, failure_policy: partial}"))
        return settings
    for key, (key_line, value_node) in _pairs(node, problems, file).items():
        value = _value(loader, value_node)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            text = " ".join(str(v) for v in value)
        elif isinstance(value, dict) or value is None:
            problems.append(Problem(file, key_line, f"setting '{key}' needs a plain value"))
            continue
        else:
            text = str(value)
        try:
            settings = settings.with_value(key, text)
        except ValueError as exc:
            problems.append(Problem(file, key_line, f"setting {exc}" if key in
                                    Settings.__dataclass_fields__ else str(exc)))
    return settings


def _images(entry: tuple[int, Node] | None, file: str, problems: list[Problem],
            loader: Any) -> list[ImageSeed]:
    if entry is None:
        return []
    line, node = entry
    value = _value(loader, node)
    usage = "each image is {service: web, tag: 1.0.0, profile: fast}"
    if not isinstance(node, SequenceNode) or not isinstance(value, list):
        problems.append(Problem(file, line, f"'images' must be a list: {usage}"))
        return []
    seeds: list[ImageSeed] = []
    for item_node, item in zip(node.value, value, strict=True):
        item_line = _line(item_node)
        if not isinstance(item, dict) or set(item) - {"service", "tag", "profile"} or not (
                item.get("service") and item.get("tag")):
            problems.append(Problem(file, item_line, usage))
            continue
        profile = str(item.get("profile", "default"))
        if profile not in PROFILES:
            problems.append(Problem(file, item_line, f"unknown profile '{profile}'; choose "
                                    f"one of: {', '.join(PROFILES)}"))
            continue
        seeds.append(ImageSeed(str(item["service"]), str(item["tag"]), profile))
    return seeds


def _step(index: int, node: Node, file: str, problems: list[Problem],
          loader: Any) -> Step | None:
    line = _line(node)
    where = f"step {index}"
    if isinstance(node, ScalarNode):
        name, args_node = str(node.value), None  # `- reconcile`: an action with no arguments
    elif isinstance(node, MappingNode) and len(node.value) == 1:
        key_node, args_node = node.value[0]
        name = str(key_node.value)
    else:
        problems.append(Problem(file, line, f"{where}: a step is one action, e.g. "
                                "'- merge: {pr: $pr}' (indent its arguments under it)"))
        return None
    act = ACTIONS.get(name)
    if act is None:
        problems.append(Problem(file, line, f"{where}: unknown step '{name}'; steps: "
                                f"{', '.join(sorted(ACTIONS))}"))
        return None
    raw: dict[str, Any] = {}
    arg_lines: dict[str, int] = {}
    if isinstance(args_node, MappingNode):
        for key, (key_line, value_node) in _pairs(args_node, problems, file).items():
            raw[key] = _value(loader, value_node)
            arg_lines[key] = key_line
    elif args_node is not None and not (isinstance(args_node, ScalarNode)
                                        and args_node.tag.endswith(":null")):
        value = _value(loader, args_node)
        if act.shorthand is None:
            problems.append(Problem(file, line, f"{where}: '{name}' takes named arguments "
                                    f"({', '.join(act.args)}), not {value!r}"))
            return None
        raw[act.shorthand] = value
        arg_lines[act.shorthand] = _line(args_node)
    args = _check_args(act, raw, arg_lines, line, f"{where} ({name})", file, problems)
    return None if args is None else Step(index, line, name, args, arg_lines)


def _check_args(act: Action, raw: dict[str, Any], lines: dict[str, int], line: int,
                where: str, file: str, problems: list[Problem]) -> dict[str, Any] | None:
    before = len(problems)
    args: dict[str, Any] = {}
    for key, value in raw.items():
        spec = act.args.get(key)
        at = lines.get(key, line)
        if spec is None:
            hint = " (the reviewer is 'by')" if key == "as" and act.name == "approve" else ""
            problems.append(Problem(file, at, f"{where}: unknown argument '{key}'{hint}; it "
                                    f"takes {', '.join(act.args)}"))
            continue
        converted, error = _convert(spec, value)
        if error:
            problems.append(Problem(file, at, f"{where}: '{key}' {error}"))
        else:
            args[key] = converted
    for key, spec in act.args.items():
        if key not in args and key not in raw:
            if spec.required:
                problems.append(Problem(file, line, f"{where}: missing argument '{key}'"))
            elif spec.default is not None:
                args[key] = list(spec.default) if isinstance(spec.default, list) else spec.default
    problems.extend(Problem(file, line, f"{where}: {msg}") for msg in _extra_checks(act, args))
    return args if len(problems) == before else None


def _convert(spec: Arg, value: Any) -> tuple[Any, str | None]:
    kind = spec.kind
    scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
    if kind in ("str", "choice"):
        if not scalar:
            return None, "must be text"
        text = str(value)
        if kind == "choice" and text not in spec.choices:
            return None, f"must be one of: {', '.join(spec.choices)} (not {text!r})"
        return text, None
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        return None, "must be a whole number"
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value), None
        return None, "must be a positive number of seconds"
    if kind == "bool":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if kind in ("strs", "names"):
        items = [value] if kind == "strs" and scalar else value
        if not isinstance(items, list) or not items or not all(
                isinstance(i, str | int | float) and not isinstance(i, bool) for i in items):
            return None, "must be a list of text values"
        return [str(i) for i in items], None
    if kind == "pr":
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value, None
        if isinstance(value, str) and value.startswith(REF_PREFIX) and len(value) > 1:
            return value, None
        if isinstance(value, str) and value.lstrip("#").isdigit():
            return int(value.lstrip("#")), None
        return None, "must be a PR number or a remembered name like $pr"
    if kind in ("counts", "texts"):
        if not isinstance(value, dict) or not value:
            return None, "must be a mapping of Deployment name to value, e.g. {web: 3}"
        out: dict[str, Any] = {}
        for name, item in value.items():
            if kind == "counts" and (not isinstance(item, int) or isinstance(item, bool)):
                return None, f"{name}: must be a whole number"
            if kind == "texts" and not (isinstance(item, str | int | float)
                                        and not isinstance(item, bool)):
                return None, f"{name}: must be text"
            out[str(name)] = item if kind == "counts" else str(item)
        return out, None
    raise AssertionError(f"argument kind {kind}")


def _extra_checks(act: Action, args: dict[str, Any]) -> list[str]:
    """Rules that span arguments, or know what a value means."""
    out: list[str] = []
    target = args.get("target")
    if target is not None and "/" not in target:
        out.append(f"target {target!r}: name it as KIND/NAME, e.g. deployment/{target}")
    for item in args.get("set", []) if act.name == "change" else []:
        if "=" not in item:
            out.append(f"set {item!r}: write KEY=VALUE, e.g. replicas=3")
    if act.name == "commit_file" and args.get("delete") == ("content" in args):
        out.append("give either 'content' (the file's new text) or 'delete: true'")
    if act.name == "expect" and not (set(args) & (EXPECT_KEYS - {"pr"})):
        out.append(f"expect names no condition; it takes {', '.join(sorted(EXPECT_KEYS))}")
    if act.name == "expect" and args.get("pr") and not (args.get("pr_state")
                                                        or args.get("checks")):
        out.append("'pr' says which PR pr_state and checks look at; add one of them")
    name = args.get("as")
    if name is not None and (not name.isidentifier() or name in ("pr", "merge")):
        out.append(f"as {name!r}: use a plain name (letters, digits, _), not pr or merge")
    return out


def _check_references(steps: list[Step], file: str, problems: list[Problem]) -> None:
    """A `$name` must be made by an earlier step: found now rather than at step 7."""
    known: set[str] = set()
    for step in steps:
        act = ACTIONS[step.action]
        for key, value in step.args.items():
            spec = act.args.get(key)
            refers = spec is not None and (spec.kind == "pr" or key in ("commit", "ref"))
            if not (refers and isinstance(value, str) and value.startswith(REF_PREFIX)):
                continue
            if value not in known:
                line = step.arg_lines.get(key, step.line)
                made_by = ("merge or ship" if value == LAST_MERGE else
                           "open_pr, wait_release or revert" if value == LAST_PR else
                           f"a step with 'as: {value[1:]}'")
                problems.append(Problem(file, line, f"step {step.index} ({step.action}): "
                                        f"{value} is not known yet: {made_by} must come "
                                        "before it"))
        if "pr" in act.produces:
            known.add(LAST_PR)
            if step.args.get("as"):
                known.add(REF_PREFIX + step.args["as"])
        if "merge" in act.produces:
            known.add(LAST_MERGE)
    # An expect step reading pr_state or checks without 'pr' reads $pr.
    for step in steps:
        if step.action == "expect" and "pr" not in step.args and (
                step.args.get("pr_state") or step.args.get("checks")):
            earlier = [s for s in steps if s.index < step.index
                       and "pr" in ACTIONS[s.action].produces]
            if not earlier:
                problems.append(Problem(file, step.line, f"step {step.index} (expect): no "
                                        "pull request yet for pr_state/checks"))
