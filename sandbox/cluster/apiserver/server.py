"""The API server on the wire: HTTP/1.1 on the loopback address, bearer tokens, JSON (and
YAML) bodies up to 3 MiB, `Status` errors, chunked watch streams.

Nothing in here knows the simulation: requests become calls on `Api` (handlers.py)
and `Patcher` (patch.py); this module only speaks HTTP.
"""

from __future__ import annotations

import ipaddress
import json
import select
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

from . import apis, openapi, table
from . import errors as E
from .handlers import Caller, with_version
from .routing import Target, route, split, truthy
from .stamps import Mapping, shift
from .watch import Change, encode, event

MAX_BODY = 3 * 1024 * 1024  # the real API server's limit on a request body
JSON = "application/json"
TABLE = "as=Table"
BOOKMARK_SECONDS = 5.0
DRAIN_LIMIT = 64 * 1024 * 1024


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Any,
                 tls: ssl.SSLContext | None) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.tls = tls

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = super().get_request()
        if self.tls is not None:
            # The handshake runs in the request's own thread (see _Handler.setup), so a
            # client that never finishes it holds up nobody else.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Http

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, OSError):
            self.close_connection = True  # a client that speaks no TLS, or left

    def do_GET(self) -> None:  # noqa: N802 - stdlib's names
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve("HEAD")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._serve("OPTIONS")

    # -- answers -----------------------------------------------------------------------
    def _send(self, code: int, body: bytes, ctype: str = JSON,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, data: Any, headers: dict[str, str] | None = None) -> None:
        data = shift(data, self.server.app.time_map())
        accept = self.headers.get("Accept", "")
        if "yaml" in accept and "json" not in accept:
            self._send(code, yaml.safe_dump(data, sort_keys=False).encode(), "application/yaml",
                       headers)
            return
        ctype = JSON
        if data.get("kind") == "APIGroupDiscoveryList":
            ctype = (apis.AGG_V2 if data["apiVersion"].endswith("/v2") else apis.AGG_V2BETA1)
        elif data.get("kind") == "Table":
            ctype = "application/json;as=Table;v=v1;g=meta.k8s.io"
        self._send(code, json.dumps(data, separators=(",", ":")).encode(), ctype, headers)

    def _error(self, err: E.ApiError) -> None:
        self._json(err.code, err.status(), err.headers)

    # -- the request -----------------------------------------------------------------
    def _serve(self, method: str) -> None:
        app = self.server.app
        started = time.perf_counter()
        try:
            self._dispatch(method, app)
        except E.ApiError as err:
            self._drain()
            self._error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - one bad request never stops the server
            self._drain()
            self._error(E.ApiError(500, "InternalError",
                                   f"Internal error occurred: {type(exc).__name__}: {exc}"))
        finally:
            app.served(time.perf_counter() - started)

    def _drain(self) -> None:
        """Leave no unread body on a kept-alive connection."""
        if not getattr(self, "_body_read", True):
            self.close_connection = True

    def _dispatch(self, method: str, app: Any) -> None:
        self._body_read = method in ("GET",)
        host = self.client_address[0]
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise E.ApiError(403, "Forbidden",
                             f"forbidden: the gitops-sandbox API server answers only the "
                             f"loopback address, not {host}")
        segments, query = split(self.path)
        if segments[:1] in (["healthz"], ["livez"], ["readyz"]):
            self._send(200, b"ok", "text/plain; charset=utf-8")
            return
        if segments == ["version"]:
            self._json(200, apis.version(app.kubernetes_version))
            return
        caller = app.authenticate(self.headers.get("Authorization", ""))
        if caller is None:
            raise E.unauthorized()
        resources = app.resources()
        if method == "GET" and self._discovery(segments, resources, app):
            return
        if segments[:2] == ["api", "v1"] and len(segments) > 2:
            gv = ["", "v1"]
            rest = segments[2:]
        elif segments[:1] == ["apis"] and len(segments) > 3:
            gv = segments[1:3]
            rest = segments[3:]
        else:
            raise E.not_found_path()
        target = route(method, gv + rest, query, resources)
        if target.subresource == "log" and target.verb == "get":
            self._logs(app, target, query)
            return
        if target.verb == "watch":
            self._watch(app, target, query, caller)
            return
        body = self._read_body() if method in ("POST", "PUT", "PATCH", "DELETE") else None
        if (method == "GET" and TABLE in self.headers.get("Accept", "")
                and target.verb == "list" and not target.resource.group.startswith("metrics.")):
            quick = app.api.table(target, query, lambda: app.hub.last,
                                  query.get("includeObject", "Metadata"))
            if quick is not None:
                self._json(200, quick)
                return
        code, data = app.handle(target, query, body, caller,
                                self.headers.get("Content-Type", ""),
                                self.headers.get("User-Agent", ""))
        if TABLE in self.headers.get("Accept", "") and target.verb in ("get", "list"):
            items = data.get("items") if target.verb == "list" else [data]
            kind = target.resource.kind
            data = table.table(items or [], kind, app.api.now(),
                               str(data["metadata"].get("resourceVersion", "")),
                               include=query.get("includeObject", "Metadata"),
                               printer=app.api.printer(target.resource))
        self._json(code, data)

    def _discovery(self, segments: list[str], resources: list[Any], app: Any) -> bool:
        agg = apis.wants_aggregated(self.headers.get("Accept", ""))
        if segments == ["api"]:
            self._json(200, apis.aggregated(resources, True, agg) if agg else
                       apis.api_versions(app.address))
        elif segments == ["apis"]:
            self._json(200, apis.aggregated(resources, False, agg) if agg else
                       apis.group_list(resources))
        elif segments == ["api", "v1"] or (segments[:1] == ["apis"] and len(segments) == 3):
            gv = "v1" if segments[0] == "api" else "/".join(segments[1:3])
            doc = apis.resource_list(resources, gv)
            if doc is None:
                raise E.not_found_path()
            self._json(200, doc)
        elif segments[:1] == ["apis"] and len(segments) == 2:
            doc = apis.group(resources, segments[1])
            if doc is None:
                raise E.not_found_path()
            self._json(200, doc)
        elif segments[:2] == ["openapi", "v2"]:
            accept = self.headers.get("Accept", "")
            if "protobuf" in accept and "json" not in accept:
                raise E.not_acceptable(accept)  # the v3 documents serve kubectl instead
            self._json(200, apis.openapi_v2(resources, app.kubernetes_version))
        elif segments == ["openapi", "v3"]:
            self._json(200, openapi.root(resources, app.kubernetes_version))
        elif segments[:2] == ["openapi", "v3"]:
            doc = openapi.group_version(resources, "/".join(segments[2:]), app.kubernetes_version)
            if doc is None:
                raise E.not_found_path()
            self._json(200, doc)
        elif segments[:1] == ["openapi"]:
            raise E.not_found_path()
        else:
            return False
        return True

    def _read_body(self) -> bytes:
        self._body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise E.ApiError(411, "BadRequest", "a request body needs a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise E.bad_request("Content-Length is not a number") from None
        if length > MAX_BODY:
            # Read and dropped (up to a bound) so the client, still sending, gets the
            # answer; past the bound the connection is closed after it.
            left = length if length <= DRAIN_LIMIT else 0
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
            self._body_read = length <= DRAIN_LIMIT
            raise E.too_large()
        return self.rfile.read(length) if length > 0 else b""

    # -- pods/log --------------------------------------------------------------------
    def _logs(self, app: Any, target: Target, query: dict[str, str]) -> None:
        batches = app.logs(target, query)
        first = next(batches)  # errors (no such container, waiting...) come before a byte
        if not truthy(query.get("follow")):
            self._send(200, "".join(line + "\n" for line in first).encode(),
                       "text/plain")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._chunk("".join(line + "\n" for line in first).encode())
            for batch in batches:
                if not self._alive():
                    break
                self._chunk("".join(line + "\n" for line in batch).encode())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    # -- watch -------------------------------------------------------------------------
    def _watch(self, app: Any, target: Target, query: dict[str, str], caller: Caller) -> None:
        start_events, rv = app.watch_start(target, query)
        as_table = TABLE in self.headers.get("Accept", "")
        timeout = min(float(query.get("timeoutSeconds") or 1800), 3600.0)
        bookmarks = truthy(query.get("allowWatchBookmarks"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json;stream=watch" if not as_table else
                         "application/json;as=Table;v=v1;g=meta.k8s.io")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        headers_sent = [False]
        printer = app.api.printer(target.resource) if as_table else None

        def line(item: Change | dict[str, Any], wall: Mapping | None) -> bytes:
            if isinstance(item, Change):
                if not as_table:
                    return item.line(r.api_version, r.kind, shift, wall)
                item = event(item.type, with_version(dict(item.obj), r))
            if as_table and item["type"] in ("ADDED", "MODIFIED", "DELETED"):
                obj = item["object"]
                item = {"type": item["type"], "object": table.table(
                    [obj], r.kind, app.api.now(),
                    str(obj["metadata"].get("resourceVersion", "")),
                    include=query.get("includeObject", "Metadata"),
                    headers=not headers_sent[0], printer=printer)}
                headers_sent[0] = True
            return encode(shift(item, wall))

        def send(items: list[Change | dict[str, Any]]) -> None:
            # One chunk and one flush per batch: a watcher that fell behind catches up
            # in one write instead of one TLS record per event.
            wall = app.time_map()
            self._chunk(b"".join(line(item, wall) for item in items))

        r = target.resource
        deadline = time.monotonic() + timeout
        next_mark = time.monotonic() + BOOKMARK_SECONDS
        try:
            if start_events:
                send(start_events)
            for batch in app.follow(target, query, rv, deadline, lambda: self._alive()):
                if batch is None:  # idle: a bookmark keeps the client's version fresh
                    if bookmarks and time.monotonic() >= next_mark:
                        next_mark = time.monotonic() + BOOKMARK_SECONDS
                        send([app.bookmark(target)])
                    continue
                send(batch)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        self.close_connection = True

    def _alive(self) -> bool:
        """The server runs and the client is still there (it sends nothing on a stream,
        so a readable socket means it closed)."""
        if self.server.app.stopped:
            return False
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return True
            sock.setblocking(False)
            try:
                return bool(sock.recv(1))
            finally:
                sock.setblocking(True)
        except ssl.SSLWantReadError:
            return True
        except (OSError, ValueError):
            return False


class HttpServer:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self._http = _Http((host, port), app, tls)
        self.host, self.port = self._http.server_address[:2]
        self._thread: threading.Thread | None = None

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._http.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="apiserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


Handle = Callable[..., tuple[int, dict[str, Any]]]
