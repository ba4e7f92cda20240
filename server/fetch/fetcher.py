"""Fetches an image from a caller's URL without letting the caller reach what it should not.

The rules (same for ProcessUrl and URL jobs):

- the URL's form and scheme: ``server.fetch.urls`` (https only, unless ``allow_http`` is set);
- the host's every address must be public (``server.fetch.netpolicy``: no special-purpose range of the
  IANA IPv4 and IPv6 registries, an IPv4-mapped or NAT64 address judged by the IPv4 address it
  carries), unless the host name or address is in ``allow_hosts`` (names, IPs or CIDR networks,
  matched as written);
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
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import aiodns
import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from pipeline import InvalidInput, Overloaded, ShuttingDown
from server.fetch.netpolicy import AllowList, IpAddress
from server.fetch.urls import UrlTarget, parse_url, quoted, url_error

__all__ = ["UrlFetcher", "UrlPolicy"]

# c-ares per-try timeout and tries: a resolver that does not answer is given up on within
# 2 x 2 s even when url_timeout_s is longer; the fetch's own deadline bounds it too.
_DNS_TRY_TIMEOUT_S = 2.0
_DNS_TRIES = 2
_CHUNK_BYTES = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)


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
class _Answer:
    status: int
    location: str
    body: bytes


def _not_allowed(host: str) -> InvalidInput:
    # Never say what the address is: that would make the server a network scanner's oracle.
    return url_error(
        f"host {quoted(host)} is a private, loopback or link-local address, or another "
        "special-purpose one, which is not allowed"
    )


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
        self._allow = AllowList.of(policy.allow_hosts)
        self._ssl = ssl.create_default_context()
        if policy.ca_file is not None:
            self._ssl.load_verify_locations(cafile=str(policy.ca_file))
        self._schemes = ("https", "http") if policy.allow_http else ("https",)
        # Fetches in flight and their deadlines (event-loop time), for the bound and its retry hint.
        self._in_flight: dict[asyncio.Task[bytes], float] = {}
        self._resolver: aiodns.DNSResolver | None = None
        self._closed = False

    def check(self, url: str) -> UrlTarget:
        """The normalised URL if its form and scheme are allowed, and its host too where the host is
        an IP address (a name is judged when it resolves, at fetch time); resolves nothing.

        Raises:
            InvalidInput: (field ``url``) see :func:`parse_url`, or the host is an address that is
                not allowed.
        """
        target = parse_url(url, self._schemes)
        if target.ip is not None and not self._allow.admits(target.host, target.ip):
            raise _not_allowed(target.host)
        return target

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
            addresses: list[IpAddress] = [target.ip]
        else:
            try:
                answer = await self._dns().getaddrinfo(target.host, port=target.port, type=socket.SOCK_STREAM)
            except aiodns.error.DNSError as exc:
                reason = exc.args[1] if len(exc.args) > 1 else type(exc).__name__
                raise url_error(f"host {quoted(target.host)} does not resolve ({reason})") from None
            addresses = [_node_address(node.addr[0]) for node in answer.nodes]
        if not addresses or not all(self._allow.admits(target.host, ip) for ip in addresses):
            raise _not_allowed(target.host)
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
        target = self.check(url)
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
        task = asyncio.create_task(self._fetch_in_time(target))
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

    async def _fetch_in_time(self, target: UrlTarget) -> bytes:
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                return await self._follow(target)
        except TimeoutError:  # the deadline, or an aiohttp socket timeout within it
            raise url_error(f"fetch took longer than {self.policy.timeout_s:g} s") from None

    async def _follow(self, target: UrlTarget) -> bytes:
        """Fetches ``target`` (already checked), checking each redirect's Location as a new URL."""
        url = target.url
        for hop in range(self.policy.max_redirects + 1):
            if hop:  # a redirect's Location, checked as any caller's URL
                target = self.check(url)
            address = await self.resolve(target)
            answer = await self._get(target, address)
            if answer.status in _REDIRECTS:
                if not answer.location:
                    raise url_error(f"redirect {answer.status} without a Location")
                try:
                    url = urllib.parse.urljoin(target.url, answer.location)
                except ValueError:
                    raise url_error(f"redirect {answer.status} to a malformed Location") from None
                continue
            if answer.status != 200:
                raise url_error(f"the server answered HTTP {answer.status}")
            return answer.body
        raise url_error(f"more than {self.policy.max_redirects} redirects")

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
            raise url_error(f"TLS failed ({reason})") from None
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            raise url_error(f"TLS failed ({type(exc).__name__})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise url_error(f"fetch failed ({type(exc).__name__})") from None

    async def _body(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.policy.max_bytes
        if response.content_length is not None and response.content_length > limit:
            raise url_error(f"the image is {response.content_length} bytes, more than the limit of {limit}")
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                raise url_error(f"the image is more than the limit of {limit} bytes")
        return bytes(body)


def _node_address(raw: bytes | str) -> IpAddress:
    text = raw.decode("ascii") if isinstance(raw, bytes) else raw
    return ipaddress.ip_address(text.split("%")[0])


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
