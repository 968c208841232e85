"""API discovery through the whole loop: a removed apiVersion fails the PR check at its
HLD line; a `kind: List` with a cluster-scoped kind merges, reconciles and shows under
every name kubectl accepts; an unknown name is kubectl's error with exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.cluster.base import UnknownResourceType
from sandbox.facade import Sandbox

LEGACY = """\
apiVersion: extensions/v1beta1
kind: Deployment
metadata:
  name: legacy
  namespace: ${namespace}
spec:
  template:
    spec:
      containers:
        - name: legacy
          image: localhost:5001/web:1.0.0
"""

EXTRAS = """\
apiVersion: v1
kind: List
items:
  - apiVersion: networking.k8s.io/v1
    kind: IngressClass
    metadata:
      name: nginx
    spec:
      controller: k8s.io/ingress-nginx
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: extras
      namespace: ${namespace}
    data:
      mode: list
"""


def test_removed_api_fails_the_check_and_a_list_reconciles(running: Sandbox) -> None:
    sb = running
    sb.commit_files("legacy", {"web/legacy.yaml": LEGACY}, "Add a legacy Deployment")
    pr = sb.open_pr("legacy", "Add a legacy Deployment")
    checked = sb.wait_for_checks(pr.id, 60)
    assert checked.checks_state == "failure"
    log = sb.pr_diff(pr.id)["log"]
    assert ('web/legacy.yaml:1: error: Deployment/demo/legacy: no matches for kind '
            '"Deployment" in version "extensions/v1beta1"') in log, log

    sb.commit_files("extras", {"web/extras.yaml": EXTRAS}, "Add an IngressClass and config")
    pr = sb.open_pr("extras", "Add an IngressClass and config")
    checked = sb.wait_for_checks(pr.id, 60)
    assert checked.checks_state == "success", sb.pr_diff(pr.id)["log"]
    sb.approve_pr(pr.id, "reviewer")
    merged = sb.merge_pr(pr.id, "operator")
    dep = sb.wait_for_deployment(merged.merge_sha or "", 60)
    assert dep["sync_status"] == "synced", dep

    for name in ("ingressclasses", "ingressclass", "IngressClass",
                 "ingressclasses.networking.k8s.io"):
        [ingress_class] = sb.cluster_objects(name)
        assert ingress_class["metadata"]["name"] == "nginx"
        assert "namespace" not in ingress_class["metadata"]  # cluster-scoped
    assert [o["metadata"]["name"] for o in sb.cluster_objects("cm")
            if o["metadata"]["name"] == "extras"] == ["extras"]
    with pytest.raises(UnknownResourceType, match='resource type "foo"'):
        sb.cluster_objects("foo")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_cluster_get_accepts_kubectls_names_and_refuses_others(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert cli("init", "-w", ws).returncode == 0
    for name in ("hpa", "sts", "cronjob", "pvc", "ds", "netpol", "crd", "sa", "ing"):
        proc = cli("cluster", "get", name, "-w", ws)
        assert proc.returncode == 0, (name, proc.stderr)
    proc = cli("cluster", "get", "foo", "-w", ws)
    assert proc.returncode == 1
    assert proc.stderr.strip() == 'error: the server doesn\'t have a resource type "foo"'
    assert proc.stdout == ""
