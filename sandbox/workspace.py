"""The workspace: one folder holding the bare repos, the registry, the SQLite state
and the engine lock. `init` creates it with the sample app.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import sqlite3
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO

from . import gitserver, limits, users
from .gitutil import ZERO, Identity, git
from .registry import PUBLIC_IMAGES, Registry
from .store import Store

MARKER = "gitops-sandbox.json"
DEFAULT_ENV_VAR = "GITOPS_SANDBOX_WORKSPACE"
SAMPLE_HLD = Path(__file__).parent / "sample" / "hld"
BOT = Identity("gitops-sandbox-bot", "bot@sandbox.local")


class WorkspaceError(Exception):
    """A workspace problem the user can fix; the message says how."""


def default_workspace() -> Path:
    env = os.environ.get(DEFAULT_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".gitops-sandbox" / "default"


# (lowest, highest) for every numeric setting; values come from users and files alike.
_RANGES: dict[str, tuple[float, float]] = {
    "required_approvals": (1, 10),
    "resync_seconds": (0.1, 86_400),
    "health_timeout": (1, 86_400),
    "clock_speed": (0.01, 1000),
    "seed": (0, 2**63 - 1),
    "max_replicas": (1, 100_000),
    "max_pods": (1, 20_000),
    "nodes": (1, 100),
    "ci_job_seconds": (1, 3600),
    "event_log_keep": (10, 1_000_000_000),
    "event_log_days": (0.0001, 36_500),
    "job_log_keep": (10, 1_000_000_000),
    "job_log_days": (0.0001, 36_500),
    "metrics_interval_seconds": (1, 3600),
    "metrics_retention_seconds": (60, 31_536_000),
}
_CHOICES = {"cluster": ("sim", "kind"), "failure_policy": ("atomic", "partial"),
            "public_images": PUBLIC_IMAGES, "direct_changes": ("allow", "audit", "deny")}
_VERSION = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")


@dataclass
class Settings:
    cluster: str = "sim"  # sim | kind
    environments: list[str] = field(default_factory=lambda: ["prod"])
    required_approvals: int = 1
    failure_policy: str = "atomic"  # atomic (Flux v2) | partial (Flux v1)
    # Simulated seconds between periodic reconciles: the safety net that compares every
    # object with git, at the interval `flux bootstrap` gives its Kustomization (10m0s).
    # New commits need no poll (the watchers) and drift is seen as the cluster changes.
    resync_seconds: float = 600.0
    health_timeout: float = 300.0
    clock_speed: float = 1.0
    seed: int = 0
    kubernetes_version: str = "1.30.0"
    allow_hooks: bool = False
    max_replicas: int = limits.DEFAULT_MAX_REPLICAS  # per object, PR check and cluster
    max_pods: int = limits.DEFAULT_MAX_PODS  # the simulated cluster's capacity
    nodes: int = 3  # the simulated cluster's nodes (DaemonSets run a pod on each)
    ci_job_seconds: float = limits.DEFAULT_CI_JOB_SECONDS  # time budget of one CI job
    public_images: str = "pull"  # pull | offline: images from public registries
    delete_branch_on_merge: bool = True  # as git hosts offer; the PR keeps its head commit
    # Retention (sandbox/retention.py): the newest N are kept, and none older than D days.
    event_log_keep: int = 100_000
    event_log_days: float = 90.0
    job_log_keep: int = 5_000  # CI jobs with their logs and results
    job_log_days: float = 90.0
    # Metrics over time (sandbox/metrics.py), in simulated seconds.
    metrics_interval_seconds: float = 15.0
    metrics_retention_seconds: float = 21_600.0
    # What a person's direct write to the cluster (kubectl, cluster scale...) meets: allow
    # (drift), audit (drift + who did what in the event log), deny (403, use a PR).
    direct_changes: str = "audit"

    def with_value(self, key: str, text: str) -> Settings:
        """A copy with one setting parsed from text; ValueError says what is allowed."""
        if key not in self.__dataclass_fields__:
            raise ValueError(f"no setting {key!r}; settings: {', '.join(self.__dataclass_fields__)}")
        current = getattr(self, key)
        value: object
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(f"{key} takes true or false")
            value = text.lower() in ("true", "yes", "1")
        elif isinstance(current, list):
            value = [part for part in text.replace(",", " ").split() if part]
        elif isinstance(current, int | float):
            try:
                value = type(current)(text.strip())
            except ValueError:
                raise ValueError(f"{key} takes a {_type_word(current)}, not {text!r}") from None
        else:
            value = text
        return replace(self, **{key: checked_setting(key, value)})

    @classmethod
    def load(cls, path: Path) -> Settings:
        """The settings in a workspace file, each checked as `settings KEY VALUE` checks it."""
        data = json.loads(path.read_text()).get("settings", {})
        known: dict[str, object] = {}
        defaults = cls()
        for key, value in data.items():
            if key not in cls.__dataclass_fields__:
                continue
            default = getattr(defaults, key)
            try:
                if isinstance(default, float) and isinstance(value, int) \
                        and not isinstance(value, bool):
                    value = float(value)
                if type(value) is not type(default):
                    raise ValueError(f"{key} takes a {_type_word(default)}, not {value!r}")
                known[key] = checked_setting(key, value)
            except ValueError as exc:
                raise WorkspaceError(f"{path}: setting {exc}; fix it in the file or with "
                                     f"'gitops-sandbox settings {key} VALUE'") from None
        return cls(**known)


def _type_word(value: object) -> str:
    if isinstance(value, bool):
        return "boolean (true or false)"
    return type(value).__name__


def checked_setting(key: str, value: object) -> object:
    """``value`` if it is allowed for ``key``; ValueError naming what is allowed."""
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ValueError(f"{key} must be one of: {', '.join(_CHOICES[key])}")
    elif key in _RANGES and isinstance(value, int | float) and not isinstance(value, bool):
        low, high = _RANGES[key]
        if not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number, not {value}")
        if value <= 0 < low:
            raise ValueError(f"{key} must be positive (from {low:g} to {high:g}), not {value:g}")
        if not low <= value <= high:
            raise ValueError(f"{key} must be between {low:g} and {high:g}, not {value:g}")
    elif key == "environments":
        names = value if isinstance(value, list) else []
        if not names or len(names) > 10 or len(set(names)) != len(names):
            raise ValueError("environments takes one to ten different names, e.g. prod")
        for name in names:
            problem = limits.env_name_problem(name)
            if problem:
                raise ValueError(f"environments: {problem}")
    elif key == "kubernetes_version":
        from .kubeversions import available_versions

        versions = available_versions()
        if not isinstance(value, str) or not _VERSION.match(value) or value not in versions:
            raise ValueError(f"kubernetes_version must be one of the bundled schema versions "
                             f"(MAJOR.MINOR.PATCH), e.g. {versions[-1]}; not {value!r}")
    return value


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not (self.root / MARKER).is_file():
            raise WorkspaceError(
                f"{self.root} is not a gitops-sandbox workspace: create one with "
                f"'gitops-sandbox init -w {self.root}'")
        self.settings = Settings.load(self.root / MARKER)
        self._store: Store | None = None

    hld_git = property(lambda self: self.root / "hld.git")
    manifests_git = property(lambda self: self.root / "manifests.git")
    registry_dir = property(lambda self: self.root / "registry")
    signal_dir = property(lambda self: self.root / "signal")
    lock_path = property(lambda self: self.root / "engine.lock")

    @property
    def store(self) -> Store:
        if self._store is None:
            try:
                self._store = Store(self.root / "state.db")
            except sqlite3.DatabaseError as exc:
                raise WorkspaceError(damaged_db_message(self.root, exc)) from None
        return self._store

    @property
    def registry(self) -> Registry:
        return Registry(self.registry_dir, self.settings.public_images)

    @property
    def configured_user(self) -> str:
        """Who the CLI and TUI act as when neither --as nor $GITOPS_SANDBOX_USER says."""
        data = json.loads((self.root / MARKER).read_text())
        return str(data.get("user") or users.OPERATOR)

    def set_configured_user(self, name: str) -> None:
        path = self.root / MARKER
        data = json.loads(path.read_text())
        data["user"] = name
        path.write_text(json.dumps(data, indent=2) + "\n")

    def save_settings(self) -> None:
        path = self.root / MARKER
        data = json.loads(path.read_text())
        data["settings"] = asdict(self.settings)
        path.write_text(json.dumps(data, indent=2) + "\n")

    def poke(self) -> None:
        """Wake the engine (in whatever process it runs): a file event in signal/."""
        self.signal_dir.mkdir(exist_ok=True)
        (self.signal_dir / "poke").write_text(str(os.getpid()))

    def tempdir(self, prefix: str) -> tempfile.TemporaryDirectory[str]:
        work = self.root / "tmp"
        work.mkdir(exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=prefix, dir=work)


class EngineLock:
    """One engine per workspace: an exclusive flock on engine.lock, released by the OS
    when the process dies, so a crashed engine never leaves a stale lock behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def acquire(self, details: str = "") -> bool:
        """Take the lock and write our pid (first line) and `details` (more lines)."""
        fh = open(self.path, "a+")  # noqa: SIM115 - held for the engine's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n{details}")
        fh.flush()
        self._fh = fh
        self._details = details
        return True

    def still_ours(self) -> bool:
        """False when engine.lock was deleted or replaced under us: then a second engine
        could take a lock on the new file, so the holder must notice."""
        if self._fh is None:
            return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self._fh.fileno())
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def retake(self) -> bool:
        """After the file was deleted: lock a new one; False when another engine has it."""
        old, self._fh = self._fh, None
        ok = self.acquire(getattr(self, "_details", ""))
        if ok and old is not None:
            old.close()
        elif not ok:
            self._fh = old
        return ok

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def held_elsewhere(self) -> int | None:
        """The pid of the engine holding the lock, or None when no engine runs."""
        if self._fh is not None or not self.path.exists():
            return None
        with open(self.path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                lines = fh.read().strip().splitlines()
                first = lines[0].strip() if lines else ""
                return int(first) if first.isdigit() else -1
            fcntl.flock(fh, fcntl.LOCK_UN)
        return None


def damaged_db_message(root: Path, exc: Exception) -> str:
    return (f"{root / 'state.db'} is damaged ({exc}): stop the engine, move the file "
            f"aside (mv state.db state.db.broken) and start again; git keeps every change, "
            f"while pull requests, checks and the event log in the old file are lost "
            f"(restore it from a backup to keep them)")


def init_workspace(root: Path, force: bool = False, settings: Settings | None = None,
                   sample: Path = SAMPLE_HLD) -> Workspace:
    root = Path(root).expanduser().resolve()
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise WorkspaceError(
                f"{root} exists, is not empty and is not a gitops-sandbox workspace; "
                "choose an empty or new folder")
        if not force:
            raise WorkspaceError(
                f"{root} is already a workspace; use --force to delete it and start over")
        if EngineLock(root / "engine.lock").held_elsewhere():
            raise WorkspaceError(f"an engine is running on {root}; stop it before --force")
        # Only what the sandbox made is removed; anything else in the folder stays.
        for name in ("hld.git", "manifests.git", "registry", "signal", "tmp"):
            shutil.rmtree(root / name, ignore_errors=True)
        for name in ("state.db", "state.db-wal", "state.db-shm", MARKER, "engine.lock",
                     users.SECRET_FILE):
            (root / name).unlink(missing_ok=True)
    if not sample.is_dir():
        raise WorkspaceError(f"sample HLD not found at {sample}")
    root.mkdir(parents=True, exist_ok=True)
    settings = settings or Settings()
    (root / MARKER).write_text(json.dumps({"version": 1, "settings": asdict(settings)},
                                          indent=2) + "\n")
    from .gitserver.remote import free_port, record_port

    record_port(root, free_port())  # kept for every engine start, so clones keep working
    users.create_secret(root)
    ws = Workspace(root)
    store = ws.store
    people = users.Users(store)
    for name, role in users.DEFAULT_USERS:
        people.add(name, role)
    gitserver.create_repo(ws.hld_git, root, protect=False)
    gitserver.create_repo(ws.manifests_git, root, protect=False)
    hld_sha = _seed_repo(ws.hld_git, sample, "Add the sample app HLD")
    man_sha = _seed_repo(ws.manifests_git, None, "Create the manifest repository")
    # The seeds are the server's own first commits, made before anyone can push.
    people.record_push("hld", gitserver.PROTECTED, ZERO, hld_sha, people.get(users.OPERATOR))
    people.record_push("manifests", gitserver.PROTECTED, ZERO, man_sha,
                       people.get(users.GENERATE_BOT))
    # The policy goes in after the first commit: nothing else reaches main directly.
    gitserver.install_hook(ws.hld_git, root)
    gitserver.install_hook(ws.manifests_git, root)
    for service in ("web", "api"):
        ws.registry.push(service, "1.0.0")
    store.set_meta("images.seen", json.dumps(sorted(
        f"{i.repository}:{i.tag}" for i in ws.registry.images())))
    return ws


def _seed_repo(bare: Path, content: Path | None, message: str) -> str:
    with tempfile.TemporaryDirectory(prefix="seed-") as tmp:
        work = Path(tmp) / "work"
        git("clone", "--quiet", str(bare), str(work))
        if content is not None:
            shutil.copytree(content, work, dirs_exist_ok=True)
        else:
            (work / "README.md").write_text(
                "# Manifests\n\nGenerated by the sandbox's CI from the HLD repository. "
                "Do not edit by hand:\nthe reconciler applies what is here.\n")
        git("add", "-A", cwd=work)
        git("commit", "--quiet", "-F", "-", cwd=work, identity=BOT, input=message)
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)
        return git("rev-parse", "HEAD", cwd=work).strip()
