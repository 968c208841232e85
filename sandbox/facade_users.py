"""Who the facade acts as: the workspace's users, switching between them, clones with
credentials, and the credentials of the sandbox's own git calls through the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .facade_waits import SandboxError
from .gitserver import remote
from .users import User, UserError, Users

if TYPE_CHECKING:
    from .engine import Engine
    from .workspace import Workspace

USER_ENV_VAR = "GITOPS_SANDBOX_USER"


class Identities:
    """Mixed into the facade (`Sandbox`), which sets these attributes."""

    ws: Workspace
    users: Users
    user: User
    engine: Engine | None

    def _user(self, who: str | User | None) -> User:
        if who is None:
            return self.user
        try:
            return self.users.get(who)
        except UserError as exc:
            raise SandboxError(str(exc)) from None

    def switch_user(self, name: str) -> User:
        """Act as another user from now on (this process only)."""
        self.user = self._user(name)
        return self.user

    def list_users(self) -> list[User]:
        return self.users.list()

    def add_user(self, name: str, role: str = "human") -> tuple[User, str]:
        try:
            return self.users.add(name, role)
        except UserError as exc:
            raise SandboxError(str(exc)) from None

    def use_user(self, name: str) -> User:
        """Make `name` the workspace's configured user (what commands act as by default)."""
        user = self._user(name)
        self.ws.set_configured_user(user.name)
        self.user = user
        return user

    def git_server_url(self) -> str:
        if self.engine is not None and self.engine.gitserver is not None:
            return self.engine.gitserver.url
        return remote.server_url(self.ws.root)

    def clone(self, dest: Path, user: str | None = None) -> Path:
        """A clone of hld.git over HTTP with a new token of `user` stored for git."""
        who = self._user(user)
        token = self.users.issue_token(who, f"clone {Path(dest).name}")
        return remote.clone(self.ws.root, who, token, Path(dest))

    def _auth(self, user: User) -> dict[str, str]:
        remote.require_server(self.ws.root)
        return remote.auth_env(self.ws.root, user)

    def kubeconfig(self) -> str:
        """A kubeconfig for the engine's Kubernetes API server, as this user."""
        from .cluster.apiserver import kubeconfig

        try:
            return kubeconfig.dump(kubeconfig.build(self.ws.root, self.users, self.user))
        except Exception as exc:
            raise SandboxError(str(exc)) from None
