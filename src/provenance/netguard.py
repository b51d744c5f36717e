"""Server-side request forgery (SSRF) guard: never let a fetch reach an internal address by accident.

A fetcher that takes host names from a corpus (and follows redirects chosen by remote servers) must not be
steered into the machine's own network: ``http://169.254.169.254/`` (cloud metadata), ``http://10.0.0.5/``,
``http://localhost:6379/``, or a public name whose DNS answer is ``127.0.0.1``. This module decides which
addresses are internal, resolves names once, and returns the address the caller must connect to.

How callers must use it (``provenance.robots.fetch`` does exactly this):

1. ``ip = check_host(host, port, resolver)`` resolves the name once and raises :class:`BlockedAddress` if
   *any* address it resolves to is internal (a name with one public and one private address is refused:
   the OS, a retry, or an attacker-controlled DNS server could pick either).
2. The connection is then made **to that IP**, never to the name again. A second DNS lookup at connect time
   would reopen the hole (DNS rebinding: a short-TTL name answers a public address to the check and
   ``127.0.0.1`` to the connect). The fetcher pins the IP in the URL and carries the name in the ``Host``
   header and in TLS (SNI and certificate check); see ``provenance.robots.fetch``.
3. Every redirect hop is a new host and is checked again.

With an HTTP(S) proxy the proxy resolves names, not us, so only what can be known locally is checked:
IP literals (including legacy forms such as ``2130706433`` or ``0x7f.1``), names pinned in the resolver's
overrides, and ``localhost`` names. See :func:`check_host_for_proxy`. The proxy address itself is the
user's configuration and is not checked.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping

__all__ = ["BlockedAddress", "Resolver", "is_internal", "check_host", "check_host_all", "check_host_for_proxy",
           "ip_literal"]


class BlockedAddress(Exception):
    """The target host is, or resolves to, an internal address and internal targets are not allowed."""


# Special-purpose ranges that are not reachable on the public Internet (IANA IPv4/IPv6 special-purpose
# registries). ``ipaddress``' own flags cover most of them; they are listed explicitly so the decision does
# not depend on the Python version (``is_global``/``is_private`` were corrected in 3.11.10 / 3.12.4).
_V4_INTERNAL = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8",          # "this network"; 0.0.0.0 reaches the local host on Linux
    "10.0.0.0/8",         # private
    "100.64.0.0/10",      # shared address space (carrier-grade NAT)
    "127.0.0.0/8",        # loopback
    "169.254.0.0/16",     # link-local (cloud metadata at 169.254.169.254)
    "172.16.0.0/12",      # private
    "192.0.0.0/24",       # IETF protocol assignments
    "192.0.2.0/24",       # TEST-NET-1
    "192.88.99.0/24",     # deprecated 6to4 relay anycast
    "192.168.0.0/16",     # private
    "198.18.0.0/15",      # benchmarking
    "198.51.100.0/24",    # TEST-NET-2
    "203.0.113.0/24",     # TEST-NET-3
    "224.0.0.0/4",        # multicast
    "240.0.0.0/4",        # reserved, and 255.255.255.255 broadcast
)]
_V6_INTERNAL = [ipaddress.ip_network(n) for n in (
    "::/128",             # unspecified
    "::1/128",            # loopback
    "::/96",              # deprecated IPv4-compatible addresses
    "64:ff9b:1::/48",     # local-use NAT64
    "100::/64",           # discard-only
    "2001::/23",          # IETF protocol assignments, incl. Teredo 2001::/32 (tunnels into other networks)
    "2001:db8::/32",      # documentation
    "fc00::/7",           # unique local (private)
    "fe80::/10",          # link-local
    "fec0::/10",          # deprecated site-local
    "ff00::/8",           # multicast
)]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")      # well-known NAT64: judged by the embedded IPv4 address


def _parse_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    s = ip.strip()
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1]
    if "%" in s:                     # IPv6 zone id (fe80::1%eth0): the address is what matters
        s = s.split("%", 1)[0]
    return ipaddress.ip_address(s)


def is_internal(ip: str) -> bool:
    """True if ``ip`` is not a public unicast address.

    Internal means: loopback, private (RFC 1918, fc00::/7), link-local, carrier-grade NAT (100.64/10),
    unspecified, multicast, broadcast, documentation/benchmark/reserved ranges, and any IPv6 form that
    embeds such an IPv4 address (IPv4-mapped ``::ffff:127.0.0.1``, 6to4 ``2002:7f00:1::``, NAT64
    ``64:ff9b::a00:5``). Anything that does not parse as an IP address is treated as internal (fail closed).
    """
    try:
        addr = _parse_ip(ip)
    except ValueError:
        return True
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return is_internal(str(addr.ipv4_mapped))
        if addr.sixtofour is not None:
            return is_internal(str(addr.sixtofour))
        if addr in _NAT64:
            return is_internal(str(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)))
        if any(addr in n for n in _V6_INTERNAL) or addr.is_site_local:
            return True
    elif any(addr in n for n in _V4_INTERNAL):
        return True
    return bool(addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_multicast
                or addr.is_reserved or addr.is_unspecified or not addr.is_global)


def ip_literal(host: str) -> str | None:
    """The IP address ``host`` denotes without any DNS lookup, or None for a name.

    Accepts ``1.2.3.4``, ``::1``, ``[::1]``, and the legacy IPv4 spellings that ``inet_aton`` (and so
    ``getaddrinfo`` and many proxies) accept: ``2130706433``, ``0x7f.1``, ``127.1``, ``0177.0.0.1``.
    """
    h = host.strip().rstrip(".")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    try:
        return str(_parse_ip(h))
    except ValueError:
        pass
    # Only digit/hex/dot strings can be legacy IPv4; never hand a real name to inet_aton.
    if h and all(c in "0123456789abcdefxABCDEFX." for c in h) and h[0].isdigit():
        try:
            return socket.inet_ntoa(socket.inet_aton(h))
        except OSError:
            return None
    return None


class Resolver:
    """Name resolution with overrides.

    ``overrides`` maps a host name to the IP (or list of IPs) to use instead of DNS: for tests
    (``{"a.test": "127.0.0.1"}``) and for hosts pinned by configuration. Names are matched
    case-insensitively, without a trailing dot. Everything else goes to ``socket.getaddrinfo``.
    """

    def __init__(self, overrides: Mapping[str, str | Iterable[str]] | None = None):
        self.overrides: dict[str, list[str]] = {}
        for name, ips in (overrides or {}).items():
            lst = [ips] if isinstance(ips, str) else list(ips)
            parsed = []
            for ip in lst:
                lit = ip_literal(ip)
                if lit is None:
                    raise ValueError(f"resolver override for {name!r} must be an IP address, not {ip!r}")
                parsed.append(lit)
            self.overrides[self._key(name)] = parsed

    @staticmethod
    def _key(host: str) -> str:
        return host.strip().lower().rstrip(".")

    def override(self, host: str) -> list[str] | None:
        """The pinned addresses of ``host``, or None if it is not overridden (no DNS lookup)."""
        got = self.overrides.get(self._key(host))
        return list(got) if got is not None else None

    def resolve(self, host: str, port: int) -> list[str]:
        """All addresses of ``host`` (overrides first, then DNS), unique, in resolver order.

        An IP literal resolves to itself without a lookup. Raises ``OSError`` (``socket.gaierror``) when
        the name does not resolve.
        """
        pinned = self.override(host)
        if pinned is not None:
            return pinned
        lit = ip_literal(host)
        if lit is not None:
            return [lit]
        infos = socket.getaddrinfo(self._key(host), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        out: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            ip = sockaddr[0]
            if ip not in out:
                out.append(ip)
        if not out:
            raise socket.gaierror(f"{host!r} resolved to no address")
        return out


def check_host_all(host: str, port: int, resolver: Resolver, allow_internal: bool = False) -> list[str]:
    """Resolve ``host`` once and return every address, or raise :class:`BlockedAddress` if any is internal.

    The caller must connect only to the returned addresses (see the module docstring).
    """
    addrs = resolver.resolve(host, port)
    if not allow_internal:
        bad = [ip for ip in addrs if is_internal(ip)]
        if bad:
            via = "" if ip_literal(host) is not None else f" (resolves to {', '.join(addrs)})"
            raise BlockedAddress(
                f"refusing to connect to {host!r}{via}: {', '.join(bad)} is an internal address "
                f"(loopback, private, link-local or reserved); pass allow_internal=True (--allow-internal) to permit it")
    return addrs


def check_host(host: str, port: int, resolver: Resolver, allow_internal: bool = False) -> str:
    """The IP address to connect to for ``host``; raises :class:`BlockedAddress` if any address is internal.

    IP-literal hosts (``10.1.2.3``, ``[fe80::1]``, ``::ffff:127.0.0.1``) are checked directly without DNS.
    """
    return check_host_all(host, port, resolver, allow_internal)[0]


def check_host_for_proxy(host: str, resolver: Resolver, allow_internal: bool = False) -> None:
    """The guard when a proxy makes the connection (and the DNS lookup) for us.

    We cannot see which address the proxy will use, and resolving the name locally would neither be
    authoritative nor private, so only what is knowable without DNS is refused: internal IP literals
    (including legacy IPv4 spellings), names pinned in ``resolver.overrides`` to internal addresses, and
    ``localhost`` / ``*.localhost`` (RFC 6761). Everything else is the proxy's responsibility.
    """
    if allow_internal:
        return
    name = host.strip().lower().rstrip(".")
    lit = ip_literal(name)
    pinned = resolver.override(name)
    addrs = [lit] if lit is not None else (pinned or [])
    bad = [ip for ip in addrs if is_internal(ip)]
    if name == "localhost" or name.endswith(".localhost"):
        bad = bad or ["localhost"]
    if bad:
        raise BlockedAddress(
            f"refusing to fetch {host!r} through the proxy: {', '.join(bad)} is an internal address; "
            f"pass allow_internal=True (--allow-internal) to permit it")
