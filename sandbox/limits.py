"""Bounds on everything a push or a command can carry, shared by the PR check and the
cluster so both refuse the same things with the same words.

Every bound here exists because an unbounded value let one push exhaust the engine or
hold the CI queue (issue 8): replicas and pod counts size the simulation's memory,
object and component counts size a generate run, file size and nesting depth size what
yamllint and PyYAML are asked to read (yamllint is quadratic in nesting depth).
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from typing import Any

# Defaults of the workspace settings max_replicas and max_pods.
DEFAULT_MAX_REPLICAS = 1000
DEFAULT_MAX_PODS = 3000
# Seconds one CI job may take before it fails and the queue moves on (setting ci_job_seconds).
DEFAULT_CI_JOB_SECONDS = 120.0

# Neither the API server nor Flux counts objects: the API server bounds bytes (3 MiB
# per request, etcd 1.5 MiB per object, a 2 GiB etcd quota by default) and Flux's
# kustomize-controller is bounded by its pod's memory limit. So the real guard against a
# hostile HLD is memory: MAX_GENERATED_BYTES of generated manifests (parsed, about ten
# times that in this process). The count stays as a second, cheap guard, sized to
# Kubernetes' scalability threshold of 10,000 Services per cluster with a Deployment, a
# Service and a ConfigMap each; the ladder's 3,000-service rung (9,001 objects, about
# 5 MB of manifests) is well inside both.
MAX_OBJECTS_PER_COMMIT = 30_000
MAX_GENERATED_BYTES = 64 * 1024 * 1024
MAX_COMPONENTS = 1000
# etcd refuses objects over 1.5 MiB; an HLD file is one or a few objects.
MAX_HLD_FILE_BYTES = 2 * 1024 * 1024
# Real manifests nest about 15 levels, CRD schemas about 40.
MAX_YAML_DEPTH = 100

# Kubernetes' own limits (apimachinery validation: IsQualifiedName, IsValidLabelValue,
# ValidateAnnotations).
LABEL_NAME_MAX = 63
LABEL_PREFIX_MAX = 253
LABEL_VALUE_MAX = 63
ANNOTATIONS_TOTAL_MAX = 256 * 1024
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# Kinds are CamelCase identifiers (Deployment, HorizontalPodAutoscaler).
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,62}$")
_API_VERSION = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                          r"[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Environment names become file and folder names: no separators, no dot-dot, no hidden.
_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def env_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an environment name, or None."""
    if not isinstance(name, str) or not _ENV_NAME.match(name) or ".." in name:
        return (f"environment name {name!r} is not a plain name: use lower-case letters, "
                "digits, '-', '_' and '.', starting with a letter or digit (e.g. prod)")
    return None


def kind_problem(kind: Any) -> str | None:
    if not isinstance(kind, str) or not _KIND.match(kind):
        return (f"kind {kind!r} is not a valid kind name: a kind is a CamelCase word "
                "such as Deployment or ConfigMap")
    return None


def api_version_problem(api_version: Any) -> str | None:
    if not isinstance(api_version, str) or not _API_VERSION.match(api_version):
        return (f"apiVersion {api_version!r} is not GROUP/VERSION or VERSION "
                "(e.g. apps/v1 or v1)")
    return None


def replicas_problem(value: Any, maximum: int, where: str = "spec.replicas") -> str | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{where}: Invalid value: {value!r}: must be a whole number"
    if value < 0:
        return f"{where}: Invalid value: {value}: must be 0 or more"
    if value > maximum:
        return (f"{where}: Invalid value: {value}: must be at most {maximum} "
                "(the workspace's max_replicas setting)")
    return None


def _key_problem(key: Any, what: str) -> str | None:
    if not isinstance(key, str) or not key:
        return f"{what} key {key!r} must be a non-empty string"
    prefix, sep, name = key.rpartition("/")
    shown = key if len(key) <= 80 else key[:77] + "..."
    if sep:
        if not prefix or len(prefix) > LABEL_PREFIX_MAX or not _DNS_SUBDOMAIN.match(prefix):
            return (f"{what} key {shown!r}: the prefix must be a DNS subdomain of at most "
                    f"{LABEL_PREFIX_MAX} characters")
    if len(name) > LABEL_NAME_MAX:
        return (f"{what} key {shown!r}: the name part is {len(name)} characters, over "
                f"Kubernetes' limit of {LABEL_NAME_MAX}")
    if not _QUALIFIED_NAME.match(name):
        return (f"{what} key {shown!r}: the name must be letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    return None


def metadata_problems(meta: Any) -> list[str]:
    """Label and annotation problems, in Kubernetes' own limits."""
    if not isinstance(meta, dict):
        return []
    problems: list[str] = []
    labels = meta.get("labels")
    if isinstance(labels, dict):
        for key, value in labels.items():
            problem = _key_problem(key, "label")
            if problem:
                problems.append(problem)
            elif not isinstance(value, str):
                problems.append(f"label {key!r}: the value must be a string")
            elif len(value) > LABEL_VALUE_MAX:
                problems.append(f"label {key!r}: the value is {len(value)} characters, over "
                                f"Kubernetes' limit of {LABEL_VALUE_MAX}")
            elif not _LABEL_VALUE.match(value):
                problems.append(f"label {key!r}: the value must be letters, digits, '-', '_' "
                                "or '.', starting and ending with a letter or digit")
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        total = 0
        for key, value in annotations.items():
            problem = _key_problem(key, "annotation")
            if problem:
                problems.append(problem)
            total += len(str(key)) + len(str(value) if value is not None else "")
        if total > ANNOTATIONS_TOTAL_MAX:
            problems.append(f"annotations total {total} bytes, over Kubernetes' limit of "
                            f"{ANNOTATIONS_TOTAL_MAX} (256 KiB)")
    return problems


@functools.cache
def _tokens() -> tuple[type, tuple[type, ...], tuple[type, ...]]:
    # PyYAML is imported here, not at the top: the CLI imports this module for its
    # checks and answers quick commands without loading the YAML tooling.
    import yaml

    opening = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
               yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
    closing = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader), opening, closing


def nesting_depth(text: str, limit: int = MAX_YAML_DEPTH) -> tuple[int, int] | None:
    """(depth, 1-based line) where ``text`` first nests deeper than ``limit``, else None.
    Known answers are kept per text: a check asks it of a touched config file before
    the generator and the linter read it, and each asks again."""
    memo = (text, limit)
    with _DEPTH_LOCK:
        if memo in _DEPTH_MEMO:
            _DEPTH_MEMO.move_to_end(memo)
            return _DEPTH_MEMO[memo]
    found = _nesting_depth(text, limit)
    if len(text) > _DEPTH_MEMO_CHARS:
        return found
    with _DEPTH_LOCK:
        _DEPTH_MEMO[memo] = found
        while len(_DEPTH_MEMO) > _DEPTH_ENTRIES:
            _DEPTH_MEMO.popitem(last=False)
    return found


_DEPTH_MEMO: OrderedDict[tuple[str, int], tuple[int, int] | None] = OrderedDict()
_DEPTH_ENTRIES = 16  # a few config files' texts
_DEPTH_MEMO_CHARS = 512 * 1024  # a bigger text is asked once: not worth keeping
_DEPTH_LOCK = threading.Lock()


def _nesting_depth(text: str, limit: int) -> tuple[int, int] | None:
    """:func:`nesting_depth`, worked out.

    Only the scanner runs (no parser, no composer, no recursion): it is linear in the
    text and stops at the first level past the limit, so a 200 KB file of nested
    brackets costs milliseconds here instead of minutes in yamllint. JSON is YAML flow
    syntax, so JSON files go through the same scan. A scanning error is not reported
    here: the parser that runs next names it with its line.
    """
    import yaml

    scanner_class, opening, closing = _tokens()
    scanner = scanner_class(text)
    depth = 0
    try:
        while True:
            token = scanner.get_token()
            if token is None or isinstance(token, yaml.StreamEndToken):
                return None
            if isinstance(token, opening):
                depth += 1
                if depth > limit:
                    return depth, token.start_mark.line + 1
            elif isinstance(token, closing):
                depth = max(0, depth - 1)
    except yaml.YAMLError as exc:
        # libyaml stops at its own nesting limit (1000) before handing out the tokens.
        if "nesting depth" in str(getattr(exc, "problem", "")):
            mark = getattr(exc, "problem_mark", None)
            return max(depth, limit + 1), (mark.line + 1 if mark is not None else 1)
        return None
    finally:
        scanner.dispose()
