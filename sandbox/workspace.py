"""The workspace: one folder holding the bare repos, the registry, the SQLite state
and the engine lock. `init` creates it with the sample app.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO

from . import gitserver, users
from .gitutil import ZERO, Identity, git
from .registry import Registry
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


@dataclass
class Settings:
    cluster: str = "sim"  # sim | kind
    environments: list[str] = field(default_factory=lambda: ["prod"])
    required_approvals: int = 1
    failure_policy: str = "atomic"  # atomic (Flux v2) | partial (Flux v1)
    resync_seconds: float = 60.0  # simulated seconds between periodic reconciles
    health_timeout: float = 300.0
    clock_speed: float = 1.0
    seed: int = 0
    kubernetes_version: str = "1.30.0"
    allow_hooks: bool = False

    def with_value(self, key: str, text: str) -> Settings:
        """A copy with one setting parsed from text; ValueError says what is allowed."""
        if key not in self.__dataclass_fields__:
            raise ValueError(f"no setting {key!r}; settings: {', '.join(self.__dataclass_fields__)}")
        choices = {"cluster": ("sim", "kind"), "failure_policy": ("atomic", "partial")}
        current = getattr(self, key)
        value: object
        if key in choices:
            if text not in choices[key]:
                raise ValueError(f"{key} must be one of: {', '.join(choices[key])}")
            value = text
        elif isinstance(current, bool):
            if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(f"{key} takes true or false")
            value = text.lower() in ("true", "yes", "1")
        elif isinstance(current, list):
            value = [part for part in text.replace(",", " ").split() if part]
            if not value:
                raise ValueError(f"{key} takes one or more names, e.g. prod")
        else:
            try:
                value = type(current)(text)
            except ValueError:
                raise ValueError(f"{key} takes a {type(current).__name__}, not {text!r}") from None
            if isinstance(value, int | float) and value <= 0 and key != "seed":
                raise ValueError(f"{key} must be positive")
        return replace(self, **{key: value})

    @classmethod
    def load(cls, path: Path) -> Settings:
        data = json.loads(path.read_text()).get("settings", {})
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


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
        return Registry(self.registry_dir)

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
