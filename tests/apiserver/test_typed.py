"""kubectl's typed commands (protobuf bodies), orphan adoption, and timestamps when the
simulated clock runs faster than the wall clock (none may be ahead of the client's
clock: kubectl prints `<invalid>` ages), against one sandbox at clock_speed 10."""

from __future__ import annotations

import calendar
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.cluster.apiserver.stamps import WallTime, to_wall

from .conftest import Cluster, start_cluster, until

pytestmark = pytest.mark.usefixtures("kubectl_required")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("fast"), clock_speed=10.0)
    yield c
    c.sb.close()


# Each typed command, and the object it makes: (kind, namespace, name).
TYPED = [
    (["create", "deployment", "d1", "--image=nginx", "--replicas=2", "--port=80"],
     ("deployment", "demo", "d1")),
    (["create", "service", "clusterip", "s1", "--tcp=80:8080"], ("service", "demo", "s1")),
    (["create", "service", "nodeport", "s2", "--tcp=81:8081"], ("service", "demo", "s2")),
    (["run", "p1", "--image=nginx", "--labels=a=b", "--env=X=1", "--port=80"],
     ("pod", "demo", "p1")),
    (["expose", "deployment", "d1", "--name=d1-np", "--port=81", "--target-port=80",
      "--type=NodePort"], ("service", "demo", "d1-np")),
    (["create", "job", "j1", "--image=busybox", "--", "echo", "hi"], ("job", "demo", "j1")),
    (["create", "cronjob", "c1", "--image=busybox", "--schedule=*/5 * * * *", "--",
      "echo", "hi"], ("cronjob", "demo", "c1")),
    (["autoscale", "deployment", "d1", "--min=2", "--max=5", "--cpu=80%"],
     ("hpa", "demo", "d1")),
    (["create", "ingress", "i1", "--rule=foo.example/bar=s1:80"], ("ingress", "demo", "i1")),
    (["create", "role", "r1", "--verb=get", "--resource=pods"], ("role", "demo", "r1")),
    (["create", "rolebinding", "rb1", "--role=r1", "--user=bob"],
     ("rolebinding", "demo", "rb1")),
    (["create", "serviceaccount", "sa1"], ("serviceaccount", "demo", "sa1")),
    (["create", "quota", "q1", "--hard=pods=10,requests.cpu=2"],
     ("resourcequota", "demo", "q1")),
    (["create", "poddisruptionbudget", "pdb1", "--selector=app=d1", "--min-available=1"],
     ("pdb", "demo", "pdb1")),
    (["create", "priorityclass", "pc1", "--value=100"], ("priorityclass", "", "pc1")),
    (["create", "secret", "generic", "sec1", "--from-literal=a=b"], ("secret", "demo", "sec1")),
]


def _within(want: object, got: object, path: str = "") -> list[str]:
    """Where `got` differs from `want` (what kubectl meant to send), `got` may add more."""
    if want is None:
        return []
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [path]
        return [p for k, v in want.items() for p in _within(v, got.get(k), f"{path}.{k}")]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [path]
        return [p for i, (w, g) in enumerate(zip(want, got, strict=True))
                for p in _within(w, g, f"{path}[{i}]")]
    return [] if want == got else [f"{path}: {want!r} != {got!r}"]


def test_typed_commands_send_protobuf_and_make_what_kubectl_meant(fast: Cluster) -> None:
    shown = fast.kubectl("create", "configmap", "probe", "-n", "demo", "--from-literal=a=b",
                         "-v=8").stderr
    assert "application/vnd.kubernetes.protobuf" in shown  # what this kubectl sends
    for args, (kind, namespace, name) in TYPED:
        ns = ["-n", namespace] if namespace else []
        cut = args.index("--") if "--" in args else len(args)  # the container's command
        meant = json.loads(fast.kubectl(*args[:cut], *ns, "--dry-run=client", "-o", "json",
                                        *args[cut:]).stdout)
        fast.kubectl(*args[:cut], *ns, *args[cut:])
        live = json.loads(fast.kubectl("get", kind, name, *ns, "-o", "json").stdout)
        for part in ("spec", "data", "rules", "roleRef", "subjects", "value"):
            assert not _within(meant.get(part), live.get(part)), (args, part, _within(
                meant.get(part), live.get(part)))
        labels = (meant.get("metadata") or {}).get("labels") or {}
        assert labels.items() <= (live["metadata"].get("labels") or {}).items(), args
    until(lambda: fast.kubectl("get", "deployment", "d1", "-n", "demo", "-o",
                               "jsonpath={.status.readyReplicas}").stdout == "2",
          why="the typed Deployment rolled out")
    # drain deletes pods with a typed client: a DeleteOptions body in protobuf.
    node = fast.kubectl("get", "pods", "-n", "demo", "-l", "app=d1", "-o",
                        "jsonpath={.items[0].spec.nodeName}").stdout
    try:
        drained = fast.kubectl("drain", node, "--ignore-daemonsets", "--timeout=90s",
                               "--delete-emptydir-data", timeout=120).stdout
        assert f"node/{node} drained" in drained, drained
        on_node = fast.kubectl("get", "pods", "-A", "--field-selector",
                               f"spec.nodeName={node}", "-o", "name").stdout
        assert "pod/d1-" not in on_node
    finally:
        fast.kubectl("uncordon", node)


def test_orphan_delete_then_apply_adopts_the_old_replicaset(fast: Cluster,
                                                              tmp_path: Path) -> None:
    manifest = tmp_path / "keep.yaml"
    manifest.write_text(fast.kubectl("create", "deployment", "keep", "-n", "demo",
                                     "--image=nginx", "--replicas=2", "--dry-run=client",
                                     "-o", "yaml").stdout)
    fast.kubectl("apply", "-f", str(manifest))

    def ready() -> bool:
        return fast.kubectl("get", "deployment", "keep", "-n", "demo", "-o",
                            "jsonpath={.status.readyReplicas}").stdout == "2"

    until(ready, why="keep rolled out")

    def owned() -> dict[str, tuple[str, str]]:
        items = json.loads(fast.kubectl("get", "replicasets,pods", "-n", "demo", "-l",
                                        "app=keep", "-o", "json").stdout)["items"]
        return {f"{o['kind']}/{o['metadata']['name']}": (
            o["metadata"]["uid"], ",".join(r["uid"] for r in o["metadata"].get(
                "ownerReferences") or [] if r.get("controller"))) for o in items}

    before = owned()
    assert len(before) == 3, before  # one ReplicaSet, two pods
    fast.kubectl("delete", "deployment", "keep", "-n", "demo", "--cascade=orphan")
    orphaned = owned()
    rs_name = next(k for k in orphaned if k.startswith("ReplicaSet/"))
    assert orphaned[rs_name][1] == "" and orphaned.keys() == before.keys()
    fast.kubectl("apply", "-f", str(manifest))
    dep_uid = fast.kubectl("get", "deployment", "keep", "-n", "demo", "-o",
                           "jsonpath={.metadata.uid}").stdout
    until(lambda: owned()[rs_name][1] == dep_uid, why="the ReplicaSet adopted")
    until(ready, why="keep ready again")
    after = owned()
    # The same ReplicaSet (same uid) and the same pods, each with its old controller.
    assert after.keys() == before.keys(), (before, after)
    for key, (uid, owner) in after.items():
        assert uid == before[key][0], key
        if key.startswith("Pod/"):
            assert owner == before[key][1] == after[rs_name][0], key


def test_a_replicaset_made_again_adopts_its_orphaned_pods(fast: Cluster,
                                                         tmp_path: Path) -> None:
    manifest = tmp_path / "rs.yaml"
    manifest.write_text(json.dumps({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "solo", "namespace": "demo"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "solo"}},
                 "template": {"metadata": {"labels": {"app": "solo"}}, "spec": {
                     "containers": [{"name": "c", "image": "nginx"}]}}}}))
    fast.kubectl("apply", "-f", str(manifest))

    def pods() -> dict[str, str]:
        items = json.loads(fast.kubectl("get", "pods", "-n", "demo", "-l", "app=solo", "-o",
                                        "json").stdout)["items"]
        return {p["metadata"]["uid"]: ",".join(
            r["uid"] for r in p["metadata"].get("ownerReferences") or []) for p in items}

    until(lambda: len(pods()) == 2, why="two pods")
    before = pods()
    fast.kubectl("delete", "replicaset", "solo", "-n", "demo", "--cascade=orphan")
    assert set(pods().values()) == {""}
    fast.kubectl("apply", "-f", str(manifest))
    rs_uid = fast.kubectl("get", "replicaset", "solo", "-n", "demo", "-o",
                          "jsonpath={.metadata.uid}").stdout
    until(lambda: set(pods().values()) == {rs_uid}, why="the pods adopted")
    assert pods().keys() == before.keys()  # the same two pods, none made or removed


def _stamps(text: str) -> list[float]:
    return [calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
            for s in STAMP.findall(text)]


def test_no_stamp_is_ahead_of_the_wall_clock_at_clock_speed_10(fast: Cluster,
                                                                 tmp_path: Path) -> None:
    fast.kubectl("get", "namespaces")  # the first answer anchors the stamps
    engine = fast.sb.engine
    assert engine is not None
    start = engine.clock.now()
    until(lambda: engine.clock.now() >= start + 60, why="a simulated minute passed")
    # Made a simulated minute after the anchor: at a fixed offset it would read ~54 s
    # in the client's future.
    fast.kubectl("create", "configmap", "late", "-n", "demo", "--from-literal=a=b")
    fast.kubectl("delete", "pod", "-n", "demo", "-l", "app=web", "--wait=false")
    until(lambda: "Running" in fast.kubectl("get", "pods", "-n", "demo").stdout,
          why="replacement pods")
    dump = fast.kubectl("get", "all,configmaps,events", "-A", "-o", "json").stdout
    stamps = _stamps(dump)
    assert stamps and max(stamps) <= time.time() + 1, "a stamp is ahead of the wall clock"
    late = json.loads(fast.kubectl("get", "configmap", "late", "-n", "demo", "-o",
                                   "json").stdout)
    assert _stamps(late["metadata"]["creationTimestamp"])[0] <= time.time() + 1
    shown = (fast.kubectl("get", "pods,configmaps", "-n", "demo").stdout
             + fast.kubectl("describe", "deployment", "web", "-n", "demo").stdout
             + fast.kubectl("describe", "pods", "-n", "demo").stdout
             + fast.kubectl("events", "-n", "demo").stdout)
    assert "<invalid>" not in shown, shown
    # Ages are simulated ones, as in the server's own AGE column: pods made before the
    # simulated minute read over a minute old, not the six wall seconds it took.
    ages = fast.kubectl("get", "pods", "-n", "demo", "-l", "app=api", "-o",
                        "jsonpath={.items[*].metadata.creationTimestamp}").stdout
    assert ages and time.time() - max(_stamps(ages)) >= 55, ages


def test_the_map_follows_a_clock_that_jumps_and_never_runs_ahead() -> None:
    sim, wall = [0.0], [1_000_000.0]
    wt = WallTime(lambda: sim[0], lambda: wall[0])
    first = wt.mapping()
    sim[0], wall[0] = 3600.0, wall[0] + 1  # a virtual clock jumped an hour
    m = wt.mapping()
    assert to_wall(sim[0], m) <= wall[0]
    assert to_wall(0.0, m) < to_wall(sim[0], m)
    assert m != first
    sim[0], wall[0] = 3601.0, wall[0] + 1  # steady again: the map holds
    assert wt.mapping() == m
