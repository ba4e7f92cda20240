"""Fetches an image from a caller's URL without letting the caller reach what it should not.

The rules (same for ProcessUrl and URL jobs):

- a well-formed absolute URL of at most ``MAX_URL_CHARS`` characters: no spaces, control
  characters or backslashes, no user info, a port in 1..65535, a host that is a dotted-quad IPv4
  address, a bracketed IPv6 address without zone, or a name that IDNA 2008 (UTS 46) can encode
  (labels of 1..63 characters, 253 in all);
- https only, unless ``allow_http`` is set;
- the host's every address must be public: not in any special-purpose range of the IANA IPv4 and
  IPv6 registries (private, loopback, link-local, shared, documentation, benchmarking, reserved,
  multicast, 6to4, Teredo, ...). An IPv4-mapped (``::ffff:a.b.c.d``) or NAT64
  (``64:ff9b::a.b.c.d``) address is judged by the IPv4 address it carries. Unless the host name or
  address is in ``allow_hosts`` (names, IPs or CIDR networks, matched as written: 127.0.0.1 there
  does not admit ::ffff:127.0.0.1);
- the connection goes to the address that was checked (name kept for TLS SNI, certificate check
  and Host), so a DNS answer that changes between the check and the connect (rebinding) cannot
  redirect it;
- at most ``max_bytes`` of body (Content-Length checked first, then counted while reading);
- the whole fetch (DNS, connect, TLS, headers, body, redirects) within ``timeout_s``: when it
  passes, the socket is closed and nothing reads on;
- at most ``max_redirects`` redirects, each target checked by the same rules;
- at most ``max_concurrent`` fetches at once; more are refused at once (``pipeline.Overloaded``,
  RESOURCE_EXHAUSTED) rather than queued.

Every refusal and failure of the URL raises ``pipeline.InvalidInput`` naming the ``url`` field, so
the error table reports it as INVALID_ARGUMENT with a BadRequest detail; messages quote at most
``SHOWN_CHARS`` characters of what the caller sent.

Everything is asyncio (aiohttp for HTTP, c-ares through aiodns for DNS, whose one event thread
serves every lookup): no fetch holds a thread, and cancelling one (its deadline, the call's
deadline, the caller leaving, :meth:`UrlFetcher.aclose` at shutdown) closes its socket at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import aiodns
import aiohttp
import idna
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from pipeline import InvalidInput, Overloaded, ShuttingDown

__all__ = [
    "MAX_URL_CHARS",
    "SHOWN_CHARS",
    "UrlFetcher",
    "UrlPolicy",
    "UrlTarget",
    "embedded_ipv4",
    "is_public_address",
    "parse_url",
]

# Longer URLs are refused: 2048 is what browsers and CDNs reliably carry, and a photo's URL is short.
MAX_URL_CHARS = 2048
# Characters of the caller's input quoted in an error message (the rest is counted, not echoed).
SHOWN_CHARS = 100
# c-ares per-try timeout and tries: a resolver that does not answer is given up on within
# 2 x 2 s even when url_timeout_s is longer; the fetch's own deadline bounds it too.
_DNS_TRY_TIMEOUT_S = 2.0
_DNS_TRIES = 2
_CHUNK_BYTES = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"https": 443, "http": 80}
# WHATWG URL: a host whose last label is a number is an IPv4 address (2130706433, 0x7f.1, 127.1);
# only the dotted-quad form is accepted, so no resolver reads it differently from this check.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))

_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(*cidrs: str) -> tuple[_IpNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# The IANA IPv4 Special-Purpose Address Registry (every entry, globally reachable or not: none is
# a place for a photo), plus multicast and the deprecated 6to4 relay anycast.
_SPECIAL_V4 = _networks(
    "0.0.0.0/8",  # "this network" (RFC 791)
    "10.0.0.0/8",  # private (RFC 1918)
    "100.64.0.0/10",  # shared address space, carrier-grade NAT (RFC 6598)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, cloud metadata services
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation TEST-NET-1
    "192.31.196.0/24",  # AS112-v4
    "192.52.193.0/24",  # AMT
    "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
    "192.168.0.0/16",  # private
    "192.175.48.0/24",  # AS112 direct delegation
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation TEST-NET-2
    "203.0.113.0/24",  # documentation TEST-NET-3
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
)
# The IANA IPv6 Special-Purpose Address Registry, plus multicast, the deprecated site-local and
# IPv4-compatible ranges. Translated ranges (_TRANSLATED_V6) are not here: they are judged by the
# IPv4 address they carry.
_SPECIAL_V6 = _networks(
    "::/96",  # unspecified, loopback and deprecated IPv4-compatible (::a.b.c.d)
    "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation (RFC 8215)
    "100::/64",  # discard-only
    "100:0:0:1::/64",  # dummy prefix (RFC 9780)
    "2001::/23",  # IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID, AMT, ...
    "2001:db8::/32",  # documentation
    "2002::/16",  # 6to4: the embedded IPv4 address is a tunnel end, never checked as a host
    "2620:4f:8000::/48",  # AS112 direct delegation
    "3fff::/20",  # documentation
    "5f00::/16",  # segment routing SIDs
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "fec0::/10",  # site-local (deprecated)
    "ff00::/8",  # multicast
)
# Ranges whose last 32 bits are an IPv4 address: mapped (judged by it), NAT64 well-known prefix
# (judged by it: DNS64 answers for IPv4-only hosts come in it), and the refused compatible and
# local-use NAT64 and SIIT forms (reported by it).
_MAPPED_V6 = ipaddress.ip_network("::ffff:0:0/96")
_NAT64_V6 = ipaddress.ip_network("64:ff9b::/96")
_TRANSLATED_V6 = (_MAPPED_V6, _NAT64_V6)
_LOW32_V6 = _networks("64:ff9b::/96", "::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96")
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")


def embedded_ipv4(ip: _IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo client), if any.

    Used for reporting and for the translated forms' verdict; the tunnelling forms are refused
    whatever they carry (see ``_SPECIAL_V6``).
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client; [0] is the Teredo server
    if any(ip in net for net in _LOW32_V6):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: _IpAddress) -> bool:
    """True when ``ip`` is in no special-purpose range (see the module docstring).

    An IPv4-mapped or NAT64 address is as public as the IPv4 address it carries.
    """
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _TRANSLATED_V6):
        carried = embedded_ipv4(ip)
        return carried is not None and is_public_address(carried)
    if isinstance(ip, ipaddress.IPv4Address):
        special: tuple[_IpNetwork, ...] = _SPECIAL_V4
    else:
        # Only 2000::/3 is allocated as global unicast (IANA IPv6 Address Space); the rest, such
        # as the SIIT form ::ffff:0:a.b.c.d, is reserved, whatever Python's is_global says.
        special = _SPECIAL_V6
        if ip not in _GLOBAL_UNICAST_V6:
            return False
    # Python's own table too (is_global), so a range it learns of later is refused as well.
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in special)


@dataclass(frozen=True, kw_only=True)
class UrlPolicy:
    """Limits of URL fetching; see the module docstring."""

    allow_http: bool = False
    allow_hosts: tuple[str, ...] = ()
    max_bytes: int = 16 * 1024 * 1024
    timeout_s: float = 10.0
    max_redirects: int = 3
    # Extra CA certificates (PEM) trusted besides the system's, e.g. an internal CA.
    ca_file: Path | None = None
    # Fetches in flight at once, ProcessUrl and URL jobs together; each holds a socket for up to
    # timeout_s, so this bounds what slow or hostile servers can tie up.
    max_concurrent: int = 8


@dataclass(frozen=True)
class UrlTarget:
    """A URL that passed the form checks, in the form it is requested.

    ``host`` is ASCII (IDNA-encoded, lower case, no trailing dot) or an IP address without
    brackets; ``ip`` is set when the host is an IP literal; ``target`` is the path and query,
    ASCII, starting with ``/``.
    """

    scheme: str
    host: str
    port: int
    target: str
    ip: _IpAddress | None

    @property
    def url(self) -> str:
        """The URL as requested (no fragment, no default port)."""
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        port = "" if self.port == _DEFAULT_PORTS[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.target}"


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("url", message)


def _clip(text: str) -> str:
    """``text`` cut to ``SHOWN_CHARS`` characters for an error message, its length told instead."""
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"


def _shown(text: str) -> str:
    """``text`` quoted (escapes visible) and cut to ``SHOWN_CHARS`` characters."""
    return repr(text) if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]!r}... ({len(text)} characters)"


def _ipv6_literal(host: str) -> ipaddress.IPv6Address:
    """The address of a bracketed URL host."""
    # ipaddress accepts a zone (fe80::1%eth0); a zone names an interface of this machine.
    if "%" in host:
        raise _refuse("an IPv6 host must not carry a zone (%)")
    try:
        return ipaddress.IPv6Address(host)
    except ValueError:
        raise _refuse(f"host {_shown(host)} is not a valid IPv6 address") from None


def _ipv4_literal(name: str) -> ipaddress.IPv4Address | None:
    """The address an (IDNA-encoded) host name spells, None for a name that is not numeric."""
    if not _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(name)
    except ValueError:
        raise _refuse(
            f"host {_shown(name)} is not a valid IPv4 address (four decimal numbers, no leading zeros)"
        ) from None


def _ascii_name(host: str) -> str:
    """``host`` encoded by IDNA 2008 with UTS 46 mapping, without its trailing dot."""
    name = host[:-1] if host.endswith(".") else host
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise _refuse(f"host {_shown(host)} is not a valid host name ({_clip(str(exc))})") from None


def parse_url(url: str, schemes: tuple[str, ...]) -> UrlTarget:
    """``url`` checked for form and scheme and normalised; resolves nothing.

    Raises:
        InvalidInput: (field ``url``) the URL is malformed, too long, carries credentials, or its
            scheme is not in ``schemes``.
    """
    if not url:
        raise _refuse("is empty")
    if len(url) > MAX_URL_CHARS:
        raise _refuse(f"is {len(url)} characters long, more than the limit of {MAX_URL_CHARS}")
    if bad := _UNSAFE_CHARS.search(url):
        raise _refuse(f"contains a space, control character or backslash at position {bad.start()}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"is not a valid URL ({_clip(str(exc))})") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise _refuse(f"scheme must be {' or '.join(schemes)}, got {_shown(parts.scheme or 'none')}")
    if "@" in parts.netloc:
        raise _refuse("must not carry credentials")
    host = parts.hostname or ""
    if not host:
        raise _refuse("has no host")
    if port == 0:
        raise _refuse("port must be in 1..65535, got 0")
    ip: _IpAddress | None
    if parts.netloc.startswith("["):
        ip = _ipv6_literal(host)
        ascii_host = str(ip)
    else:
        # IDNA first: UTS 46 maps full-width digits and dots, so the numeric check sees what a
        # resolver would be asked.
        ascii_host = _ascii_name(host)
        ip = _ipv4_literal(ascii_host)
    # Non-ASCII in the path or query is sent percent-encoded as UTF-8, as browsers do.
    target = urllib.parse.quote(parts.path or "/", safe=_PRINTABLE_ASCII)
    if parts.query:
        target += "?" + urllib.parse.quote(parts.query, safe=_PRINTABLE_ASCII)
    return UrlTarget(scheme, ascii_host, port or _DEFAULT_PORTS[scheme], target, ip)


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str
    body: bytes


class UrlFetcher:
    """Applies a :class:`UrlPolicy`; ``fetch`` is safe to call concurrently from one event loop.

    Args:
        policy: the limits.
        nameservers: DNS servers ("ip" or "ip:port") asked instead of the system's (resolv.conf);
            tests point it at a loopback server.
    """

    def __init__(self, policy: UrlPolicy, nameservers: tuple[str, ...] = ()) -> None:
        self.policy = policy
        self._nameservers = nameservers
        self._allowed_names = {h.lower().rstrip(".") for h in policy.allow_hosts if not _is_network(h)}
        self._allowed_networks: list[_IpNetwork] = [
            ipaddress.ip_network(h, strict=False) for h in policy.allow_hosts if _is_network(h)
        ]
        self._ssl = ssl.create_default_context()
        if policy.ca_file is not None:
            self._ssl.load_verify_locations(cafile=str(policy.ca_file))
        self._schemes = ("https", "http") if policy.allow_http else ("https",)
        # Fetches in flight and their deadlines (event-loop time), for the bound and its retry hint.
        self._in_flight: dict[asyncio.Task[bytes], float] = {}
        self._resolver: aiodns.DNSResolver | None = None
        self._closed = False

    def check(self, url: str) -> UrlTarget:
        """The normalised URL if its form and scheme are allowed; resolves nothing.

        Raises:
            InvalidInput: (field ``url``) see :func:`parse_url`.
        """
        return parse_url(url, self._schemes)

    def _allowed_address(self, host: str, ip: _IpAddress) -> bool:
        # The allow list names addresses as written: 127.0.0.1 listed does not let ::ffff:127.0.0.1
        # or 64:ff9b::7f00:1 through, so an operator's exception never widens by another spelling.
        if host in self._allowed_names or any(ip in net for net in self._allowed_networks):
            return True
        return is_public_address(ip)

    def _dns(self) -> aiodns.DNSResolver:
        # c-ares is bound to one event loop: a fetcher used from a new loop (tests) gets a new one.
        loop = asyncio.get_running_loop()
        if self._resolver is None or self._resolver.loop is not loop:
            self._resolver = aiodns.DNSResolver(
                nameservers=list(self._nameservers) or None,
                loop=loop,
                timeout=_DNS_TRY_TIMEOUT_S,
                tries=_DNS_TRIES,
            )
        return self._resolver

    async def resolve(self, target: UrlTarget) -> str:
        """The address to connect to, after checking every address the host resolves to.

        Raises:
            InvalidInput: (field ``url``) the host does not resolve, or one of its addresses is
                not allowed.
        """
        if target.ip is not None:
            addresses: list[_IpAddress] = [target.ip]
        else:
            try:
                answer = await self._dns().getaddrinfo(target.host, port=target.port, type=socket.SOCK_STREAM)
            except aiodns.error.DNSError as exc:
                reason = exc.args[1] if len(exc.args) > 1 else type(exc).__name__
                raise _refuse(f"host {_shown(target.host)} does not resolve ({reason})") from None
            addresses = [_node_address(node.addr[0]) for node in answer.nodes]
        if not addresses or not all(self._allowed_address(target.host, ip) for ip in addresses):
            # Never say what the address is: that would make the server a network scanner's oracle.
            raise _refuse(
                f"host {_shown(target.host)} is a private, loopback or link-local address, or another "
                "special-purpose one, which is not allowed"
            )
        return str(addresses[0])

    async def fetch(self, url: str) -> bytes:
        """The body of ``url``, following allowed redirects, within ``policy.timeout_s``.

        Raises:
            InvalidInput: (field ``url``) refused by the rules, or the fetch failed (status, size,
                time, TLS).
            Overloaded: ``policy.max_concurrent`` fetches are in flight; ``retry_after_s`` is when
                the first of them must end (its deadline).
            ShuttingDown: :meth:`aclose` was called, before or during the fetch.
        """
        self.check(url)
        if self._closed:
            raise ShuttingDown("the server is shutting down: no URL is fetched")
        loop = asyncio.get_running_loop()
        if len(self._in_flight) >= self.policy.max_concurrent:
            retry_after_s = max(0.0, min(self._in_flight.values()) - loop.time())
            raise Overloaded(
                f"{len(self._in_flight)} URL fetches are in flight, the limit", retry_after_s=retry_after_s
            )
        # Its own task, so that aclose() can end the fetch without cancelling the caller (a job
        # runner must tell shutdown apart from its job being cancelled).
        task = asyncio.create_task(self._fetch_in_time(url))
        self._in_flight[task] = loop.time() + self.policy.timeout_s
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                raise ShuttingDown("the server is shutting down: the URL fetch was abandoned") from None
            raise
        finally:
            task.cancel()  # never leave a fetch running without its caller (a no-op once it ended)
            del self._in_flight[task]

    async def aclose(self, wait_s: float = 1.0) -> None:
        """Refuses new fetches and abandons those in flight (their sockets are closed).

        Args:
            wait_s: how long to wait for the abandoned fetches to close their connections; a
                fetch is not waited for beyond it (shutdown has already spent its grace period).
        """
        self._closed = True
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=wait_s)
        if self._resolver is not None and self._resolver.loop is asyncio.get_running_loop():
            await self._resolver.close()
        self._resolver = None

    async def _fetch_in_time(self, url: str) -> bytes:
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                return await self._follow(url)
        except TimeoutError:  # the deadline, or an aiohttp socket timeout within it
            raise _refuse(f"fetch took longer than {self.policy.timeout_s:g} s") from None

    async def _follow(self, url: str) -> bytes:
        for _ in range(self.policy.max_redirects + 1):
            target = self.check(url)
            address = await self.resolve(target)
            answer = await self._get(target, address)
            if answer.status in _REDIRECTS:
                if not answer.location:
                    raise _refuse(f"redirect {answer.status} without a Location")
                try:
                    url = urllib.parse.urljoin(target.url, answer.location)
                except ValueError:
                    raise _refuse(f"redirect {answer.status} to a malformed Location") from None
                continue
            if answer.status != 200:
                raise _refuse(f"the server answered HTTP {answer.status}")
            return answer.body
        raise _refuse(f"more than {self.policy.max_redirects} redirects")

    async def _get(self, target: UrlTarget, address: str) -> _Answer:
        connector = aiohttp.TCPConnector(
            resolver=_PinnedResolver(address),
            use_dns_cache=False,
            ssl=self._ssl if target.scheme == "https" else False,
            force_close=True,
            limit=1,
        )
        try:
            # No proxies from the environment, no cookies, no decompression (max_bytes counts
            # what comes over the wire, and a gzip bomb is not an image).
            async with (
                aiohttp.ClientSession(
                    connector=connector,
                    trust_env=False,
                    auto_decompress=False,
                    cookie_jar=aiohttp.DummyCookieJar(),
                ) as session,
                session.get(
                    yarl.URL(target.url, encoded=True),
                    allow_redirects=False,
                    headers={"Accept": "image/*", "Accept-Encoding": "identity"},
                ) as response,
            ):
                if response.status in _REDIRECTS:
                    return _Answer(response.status, response.headers.get("Location", ""), b"")
                if response.status != 200:
                    return _Answer(response.status, "", b"")
                return _Answer(200, "", await self._body(response))
        except aiohttp.ClientConnectorCertificateError as exc:
            reason = getattr(exc.certificate_error, "verify_message", None) or type(exc).__name__
            raise _refuse(f"TLS failed ({reason})") from None
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            raise _refuse(f"TLS failed ({type(exc).__name__})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _refuse(f"fetch failed ({type(exc).__name__})") from None

    async def _body(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.policy.max_bytes
        if response.content_length is not None and response.content_length > limit:
            raise _refuse(f"the image is {response.content_length} bytes, more than the limit of {limit}")
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                raise _refuse(f"the image is more than the limit of {limit} bytes")
        return bytes(body)


def _node_address(raw: bytes | str) -> _IpAddress:
    text = raw.decode("ascii") if isinstance(raw, bytes) else raw
    return ipaddress.ip_address(text.split("%")[0])


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


class _PinnedResolver(AbstractResolver):
    """Answers every lookup with the checked address: aiohttp connects there, and keeps the
    URL's host name for SNI, the certificate check and the Host header."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=self._address,
                port=port,
                family=self._family,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None
