"""``fab install`` then ``fab generate``: walk the component tree, fetch what is missing,
run hooks, and produce one manifest per component."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandbox import limits
from sandbox.hld.config import ConfigDict, environment_config, merge_config, normalize_config
from sandbox.hld.errors import HldError
from sandbox.hld.fetch import fetch_folder, inside, relative_part
from sandbox.hld.kustomize import is_kustomization, kustomization_error
from sandbox.hld.model import Component, component_file, load_component
from sandbox.hld.results import ComponentOutput, GeneratedComponent, GenerateResult, ManifestDoc
from sandbox.hld.reuse import ComponentReuse, Fingerprints, placed
from sandbox.hld.substitute import (
    ConfigOrigins,
    ConfigSource,
    Substitution,
    ValueOrigins,
    substitute,
)
from sandbox.hld.yamlio import (
    YamlSyntaxError,
    display_path,
    load_manifest_documents,
    read_bytes,
)

HOOK_TIMEOUT_SECONDS = 300
HELM_TIMEOUT_SECONDS = 300
MAX_DEPTH = 64
HELM_INSTALL = "install helm (https://helm.sh/docs/intro/install/)"


@dataclass
class _Visit:
    entry: Component | None  # None: the root, read from the HLD folder itself
    parent_dir: Path
    logical: str
    passed_down: ConfigDict
    ancestry: tuple[Path, ...]
    sources: tuple[ConfigSource, ...] = ()  # ancestors' config files, outermost first


@dataclass
class _Node:
    """A component after the install pass, ready for the generate pass."""

    component: Component
    folder: Path
    logical: str
    config: ConfigDict
    sources: tuple[ConfigSource, ...]


def _join(logical: str, name: str) -> str:
    return f"{logical}/{name}" if logical else name


class _Walker:
    def __init__(self, hld_dir: Path, envs: list[str], allow_hooks: bool,
                 reuse: ComponentReuse | None = None) -> None:
        self.root = hld_dir.resolve()
        self.envs = envs
        self.allow_hooks = allow_hooks
        self.result = GenerateResult(envs=envs)
        self.origins = ConfigOrigins(envs, self.root)
        self.reuse = reuse
        self.prints = Fingerprints(self.root, reuse.listing) if reuse is not None else None
        self.bytes = 0  # of generated manifests so far, against limits.MAX_GENERATED_BYTES

    def shown(self, path: Path) -> str:
        return display_path(path, self.root)

    # -- locating a component ------------------------------------------------------------

    def _load(self, folder: Path, ancestry: tuple[Path, ...], via: Component | None) -> Component:
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

    def _parse(self, text: str, shown: str, component: Component) -> list[ManifestDoc]:
        docs = []
        # `kind: List` documents count as their items, as kubectl apply reads them.
        for line, obj in load_manifest_documents(text, shown):
            if obj is None:
                continue
            if not isinstance(obj, dict):
                raise HldError(
                    f"document is a {type(obj).__name__}, not a Kubernetes object",
                    file=shown, line=line, fix="each document must be a mapping with kind",
                )
            if is_kustomization(shown, obj):
                raise kustomization_error(shown, line)
            docs.append(ManifestDoc(obj, shown, line, component.name))
        return docs

    def _parse_static(self, text: str, shown: str, component: Component) -> list[ManifestDoc]:
        """Objects of one static file; content that is none is a problem, not a refusal."""
        try:
            return self._parse(text, shown, component)
        except YamlSyntaxError as exc:
            problem = exc
        except HldError as exc:
            if exc.file != shown or "not a Kubernetes object" not in exc.reason:
                raise  # bounds (alias bombs, nesting) stay fatal
            problem = exc
        self._problem(problem)
        return []

    def _problem(self, problem: HldError) -> None:
        self.result.problems.append(problem)
        self.result.notes.append(f"{problem.file}: not a Kubernetes manifest; included "
                                 "byte for byte, as Fabrikate does (the check reports it)")

    def _static_files(self, component: Component, files_dir: Path) -> list[tuple[Path, str]]:
        """Every entry of the folder, as Fabrikate's ReadDir + ReadFile see them, with the
        path shown for it."""
        files = []
        base = files_dir.resolve()
        plain = base.is_relative_to(self.root)
        for path in sorted(base.iterdir(), key=lambda p: p.name.encode()):
            if plain and not path.is_symlink():
                # An entry of a resolved folder inside the HLD that is no symlink is where
                # it says: no need to resolve it again (that was most of a big HLD's time).
                shown = path.relative_to(self.root).as_posix()
            else:
                inside(self.root, path, component, "manifest file")
                shown = self.shown(path)
            if path.is_dir():
                # fab generate fails here too: ioutil.ReadFile on a folder.
                raise HldError(
                    f"read {shown}: is a directory", file=component.file,
                    fix=f"a static component's path may hold only files; move {path.name!r} "
                    "out or make it a component of its own",
                )
            if not path.is_file():
                raise HldError(f"read {shown}: not a regular file", file=component.file,
                               fix="keep only regular files in a static component's path")
            files.append((path, shown))
        return files

    def _static(self, component: Component, folder: Path, config: ConfigDict,
                sources: tuple[ConfigSource, ...] = ()) -> tuple[str, list[ManifestDoc]]:
        if component.method == "http":
            files_dir = folder
        else:
            files_dir = inside(self.root, folder / relative_part(component.path, component,
                                                                  "path"), component, "path")
        if not files_dir.is_dir():
            raise HldError(
                f"static component {component.name!r}: folder {self.shown(files_dir)!r} "
                "does not exist", file=component.file, fix="create it or fix 'path'",
            )
        parts: list[str] = []
        docs: list[ManifestDoc] = []
        for path, shown in self._static_files(component, files_dir):
            data = read_bytes(path, shown)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                # Kept byte for byte: surrogateescape round-trips through write_output.
                parts.append("---\n" + data.decode("utf-8", "surrogateescape") + "\n")
                line = data[: exc.start].count(b"\n") + 1
                self._problem(HldError("file is not UTF-8 text, so not a Kubernetes manifest",
                                       file=shown, line=line))
                continue
            made: list[Substitution] = []
            if component.substitute:
                text = substitute(text, config["config"], config.get("namespace"), shown,
                                  record=made)
            parts.append(f"---\n{text}\n")
            file_docs = self._parse_static(text, shown, component)
            for doc in file_docs if made else []:
                doc.value_origins = ValueOrigins(text, made, doc.source_line, sources,
                                                 self.origins)
            docs.extend(file_docs)
        namespace = config.get("namespace")
        if config.get("injectNamespace") and namespace:
            for doc in docs:
                # As Fabrikate does: only where the object names no namespace itself.
                meta = doc.obj.get("metadata")
                if isinstance(meta, dict) and meta.get("namespace") is None:
                    meta["namespace"] = namespace
            parts = [f"---\n{yaml.safe_dump(d.obj, sort_keys=False)}" for d in docs]
        return "".join(parts), docs

    def _helm(self, component: Component, folder: Path,
              config: ConfigDict) -> tuple[str, list[ManifestDoc]]:
        helm = shutil.which("helm")
        if helm is None:
            raise HldError(
                f"helm component {component.name} needs the helm CLI: {HELM_INSTALL}",
                file=component.file,
            )
        chart = inside(self.root, folder / relative_part(component.path, component, "path"),
                       component, "path")
        with tempfile.TemporaryDirectory() as tmp:
            values = Path(tmp) / "values.yaml"
            values.write_text(yaml.safe_dump(config["config"]), "utf-8")
            command = [helm, "template", component.name, str(chart), "--values", str(values)]
            if config.get("namespace"):
                command += ["--namespace", config["namespace"]]
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=HELM_TIMEOUT_SECONDS)
        if done.returncode != 0:
            raise HldError(f"helm template failed for {component.name!r}: {done.stderr.strip()}",
                           file=component.file)
        return done.stdout, self._parse(done.stdout, self.shown(chart), component)

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

    def _install(self) -> list[_Node]:
        """``fab install``: visit the tree, fetch subcomponents between the install hooks."""
        nodes: list[_Node] = []
        queue: deque[_Visit] = deque([_Visit(None, self.root, "", {}, ())])
        while queue:
            visit = queue.popleft()
            if visit.passed_down.get("disabled"):
                self.result.notes.append(f"skipped disabled component {visit.logical!r}")
                continue
            component, folder, config_dirs, ancestry = self.locate(visit)
            config = merge_config(visit.passed_down, normalize_config({}, ""))
            for config_dir in config_dirs:
                config = environment_config(config_dir, self.envs, config, self.root)
            if config.get("disabled"):
                self.result.notes.append(f"skipped disabled component {visit.logical!r}")
                continue
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
            nodes.append(_Node(component, folder, visit.logical, config, sources))
            if len(nodes) > limits.MAX_COMPONENTS:
                raise HldError(f"the HLD has more than {limits.MAX_COMPONENTS} components",
                               file=component.file, fix="split it into several HLDs")
            for sub in component.subcomponents:
                queue.append(_Visit(
                    sub, folder, _join(visit.logical, sub.name),
                    config["subcomponents"].get(sub.name) or {}, ancestry,
                    tuple((d, (*prefix, "subcomponents", sub.name)) for d, prefix in sources),
                ))
        return nodes

    def run(self) -> GenerateResult:
        # Install the whole tree first, then generate it, as `fab install && fab generate`.
        for node in self._install():
            key, anchors = self._key(node)
            output = self.reuse.get(key) if self.reuse is not None and key else None
            if output is not None:
                output = placed(output, anchors)
            else:
                output = self._generate(node)
                if self.reuse is not None and key:
                    output.component.key = key
                    output.anchors = anchors
                    self.reuse.put(key, output)
            self.result.components.append(output.component)
            self.result.documents.extend(output.documents)
            self.result.problems.extend(output.problems)
            self.result.notes.extend(output.notes)
            self._bounded(output.component, output.documents)
        return self.result

    def _key(self, node: _Node) -> tuple[str | None, dict[str, int]]:
        """The fingerprint of a static component's inputs (None when it is not reused)
        and its anchors in shared config files (see hld/reuse.py)."""
        component = node.component
        if (self.reuse is None or self.prints is None or component.type != "static"
                or component.method != "local"
                or (self.allow_hooks and component.has_hooks)):
            return None, {}
        # Resolved as text (see Fingerprints): a path leaving the HLD gets no key, and the
        # build then reports it.
        files_dir = node.folder / component.path
        found = self.prints.static_inputs(component, files_dir, node.config, node.sources,
                                          self.envs)
        return (None, {}) if found is None else (self.reuse.key(found[0]), found[1])

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
    result = _Walker(Path(hld_dir), env_list, allow_hooks, reuse).run()
    if out_dir is not None:
        write_output(result, Path(out_dir))
    return result
