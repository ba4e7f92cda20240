"""Fetches an image from a caller's URL without letting the caller reach what it should not.

The rules (same for ProcessUrl and URL jobs):

- https only, unless ``allow_http`` is set;
- the host's every address must be public (not private, loopback, link-local, reserved,
  multicast or unspecified) unless the host name or address is in ``allow_hosts`` (names, IPs or
  CIDR networks); the connection goes to the address that was checked, so a DNS answer that
  changes between the check and the connect (rebinding) cannot redirect it;
- at most ``max_bytes`` of body (Content-Length checked first, then counted while reading);
- the whole fetch, redirects included, within ``timeout_s``;
- at most ``max_redirects`` redirects, each target checked by the same rules.

Every refusal and failure raises ``pipeline.InvalidInput`` naming the ``url`` field, so the error
table reports it as INVALID_ARGUMENT with a BadRequest detail.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from pipeline import InvalidInput

__all__ = ["UrlFetcher", "UrlPolicy"]

_REDIRECTS = (301, 302, 303, 307, 308)
_IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def _refuse(message: str) -> InvalidInput:
    return InvalidInput("url", message)


class UrlFetcher:
    """Applies a :class:`UrlPolicy`; ``fetch`` is safe to call concurrently."""

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy
        self._allowed_names = {h.lower() for h in policy.allow_hosts if not _is_network(h)}
        self._allowed_networks: list[_IpNetwork] = [
            ipaddress.ip_network(h, strict=False) for h in policy.allow_hosts if _is_network(h)
        ]
        self._ssl = ssl.create_default_context()
        if policy.ca_file is not None:
            self._ssl.load_verify_locations(cafile=str(policy.ca_file))

    def check(self, url: str) -> urllib.parse.SplitResult:
        """The parsed URL if its form is allowed (scheme, host present); resolves nothing.

        Raises:
            InvalidInput: the URL is malformed or uses a refused scheme.
        """
        if not url:
            raise _refuse("is empty")
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise _refuse(f"is not a valid URL ({exc})") from None
        schemes = ("https", "http") if self.policy.allow_http else ("https",)
        if parts.scheme.lower() not in schemes:
            raise _refuse(f"scheme must be {' or '.join(schemes)}, got {parts.scheme or 'none'!r}")
        if not parts.hostname:
            raise _refuse("has no host")
        if parts.username or parts.password:
            raise _refuse("must not carry credentials")
        return parts

    def _allowed_address(self, host: str, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        if host.lower() in self._allowed_names or any(ip in net for net in self._allowed_networks):
            return True
        return ip.is_global and not ip.is_multicast

    def resolve(self, parts: urllib.parse.SplitResult) -> str:
        """The address to connect to, after checking every address the host resolves to.

        Raises:
            InvalidInput: the host does not resolve, or one of its addresses is not allowed.
        """
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _refuse(f"host {host!r} does not resolve ({exc.strerror or exc})") from None
        addresses = [str(info[4][0]) for info in infos]
        refused = [a for a in addresses if not self._allowed_address(host, a)]
        if refused or not addresses:
            # Never say what the address is: that would make the server a network scanner's oracle.
            raise _refuse(f"host {host!r} is a private, loopback or link-local address, which is not allowed")
        return addresses[0]

    async def fetch(self, url: str) -> bytes:
        """The body of ``url``, following allowed redirects.

        Raises:
            InvalidInput: refused by the rules, or the fetch failed (status, size, time, TLS).
        """
        self.check(url)
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._fetch, url), self.policy.timeout_s)
        except TimeoutError:
            raise _refuse(f"fetch took longer than {self.policy.timeout_s:g} s") from None

    def _fetch(self, url: str) -> bytes:
        deadline = time.monotonic() + self.policy.timeout_s
        for _ in range(self.policy.max_redirects + 1):
            parts = self.check(url)
            address = self.resolve(parts)
            status, location, body = self._get(parts, address, deadline)
            if status in _REDIRECTS:
                if not location:
                    raise _refuse(f"redirect {status} without a Location")
                url = urllib.parse.urljoin(url, location)
                continue
            if status != 200:
                raise _refuse(f"the server answered HTTP {status}")
            return body
        raise _refuse(f"more than {self.policy.max_redirects} redirects")

    def _get(self, parts: urllib.parse.SplitResult, address: str, deadline: float) -> tuple[int, str, bytes]:
        host = parts.hostname or ""
        https = parts.scheme.lower() == "https"
        port = parts.port or (443 if https else 80)
        remaining_s = max(0.1, deadline - time.monotonic())
        connection: http.client.HTTPConnection
        if https:
            connection = _PinnedHTTPSConnection(address, host, port, self._ssl, remaining_s)
        else:
            connection = _PinnedHTTPConnection(address, host, port, remaining_s)
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        try:
            connection.request(
                "GET", path, headers={"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "image/*"}
            )
            response = connection.getresponse()
            if response.status in _REDIRECTS:
                return response.status, response.getheader("Location") or "", b""
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > self.policy.max_bytes:
                raise _refuse(f"the image is {length} bytes, more than the limit of {self.policy.max_bytes}")
            body = bytearray()
            while chunk := response.read(65536):
                body += chunk
                if len(body) > self.policy.max_bytes:
                    raise _refuse(f"the image is more than the limit of {self.policy.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise _refuse(f"fetch took longer than {self.policy.timeout_s:g} s")
            return response.status, "", bytes(body)
        except ssl.SSLError as exc:
            raise _refuse(f"TLS failed ({exc.reason or exc})") from None
        except (OSError, http.client.HTTPException) as exc:
            raise _refuse(f"fetch failed ({type(exc).__name__})") from None
        finally:
            connection.close()


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address, whatever the host name resolves to now."""

    def __init__(self, address: str, host: str, port: int, timeout_s: float) -> None:
        super().__init__(host, port, timeout=timeout_s)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, with the certificate verified for the URL's host name."""

    def __init__(self, address: str, host: str, port: int, context: ssl.SSLContext, timeout_s: float) -> None:
        super().__init__(host, port, timeout=timeout_s, context=context)
        self._address = address
        self._context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
