"""One whole loop, merge -> converged, through the kubectl backend against the sandbox's
own API server (the real-cluster path: real kubectl, server-side apply over HTTPS),
beside the same loop with the reconciler applying in process. Both: simulated cluster
at 1x, images with zero start-up time, the same change (web's replicas)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .common import bench_sandbox, median, merge_latencies

SETTINGS = {"clock_speed": 1.0, "resync_seconds": 60.0}


def _sandbox(root: Path) -> Any:
    return bench_sandbox(root, **SETTINGS)


def _merges(sb: Any, merges: int) -> list[float]:
    return merge_latencies(sb, merges, checks_timeout=120, deploy_timeout=180)


def in_process(root: Path, merges: int) -> list[float]:
    sb = _sandbox(root / "inproc")
    sb.start_engine()
    try:
        sb.wait_for_deployment(sb.branches()["main"], timeout=120)
        return _merges(sb, merges)
    finally:
        sb.close()


def through_kubectl(root: Path, kubectl: str, merges: int) -> list[float]:
    from sandbox.cluster.kubectl import KubectlCluster
    from sandbox.engine import Engine

    host = _sandbox(root / "host")
    host.start_engine()
    driver = None
    try:
        host.wait_for_deployment(host.branches()["main"], timeout=120)
        kubeconfig = root / "kubeconfig"
        kubeconfig.write_text(host.kubeconfig())
        # The host's reconciler steps aside and its app goes: the driver's owns the loop.
        host.suspend()
        import subprocess

        subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "--context",
                        "sandbox-reconciler", "delete", "namespace", "demo"], check=True,
                       capture_output=True)
        deadline = time.monotonic() + 120
        while any(o["metadata"]["name"] == "demo" for o in host.cluster_objects("Namespace")):
            if time.monotonic() > deadline:
                raise RuntimeError("namespace demo was not deleted")
            time.sleep(0.05)
        driver = _sandbox(root / "driver")
        backend = KubectlCluster("sandbox-reconciler", kubeconfig, kubectl=kubectl,
                                 cache_seconds=0.5)
        driver.engine = Engine(driver.ws, cluster=backend).start()
        driver.wait_for_deployment(driver.branches()["main"], timeout=180)
        return _merges(driver, merges)
    finally:
        if driver is not None:
            driver.close()
        host.close()


def run(root: Path, kubectl: str | None, merges: int) -> None:
    if kubectl is None:
        print("merge -> converged through the kubectl backend: skipped, kubectl not "
              "installed (dev extra)")
        return
    local = median(in_process(root, merges))
    remote = median(through_kubectl(root, kubectl, merges))
    print(f"merge -> converged, median of {merges} merges: in process {local:.3f}s, "
          f"through the kubectl backend against the sandbox {remote:.3f}s "
          f"(ratio {remote / local:.1f}x)")
