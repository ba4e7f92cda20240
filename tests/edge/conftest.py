"""A server with auth, rate limits and metrics on, and a real Envoy sidecar in front of it."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import REPO_ROOT, ServerProcess, serving

ISSUER = "https://issuer.test"
AUDIENCE = "datalid-tests"
CORS_ORIGIN = "https://app.example.com"
_SIDECAR_LISTENING = re.compile(r"datalid sidecar listening on (\S+):(\d+)")
_METRICS = re.compile(r"metrics on http://(\S+):(\d+)/metrics")


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> HttpResponse:
    """One HTTP request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return HttpResponse(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def _create_key(keys_file: Path, name: str, scopes: str) -> str:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.edge.keys",
            "--file",
            str(keys_file),
            "create",
            "--name",
            name,
            "--scopes",
            scopes,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return completed.stdout.strip()


@dataclass
class Secrets:
    keys_file: Path
    keys: dict[str, str]
    hs256_secret: bytes
    rsa_private_pem: bytes
    rsa_public_pem: bytes


@pytest.fixture(scope="session")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Secrets:
    """API keys made with the real `python -m server.edge.keys`, an HS256 secret and an RSA key pair."""
    root = tmp_path_factory.mktemp("secrets")
    keys_file = root / "keys.yaml"
    keys = {
        "ops": _create_key(keys_file, "ops", "process,jobs,admin"),
        "app": _create_key(keys_file, "app", "process,jobs"),
        "burst": _create_key(keys_file, "burst", "process"),
        "metrics": _create_key(keys_file, "metrics", "process"),
    }
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Secrets(keys_file, keys, base64.b64encode(b"0123456789abcdef" * 4), private_pem, public_pem)


@pytest.fixture(scope="session")
def edge_server(secrets: Secrets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the edge tests: auth required (keys and JWT), rate limit, metrics on a free port."""
    root = tmp_path_factory.mktemp("jwt")
    (root / "hs256").write_bytes(secrets.hs256_secret)
    (root / "rs256.pem").write_bytes(secrets.rsa_public_pem)
    env = {
        "DATALID_AUTH": "required",
        "DATALID_API_KEYS_FILE": str(secrets.keys_file),
        "DATALID_JWT_SECRET_FILE": str(root / "hs256"),
        "DATALID_JWT_PUBLIC_KEY_FILE": str(root / "rs256.pem"),
        "DATALID_JWT_ISSUER": ISSUER,
        "DATALID_JWT_AUDIENCE": AUDIENCE,
        # Generous for every key but the one the burst test exhausts on purpose.
        "DATALID_RATE_LIMIT_RPS": "2",
        "DATALID_RATE_LIMIT_BURST": "40",
    }
    yield from serving(ServerProcess(env=env))


@pytest.fixture(scope="session")
def metrics_url(edge_server: ServerProcess) -> str:
    match = edge_server.wait_for_log(_METRICS, 60)
    return f"http://{match.group(1)}:{match.group(2)}/metrics"


class SidecarProcess(ServerProcess):
    """`python -m server.rest.sidecar` on free ports, in front of ``upstream``."""

    upstream: str = ""
    extra_args: tuple[str, ...] = ()

    def start(self) -> SidecarProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.rest.sidecar",
                "--upstream",
                self.upstream,
                "--listen",
                "127.0.0.1:0",
                "--admin-port",
                "0",
                "--cors-origins",
                CORS_ORIGIN,
                *self.extra_args,
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        self.port = int(self.wait_for_log(_SIDECAR_LISTENING, 60).group(2))
        return self


def wait_healthy(sidecar: SidecarProcess) -> str:
    """Waits until Envoy's gRPC health check of the upstream passes (it answers 503 until then);
    returns the sidecar's base URL."""
    base = f"http://127.0.0.1:{sidecar.port}"
    deadline = time.monotonic() + 60
    while http("GET", base + "/healthz").status != 200:
        log = "\n".join(sidecar.log)
        assert time.monotonic() < deadline, f"Envoy never saw the server healthy:\n{log}"
        time.sleep(0.2)
    return base


@pytest.fixture(scope="session")
def sidecar(edge_server: ServerProcess) -> Iterator[SidecarProcess]:
    """A real Envoy transcoding REST to the edge server (its log: Envoy's access log); waits until
    Envoy sees the server healthy."""
    sidecar = SidecarProcess()
    sidecar.upstream = edge_server.target
    sidecar.start()
    try:
        wait_healthy(sidecar)
        yield sidecar
    finally:
        # Also when start-up failed: a leaked Envoy would outlive the test run.
        code = sidecar.stop()
    assert code == 0, "\n".join(sidecar.log[-50:])


@pytest.fixture(scope="session")
def rest(sidecar: SidecarProcess) -> str:
    """Base URL of the REST sidecar."""
    return f"http://127.0.0.1:{sidecar.port}"
