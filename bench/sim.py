"""The simulated cluster alone: 200 services / 1,000 objects applied (dry run, then for
real) and settled over 10 simulated seconds; a five-minute rollout played in one jump
of the clock and in 1,200 quarter-second steps. The tests check the work these do
(tests/test_sim_api.py); the time they take is measured here. Goals: settle <= 1 s,
the jump <= 1 s."""

from __future__ import annotations

import time
from typing import Any

from .common import median

SERVICES = 200


def _deployment(name: str, namespace: str, image: str = "web:v1",
                replicas: int = 3) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": image}]}}}}


def _service(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name,
                                                               "namespace": namespace},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}


def _cluster() -> tuple[Any, Any]:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.registry import PROFILES

    clock = VirtualClock()
    profiles = {"web:v1": PROFILES["default"], "web:slow": PROFILES["slow"]}
    return clock, SimCluster(clock, lambda image: profiles.get(image, PROFILES["default"]))


def settle_thousand() -> float:
    clock, cluster = _cluster()
    objects: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": f"team{i}"}} for i in range(5)]
    for i in range(SERVICES):
        ns = f"team{i % 5}"
        objects += [_deployment(f"app{i}", ns), _service(f"app{i}", ns),
                    {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": f"app{i}", "namespace": ns}, "data": {"k": "v"}},
                    {"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": f"app{i}", "namespace": ns}}]
    started = time.perf_counter()
    cluster.apply(objects, dry_run=True)
    cluster.apply(objects)
    for _ in range(10):
        clock.advance(1)
        cluster.step()
    return time.perf_counter() - started


def rollout(big_jump: bool) -> float:
    clock, cluster = _cluster()
    cluster.apply([_deployment("web", "default"), _service("web", "default")])
    clock.advance(10)
    cluster.step()
    started = time.perf_counter()
    cluster.apply([_deployment("web", "default", image="web:slow")])
    if big_jump:
        clock.advance(300)
        cluster.step()
    else:
        for _ in range(1200):
            clock.advance(0.25)
            cluster.step()
    return time.perf_counter() - started


def run(rounds: int = 3) -> dict[str, float]:
    result = {"settle_s": median([settle_thousand() for _ in range(rounds)]),
              "jump_s": median([rollout(True) for _ in range(rounds)]),
              "steps_s": median([rollout(False) for _ in range(rounds)])}
    print(f"sim: {SERVICES} services ({SERVICES * 4 + 5} objects) applied and settled over "
          f"10 simulated seconds: median {result['settle_s']:.3f}s (goal <= 1 s)")
    print(f"  five-minute rollout in one clock jump: median {result['jump_s']:.3f}s "
          f"(goal <= 1 s); in 1,200 steps: {result['steps_s']:.3f}s")
    return result


if __name__ == "__main__":
    run()
