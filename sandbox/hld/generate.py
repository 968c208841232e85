"""``fab install`` then ``fab generate``: walk the component tree, fetch what is missing,
run hooks, and produce one manifest per component."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import limits
from sandbox.hld import rewalk
from sandbox.hld.config import ConfigDict, environment_config, merge_config, normalize_config
from sandbox.hld.errors import HldError
from sandbox.hld.fetch import fetch_folder, inside, relative_part
from sandbox.hld.model import Component, component_file, load_component
from sandbox.hld.produce import Producer
from sandbox.hld.results import ComponentOutput, GeneratedComponent, GenerateResult, ManifestDoc
from sandbox.hld.reuse import ComponentReuse, Fingerprints, placed
from sandbox.hld.substitute import ConfigOrigins, ConfigSource

HOOK_TIMEOUT_SECONDS = 300
MAX_DEPTH = 64


@dataclass
class _Visit:
    entry: Component | None  # None: the root, read from the HLD folder itself
    parent_dir: Path
    logical: str
    passed_down: ConfigDict
    ancestry: tuple[Path, ...]
    sources: tuple[ConfigSource, ...] = ()  # ancestors' config files, outermost first
    parent: int = -1


@dataclass
class _Node:
    """A component after the install pass, ready for the generate pass; the rest is
    what a later walk needs to take it again (see hld/rewalk.py)."""

    component: Component
    folder: Path
    logical: str
    config: ConfigDict
    sources: tuple[ConfigSource, ...]
    name: str = ""  # as its parent lists it
    passed_down: ConfigDict = field(default_factory=dict)
    config_dirs: list[Path] = field(default_factory=list)
    parent: int = -1  # the parent's index among the walk's nodes
    notes: list[str] = field(default_factory=list)  # those its install gave
    ancestry: tuple[Path, ...] = ()


def _join(logical: str, name: str) -> str:
    return f"{logical}/{name}" if logical else name


class _Walker(Producer):
    def __init__(self, hld_dir: Path, envs: list[str], allow_hooks: bool,
                 reuse: ComponentReuse | None = None,
                 prints: Fingerprints | None = None) -> None:
        self.root = hld_dir.resolve()
        self.envs = envs
        self.allow_hooks = allow_hooks
        self.result = GenerateResult(envs=envs)
        self.origins = ConfigOrigins(envs, self.root)
        self.reuse = reuse
        self._prints = prints
        self.bytes = 0  # of generated manifests so far, against limits.MAX_GENERATED_BYTES
        # Whether a later walk may start from this one: every component local, static or
        # a plain component, none skipped (see hld/rewalk.py).
        self.plain = reuse is not None and not allow_hooks
        self.levels: rewalk.Levels = {}  # config files as loaded, by content
        self.folders: list[Path] = []  # where a component file was looked for
        self.made: set[str] = set()  # keys of the outputs this walk produced

    # -- locating a component ------------------------------------------------------------

    @property
    def prints(self) -> Fingerprints | None:
        """The fingerprints of the folder's listing, made when first asked (a walk that
        starts from an earlier one takes the earlier one's, moved)."""
        if self._prints is None and self.reuse is not None:
            self._prints = Fingerprints(self.root, self.reuse.listing)
        return self._prints

    @prints.setter
    def prints(self, prints: Fingerprints) -> None:
        self._prints = prints

    def _load(self, folder: Path, ancestry: tuple[Path, ...], via: Component | None) -> Component:
        self.folders.append(folder)
        file = component_file(folder)
        if file is not None:
            resolved = file.resolve()
            if resolved in ancestry:
                chain = " -> ".join(self.shown(p) for p in (*ancestry, resolved))
                raise HldError(
                    f"circular subcomponents: {chain}",
                    file=via.file if via else self.shown(file),
                    fix="remove the subcomponent that points back at an ancestor",
                )
            if len(ancestry) >= MAX_DEPTH:
                raise HldError(f"component tree deeper than {MAX_DEPTH} levels", file=self.shown(file))
        return load_component(folder, self.root)

    def locate(self, visit: _Visit) -> tuple[Component, Path, list[Path], tuple[Path, ...]]:
        """Return the component, its folder, its config folders and the new ancestry."""
        entry, parent = visit.entry, visit.parent_dir
        ancestry = visit.ancestry
        if entry is None:
            component, folder, own = self._load(parent, ancestry, None), parent, True
        elif entry.method != "local":
            self.plain = False  # fetched: it may read anything
            base = fetch_folder(entry, parent, self.root)
            if entry.type == "component":
                folder = inside(self.root, base / relative_part(entry.path, entry, "path"),
                                entry, "path")
                component, own = self._load(folder, ancestry, entry), True
            else:
                component, folder, own = entry, base, True
        elif entry.source:
            folder = inside(self.root, parent / relative_part(entry.source, entry, "source"),
                            entry, "source")
            if entry.type == "component":
                component, own = self._load(folder, ancestry, entry), True
            else:
                component, own = entry, folder != parent
        else:
            # Inline: the parent's list is the whole definition, config comes from above.
            component, folder, own = entry, parent, False
        config_dirs = [folder] if own else []
        if component is not entry:
            # Read from a file: remember it so a descendant pointing back is caught.
            ancestry = (*ancestry, component_file(folder).resolve())  # type: ignore[union-attr]
        # A component file that is itself a git component points at its real definition.
        while component.type == "component" and component.method == "git" and component.source:
            self.plain = False
            base = fetch_folder(component, folder, self.root)
            folder = inside(self.root, base / relative_part(component.path, component, "path"),
                            component, "path")
            pointer = component
            component = self._load(folder, ancestry, pointer)
            ancestry = (*ancestry, component_file(folder).resolve())  # type: ignore[union-attr]
            config_dirs.append(folder)
        return component, folder, config_dirs, ancestry

    # -- generating one component --------------------------------------------------------

    def _hooks(self, component: Component, folder: Path, stage: str) -> None:
        commands = component.hooks.get(stage) or []
        if not commands or not self.allow_hooks:
            return
        for command in commands:
            try:
                done = subprocess.run(command, shell=True, cwd=folder, capture_output=True,
                                      text=True, timeout=HOOK_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired as exc:
                raise HldError(f"component {component.name!r}: {stage} hook {command!r} "
                               "timed out", file=component.file) from exc
            if done.returncode != 0:
                detail = (done.stderr or done.stdout).strip()
                raise HldError(
                    f"component {component.name!r}: {stage} hook {command!r} failed with exit "
                    f"{done.returncode}" + (f": {detail}" if detail else ""),
                    file=component.file,
                )
            self.result.notes.append(f"component {component.name!r}: ran {stage} hook {command!r}")

    # -- the walk ------------------------------------------------------------------------

    def _bounded(self, component: GeneratedComponent, docs: list[ManifestDoc]) -> None:
        """Stop a walk that outgrows what one commit may carry, wherever it happens."""
        last = docs[-1] if docs else None
        where = {"file": last.source_file if last else component.source_file,
                 "line": last.source_line if last else None, "fix": "split it into several HLDs"}
        if len(self.result.documents) > limits.MAX_OBJECTS_PER_COMMIT:
            raise HldError(f"the HLD generates more than {limits.MAX_OBJECTS_PER_COMMIT} "
                           "objects", **where)
        self.bytes += len(component.manifest)
        if self.bytes > limits.MAX_GENERATED_BYTES:
            raise HldError(f"the HLD generates more than {limits.MAX_GENERATED_BYTES:,} "
                           "bytes of manifests (a memory bound)", **where)

    def _config(self, folder: Path, passed_down: ConfigDict,
                names: set[str] | None = None) -> ConfigDict:
        """environment_config, with each config file loaded once per content (a later
        walk takes them from here) and, given ``names``, only those subcomponents' parts
        merged: each one's part merges on its own, so theirs come out the same."""
        if not self.plain or self.reuse is None:
            return environment_config(folder, self.envs, passed_down, self.root)
        merged = copy.deepcopy(rewalk.pruned(passed_down, names))
        for env in [*self.envs, "common"]:
            level = rewalk.level(self.levels, self.reuse.listing, self.root, folder, env)
            merged = merge_config(merged, rewalk.pruned(level, names))
        merged.setdefault("config", {})
        merged.setdefault("subcomponents", {})
        return merged

    def install(self, visit: _Visit, names: set[str] | None = None,
                located: _Node | None = None) -> _Node | None:
        """``fab install`` of one component (None: skipped, disabled). ``located``: the
        same component from an earlier walk (its definition unchanged), so it is not read
        again; ``names``: only those subcomponents' config is merged (see _config)."""
        if visit.passed_down.get("disabled"):
            self.result.notes.append(f"skipped disabled component {visit.logical!r}")
            self.plain = False
            return None
        notes = len(self.result.notes)
        if located is None:
            component, folder, config_dirs, ancestry = self.locate(visit)
        else:
            component, folder = located.component, located.folder
            config_dirs, ancestry = located.config_dirs, located.ancestry
        config = merge_config(rewalk.pruned(visit.passed_down, names), normalize_config({}, ""))
        for config_dir in config_dirs:
            config = self._config(config_dir, config, names)
        if config.get("disabled"):
            self.result.notes.append(f"skipped disabled component {visit.logical!r}")
            self.plain = False
            return None
        if component.type not in ("static", "component"):
            self.plain = False  # helm: reads anything
        if component.has_hooks and not self.allow_hooks:
            listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in component.hooks.items())
            self.result.notes.append(
                f"component {component.name!r}: hooks not run ({listed}); "
                "generate with allow_hooks to run them"
            )
        self.result.notes.extend(component.notes)
        self._hooks(component, folder, "before-install")
        for sub in component.subcomponents:
            passed = config["subcomponents"].get(sub.name) or {}
            if sub.method == "git" and not passed.get("disabled"):
                fetch_folder(sub, folder, self.root)
        self._hooks(component, folder, "after-install")
        sources = (*visit.sources, *((d, ()) for d in config_dirs))
        return _Node(component, folder, visit.logical, config, sources,
                     visit.entry.name if visit.entry else "", visit.passed_down,
                     config_dirs, visit.parent, self.result.notes[notes:], ancestry)

    def _install(self) -> list[_Node]:
        """``fab install``: visit the tree, fetch subcomponents between the install hooks."""
        nodes: list[_Node] = []
        queue: deque[_Visit] = deque([_Visit(None, self.root, "", {}, ())])
        while queue:
            visit = queue.popleft()
            node = self.install(visit)
            if node is None:
                continue
            nodes.append(node)
            if len(nodes) > limits.MAX_COMPONENTS:
                raise HldError(f"the HLD has more than {limits.MAX_COMPONENTS} components",
                               file=node.component.file, fix="split it into several HLDs")
            for sub in node.component.subcomponents:
                queue.append(_Visit(
                    sub, node.folder, _join(visit.logical, sub.name),
                    node.config["subcomponents"].get(sub.name) or {}, node.ancestry,
                    tuple((d, (*prefix, "subcomponents", sub.name))
                          for d, prefix in node.sources), len(nodes) - 1))
        return nodes

    def reinstall(self, node: _Node, passed_down: ConfigDict,
                  names: set[str] | None) -> ConfigDict | None:
        """A component of an earlier walk installed again with what is passed down now:
        its config (None: now disabled, which the earlier walk cannot tell)."""
        visit = _Visit(None, node.folder, node.logical, passed_down, node.ancestry,
                       node.sources[:len(node.sources) - len(node.config_dirs)], node.parent)
        notes = len(self.result.notes)
        again = self.install(visit, names, located=node)
        del self.result.notes[notes:]  # the earlier walk's notes stand: same definition
        return None if again is None else again.config

    @staticmethod
    def with_config(node: _Node, config: ConfigDict) -> _Node:
        return _Node(node.component, node.folder, node.logical, config, node.sources)

    def run(self, since: rewalk.Walk | None = None) -> GenerateResult:
        if since is not None:
            try:
                found = rewalk.again(self, since)
            except HldError:
                found = None  # the whole walk says which error comes first
            if found is not None:
                return found
            # Something it cannot tell apart: the whole walk, from a clean slate.
            return _Walker(self.root, self.envs, self.allow_hooks, self.reuse).run()
        # Install the whole tree first, then generate it, as `fab install && fab generate`.
        nodes = self._install()
        self.result.walked = len(nodes)
        keyed = [self._key(node) for node in nodes]
        get_many = getattr(self.reuse, "get_many", None)  # one look-up for all
        known = get_many([k for k, _ in keyed if k]) if get_many is not None else {}
        outputs = [self.produce(node, found, known) for node, found in zip(nodes, keyed,
                                                                           strict=True)]
        if self.plain and self.prints is not None and self.reuse is not None:
            self.result.walk = rewalk.record(self, nodes, outputs)
        return self.result

    def produce(self, node: _Node, keyed: tuple[str | None, dict[str, int]] | None = None,
                known: Mapping[str, ComponentOutput] | None = None) -> ComponentOutput:
        """One component's output, reused by its fingerprint when known (``keyed``: its
        fingerprint and anchors; ``known``: outputs looked up already), added to the
        result."""
        key, anchors = keyed or self._key(node)
        output = None
        if self.reuse is not None and key:
            # Looked up already, unless a component before it made the same output.
            output = self.reuse.get(key) if known is None or key in self.made \
                else known.get(key)
        if output is not None:
            output = placed(output, anchors)
        else:
            output = self._generate(node)
            if self.reuse is not None and key:
                output.component.key = key
                output.anchors = anchors
                self.reuse.put(key, output)
                self.made.add(key)
        self.add(output)
        return output

    def add(self, output: ComponentOutput) -> None:
        self.result.components.append(output.component)
        self.result.documents.extend(output.documents)
        self.result.problems.extend(output.problems)
        self.result.notes.extend(output.notes)
        self._bounded(output.component, output.documents)

    def _key(self, node: _Node) -> tuple[str | None, dict[str, int]]:
        """The fingerprint of a static component's inputs (None when it is not reused)
        and its anchors in shared config files (see hld/reuse.py)."""
        component = node.component
        if (self.reuse is None or self.prints is None or component.type != "static"
                or component.method != "local"
                or (self.allow_hooks and component.has_hooks)):
            if component.type == "static":
                self.plain = False
            return None, {}
        # Resolved as text (see Fingerprints): a path leaving the HLD gets no key, and the
        # build then reports it.
        files_dir = node.folder / component.path
        self.result.fingerprinted += 1
        found = self.prints.static_inputs(component, files_dir, node.config, node.sources,
                                          self.envs)
        if found is None:
            self.plain = False
            return None, {}
        return self.reuse.key(found[0]), found[1]

    def _generate(self, node: _Node) -> ComponentOutput:
        """One component's manifest, with the problems and notes it gave."""
        component, folder, config = node.component, node.folder, node.config
        problems, notes = len(self.result.problems), len(self.result.notes)
        self._hooks(component, folder, "before-generate")
        manifest, docs = "", []
        if component.type == "static":
            manifest, docs = self._static(component, folder, config, node.sources)
        elif component.type == "helm":
            manifest, docs = self._helm(component, folder, config)
        self._hooks(component, folder, "after-generate")
        output = ComponentOutput(
            GeneratedComponent(name=component.name, logical_path=node.logical,
                               manifest=manifest,
                               output_path=_join(node.logical, f"{component.name}.yaml"),
                               type=component.type, source_file=component.file,
                               objects=len(docs)),
            docs, self.result.problems[problems:], self.result.notes[notes:])
        del self.result.problems[problems:], self.result.notes[notes:]
        return output


def write_output(result: GenerateResult, out_dir: Path) -> Path:
    """Write each component's manifest under out_dir/<env1>-<env2>/, emptied first."""
    env_dir = out_dir / "-".join(result.envs)
    if env_dir.is_symlink() or env_dir.is_file():
        env_dir.unlink()
    elif env_dir.exists():
        shutil.rmtree(env_dir)
    env_dir.mkdir(parents=True)
    for component in result.components:
        target = env_dir / component.output_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(component.manifest.encode("utf-8", "surrogateescape"))
    result.output_dir = env_dir
    return env_dir


def generate(
    hld_dir: Path, envs: list[str], out_dir: Path | None = None, *, allow_hooks: bool = False,
    reuse: ComponentReuse | None = None,
) -> GenerateResult:
    """Generate manifests for ``envs`` (default ``["common"]``), like ``fab generate``.

    ``reuse``: where components' outputs are kept by the fingerprint of their inputs
    (its ``listing`` must describe ``hld_dir`` exactly), so only changed ones are built.
    Raises HldError naming the HLD file (and line) of the first problem found.
    """
    env_list = list(envs) or ["common"]
    for env in env_list:
        if not env or "/" in env or "\\" in env or env.startswith("."):
            raise HldError(f"environment name {env!r} is not a plain name")
    walker = _Walker(Path(hld_dir), env_list, allow_hooks, reuse)
    result = walker.run(rewalk.choose(list(getattr(reuse, "earlier", None) or []), walker))
    if out_dir is not None:
        write_output(result, Path(out_dir))
    return result
