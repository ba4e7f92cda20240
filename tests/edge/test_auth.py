"""Auth over gRPC against the real edge server: API keys, JWT (HS256, RS256), scopes, public methods."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import jwt
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from datalid.v1 import admin_service_pb2, admin_service_pb2_grpc, types_pb2
from server.config import ConfigError, load_config
from server.edge.auth import Authenticator, AuthError, hash_key, load_keys, required_scope
from server.edge.interceptors.auth import AuthInterceptor, DrainLimits
from server.edge.interceptors.malformed import MalformedRequest
from tests.conftest import REPO_ROOT, ServerProcess, serving
from tests.edge.conftest import AUDIENCE, ISSUER, _create_key

_INFO = admin_service_pb2.GetServerInfoRequest()


@pytest.fixture(scope="module")
def admin(edge_server):
    with grpc.insecure_channel(edge_server.target) as channel:
        yield admin_service_pb2_grpc.AdminServiceStub(channel), channel


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def _token(secrets, alg: str = "HS256", **overrides) -> str:
    now = int(time.time())
    claims = {"sub": "svc-a", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "scope": "process jobs"}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    key = secrets.hs256_secret if alg == "HS256" else secrets.rsa_private_pem
    return jwt.encode(claims, key, algorithm=alg)


@pytest.mark.slow
def test_api_key_in_x_api_key_and_bearer(admin, secrets) -> None:
    stub, _ = admin
    assert (
        stub.GetServerInfo(_INFO, metadata=[("x-api-key", secrets.keys["app"])], timeout=30).name == "datalid"
    )
    bearer = [("authorization", f"Bearer {secrets.keys['app']}")]
    assert stub.GetServerInfo(_INFO, metadata=bearer, timeout=30).name == "datalid"


@pytest.mark.slow
def test_missing_or_bad_credentials_are_unauthenticated_with_details(admin) -> None:
    stub, _ = admin
    assert _code(lambda: stub.GetServerInfo(_INFO, timeout=30)) == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetServerInfo(_INFO, metadata=[("authorization", "Basic dXNlcjpwYXNz")], timeout=30)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert rpc_status.from_call(caught.value).details, "no google.rpc details"


@pytest.mark.slow
def test_missing_scope_is_permission_denied(admin, secrets) -> None:
    stub, _ = admin
    metadata = [("x-api-key", secrets.keys["app"])]
    call = lambda: stub.ListModels(admin_service_pb2.ListModelsRequest(), metadata=metadata, timeout=30)  # noqa: E731
    assert _code(call) == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.slow
@pytest.mark.parametrize("alg", ["HS256", "RS256"])
def test_jwt_is_accepted_and_scopes_come_from_the_claim(admin, secrets, alg) -> None:
    stub, _ = admin
    metadata = [("authorization", f"Bearer {_token(secrets, alg)}")]
    assert stub.GetServerInfo(_INFO, metadata=metadata, timeout=30).name == "datalid"
    # "scope" holds process and jobs, not admin.
    call = lambda: stub.ListModels(admin_service_pb2.ListModelsRequest(), metadata=metadata, timeout=30)  # noqa: E731
    assert _code(call) == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": 1_000_000},  # expired
        {"nbf": 4_000_000_000},  # not yet valid
        {"iss": "https://other.test"},
        {"aud": "someone-else"},
        {"exp": None},  # exp is required
    ],
    ids=["expired", "not-before", "issuer", "audience", "no-exp"],
)
def test_bad_jwt_is_unauthenticated(admin, secrets, overrides) -> None:
    stub, _ = admin
    metadata = [("authorization", f"Bearer {_token(secrets, **overrides)}")]
    assert (
        _code(lambda: stub.GetServerInfo(_INFO, metadata=metadata, timeout=30))
        == grpc.StatusCode.UNAUTHENTICATED
    )


@pytest.mark.slow
def test_rs256_public_key_used_as_hs256_secret_is_refused(admin, secrets) -> None:
    """The algorithm-confusion attack: an HS256 token 'signed' with the RS256 public key."""
    stub, _ = admin
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    payload = jwt.utils.base64url_encode(
        json.dumps({"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": 4_000_000_000}).encode()
    )
    signature = jwt.utils.base64url_encode(
        hmac.new(secrets.rsa_public_pem, header + b"." + payload, hashlib.sha256).digest()
    )
    token = (header + b"." + payload + b"." + signature).decode()
    metadata = [("authorization", f"Bearer {token}")]
    assert (
        _code(lambda: stub.GetServerInfo(_INFO, metadata=metadata, timeout=30))
        == grpc.StatusCode.UNAUTHENTICATED
    )


@pytest.mark.slow
def test_health_and_reflection_are_public(admin, edge_server) -> None:
    _, channel = admin
    health = health_pb2_grpc.HealthStub(channel)
    assert (
        health.Check(health_pb2.HealthCheckRequest(), timeout=30).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    grpcurl = str(Path(sys.executable).parent / "grpcurl")
    listed = subprocess.run(
        [grpcurl, "-plaintext", edge_server.target, "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "datalid.v1.ExpiryDateService" in listed.stdout


@pytest.mark.slow
def test_principal_is_in_the_access_log(admin, secrets, edge_server) -> None:
    stub, _ = admin
    stub.GetServerInfo(
        _INFO, metadata=[("x-api-key", secrets.keys["ops"]), ("x-request-id", "who-am-i")], timeout=30
    )
    edge_server.wait_for_log(re.compile(r"request_id=who-am-i .*principal=api_key:ops code=OK"), 30)


# Units: no server needed.


def test_keys_cli_stores_only_hashes(tmp_path) -> None:
    keys_file = tmp_path / "keys.yaml"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server.edge.keys", "--file", str(keys_file), *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = cli("create", "--name", "cam-1", "--scopes", "process,jobs")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    text = keys_file.read_text()
    assert key not in text and hash_key(key) in text
    assert keys_file.stat().st_mode & 0o077 == 0
    assert [(k.name, k.scopes) for k in load_keys(keys_file)] == [("cam-1", ("process", "jobs"))]
    assert cli("create", "--name", "cam-2", "--scopes", "root").returncode == 2
    assert cli("list").stdout.split() == ["cam-1", "process,jobs"]
    assert cli("revoke", "--name", "cam-1").returncode == 0
    assert load_keys(keys_file) == []


def test_authenticator_units(tmp_path) -> None:
    keys_file = tmp_path / "k.yaml"
    keys_file.write_text(
        yaml.safe_dump({"keys": [{"name": "a", "hash": hash_key("secret-a"), "scopes": ["admin"]}]})
    )
    auth = Authenticator(load_keys(keys_file))
    principal = auth.authenticate([("x-api-key", "secret-a")])
    assert (principal.id, principal.scopes) == ("api_key:a", frozenset({"admin"}))
    for metadata in (
        [],
        [("x-api-key", "secret-b")],
        [("authorization", "Bearer ")],
        [("authorization", "x")],
    ):
        with pytest.raises(AuthError):
            auth.authenticate(metadata)


def test_scope_map() -> None:
    assert required_scope("/grpc.health.v1.Health/Check") == ""
    assert required_scope("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") == ""
    assert required_scope("/datalid.v1.ExpiryDateService/Process") == "process"
    assert required_scope("/datalid.v1.JobService/CreateJob") == "jobs"
    assert required_scope("/datalid.v1.AdminService/GetStats") == "admin"
    assert required_scope("/datalid.v1.AdminService/SomethingNew") is None  # closed until mapped


def test_auth_default_and_the_loopback_rule(tmp_path) -> None:
    assert not load_config([], {}).auth_required  # loopback, nothing configured: make run works
    keys = tmp_path / "keys.yaml"
    assert load_config(["--api-keys-file", str(keys)], {}).auth_required
    with pytest.raises(ConfigError, match="not loopback"):
        load_config(["--host", "0.0.0.0"], {})
    assert load_config(["--host", "0.0.0.0", "--insecure", "true"], {}).host == "0.0.0.0"
    assert load_config(["--host", "0.0.0.0"], {"DATALID_API_KEYS_FILE": str(keys)}).auth_required
    with pytest.raises(ConfigError, match="auth=required needs"):
        load_config([], {"DATALID_AUTH": "required"})
    with pytest.raises(ConfigError, match="jwt_issuer"):
        load_config(["--jwt-secret-file", str(keys)], {})


def test_server_refuses_non_loopback_without_auth() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "server", "--host", "0.0.0.0", "--port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "--insecure" in completed.stderr


def _info_status(stub: admin_service_pb2_grpc.AdminServiceStub, key: str) -> grpc.StatusCode:
    try:
        stub.GetServerInfo(_INFO, metadata=[("x-api-key", key)], timeout=30)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.slow
def test_sighup_reloads_the_keys_file_and_a_broken_file_changes_nothing(tmp_path) -> None:
    keys_file = tmp_path / "keys.yaml"
    first = _create_key(keys_file, "first", "process,jobs,admin")
    env = {"DATALID_AUTH": "required", "DATALID_API_KEYS_FILE": str(keys_file), "DATALID_METRICS_PORT": "-1"}
    with (
        contextlib.contextmanager(serving)(ServerProcess(env=env)) as process,
        grpc.insecure_channel(process.target) as channel,
    ):
        stub = admin_service_pb2_grpc.AdminServiceStub(channel)
        second = _create_key(keys_file, "second", "process,jobs,admin")
        assert _info_status(stub, second) == grpc.StatusCode.UNAUTHENTICATED  # not read yet
        assert process.process is not None
        process.process.send_signal(signal.SIGHUP)
        process.wait_for_log(re.compile(r"reloaded 2 API keys"), 30)
        assert _info_status(stub, second) == _info_status(stub, first) == grpc.StatusCode.OK

        keys_file.write_text("keys: [unterminated")
        process.process.send_signal(signal.SIGHUP)
        process.wait_for_log(re.compile(r"API keys not reloaded, the 2 keys in force stay: .*not YAML"), 30)
        assert _info_status(stub, second) == grpc.StatusCode.OK


# Refused client streams are read before the refusal (server/edge/interceptors/auth.py DrainLimits).
_STREAM_METHOD = "/datalid.v1.ExpiryDateService/ProcessBatch"


class _Signal(logging.Handler):
    """Sets ``event`` when the auth interceptor logs an unauthenticated call (it then reads the stream)."""

    def __init__(self, event: asyncio.Event) -> None:
        super().__init__()
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("unauthenticated call"):
            self.event.set()


async def _never_served(requests, context) -> bytes:
    raise AssertionError("an unauthenticated call reached the handler")


async def _second_refused_while_the_first_is_read() -> tuple[grpc.StatusCode, bool, grpc.StatusCode]:
    interceptor = AuthInterceptor(Authenticator([]), DrainLimits(max_s=120, max_concurrent=1))
    server = grpc.aio.server(interceptors=[interceptor])
    handler = grpc.stream_unary_rpc_method_handler(_never_served)
    service = grpc.method_handlers_generic_handler("datalid.v1.ExpiryDateService", {"ProcessBatch": handler})
    server.add_generic_rpc_handlers((service,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    draining = asyncio.Event()
    signal_handler = _Signal(draining)
    auth_logger = logging.getLogger("server.edge.interceptors.auth")
    auth_logger.addHandler(signal_handler)
    level = auth_logger.level
    auth_logger.setLevel(logging.INFO)
    release = asyncio.Event()

    async def held_open():
        yield b"request"
        await release.wait()

    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            batch = channel.stream_unary(_STREAM_METHOD)
            first = asyncio.ensure_future(batch(held_open(), timeout=120))
            await asyncio.wait_for(draining.wait(), 30)  # the first refusal is reading its stream
            # Hang guard only: without the cap the second call waits to be read like the first.
            second_code = await _code_of(asyncio.wait_for(batch(held_open(), timeout=120), 30))
            first_still_read = not first.done()
            release.set()
            return second_code, first_still_read, await _code_of(first)
    finally:
        auth_logger.removeHandler(signal_handler)
        auth_logger.setLevel(level)
        release.set()
        await server.stop(None)


async def _code_of(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    except TimeoutError:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.OK


def test_refused_streams_beyond_the_drain_cap_are_refused_at_once() -> None:
    second, first_still_read, first = asyncio.run(_second_refused_while_the_first_is_read())
    assert second == grpc.StatusCode.UNAUTHENTICATED
    assert first_still_read, "the second refusal waited for the first stream to be read"
    assert first == grpc.StatusCode.UNAUTHENTICATED


async def _consumed(requests: list, limits: DrainLimits) -> int:
    taken = 0

    async def stream():
        nonlocal taken
        for request in requests:
            taken += 1
            yield request

    await AuthInterceptor(None, limits)._drain(stream())
    return taken


def test_draining_counts_undecodable_requests_by_their_size() -> None:
    limits = DrainLimits(max_s=60, max_bytes=1000)
    garbage = [MalformedRequest("datalid.v1.ProcessRequest", 400)] * 10
    assert asyncio.run(_consumed(garbage, limits)) == 3  # 1200 bytes read: past the bound
    requests = [types_pb2.ProcessRequest(image=b"x" * 397)] * 10  # 400 bytes each on the wire
    assert asyncio.run(_consumed(requests, limits)) == 3
    assert DrainLimits().max_bytes == 1024 * 1024
