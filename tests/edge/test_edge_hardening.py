"""Units of the edge's defences: malformed requests, redaction, request ids, bounded errors,
SIGHUP, the metrics host and the Envoy config's leak and path limits. Servers in
tests/hostile/test_edge.py and tests/edge/test_rest_hostile.py run the same against real processes."""

from __future__ import annotations

import io
import logging

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2

from datalid.v1 import types_pb2
from pipeline import InvalidInput
from server.app import on_hangup
from server.config import load_config
from server.edge.interceptors.access_log import request_id_of
from server.edge.interceptors.malformed import MalformedRequest, tolerant_deserializer, tolerant_handler
from server.edge.redaction import MAX_LOG_MESSAGE_CHARS, RedactingFilter, install_log_redaction, redact
from server.errors import MAX_ECHO_CHARS, bounded, rich_status, status_of_error
from server.rest.sidecar import SidecarConfig, render_config

KEY = "dlk_" + "A1b2-C3d4_" * 4 + "xyz"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_tolerant_deserializer_passes_messages_and_marks_garbage() -> None:
    deserialize = tolerant_deserializer(types_pb2.ProcessRequest.FromString)
    assert deserialize is not None
    good = types_pb2.ProcessRequest(image=b"abc")
    assert deserialize(good.SerializeToString()) == good
    assert deserialize(b"\xff\xff") == MalformedRequest("datalid.v1.ProcessRequest", 2)
    assert tolerant_deserializer(None) is None


def test_malformed_request_error_names_the_field() -> None:
    error = MalformedRequest("datalid.v1.Frame", 7).error("requests[3]")
    status = status_of_error(error)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert status.message == "requests[3]: is not a valid datalid.v1.Frame message (7 bytes)"


@pytest.mark.parametrize(
    ("factory", "streams"),
    [
        (grpc.unary_unary_rpc_method_handler, (False, False)),
        (grpc.unary_stream_rpc_method_handler, (False, True)),
        (grpc.stream_unary_rpc_method_handler, (True, False)),
        (grpc.stream_stream_rpc_method_handler, (True, True)),
    ],
)
def test_tolerant_handler_keeps_the_kind_of_every_handler(factory, streams) -> None:
    handler = factory(lambda r, c: None, request_deserializer=types_pb2.ProcessRequest.FromString)
    wrapped = tolerant_handler(handler)
    assert (wrapped.request_streaming, wrapped.response_streaming) == streams
    assert wrapped.request_deserializer(b"\xff") == MalformedRequest("datalid.v1.ProcessRequest", 1)


@pytest.mark.parametrize(
    "text",
    [
        f"x-api-key: {KEY}",
        f"metadata (('x-api-key', '{KEY[:10]}'),)",
        f"(b'authorization', b'Bearer {JWT}')",
        "authorization=Bearer opaque-token-123 and more",
        f"Invalid encoding on b'{KEY}\\xff'",
        f"token {JWT} in a sentence",
    ],
)
def test_redact_removes_keys_jwts_and_credential_header_values(text) -> None:
    redacted = redact(text)
    for secret in (KEY[4:], KEY[:10][4:], JWT.split(".")[1], "opaque-token-123"):
        assert secret not in redacted
    assert "<redacted>" in redacted


def test_redact_leaves_ordinary_lines_alone() -> None:
    line = "rpc request_id=abc method=/datalid.v1.AdminService/GetServerInfo code=OK"
    assert redact(line) == line


def _logged(logger_name: str, message: str, *args: object, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.Logger("test-root")
    root.addHandler(handler)
    install_log_redaction(root)
    install_log_redaction(root)  # once is enough: a second call adds nothing
    assert len(handler.filters) == 1
    child = logging.Logger(logger_name)
    child.parent = root
    child.exception(message, *args, exc_info=exc) if exc else child.error(message, *args)
    return stream.getvalue()


def test_grpc_wire_bytes_are_logged_as_their_length_without_traceback() -> None:
    try:
        (KEY.encode() + b"\xff").decode()
    except UnicodeDecodeError as exc:
        out = _logged("grpc._cython.cygrpc", "Invalid encoding on %s", KEY.encode() + b"\xff", exc=exc)
    assert out == f"WARNING grpc._cython.cygrpc Invalid encoding on <{len(KEY) + 1} bytes, not logged>\n"


def test_our_records_are_redacted_in_message_args_and_traceback() -> None:
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError as exc:
        out = _logged("server.x", "call with %s", f"x-api-key={KEY}", exc=exc)
    assert "Traceback" in out and "ValueError" in out
    assert KEY[4:] not in out and JWT.split(".")[1] not in out


def test_log_messages_are_bounded() -> None:
    record = logging.LogRecord("server.x", logging.INFO, __file__, 1, "%s", ("y" * 100_000,), None)
    RedactingFilter().filter(record)
    # The one truncation of the server (server.errors.bounded): the head, then the total length.
    assert record.getMessage() == "y" * MAX_LOG_MESSAGE_CHARS + "… (100000 characters)"
    assert record.getMessage() == bounded("y" * 100_000, MAX_LOG_MESSAGE_CHARS)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        *[("trace-abc-123", True), ("4bf92f3577b34da6a3ce929d0e0e4736", True), ("svc:a.b_c-1", True)],
        *[("a b c", False), ("x" * 129, False), ('id" code=OK', False), ("caf\u00e9", False), ("", False)],
    ],
)
def test_request_id_is_kept_only_when_safe(sent, kept) -> None:
    got = request_id_of([("x-request-id", sent)])
    assert (got == sent) is kept
    if not kept:
        assert len(got) == 32 and int(got, 16) >= 0
    assert len(request_id_of(None)) == 32


def test_bounded_cuts_with_the_total_length() -> None:
    assert bounded("short") == "short"
    cut = bounded("z" * 1_000_000)
    assert cut == "z" * MAX_ECHO_CHARS + "… (1000000 characters)"


def test_rich_status_bounds_the_message_and_every_detail_string() -> None:
    huge = "q" * 2**20
    violation = error_details_pb2.BadRequest.FieldViolation(field="f", description=huge)
    info = error_details_pb2.ErrorInfo(reason="R", metadata={"echo": huge})
    detail = error_details_pb2.BadRequest(field_violations=[violation])
    status = rich_status(grpc.StatusCode.INVALID_ARGUMENT, huge, [detail, info])
    assert len(status.SerializeToString()) < 2000
    assert status.message.endswith(f"({2**20} characters)")
    assert len(detail.field_violations[0].description) == 2**20  # the caller's object is left as it was
    error = status_of_error(InvalidInput("options.reference_date", f"got {huge!r}"))
    assert len(error.message) < MAX_ECHO_CHARS + 40


def test_metrics_host_is_loopback_whatever_the_grpc_host() -> None:
    config = load_config(["--host", "0.0.0.0", "--insecure", "true"], {})
    assert config.metrics_host == "127.0.0.1"
    assert not config.reuse_port
    config = load_config(["--metrics-host", "0.0.0.0"], {"DATALID_REUSE_PORT": "true"})
    assert config.metrics_host == "0.0.0.0" and config.reuse_port


def test_sighup_without_keys_file_only_logs(caplog) -> None:
    config = load_config([], {})
    with caplog.at_level(logging.INFO, logger="server.app"):
        on_hangup(config, None)()
    assert "SIGHUP: no API keys file in use, nothing to reload" in caplog.text


def test_rendered_envoy_config_logs_no_query_and_limits_the_path(tmp_path) -> None:
    rendered = render_config(SidecarConfig(max_path_bytes=8192), tmp_path / "set.pb")
    config = yaml.safe_load(rendered)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    access_format = hcm["access_log"][0]["typed_config"]["log_format"]["text_format_source"]["inline_string"]
    assert "%PATH(NQ:ORIG_OR_PATH):256%" in access_format and ":PATH)%" not in access_format
    first = hcm["http_filters"][0]
    assert first["name"] == "envoy.filters.http.lua"
    lua = first["typed_config"]["default_source_code"]["inline_string"]
    assert "local MAX_PATH_BYTES = 8192\n" in lua and '"414"' in lua and "x-request-id" in lua
