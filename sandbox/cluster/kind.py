"""A real cluster on this machine: kind (Kubernetes in Docker), driven through its CLI.

One kind cluster per workspace, named after the workspace folder, with its kubeconfig
kept inside the workspace: creating, reusing or deleting it never touches the user's
~/.kube/config or current context. Talking to the cluster is KubectlCluster's job.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.cluster.base import ClusterError
from sandbox.cluster.kubectl import INSTALL_KUBECTL, KubectlCluster

if TYPE_CHECKING:
    from sandbox.workspace import Workspace

INSTALL_KIND = "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
INSTALL_DOCKER = ("install Docker Engine (https://docs.docker.com/engine/install/) and start "
                  "it; `docker info` must work")
CREATE_TIMEOUT = 900.0  # the first create pulls a node image of several hundred MB
DELETE_TIMEOUT = 180.0
QUICK_TIMEOUT = 30.0


def cluster_name(ws: Workspace) -> str:
    """`gitops-sandbox-<folder>-<hash>`: readable in `kind get clusters`, and distinct for
    two workspaces whose folders share a name."""
    slug = re.sub(r"[^a-z0-9]+", "-", ws.root.name.lower()).strip("-")[:20] or "ws"
    digest = hashlib.sha1(str(ws.root).encode()).hexdigest()[:6]
    return f"gitops-sandbox-{slug}-{digest}"


def kubeconfig_path(ws: Workspace) -> Path:
    return ws.root / "kind.kubeconfig"


def context_name(ws: Workspace) -> str:
    return f"kind-{cluster_name(ws)}"


def _provider() -> str:
    # kind can run its nodes on podman or nerdctl instead of docker; then that one must work.
    return os.environ.get("KIND_EXPERIMENTAL_PROVIDER", "").strip() or "docker"


def check_tools() -> list[str]:
    """What is missing for a kind cluster, one line per tool with how to get it; empty
    when docker (running), kind and kubectl are all there."""
    missing: list[str] = []
    provider = _provider()
    if shutil.which(provider) is None:
        hint = INSTALL_DOCKER if provider == "docker" else f"install {provider} and start it"
        missing.append(f"{provider}: not found on PATH; {hint}")
    else:
        try:
            proc = subprocess.run([provider, "info"], capture_output=True, text=True,
                                  timeout=QUICK_TIMEOUT, check=False)
            problem = _last_line(proc.stderr) if proc.returncode != 0 else ""
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = str(exc)
        if problem:
            missing.append(f"{provider}: the engine is not running or not reachable "
                           f"(`{provider} info`: {problem}); start it and check with "
                           f"`{provider} info`")
    if shutil.which("kind") is None:
        missing.append(f"kind: not found on PATH; {INSTALL_KIND}")
    if shutil.which("kubectl") is None:
        missing.append(f"kubectl: not found on PATH; {INSTALL_KUBECTL}")
    return missing


def _require_tools() -> None:
    missing = check_tools()
    if missing:
        raise ClusterError("the kind cluster needs tools that are missing here: "
                           + "; ".join(missing)
                           + " (or use the built-in simulated cluster: settings cluster 'sim')")


def _kind(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    command = ["kind", *args]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError as exc:
        raise ClusterError(f"kind not found; {INSTALL_KIND}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"`{' '.join(command)}` did not finish in {timeout:g}s; "
                           f"check `{_provider()} info` and `kind get clusters`") from exc
    if proc.returncode != 0:
        raise ClusterError(f"`{' '.join(command)}` failed: "
                           f"{_last_line(proc.stderr) or _last_line(proc.stdout)}")
    return proc


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def existing_clusters() -> list[str]:
    # "No kind clusters found." goes to stderr; stdout holds only names.
    return [n.strip() for n in _kind(["get", "clusters"], QUICK_TIMEOUT).stdout.splitlines()
            if n.strip()]


def create_cluster(ws: Workspace, image: str | None = None,
                   timeout: float = CREATE_TIMEOUT) -> str:
    """Create the workspace's kind cluster, or reuse it when it exists; return its name.
    The kubeconfig goes to the workspace, never to ~/.kube/config."""
    _require_tools()
    name = cluster_name(ws)
    config = kubeconfig_path(ws)
    if name in existing_clusters():
        if not config.is_file():
            _kind(["export", "kubeconfig", "--name", name, "--kubeconfig", str(config)],
                  QUICK_TIMEOUT)
        return name
    args = ["create", "cluster", "--name", name, "--kubeconfig", str(config), "--wait", "120s"]
    if image:
        args += ["--image", image]
    _kind(args, timeout)
    return name


def delete_cluster(ws: Workspace, timeout: float = DELETE_TIMEOUT) -> bool:
    """Delete the workspace's kind cluster; False when there was none."""
    if shutil.which("kind") is None:
        raise ClusterError(f"kind not found on PATH; {INSTALL_KIND}")
    name = cluster_name(ws)
    config = kubeconfig_path(ws)
    if name not in existing_clusters():
        config.unlink(missing_ok=True)
        return False
    # --kubeconfig: kind removes the context from our file, not from the user's.
    _kind(["delete", "cluster", "--name", name, "--kubeconfig", str(config)], timeout)
    config.unlink(missing_ok=True)
    return True


class KindCluster(KubectlCluster):
    """The workspace's kind cluster (created on first use), reached through kubectl on
    context `kind-<name>` with the workspace's own kubeconfig."""

    name = "kind"

    def __init__(self, ws: Workspace, **options: Any) -> None:
        self.cluster_name = create_cluster(ws)
        super().__init__(f"kind-{self.cluster_name}", kubeconfig_path(ws), **options)
