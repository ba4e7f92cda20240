"""TLS with certificates made by the test (tests/certs.py): the gRPC port, mutual TLS, and Envoy's
REST listener and its connection to the server, all real processes."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from datalid_client import Client
from datalid_client.cli import main
from tests.certs import Pki, make_pki
from tests.conftest import ServerProcess, failed_start, serving
from tests.edge.conftest import SidecarProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _tls_env(pki: Pki, mutual: bool) -> dict[str, str]:
    env = {"DATALID_TLS_CERT_FILE": str(pki.server_cert), "DATALID_TLS_KEY_FILE": str(pki.server_key)}
    if mutual:
        env["DATALID_TLS_CLIENT_CA_FILE"] = str(pki.ca)
    return env


def _credentials(pki: Pki, with_client_cert: bool) -> grpc.ChannelCredentials:
    if not with_client_cert:
        return grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=pki.client_key.read_bytes(),
        certificate_chain=pki.client_cert.read_bytes(),
    )


@pytest.fixture(scope="module")
def mtls_server(pki: Pki) -> Iterator[ServerProcess]:
    process = ServerProcess(env=_tls_env(pki, mutual=True), channel_credentials=_credentials(pki, True))
    yield from serving(process)


def _health(target: str, credentials: grpc.ChannelCredentials | None) -> int:
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    with channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status


def test_the_grpc_port_serves_mutual_tls(mtls_server: ServerProcess, pki: Pki) -> None:
    assert _health(mtls_server.target, _credentials(pki, True)) == health_pb2.HealthCheckResponse.SERVING
    for refused in (None, _credentials(pki, with_client_cert=False)):  # plaintext; TLS without a cert
        with pytest.raises(grpc.RpcError) as caught:
            _health(mtls_server.target, refused)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    with Client(mtls_server.target, credentials=_credentials(pki, True)) as client:
        assert client.health() == "SERVING"


def test_a_tls_server_without_client_ca_takes_any_tls_caller(pki: Pki) -> None:
    process = ServerProcess(env=_tls_env(pki, mutual=False), channel_credentials=_credentials(pki, False))
    for server in serving(process):
        assert _health(server.target, _credentials(pki, False)) == health_pb2.HealthCheckResponse.SERVING


def test_an_unreadable_certificate_stops_the_server_naming_it(pki: Pki, tmp_path: Path) -> None:
    env = {**_tls_env(pki, mutual=False), "DATALID_TLS_KEY_FILE": str(tmp_path / "missing.key")}
    completed = failed_start(env)
    assert completed.returncode == 1
    assert f"cannot read tls_key_file {tmp_path / 'missing.key'}" in completed.stderr


def _https(url: str, pki: Pki, with_client_cert: bool) -> tuple[int, dict]:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if with_client_cert:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    with urllib.request.urlopen(url, context=context, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_envoy_serves_https_with_mutual_tls_and_speaks_mutual_tls_to_the_server(
    mtls_server: ServerProcess, pki: Pki
) -> None:
    sidecar = SidecarProcess()
    sidecar.upstream = mtls_server.target
    sidecar.extra_args = (
        "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-client-ca", str(pki.ca),
        "--upstream-tls-ca", str(pki.ca),
        "--upstream-tls-cert", str(pki.client_cert), "--upstream-tls-key", str(pki.client_key),
    )  # fmt: skip
    sidecar.start()
    try:
        base = f"https://127.0.0.1:{sidecar.port}"
        status, body = 0, {}
        for _ in range(150):  # Envoy's first health check of the server (over mutual TLS)
            try:
                status, body = _https(base + "/v1/info", pki, with_client_cert=True)
                break
            except urllib.error.HTTPError as error:
                assert error.code == 503, error.read()
                time.sleep(0.2)
        assert status == 200 and body["name"] == "datalid"
        # No client certificate: refused in the handshake (TLS 1.3 says so at the first read).
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _https(base + "/healthz", pki, with_client_cert=False)
    finally:
        assert sidecar.stop() == 0


def test_the_cli_speaks_mutual_tls(
    mtls_server: ServerProcess, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--target", mtls_server.target, "--ca-file", str(pki.ca)]
    client_cert = ["--cert-file", str(pki.client_cert), "--key-file", str(pki.client_key)]
    assert main(["info", "--json", *target, *client_cert], environ={}) == 0
    assert '"ready": true' in capsys.readouterr().out
    assert main(["info", *target], environ={}) == 1, "no client certificate: refused"


def test_workers_behind_envoy_serve_mutual_tls(pki: Pki) -> None:
    """With --workers, Envoy holds the port and the certificates; the workers listen on loopback."""
    process = ServerProcess(
        args=("--workers", "2"), env=_tls_env(pki, mutual=True), channel_credentials=_credentials(pki, True)
    )
    for server in serving(process):
        assert _health(server.target, _credentials(pki, True)) == health_pb2.HealthCheckResponse.SERVING
        for refused in (None, _credentials(pki, with_client_cert=False)):
            with pytest.raises(grpc.RpcError) as caught:
                _health(server.target, refused)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_workers_with_an_unreadable_certificate_stop_naming_it(pki: Pki, tmp_path: Path) -> None:
    env = {
        **_tls_env(pki, mutual=False),
        "DATALID_TLS_KEY_FILE": str(tmp_path / "missing.key"),
        "DATALID_WORKERS": "2",
    }
    completed = failed_start(env)
    assert completed.returncode == 1
    assert f"cannot read tls_key_file {tmp_path / 'missing.key'}" in completed.stderr
