"""Watch fan-out: a change is encoded once for all its watchers, and a watcher that
fell behind gets what piled up in one write (bench/apiserver.py measures the latency)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.cluster.apiserver.errors import ApiError
from sandbox.cluster.apiserver.stamps import shift
from sandbox.cluster.apiserver.watch import WatchHub

from .conftest import until

TOKEN = "fanout-token"


def test_a_change_is_encoded_once_for_every_watcher() -> None:
    hub = WatchHub(0)
    hub.record("MODIFIED", {"kind": "ConfigMap", "metadata": {
        "name": "a", "namespace": "n", "resourceVersion": "1"}, "data": {"k": "v"}})
    (change,), upto = hub.since(0, "ConfigMap", 0)
    first = change.line("v1", "ConfigMap", shift, None)
    assert change.line("v1", "ConfigMap", shift, None) is first  # the same bytes, reused
    assert json.loads(first) == {"type": "MODIFIED", "object": {
        "kind": "ConfigMap", "apiVersion": "v1", "data": {"k": "v"},
        "metadata": {"name": "a", "namespace": "n", "resourceVersion": "1"}}}
    assert upto == 1


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    from sandbox.clock import VirtualClock
    from sandbox.cluster import SimCluster
    from sandbox.cluster.apiserver import ApiServer, Caller
    from sandbox.cluster.apiserver.tls import context
    from sandbox.cluster.discovery import Discovery

    cluster = SimCluster(VirtualClock(), lambda image: None)
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}])
    server = ApiServer(cluster, Discovery("1.30.0"),
                       lambda h: Caller("t", "human") if h == f"Bearer {TOKEN}" else None,
                       lambda *a: None, lambda *a: None, "1.30.0").start(0, context(tmp_path))
    yield cluster, server
    server.stop()


def _chunks(sock: ssl.SSLSocket) -> Iterator[bytes]:
    """The chunks of a chunked HTTP answer, as the server wrote them."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    while True:
        while b"\r\n" not in buf:
            buf += sock.recv(65536)
        size_text, buf = buf.split(b"\r\n", 1)
        size = int(size_text, 16)
        while len(buf) < size + 2:
            buf += sock.recv(65536)
        yield buf[:size]
        buf = buf[size + 2:]


def test_a_watcher_behind_gets_the_backlog_in_one_write(served: tuple[Any, Any],
                                                         tmp_path: Path) -> None:
    cluster, server = served
    rv = server.hub.last
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    ctx = ssl.create_default_context(cafile=str(tmp_path / "apiserver.crt"))
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    # Twenty changes are in the feed before the watch starts reading from rv.
    for n in range(20):
        cluster.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "tick", "namespace": "team"}, "data": {"n": str(n)}}])
    sock.sendall(f"GET /api/v1/namespaces/team/configmaps?watch=1&resourceVersion={rv}"
                 f"&timeoutSeconds=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}"
                 "\r\n\r\n".encode())
    chunk = next(_chunks(sock))
    sock.close()
    events = [json.loads(line) for line in chunk.splitlines()]
    assert [e["object"]["data"]["n"] for e in events] == [str(n) for n in range(20)]


def test_a_watch_waiting_while_the_window_moves_past_it_gets_410() -> None:
    hub = WatchHub(0, window=2)
    outcome: list[Any] = []

    def wait() -> None:
        try:
            outcome.append(hub.since(0, "ConfigMap", 30))
        except ApiError as err:
            outcome.append(err.code)

    waiter = threading.Thread(target=wait)
    waiter.start()
    until(lambda: hub._cond._waiters, why="the watch is waiting")  # type: ignore[attr-defined]
    with hub._cond:  # five changes before the waiter runs again: the window drops 1 to 3
        for n in range(1, 6):
            hub.record("MODIFIED", {"kind": "ConfigMap", "metadata": {
                "name": "a", "resourceVersion": str(n)}})
    waiter.join(30)
    assert outcome == [410]  # not changes 4 and 5 as if 1 to 3 had never happened
