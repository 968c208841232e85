"""The API server on the wire: discovery, and every kind of bad request answered with the
status code and `Status` a real API server gives, with the engine up and nothing
changed afterwards."""

from __future__ import annotations

import json
import socket

import pytest

from .conftest import Cluster, until


def test_version_and_discovery(cluster: Cluster) -> None:
    code, version = cluster.request("GET", "/version", token=None)
    assert code == 200 and version["gitVersion"] == "v1.30.0"
    code, core = cluster.request("GET", "/api/v1")
    assert code == 200
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["namespaced"] and "watch" in pods["verbs"] and pods["shortNames"] == ["po"]
    code, groups = cluster.request("GET", "/apis")
    assert "apps" in [g["name"] for g in groups["groups"]]
    code, agg = cluster.request("GET", "/apis", headers={
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"})
    assert agg["kind"] == "APIGroupDiscoveryList" and agg["apiVersion"].endswith("/v2")
    apps = next(i for i in agg["items"] if i["metadata"]["name"] == "apps")
    deploy = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert {s["subresource"] for s in deploy["subresources"]} >= {"scale", "status"}
    assert deploy["categories"] == ["all"]
    code, root = cluster.request("GET", "/openapi/v3")
    assert "apis/apps/v1" in root["paths"]


def _error(code: int, body: object, reason: str) -> dict:
    assert isinstance(body, dict) and body.get("kind") == "Status", body
    assert (code, body["code"], body["reason"]) == (body["code"], code, reason), body
    return body


def _snapshot(cluster: Cluster) -> str:
    objs = cluster.sb.cluster_objects("ConfigMap") + cluster.sb.cluster_objects("Deployment")
    return json.dumps(sorted((o["metadata"]["name"], o["metadata"]["resourceVersion"])
                             for o in objs))


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "wire"},
      "data": {"a": "1"}}


def test_bad_requests_get_real_statuses_and_change_nothing(cluster: Cluster) -> None:
    base = "/api/v1/namespaces/demo/configmaps"
    code, _ = cluster.request("POST", base, CM)
    assert code == 201
    before = _snapshot(cluster)

    code, body = cluster.request("GET", base, token=None)
    assert _error(code, body, "Unauthorized")["code"] == 401
    code, body = cluster.request("GET", base, token="gst_wrong")
    assert _error(code, body, "Unauthorized")["message"] == "Unauthorized"

    code, body = cluster.request("GET", "/api/v1/namespaces/demo/widgets")
    assert _error(code, body, "NotFound")["message"] == (
        "the server could not find the requested resource")
    code, body = cluster.request("GET", f"{base}/nope")
    assert _error(code, body, "NotFound")["message"] == 'configmaps "nope" not found'

    code, body = cluster.request("POST", f"{base}/wire")
    assert _error(code, body, "MethodNotAllowed")["code"] == 405

    code, body = cluster.request("POST", base, raw=b'{"apiVersion": "v1", kind')
    assert "json parse error" in _error(code, body, "BadRequest")["message"]
    code, body = cluster.request("POST", base, raw=b"a: [b\n", headers={
        "Content-Type": "application/yaml"})
    assert "error converting YAML to JSON" in _error(code, body, "BadRequest")["message"]

    code, body = cluster.request("POST", base, raw=b"x" * (3 * 1024 * 1024 + 1))
    assert _error(code, body, "RequestEntityTooLarge")["code"] == 413

    code, body = cluster.request("POST", base, {**CM, "metadata": {"name": "Bad_Name"}})
    err = _error(code, body, "Invalid")
    assert err["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: '
                                     'Invalid value: "Bad_Name": a lowercase RFC 1123')
    assert err["details"]["causes"][0]["field"] == "metadata.name"
    code, body = cluster.request("POST", base, {**CM, "metadata": {
        "name": "badlabel", "labels": {"a": "-x-"}}})
    assert _error(code, body, "Invalid")["details"]["causes"]

    code, body = cluster.request("POST", base, CM)
    assert _error(code, body, "AlreadyExists")["message"] == 'configmaps "wire" already exists'

    code, live = cluster.request("GET", f"{base}/wire")
    stale = {**live, "data": {"a": "2"},
             "metadata": {**live["metadata"], "resourceVersion": "1"}}
    code, body = cluster.request("PUT", f"{base}/wire", stale)
    assert _error(code, body, "Conflict")["message"] == (
        'Operation cannot be fulfilled on configmaps "wire": the object has been modified; '
        "please apply your changes to the latest version and try again")

    code, body = cluster.request("PATCH", f"{base}/wire", {"data": {"a": "3"}},
                                 headers={"Content-Type": "text/plain"})
    assert _error(code, body, "UnsupportedMediaType")["code"] == 415

    assert _snapshot(cluster) == before
    code, _ = cluster.request("GET", "/api/v1/namespaces/demo/configmaps/wire")
    assert code == 200  # the server is still up


def test_watch_from_a_version_too_old_is_expired(cluster: Cluster) -> None:
    hub = cluster.sb.engine.apiserver.hub
    hub._oldest = max(hub._oldest, 5)  # as if the window had moved past version 2
    code, text = cluster.request(
        "GET", "/api/v1/namespaces/demo/pods?watch=true&resourceVersion=2&timeoutSeconds=5", text=True)
    assert code == 200
    event = json.loads(text.splitlines()[0])
    assert event["type"] == "ERROR"
    status = event["object"]
    assert (status["code"], status["reason"]) == (410, "Expired")
    assert status["message"].startswith("too old resource version: 2 (")


def test_a_watch_sees_changes_and_bookmarks(cluster: Cluster) -> None:
    code, listed = cluster.request("GET", "/api/v1/namespaces/demo/configmaps")
    rv = listed["metadata"]["resourceVersion"]
    cm = {**CM, "metadata": {"name": "watched"}}
    code, _ = cluster.request("POST", "/api/v1/namespaces/demo/configmaps", cm)
    assert code == 201
    code, text = cluster.request(
        "GET", f"/api/v1/namespaces/demo/configmaps?watch=1&resourceVersion={rv}"
        "&timeoutSeconds=1&fieldSelector=metadata.name%3Dwatched", text=True)
    events = [json.loads(line) for line in text.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "watched")]


def test_non_loopback_clients_are_refused(cluster: Cluster) -> None:
    """The server binds the loopback address; a request that still comes from another
    address (a proxy, a forwarded port) is refused by the handler too."""
    from sandbox.cluster.apiserver.server import HttpServer

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing address
            own = s.getsockname()[0]
    except OSError:
        own = "127.0.0.1"
    if own.startswith("127."):
        pytest.skip("this machine has no non-loopback address to come from")
    app = cluster.sb.engine.apiserver
    server = HttpServer(app, "0.0.0.0", 0).start()
    try:
        import http.client

        conn = http.client.HTTPConnection(own, server.port, timeout=10)
        conn.request("GET", "/api/v1/namespaces/demo/pods",
                     headers={"Authorization": f"Bearer {cluster.token}"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 403 and body["reason"] == "Forbidden"
        assert "only the loopback address" in body["message"]
    finally:
        server.stop()


def test_delete_with_propagation_policy_orphan_keeps_what_it_owned(cluster: Cluster) -> None:
    labels = {"app": "orph"}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "orph"},
              "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                       "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                           {"name": "web", "image": "localhost:5001/web:1.0.0"}]}}}}
    base = "/apis/apps/v1/namespaces/demo"
    code, created = cluster.request("POST", f"{base}/deployments", deploy)
    assert code == 201, created
    rs = until(lambda: [r for r in cluster.sb.cluster_objects("ReplicaSet")
                        if r["metadata"]["name"].startswith("orph-")], why="its ReplicaSet")
    code, body = cluster.request("DELETE", f"{base}/deployments/orph",
                                 {"kind": "DeleteOptions", "apiVersion": "v1",
                                  "propagationPolicy": "Sideways"})
    assert code == 422 and 'Unsupported value: "Sideways"' in body["message"]
    code, _ = cluster.request("DELETE", f"{base}/deployments/orph",
                              {"kind": "DeleteOptions", "apiVersion": "v1",
                               "propagationPolicy": "Orphan"})
    assert code == 200
    assert cluster.live("Deployment", "orph") is None
    left = cluster.live("ReplicaSet", rs[0]["metadata"]["name"])
    assert left is not None and not left["metadata"].get("ownerReferences")


def test_an_events_watch_sends_what_came_between_the_list_and_the_watch(
        cluster: Cluster) -> None:
    """kubectl lists, then watches from the list's version: an event made in between
    is sent, as a real API server sends it (it used to be taken as already seen)."""
    base = "/api/v1/namespaces/demo/events"
    code, listed = cluster.request("GET", base)
    assert code == 200
    rv = listed["metadata"]["resourceVersion"]
    known = {e["metadata"]["name"] for e in listed["items"]}
    cluster.kubectl("--context", "sandbox-reconciler", "scale", "deployment", "api",
                    "--replicas=4")

    def scaled() -> list[str]:
        _, now = cluster.request("GET", base)
        return [e["metadata"]["name"] for e in now["items"]
                if e["metadata"]["name"] not in known and e["reason"] == "ScalingReplicaSet"]

    made = until(scaled, why="the scale's event")  # made before the watch starts
    code, text = cluster.request("GET", f"{base}?watch=1&resourceVersion={rv}&timeoutSeconds=1",
                                 text=True)
    sent = [json.loads(line) for line in text.splitlines()]
    assert {e["type"] for e in sent} == {"ADDED"}
    assert set(made) <= {e["object"]["metadata"]["name"] for e in sent}
    assert not known & {e["object"]["metadata"]["name"] for e in sent}
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in sent]
    assert versions == sorted(versions) and min(versions) > int(rv)

    code, text = cluster.request("GET", f"{base}?watch=1&resourceVersion={int(rv) + 10**9}"
                                 "&timeoutSeconds=1", text=True)
    assert json.loads(text.splitlines()[0])["object"]["code"] == 410
