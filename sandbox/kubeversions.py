"""The Kubernetes versions whose schemas kubernetes-validate ships, found on disk.

Settings check `kubernetes_version` every time a workspace opens, so this lists the
schema folders without importing the validation machinery (jsonschema and the
package itself): the command line's start-up stays fast.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

SCHEMAS = "kubernetes-json-schema"
_FOLDER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$")


def schema_root() -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("kubernetes-validate is not installed: run 'make setup'")
    return Path(next(iter(spec.submodule_search_locations))) / SCHEMAS


@functools.cache
def available_versions() -> tuple[str, ...]:
    found = []
    for entry in schema_root().iterdir():
        match = _FOLDER.match(entry.name)
        if match:
            found.append(tuple(int(part) for part in match.groups()))
    return tuple(".".join(map(str, v)) for v in sorted(found))
