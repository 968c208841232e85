"""The Kubernetes API server in front of the simulated cluster (issue 11):
- `kubectl get pods -A` over 1,000 pods: the real kubectl's wall time, and the share of
  it the server spent answering (the rest is kubectl's own start, discovery cache,
  TLS and printing);
- watch latency from a change in the simulation to the event reaching a client, p50 and
  p95 over 1,000 changes spread over a minute, with 50 watchers connected at once for
  all of it and none losing an event (`--quick`: over a few seconds);
- one whole loop merge -> converged through the kubectl backend against the sandbox,
  beside the in-process figure (bench/apiserver_loop.py).
Run alone: `python -m bench apiserver` (or `--quick`)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .common import median, percentile

PODS = 1000
CHANGES = 1000
WATCHERS = 50
HOLD_S = 60.0  # how long the watchers stay connected while the changes come
QUICK_HOLD_S = 5.0
LOOP_MERGES, QUICK_LOOP_MERGES = 5, 2


def _server(root: Path) -> tuple[Any, Any, str]:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.cluster.apiserver import ApiServer, Caller
    from sandbox.cluster.apiserver.tls import context
    from sandbox.cluster.discovery import Discovery
    from sandbox.registry import PROFILES

    clock = VirtualClock()
    cluster = SimCluster(clock, lambda image: PROFILES["fast"], max_pods=5000)
    objects: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": f"team{i}"}} for i in range(10)]
    for i in range(PODS // 10):
        labels = {"app": f"app{i}"}
        objects.append({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": f"app{i}", "namespace": f"team{i % 10}"},
                        "spec": {"replicas": 10, "selector": {"matchLabels": labels},
                                 "template": {"metadata": {"labels": labels}, "spec": {
                                     "containers": [{"name": "app", "image": "web:v1"}]}}}})
    cluster.apply(objects)
    for _ in range(5):
        clock.advance(2)
        cluster.step()
    token = "bench-token"
    server = ApiServer(cluster, Discovery("1.30.0"),
                       lambda h: Caller("bench", "human") if h == f"Bearer {token}" else None,
                       lambda *a: None, lambda *a: None, "1.30.0").start(0, context(root))
    return cluster, server, token


def _kubeconfig(root: Path, server: Any, token: str) -> Path:
    import yaml

    ca = base64.b64encode((root / "apiserver.crt").read_bytes()).decode()
    path = root / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "b", "cluster": {"server": server.url,
                                               "certificate-authority-data": ca}}],
        "users": [{"name": "b", "user": {"token": token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "b", "user": "b"}}]}))
    return path


def _watch(server: Any, token: str, root: Path, rv: str, got: dict[str, float],
           ready: threading.Event, stop: threading.Event, timeout: float) -> None:
    import http.client

    ctx = ssl.create_default_context(cafile=str(root / "apiserver.crt"))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx,
                                       timeout=timeout + 60)
    conn.request("GET", "/api/v1/namespaces/team0/configmaps?watch=1&resourceVersion="
                 f"{rv}&timeoutSeconds={int(timeout) + 60}", headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    ready.set()
    while not stop.is_set():
        line = resp.readline()
        if not line:
            break
        ev = json.loads(line)
        value = (ev["object"].get("data") or {}).get("n")
        if value is not None:
            got[value] = time.perf_counter()
            if value == str(CHANGES - 1):
                break
    conn.close()


def _get_pods(cluster: Any, server: Any, token: str, root: Path, kubectl: str | None) -> None:
    pods = len(cluster.list("Pod"))
    if not kubectl:
        print("kubectl get pods -A: skipped, kubectl not installed (dev extra)")
        return
    env = {**os.environ, "KUBECONFIG": str(_kubeconfig(root, server, token))}
    subprocess.run([kubectl, "get", "pods", "-A"], env=env, check=True,
                   capture_output=True)  # fills kubectl's discovery cache
    walls, shares = [], []
    for _ in range(5):
        busy = server.busy[0]
        started = time.perf_counter()
        out = subprocess.run([kubectl, "get", "pods", "-A"], env=env, check=True,
                             capture_output=True, text=True).stdout
        walls.append(time.perf_counter() - started)
        shares.append(server.busy[0] - busy)
    assert len(out.splitlines()) == pods + 1
    print(f"kubectl get pods -A over {pods} pods: {median(walls) * 1000:.0f} ms "
          f"wall (median of 5), server {median(shares) * 1000:.0f} ms of it "
          f"({median(shares) / median(walls):.0%})")


def _watch_latency(cluster: Any, server: Any, token: str, root: Path, hold: float) -> None:
    cluster.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "tick", "namespace": "team0"}, "data": {"n": "start"}}])
    rv = str(server.hub.last)
    gots = [dict[str, float]() for _ in range(WATCHERS)]
    stop = threading.Event()
    threads = []
    for got in gots:
        ready = threading.Event()
        t = threading.Thread(target=_watch, args=(server, token, root, rv, got, ready,
                                                  stop, hold), daemon=True)
        t.start()
        ready.wait(30)
        threads.append(t)
    sent: dict[str, float] = {}
    began, cpu = time.perf_counter(), time.process_time()
    for n in range(CHANGES):
        # Paced over the hold time so the watchers stay connected all of it.
        pause = began + n * hold / CHANGES - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sent[str(n)] = time.perf_counter()
        cluster.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "tick", "namespace": "team0"}, "data": {"n": str(n)}}])
    for t in threads:
        t.join(timeout=hold + 60)
    stop.set()
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    lat = [(got[k] - sent[k]) * 1000 for got in gots for k in got if k in sent]
    lost = sum(CHANGES - len([k for k in got if k in sent]) for got in gots)
    print(f"watch latency over {CHANGES} changes x {WATCHERS} watchers held "
          f"{took:.1f} s: p50 {percentile(lat, 50):.1f} ms, "
          f"p95 {percentile(lat, 95):.1f} ms; events lost: {lost}; "
          f"{cpu:.2f} CPU s (server and the {WATCHERS} clients, one process)")


def run(quick: bool = False, parts: tuple[str, ...] = ("get", "watch", "loop")) -> None:
    hold = QUICK_HOLD_S if quick else HOLD_S
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        root = Path(tmp)
        cluster, server, token = _server(root)
        try:
            if "get" in parts:
                _get_pods(cluster, server, token, root, kubectl)
            if "watch" in parts:
                _watch_latency(cluster, server, token, root, hold)
        finally:
            server.stop()
        if "loop" in parts:
            from . import apiserver_loop

            apiserver_loop.run(root, kubectl, QUICK_LOOP_MERGES if quick else LOOP_MERGES)


if __name__ == "__main__":
    # One part alone: python -m bench.apiserver [--quick] [get|watch|loop ...]
    args = sys.argv[1:]
    run("--quick" in args, tuple(a for a in args if a != "--quick") or ("get", "watch", "loop"))
