"""Producing one component's manifest: a static component's files (with ``${var}``
values filled in and traced) or a helm chart's ``helm template``, as Fabrikate does."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from sandbox.hld.config import ConfigDict
from sandbox.hld.errors import HldError
from sandbox.hld.fetch import inside, relative_part
from sandbox.hld.kustomize import is_kustomization, kustomization_error
from sandbox.hld.model import Component
from sandbox.hld.results import GenerateResult, ManifestDoc
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

HELM_TIMEOUT_SECONDS = 300
HELM_INSTALL = "install helm (https://helm.sh/docs/intro/install/)"


class Producer:
    """The generator's part that reads a component's files and makes its manifest."""

    root: Path
    result: GenerateResult
    origins: ConfigOrigins

    def shown(self, path: Path) -> str:
        return display_path(path, self.root)

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
