"""`gitops-sandbox kubeconfig`: a kubeconfig for the workspace's API server. Context
`sandbox` is the person running the command (a new token of theirs); context
`sandbox-reconciler` is the reconciler's own identity (what the kubectl backend uses
when pointed at the sandbox), which `direct_changes: deny` never refuses."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from sandbox.users import User, Users, load_secret
from sandbox.workspace import WorkspaceError

from .glue import HOST, recorded
from .identity import reconciler_token
from .tls import ensure

CONTEXT = "sandbox"
RECONCILER_CONTEXT = "sandbox-reconciler"
NAMESPACE = "demo"  # where the sample app lives; `-n` or `-A` reach the rest


def server_url(root: Path) -> str:
    entry = recorded(root)
    if entry is None:
        raise WorkspaceError(f"{root} has no API server address yet: it is chosen when the "
                             f"engine starts; start it with 'gitops-sandbox up -w {root}'")
    return f"https://{entry.get('host', HOST)}:{entry['port']}"


def build(root: Path, users: Users, user: User) -> dict[str, Any]:
    secret = load_secret(root)
    if secret is None:
        raise WorkspaceError(f"{root} has no key (gitserver.key): recreate the workspace "
                             "with 'gitops-sandbox init --force'")
    token = users.issue_token(user, "kubeconfig")
    cluster = "gitops-sandbox"
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": cluster, "cluster": {
            "server": server_url(root),
            "certificate-authority-data": base64.b64encode(ensure(root)[0].read_bytes()).decode()}}],
        "users": [{"name": user.name, "user": {"token": token}},
                  {"name": "reconciler", "user": {"token": reconciler_token(secret)}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": cluster, "user": user.name,
                                          "namespace": NAMESPACE}},
            {"name": RECONCILER_CONTEXT, "context": {"cluster": cluster, "user": "reconciler",
                                                     "namespace": NAMESPACE}}],
        "current-context": CONTEXT,
    }


def dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)
