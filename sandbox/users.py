"""Who does what: the workspace's users, their tokens, who pushed each ref update, and
what each kind of user may do.

A user has an id, a lower-case ASCII name and a role (a human, or one of the sandbox's
bots, each with one job). Names are normalised when looked up (spaces, case, width
forms) so that `Operator ` finds `operator`, but nothing else is guessed: a look-alike
letter from another alphabet stays a different, unknown name and is refused. Everything
that matters (authorship, approvals) compares user ids, never names.

Tokens are random and only their hashes are stored. The workspace also keeps a secret
(a file readable by its owner only) from which the sandbox derives a credential per
user for its own jobs; whoever can read the workspace can act as anyone, as whoever
holds a git host's disks can.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .gitutil import Identity
from .store import Store

OPERATOR, REVIEWER = "operator", "reviewer"
RELEASE_BOT, ROLLBACK_BOT, GENERATE_BOT = "release-bot", "rollback-bot", "generate-bot"
DEFAULT_USERS = ((OPERATOR, "human"), (REVIEWER, "human"), (RELEASE_BOT, "bot"),
                 (ROLLBACK_BOT, "bot"), (GENERATE_BOT, "bot"))
ROLES = ("human", "bot")
NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
SECRET_FILE = "gitserver.key"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id),
    hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ref_pushes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    ref TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ref_pushes_ref ON ref_pushes(repo, ref, new);
"""
# Columns added to the pull-request tables: who, by id.
_COLUMNS = (("prs", "author_id", "INTEGER"), ("reviews", "reviewer_id", "INTEGER"),
            ("merge_tokens", "user_id", "INTEGER"))


class UserError(Exception):
    """An unknown user, a bad name, or an action outside a user's job."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str

    @property
    def is_bot(self) -> bool:
        return self.role == "bot"

    @property
    def identity(self) -> Identity:
        return Identity.of(self.name)

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role}


def normalise(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().casefold()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_schema(store: Store) -> None:
    if getattr(store, "_users_schema", False):
        return
    conn = store._conn()
    conn.executescript(SCHEMA)
    for table, column, kind in _COLUMNS:
        have = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            try:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            except Exception as exc:  # noqa: BLE001 - another process added it first
                if "duplicate column" not in str(exc):
                    raise
    store._users_schema = True  # type: ignore[attr-defined]


class Users:
    def __init__(self, store: Store) -> None:
        ensure_schema(store)
        self.store = store

    def list(self) -> list[User]:
        return [User(r["id"], r["name"], r["role"])
                for r in self.store.query("SELECT * FROM users ORDER BY id")]

    def names(self) -> str:
        return ", ".join(u.name for u in self.list()) or "none"

    def add(self, name: str, role: str = "human") -> tuple[User, str]:
        """A new user and its first token (shown once: only its hash is kept)."""
        clean = normalise(name)
        if not NAME_RE.match(clean):
            raise UserError(f"{name!r} is not a valid user name: use a lower-case letter, then "
                            "up to 31 lower-case letters, digits or '-' (ASCII only)")
        if role not in ROLES:
            raise UserError(f"role must be one of: {', '.join(ROLES)}")
        if self.find(clean):
            raise UserError(f"user {clean!r} exists already")
        with self.store.tx() as db:
            cur = db.execute("INSERT INTO users(name, role, created) VALUES(?,?,?)",
                             (clean, role, time.time()))
        user = User(int(cur.lastrowid or 0), clean, role)
        return user, self.issue_token(user, "created with the user")

    def find(self, name: str) -> User | None:
        row = self.store.one("SELECT * FROM users WHERE name=?", normalise(name))
        return User(row["id"], row["name"], row["role"]) if row else None

    def get(self, name: str | User) -> User:
        if isinstance(name, User):
            return name
        user = self.find(name) if isinstance(name, str) else None
        if user is None:
            raise UserError(f"no user {name!r} in this workspace; users: {self.names()} "
                            "(add one with 'gitops-sandbox user add NAME')")
        return user

    def by_id(self, user_id: int) -> User | None:
        row = self.store.one("SELECT * FROM users WHERE id=?", user_id)
        return User(row["id"], row["name"], row["role"]) if row else None

    def issue_token(self, user: User, label: str = "") -> str:
        token = "gst_" + secrets.token_urlsafe(24)
        with self.store.tx() as db:
            db.execute("INSERT INTO tokens(user_id, hash, label, created) VALUES(?,?,?,?)",
                       (user.id, token_hash(token), label, time.time()))
        return token

    def authenticate(self, name: str, token: str, secret: bytes | None) -> User | None:
        user = self.find(name)
        if user is None or not token:
            return None
        if secret is not None and hmac.compare_digest(token, workspace_token(secret, user)):
            return user
        row = self.store.one("SELECT user_id FROM tokens WHERE hash=?", token_hash(token))
        return user if row is not None and row["user_id"] == user.id else None

    # -- who pushed what -----------------------------------------------------------
    def record_push(self, repo: str, ref: str, old: str, new: str, user: User) -> None:
        with self.store.tx() as db:
            db.execute("INSERT INTO ref_pushes(repo, ref, old, new, user_id, ts) "
                       "VALUES(?,?,?,?,?,?)", (repo, ref, old, new, user.id, time.time()))

    def pusher_of(self, repo: str, ref: str, sha: str) -> User | None:
        row = self.store.one("SELECT user_id FROM ref_pushes WHERE repo=? AND ref=? AND new=? "
                             "ORDER BY id DESC LIMIT 1", repo, ref, sha)
        return self.by_id(int(row["user_id"])) if row else None

    def pushers(self, repo: str, ref: str, shas: set[str]) -> set[int]:
        rows = self.store.query("SELECT new, user_id FROM ref_pushes WHERE repo=? AND ref=?",
                                repo, ref)
        return {int(r["user_id"]) for r in rows if r["new"] in shas}


def upgrade_workspace(root: Path, store: Store) -> None:
    """A workspace made before users existed gets them, with the secret, and what its
    repositories hold now is taken as pushed by whom it would have been (as `init` does
    for its seed commits), so the reconciler keeps applying it."""
    users = Users(store)
    if load_secret(root) is None:
        create_secret(root)
    if users.list():
        return
    for name, role in DEFAULT_USERS:
        users.add(name, role)
    from .gitutil import ZERO, refs

    for repo in ("hld", "manifests"):
        git_dir = Path(root) / f"{repo}.git"
        if not git_dir.is_dir():
            continue
        for ref, sha in refs(git_dir, "refs/heads/").items():
            who = (GENERATE_BOT if repo == "manifests" else
                   RELEASE_BOT if ref.startswith("refs/heads/DEPLOY/") else OPERATOR)
            users.record_push(repo, ref, ZERO, sha, users.get(who))


# -- the workspace secret ----------------------------------------------------------
def create_secret(root: Path) -> None:
    path = Path(root) / SECRET_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")


def load_secret(root: Path) -> bytes | None:
    try:
        return bytes.fromhex((Path(root) / SECRET_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def workspace_token(secret: bytes, user: User) -> str:
    """The credential the sandbox's own jobs and commands use to act as `user`."""
    return "gsw_" + hmac.new(secret, f"{user.id}:{user.name}".encode(),
                             hashlib.sha256).hexdigest()


def proof(secret: bytes, user_name: str) -> str:
    """What the server hands its hooks with REMOTE_USER, so a hook can tell a push that
    came through the server from one made on the repository's folder directly."""
    return hmac.new(secret, f"push:{user_name}".encode(), hashlib.sha256).hexdigest()


# -- what each user may do -----------------------------------------------------------
BOT_JOBS = {
    RELEASE_BOT: "opens release pull requests on DEPLOY/* branches",
    ROLLBACK_BOT: "opens (and merges) revert pull requests on revert-* branches",
    GENERATE_BOT: "commits generated manifests to manifests.git's main",
}


def _bot_refusal(user: User, what: str) -> str:
    job = BOT_JOBS.get(user.name, "has no job here")
    return f"{user.name} is a bot that only {job}; it cannot {what}"


def may_push(user: User, repo: str, ref: str, merge: bool = False) -> str | None:
    """Why `user` may not update `ref` in `repo` (hld or manifests), or None. `merge`:
    the push carries a merge token (the hook still checks that it redeems)."""
    if repo == "manifests":
        if user.name != GENERATE_BOT:
            return (f"manifests.git takes commits only from the generation job "
                    f"({GENERATE_BOT}), not from {user.name}: change the HLD through a pull "
                    "request and the CI generates the manifests")
        return None
    if not user.is_bot:
        return None
    if user.name == RELEASE_BOT and ref.startswith("refs/heads/DEPLOY/"):
        return None
    if user.name == ROLLBACK_BOT and ref.startswith("refs/heads/revert-"):
        return None
    if user.name == ROLLBACK_BOT and merge and ref == "refs/heads/main":
        return None  # the merge of its revert pull request (may_merge), token-checked
    return _bot_refusal(user, f"push {ref.removeprefix('refs/heads/')} to {repo}.git")


def may_open(user: User, kind: str) -> str | None:
    if not user.is_bot:
        return None
    if (user.name, kind) in ((RELEASE_BOT, "release"), (ROLLBACK_BOT, "revert")):
        return None
    return _bot_refusal(user, f"open a {kind} pull request")


def may_review(user: User) -> str | None:
    return _bot_refusal(user, "approve pull requests") if user.is_bot else None


def may_approve_rollback(user: User, kind: str, author: str, body: str,
                         auto_rollback: str) -> bool:
    """The one review a bot may give: the rollback bot approving the revert it opened
    itself for a Failed verdict, when the workspace asked for `auto_rollback: merge`."""
    return (user.name == ROLLBACK_BOT and auto_rollback == "merge" and kind == "revert"
            and author == ROLLBACK_BOT and body.startswith("Automatic rollback"))


def may_merge(user: User, kind: str) -> str | None:
    if not user.is_bot or (user.name, kind) == (ROLLBACK_BOT, "revert"):
        return None
    return _bot_refusal(user, f"merge a {kind} pull request")
