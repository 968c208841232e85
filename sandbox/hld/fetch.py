"""Where a component's files live, and fetching them (git clone of local repositories).

The sandbox works offline: ``method: git`` clones only local repositories (a path or a
``file://`` URL); anything else must already be on disk under ``components/<name>``,
which is how Fabrikate leaves an HLD after ``fab install``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

from sandbox.hld.errors import HldError
from sandbox.hld.model import Component
from sandbox.hld.yamlio import display_path

GIT_TIMEOUT_SECONDS = 120


def inside(root: Path, path: Path, component: Component, what: str) -> Path:
    """Resolve ``path`` (following symlinks) and refuse anything outside the HLD folder."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise HldError(
            f"component {component.name!r}: {what} {display_path(path, root)!r} leads outside "
            "the HLD folder",
            file=component.file,
            fix="keep component sources and paths inside the HLD (no '..', absolute paths "
            "or symlinks pointing out)",
        )
    return resolved


def relative_part(value: str, component: Component, what: str) -> str:
    if value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":"):
        raise HldError(
            f"component {component.name!r}: {what} {value!r} is absolute",
            file=component.file,
            fix=f"make {what} relative to the component folder",
        )
    return value


def clean_git_env() -> dict[str, str]:
    """Environment for git without GIT_* variables that hooks or callers may have set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def _line_of(root: Path, component: Component, needle: str) -> int | None:
    """The line of the component file that names ``needle`` (for the error message)."""
    try:
        text = (root / component.file).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _local_repo(component: Component, base: Path, root: Path) -> str | None:
    """The local repository a git source names, or None for a remote one.

    A local path must lead inside the HLD folder: a pushed HLD must not make the CI
    runner read another repository of the machine into the manifests. It is checked
    before anything looks at the path, so nothing is learnt about the world outside.
    """
    source = component.source
    parsed = urlparse(source)
    if parsed.scheme == "file":
        candidate = Path(unquote(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:
        return None
    elif "@" in source and ":" in source:  # scp-like ssh address
        return None
    else:
        candidate = Path(source)
        if not candidate.is_absolute():
            candidate = base / candidate
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise HldError(
            f"component {component.name!r}: git source {source!r} is a local path outside "
            "the HLD folder",
            file=component.file,
            line=_line_of(root, component, source),
            fix="use a remote URL, or keep the repository inside the HLD",
        )
    return str(resolved) if resolved.exists() else None


def _git(args: list[str], cwd: Path | None, component: Component) -> None:
    try:
        subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=clean_git_env(),
            check=True,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except FileNotFoundError as exc:
        raise HldError("the git CLI is not installed", fix="install git") from exc
    except subprocess.TimeoutExpired as exc:
        raise HldError(
            f"component {component.name!r}: git {args[0]} timed out", file=component.file
        ) from exc
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise HldError(
            f"component {component.name!r}: git {args[0]} failed: "
            + (detail[-1] if detail else f"exit {exc.returncode}"),
            file=component.file,
            fix="check source, version and branch",
        ) from exc


def clone(component: Component, dest: Path, base: Path, root: Path) -> None:
    """Clone a git component's source into ``dest`` honouring version/branch."""
    repo = _local_repo(component, base, root)
    if repo is None:
        raise HldError(
            f"component {component.name!r} comes from {component.source!r}, which the sandbox "
            "does not download",
            file=component.file,
            fix=f"clone it into {dest.name!r} under components/ yourself, or point source at "
            "a local repository",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    # --no-local: copy objects through git's transport, never by following the source
    # repository's own links (a symlinked objects folder could point anywhere).
    args = ["clone", "--quiet", "--no-local"]
    if component.branch and not component.version:
        args += ["--branch", component.branch]
    _git([*args, repo, str(dest)], None, component)
    if component.version:
        _git(["-c", "advice.detachedHead=false", "checkout", "--quiet", component.version],
             dest, component)


def fetch_folder(component: Component, parent_dir: Path, root: Path) -> Path:
    """Folder holding a non-local component's files, fetching it when possible."""
    dest = inside(root, parent_dir / "components" / component.name, component, "clone folder")
    if dest.is_dir():
        return dest
    if component.method == "git":
        clone(component, dest, parent_dir, root)
        return dest
    raise HldError(
        f"component {component.name!r} ({component.method} from {component.source!r}) is not "
        f"on disk at {display_path(dest, root)!r}, and the sandbox works offline",
        file=component.file,
        fix="download it there first",
    )
