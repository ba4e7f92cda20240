"""The form of an image URL a caller sends: checked and normalised before anything is resolved.

The rules (same for ProcessUrl and URL jobs): a well-formed absolute URL of at most
``MAX_URL_CHARS`` characters: no spaces, control characters or backslashes, no user info, a port
in 1..65535, a host that is a dotted-quad IPv4 address, a bracketed IPv6 address without zone, or
a name that IDNA 2008 (UTS 46) can encode (labels of 1..63 characters, 253 in all), and a scheme
the caller's policy allows.

Every refusal raises ``pipeline.InvalidInput`` naming the ``url`` field (INVALID_ARGUMENT with a
BadRequest detail); messages quote at most ``SHOWN_CHARS`` characters of what the caller sent.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

import idna

from pipeline import InvalidInput
from server.errors import bounded
from server.fetch.netpolicy import IpAddress

__all__ = ["MAX_URL_CHARS", "SHOWN_CHARS", "UrlTarget", "parse_url", "quoted", "url_error"]

# Longer URLs are refused: 2048 is what browsers and CDNs reliably carry, and a photo's URL is short.
MAX_URL_CHARS = 2048
# Characters of the caller's input quoted in an error message (the rest is counted, not echoed).
SHOWN_CHARS = 100
_DEFAULT_PORTS = {"https": 443, "http": 80}
# WHATWG URL: a host whose last label is a number is an IPv4 address (2130706433, 0x7f.1, 127.1);
# only the dotted-quad form is accepted, so no resolver reads it differently from this check.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


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
    ip: IpAddress | None

    @property
    def url(self) -> str:
        """The URL as requested (no fragment, no default port)."""
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        port = "" if self.port == _DEFAULT_PORTS[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.target}"


def url_error(description: str) -> InvalidInput:
    """The error that refuses a URL: ``InvalidInput`` naming the ``url`` field."""
    return InvalidInput("url", description)


def quoted(text: str) -> str:
    """``text`` quoted (escapes visible), cut to ``SHOWN_CHARS`` characters with the quoted
    form's length told (``server.errors.bounded``): an escape never lengthens what is shown."""
    return bounded(repr(text), SHOWN_CHARS)


def _ipv6_literal(host: str) -> ipaddress.IPv6Address:
    """The address of a bracketed URL host."""
    # ipaddress accepts a zone (fe80::1%eth0); a zone names an interface of this machine.
    if "%" in host:
        raise url_error("an IPv6 host must not carry a zone (%)")
    try:
        return ipaddress.IPv6Address(host)
    except ValueError:
        raise url_error(f"host {quoted(host)} is not a valid IPv6 address") from None


def _ipv4_literal(name: str) -> ipaddress.IPv4Address | None:
    """The address an (IDNA-encoded) host name spells, None for a name that is not numeric."""
    if not _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(name)
    except ValueError:
        raise url_error(
            f"host {quoted(name)} is not a valid IPv4 address (four decimal numbers, no leading zeros)"
        ) from None


def _ascii_name(host: str) -> str:
    """``host`` encoded by IDNA 2008 with UTS 46 mapping, without its trailing dot."""
    name = host[:-1] if host.endswith(".") else host
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        # The library's reason may quote the whole label: it is bounded like the host.
        reason = bounded(str(exc), SHOWN_CHARS)
        raise url_error(f"host {quoted(host)} is not a valid host name ({reason})") from None


def parse_url(url: str, schemes: tuple[str, ...]) -> UrlTarget:
    """``url`` checked for form and scheme and normalised; resolves nothing.

    Raises:
        InvalidInput: (field ``url``) the URL is malformed, longer than ``MAX_URL_CHARS``
            characters, carries credentials, or its scheme is not in ``schemes``.
    """
    if not url:
        raise url_error("is empty")
    if len(url) > MAX_URL_CHARS:
        raise url_error(f"is {len(url)} characters long, more than the limit of {MAX_URL_CHARS}")
    if bad := _UNSAFE_CHARS.search(url):
        raise url_error(f"contains a space, control character or backslash at position {bad.start()}")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise url_error(f"is not a valid URL ({bounded(str(exc), SHOWN_CHARS)})") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise url_error(f"scheme must be {' or '.join(schemes)}, got {quoted(parts.scheme or 'none')}")
    if "@" in parts.netloc:
        raise url_error("must not carry credentials")
    host = parts.hostname or ""
    if not host:
        raise url_error("has no host")
    if port == 0:
        raise url_error("port must be in 1..65535, got 0")
    ip: IpAddress | None
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
