"""The v2 protocol's REST side (``/v2/...``), behind the sidecar's Envoy, as KServe and Triton define it.

Envoy's gRPC-JSON transcoder cannot speak it: v2 JSON tensors are flat lists typed by their
``datatype``, and its binary tensor extension puts raw tensor bytes after a JSON header whose
length the ``Inference-Header-Content-Length`` header gives. So Envoy routes ``/v2`` here, an HTTP
service the sidecar runs beside Envoy (as it runs the JSON check), and each request becomes one
call of ``inference.GRPCInferenceService`` made back through Envoy (its internal gRPC listener, a
Unix socket): the servers are balanced, health-checked and retried by Envoy as every other call,
and their interceptors (keys, scopes, rate limits, metrics, logs) see the caller's credentials,
forwarded as metadata. The bodies are read and written by :mod:`server.rest.kserve_json`.

Answers: 200 with the JSON (and binary) body; errors as ``{"error": "..."}`` with the HTTP status of
the gRPC code (400 INVALID_ARGUMENT, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, ...),
the gRPC status's own message. Health and readiness are 200 when true, 400 when false, as the
protocol says.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from tritonclient.grpc import service_pb2, service_pb2_grpc

from pipeline import InvalidInput
from server.errors import bounded
from server.rest.kserve_json import (
    HEADER_LENGTH,
    infer_response_body,
    json_object,
    message_json,
    parse_infer_request,
)

__all__ = ["CALL_TIMEOUT_S", "FORWARDED_HEADERS", "KServeGateway"]

_LOGGER = logging.getLogger(__name__)
# What a caller's HTTP request carries on to the server as gRPC metadata: credentials, the
# request id the logs are joined by, trace context.
FORWARDED_HEADERS = ("authorization", "x-api-key", "x-request-id", "traceparent", "tracestate")
# How long a call to the servers may take: far past a request of 64 photos under load (a request's
# own ``timeout`` parameter, which the server honours, may be shorter); past it, 504.
CALL_TIMEOUT_S = 300.0
_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# How long the servers' answer to "are credentials needed" is kept: a keys file can change.
_AUTH_PROBE_S = 60.0
# An answer: HTTP status, body, extra headers.
_Answer = tuple[int, bytes, dict[str, str]]
_MODEL = r"/v2/models/(?P<model>[^/]+)(?:/versions/(?P<version>[^/]+))?"


class HttpError(Exception):
    """An answer other than 200: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    server: _GatewayServer
    protocol_version = "HTTP/1.1"

    def __getattr__(self, name: str) -> Any:
        # Every method: the routes say which are served (405 for the others), where the base
        # class would answer 501 for a method it has no do_ function for.
        if name.startswith("do_"):
            return lambda: self._serve(self.command)
        raise AttributeError(name)

    def _serve(self, method: str) -> None:
        headers: dict[str, str] = {}
        self._body_read = False
        try:
            body = self._body()
            self._body_read = True
            status, payload, headers = self.server.gateway.answer(
                method, self.path, body, self._metadata(), self.headers
            )
        except HttpError as exc:
            status, payload = exc.status, _error(str(exc))
        except InvalidInput as exc:
            status, payload = 400, _error(str(exc))
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            status, payload = (
                _HTTP_STATUS.get(code, 500),
                _error(exc.details() if isinstance(exc, grpc.Call) else str(exc)),
            )
            headers = {**_request_id(exc), **_retry_after(exc)}
        except Exception:
            _LOGGER.exception("the v2 gateway failed on %s %s", method, self.path.split("?")[0][:200])
            status, payload = 500, _error("internal error of the v2 REST gateway")
        self.send_response(status)
        content_type = headers.pop("content-type", "application/json")
        self.send_header("content-type", content_type)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(payload)))
        if not self._body_read:
            # Answered before the whole body was read (refused, or it never came): whatever of it
            # is still on the connection must never be read as the next request, which Envoy may
            # send on the same connection for another caller. So the connection ends here.
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    def _body(self) -> bytes:
        """The request's whole body.

        Raises:
            HttpError: compressed (415), over the limit (413), a malformed length or chunk, or a
                body that ended early (400).
        """
        if self.headers.get("content-encoding", "identity").lower() != "identity":
            raise HttpError(415, "compressed request bodies are not accepted; send them as they are")
        limit = self.server.max_body_bytes
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return _read_chunked(self.rfile, limit)
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            raise HttpError(400, "content-length must be a number") from None
        if not 0 <= length <= limit:
            raise HttpError(413 if length > limit else 400, f"the request body must be 0 to {limit} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise HttpError(400, f"the request body ended after {len(body)} of its {length} bytes")
        return body

    def _metadata(self) -> list[tuple[str, str]]:
        return [(name, value) for name in FORWARDED_HEADERS if (value := self.headers.get(name)) is not None]

    def log_message(self, format: str, *args: Any) -> None:
        # Nothing: Envoy's access log has each request, without the query string's keys.
        pass


def _read_chunked(stream: Any, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = stream.readline(1024)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise HttpError(400, "malformed chunked body") from None
        if size == 0:
            stream.readline(1024)
            return b"".join(parts)
        total += size
        if total > limit:
            raise HttpError(413, f"the request body is larger than {limit} bytes")
        part = stream.read(size)
        if len(part) != size:
            raise HttpError(400, "the chunked body ended early")
        parts.append(part)
        stream.readline(1024)


def _error(message: str) -> bytes:
    return json.dumps({"error": bounded(message, 2000)}).encode()


def _retry_after(error: grpc.RpcError) -> dict[str, str]:
    """``retry-after`` (whole seconds, at least 1) from the status's RetryInfo, as REST callers
    read a 429's or 503's wait."""
    trailers = error.trailing_metadata() if isinstance(error, grpc.Call) else None
    for key, value in trailers or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except DecodeError:
                return {}
            for detail in status.details:
                if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    info = error_details_pb2.RetryInfo()
                    detail.Unpack(info)
                    return {
                        "retry-after": str(max(1, math.ceil(info.retry_delay.ToTimedelta().total_seconds())))
                    }
    return {}


def _request_id(error: grpc.RpcError) -> dict[str, str]:
    trailers = error.trailing_metadata() if isinstance(error, grpc.Call) else None
    for key, value in trailers or ():
        if key == "x-request-id" and isinstance(value, str):
            return {"x-request-id": value}
    return {}


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    # Connections waiting to be accepted: more than Envoy opens (its breaker allows 16), where the
    # default 5 dropped a burst's connections (Envoy answered them 503 "overflow").
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The base class prints a traceback; a caller (Envoy) gone mid-answer is none of ours.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            _LOGGER.debug("v2 REST caller went away: %s", error)
            return
        _LOGGER.exception("v2 REST gateway connection failed")

    def __init__(self, address: tuple[str, int], gateway: KServeGateway, max_body_bytes: int) -> None:
        super().__init__(address, _Handler)
        self.gateway = gateway
        self.max_body_bytes = max_body_bytes


_Route = tuple[str, re.Pattern[str], str]
_ROUTES: tuple[_Route, ...] = tuple(
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("GET", r"/v2/?", "server_metadata"),
        ("GET", r"/v2/health/live", "live"),
        ("GET", r"/v2/health/ready", "ready"),
        ("GET", r"/v2/models/stats", "all_stats"),
        ("GET", _MODEL, "model_metadata"),
        ("GET", _MODEL + "/ready", "model_ready"),
        ("GET", _MODEL + "/config", "model_config"),
        ("GET", _MODEL + "/stats", "model_stats"),
        ("POST", _MODEL + "/infer", "infer"),
        ("POST", r"/v2/repository/index", "index"),
        ("POST", r"/v2/repository/models/(?P<model>[^/]+)/load", "load"),
        ("POST", r"/v2/repository/models/(?P<model>[^/]+)/unload", "unload"),
        # Triton's extensions Datalid does not offer: 501, as gRPC's UNIMPLEMENTED.
        *(
            (method, pattern, "unserved")
            for method in ("GET", "POST")
            for pattern in (
                r"/v2/(?:systemsharedmemory|cudasharedmemory)(?:/.*)?",
                r"/v2/trace/setting",
                r"/v2/logging",
            )
        ),
    )
)


class KServeGateway:
    """The ``/v2`` REST service on ``host:port`` (0: a free port), served by daemon threads, calling
    the servers at ``grpc_target`` (Envoy's internal gRPC listener).

    Args:
        grpc_target: a gRPC target (``unix:/path``), dialled when :meth:`start` runs.
        max_body_bytes: the largest request body read (Envoy's own limit on the REST listener).
    """

    def __init__(self, grpc_target: str, max_body_bytes: int, host: str = "127.0.0.1", port: int = 0) -> None:
        self._target = grpc_target
        self._max_message_bytes = max_body_bytes + 1024 * 1024
        self._server = _GatewayServer((host, port), self, max_body_bytes)
        self._thread = threading.Thread(target=self._server.serve_forever, name="kserve-rest", daemon=True)
        self._channel: grpc.Channel | None = None
        self._stub: service_pb2_grpc.GRPCInferenceServiceStub | None = None
        self._auth_lock = threading.Lock()
        self._auth_needed = False
        self._auth_checked_at: float | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> KServeGateway:
        """Dials the servers and serves; after any fork (gRPC's threads start here)."""
        # Responses as large as what a server may send (raw tensors of a batch).
        limit = 64 * 1024 * 1024
        options = [
            ("grpc.max_send_message_length", self._max_message_bytes),
            ("grpc.max_receive_message_length", limit),
        ]
        self._channel = grpc.insecure_channel(self._target, options=options)
        self._stub = service_pb2_grpc.GRPCInferenceServiceStub(self._channel)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._channel is not None:
            self._channel.close()

    def answer(
        self, method: str, target: str, body: bytes, metadata: list[tuple[str, str]], headers: Any
    ) -> _Answer:
        """One request's status, body and extra headers.

        Raises:
            HttpError: no such route (404) or method (405).
            InvalidInput: a malformed request (400).
            grpc.RpcError: the server's answer to the call (its status, mapped by the handler).
        """
        path = target.split("?", 1)[0]
        # HEAD is GET without the body (the handler leaves it out).
        method = "GET" if method == "HEAD" else method
        if method == "POST" and not _credentials(metadata) and self._auth_required():
            # Refused before the body is parsed (a 16 MiB JSON tensor costs seconds): a caller
            # without credentials gets what the server would answer, as the gRPC side does.
            raise HttpError(401, "this server needs credentials: an x-api-key or authorization header")
        allowed = []
        for route_method, pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            handler: Callable[..., _Answer] = getattr(self, f"_{name}")
            names = {key: urllib.parse.unquote(value) for key, value in match.groupdict().items() if value}
            return handler(names, body, metadata, headers)
        if allowed:
            raise HttpError(405, f"{bounded(path)} is served for {', '.join(sorted(set(allowed)))} only")
        raise HttpError(404, f"no v2 endpoint at {bounded(path)}")

    def _auth_required(self) -> bool:
        """Whether the servers refuse callers without credentials, asked of them (a call without
        any) at most every ``_AUTH_PROBE_S``; False when they cannot be asked (the call itself
        will then say why)."""
        now = time.monotonic()
        with self._auth_lock:
            if self._auth_checked_at is not None and now - self._auth_checked_at < _AUTH_PROBE_S:
                return self._auth_needed
        try:
            self.stub.ServerMetadata(service_pb2.ServerMetadataRequest(), timeout=5)
            needed = False
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            if code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                return False
            needed = code == grpc.StatusCode.UNAUTHENTICATED
        with self._auth_lock:
            self._auth_needed, self._auth_checked_at = needed, now
        return needed

    @property
    def stub(self) -> service_pb2_grpc.GRPCInferenceServiceStub:
        assert self._stub is not None, "start() dials the servers"
        return self._stub

    def _json(self, message: Message) -> _Answer:
        return _json_answer(message_json(message))

    def _server_metadata(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        return self._json(
            self.stub.ServerMetadata(
                service_pb2.ServerMetadataRequest(), metadata=metadata, timeout=CALL_TIMEOUT_S
            )
        )

    def _live(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        live = self.stub.ServerLive(
            service_pb2.ServerLiveRequest(), metadata=metadata, timeout=CALL_TIMEOUT_S
        ).live
        return _truth(live)

    def _ready(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        try:
            ready = self.stub.ServerReady(
                service_pb2.ServerReadyRequest(), metadata=metadata, timeout=CALL_TIMEOUT_S
            ).ready
        except grpc.RpcError as exc:
            # No server serves (Envoy: no healthy upstream): not ready, which is no error here.
            if isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.UNAVAILABLE:
                return _truth(False)
            raise
        return _truth(ready)

    def _model_ready(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        request = service_pb2.ModelReadyRequest(name=match["model"], version=match.get("version", ""))
        ready = self.stub.ModelReady(request, metadata=metadata, timeout=CALL_TIMEOUT_S).ready
        return _truth(ready)

    def _model_metadata(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        request = service_pb2.ModelMetadataRequest(name=match["model"], version=match.get("version", ""))
        return self._json(self.stub.ModelMetadata(request, metadata=metadata, timeout=CALL_TIMEOUT_S))

    def _model_config(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        request = service_pb2.ModelConfigRequest(name=match["model"], version=match.get("version", ""))
        # Triton's HTTP side answers the configuration itself, not wrapped in {"config": ...}.
        config = self.stub.ModelConfig(request, metadata=metadata, timeout=CALL_TIMEOUT_S).config
        return _json_answer(message_json(config))

    def _all_stats(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        return self._json(
            self.stub.ModelStatistics(
                service_pb2.ModelStatisticsRequest(), metadata=metadata, timeout=CALL_TIMEOUT_S
            )
        )

    def _model_stats(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        request = service_pb2.ModelStatisticsRequest(name=match["model"], version=match.get("version", ""))
        return self._json(self.stub.ModelStatistics(request, metadata=metadata, timeout=CALL_TIMEOUT_S))

    def _infer(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        length_text = headers.get(HEADER_LENGTH)
        try:
            header_length = int(length_text) if length_text is not None else None
        except ValueError:
            raise InvalidInput(HEADER_LENGTH, "must be a number") from None
        call = parse_infer_request(match["model"], match.get("version", ""), body, header_length)
        response, rpc = self.stub.ModelInfer.with_call(
            call.request, metadata=metadata, timeout=CALL_TIMEOUT_S
        )
        payload, json_length = infer_response_body(call, response)
        extra = {key: value for key, value in rpc.trailing_metadata() or () if key == "x-request-id"}
        if json_length is not None:
            extra[HEADER_LENGTH] = str(json_length)
            extra["content-type"] = "application/octet-stream"
        return 200, payload, extra

    def _unserved(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        raise HttpError(501, "not offered: shared memory, trace and log settings (see the README)")

    def _index(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        document = _json_body(body)
        ready = document.get("ready", False)
        if not isinstance(ready, bool):
            raise InvalidInput("ready", "must be true or false")
        request = service_pb2.RepositoryIndexRequest(ready=ready)
        index = self.stub.RepositoryIndex(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        # Triton's HTTP side answers the list itself.
        return _json_answer([message_json(m) for m in index.models])

    def _load(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        _json_body(body)
        self.stub.RepositoryModelLoad(
            service_pb2.RepositoryModelLoadRequest(model_name=match["model"]), metadata=metadata
        )
        return 200, b"", {}

    def _unload(self, match: dict, body: bytes, metadata: list, headers: Any) -> _Answer:
        _json_body(body)
        request = service_pb2.RepositoryModelUnloadRequest(model_name=match["model"])
        self.stub.RepositoryModelUnload(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        return 200, b"", {}


def _json_answer(document: Any) -> _Answer:
    return 200, json.dumps(document, separators=(",", ":")).encode(), {}


def _truth(flag: bool) -> _Answer:
    """A health or readiness answer: 200 when true, 400 when false (the protocol's 4xx)."""
    return (200 if flag else 400), b"", {}


def _credentials(metadata: list[tuple[str, str]]) -> bool:
    return any(key in ("authorization", "x-api-key") for key, _ in metadata)


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        return json_object(json.loads(body), "body")
    except (ValueError, RecursionError):
        raise InvalidInput("body", "is not JSON") from None
