"""Fabrikate-compatible high-level definitions (HLDs): load, configure, generate.

An HLD is a tree of components (``component.yaml|json``) with per-environment config
(``config/<env>.yaml|json``). :func:`generate` turns it into Kubernetes manifests the way
``fab generate`` does, byte for byte for static components; :func:`set_values` edits
config the way ``fab set`` does.

Extension: static components that set ``substitute: true`` get Flux-style ``${var}``
placeholders filled from their merged config (see :mod:`sandbox.hld.substitute`).
Everything else behaves as Fabrikate 0.17, so Fabrikate HLDs generate unchanged.
"""

from sandbox.hld.config import (
    ConfigDict,
    dump_config,
    environment_config,
    load_config,
    merge_config,
    parse_assignment,
    set_values,
    write_config,
)
from sandbox.hld.errors import HldError
from sandbox.hld.generate import (
    ComponentOutput,
    GeneratedComponent,
    GenerateResult,
    ManifestDoc,
    generate,
    write_output,
)
from sandbox.hld.keys import known_config_keys
from sandbox.hld.model import Component, load_component, parse_component
from sandbox.hld.substitute import substitute
from sandbox.hld.yamlio import MAX_EXPANDED_NODES, MAX_FILE_BYTES

__all__ = [
    "MAX_EXPANDED_NODES",
    "MAX_FILE_BYTES",
    "Component",
    "ComponentOutput",
    "ConfigDict",
    "GenerateResult",
    "GeneratedComponent",
    "HldError",
    "ManifestDoc",
    "dump_config",
    "environment_config",
    "generate",
    "known_config_keys",
    "load_component",
    "load_config",
    "merge_config",
    "parse_assignment",
    "parse_component",
    "set_values",
    "substitute",
    "write_config",
    "write_output",
]
