"""kind clusters: tool checks and the cluster's life cycle against fake `kind` and
`docker` scripts, and the whole backend against a real kind cluster where docker and
kind exist (marked `kind`; skipped elsewhere with what is missing)."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.cluster import kind
from sandbox.cluster.base import ClusterError, ObjRef
from sandbox.flux import MANAGED_BY, MANAGER
from sandbox.monitor import Health, health_of
from sandbox.workspace import MARKER, Workspace

FAKE_KIND = r'''
import json, os, sys
state = os.environ["FAKE_KIND_DIR"]
with open(os.path.join(state, "calls.jsonl"), "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\n")
path = os.path.join(state, "clusters.json")
clusters = json.load(open(path)) if os.path.exists(path) else []
args = sys.argv[1:]
opt = lambda name: args[args.index(name) + 1]

def kubeconfig(name):
    with open(opt("--kubeconfig"), "w") as fh:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": f"kind-{name}",
                   "contexts": [{"name": f"kind-{name}", "context": {}}]}, fh)

if args[:2] == ["get", "clusters"]:
    print("\n".join(clusters)) if clusters else print("No kind clusters found.", file=sys.stderr)
elif args[:2] == ["create", "cluster"]:
    if os.environ.get("FAKE_KIND_FAIL"):
        sys.exit("Creating cluster ...\nERROR: failed to create cluster: node image not found")
    clusters.append(opt("--name"))
    kubeconfig(opt("--name"))
elif args[:2] == ["export", "kubeconfig"]:
    kubeconfig(opt("--name"))
elif args[:2] == ["delete", "cluster"]:
    clusters.remove(opt("--name"))
    print(f'Deleting cluster "{opt("--name")}" ...', file=sys.stderr)
json.dump(clusters, open(path, "w"))
'''

FAKE_DOCKER = r'''
import os, sys
if os.environ.get("FAKE_DOCKER_DOWN"):
    sys.exit("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
             "Is the docker daemon running?")
print("Server Version: 27.0.0")
'''


def make_workspace(root: Path) -> Workspace:
    """A workspace as far as the kind backend cares: its folder and settings."""
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(json.dumps({"version": 1, "settings": {"cluster": "kind"}}))
    return Workspace(root)


class Tools:
    """A bin folder that is the whole PATH, holding only the fake tools a test asks for."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.state = root / "kind-state"
        self.state.mkdir()
        monkeypatch.setenv("PATH", str(self.bin))
        monkeypatch.setenv("FAKE_KIND_DIR", str(self.state))
        monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)

    def add(self, name: str, body: str = "") -> None:
        script = self.bin / name
        script.write_text(f"#!{sys.executable}\n{body}")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)

    def all(self) -> Tools:
        self.add("kind", FAKE_KIND)
        self.add("docker", FAKE_DOCKER)
        self.add("kubectl")
        return self

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tools:
    return Tools(tmp_path, monkeypatch)


# -- without a cluster ------------------------------------------------------------------

def test_check_tools_names_each_missing_tool_and_how_to_get_it(tools: Tools) -> None:
    missing = kind.check_tools()
    assert [m.split(":")[0] for m in missing] == ["docker", "kind", "kubectl"]
    assert "https://docs.docker.com/engine/install/" in missing[0]
    assert "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" in missing[1]
    assert "https://kubernetes.io/docs/tasks/tools/" in missing[2]
    tools.all()
    assert kind.check_tools() == []


def test_a_stopped_docker_engine_counts_as_missing(tools: Tools,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tools.all()
    monkeypatch.setenv("FAKE_DOCKER_DOWN", "1")
    [problem] = kind.check_tools()
    assert problem.startswith("docker: the engine is not running")
    assert "Is the docker daemon running?" in problem and "`docker info`" in problem


def test_kind_can_use_podman_instead_of_docker(tools: Tools,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tools.add("kind", FAKE_KIND)
    tools.add("kubectl")
    monkeypatch.setenv("KIND_EXPERIMENTAL_PROVIDER", "podman")
    assert [m.split(":")[0] for m in kind.check_tools()] == ["podman"]
    tools.add("podman", FAKE_DOCKER)
    assert kind.check_tools() == []


def test_kind_cluster_refuses_clearly_without_its_tools(tools: Tools, tmp_path: Path) -> None:
    tools.add("kubectl")
    ws = make_workspace(tmp_path / "ws")
    with pytest.raises(ClusterError) as err:
        kind.KindCluster(ws)
    message = str(err.value)
    assert "docker: not found" in message and "kind: not found" in message
    assert "kubectl" not in message.split("needs tools that are missing here:")[1].split(
        "(or use")[0]
    assert tools.calls() == []


def test_cluster_name_is_valid_for_kind_and_differs_per_workspace(tmp_path: Path) -> None:
    a = make_workspace(tmp_path / "one" / "My Work_Space.2026")
    b = make_workspace(tmp_path / "two" / "My Work_Space.2026")
    name = kind.cluster_name(a)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) and len(name) <= 50
    assert name.startswith("gitops-sandbox-my-work-space-2026-")
    assert name != kind.cluster_name(b)
    assert kind.context_name(a) == f"kind-{name}"


def test_kind_cluster_creates_then_reuses_then_deletes(tools: Tools, tmp_path: Path) -> None:
    tools.all()
    ws = make_workspace(tmp_path / "ws")
    name = kind.cluster_name(ws)
    cluster = kind.KindCluster(ws, cache_seconds=0)
    assert (cluster.name, cluster.cluster_name) == ("kind", name)
    assert (cluster.context, cluster.kubeconfig) == (f"kind-{name}", ws.root / "kind.kubeconfig")
    assert cluster.command("get", "pods")[:5] == [
        "kubectl", "--context", f"kind-{name}", "--kubeconfig", str(ws.root / "kind.kubeconfig")]
    config = json.loads((ws.root / "kind.kubeconfig").read_text())
    assert config["current-context"] == f"kind-{name}"
    create = [c for c in tools.calls() if c[:2] == ["create", "cluster"]]
    assert create == [["create", "cluster", "--name", name, "--kubeconfig",
                       str(ws.root / "kind.kubeconfig"), "--wait", "120s"]]
    # A second engine on the same workspace reuses the cluster; a lost kubeconfig comes back.
    (ws.root / "kind.kubeconfig").unlink()
    again = kind.KindCluster(ws)
    assert again.context == cluster.context
    assert len([c for c in tools.calls() if c[:2] == ["create", "cluster"]]) == 1
    assert ["export", "kubeconfig", "--name", name, "--kubeconfig",
            str(ws.root / "kind.kubeconfig")] in tools.calls()
    assert kind.delete_cluster(ws) is True
    assert not (ws.root / "kind.kubeconfig").exists()
    assert ["delete", "cluster", "--name", name, "--kubeconfig",
            str(ws.root / "kind.kubeconfig")] in tools.calls()
    assert kind.delete_cluster(ws) is False


def test_a_failed_create_says_what_kind_said(tools: Tools, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    tools.all()
    monkeypatch.setenv("FAKE_KIND_FAIL", "1")
    ws = make_workspace(tmp_path / "ws")
    with pytest.raises(ClusterError, match=r"`kind create cluster --name gitops-sandbox-ws-"
                                           r"\w+ .*` failed: ERROR: failed to create cluster: "
                                           "node image not found"):
        kind.create_cluster(ws)


def test_delete_without_kind_says_how_to_install_it(tools: Tools, tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="kind.sigs.k8s.io"):
        kind.delete_cluster(make_workspace(tmp_path / "ws"))


# -- a real kind cluster -----------------------------------------------------------------

NS = "gs-test"
MINE = {MANAGED_BY: MANAGER}


def wait_for(what: str, probe: Callable[[], Any], seconds: float = 180) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kind.KindCluster]:
    missing = kind.check_tools()
    if missing:
        pytest.skip("needs docker and kind: " + "; ".join(missing))
    ws = make_workspace(tmp_path_factory.mktemp("kind") / f"t{os.getpid()}-{time.time_ns()}")
    try:
        yield kind.KindCluster(ws, cache_seconds=0, events_interval=0)
    finally:
        kind.delete_cluster(ws)


def ns(name: str = NS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": MINE}}


def cm(name: str, value: str = "1", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS, "labels": labels or {}},
            "data": {"v": value}}


def deploy(name: str, replicas: int = 1) -> dict[str, Any]:
    container = {"name": "app", "image": "registry.k8s.io/pause:3.9"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "labels": MINE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [container]}}}}


@pytest.mark.kind
def test_real_apply_dry_run_then_apply(real: kind.KindCluster) -> None:
    objects = [ns(), cm("web-config"), deploy("web")]
    dry = real.apply(objects, dry_run=True)
    assert [(r.action, r.error) for r in dry] == [("created", None)] * 3
    assert real.get(ObjRef("Namespace", NS)) is None
    assert [r.action for r in real.apply(objects)] == ["created"] * 3
    assert [r.action for r in real.apply(objects)] == ["unchanged"] * 3
    changed = [ns(), cm("web-config", value="2"), deploy("web")]
    assert [r.action for r in real.apply(changed, dry_run=True)] == [
        "unchanged", "configured", "unchanged"]
    assert [r.action for r in real.apply(changed)] == ["unchanged", "configured", "unchanged"]


@pytest.mark.kind
def test_real_invalid_object_gets_its_own_error(real: kind.KindCluster) -> None:
    results = real.apply([ns(), cm("fine"), deploy("broken", replicas=-1)])
    assert [(r.action, r.error) for r in results[:2]] == [("unchanged", None), ("created", None)]
    assert results[2].action == "invalid" and "spec.replicas" in (results[2].error or "")
    assert real.get(ObjRef("Deployment", "broken", NS)) is None


@pytest.mark.kind
def test_real_get_and_list_with_status(real: kind.KindCluster) -> None:
    real.apply([ns(), deploy("web")])
    ref = ObjRef("Deployment", "web", NS)
    wait_for("web to be Healthy", lambda: health_of(real.get(ref))[0] is Health.HEALTHY)
    pods = real.list("Pod", NS, {"app": "web"})
    assert pods and pods[0]["status"]["phase"] == "Running"
    kinds = {o["kind"] for o in real.list(namespace=NS)}
    assert {"Deployment", "ReplicaSet", "Pod", "Namespace"} <= kinds


@pytest.mark.kind
def test_real_prune_by_label_and_delete(real: kind.KindCluster) -> None:
    real.apply([ns(), cm("keep", labels=MINE), cm("old", labels=MINE), cm("theirs")])
    desired = {ObjRef("ConfigMap", "keep", NS)}
    for obj in real.list("ConfigMap", NS, MINE):
        if ObjRef.of(obj) not in desired:
            assert real.delete(ObjRef.of(obj)) is True
    names = {o["metadata"]["name"] for o in real.list("ConfigMap", NS)}
    assert {"keep", "theirs"} <= names and "old" not in names
    assert real.delete(ObjRef("ConfigMap", "old", NS)) is False


@pytest.mark.kind
def test_real_events_arrive_once(real: kind.KindCluster) -> None:
    real.apply([ns(), deploy("events-demo")])
    seen: list[Any] = []

    def scaled() -> bool:
        seen.extend(real.step())
        return any(e.reason == "ScalingReplicaSet" and e.ref.name == "events-demo"
                   for e in seen)

    wait_for("a ScalingReplicaSet event", scaled, seconds=60)
    keys = [(e.data["uid"], e.data["count"]) for e in seen]
    assert len(keys) == len(set(keys))


@pytest.mark.kind
def test_real_cluster_is_reused_and_answers(real: kind.KindCluster) -> None:
    assert real.ping().startswith("v1.")
    assert real.cluster_name in kind.existing_clusters()
