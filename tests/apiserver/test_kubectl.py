"""What a person does with the real kubectl against the sandbox's API server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from .conftest import Cluster, kubectl_binary, until

pytestmark = pytest.mark.usefixtures("kubectl_required")


def test_get_in_every_output_format(cluster: Cluster) -> None:
    out = cluster.kubectl("get", "pods").stdout
    assert out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert sum(1 for line in out.splitlines() if " Running " in line) == 4
    wide = cluster.kubectl("get", "deploy", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                               "IMAGES", "SELECTOR"]
    assert any(line.split()[:2] == ["web", "2/2"] and "app=web" in line for line in wide)
    doc = yaml.safe_load(cluster.kubectl("get", "deploy", "web", "-o", "yaml").stdout)
    assert doc["kind"] == "Deployment" and doc["spec"]["replicas"] == 2
    listed = json.loads(cluster.kubectl("get", "svc", "-o", "json").stdout)
    assert {i["metadata"]["name"] for i in listed["items"]} == {"web", "api"}
    names = cluster.kubectl("get", "pods", "-l", "app=web", "-o",
                            "jsonpath={.items[*].metadata.name}").stdout.split()
    assert len(names) == 2 and all(n.startswith("web-") for n in names)
    everywhere = cluster.kubectl("get", "namespaces", "-A").stdout
    assert {"default", "demo", "kube-system"} <= {ln.split()[0] for ln in everywhere.splitlines()}
    all_kinds = cluster.kubectl("get", "all", "-A").stdout
    assert "deployment.apps/web" in all_kinds and "NAMESPACE" in all_kinds.splitlines()[0]


def test_api_resources_explain_and_describe(cluster: Cluster) -> None:
    resources = cluster.kubectl("api-resources").stdout
    assert any(line.split()[:2] == ["deployments", "deploy"] for line in resources.splitlines())
    explained = cluster.kubectl("explain", "deployment.spec.replicas").stdout
    assert "FIELD: replicas <integer>" in explained
    described = cluster.kubectl("describe", "deployment", "web").stdout
    assert "Name:                   web" in described
    assert "ScalingReplicaSet" in described  # the events of the object


def test_apply_diff_and_server_side_apply(cluster: Cluster, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
                        "data:\n  a: '1'\n")
    assert cluster.kubectl("apply", "-f", str(manifest)).stdout.strip() == (
        "configmap/notes created")
    assert cluster.kubectl("apply", "-f", str(manifest)).stdout.strip() == (
        "configmap/notes unchanged")
    manifest.write_text(manifest.read_text().replace("'1'", "'2'"))
    diff = cluster.kubectl("diff", "-f", str(manifest), check=False)
    assert diff.returncode == 1 and '-  a: "1"' in diff.stdout and '+  a: "2"' in diff.stdout
    assert cluster.kubectl("apply", "-f", str(manifest)).stdout.strip() == (
        "configmap/notes configured")
    assert cluster.live("ConfigMap", "notes")["data"] == {"a": "2"}
    manifest.write_text(manifest.read_text().replace("'2'", "'3'"))
    assert "serverside-applied" in cluster.kubectl(
        "apply", "--server-side", "-f", str(manifest)).stdout
    assert cluster.live("ConfigMap", "notes")["data"] == {"a": "3"}
    manifest.write_text(manifest.read_text().replace("'3'", "'4'"))
    refused = cluster.kubectl("apply", "--server-side", "--field-manager", "someone-else",
                              "-f", str(manifest), check=False)
    assert refused.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.a' in (
        refused.stderr)
    assert cluster.live("ConfigMap", "notes")["data"] == {"a": "3"}
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager",
                    "someone-else", "-f", str(manifest))
    assert cluster.live("ConfigMap", "notes")["data"] == {"a": "4"}
    assert cluster.kubectl("delete", "configmap", "notes").stdout.strip() == (
        'configmap "notes" deleted from demo namespace')
    gone = cluster.kubectl("get", "configmap", "notes", check=False)
    assert gone.returncode == 1
    assert 'Error from server (NotFound): configmaps "notes" not found' in gone.stderr


def test_server_side_apply_conflicts_with_the_reconciler(cluster: Cluster,
                                                         tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                        "spec:\n  replicas: 3\n")
    refused = cluster.kubectl("apply", "--server-side", "-f", str(manifest), check=False)
    assert 'conflict with "gitops-sandbox-flux" using apps/v1: .spec.replicas' in refused.stderr


def test_scale_and_watch_the_reconciler_undo_it(cluster: Cluster) -> None:
    assert cluster.kubectl("scale", "deployment", "web", "--replicas=4").stdout.strip() == (
        "deployment.apps/web scaled")
    events = cluster.sb.events(limit=5000)
    edited = [e for e in events if e.kind == "cluster.edited" and "web" in e.message]
    assert edited and edited[-1].data.get("user") == "operator"  # audit (the default)
    until(lambda: any(e.kind == "drift.corrected" and "Deployment/web" in e.message
                      for e in cluster.sb.events(limit=5000)), why="drift corrected")
    until(lambda: cluster.kubectl("get", "deploy", "web", "-o",
                                  "jsonpath={.spec.replicas}").stdout == "2",
          why="the reconciler put replicas back to 2")


def test_set_image_rollout_status_history_restart_and_wait(cluster: Cluster) -> None:
    cluster.suspend()  # so the reconciler does not put the image back mid-rollout
    try:
        cluster.kubectl("set", "image", "deployment/api", "api=localhost:5001/web:1.0.0")
        out = cluster.kubectl("rollout", "status", "deployment/api", "--timeout=60s").stdout
        assert 'deployment "api" successfully rolled out' in out
        image = cluster.kubectl("get", "deploy", "api", "-o",
                                "jsonpath={.spec.template.spec.containers[0].image}").stdout
        assert image == "localhost:5001/web:1.0.0"
        history = cluster.kubectl("rollout", "history", "deployment/api").stdout
        assert "REVISION" in history and len(history.strip().splitlines()) >= 3
        assert cluster.kubectl("rollout", "restart", "deployment/api").stdout.strip() == (
            "deployment.apps/api restarted")
        cluster.kubectl("rollout", "status", "deployment/api", "--timeout=60s")
        waited = cluster.kubectl("wait", "--for=condition=Available", "deployment/api",
                                 "--timeout=60s").stdout
        assert waited.strip() == "deployment.apps/api condition met"
    finally:
        cluster.sb.resume()


def _image(cluster: Cluster, name: str) -> str:
    return cluster.kubectl("get", "deploy", name, "-o",
                           "jsonpath={.spec.template.spec.containers[0].image}").stdout


def test_rollout_undo_and_the_reconciler_treats_the_result_as_drift(cluster: Cluster) -> None:
    cluster.suspend()  # two rollouts by hand first, with no reconcile in between
    try:
        in_git = _image(cluster, "web")
        for tag in ("9.0.0", "9.0.1"):  # images that exist, so both rollouts complete
            cluster.sb.push_image("web", tag)
        cluster.kubectl("set", "image", "deployment/web", "web=localhost:5001/web:9.0.0")
        cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        cluster.kubectl("set", "image", "deployment/web", "web=localhost:5001/web:9.0.1")
        cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        undone = cluster.kubectl("rollout", "undo", "deployment/web").stdout.strip()
        assert undone == "deployment.apps/web rolled back"
        # undo goes back to the previous ReplicaSet's template: the first hand-set image,
        # which is still not what git says.
        assert _image(cluster, "web") == "localhost:5001/web:9.0.0"
        cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        count = len(cluster.sb.events(limit=5000))
    finally:
        cluster.sb.resume()
    # GitOps: an undo by hand is a direct change like any other; the image differs from
    # git, so the reconciler puts git's image back.
    until(lambda: any(e.kind == "drift.corrected" and "Deployment/web" in e.message
                      for e in cluster.sb.events(limit=5000)[count:]),
          timeout=120, why="the undone image corrected as drift")
    until(lambda: _image(cluster, "web") == in_git, timeout=120,
          why="git's image back after the undo")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")


def test_rollout_undo_back_to_git_leaves_nothing_to_correct(cluster: Cluster) -> None:
    cluster.suspend()
    try:
        in_git = _image(cluster, "api")
        cluster.sb.push_image("api", "9.9.9")
        cluster.kubectl("set", "image", "deployment/api", "api=localhost:5001/api:9.9.9")
        cluster.kubectl("rollout", "status", "deployment/api", "--timeout=60s")
        cluster.kubectl("rollout", "undo", "deployment/api")
        assert _image(cluster, "api") == in_git
        cluster.kubectl("rollout", "status", "deployment/api", "--timeout=60s")
    finally:
        cluster.sb.resume()
    # The image matches git again: the reconciler's drift check finds nothing on it.
    engine = cluster.sb.engine
    assert engine is not None
    drifted = [d for d in engine.flux.check_drift() if "Deployment/api" in d]
    assert drifted == [], drifted


def test_get_watch_sees_a_deleted_pod_replaced(cluster: Cluster) -> None:
    binary = kubectl_binary()
    assert binary
    watch = subprocess.Popen([binary, "get", "pods", "-l", "app=api", "-w"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)})
    try:
        assert watch.stdout is not None
        header = watch.stdout.readline()
        assert header.split()[:3] == ["NAME", "READY", "STATUS"]
        # An earlier test may have left a rollout finishing: a listed pod can be gone by
        # the time it is deleted, so take a Running one and move on if it went away.
        first = ""
        while not first:
            line = watch.stdout.readline()
            assert line, "the watch ended early"
            if " Running " not in line:
                continue
            name = line.split()[0]
            deleted = cluster.kubectl("delete", "pod", name, "--wait=false", check=False)
            if deleted.returncode == 0:
                first = name
            else:
                assert "NotFound" in deleted.stderr, deleted.stderr
        seen: list[str] = []
        while not any(" Running " in line and not line.startswith(first) for line in seen[1:]):
            line = watch.stdout.readline()
            assert line, "the watch ended early"
            seen.append(line)
        assert any(line.startswith(first) and "Terminating" in line for line in seen)
    finally:
        watch.kill()
        watch.wait()


def test_events_and_edit_with_an_editor_script(cluster: Cluster, tmp_path: Path) -> None:
    events = cluster.kubectl("events").stdout
    assert events.splitlines()[0].split()[:3] == ["LAST", "SEEN", "TYPE"]
    assert "ScalingReplicaSet" in events
    editor = tmp_path / "editor.py"
    editor.write_text(textwrap.dedent("""\
        import sys
        path = sys.argv[-1]
        text = open(path).read()
        open(path, "w").write(text.replace("  a: \\"1\\"", "  a: \\"edited\\""))
        """))
    # kubectl's typed commands send protobuf (test_typed.py covers them).
    assert cluster.kubectl("create", "configmap", "editme", "--from-literal=a=1").stdout.strip(
    ) == "configmap/editme created"
    # A kind without a protobuf encoding (a custom resource) is refused as a server does.
    type_meta = b"\x0a\x0eexample.com/v1\x12\x06Widget"
    code, status = cluster.request(
        "POST", "/api/v1/namespaces/demo/configmaps",
        raw=b"k8s\x00\x0a" + bytes([len(type_meta)]) + type_meta + b"\x12\x00",
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
    assert code == 415 and status["reason"] == "UnsupportedMediaType", status
    out = cluster.kubectl("edit", "configmap", "editme",
                          env={"EDITOR": f"{sys.executable} {editor}"}).stdout
    assert out.strip() == "configmap/editme edited"
    assert cluster.live("ConfigMap", "editme")["data"] == {"a": "edited"}


def test_logs_follow_previous_and_top(cluster: Cluster) -> None:
    logs = cluster.kubectl("logs", "deployment/web").stdout.splitlines()
    assert "starting web (image localhost:5001/web:1.0.0, profile default)" in logs[0]
    assert any(" GET " in line for line in logs)
    assert len(cluster.kubectl("logs", "deployment/web", "--tail=2").stdout.splitlines()) == 2
    previous = cluster.kubectl("logs", "deployment/web", "--previous", check=False)
    assert previous.returncode == 1
    assert "previous terminated container \"web\" in pod" in previous.stderr
    binary = kubectl_binary()
    assert binary
    follow = subprocess.Popen([binary, "logs", "-f", "deployment/api", "--tail=0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)})
    try:
        assert follow.stdout is not None
        assert " GET " in follow.stdout.readline()  # a line written after the follow began
    finally:
        follow.kill()
        follow.wait()
    top = cluster.kubectl("top", "pods").stdout.splitlines()
    assert top[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"] and len(top) == 5
    # The figures the HPA and the metrics sampler read (a leak would show here too).
    live = cluster.sb.engine.cluster.usage()
    for line in top[1:]:
        name, _, memory = line.split()
        assert memory == f"{round(live[f'demo/{name}'][1])}Mi", (line, live)
    nodes = cluster.kubectl("top", "nodes").stdout.splitlines()
    # One line per simulated node (Node objects, the `nodes` setting).
    names = sorted(o["metadata"]["name"] for o in cluster.sb.cluster_objects("Node"))
    assert [line.split()[0] for line in nodes[1:]] == names and len(names) == 3


def test_events_watch_sees_new_events(cluster: Cluster) -> None:
    binary = kubectl_binary()
    assert binary
    watch = subprocess.Popen([binary, "get", "events", "--watch-only"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)})
    try:
        assert watch.stdout is not None
        # The reconciler's own identity: a scale it makes is no one's drift to record.
        cluster.kubectl("--context", "sandbox-reconciler", "scale", "deployment", "api",
                        "--replicas=3")
        line = ""
        # Other deployments' scaling (an earlier test's drift being undone) may come
        # first on a loaded machine: wait for this one's.
        while not ("ScalingReplicaSet" in line and "deployment/api" in line.lower()):
            line = watch.stdout.readline()
            assert line, f"the watch ended early: {watch.stderr.read() if watch.stderr else ''}"
    finally:
        watch.kill()
        watch.wait()
