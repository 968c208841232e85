"""The client side of the git server: its address (recorded in the workspace so that
clones keep working across engine restarts), credentials for the sandbox's own git
calls, and ready-made clones for learners.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import socket
from pathlib import Path

from ..gitutil import git
from ..users import User, load_secret, workspace_token
from ..workspace import MARKER, WorkspaceError

HOST = "127.0.0.1"
KEY = "git_server"
CREDENTIALS_FILE = "gitops-sandbox-credentials"


class ServerDown(WorkspaceError):
    """The git server is needed and does not answer; the message says how to start it."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def recorded_port(root: Path) -> int | None:
    try:
        data = json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    port = (data.get(KEY) or {}).get("port")
    return int(port) if isinstance(port, int) else None


def record_port(root: Path, port: int) -> None:
    path = Path(root) / MARKER
    data = json.loads(path.read_text())
    data[KEY] = {"host": HOST, "port": port}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def server_url(root: Path) -> str:
    return f"http://{HOST}:{recorded_port(root) or 0}"


def repo_url(root: Path, repo: str) -> str:
    return f"{server_url(root)}/{repo.removesuffix('.git')}.git"


def answering(root: Path) -> bool:
    port = recorded_port(root)
    if not port:
        return False
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_server(root: Path) -> None:
    if not answering(root):
        raise ServerDown(
            f"the git server ({server_url(root)}) is not running: it runs with the engine; "
            f"start it with 'gitops-sandbox up -w {root}' (or open the TUI)")


def auth_env(root: Path, user: User) -> dict[str, str]:
    """Environment for a git call that authenticates as `user` with the workspace's
    credential; an environment variable, so the token never shows in a process list or
    lands in a clone's config."""
    secret = load_secret(root)
    if secret is None:
        raise WorkspaceError(f"{root} has no git server key ({root}/gitserver.key): "
                             "recreate the workspace with 'gitops-sandbox init --force'")
    pair = f"{user.name}:{workspace_token(secret, user)}".encode()
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": "Authorization: Basic " + base64.b64encode(pair).decode()}


def clone(root: Path, user: User, token: str, dest: Path, repo: str = "hld") -> Path:
    """A clone of hld.git (or `repo`) in dest, with `user`'s token in git's credential store (a file
    of the clone's own) and `user` as the commit author: the first push is one command."""
    require_server(root)
    dest = Path(dest).expanduser().resolve()
    if dest.exists() and any(dest.iterdir()):
        raise WorkspaceError(f"{dest} exists and is not empty: choose a new folder")
    url = repo_url(root, repo)
    git("clone", "--quiet", url, str(dest), env_extra=auth_env(root, user))
    store = dest / ".git" / CREDENTIALS_FILE
    fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"http://{user.name}:{token}@{HOST}:{recorded_port(root)}\n")
    for key, value in (("credential.helper", f"store --file={shlex.quote(str(store))}"),
                       ("user.name", user.name), ("user.email", user.identity.email),
                       ("push.default", "current")):
        git("config", key, value, cwd=dest)
    return dest
