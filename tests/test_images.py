"""Issue 9, point 4: image references read as a container runtime reads them; public
images pull with the `default` profile (or fail as offline, with the runtime's words);
pushing a tag that exists says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.cli import main
from sandbox.clock import VirtualClock
from sandbox.cluster import SimCluster
from sandbox.facade import Sandbox, SandboxError
from sandbox.registry import (
    PROFILES,
    ImageRef,
    PullError,
    Registry,
    RegistryError,
    parse_reference,
)
from sandbox.workspace import Settings


@pytest.mark.parametrize(("text", "expected"), [
    ("redis:6.0.8", ImageRef("docker.io", "library/redis", "6.0.8")),
    ("docker.io/library/redis:6.0.8", ImageRef("docker.io", "library/redis", "6.0.8")),
    ("index.docker.io/library/redis:6.0.8", ImageRef("docker.io", "library/redis", "6.0.8")),
    ("localhost:5001/redis:6.0.8", ImageRef("localhost:5001", "redis", "6.0.8")),
    ("redis", ImageRef("docker.io", "library/redis", "latest")),
    ("bitnami/redis:7.2", ImageRef("docker.io", "bitnami/redis", "7.2")),
    ("ghcr.io/fluxcd/source-controller:v1.2.0",
     ImageRef("ghcr.io", "fluxcd/source-controller", "v1.2.0")),
    ("localhost/app:1", ImageRef("localhost", "app", "1")),
    ("registry.k8s.io/ingress-nginx/controller:v1.9.4@sha256:" + "a" * 64,
     ImageRef("registry.k8s.io", "ingress-nginx/controller", "v1.9.4", "sha256:" + "a" * 64)),
    ("quay.io/jetstack/cert-manager-controller@sha256:" + "b" * 64,
     ImageRef("quay.io", "jetstack/cert-manager-controller", None, "sha256:" + "b" * 64)),
])
def test_references_are_read_as_a_container_runtime_does(text: str, expected: ImageRef) -> None:
    assert parse_reference(text) == expected


def test_the_three_forms_of_one_name_are_told_apart() -> None:
    assert str(parse_reference("redis:6.0.8")) == "docker.io/library/redis:6.0.8"
    assert parse_reference("redis:6.0.8") == parse_reference("docker.io/library/redis:6.0.8")
    assert parse_reference("localhost:5001/redis:6.0.8").local
    assert not parse_reference("redis:6.0.8").local


@pytest.mark.parametrize("text", ["Redis:6", "redis:", "redis@sha256:12", "a//b:1", "",
                                  " redis:1", "redis:-bad"])
def test_bad_references_are_refused(text: str) -> None:
    with pytest.raises(RegistryError, match="invalid reference format"):
        parse_reference(text)


def deployment(image: str) -> dict[str, Any]:
    labels = {"app": "cache"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cache", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def run_pod(registry: Registry, image: str) -> tuple[dict[str, Any], list[str]]:
    clock = VirtualClock()
    cluster = SimCluster(clock, registry.resolve, seed=1)
    assert cluster.apply([deployment(image)])[0].error is None
    for _ in range(20):
        clock.advance(0.5)
        cluster.step()
    pod = cluster.list("Pod")[0]
    return pod, [e.message for e in cluster.events() if e.ref.kind == "Pod"]


def test_public_images_pull_with_the_default_profile(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    for image in ("redis:6.0.8", "ghcr.io/fluxcd/source-controller:v1.2.0",
                  "registry.k8s.io/pause@sha256:" + "c" * 64):
        assert registry.resolve(image) == PROFILES["default"]
    pod, _ = run_pod(registry, "redis:6.0.8")
    assert pod["status"]["phase"] == "Running"


def test_offline_public_images_fail_with_the_runtimes_words(tmp_path: Path) -> None:
    registry = Registry(tmp_path, public_images="offline")
    pod, messages = run_pod(registry, "redis:6.0.8")
    state = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert state["reason"] in ("ErrImagePull", "ImagePullBackOff")
    assert (
        'Failed to pull image "redis:6.0.8": rpc error: code = Unknown desc = failed to pull '
        'and unpack image "docker.io/library/redis:6.0.8": failed to resolve reference '
        '"docker.io/library/redis:6.0.8": failed to do request: Head '
        '"https://registry-1.docker.io/v2/library/redis/manifests/6.0.8": dial tcp: lookup '
        "registry-1.docker.io: no such host") in messages
    assert "Error: ErrImagePull" in messages
    with pytest.raises(PullError, match="lookup ghcr.io: no such host"):
        registry.resolve("ghcr.io/org/app:1")
    # The sandbox's own registry still serves offline.
    registry.push("web", "1.0.0")
    assert registry.resolve("localhost:5001/web:1.0.0") == PROFILES["default"]


def test_the_sandbox_registry_is_told_apart_from_docker_hub(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.push("redis", "6.0.8", "crash")
    assert registry.resolve("localhost:5001/redis:6.0.8").crash
    assert registry.resolve("redis:6.0.8") == PROFILES["default"]  # Docker Hub's redis
    with pytest.raises(PullError, match='localhost:5001/redis:9.9.9: not found'):
        registry.resolve("localhost:5001/redis:9.9.9")
    _, messages = run_pod(registry, "localhost:5001/redis:9.9.9")
    assert any(m.startswith('Failed to pull image "localhost:5001/redis:9.9.9": rpc error: '
                            "code = NotFound") for m in messages)


def test_the_setting_takes_pull_or_offline(tmp_path: Path) -> None:
    assert Settings().public_images == "pull"
    assert Settings().with_value("public_images", "offline").public_images == "offline"
    with pytest.raises(ValueError, match="public_images must be one of: pull, offline"):
        Settings().with_value("public_images", "sometimes")


def test_pushing_a_tag_that_exists_says_so(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    sb = Sandbox.init(tmp_path / "ws")  # init pushed web:1.0.0
    try:
        with pytest.raises(SandboxError, match=r"tag localhost:5001/web:1\.0\.0 already exists "
                           r"\(profile default, pushed .* UTC\); push a new tag"):
            sb.push_image("web", "1.0.0", "crash")
        assert sb.ws.registry.get("web", "1.0.0").profile.name == "default"  # type: ignore[union-attr]
        assert main(["image", "push", "-w", str(sb.root), "web", "1.0.0"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "already exists" in err and "Traceback" not in err
        moved = sb.push_image("web", "1.0.0", "crash", force=True)
        assert moved.profile.name == "crash"
        assert "moved from profile default" in sb.events()[-1].message
    finally:
        sb.close()
