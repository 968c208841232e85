"""The git server on the wire: smart HTTP on the loopback address, through git's own
`git http-backend` run as a CGI program after HTTP basic authentication.

Only the smart protocol's three endpoints of the workspace's two repositories are
served. The server, not the client, decides which hooks run (`core.hooksPath` is set
for http-backend), so `--receive-pack=...` or `-c core.hooksPath=...` on the client
change nothing: they only ever applied to local or ssh transports.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from ..store import Store
from ..users import User, Users, load_secret, proof
from . import REPOS, configure_repo, hook_intact, install_hook
from .remote import HOST, free_port, record_port, recorded_port

PATH_RE = re.compile(r"^/(hld|manifests)\.git/(info/refs|git-upload-pack|git-receive-pack)$")
PROOF_VAR = "GITOPS_SANDBOX_PROOF"
REALM = 'Basic realm="gitops-sandbox", charset="UTF-8"'
COPY = 64 * 1024

Notify = Callable[[str, str, dict[str, Any]], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], root: Path) -> None:
        super().__init__(address, _Handler)
        self.root = root
        self.users = Users(Store(root / "state.db"))
        self.secret = load_secret(root)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # so that curl's `Expect: 100-continue` is answered
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass  # the engine's event log tells what matters; no per-request noise

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        self._serve()

    def do_POST(self) -> None:  # noqa: N802 - stdlib's name
        self._serve()

    def _plain(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        body = (text.rstrip("\n") + "\n").encode()
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _authenticate(self) -> User | None:
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or self.server.secret is None:
            return None
        try:
            name, _, token = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return self.server.users.authenticate(name, token, self.server.secret)

    def _serve(self) -> None:
        if self.client_address[0] != HOST:
            self._plain(403, "the gitops-sandbox git server answers the loopback address only")
            return
        path, _, query = self.path.partition("?")
        match = PATH_RE.match(path)
        if not match:
            self._plain(404, f"{path}: not a repository of this sandbox (hld.git, manifests.git)")
            return
        repo, endpoint = match.groups()
        if endpoint == "info/refs" and not re.search(r"(^|&)service=git-", query):
            self._plain(403, "this server speaks git's smart HTTP protocol only")
            return
        user = self._authenticate()
        if user is None:
            self._plain(401, "authentication required: a user name and its token "
                        "(gitops-sandbox user add NAME; gitops-sandbox clone)",
                        {"WWW-Authenticate": REALM})
            return
        pushing = "receive-pack" in endpoint or "service=git-receive-pack" in query
        repo_dir = self.server.root / f"{repo}.git"
        if pushing and not hook_intact(repo_dir, self.server.root):
            self._plain(503, f"the branch policy hook of {repo}.git is missing or changed; "
                        "restart the engine to reinstall it")
            return
        self._run_backend(repo_dir, path, query, user)

    def _environment(self, repo_dir: Path, path: str, query: str, user: User) -> dict[str, str]:
        assert self.server.secret is not None
        env = {key: os.environ[key] for key in ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")
               if key in os.environ}
        env.update({
            "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_PROJECT_ROOT": str(self.server.root), "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": user.name, "REMOTE_ADDR": self.client_address[0],
            "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            # The server's hooks, whatever the repository's config or the client says.
            "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.hooksPath",
            "GIT_CONFIG_VALUE_0": str(repo_dir / "hooks"),
            PROOF_VAR: proof(self.server.secret, user.name),
        })
        for header, var in (("Content-Length", "CONTENT_LENGTH"),
                            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                            ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
            value = self.headers.get(header)
            if value and not (header == "Content-Length" and self._chunked()):
                env[var] = value
        return env

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _feed(self, sink: IO[bytes]) -> None:
        """Copy the request body to http-backend, undoing chunked transfer encoding."""
        try:
            if self._chunked():
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():
                            pass  # trailers
                        break
                    left = size
                    while left:
                        data = self.rfile.read(min(left, COPY))
                        if not data:
                            return
                        sink.write(data)
                        left -= len(data)
                    self.rfile.readline()
            else:
                left = int(self.headers.get("Content-Length") or 0)
                while left > 0:
                    data = self.rfile.read(min(left, COPY))
                    if not data:
                        return
                    sink.write(data)
                    left -= len(data)
        except (OSError, ValueError):
            pass
        finally:
            try:
                sink.close()
            except OSError:
                pass

    def _run_backend(self, repo_dir: Path, path: str, query: str, user: User) -> None:
        proc = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self._environment(repo_dir, path, query, user),
                                cwd=self.server.root)
        assert proc.stdin and proc.stdout and proc.stderr
        feeder = threading.Thread(target=self._feed, args=(proc.stdin,), daemon=True)
        feeder.start()
        errors: list[bytes] = []
        drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()),  # type: ignore[union-attr]
                                 daemon=True)
        drain.start()
        status, headers = 200, []
        while True:
            line = proc.stdout.readline()
            if not line or line in (b"\r\n", b"\n"):
                break
            key, _, value = line.decode("latin-1").partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((key.strip(), value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            shutil.copyfileobj(proc.stdout, self.wfile, COPY)
        except OSError:
            pass  # the client went away; http-backend stops on its broken pipe
        self.close_connection = True
        feeder.join(timeout=30)
        proc.stdout.close()
        proc.wait(timeout=60)
        drain.join(timeout=5)


class GitServer:
    """The workspace's git server, started and stopped with the engine."""

    def __init__(self, root: Path, notify: Notify | None = None) -> None:
        self.root = Path(root)
        self.notify = notify or (lambda kind, message, data: None)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.moved_from: int | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> GitServer:
        for repo in REPOS:
            # Existing workspaces get the current policy and fsck settings.
            configure_repo(self.root / f"{repo}.git")
            install_hook(self.root / f"{repo}.git", self.root)
        wanted = recorded_port(self.root)
        try:
            self._server = _Server((HOST, wanted or free_port()), self.root)
        except OSError:
            self._server = _Server((HOST, free_port()), self.root)
            self.moved_from = wanted
        if self.port != wanted:
            record_port(self.root, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="git-server",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        if self.moved_from:
            self.notify("gitserver.moved",
                        f"git server port {self.moved_from} is taken: now serving on {self.url}"
                        " (existing clones: git remote set-url origin "
                        f"{self.url}/hld.git)", {"url": self.url, "old_port": self.moved_from})
        self.notify("gitserver.started", f"git server at {self.url} (hld.git, manifests.git)",
                    {"url": self.url})
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
