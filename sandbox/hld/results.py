"""What a generation produces: objects traced to their HLD files, one manifest per
component, and the whole result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.hld.errors import HldError
from sandbox.hld.substitute import Origin


@dataclass
class ManifestDoc:
    """One Kubernetes object from the generated output, traced back to its HLD file."""

    obj: dict[str, Any]
    source_file: str
    source_line: int
    component: str
    # Object path -> where the ${var} that produced the value there is set (config file,
    # line, variable, placeholder's line here), so a bad value is reported where it was set.
    value_origins: Mapping[tuple[str | int, ...], Origin] = field(default_factory=dict)
    # sha256 of the object's canonical JSON, set once the component cache holds it (the
    # object is then shared between results and read-only): validation keys on it.
    digest: str = ""


@dataclass
class GeneratedComponent:
    name: str
    logical_path: str  # "" for the root, "infra/efk" for a grandchild
    manifest: str
    output_path: str  # relative to the environment folder, e.g. "infra/efk/efk.yaml"
    type: str = "component"
    source_file: str = ""
    # The fingerprint of what it was generated from ("" when not known: always rebuilt)
    # and how many of the result's documents (in order) it made.
    key: str = ""
    objects: int = 0


@dataclass
class ComponentOutput:
    """What generating one component adds to the result; reused whole by fingerprint.
    A reused output is shared between results: nothing may change its documents."""

    component: GeneratedComponent
    documents: list[ManifestDoc]
    problems: list[HldError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Config file -> the line its part for this component started at when it was made
    # (see hld/reuse.py): a reused output's origins move with its part of the file.
    anchors: dict[str, int] = field(default_factory=dict)


@dataclass
class GenerateResult:
    envs: list[str]
    components: list[GeneratedComponent] = field(default_factory=list)
    documents: list[ManifestDoc] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Content included byte for byte (as Fabrikate does) that is not a Kubernetes object:
    # non-YAML files, YAML syntax errors, documents that are not mappings. Checks report
    # each as a finding; generation itself goes on, as ``fab generate`` would.
    problems: list[HldError] = field(default_factory=list)
    output_dir: Path | None = None  # out_dir/<env1>-<env2> when written
    # What the next generation may start from (hld/rewalk.py's Walk; None: it walks all)
    # and behaviour counters: components walked (installed and produced) and static
    # components' fingerprints computed.
    walk: Any = field(default=None, compare=False, repr=False)
    walked: int = field(default=0, compare=False)
    fingerprinted: int = field(default=0, compare=False)

    @property
    def manifest(self) -> str:
        """All component manifests in tree order, as one multi-document stream."""
        return "".join(component.manifest for component in self.components)
