"""The CI runner's cache: generated manifests by HLD tree, lint results by file content,
validation results by object content. A PR check then costs what the PR changed.

As Argo CD caches generated manifests by commit, entries are keyed by what decides
their content (the HLD tree, a file's bytes, an object's canonical JSON) plus the
versions of the tools that made them (this sandbox, kubernetes-validate, yamllint and a
hash of the generator's and validator's code), so an upgrade never reuses a stale answer.

The cache is a SQLite file in the workspace, bounded in size (oldest use evicted). Every
entry carries an HMAC under a key kept beside it: an entry that was truncated, corrupted
or edited fails the check, is dropped and rebuilt, never trusted. A damaged file is
replaced by an empty cache; the cache can only make a check cheaper, never change it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from importlib import metadata
from pathlib import Path
from typing import Any

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MEMO_ENTRIES = 200_000
_RESUM_EVERY = 64  # writes between two sums of every entry's size (other writers' too)
_MEMO_NS = ("lint", "lint-part", "validate")  # small answers; generations have their own memo
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, mac BLOB NOT NULL,
    size INTEGER NOT NULL, used REAL NOT NULL, PRIMARY KEY (ns, key));
CREATE INDEX IF NOT EXISTS entries_used ON entries(used);
"""


class _NothingToAsk(Exception):
    """Every key was answered from memory."""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def tools_version() -> str:
    """What the cached answers depend on besides their input: the tools and our code."""
    code = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for folder in ("hld", "validation"):
        for path in sorted((root / folder).glob("*.py")):
            code.update(path.name.encode() + b"\0" + path.read_bytes())
    from sandbox import __version__

    return "|".join((__version__, _version("kubernetes-validate"), _version("yamllint"),
                     code.hexdigest()))


def digest(*parts: Any) -> str:
    """A key from parts (strings, bytes or JSON-ready values) and the tools' versions."""
    h = hashlib.sha256(tools_version().encode())
    for part in parts:
        if isinstance(part, bytes):
            data = part
        elif isinstance(part, str):
            data = part.encode("utf-8", "surrogateescape")
        else:
            data = json.dumps(part, sort_keys=True, separators=(",", ":"),
                              default=str).encode()
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


class CheckCache:
    """Get and put JSON values by (namespace, key); counts what it did for tests and logs."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.stats: Counter[str] = Counter()  # "generate.hit", "lint.miss", "rejected"...
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._key = b""
        # Answers already read (or known absent) in this process, by (namespace, key):
        # the engine runs every job, so a check reads only what it has not seen. Values
        # are shared: callers must not change them.
        self._seen: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._absent: set[tuple[str, str]] = set()
        # The entries' total size as last summed, plus what was written since (_bound).
        self._total: int | None = None
        self._writes = 0
        # Decoded objects other modules keep here between jobs (components.py).
        self.memo: dict[str, Any] = {}

    # -- storage ---------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        self.folder.mkdir(parents=True, exist_ok=True)
        self._key = self._secret()
        path = self.folder / "cache.db"
        try:
            db = self._connect(path)
        except sqlite3.DatabaseError:
            # A damaged cache file is worth nothing: start again with an empty one.
            self.stats["reset"] += 1
            for leftover in (path, path.with_name("cache.db-wal"), path.with_name("cache.db-shm")):
                leftover.unlink(missing_ok=True)
            db = self._connect(path)
        self._db = db
        return db

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # losing the last writes costs a rebuild
        db.executescript(_SCHEMA)
        db.execute("SELECT count(*) FROM entries").fetchone()
        return db

    def _secret(self) -> bytes:
        path = self.folder / "cache.key"
        try:
            key = path.read_bytes()
            if len(key) == 32:
                return key
        except OSError:
            pass
        key = secrets.token_bytes(32)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        os.replace(tmp, path)
        # A new key makes every older entry fail its check: start clean instead.
        (self.folder / "cache.db").unlink(missing_ok=True)
        return key

    def _mac(self, ns: str, key: str, value: bytes) -> bytes:
        return hmac.new(self._key, f"{ns}\0{key}\0".encode() + value, hashlib.sha256).digest()

    # -- use ------------------------------------------------------------------------

    def get(self, ns: str, key: str) -> Any | None:
        return self.get_many(ns, [key]).get(key)

    def get_many(self, ns: str, keys: list[str]) -> dict[str, Any]:
        """The trusted values among ``keys``; anything that fails its check is dropped."""
        found: dict[str, Any] = {}
        if not keys:
            return found
        unique = list(dict.fromkeys(keys))
        if ns in _MEMO_NS:
            ask = []
            for key in unique:
                if (ns, key) in self._seen:
                    found[key] = self._seen[(ns, key)]
                elif (ns, key) not in self._absent:
                    ask.append(key)
            unique = ask
        with self._lock:
            try:
                db = self._open()
                rows: list[tuple[str, bytes, bytes, float]] = []
                if not unique:
                    raise _NothingToAsk
                for start in range(0, len(unique), 500):
                    chunk = unique[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows += db.execute(f"SELECT key, value, mac, used FROM entries WHERE "  # noqa: S608 - placeholders only
                                       f"ns=? AND key IN ({marks})", (ns, *chunk)).fetchall()
                bad: list[str] = []
                now = time.time()
                # Eviction needs the time of last use only roughly: touch once a minute.
                touch = [key for key, _, _, used in rows if used < now - 60]
                for key, value, mac, _used in rows:
                    value, mac = bytes(value), bytes(mac)
                    try:
                        if not hmac.compare_digest(mac, self._mac(ns, key, value)):
                            raise ValueError("entry does not match its MAC")
                        found[key] = json.loads(value)
                    except (ValueError, UnicodeDecodeError):
                        bad.append(key)
                db.execute("BEGIN")
                if bad:
                    self.stats["rejected"] += len(bad)
                    db.executemany("DELETE FROM entries WHERE ns=? AND key=?",
                                   [(ns, k) for k in bad])
                if touch:
                    db.executemany("UPDATE entries SET used=? WHERE ns=? AND key=?",
                                   [(now, ns, k) for k in touch if k in found])
                db.execute("COMMIT")
            except _NothingToAsk:
                pass
            except sqlite3.Error:
                self.stats["errors"] += 1
                self._drop()
        if ns in _MEMO_NS:
            for key in unique:
                if key in found:
                    self._remember((ns, key), found[key])
                else:
                    self._absent.add((ns, key))
            if len(self._absent) > MEMO_ENTRIES:
                self._absent.clear()
        self.stats[f"{ns}.hit"] += len(found)
        self.stats[f"{ns}.miss"] += len(set(keys)) - len(found)
        return found

    def put(self, ns: str, key: str, value: Any) -> None:
        self.put_many(ns, {key: value})

    def put_many(self, ns: str, values: dict[str, Any]) -> None:
        rows = []
        for key, value in values.items():
            try:
                data = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
            except (TypeError, ValueError):
                continue  # not JSON (a YAML timestamp, say): not cached, rebuilt next time
            rows.append((key, data))
        if not rows:
            return
        if ns in _MEMO_NS:
            for key, data in rows:
                self._absent.discard((ns, key))
                self._remember((ns, key), json.loads(data))
        with self._lock:
            try:
                db = self._open()
                now = time.time()
                db.execute("BEGIN")
                db.executemany(
                    "INSERT OR REPLACE INTO entries(ns, key, value, mac, size, used) "
                    "VALUES(?,?,?,?,?,?)",
                    [(ns, k, d, self._mac(ns, k, d), len(d), now) for k, d in rows])
                db.execute("COMMIT")
                self._bound(db, sum(len(d) for _k, d in rows))
            except sqlite3.Error:
                self.stats["errors"] += 1
                self._drop()

    def _remember(self, item: tuple[str, str], value: Any) -> None:
        self._seen[item] = value
        self._seen.move_to_end(item)
        if len(self._seen) > MEMO_ENTRIES:
            self._seen.popitem(last=False)

    def _bound(self, db: sqlite3.Connection, written: int) -> None:
        """Evict the least recently used entries once the cache is over its size.

        The size is summed over every entry only now and then: in between, what was
        written is added to the last sum (more than the truth when an entry was
        replaced), so a check's few writes do not each cost the whole cache."""
        self._writes += 1
        if self._total is not None and self._writes % _RESUM_EVERY:
            self._total += written
            if self._total <= self.max_bytes:
                return
        total = db.execute("SELECT coalesce(sum(size), 0) FROM entries").fetchone()[0]
        self._total = total
        if total <= self.max_bytes:
            return
        target = self.max_bytes * 3 // 4
        evicted = 0
        for ns, key, size in db.execute(
                "SELECT ns, key, size FROM entries ORDER BY used").fetchall():
            if total <= target:
                break
            db.execute("DELETE FROM entries WHERE ns=? AND key=?", (ns, key))
            self._seen.pop((ns, key), None)  # the size bound holds in memory too
            total -= size
            evicted += 1
        self._total = total
        self.stats["evicted"] += evicted

    def _drop(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
        self._db = None
        path = self.folder / "cache.db"
        try:
            sqlite3.connect(path).execute("SELECT count(*) FROM entries").fetchone()
        except sqlite3.Error:
            path.unlink(missing_ok=True)

    def size(self) -> int:
        with self._lock:
            try:
                return int(self._open().execute(
                    "SELECT coalesce(sum(size), 0) FROM entries").fetchone()[0])
            except sqlite3.Error:
                return 0

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
