"""`direct_changes`: allow, audit (the default) and deny, for kubectl and for the
sandbox's own `cluster scale|set-image|delete`, which take the same path."""

from __future__ import annotations

import pytest

from sandbox.facade_waits import SandboxError

from .conftest import Cluster, until

pytestmark = pytest.mark.usefixtures("kubectl_required")


def _edits(cluster: Cluster) -> list:
    return [e for e in cluster.sb.events(limit=5000) if e.kind == "cluster.edited"]


def test_deny_refuses_people_with_the_gitops_path(cluster: Cluster) -> None:
    cluster.sb.update_setting("direct_changes", "deny")
    try:
        before = cluster.live("Deployment", "web")["metadata"]["resourceVersion"]
        refused = cluster.kubectl("scale", "deployment", "web", "--replicas=5", check=False)
        assert refused.returncode == 1
        assert ('Error from server (Forbidden): deployments.apps "web" is forbidden: User '
                '"operator" cannot patch resource "deployments" in API group "apps" in the '
                'namespace "demo": direct changes to the cluster are denied') in refused.stderr
        assert "open a pull request (gitops-sandbox pr open BRANCH)" in refused.stderr
        with pytest.raises(SandboxError, match="direct changes to the cluster are denied"):
            cluster.sb.scale("deployment/web", 5)
        with pytest.raises(SandboxError, match="forbidden"):
            cluster.sb.delete_object("deployment/api")
        assert cluster.live("Deployment", "web")["metadata"]["resourceVersion"] == before
        assert cluster.live("Deployment", "api") is not None
        can = cluster.kubectl("auth", "can-i", "patch", "deployments", check=False)
        assert can.returncode == 1 and can.stdout.startswith("no - User \"operator\" cannot")
        assert cluster.kubectl("auth", "can-i", "list", "pods").stdout.strip() == "yes"
        assert "operator" in cluster.kubectl("auth", "whoami").stdout
        # The reconciler's identity is never refused.
        as_reconciler = cluster.kubectl("--context", "sandbox-reconciler", "annotate",
                                        "deployment", "web", "checked=yes")
        assert "annotated" in as_reconciler.stdout
    finally:
        cluster.sb.update_setting("direct_changes", "audit")


def test_audit_records_who_changed_what_for_kubectl_and_the_cli(cluster: Cluster) -> None:
    count = len(_edits(cluster))
    cluster.sb.scale("deployment/web", 3)  # the CLI's path: `cluster scale`
    cluster.kubectl("set", "image", "deployment/web", "web=localhost:5001/api:1.0.0")
    edits = _edits(cluster)[count:]
    assert [(e.data["user"], e.data["verb"], e.data["object"]) for e in edits] == [
        ("operator", "scale", "Deployment/demo/web"),
        ("operator", "patch", "Deployment/demo/web")]
    until(lambda: any(e.kind == "drift.detected" and "Deployment/web" in e.message
                      for e in cluster.sb.events(limit=5000)), why="drift seen")


def test_allow_lets_writes_through_without_an_audit_record(cluster: Cluster) -> None:
    cluster.sb.update_setting("direct_changes", "allow")
    cluster.suspend()  # so the reconciler does not take the annotation back at once
    try:
        count = len(_edits(cluster))
        cluster.kubectl("annotate", "deployment", "api", "note=allowed", "--overwrite")
        assert cluster.live("Deployment", "api")["metadata"]["annotations"]["note"] == "allowed"
        assert len(_edits(cluster)) == count
    finally:
        cluster.sb.update_setting("direct_changes", "audit")
        cluster.sb.resume()


def test_kubeconfig_command_writes_the_sandbox_context(cluster: Cluster) -> None:
    import yaml

    config = yaml.safe_load(cluster.sb.kubeconfig())
    assert config["current-context"] == "sandbox"
    contexts = {c["name"]: c["context"] for c in config["contexts"]}
    assert contexts["sandbox"]["user"] == "operator"
    assert contexts["sandbox-reconciler"]["user"] == "reconciler"
    assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")


def test_kubeconfig_cli_writes_a_file_kubectl_uses(cluster: Cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    cli = [sys.executable, "-m", "sandbox.cli", "--as", "reviewer"]
    out = tmp_path / "kc"
    done = subprocess.run([*cli, "kubeconfig", "-w", str(cluster.sb.root), "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"export KUBECONFIG={out}" in done.stdout
    assert out.stat().st_mode & 0o077 == 0  # it holds a token
    who = cluster.kubectl("--kubeconfig", str(out), "annotate", "deployment", "api",
                          "reviewed=yes", "--overwrite")
    assert "annotated" in who.stdout
    edits = [e for e in cluster.sb.events(limit=5000) if e.kind == "cluster.edited"]
    assert edits[-1].data["user"] == "reviewer"
    printed = subprocess.run([*cli, "kubeconfig", "--print", "-w", str(cluster.sb.root)],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0 and "current-context: sandbox" in printed.stdout
