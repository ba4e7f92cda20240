"""Which IP addresses a URL fetch may connect to: public ones, and those an operator allow-lists.

- An address is public when it is in no special-purpose range of the IANA IPv4 and IPv6 registries
  (private, loopback, link-local, shared, documentation, benchmarking, reserved, multicast, 6to4,
  Teredo, ...): ``is_public_address``.
- An IPv4-mapped (``::ffff:a.b.c.d``) or NAT64 (``64:ff9b::a.b.c.d``) address is judged by the
  IPv4 address it carries (``embedded_ipv4``).
- ``AllowList`` admits the host names, addresses and CIDR networks an operator names
  (``url_allow_hosts``), matched as written: 127.0.0.1 there does not admit ::ffff:127.0.0.1.

Pure functions of an address: nothing here resolves or connects.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["AllowList", "IpAddress", "IpNetwork", "embedded_ipv4", "is_network", "is_public_address"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(*cidrs: str) -> tuple[IpNetwork, ...]:
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


def embedded_ipv4(ip: IpAddress) -> ipaddress.IPv4Address | None:
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


def is_public_address(ip: IpAddress) -> bool:
    """True when ``ip`` is in no special-purpose range (see the module docstring).

    An IPv4-mapped or NAT64 address is as public as the IPv4 address it carries.
    """
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _TRANSLATED_V6):
        carried = embedded_ipv4(ip)
        return carried is not None and is_public_address(carried)
    if isinstance(ip, ipaddress.IPv4Address):
        special: tuple[IpNetwork, ...] = _SPECIAL_V4
    else:
        # Only 2000::/3 is allocated as global unicast (IANA IPv6 Address Space); the rest, such
        # as the SIIT form ::ffff:0:a.b.c.d, is reserved, whatever Python's is_global says.
        special = _SPECIAL_V6
        if ip not in _GLOBAL_UNICAST_V6:
            return False
    # Python's own table too (is_global), so a range it learns of later is refused as well.
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in special)


def is_network(text: str) -> bool:
    """True when ``text`` is an IP address or a CIDR network (host bits may be set: 10.1.2.3/8)."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class AllowList:
    """The operator's exceptions to ``is_public_address`` (``url_allow_hosts``).

    ``names`` are lower-case host names without a trailing dot; ``networks`` the listed addresses
    and CIDR networks. Both are matched as written, never through another spelling of an address.
    """

    names: frozenset[str] = frozenset()
    networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def of(cls, hosts: Iterable[str]) -> AllowList:
        """The allow list of ``hosts``: each a host name, an IP address or a CIDR network."""
        entries = tuple(hosts)
        return cls(
            names=frozenset(h.lower().rstrip(".") for h in entries if not is_network(h)),
            networks=tuple(ipaddress.ip_network(h, strict=False) for h in entries if is_network(h)),
        )

    def admits(self, host: str, ip: IpAddress) -> bool:
        """True when a fetch of ``host`` (the URL's, as parsed) may connect to ``ip``.

        The list names addresses as written: 127.0.0.1 listed does not let ::ffff:127.0.0.1 or
        64:ff9b::7f00:1 through, so an operator's exception never widens by another spelling.
        """
        if host in self.names or any(ip in net for net in self.networks):
            return True
        return is_public_address(ip)
