"""Safe URL fetching against a local https server with a certificate made for the test."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import InvalidInput, Overloaded, ShuttingDown
from server.errors import bounded
from server.fetch.fetcher import UrlFetcher, UrlPolicy
from server.fetch.netpolicy import AllowList, embedded_ipv4, is_public_address
from server.fetch.urls import SHOWN_CHARS, parse_url, quoted
from tests.certs import make_pki

IMAGE = b"\xff\xd8\xff" + b"x" * 1000


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
    pki = make_pki(tmp_path_factory.mktemp("tls"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}", pki.ca
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
    assert asyncio.run(fetcher.resolve(fetcher.check("https://10.9.8.7/a.jpg"))) == "10.9.8.7"
    with pytest.raises(InvalidInput):
        asyncio.run(fetcher.resolve(fetcher.check("https://192.168.1.1/a.jpg")))


# --- Special-purpose addresses, in every spelling (refused before any connection) ---------------

_REFUSED_ADDRESSES = [
    # IPv4 special-purpose registry, multicast, broadcast
    "0.0.0.0",
    "0.1.2.3",
    "10.1.2.3",
    "100.64.0.1",
    "127.0.0.1",
    "127.9.9.9",
    "169.254.169.254",
    "172.16.0.1",
    "192.0.0.1",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    # IPv6 special-purpose registry
    "::",
    "::1",
    "100::1",
    "2001:db8::1",
    "3fff::1",
    "5f00::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    # IPv6 forms that carry 127.0.0.1 (or another refused IPv4 address)
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:a9fe:a9fe",  # IPv4-mapped 169.254.169.254
    "::ffff:0:7f00:1",  # SIIT IPv4-translated
    "64:ff9b::7f00:1",  # NAT64 well-known prefix
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::808:808",  # local-use NAT64, refused whatever it carries
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:808:808::1",  # 6to4, refused whatever it carries
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001::1",  # Teredo
]
_PUBLIC_ADDRESSES = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # IPv4-mapped public address
    "64:ff9b::808:808",  # NAT64 of a public address (what DNS64 answers)
]


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("address", _REFUSED_ADDRESSES)
def test_special_purpose_addresses_are_refused_in_every_form(address: str) -> None:
    fetcher = UrlFetcher(UrlPolicy())
    assert not is_public_address(ipaddress.ip_address(address))
    with pytest.raises(InvalidInput, match="special-purpose") as caught:
        asyncio.run(fetcher.resolve(fetcher.check(f"https://{_literal(address)}/a.jpg")))
    assert caught.value.field == "url"


@pytest.mark.parametrize("address", ["127.0.0.2", "::1", "::ffff:10.0.0.1", "169.254.169.254"])
def test_check_refuses_a_special_purpose_ip_literal_without_resolving(address: str) -> None:
    """CreateJob checks a URL job's URL with ``check`` alone: an IP literal it would never fetch
    is refused there, so the job is not queued to fail later."""
    fetcher = UrlFetcher(UrlPolicy(allow_http=True, allow_hosts=("127.0.0.1",)))
    with pytest.raises(InvalidInput, match="special-purpose") as caught:
        fetcher.check(f"http://{_literal(address)}/a.jpg")
    assert caught.value.field == "url"
    assert fetcher.check("http://127.0.0.1/a.jpg").host == "127.0.0.1"


@pytest.mark.parametrize("address", _PUBLIC_ADDRESSES)
def test_public_addresses_are_allowed(address: str) -> None:
    # resolve() only: an IP literal needs no DNS, and nothing is connected to.
    fetcher = UrlFetcher(UrlPolicy())
    assert is_public_address(ipaddress.ip_address(address))
    resolved = asyncio.run(fetcher.resolve(fetcher.check(f"https://{_literal(address)}/a.jpg")))
    assert ipaddress.ip_address(resolved) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::127.0.0.1", "127.0.0.1"),
        ("::ffff:0:7f00:1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b:1::a00:1", "10.0.0.1"),
        ("2002:c0a8:101::1", "192.168.1.1"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
        ("2606:4700:4700::1111", None),
    ],
)
def test_embedded_ipv4_address_is_found(address: str, carried: str | None) -> None:
    found = embedded_ipv4(ipaddress.IPv6Address(address))
    assert (str(found) if found else None) == carried


def test_allow_list_does_not_widen_to_other_spellings() -> None:
    fetcher = UrlFetcher(UrlPolicy(allow_hosts=("127.0.0.1",)))
    assert asyncio.run(fetcher.resolve(fetcher.check("https://127.0.0.1/a.jpg"))) == "127.0.0.1"
    for other in ("[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]", "[::127.0.0.1]", "127.0.0.2"):
        with pytest.raises(InvalidInput, match="special-purpose"):
            asyncio.run(fetcher.resolve(fetcher.check(f"https://{other}/a.jpg")))


# --- Malformed URLs: INVALID_ARGUMENT naming url, with a bounded echo --------------------------

_LONG_LABEL = "a" * 1500


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "is empty"),
        ("https://a..b/", "not a valid host name"),
        ("https://.example.com/", "not a valid host name"),
        ("https://" + "a" * 64 + ".com/", "not a valid host name"),
        (f"https://{_LONG_LABEL}.com/", "not a valid host name"),
        ("https://" + ".".join(["a" * 60] * 5) + "/", "not a valid host name"),
        ("https://ex_ample.com/", "not a valid host name"),
        ("https://xn--zz.com/", "not a valid host name"),
        ("https://exa%6dple.com/", "not a valid host name"),
        ("https://\u2603\u0301\u200d.com/", "not a valid host name"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com:-1/", "not a valid URL"),
        ("https://example.com:0/", "port must be in 1..65535"),
        ("https://example.com:" + "9" * 1500 + "/", "not a valid URL"),
        ("https://example.com:http/", "not a valid URL"),
        ("https://[::1/", "not a valid URL"),
        ("https://[not-ipv6]/", "not a valid URL"),
        ("https://[fe80::1%25eth0]/", "zone"),
        ("https://user@example.com/", "credentials"),
        ("https://@example.com/", "credentials"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com\\@127.0.0.1/", "backslash"),
        ("https://exa\x00mple.com/", "control character"),
        ("https://example.com/a b.jpg", "space"),
        ("https://example.com/a.jpg\r\nX-Injected: 1", "control character"),
        ("\thttps://example.com/a.jpg", "control character"),
        ("https://example.com/" + "a" * 2100, "more than the limit of 2048"),
        ("https://2130706433/", "not a valid IPv4 address"),
        ("https://0x7f.1/", "not a valid IPv4 address"),
        ("https://127.1/", "not a valid IPv4 address"),
        ("https://010.0.0.1/", "not a valid IPv4 address"),
        ("https://1.2.3.4.5/", "not a valid IPv4 address"),
        ("https://\uff11\uff12\uff17\u3002\uff11/", "not a valid IPv4 address"),  # full-width 127.1
        ("ftp://example.com/a.jpg", "scheme must be https"),
        ("//example.com/a.jpg", "scheme must be https"),
        ("https:///a.jpg", "has no host"),
    ],
)
def test_malformed_urls_are_refused_naming_url_with_a_bounded_message(url: str, message: str) -> None:
    fetcher = UrlFetcher(UrlPolicy())
    with pytest.raises(InvalidInput, match=message) as caught:
        asyncio.run(fetcher.fetch(url))
    assert caught.value.field == "url"
    # At most SHOWN_CHARS of the input (quoted, its length told), whatever the caller sent.
    assert len(caught.value.description) < SHOWN_CHARS + 150
    assert _LONG_LABEL[: SHOWN_CHARS + 1] not in caught.value.description


def test_an_echoed_host_is_cut_after_quoting_so_escapes_cannot_lengthen_it() -> None:
    # A zero-width joiner is quoted as six characters (\u200d): cut before quoting, 100 of them
    # would be 600 characters of message.
    host = "a\u200d" * 300 + ".com"
    with pytest.raises(InvalidInput, match="not a valid host name") as caught:
        parse_url(f"https://{host}/", ("https",))
    assert quoted(host) == bounded(repr(host), SHOWN_CHARS)
    assert quoted(host) in caught.value.description
    assert len(caught.value.description) < 2 * SHOWN_CHARS + 100  # the host and the IDNA reason
    assert quoted("short.example") == "'short.example'"


def test_the_allow_list_matches_names_and_networks_as_written() -> None:
    allow = AllowList.of(("Photos.Example.", "10.0.0.0/8", "192.168.1.7"))
    loopback = ipaddress.ip_address("127.0.0.1")
    assert allow.names == frozenset({"photos.example"})
    assert allow.admits("photos.example", loopback)  # a listed name may resolve anywhere
    assert allow.admits("other.example", ipaddress.ip_address("10.200.0.1"))
    assert allow.admits("other.example", ipaddress.ip_address("192.168.1.7"))
    assert not allow.admits("other.example", ipaddress.ip_address("192.168.1.8"))
    assert not allow.admits("other.example", ipaddress.ip_address("::ffff:10.0.0.1"))  # another spelling
    assert not allow.admits("other.example", loopback)
    assert allow.admits("other.example", ipaddress.ip_address("8.8.8.8"))  # public needs no listing
    assert AllowList.of(()).admits("photos.example", ipaddress.ip_address("8.8.8.8"))


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://EXAMPLE.com./a.jpg#frag", "https://example.com/a.jpg"),
        ("https://Bücher.example/ä.jpg?q=ü", "https://xn--bcher-kva.example/%C3%A4.jpg?q=%C3%BC"),
        ("https://example.com:443", "https://example.com/"),
        ("https://[2606:4700::1]:8443/a", "https://[2606:4700::1]:8443/a"),
        ("https://8.8.8.8/a%20b.jpg", "https://8.8.8.8/a%20b.jpg"),
        ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/a", "https://127.0.0.1/a"),  # full-width digits
    ],
)
def test_well_formed_urls_are_normalised(url: str, normalised: str) -> None:
    # 127.0.0.1 allowed: check() judges IP literals against the policy too.
    assert UrlFetcher(UrlPolicy(allow_hosts=("127.0.0.1",))).check(url).url == normalised


# --- Deadlines, cancellation, the concurrency bound and shutdown -------------------------------


class _DripServer:
    """Loopback HTTP server that sends headers, then one body byte every ``every_s`` seconds
    until the client goes away; it records when each connection opened and closed."""

    def __init__(self, every_s: float = 0.1) -> None:
        self.every_s = every_s
        self.opened: list[float] = []
        self.closed: list[float] = []
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/drip.png"

    async def __aenter__(self) -> _DripServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        self.opened.append(loop.time())
        self._changed.set()
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
            while True:
                try:
                    if not await asyncio.wait_for(reader.read(1), self.every_s):
                        break  # end of stream: the client closed
                except TimeoutError:
                    writer.write(b"x")
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        self.closed.append(loop.time())
        self._changed.set()
        writer.close()

    async def wait(self, opened: int = 0, closed: int = 0, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.opened) < opened or len(self.closed) < closed:
                self._changed.clear()
                await self._changed.wait()


# How long a test waits for an event before it counts as hung: 20 times the 0.5 s deadlines, so a
# slow machine never fails a test that would pass, and under the 30 s ones, so a socket that only
# that deadline would close fails the cancellation and shutdown tests.
_HANG_GUARD_S = 10.0


def _http_fetcher(**policy: object) -> UrlFetcher:
    return UrlFetcher(UrlPolicy(allow_http=True, allow_hosts=("127.0.0.1",), **policy))  # type: ignore[arg-type]


def test_a_dripping_server_is_cut_off_at_the_deadline_and_its_socket_closed() -> None:
    async def scenario() -> None:
        async with _DripServer() as drip:
            fetcher = _http_fetcher(timeout_s=0.5)
            # The server never stops sending, so only the fetch's deadline can end it; the message
            # says which limit fired, and the server then sees its one connection closed. Only
            # codes and events are judged, no clock reading (the wait is a hang guard).
            with pytest.raises(InvalidInput, match=r"longer than 0\.5 s") as caught:
                await fetcher.fetch(drip.url)
            assert caught.value.field == "url"
            assert len(drip.opened) == 1
            await drip.wait(closed=1, timeout_s=_HANG_GUARD_S)
            assert len(drip.closed) == 1

    asyncio.run(scenario())


def test_a_cancelled_caller_closes_the_fetch_socket() -> None:
    async def scenario() -> None:
        async with _DripServer() as drip:
            fetcher = _http_fetcher(timeout_s=30)
            call = asyncio.create_task(fetcher.fetch(drip.url))
            await drip.wait(opened=1)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            await drip.wait(closed=1, timeout_s=_HANG_GUARD_S)

    asyncio.run(scenario())


def test_fetches_over_the_bound_are_refused_and_aclose_abandons_those_in_flight() -> None:
    async def scenario() -> None:
        async with _DripServer() as drip:
            fetcher = _http_fetcher(timeout_s=30, max_concurrent=2)
            calls = [asyncio.create_task(fetcher.fetch(drip.url)) for _ in range(2)]
            await drip.wait(opened=2)
            with pytest.raises(Overloaded) as caught:
                await fetcher.fetch(drip.url)
            assert caught.value.retry_after_s is not None and 25 < caught.value.retry_after_s <= 30
            assert len(drip.opened) == 2  # the refused one never connected
            await fetcher.aclose()
            for call in calls:
                with pytest.raises(ShuttingDown):
                    await call
            await drip.wait(closed=2, timeout_s=_HANG_GUARD_S)
            with pytest.raises(ShuttingDown):
                await fetcher.fetch(drip.url)

    asyncio.run(scenario())


def test_dns_that_never_answers_is_cut_off_at_the_deadline() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{black_hole.getsockname()[1]}"
        fetcher = UrlFetcher(UrlPolicy(timeout_s=0.5), nameservers=(address,))

        async def scenario() -> None:
            # The fetch's 0.5 s deadline ends it, not c-ares giving up (2 x 2 s): that would say
            # "does not resolve". The timeout is a hang guard only.
            async with asyncio.timeout(_HANG_GUARD_S):
                with pytest.raises(InvalidInput, match=r"longer than 0\.5 s"):
                    await fetcher.fetch("https://photo.example/label.jpg")
            await fetcher.aclose()  # the resolver's pending query ends with its event loop

        asyncio.run(scenario())
        black_hole.setblocking(False)
        assert black_hole.recv(512)  # the query went to this server, not the system's


_URL_TEXT = st.text(st.characters(codec="utf-8"), max_size=300)
_URL_PARTS = st.lists(
    st.sampled_from(
        ["https://", "http://", "[", "]", ":", "@", ".", "/", "%", "?", "#", "::ffff:", "0x", "xn--"]
    )
    | st.text(st.characters(codec="utf-8"), max_size=12),
    max_size=12,
).map("".join)


_FORM_CHECKER = UrlFetcher(UrlPolicy(allow_http=True))


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.one_of(_URL_TEXT, _URL_PARTS, _URL_PARTS.map(lambda tail: "https://" + tail)))
def test_any_text_is_a_target_or_invalid_input_naming_url(url: str) -> None:
    """Whatever a caller sends, the form check answers with a URL or InvalidInput('url'), bounded:
    never another exception, which the error table would report as INTERNAL."""
    try:
        target = _FORM_CHECKER.check(url)
    except InvalidInput as refused:
        assert refused.field == "url"
        assert len(refused.description) < SHOWN_CHARS * 4 + 150
        return
    assert target.url.isascii() and len(target.host) <= 253
    assert _FORM_CHECKER.check(target.url) == target
