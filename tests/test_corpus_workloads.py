"""The workload corpus: manifests shaped like what real projects ship, each with what a
real cluster shows over time (health in Argo CD's words, pods' STATUS column, events),
played on the simulated cluster.

Each `tests/corpus/workloads/NAME.yaml` is applied at time 0; `NAME.expect.yaml` lists
`images` (profile fields per image; others get the default profile) and `steps`, each
`at` a simulated second: `health` (Kind/namespace/name: word), `pods`
(namespace/name-or-prefix*: STATUS), `replicas` (Kind/namespace/name: spec.replicas),
`events` (Kind/namespace/name: message, seen by then), `absent` (pods that must not
exist), then `apply` (manifests applied after the checks, e.g. the missing object).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.clock import VirtualClock
from sandbox.cluster import SimCluster
from sandbox.cluster.base import parse_ref
from sandbox.cluster.kubectl_format import pod_status
from sandbox.monitor import health_of
from sandbox.registry import PROFILES, ImageProfile

CORPUS = Path(__file__).parent / "corpus" / "workloads"
ENTRIES = sorted(p.name.removesuffix(".expect.yaml") for p in CORPUS.glob("*.expect.yaml"))


def _cluster(expect: dict[str, Any]) -> tuple[VirtualClock, SimCluster]:
    profiles = {image: replace(PROFILES["default"], name=image, **fields)
                for image, fields in (expect.get("images") or {}).items()}

    def resolve(image: str) -> ImageProfile:
        return profiles.get(image, PROFILES["default"])
    clock = VirtualClock()
    return clock, SimCluster(clock, resolve, seed=int(expect.get("seed", 1)))


def _pods(cluster: SimCluster) -> dict[str, str]:
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}": pod_status(p)
            for p in cluster.list("Pod")}


def _check(cluster: SimCluster, step: dict[str, Any], where: str) -> None:
    for text, word in (step.get("health") or {}).items():
        ref = parse_ref(text)
        assert ref is not None, f"{where}: bad ref {text}"
        got = health_of(cluster.get(ref))
        assert got[0].value == word, f"{where}: {text} is {got[0].value} ({got[1]}), not {word}"
    pods = _pods(cluster)
    for name, status in (step.get("pods") or {}).items():
        if name.endswith("*"):
            found = {k: v for k, v in pods.items() if k.startswith(name[:-1])}
            assert found and set(found.values()) == {status}, f"{where}: {name} {found}"
        else:
            assert pods.get(name) == status, f"{where}: {name} is {pods.get(name)}"
    for name in step.get("absent") or []:
        assert not [k for k in pods if k.startswith(name.rstrip("*"))], f"{where}: {name}"
    for text, count in (step.get("replicas") or {}).items():
        ref = parse_ref(text)
        obj = cluster.get(ref) if ref is not None else None
        assert obj is not None and obj["spec"].get("replicas") == count, f"{where}: {text}"
    seen = {f"{e.ref}: {e.message}" for e in cluster.events()}
    for line in step.get("events") or []:
        assert line in seen, f"{where}: no event {line!r}; events: {sorted(seen)}"


@pytest.mark.parametrize("name", ENTRIES)
def test_corpus_entry(name: str) -> None:
    expect = yaml.safe_load((CORPUS / f"{name}.expect.yaml").read_text())
    clock, cluster = _cluster(expect)
    manifests = [d for d in yaml.safe_load_all((CORPUS / f"{name}.yaml").read_text()) if d]
    results = cluster.apply(manifests)
    assert [r.error for r in results if r.error] == expect.get("apply_errors", [])
    for step in expect["steps"]:
        while clock.now() < float(step["at"]):
            clock.advance(min(1.0, float(step["at"]) - clock.now()))
            cluster.step()
        _check(cluster, step, f"{name} at {step['at']}s")
        if step.get("apply"):
            assert all(not r.error for r in cluster.apply(step["apply"]))


def test_every_corpus_entry_has_expectations() -> None:
    manifests = {p.stem for p in CORPUS.glob("*.yaml") if not p.name.endswith(".expect.yaml")}
    assert manifests - {"persist-story"} == set(ENTRIES)
