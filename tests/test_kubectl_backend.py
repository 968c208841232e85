"""The kubectl backend against a fake kubectl (a small script first on PATH that keeps
objects in a folder and answers like kubectl does) and, for a dead context, the real
kubectl. Real clusters are tested in test_kind_backend.py."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.cluster.base import ClusterError, ObjRef
from sandbox.cluster.kubectl import (
    DEFAULT_KINDS,
    FIELD_MANAGER,
    KubectlCluster,
    clean_error,
    items_of,
    to_yaml,
)
from sandbox.flux import MANAGED_BY, MANAGER

FAKE_KUBECTL = Path(__file__).parent / "fakes" / "kubectl.py"


class Fake:
    """The fake kubectl's folder: its objects, its events, and the calls it received."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.write({"rv": 100, "objects": {
            f"Namespace//{ns}": {"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": ns, "resourceVersion": "1"}}
            for ns in ("default", "kube-system")}})
        self.events([])

    def write(self, db: dict[str, Any]) -> None:
        (self.root / "objects.json").write_text(json.dumps(db))

    def db(self) -> dict[str, Any]:
        return json.loads((self.root / "objects.json").read_text())  # type: ignore[no-any-return]

    def events(self, items: list[dict[str, Any]]) -> None:
        (self.root / "events.json").write_text(json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": items}))

    def calls(self) -> list[list[str]]:
        path = self.root / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["argv"] for line in path.read_text().splitlines()]

    def reset_calls(self) -> None:
        (self.root / "calls.jsonl").unlink(missing_ok=True)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl"
    script.write_text(f"#!{sys.executable}\n{FAKE_KUBECTL.read_text()}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_KUBECTL_DIR", str(state))
    return Fake(state)


def cluster(**options: Any) -> KubectlCluster:
    options.setdefault("cache_seconds", 0)
    options.setdefault("events_interval", 0)
    return KubectlCluster("fake", **options)


def ns(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def cm(name: str, namespace: str | None = "shop", value: str = "1",
       labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


def deploy(name: str, replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": "x:1"}]}}}}


def actions(results: list[Any]) -> list[tuple[str, str, str | None]]:
    return [(r.ref.short, r.action, r.error) for r in results]


# -- apply ------------------------------------------------------------------------------

def test_apply_reports_created_unchanged_configured(fake: Fake) -> None:
    c = cluster()
    objects = [ns("shop"), cm("web-config"), deploy("web")]
    assert actions(c.apply(objects)) == [("Namespace/shop", "created", None),
                                         ("ConfigMap/web-config", "created", None),
                                         ("Deployment/web", "created", None)]
    assert [r.action for r in c.apply(objects)] == ["unchanged"] * 3
    changed = [ns("shop"), cm("web-config", value="2"), deploy("web")]
    assert [r.action for r in c.apply(changed)] == ["unchanged", "configured", "unchanged"]
    assert c.get(ObjRef("ConfigMap", "web-config", "shop"))["data"] == {"v": "2"}
    applies = [a for a in fake.calls() if "apply" in a]
    assert applies and all({"--server-side", f"--field-manager={FIELD_MANAGER}",
                            "--force-conflicts"} <= set(a) for a in applies)


def test_apply_puts_namespaces_first_and_keeps_the_callers_order(fake: Fake) -> None:
    results = cluster().apply([cm("a"), ns("shop")])
    assert actions(results) == [("ConfigMap/a", "created", None),
                                ("Namespace/shop", "created", None)]


def kubeconfig(path: Path, namespace: str) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "c", "user": "u",
                                                  "namespace": namespace}}]}))
    return path


def test_objects_without_namespace_go_to_default_not_the_contexts(fake: Fake,
                                                                 tmp_path: Path) -> None:
    c = cluster(kubeconfig=kubeconfig(tmp_path / "kubeconfig", "team"))
    c.apply([ns("team")])
    # kubectl itself puts such an object in the context's namespace...
    plain = c.run(["apply", "-f", "-"], to_yaml([cm("by-hand", namespace=None)]))
    assert plain.returncode == 0, plain.stderr
    assert "ConfigMap/team/by-hand" in fake.db()["objects"]
    # ...and the backend must not: its refs (and the reconciler's) say "default".
    [result] = c.apply([cm("loose", namespace=None)])
    assert result.ref == ObjRef("ConfigMap", "loose", "default") and result.action == "created"
    assert "ConfigMap/default/loose" in fake.db()["objects"]
    assert "ConfigMap/team/loose" not in fake.db()["objects"]
    assert c.get(ObjRef("ConfigMap", "loose", "default")) is not None
    assert [r.action for r in c.apply([cm("loose", namespace=None)])] == ["unchanged"]
    assert c.delete(ObjRef("ConfigMap", "loose", "default"))
    assert "ConfigMap/default/loose" not in fake.db()["objects"]


def test_dry_run_changes_nothing_even_for_a_new_namespace(fake: Fake) -> None:
    c = cluster()
    results = c.apply([ns("shop"), cm("web-config"), deploy("web")], dry_run=True)
    assert [r.action for r in results] == ["created"] * 3
    assert not any(r.error for r in results)
    assert c.get(ObjRef("Namespace", "shop")) is None
    assert c.list("ConfigMap") == []
    # Objects in the namespace the batch creates are validated by the server elsewhere.
    [create] = [a for a in fake.calls() if "create" in a]
    assert create[create.index("create"):][:4] == ["create", "-f", "-", "--dry-run=server"]


def test_dry_run_still_catches_invalid_objects_in_a_new_namespace(fake: Fake) -> None:
    results = cluster().apply([ns("shop"), deploy("web", replicas=-1)], dry_run=True)
    assert results[0].action == "created"
    assert results[1].action == "invalid" and "spec.replicas" in (results[1].error or "")


def test_dry_run_sees_drift(fake: Fake) -> None:
    c = cluster()
    c.apply([ns("shop"), cm("web-config")])
    db = fake.db()
    db["objects"]["ConfigMap/shop/web-config"]["data"] = {"v": "edited by hand"}
    fake.write(db)
    assert [r.action for r in c.apply([ns("shop"), cm("web-config")], dry_run=True)] == [
        "unchanged", "configured"]
    assert c.get(ObjRef("ConfigMap", "web-config", "shop"))["data"] == {"v": "edited by hand"}


def test_one_bad_object_gets_its_own_error_and_the_rest_apply(fake: Fake) -> None:
    c = cluster()
    bogus = {"apiVersion": "example.com/v1", "kind": "Widget",
             "metadata": {"name": "w", "namespace": "shop"}}
    results = c.apply([ns("shop"), cm("good"), deploy("bad", replicas=-1), bogus,
                       cm("lost", namespace="nowhere")])
    by_name = {r.ref.name: r for r in results}
    assert by_name["shop"].action == by_name["good"].action == "created"
    assert by_name["bad"].action == "invalid"
    assert by_name["bad"].error == ('Error from server (Invalid): Deployment.apps "bad" is '
                                    "invalid: spec.replicas: Invalid value: -1: must be "
                                    "greater than or equal to 0")
    assert 'no matches for kind "Widget"' in (by_name["w"].error or "")
    assert 'namespaces "nowhere" not found' in (by_name["lost"].error or "")
    assert c.get(ObjRef("ConfigMap", "good", "shop")) is not None
    assert c.get(ObjRef("Deployment", "bad", "shop")) is None


def test_apply_of_nothing_runs_nothing(fake: Fake) -> None:
    assert cluster().apply([]) == []
    assert fake.calls() == []


# -- get, list, delete -----------------------------------------------------------------

def test_get_and_list_map_kubectl_json_to_dicts(fake: Fake) -> None:
    c = cluster()
    mine = {MANAGED_BY: MANAGER}
    c.apply([ns("shop"), cm("a", labels=mine), cm("b"), cm("c", namespace="default",
                                                           labels=mine), deploy("web")])
    web = c.get(ObjRef("Deployment", "web", "shop"))
    assert web is not None and web["kind"] == "Deployment" and "status" in web
    assert c.get(ObjRef("Deployment", "nope", "shop")) is None
    assert c.get(ObjRef("Widget", "w", "shop")) is None  # a kind the server does not know
    assert {o["metadata"]["name"] for o in c.list(labels=mine)} == {"a", "c"}
    assert [o["metadata"]["name"] for o in c.list("ConfigMap", "shop")] == ["a", "b"]
    everything = c.list()
    assert {o["kind"] for o in everything} == {"Namespace", "ConfigMap", "Deployment"}
    assert c.list("Widget") == []
    listings = [a for a in fake.calls() if ",".join(DEFAULT_KINDS) in a]
    assert len(listings) == 2 and all("-A" in a for a in listings)


def test_prune_by_label_deletes_only_what_we_manage(fake: Fake) -> None:
    c = cluster()
    mine = {MANAGED_BY: MANAGER}
    c.apply([ns("shop"), cm("keep", labels=mine), cm("old", labels=mine), cm("theirs")])
    desired = {ObjRef("ConfigMap", "keep", "shop")}
    for obj in c.list("ConfigMap", labels=mine):
        if ObjRef.of(obj) not in desired:
            assert c.delete(ObjRef.of(obj))
    assert sorted(o["metadata"]["name"] for o in c.list("ConfigMap", "shop")) == [
        "keep", "theirs"]


def test_delete_says_whether_there_was_something(fake: Fake) -> None:
    c = cluster()
    c.apply([ns("shop"), cm("a")])
    ref = ObjRef("ConfigMap", "a", "shop")
    assert c.delete(ref) is True
    assert c.delete(ref) is False
    assert c.delete(ObjRef("Widget", "w", "shop")) is False
    [first, *_] = [a for a in fake.calls() if "delete" in a]
    assert first[first.index("delete"):] == ["delete", "ConfigMap", "a", "--ignore-not-found",
                                             "--wait=false", "-n", "shop"]


def test_reads_are_cached_until_a_write(fake: Fake) -> None:
    c = cluster(cache_seconds=60)
    c.apply([ns("shop"), cm("a")])
    ref = ObjRef("ConfigMap", "a", "shop")
    fake.reset_calls()
    assert c.get(ref) is not None and c.get(ref) is not None
    assert len(fake.calls()) == 1
    c.delete(ref)
    assert c.get(ref) is None


def test_every_call_names_the_context_and_kubeconfig(fake: Fake, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    c = cluster(kubeconfig=config)
    c.apply([ns("shop")])
    c.list()
    c.step()
    assert c.ping() == "v1.30.0-fake"
    calls = fake.calls()
    assert len(calls) >= 4
    for argv in calls:
        assert argv[:4] == ["--context", "fake", "--kubeconfig", str(config)]
        assert argv[4].startswith("--request-timeout=")


# -- events -----------------------------------------------------------------------------

def event(uid: str, reason: str, count: int = 1, when: str = "2030-01-01T00:00:00Z",
          kind: str = "Pod", name: str = "web-1", type_: str = "Normal") -> dict[str, Any]:
    return {"kind": "Event", "metadata": {"uid": uid, "namespace": "shop", "name": uid},
            "involvedObject": {"kind": kind, "name": name, "namespace": "shop"},
            "reason": reason, "message": f"{reason} happened ", "type": type_,
            "count": count, "lastTimestamp": when, "source": {"component": "kubelet"}}


def test_step_returns_each_new_event_once(fake: Fake) -> None:
    c = cluster()
    fake.events([event("old", "Pulled", when="2001-01-01T00:00:00Z"), event("e1", "Scheduled")])
    [first] = c.step()
    assert (first.reason, first.ref, first.message, first.type) == (
        "Scheduled", ObjRef("Pod", "web-1", "shop"), "Scheduled happened", "Normal")
    assert first.time == pytest.approx(1893456000.0)
    assert first.data["source"] == "kubelet"
    assert c.step() == []
    fake.events([event("e1", "Scheduled"),
                 event("e2", "BackOff", count=2, type_="Warning", when="2030-01-01T00:01:00Z"),
                 {**event("ns", "Created", kind="Namespace", name="shop"),
                  "lastTimestamp": None, "eventTime": "2030-01-01T00:00:30.123456Z"}])
    news = c.step()
    assert [(e.reason, e.ref.namespace) for e in news] == [("Created", ""), ("BackOff", "shop")]
    # The same event seen again (its count went up) is news again.
    fake.events([event("e2", "BackOff", count=3, type_="Warning")])
    assert [e.data["count"] for e in c.step()] == [3]
    assert len(c.snapshot()["events"]) == 4


def test_step_reads_events_at_most_every_interval(fake: Fake) -> None:
    c = cluster(events_interval=60)
    c.step()
    c.step()
    assert sum("events" in a for a in fake.calls()) == 1


# -- failures ---------------------------------------------------------------------------

def test_a_hanging_kubectl_times_out(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    # Far longer than any test run: only the time-out can end this call.
    monkeypatch.setenv("FAKE_KUBECTL_SLEEP", "3600")
    with pytest.raises(ClusterError, match=r"timed out after 0\.5s on context 'fake'"):
        cluster(timeout=0.5).list()


def test_unreachable_cluster_is_one_clear_error_not_per_object_errors(
        fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_REFUSE", "1")
    with pytest.raises(ClusterError) as err:
        cluster().apply([ns("shop"), cm("a")])
    assert "cannot reach the cluster of context 'fake'" in str(err.value)
    assert "kubectl --context fake cluster-info" in str(err.value)


def test_unknown_context_says_how_to_list_contexts(fake: Fake) -> None:
    with pytest.raises(ClusterError, match="context 'other' not found.*kubectl config "
                                           "get-contexts"):
        KubectlCluster("other").get(ObjRef("Namespace", "default"))


def test_missing_kubectl_says_how_to_install_it(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClusterError, match="https://kubernetes.io/docs/tasks/tools/"):
        KubectlCluster("fake")


def test_real_kubectl_against_a_dead_server_fails_fast(tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl: https://kubernetes.io/docs/tasks/tools/")
    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}]}))
    # The process time-out is far above kubectl's own request time-out, so "fast" shows
    # as behaviour: kubectl gives up by itself, once per action, and nothing retries.
    c = KubectlCluster("dead", kubeconfig=config, request_timeout=3, timeout=600)
    calls: list[list[str]] = []
    run = c.run

    def counted(args: list[str], stdin: str | None = None,
                timeout: float | None = None) -> Any:
        calls.append(args)
        return run(args, stdin, timeout)

    c.run = counted  # type: ignore[method-assign]
    for action in (c.list, lambda: c.apply([ns("shop")]), c.step, c.ping):
        calls.clear()
        with pytest.raises(ClusterError) as err:
            action()
        assert "cannot reach the cluster of context 'dead'" in str(err.value)
        assert f"kubectl --context dead cluster-info --kubeconfig {config}" in str(err.value)
        assert "memcache.go" not in str(err.value)
        assert len(calls) == 1, calls
    with pytest.raises(ClusterError, match="context 'gone' not found"):
        KubectlCluster("gone", kubeconfig=config).list()


# -- parsing ----------------------------------------------------------------------------

def test_items_of_reads_objects_lists_and_nothing() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "p"}}
    assert items_of("") == []
    assert items_of(json.dumps(obj)) == [obj]
    assert items_of(json.dumps({"kind": "List", "items": [obj]})) == [obj]
    assert items_of(json.dumps({"kind": "PodList", "items": [obj, obj]})) == [obj, obj]
    assert items_of(f"{json.dumps(obj, indent=2)}\n{json.dumps(obj)}\n") == [obj, obj]
    with pytest.raises(ClusterError, match="not JSON"):
        items_of("deployment.apps/web serverside-applied")


def test_clean_error_drops_client_noise() -> None:
    stderr = ('E1126 04:15:02.804309   28535 memcache.go:265] "Unhandled Error"\n'
              "Warning: resource is deprecated\n"
              'Error from server (Invalid): error when creating "STDIN": Pod "p" is invalid\n'
              'Error from server (Invalid): error when creating "STDIN": Pod "p" is invalid\n')
    assert clean_error(stderr) == 'Error from server (Invalid): Pod "p" is invalid'
