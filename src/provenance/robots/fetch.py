"""Live robots.txt fetching with ``requests``: RFC 9309 status semantics, bounded reads, politeness, SSRF guard.

Outcomes (RFC 9309 §2.3.1, https://www.rfc-editor.org/rfc/rfc9309):

==========================  ================  ======================================================
response                    ``outcome``       RFC 9309
==========================  ================  ======================================================
2xx                         ``parsed``        §2.3.1.1 "the crawler MUST follow the parseable rules"
3xx with ``Location``       (followed)        §2.3.1.2 follow at least five consecutive redirects,
                                              even across authorities; the rules apply to the
                                              initial authority (``FetchResult.host``)
more than ``max_redirects`` ``allow_all``     §2.3.1.2 "crawlers MAY assume that the robots.txt file
consecutive redirects                         is unavailable", i.e. §2.3.1.3
4xx (incl. 401, 403, 404)   ``allow_all``     §2.3.1.3 "unavailable": "the crawler MAY access any
                                              resources on the server"
429 Too Many Requests       ``disallow_all``  rate limiting says nothing about the rules: treated as
                                              unreachable, as Google does (its robots.txt
                                              documentation handles 429 like a 5xx), so throttling
                                              the auditor can never turn consent into "allowed"
5xx, timeout, network       ``disallow_all``  §2.3.1.4 "unreachable": "the crawler MUST assume
error                                         complete disallow"
2xx whose body is in a      ``disallow_all``  a Content-Encoding we cannot decode (not gzip, deflate,
content coding we cannot                      br, zstd or identity) or damaged coded data: the raw
decode                                        octets are never parsed; treated as unreachable
anything else (1xx, a 3xx   ``disallow_all``  not defined by the RFC; treated as unreachable (safe
without Location, ...)                        side)
refused by us: the SSRF     ``blocked``       no request was made (or none followed to that hop), so
guard (an internal address                    the publisher said nothing: this is *our* refusal, never
on any hop), an invalid                       the publisher's ``disallow_all``. Consent evaluation
target, an internal error                     treats it like having no snapshot (``unknown``)
==========================  ================  ======================================================

§2.3.1.4 also lets a crawler, once robots.txt has been unreachable "for a reasonably long period of time
(for example, 30 days)", treat it as unavailable (allow all) or keep using a cached copy. This module does
not keep 30-day histories: it reports each fetch as it happened (``disallow_all``) and leaves that policy to
the caller, which has the snapshot history (see ``provenance.robots.snapshots``).

Body: at most ``max_bytes`` (500 KiB, the §2.5 minimum parsing limit) are read, streamed, for any framing
(Content-Length, chunked, close-delimited) and any content coding we can decode (``gzip``, ``deflate``,
``br``, ``zstd``, stacked or not, whatever ``Accept-Encoding`` said; see ``provenance.robots.content``):
the *decoded* size is what is bounded, and at most 4 x ``max_bytes`` coded octets are read; the rest is
never read and the connection is closed (``truncated=True``). Any other coding, or damaged coded data, is
unreachable (``disallow_all``): coded octets are never handed out as a body. The decoded octets are
returned as-is; text decoding (UTF-8, or UTF-16/32 marked by a byte order mark) is the parser's job. A 2xx
whose body breaks off (reset, short Content-Length) is a network error, not a parse.

Time: ``timeout=(connect, read)`` bounds each socket operation, and a total ``deadline`` (default 3 x the
larger of the two) bounds each request, so a server that trickles one byte per second, or sends its headers
slowly, cannot hold a worker. The deadline is enforced by a watchdog thread that shuts the socket down
(``shutdown(SHUT_RDWR)`` unblocks a read in progress), because per-read timeouts never fire while bytes
keep arriving. DNS lookups run with the connect timeout too (``getaddrinfo`` itself has none).

Caching (§2.4 "Crawlers SHOULD NOT use the cached version for more than 24 hours"): in memory, per
(scheme, host, port). ``cache_ttl`` is clamped to 24 h (with a warning); ``disallow_all`` and ``blocked``
results are kept for at most ``unreachable_ttl`` (1 h) so a passing 503 is retried sooner. ``cache_ttl=0`` disables caching.

Politeness: at most one request at a time per host name, and ``per_host_delay`` seconds from the end of one
request to the start of the next one to the same host (redirect hops count). ``max_workers`` bounds the
requests in flight of one fetcher across all hosts and threads, also for direct :meth:`RobotsFetcher.fetch`
calls.

Schemes: robots.txt belongs to one scheme + authority (§2.3). Give the scheme when you know it:
``fetch("https://example.com")``, ``fetch("example.com", scheme="http")``, or ``("http", "example.com")``
items in :meth:`RobotsFetcher.fetch_many`. A bare host (``"example.com"``, ``"example.com:8080"``) tries
``scheme_order`` (https, then http) and moves on only when the connection itself fails (refused, connect
timeout, TLS failure), never after an HTTP answer; ``url`` is then the first URL tried, ``final_url`` the
one that answered. Ports: ``host:port`` in the host string or the ``port`` argument.

SSRF guard and address pinning (see ``provenance.netguard``): each hop's host is resolved once through the
fetcher's :class:`~provenance.netguard.Resolver`; if any address is internal the hop is refused
(``blocked``, ``error`` says why) unless ``allow_internal`` (or the host is in
``allow_internal_hosts``). The request is then sent **to the checked IP**: the URL handed to ``requests``
carries the IP literal, the ``Host`` header carries the name, and for https the adapter
(:class:`PinnedAdapter`) sets urllib3's ``server_hostname`` (SNI) and ``assert_hostname`` (certificate
check) to the name, so TLS is verified against the name while no second DNS lookup happens (no DNS-rebinding
window). This uses only public hooks of requests (``build_connection_pool_key_attributes``, requests >=
2.32.2) and urllib3 (pool ``ConnectionCls``), works the same for http and https, and keeps pools keyed per
(IP, SNI name). Addresses are tried in resolver order (up to 3) when connecting to one fails.

Proxies: ``proxies={"http": ..., "https": ...}`` (requests' format, also ``"all"`` and per-host keys) or,
with ``trust_env=True``, ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` (explicit ``proxies``
win). Through a proxy the proxy resolves names, so the guard can only check what is knowable without DNS:
IP literals, resolver overrides and ``localhost`` names (``netguard.check_host_for_proxy``). The proxy's own
address is the user's configuration and is not checked.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..netguard import BlockedAddress, Resolver, check_host_all, check_host_for_proxy, ip_literal
from .content import UndecodableBody, decoding_reader

__all__ = ["FetchResult", "RobotsFetcher", "PinnedAdapter", "DEFAULT_USER_AGENT", "MAX_CACHE_TTL",
           "PARSED", "ALLOW_ALL", "DISALLOW_ALL", "BLOCKED"]

log = logging.getLogger(__name__)

PARSED = "parsed"
ALLOW_ALL = "allow_all"
DISALLOW_ALL = "disallow_all"
BLOCKED = "blocked"         # our own refusal (SSRF guard, invalid target): not the publisher's answer

#: Operators should pass their own user agent with a contact URL (``name/version (+https://...)``).
DEFAULT_USER_AGENT = "provenance-robots/0.1"
MAX_CACHE_TTL = 24 * 3600.0          # RFC 9309 §2.4
DEFAULT_MAX_BYTES = 500 * 1024       # RFC 9309 §2.5: the parsing limit MUST be at least 500 KiB
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORT = {"http": 80, "https": 443}
_READ_CHUNK = 64 * 1024
_TOO_MANY_REQUESTS = 429
_MAX_ADDRESSES = 3


@dataclass
class FetchResult:
    host: str                  # the host asked for (normalised: lower-case, IDNA, no port)
    url: str                   # the first URL tried, e.g. https://example.com/robots.txt
    final_url: str | None      # the URL of the last response (after redirects)
    status: int | None         # HTTP status of the final response; None on network error / blocked
    outcome: str               # "parsed" | "allow_all" | "disallow_all" | "blocked" (module docstring)
    body: bytes | None         # at most max_bytes; None unless 2xx
    truncated: bool            # the body was longer than max_bytes (the rest was not read)
    error: str | None          # human message for non-2xx / failures
    fetched_at: datetime       # UTC, when the fetch started
    redirects: int             # redirects followed
    elapsed: float             # seconds spent on this fetch (politeness waits included)
    cached: bool = False       # returned from the in-memory cache (no request made)
    address: str | None = None  # IP the final response came from (None through a proxy / no connection)


# --------------------------------------------------------------------------------------- deadlines


class _Deadline:
    """A wall-clock budget for one request; on expiry every socket registered with it is shut down."""

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.seconds = seconds
        self.expired = False
        self._done = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            if self._done:
                return
            if self.expired:
                _kill(sock)
            else:
                self._socks.append(sock)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for s in self._socks:
                _kill(s)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._socks.clear()

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at


def _kill(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    """One daemon thread expiring deadlines (a heap), started on demand, exiting when idle."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._cv = threading.Condition()
        self._seq = itertools.count()
        self._running = False

    def add(self, dl: _Deadline) -> None:
        with self._cv:
            heapq.heappush(self._heap, (dl.at, next(self._seq), dl))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="robots-deadline", daemon=True).start()
            self._cv.notify()

    def _run(self) -> None:
        with self._cv:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    heapq.heappop(self._heap)[2].expire()
                if not self._heap:
                    self._cv.wait(10.0)
                    if not self._heap:
                        self._running = False
                        return
                else:
                    self._cv.wait(self._heap[0][0] - now)


_WATCHDOG = _Watchdog()
_CURRENT_DEADLINE: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "provenance_robots_deadline", default=None)

_DNS_POOL: ThreadPoolExecutor | None = None
_DNS_LOCK = threading.Lock()


def _dns_pool() -> ThreadPoolExecutor:
    global _DNS_POOL
    with _DNS_LOCK:
        if _DNS_POOL is None:
            _DNS_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="robots-dns")
        return _DNS_POOL


# --------------------------------------------------------------------------------------- transport


class _Watched:
    """Registers each new socket with the current request's deadline (so the watchdog can cut it)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        dl = _CURRENT_DEADLINE.get()
        if dl is not None:
            dl.register(sock)
        return sock


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOL_CLASSES = {"http": _HTTPPool, "https": _HTTPSPool}


def _host_of_header(value: str) -> str:
    v = value.strip()
    if v.startswith("["):
        return v[1:v.index("]")] if "]" in v else v[1:]
    return v.rsplit(":", 1)[0] if v.count(":") == 1 else v


class PinnedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` for requests whose URL names the IP to connect to and whose ``Host`` header names
    the host.

    The fetcher rewrites ``https://example.com/robots.txt`` (checked to resolve to 93.184.216.34) into a
    request for ``https://93.184.216.34/robots.txt`` with ``Host: example.com``. urllib3 then connects to the
    IP without any DNS lookup, and this adapter puts ``server_hostname=example.com`` (TLS SNI) and
    ``assert_hostname=example.com`` (certificate name check) into the pool key, so the certificate is
    verified against the name, and pools for different names on one IP stay apart. Connections use
    watched connection classes that register their sockets with the request deadline. Through a proxy
    the URL keeps the name (the proxy resolves it) and nothing is rewritten.
    """

    def __init__(self, *args, **kwargs):
        if not hasattr(HTTPAdapter, "build_connection_pool_key_attributes"):
            raise RuntimeError("provenance.robots.fetch needs requests>=2.32.2 "
                               "(HTTPAdapter.build_connection_pool_key_attributes) to pin addresses")
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_header = request.headers.get("Host")
        if host_params.get("scheme") == "https" and host_header:
            name = _host_of_header(host_header)
            if name and ip_literal(host_params.get("host") or "") is not None and ip_literal(name) is None:
                pool_kwargs["server_hostname"] = name
                if verify is not False:
                    pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


# --------------------------------------------------------------------------------------- targets


def _normalise_host(host: str) -> str:
    h = host.strip().rstrip(".").lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if not h:
        raise ValueError("empty host")
    lit = ip_literal(h) if ":" in h else None
    if lit is not None:
        return lit
    try:
        h.encode("ascii")
    except UnicodeEncodeError:
        try:
            import idna

            h = idna.encode(h, uts46=True).decode("ascii")
        except Exception:  # noqa: BLE001 - fall back to the stdlib codec
            try:
                h = h.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise ValueError(f"host {host!r} is not a valid IDNA name: {exc}") from None
    if any(c in h for c in " /\\@?#%\t\r\n") or len(h) > 253:
        raise ValueError(f"not a host name: {host!r}")
    return h


@dataclass(frozen=True)
class _Target:
    scheme: str | None      # None: try scheme_order
    host: str
    port: int | None        # None: the scheme's default


def _parse_target(item, scheme: str | None, port: int | None) -> _Target:
    if isinstance(item, tuple):
        if len(item) == 2:
            scheme, host = item
        elif len(item) == 3:
            scheme, host, port = item
        else:
            raise ValueError(f"expected (scheme, host) or (scheme, host, port), got {item!r}")
        item = host
    if not isinstance(item, str):
        raise ValueError(f"expected a host string, got {type(item).__name__}")
    s = item.strip()
    if "://" in s:
        parts = urlsplit(s)
        scheme = parts.scheme.lower() or scheme
        host = parts.hostname or ""
        port = parts.port if parts.port is not None else port   # ValueError on a bad port
    elif s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise ValueError(f"bad IPv6 host {item!r}")
        host, rest = s[1:end], s[end + 1:]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"bad port in {item!r}")
            port = int(rest[1:])
    elif s.count(":") == 1:
        host, p = s.split(":")
        if not p.isdigit():
            raise ValueError(f"bad port in {item!r}")
        port = int(p)
    else:
        host = s
    if scheme is not None:
        scheme = scheme.lower()
        if scheme not in _DEFAULT_PORT:
            raise ValueError(f"unsupported scheme {scheme!r} (http or https)")
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"bad port {port!r}")
    return _Target(scheme, _normalise_host(host), int(port) if port is not None else None)


def _authority(host: str, port: int, scheme: str) -> str:
    h = f"[{host}]" if ":" in host else host
    return h if port == _DEFAULT_PORT[scheme] else f"{h}:{port}"


def _robots_url(scheme: str, host: str, port: int | None, path: str = "/robots.txt") -> str:
    return f"{scheme}://{_authority(host, port or _DEFAULT_PORT[scheme], scheme)}{path}"


# --------------------------------------------------------------------------------------- politeness


class _HostGate:
    """One request at a time per host, and ``delay`` seconds from the end of one to the start of the next."""

    def __init__(self, delay: float):
        self.delay = max(0.0, float(delay))
        self._cv = threading.Condition()
        self._busy: set[str] = set()
        self._next: dict[str, float] = {}

    @contextmanager
    def slot(self, host: str):
        with self._cv:
            while True:
                now = time.monotonic()
                ready = self._next.get(host, 0.0)
                if host not in self._busy and now >= ready:
                    self._busy.add(host)
                    break
                self._cv.wait(None if host in self._busy else ready - now)
        try:
            yield
        finally:
            with self._cv:
                self._busy.discard(host)
                now = time.monotonic()
                self._next[host] = now + self.delay
                if len(self._next) > 50_000:
                    self._next = {h: t for h, t in self._next.items() if t > now or h in self._busy}
                self._cv.notify_all()


# --------------------------------------------------------------------------------------- fetcher


@dataclass
class _Hop:
    kind: str                  # "response" | "blocked" (our SSRF guard) | "network" | "connect" | "tls" | "deadline"
    status: int | None = None
    location: str | None = None
    body: bytes | None = None
    truncated: bool = False
    error: str | None = None
    address: str | None = None
    body_error: str | None = None  # a 2xx whose body cannot be decoded (unknown coding, damaged data)


class _DeadlineExceeded(Exception):
    pass


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None)])
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))


def _is_connect_failure(exc: BaseException) -> bool:
    return any(isinstance(e, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
                              requests.exceptions.ConnectTimeout)) for e in _chain(exc))


def _is_tls_failure(exc: BaseException) -> bool:
    import ssl

    return any(isinstance(e, (requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError))
               for e in _chain(exc))


class RobotsFetcher:
    """Fetch robots.txt bodies live; see the module docstring for the RFC 9309 semantics and safety rules.

    ``allow_internal_hosts`` names hosts (exact, case-insensitive) that may resolve to internal addresses
    while every other host, including redirect targets, stays guarded. ``verify`` is requests' ``verify``
    (True, False or a CA bundle path). ``deadline`` is the total seconds one request (one redirect hop)
    may take; default ``3 * max(connect, read)``.
    """

    def __init__(self, *, user_agent: str = DEFAULT_USER_AGENT, timeout: float | tuple[float, float] = (5, 10),
                 max_bytes: int = DEFAULT_MAX_BYTES, max_redirects: int = 5, per_host_delay: float = 1.0,
                 max_workers: int = 8, allow_internal: bool = False, resolver: Resolver | None = None,
                 proxies: dict[str, str] | None = None, trust_env: bool = False,
                 cache_ttl: float = MAX_CACHE_TTL, scheme_order: tuple[str, ...] = ("https", "http"),
                 path: str = "/robots.txt",
                 allow_internal_hosts: Iterable[str] = (), verify: bool | str = True,
                 deadline: float | None = None, unreachable_ttl: float = 3600.0,
                 cache_max_entries: int = 100_000):
        if isinstance(timeout, (int, float)):
            timeout = (float(timeout), float(timeout))
        self.timeout = (float(timeout[0]), float(timeout[1]))
        self.deadline = float(deadline) if deadline is not None else 3.0 * max(self.timeout)
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = int(max_bytes)
        self.max_redirects = max(0, int(max_redirects))
        self.user_agent = user_agent
        self.max_workers = max(1, int(max_workers))
        self.allow_internal = bool(allow_internal)
        self.allow_internal_hosts = frozenset(_normalise_host(h) for h in allow_internal_hosts)
        self.resolver = resolver or Resolver()
        self.proxies = dict(proxies or {})
        self.trust_env = bool(trust_env)
        self.verify = verify
        if cache_ttl > MAX_CACHE_TTL:
            warnings.warn(f"cache_ttl={cache_ttl:g}s clamped to 24 h: RFC 9309 §2.4 says crawlers SHOULD NOT "
                          f"use a cached robots.txt for more than 24 hours", stacklevel=2)
            cache_ttl = MAX_CACHE_TTL
        self.cache_ttl = max(0.0, float(cache_ttl))
        self.unreachable_ttl = max(0.0, min(float(unreachable_ttl), self.cache_ttl))
        self.cache_max_entries = max(1, int(cache_max_entries))
        order = tuple(s.lower() for s in scheme_order)
        if not order or any(s not in _DEFAULT_PORT for s in order):
            raise ValueError(f"scheme_order must name http/https, got {scheme_order!r}")
        self.scheme_order = order
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        self.path = path  # "/robots.txt"; "/.well-known/tdmrep.json" for TDMRep (same status semantics, same guard)
        self.per_host_delay = max(0.0, float(per_host_delay))
        self._gate = _HostGate(self.per_host_delay)
        self._slots = threading.BoundedSemaphore(self.max_workers)
        self._lock = threading.Lock()
        self._cache: dict[tuple, tuple[float, FetchResult]] = {}
        self._inflight: dict[tuple, threading.Event] = {}

    # ------------------------------------------------------------------ public API

    def fetch(self, host, scheme: str | None = None, port: int | None = None) -> FetchResult:
        """robots.txt of one host (``"example.com"``, ``"example.com:8080"``, ``"https://example.com"``, or
        a ``(scheme, host)`` tuple); served from the cache when fresh. Never raises for a bad host or a
        network problem: a network problem comes back as ``disallow_all``, a target we refuse (invalid,
        or internal: the SSRF guard) as ``blocked``, with ``error`` set."""
        try:
            target = _parse_target(host, scheme, port)
        except ValueError as exc:
            return self._invalid(host, str(exc))
        key = (target.scheme or "auto", target.host, target.port)
        owner_event = None
        while owner_event is None:
            with self._lock:
                hit = self._cache_get(key)
                if hit is not None:
                    return hit
                ev = self._inflight.get(key)
                if ev is None:
                    owner_event = self._inflight[key] = threading.Event()
                    break
            ev.wait()      # another thread is fetching the same robots.txt: share its result
        try:
            try:
                result = self._fetch_target(target)
            except Exception as exc:  # noqa: BLE001 - a bug here must not take a batch down; fail closed
                log.exception("robots.txt fetch of %s failed unexpectedly", target.host)
                result = self._invalid(target.host, f"unexpected {type(exc).__name__}: {exc}")
                result.error = f"unexpected {type(exc).__name__}: {exc}: not fetched (our error, not the publisher's)"
                result.url = _robots_url(target.scheme or self.scheme_order[0], target.host, target.port, self.path)
            with self._lock:
                self._cache_put(key, result)
            return result
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            owner_event.set()

    def fetch_many(self, hosts: Iterable, progress: Callable[[FetchResult], object] | None = None, *,
                   scheme: str | None = None) -> Iterator[FetchResult]:
        """Fetch many hosts with ``max_workers`` threads; yields results as they complete (not in input
        order). Items are what :meth:`fetch` accepts. ``progress(result)`` is called for each result.
        The input is consumed lazily (a few items ahead of the workers), so it may be a large iterator."""
        items = iter(hosts)
        ex = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="robots-fetch")
        pending: set = set()

        def top_up() -> bool:
            while len(pending) < 2 * self.max_workers:
                try:
                    item = next(items)
                except StopIteration:
                    return False
                pending.add(ex.submit(self._fetch_item, item, scheme))
            return True

        try:
            more = top_up()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    pending.discard(fut)
                    result = fut.result()
                    if progress is not None:
                        progress(result)
                    yield result
                if more:
                    more = top_up()
        finally:
            ex.shutdown(wait=True, cancel_futures=True)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # ------------------------------------------------------------------ cache

    def _cache_get(self, key) -> FetchResult | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, result = entry
        if time.monotonic() >= expires:
            del self._cache[key]
            return None
        return replace(result, cached=True)

    def _cache_put(self, key, result: FetchResult) -> None:
        ttl = self.unreachable_ttl if result.outcome in (DISALLOW_ALL, BLOCKED) else self.cache_ttl
        if ttl <= 0:
            return
        if len(self._cache) >= self.cache_max_entries:
            now = time.monotonic()
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            while len(self._cache) >= self.cache_max_entries:       # oldest insertions first
                del self._cache[next(iter(self._cache))]
        self._cache[key] = (time.monotonic() + ttl, result)

    # ------------------------------------------------------------------ one target

    def _fetch_item(self, item, scheme: str | None) -> FetchResult:
        try:
            return self.fetch(item, scheme=scheme)
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the batch
            return self._invalid(item, f"{type(exc).__name__}: {exc}")

    def _invalid(self, host, why: str) -> FetchResult:
        return FetchResult(host=str(host).strip().lower(), url="", final_url=None, status=None,
                           outcome=BLOCKED, body=None, truncated=False,
                           error=f"invalid target, not fetched (our refusal, not the publisher's): {why}",
                           fetched_at=datetime.now(timezone.utc), redirects=0, elapsed=0.0)

    def _fetch_target(self, target: _Target) -> FetchResult:
        t0 = time.monotonic()
        started = datetime.now(timezone.utc)
        schemes = (target.scheme,) if target.scheme else self.scheme_order
        first_url = _robots_url(schemes[0], target.host, target.port, self.path)
        notes: list[str] = []
        result = None
        for i, sch in enumerate(schemes):
            result, fallback_ok = self._fetch_scheme(target.host, sch, target.port, started)
            if not (fallback_ok and i + 1 < len(schemes)):
                break
            notes.append(f"{_robots_url(sch, target.host, target.port, self.path)}: {result.error}")
        assert result is not None
        if notes and result.error:
            result.error = f"{result.error} (after {'; '.join(notes)})"
        elif notes:
            log.debug("robots.txt of %s: fell back after %s", target.host, notes)
        result.url = first_url
        result.elapsed = time.monotonic() - t0
        return result

    def _fetch_scheme(self, host: str, scheme: str, port: int | None,
                      started: datetime) -> tuple[FetchResult, bool]:
        """Follow one robots.txt URL through redirects (RFC 9309 §2.3.1.2). Returns the result and whether
        the connection to the first URL itself failed (so another scheme may be tried)."""
        url = _robots_url(scheme, host, port, self.path)

        def result(outcome, hop: _Hop, error=None) -> FetchResult:
            return FetchResult(host=host, url=url, final_url=current, status=hop.status, outcome=outcome,
                               body=hop.body if outcome == PARSED else None,
                               truncated=hop.truncated if outcome == PARSED else False,
                               error=error if error is not None else hop.error, fetched_at=started,
                               redirects=redirects, elapsed=0.0, address=hop.address)

        current = url
        redirects = 0
        while True:
            hop = self._hop(current)
            if hop.kind == "blocked":
                # Our SSRF guard refused this hop: nothing was asked of (or said by) the address, so this is
                # not the publisher's answer and must never be stored as its "disallow all".
                return result(BLOCKED, hop), False
            if hop.kind != "response":
                # §2.3.1.4: unreachable (network error, timeout) -> complete disallow.
                fallback_ok = redirects == 0 and hop.kind in ("connect", "tls")
                return result(DISALLOW_ALL, hop), fallback_ok
            st = hop.status
            if 200 <= st < 300 and hop.body_error:                      # never parse coded octets raw
                return result(DISALLOW_ALL, hop, error=(
                    f"HTTP {st} with a body we cannot decode ({hop.body_error}): treated as unreachable "
                    f"(RFC 9309 §2.3.1.4), disallow all")), False
            if 200 <= st < 300:                                         # §2.3.1.1
                return result(PARSED, hop, error=None), False
            if st in _REDIRECTS and hop.location:                       # §2.3.1.2
                if redirects >= self.max_redirects:
                    return result(ALLOW_ALL, hop, error=(
                        f"more than {self.max_redirects} consecutive redirects: robots.txt is unavailable "
                        f"(RFC 9309 §2.3.1.2, §2.3.1.3), allow all")), False
                nxt = self._redirect_target(current, hop.location)
                if nxt is None:
                    return result(DISALLOW_ALL, hop, error=(
                        f"HTTP {st} redirect to an unusable location {hop.location[:200]!r}: "
                        f"treated as unreachable, disallow all")), False
                redirects += 1
                current = nxt
                continue
            if st == _TOO_MANY_REQUESTS:                                # rate limited: not "unavailable"
                return result(DISALLOW_ALL, hop, error=(
                    f"HTTP {st}: rate limited; robots.txt treated as unreachable like a 5xx (as Google does; "
                    f"RFC 9309 §2.3.1.4), disallow all")), False
            if 400 <= st < 500:                                         # §2.3.1.3
                return result(ALLOW_ALL, hop, error=(
                    f"HTTP {st}: robots.txt unavailable (RFC 9309 §2.3.1.3), allow all")), False
            if 500 <= st < 600:                                         # §2.3.1.4
                return result(DISALLOW_ALL, hop, error=(
                    f"HTTP {st}: robots.txt unreachable (RFC 9309 §2.3.1.4), disallow all")), False
            return result(DISALLOW_ALL, hop, error=(
                f"HTTP {st}: unexpected status, treated as unreachable, disallow all")), False

    @staticmethod
    def _redirect_target(base: str, location: str) -> str | None:
        try:
            parts = urlsplit(urljoin(base, location.strip()))
            if parts.scheme.lower() not in _DEFAULT_PORT or not parts.hostname:
                return None
            host = _normalise_host(parts.hostname)
            port = parts.port or _DEFAULT_PORT[parts.scheme.lower()]
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        # user:password@ and #fragment are dropped: never forward credentials a server put in a redirect.
        return f"{scheme}://{_authority(host, port, scheme)}{path}{query}"

    # ------------------------------------------------------------------ one request

    def _proxy_for(self, url: str) -> str | None:
        from requests.utils import get_environ_proxies, select_proxy, should_bypass_proxies

        proxies: dict[str, str] = {}
        if self.trust_env:
            proxies.update(get_environ_proxies(url))        # honours NO_PROXY
        explicit = {k: v for k, v in self.proxies.items() if k != "no_proxy"}
        if explicit and not should_bypass_proxies(url, no_proxy=self.proxies.get("no_proxy")):
            proxies.update(explicit)
        proxies.pop("no_proxy", None)
        return select_proxy(url, proxies) if proxies else None

    def _allowed_internal(self, host: str) -> bool:
        return self.allow_internal or host in self.allow_internal_hosts

    def _guard(self, host: str, port: int) -> list[str]:
        allow = self._allowed_internal(host)
        if self.resolver.override(host) is not None or ip_literal(host) is not None:
            return check_host_all(host, port, self.resolver, allow)
        fut = _dns_pool().submit(check_host_all, host, port, self.resolver, allow)
        try:
            return fut.result(timeout=self.timeout[0])
        except FutureTimeout:
            raise socket.gaierror(f"DNS lookup of {host!r} timed out after {self.timeout[0]:g}s") from None

    def _hop(self, url: str) -> _Hop:
        parts = urlsplit(url)
        scheme = parts.scheme
        host = _normalise_host(parts.hostname or "")
        port = parts.port or _DEFAULT_PORT[scheme]
        try:
            proxy = self._proxy_for(url)
            if proxy:
                check_host_for_proxy(host, self.resolver, self._allowed_internal(host))
                addresses: list[str | None] = [None]
            else:
                addresses = list(self._guard(host, port))[:_MAX_ADDRESSES]
        except BlockedAddress as exc:
            return _Hop("blocked", error=f"not fetched, blocked by our own SSRF guard (not the publisher's answer): {exc}")
        except OSError as exc:
            return _Hop("network", error=f"cannot resolve {host!r}: {exc}")
        hop = _Hop("network", error="no address")
        with self._gate.slot(host), self._slots:
            for ip in addresses:
                hop = self._send(url, scheme, host, port, ip, proxy)
                if hop.kind != "connect":
                    break
        return hop

    def _send(self, url: str, scheme: str, host: str, port: int, ip: str | None, proxy: str | None) -> _Hop:
        headers = {"User-Agent": self.user_agent, "Accept": "text/plain, */*;q=0.5",
                   "Accept-Encoding": "gzip, deflate", "Connection": "close"}
        if ip is None:
            req_url, proxies = url, {scheme: proxy}
        else:
            parts = urlsplit(url)
            pinned = f"[{ip.replace('%', '%25')}]" if ":" in ip else ip
            req_url = parts._replace(netloc=f"{pinned}:{port}").geturl()
            headers["Host"] = _authority(host, port, scheme)
            proxies = {}
        verify = self.verify
        if self.trust_env and verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        dl = _Deadline(self.deadline)
        token = _CURRENT_DEADLINE.set(dl)
        _WATCHDOG.add(dl)
        session = requests.Session()
        session.trust_env = False
        adapter = PinnedAdapter(pool_connections=2, pool_maxsize=1, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        where = f"{url} via {ip}" if ip else f"{url} via proxy"
        try:
            resp = session.get(req_url, headers=headers, timeout=self.timeout, allow_redirects=False,
                               stream=True, proxies=proxies, verify=verify)
            try:
                hop = _Hop("response", status=resp.status_code, address=ip)
                if 200 <= resp.status_code < 300:
                    try:
                        hop.body, hop.truncated = self._read_body(resp, dl)
                    except UndecodableBody as exc:
                        hop.body_error = str(exc)
                elif resp.status_code in _REDIRECTS:
                    hop.location = resp.headers.get("Location")
            finally:
                resp.close()
            if dl.expired:
                raise _DeadlineExceeded()
            return hop
        except _DeadlineExceeded:
            return _Hop("deadline", address=ip, error=(
                f"{where}: total deadline of {self.deadline:g}s exceeded (slow server): unreachable, "
                f"disallow all"))
        except Exception as exc:  # noqa: BLE001 - every transport failure is "unreachable" (§2.3.1.4)
            if dl.expired:
                return _Hop("deadline", address=ip, error=(
                    f"{where}: total deadline of {self.deadline:g}s exceeded (slow server): unreachable, "
                    f"disallow all"))
            if isinstance(exc, requests.exceptions.ProxyError):
                kind, what = "network", "proxy error"
            elif _is_connect_failure(exc):
                kind, what = "connect", "cannot connect"
            elif _is_tls_failure(exc):
                kind, what = "tls", "TLS error"
            elif any(isinstance(e, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError,
                                    socket.timeout)) for e in _chain(exc)):
                kind, what = "network", f"read timeout ({self.timeout[1]:g}s)"
            else:
                kind, what = "network", "network error"
            return _Hop(kind, address=ip, error=(
                f"{where}: {what}: {type(exc).__name__}: {_short(exc)}: unreachable (RFC 9309 §2.3.1.4), "
                f"disallow all"))
        finally:
            dl.finish()
            _CURRENT_DEADLINE.reset(token)
            session.close()

    def _read_body(self, resp: requests.Response, dl: _Deadline) -> tuple[bytes, bool]:
        """At most max_bytes (+1 to detect truncation) of the decoded body; the rest is never read.

        urllib3 is not asked to decode (it passes codings it does not know through as raw octets, and which
        ones it knows depends on the packages installed): ``provenance.robots.content`` decodes every coding
        we support, bounded, and raises ``UndecodableBody`` for the rest."""
        raw = resp.raw
        limit = self.max_bytes

        class _Coded:                      # the coded octets, transfer-decoded (chunked) by http.client
            @staticmethod
            def read(n: int = -1) -> bytes:
                if dl.passed():
                    raise _DeadlineExceeded()
                return raw.read(_READ_CHUNK if n is None or n < 0 else n, decode_content=False)

        body = decoding_reader(_Coded(), resp.headers.get("Content-Encoding"), max_input=4 * limit + _READ_CHUNK)
        buf = bytearray()
        while len(buf) <= limit:
            if dl.passed():
                raise _DeadlineExceeded()
            chunk = body.read(min(_READ_CHUNK, limit + 1 - len(buf)))
            if not chunk:
                break
            buf += chunk
        if dl.expired:       # an EOF caused by the watchdog is not the end of the body
            raise _DeadlineExceeded()
        truncated = len(buf) > limit
        return bytes(buf[:limit]), truncated


def _short(exc: BaseException, limit: int = 300) -> str:
    s = str(exc).replace("\n", " ")
    return s if len(s) <= limit else s[:limit] + "..."
