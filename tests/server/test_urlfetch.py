"""Safe URL fetching against a local https server with a certificate made for the test."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline import InvalidInput
from server.urlfetch import UrlFetcher, UrlPolicy

IMAGE = b"\xff\xd8\xff" + b"x" * 1000


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/label.jpg": (200, {}, IMAGE),
            "/big.jpg": (200, {}, IMAGE * 10),
            "/missing.jpg": (404, {}, b""),
            "/to-label": (302, {"Location": "/label.jpg"}, b""),
            "/to-http": (302, {"Location": f"http://127.0.0.1:{self.server.server_port}/label.jpg"}, b""),
            "/to-private": (302, {"Location": "https://10.1.2.3/label.jpg"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
        }
        status, headers, body = routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    cert, key = _certificate(tmp_path_factory.mktemp("tls"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}", cert
    server.shutdown()
    server.server_close()


def _fetch(fetcher: UrlFetcher, url: str) -> bytes:
    return asyncio.run(fetcher.fetch(url))


def _allowed(cert: Path, **policy: object) -> UrlFetcher:
    return UrlFetcher(UrlPolicy(allow_hosts=("127.0.0.1",), ca_file=cert, **policy))  # type: ignore[arg-type]


def test_allow_listed_https_host_is_fetched_and_redirects_followed(https_server) -> None:
    base, cert = https_server
    fetcher = _allowed(cert)
    assert _fetch(fetcher, base + "/label.jpg") == IMAGE
    assert _fetch(fetcher, base + "/to-label") == IMAGE


def test_loopback_is_refused_unless_allow_listed(https_server) -> None:
    base, cert = https_server
    with pytest.raises(InvalidInput, match="private, loopback or link-local") as caught:
        _fetch(UrlFetcher(UrlPolicy(ca_file=cert)), base + "/label.jpg")
    assert caught.value.field == "url"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/to-http", "scheme must be https"),
        ("/to-private", "private, loopback or link-local"),
        ("/loop", "more than 3 redirects"),
        ("/missing.jpg", "HTTP 404"),
        ("/big.jpg", "more than the limit"),
    ],
)
def test_redirects_are_rechecked_and_limits_hold(https_server, path: str, message: str) -> None:
    base, cert = https_server
    with pytest.raises(InvalidInput, match=message):
        _fetch(_allowed(cert, max_bytes=5000), base + path)


def test_untrusted_certificate_is_refused(https_server) -> None:
    base, _ = https_server
    with pytest.raises(InvalidInput, match="TLS failed"):
        _fetch(UrlFetcher(UrlPolicy(allow_hosts=("127.0.0.1",))), base + "/label.jpg")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/a.jpg", "scheme must be https"),
        ("file:///etc/passwd", "scheme must be https"),
        ("https:///nohost", "has no host"),
        ("https://user:pw@example.com/a.jpg", "credentials"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
        ("https://10.0.0.1/a.jpg", "private, loopback or link-local"),
        ("https://[::1]/a.jpg", "private, loopback or link-local"),
        ("https://0.0.0.0/a.jpg", "private, loopback or link-local"),
    ],
)
def test_refusal_rules(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _fetch(UrlFetcher(UrlPolicy()), url)


def test_allow_list_takes_cidr_networks() -> None:
    fetcher = UrlFetcher(UrlPolicy(allow_hosts=("10.0.0.0/8",)))
    assert fetcher.resolve(fetcher.check("https://10.9.8.7/a.jpg")) == "10.9.8.7"
    with pytest.raises(InvalidInput):
        fetcher.resolve(fetcher.check("https://192.168.1.1/a.jpg"))
