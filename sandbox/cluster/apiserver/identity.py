"""Who is calling: bearer tokens of the workspace's users (issued by `gitops-sandbox
kubeconfig`, or the workspace credential the sandbox's own commands use) and the
reconciler's own identity, which the `direct_changes` policy never refuses."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from sandbox.store import Store
from sandbox.users import Users, load_secret, token_hash, workspace_token

from .handlers import Caller

# The name Flux's kustomize-controller has on a real cluster, so audit lines read alike.
RECONCILER = "system:serviceaccount:flux-system:kustomize-controller"


def reconciler_token(secret: bytes) -> str:
    return "gsr_" + hmac.new(secret, b"reconciler", hashlib.sha256).hexdigest()


class Tokens:
    def __init__(self, root: Path) -> None:
        self.users = Users(Store(Path(root) / "state.db"))
        self.secret = load_secret(Path(root))

        # Tokens are never revoked in the sandbox, so a known one need not cost a query.
        self._known: dict[str, Caller] = {}

    def caller(self, header: str) -> Caller | None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or self.secret is None:
            return None
        if token in self._known:
            return self._known[token]
        found = self._lookup(token)
        if found is not None:
            self._known[token] = found
        return found

    def _lookup(self, token: str) -> Caller | None:
        assert self.secret is not None
        if hmac.compare_digest(token, reconciler_token(self.secret)):
            return Caller(RECONCILER, "reconciler")
        if token.startswith("gsw_"):
            for user in self.users.list():
                if hmac.compare_digest(token, workspace_token(self.secret, user)):
                    return Caller(user.name, user.role)
            return None
        row = self.users.store.one("SELECT user_id FROM tokens WHERE hash=?", token_hash(token))
        user = self.users.by_id(int(row["user_id"])) if row else None
        return Caller(user.name, user.role) if user else None
