"""Label and field selectors as the API server parses them (`?labelSelector=`,
`?fieldSelector=`), with its error texts for ones it cannot parse."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ApiError, bad_request

Match = Callable[[dict[str, Any]], bool]
_KEY = re.compile(r"^([a-z0-9A-Z][-a-z0-9A-Z_.]*/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$")
_SET = re.compile(r"^\s*(!?)\s*([^\s!=<>(),]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([^\s,]*))?\s*$")


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def label_selector(text: str | None) -> Match:
    if not text or not text.strip():
        return lambda labels: True
    tests: list[Match] = []
    for part in _split(text):
        m = _SET.match(part)
        if not m or not _KEY.match(m.group(2)):
            raise bad_request(f"unable to parse requirement: {_parse_error(part)}")
        neg, key, setop, values, op, value = m.groups()
        if neg and (setop or op):
            raise bad_request(f"unable to parse requirement: {_parse_error(part)}")
        if setop:
            vals = {v.strip() for v in values.split(",") if v.strip()}
            if setop == "in":
                tests.append(lambda lb, k=key, vs=vals: lb.get(k) in vs)
            else:
                tests.append(lambda lb, k=key, vs=vals: lb.get(k) not in vs)
        elif op:
            if op == "!=":
                tests.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                tests.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif neg:
            tests.append(lambda lb, k=key: k not in lb)
        else:
            tests.append(lambda lb, k=key: k in lb)
    return lambda labels: all(t(labels) for t in tests)


def _parse_error(part: str) -> str:
    return f'found \'{part.strip()}\', expected: in, notin, =, ==, !=, gt, lt'


def _path(obj: Any, dotted: str) -> str | None:
    for key in dotted.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return None if isinstance(obj, dict | list) else str(obj)


# Fields every resource can be selected by, and those particular resources add
# (the real server refuses the rest with the message below).
_COMMON = ("metadata.name", "metadata.namespace")
_EXTRA: dict[str, tuple[str, ...]] = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
              "regarding.kind", "regarding.name", "regarding.namespace", "regarding.uid"),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "ReplicaSet": ("status.replicas",),
    "Node": ("spec.unschedulable",),
}


def field_selector(text: str | None, kind: str, api_version: str) -> Match:
    if not text or not text.strip():
        return lambda obj: True
    tests: list[Match] = []
    for part in _split(text):
        m = re.match(r"^\s*([^!=\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.groups()
        if field not in _COMMON + _EXTRA.get(kind, ()):
            raise ApiError(400, "BadRequest",
                           f'field label not supported: {field}')
        if field == "source":
            field = "source.component"
        if op == "!=":
            tests.append(lambda o, f=field, v=value: (_path(o, f) or "") != v)
        else:
            tests.append(lambda o, f=field, v=value: (_path(o, f) or "") == v)
    return lambda obj: all(t(obj) for t in tests)
