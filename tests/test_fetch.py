"""Live robots.txt fetching (provenance.robots.fetch) and the SSRF guard (provenance.netguard).

Everything runs against real servers on 127.0.0.1 started here: one HTTP server that serves many host names by
their ``Host`` header (and misbehaves on purpose for some), a TLS server, and a tiny forward proxy. Host names
reach 127.0.0.1 through ``Resolver(overrides=...)``; real DNS is switched off for the whole module (the
``no_dns`` fixture fails every non-numeric ``getaddrinfo``), so a passing test also proves that the fetcher
connected to the checked IP without resolving the name again. Hosts are given as ``http://name:PORT`` (or
``name:PORT``) because the servers listen on ephemeral ports.
"""

from __future__ import annotations

import gzip
import random
import socket
import socketserver
import ssl
import threading
import time
import warnings
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from provenance.netguard import (BlockedAddress, Resolver, check_host, check_host_for_proxy, ip_literal,
                                 is_internal)
from provenance.robots.fetch import MAX_CACHE_TTL, RobotsFetcher

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("no_dns")]  # no_dns: conftest

RULES = b"User-agent: *\nDisallow: /private/\nAllow: /private/ok\n"
BIG = 10 * 1024 * 1024
KIB500 = 500 * 1024


# --------------------------------------------------------------------------------------- no real DNS



# --------------------------------------------------------------------------------------- test server


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def server_bind(self):                      # skip HTTPServer's getfqdn() (a reverse DNS lookup)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class Server:
    """Serves many host names on one 127.0.0.1 port; routes by (Host name, path) or by Host name."""

    def __init__(self, tls_context: ssl.SSLContext | None = None):
        self.routes: dict = {}
        self.log: list[dict] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.stop = threading.Event()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def log_message(self, *args):
                pass

            def handle(self):
                if tls_context is None:
                    # A TLS ClientHello on this plain-HTTP port: hang up, like a server that does not speak TLS.
                    try:
                        self.connection.settimeout(2)
                        first = self.connection.recv(1, socket.MSG_PEEK)
                    except OSError:
                        return
                    if first == b"\x16":
                        with srv.lock:
                            srv.log.append({"t": time.monotonic(), "host": None, "path": None, "tls": True})
                        return
                super().handle()

            def do_GET(self):
                host = (self.headers.get("Host") or "").lower()
                name = host.rsplit(":", 1)[0] if not host.startswith("[") else host
                entry = {"t": time.monotonic(), "host": name, "host_header": host, "path": self.path,
                         "headers": dict(self.headers), "sent": 0}
                self.entry = entry
                with srv.lock:
                    srv.log.append(entry)
                    srv.active += 1
                    srv.max_active = max(srv.max_active, srv.active)
                try:
                    fn = srv.routes.get((name, urlsplit(self.path).path)) or srv.routes.get(name) or respond(404)
                    fn(self)
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout,
                        ssl.SSLError) as exc:
                    entry["error"] = type(exc).__name__
                finally:
                    entry["end"] = time.monotonic()
                    with srv.lock:
                        srv.active -= 1
                self.close_connection = True

        self.httpd = _Quiet(("127.0.0.1", 0), Handler)
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, host: str, scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}"

    def hits(self, host: str) -> list[dict]:
        with self.lock:
            return [e for e in self.log if e.get("host") == host]

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def respond(status: int, body: bytes = b"", headers: dict | None = None):
    def fn(h):
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)
    return fn


def redirect(status: int, location):
    def fn(h):
        loc = location() if callable(location) else location
        respond(status, b"", {"Location": loc})(h)
    return fn


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def mk(*hosts: str, **kw) -> RobotsFetcher:
    """A fetcher whose resolver pins ``hosts`` to 127.0.0.1; internal targets allowed unless told otherwise."""
    overrides = kw.pop("overrides", {})
    opts = dict(resolver=Resolver({**{h: "127.0.0.1" for h in hosts}, **overrides}), allow_internal=True,
                per_host_delay=0.0, timeout=(2, 2))
    opts.update(kw)
    return RobotsFetcher(**opts)


# --------------------------------------------------------------------------------------- status semantics


def test_200_with_rules_is_parsed(server):
    server.routes["ok.test"] = respond(200, RULES, {"Content-Type": "text/plain"})
    f = mk("ok.test", user_agent="provenance-test/1.0 (+https://example.invalid/bot)")
    r = f.fetch(server.url("OK.test"))
    assert (r.outcome, r.status, r.body, r.truncated, r.error) == ("parsed", 200, RULES, False, None)
    assert r.host == "ok.test"
    assert r.url == r.final_url == f"http://ok.test:{server.port}/robots.txt"
    assert r.redirects == 0 and r.address == "127.0.0.1" and r.cached is False
    assert r.fetched_at.tzinfo == timezone.utc and r.elapsed >= 0
    (hit,) = server.hits("ok.test")
    assert hit["path"] == "/robots.txt"
    assert hit["host_header"] == f"ok.test:{server.port}"          # the name travels in Host, not DNS
    assert hit["headers"]["User-Agent"] == "provenance-test/1.0 (+https://example.invalid/bot)"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_4xx_is_unavailable_allow_all(server, status):
    server.routes["gone.test"] = respond(status, b"<html>no</html>")
    r = mk("gone.test").fetch(server.url("gone.test"))
    assert (r.outcome, r.status, r.body) == ("allow_all", status, None)
    assert "2.3.1.3" in r.error


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_5xx_is_unreachable_disallow_all(server, status):
    """5xx, and 429 (rate limited: Google treats it as a server error), never "allow all"."""
    server.routes["down.test"] = respond(status, b"oops")
    r = mk("down.test").fetch(server.url("down.test"))
    assert (r.outcome, r.status, r.body) == ("disallow_all", status, None)
    assert "2.3.1.4" in r.error


def test_unexpected_status_is_treated_as_unreachable(server):
    server.routes["odd.test"] = respond(300, b"")                   # a 3xx without Location
    r = mk("odd.test").fetch(server.url("odd.test"))
    assert (r.outcome, r.status) == ("disallow_all", 300)


def test_binary_junk_200_is_parsed_as_bytes(server):
    junk = bytes(range(256)) * 4 + random.Random(7).randbytes(3000) + b"\x00\xff\xfe"
    server.routes["junk.test"] = respond(200, junk, {"Content-Type": "application/octet-stream"})
    r = mk("junk.test").fetch(server.url("junk.test"))
    assert (r.outcome, r.body, r.truncated) == ("parsed", junk, False)


def test_gzip_content_encoding_is_decoded(server):
    server.routes["gz.test"] = respond(200, gzip.compress(RULES), {"Content-Encoding": "gzip"})
    r = mk("gz.test").fetch(server.url("gz.test"))
    assert (r.outcome, r.body) == ("parsed", RULES)


# --------------------------------------------------------------------------------------- redirects


def test_redirect_chain_of_three_is_followed_and_parsed(server):
    p = server.port
    server.routes[("r1.test", "/robots.txt")] = redirect(301, f"http://r2.test:{p}/robots.txt")
    server.routes[("r2.test", "/robots.txt")] = redirect(302, "/moved/robots.txt")        # relative
    server.routes[("r2.test", "/moved/robots.txt")] = redirect(307, f"http://r3.test:{p}/final.txt")
    server.routes[("r3.test", "/final.txt")] = respond(200, RULES)
    r = mk("r1.test", "r2.test", "r3.test").fetch(server.url("r1.test"))
    assert (r.outcome, r.status, r.body, r.redirects) == ("parsed", 200, RULES, 3)
    assert r.host == "r1.test"                           # the rules apply to the initial authority (§2.3.1.2)
    assert r.url == f"http://r1.test:{p}/robots.txt"
    assert r.final_url == f"http://r3.test:{p}/final.txt"
    assert [(e["host"], e["path"]) for e in server.log] == [
        ("r1.test", "/robots.txt"), ("r2.test", "/robots.txt"), ("r2.test", "/moved/robots.txt"),
        ("r3.test", "/final.txt")]


def test_redirect_loop_gives_up_after_five_hops_as_unavailable(server):
    server.routes["loop.test"] = redirect(301, "/robots.txt")
    r = mk("loop.test").fetch(server.url("loop.test"))
    assert (r.outcome, r.status, r.redirects, r.body) == ("allow_all", 301, 5, None)
    assert "more than 5 consecutive redirects" in r.error
    assert len(server.hits("loop.test")) == 6           # the first request and five followed redirects


def test_redirect_to_unsupported_scheme_is_unreachable(server):
    server.routes["ftp.test"] = redirect(302, "ftp://ftp.example.invalid/robots.txt")
    r = mk("ftp.test").fetch(server.url("ftp.test"))
    assert (r.outcome, r.status) == ("disallow_all", 302)


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/robots.txt", "http://evil.test/robots.txt",
                                    "http://169.254.169.254/latest/meta-data/", "http://[::1]:{port}/robots.txt",
                                    "http://2130706433:{port}/robots.txt"])
def test_redirect_to_internal_address_is_blocked(server, target):
    loc = target.format(port=server.port)
    server.routes["start.test"] = redirect(302, loc)
    # Only start.test may be internal (it is the test server); every redirect target is guarded.
    f = mk("start.test", overrides={"evil.test": "10.0.0.5"}, allow_internal=False,
           allow_internal_hosts=["start.test"])
    r = f.fetch(server.url("start.test"))
    assert (r.outcome, r.status, r.redirects) == ("blocked", None, 1)     # our refusal, not the publisher's
    assert "blocked" in r.error and "internal" in r.error
    assert r.final_url.split("/")[2] in loc
    assert len(server.log) == 1                         # the internal target was never contacted


def test_internal_host_is_blocked_without_allow_internal(server):
    server.routes["pinned.test"] = respond(200, RULES)
    r = mk("pinned.test", allow_internal=False).fetch(server.url("pinned.test"))
    assert (r.outcome, r.status) == ("blocked", None)
    assert "127.0.0.1 is an internal address" in r.error
    assert server.log == []


# --------------------------------------------------------------------------------------- hostile servers


def _slow_big(chunked: bool):
    def fn(h):
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        h.send_response(200)
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(BIG))
        h.end_headers()
        piece = b"Disallow: /x\n" * 5041                              # 65,533 bytes
        while h.entry["sent"] < BIG and not h.server_stop.is_set():
            n = min(len(piece), BIG - h.entry["sent"])
            data = piece[:n]
            h.wfile.write(b"%x\r\n%s\r\n" % (n, data) if chunked else data)
            h.entry["sent"] += n
            time.sleep(0.003)
        if chunked:
            h.wfile.write(b"0\r\n\r\n")
    return fn


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_10mb_body_only_500kib_read(server, chunked):
    server.routes["big.test"] = _with_stop(server, _slow_big(chunked))
    t0 = time.monotonic()
    r = mk("big.test").fetch(server.url("big.test"))
    assert (r.outcome, r.status, r.truncated) == ("parsed", 200, True)
    assert len(r.body) == KIB500
    assert time.monotonic() - t0 < 5
    (hit,) = server.hits("big.test")
    _wait_for(lambda: "end" in hit)
    # The client hung up early: the server's writes failed long before 10 MB were sent.
    assert hit.get("error") in ("BrokenPipeError", "ConnectionResetError")
    assert hit["sent"] < BIG // 2


def test_gzip_bomb_is_bounded_after_decoding(server):
    bomb = gzip.compress(b"\n" * (50 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100 * 1024
    server.routes["bomb.test"] = respond(200, bomb, {"Content-Encoding": "gzip"})
    r = mk("bomb.test").fetch(server.url("bomb.test"))
    assert (r.outcome, r.truncated, len(r.body)) == ("parsed", True, KIB500)


def _with_stop(server, fn):
    def wrapped(h):
        h.server_stop = server.stop
        fn(h)
    return wrapped


def _wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    assert cond()


def test_server_that_never_answers_times_out(server):
    server.routes["mute.test"] = lambda h: server.stop.wait(10)
    t0 = time.monotonic()
    r = mk("mute.test", timeout=(0.5, 0.5)).fetch(server.url("mute.test"))
    assert (r.outcome, r.status, r.body) == ("disallow_all", None, None)
    assert "timeout" in r.error.lower()
    assert time.monotonic() - t0 < 3


def _trickle_body(h):
    h.send_response(200)
    h.send_header("Content-Length", "100000")
    h.end_headers()
    for _ in range(150):                                    # bounded: 30 s at most
        if h.server_stop.is_set():
            return
        h.wfile.write(b"a")
        time.sleep(0.2)


def _trickle_headers(h):
    for b in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"p" * 200:
        if h.server_stop.is_set():
            return
        h.wfile.write(bytes([b]))
        time.sleep(0.2)


@pytest.mark.parametrize("how", [_trickle_body, _trickle_headers], ids=["body", "headers"])
def test_trickling_server_hits_the_total_deadline(server, how):
    server.routes["drip.test"] = _with_stop(server, how)
    t0 = time.monotonic()
    r = mk("drip.test", timeout=(0.5, 0.5)).fetch(server.url("drip.test"))   # deadline 3 x 0.5 s
    took = time.monotonic() - t0
    assert (r.outcome, r.body) == ("disallow_all", None)
    assert "deadline" in r.error
    assert 1.4 < took < 3.5
    (hit,) = server.hits("drip.test")
    _wait_for(lambda: "end" in hit)                     # the server noticed the hang-up and stopped


def test_truncated_response_is_a_network_error(server):
    def short(h):
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b"User-agent: *\n")
    server.routes["short.test"] = short
    r = mk("short.test").fetch(server.url("short.test"))
    assert (r.outcome, r.status, r.body) == ("disallow_all", None, None)


def test_connection_refused_and_unknown_name_are_unreachable(server):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead_port = s.getsockname()[1]
    s.close()
    f = mk("dead.test")
    r = f.fetch(f"http://dead.test:{dead_port}")
    assert (r.outcome, r.status) == ("disallow_all", None) and "cannot connect" in r.error
    r = f.fetch("http://no-such-name.test")            # not in the overrides; DNS says no
    assert (r.outcome, r.status) == ("disallow_all", None) and "cannot resolve" in r.error


def test_idn_host_is_normalised_to_ascii(server):
    server.routes["xn--bcher-kva.test"] = respond(200, RULES)
    r = mk("xn--bcher-kva.test").fetch(f"http://BÜCHER.test:{server.port}/")
    assert (r.outcome, r.host) == ("parsed", "xn--bcher-kva.test")
    assert server.hits("xn--bcher-kva.test")[0]["host_header"] == f"xn--bcher-kva.test:{server.port}"


def test_invalid_targets_do_not_raise(server):
    f = mk()
    for bad in ["", "http://", "exa mple.com", "a.test:99999", "[::1"]:
        r = f.fetch(bad)
        assert r.outcome == "blocked" and r.error.startswith("invalid target")    # our refusal
    with pytest.raises(ValueError):
        RobotsFetcher(scheme_order=("gopher",))


# --------------------------------------------------------------------------------------- schemes


def test_bare_host_tries_https_then_http_on_connection_failure(server):
    server.routes["fb.test"] = respond(200, RULES)
    r = mk("fb.test").fetch(f"fb.test:{server.port}")
    assert (r.outcome, r.body) == ("parsed", RULES)
    assert r.url == f"https://fb.test:{server.port}/robots.txt"
    assert r.final_url == f"http://fb.test:{server.port}/robots.txt"
    assert any(e.get("tls") for e in server.log)        # the https attempt reached the server first


def test_explicit_scheme_does_not_fall_back(server):
    server.routes["only.test"] = respond(200, RULES)
    r = mk("only.test").fetch(f"only.test:{server.port}", scheme="https")
    assert (r.outcome, r.status) == ("disallow_all", None)
    assert server.hits("only.test") == []


def _tls_files(tmp_path, name: str):
    pytest.importorskip("cryptography")
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provenance test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


def test_https_is_pinned_to_the_ip_with_sni_and_certificate_checked_for_the_name(tmp_path):
    ca_pem, cert_pem, key_pem = _tls_files(tmp_path, "secure.test")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_pem, key_pem)
    sni: list = []
    ctx.sni_callback = lambda sock, name, c: sni.append(name)
    srv = Server(tls_context=ctx)
    try:
        srv.routes["secure.test"] = respond(200, RULES)
        f = mk("secure.test", "other.test", verify=str(ca_pem))
        r = f.fetch(srv.url("secure.test", "https"))
        assert (r.outcome, r.body, r.address) == ("parsed", RULES, "127.0.0.1")
        assert r.final_url == f"https://secure.test:{srv.port}/robots.txt"
        assert sni == ["secure.test"]
        assert srv.hits("secure.test")[0]["host_header"] == f"secure.test:{srv.port}"
        # Same IP, another name: the certificate is checked against the name, not the IP, and fails.
        r = f.fetch(srv.url("other.test", "https"))
        assert (r.outcome, r.status) == ("disallow_all", None)
        assert "TLS" in r.error and "other.test" in r.error
    finally:
        srv.close()


# --------------------------------------------------------------------------------------- politeness, concurrency


def test_per_host_delay_between_requests_to_the_same_host(server):
    server.routes["polite.test"] = respond(200, RULES)
    server.routes["other.test"] = respond(200, RULES)
    f = mk("polite.test", "other.test", per_host_delay=0.4, cache_ttl=0)
    url = server.url("polite.test")
    f.fetch(url)
    f.fetch(url)
    results = list(f.fetch_many([url, url, server.url("other.test")]))
    assert all(r.outcome == "parsed" for r in results)
    hits = server.hits("polite.test")
    assert len(hits) == 4
    starts = [e["t"] for e in hits]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.4, gaps                       # measured on the server's clock
    # Another host is not held up by polite.test's delay.
    assert server.hits("other.test")[0]["t"] - starts[2] < 0.3


def test_global_concurrency_limit(server):
    def slow(h):
        time.sleep(0.3)
        respond(200, RULES)(h)
    hosts = [f"slow{i}.test" for i in range(6)]
    for h in hosts:
        server.routes[h] = slow
    f = mk(*hosts, max_workers=2)
    results = list(f.fetch_many(server.url(h) for h in hosts))
    assert sorted(r.host for r in results) == hosts and all(r.outcome == "parsed" for r in results)
    assert server.max_active == 2
    # Direct fetch() calls from many threads share the same limit.
    server.max_active = 0
    f.clear_cache()
    threads = [threading.Thread(target=f.fetch, args=(server.url(h),)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.max_active == 2


def test_concurrent_fetches_of_one_host_make_one_request(server):
    def slow(h):
        time.sleep(0.3)
        respond(200, RULES)(h)
    server.routes["same.test"] = slow
    f = mk("same.test", max_workers=4)
    results = list(f.fetch_many([server.url("same.test")] * 4))
    assert len(server.hits("same.test")) == 1
    assert sorted(r.cached for r in results) == [False, True, True, True]


def test_progress_callback_and_items(server):
    for h in ("p1.test", "p2.test", "p3.test"):
        server.routes[h] = respond(200, RULES)
    seen = []
    f = mk("p1.test", "p2.test", "p3.test")
    items = [server.url("p1.test"), ("http", f"p2.test:{server.port}"), ("http", "p3.test", server.port), 42]
    results = list(f.fetch_many(items, progress=seen.append))
    assert len(results) == len(seen) == 4
    assert sorted(r.outcome for r in results) == ["blocked", "parsed", "parsed", "parsed"]   # 42: invalid target


# --------------------------------------------------------------------------------------- cache


def test_cache_serves_second_fetch_without_a_request(server):
    server.routes["cache.test"] = respond(200, RULES)
    f = mk("cache.test")
    a = f.fetch(server.url("cache.test"))
    b = f.fetch(server.url("cache.test"))
    assert len(server.hits("cache.test")) == 1
    assert (b.cached, b.body, b.fetched_at) == (True, RULES, a.fetched_at)


def test_cache_entries_expire(server):
    server.routes["ttl.test"] = respond(200, RULES)
    server.routes["flaky.test"] = respond(503)
    f = mk("ttl.test", "flaky.test", cache_ttl=1.0, unreachable_ttl=0.1)
    f.fetch(server.url("ttl.test"))
    f.fetch(server.url("flaky.test"))
    time.sleep(0.2)
    f.fetch(server.url("ttl.test"))
    f.fetch(server.url("flaky.test"))                   # disallow_all results are kept for less time
    assert (len(server.hits("ttl.test")), len(server.hits("flaky.test"))) == (1, 2)
    time.sleep(0.9)
    f.fetch(server.url("ttl.test"))
    assert len(server.hits("ttl.test")) == 2


def test_cache_ttl_is_clamped_to_24_hours():
    with pytest.warns(UserWarning, match="24 h"):
        f = RobotsFetcher(cache_ttl=7 * 24 * 3600)
    assert f.cache_ttl == MAX_CACHE_TTL == 24 * 3600
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert RobotsFetcher(cache_ttl=3600).cache_ttl == 3600


# --------------------------------------------------------------------------------------- SSRF guard


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "[fe80::1]", "0.0.0.0",
                                  "::ffff:127.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "224.0.0.1",
                                  "255.255.255.255", "fc00::1", "2002:7f00:1::1", "64:ff9b::a00:5",
                                  "2130706433", "0x7f.1", "127.1", "internal.test"])
def test_guard_refuses_internal_targets(host):
    resolver = Resolver({"internal.test": "10.0.0.5"})
    with pytest.raises(BlockedAddress, match="internal address"):
        check_host(host, 80, resolver)
    assert check_host(host, 80, resolver, allow_internal=True)


def test_guard_allows_a_public_literal_without_connecting():
    assert check_host("93.184.216.34", 443, Resolver()) == "93.184.216.34"
    assert check_host("2606:2800:220:1::1", 443, Resolver()) == "2606:2800:220:1::1"
    assert check_host("public.test", 443, Resolver({"public.test": "93.184.216.34"})) == "93.184.216.34"
    assert not is_internal("64:ff9b::5db8:d822")      # NAT64 of a public address


def test_guard_refuses_a_name_with_any_internal_address():
    resolver = Resolver({"mixed.test": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(BlockedAddress, match="10.0.0.5"):
        check_host("mixed.test", 80, resolver)


def test_guard_resolves_once_per_hop(server):
    class Counting(Resolver):
        calls = 0

        def resolve(self, host, port):
            Counting.calls += 1
            return super().resolve(host, port)

    server.routes["once.test"] = respond(200, RULES)
    f = mk(resolver=Counting({"once.test": "127.0.0.1"}))
    assert f.fetch(server.url("once.test")).outcome == "parsed"
    assert Counting.calls == 1


def test_misc_guard_helpers():
    assert ip_literal("[::1]") == "::1" and ip_literal("example.com") is None and ip_literal("1.de") is None
    assert is_internal("not an ip")
    with pytest.raises(ValueError):
        Resolver({"x.test": "not-an-ip"})
    check_host_for_proxy("example.com", Resolver())
    for h in ("localhost", "a.localhost", "10.0.0.1", "2130706433"):
        with pytest.raises(BlockedAddress):
            check_host_for_proxy(h, Resolver())


# --------------------------------------------------------------------------------------- proxy


@pytest.fixture
def proxy():
    """A forward proxy that answers absolute-URI GETs itself (it never connects anywhere)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.path)
            if self.path == "http://proxied.test/robots.txt":
                respond(200, b"User-agent: *\nDisallow: /via-proxy\n")(self)
            else:
                respond(502, b"")(self)
            self.close_connection = True

    httpd = _Quiet(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def test_fetch_through_a_proxy(proxy):
    url, seen = proxy
    # No overrides, no allow_internal: the name is resolved by the proxy, and the proxy (ours) is allowed.
    f = RobotsFetcher(proxies={"http": url}, per_host_delay=0, timeout=(2, 2))
    r = f.fetch("http://proxied.test")
    assert (r.outcome, r.body, r.address) == ("parsed", b"User-agent: *\nDisallow: /via-proxy\n", None)
    assert seen == ["http://proxied.test/robots.txt"]
    r = f.fetch("http://127.0.0.1/")                   # internal literal: refused before the proxy sees it
    assert r.outcome == "blocked" and "through the proxy" in r.error
    assert len(seen) == 1


def test_proxy_from_environment(proxy, monkeypatch):
    url, seen = proxy
    for var in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("http_proxy", url)
    monkeypatch.setenv("HTTP_PROXY", url)
    r = RobotsFetcher(trust_env=True, per_host_delay=0, timeout=(2, 2)).fetch("http://proxied.test")
    assert r.outcome == "parsed" and seen == ["http://proxied.test/robots.txt"]
    # Without trust_env the environment is ignored: the name is resolved locally (and fails here).
    r = RobotsFetcher(per_host_delay=0, timeout=(2, 2)).fetch("http://proxied.test")
    assert r.outcome == "disallow_all" and "cannot resolve" in r.error and len(seen) == 1
    # NO_PROXY is honoured with trust_env.
    monkeypatch.setenv("no_proxy", "proxied.test")
    r = RobotsFetcher(trust_env=True, per_host_delay=0, timeout=(2, 2)).fetch("http://proxied.test")
    assert r.outcome == "disallow_all" and len(seen) == 1


# --------------------------------------------------------------------------------------- throughput


def test_many_hosts(server):
    hosts = [f"h{i}.test" for i in range(200)]
    for h in hosts:
        server.routes[h] = respond(200, RULES)
    f = mk(*hosts, max_workers=8, per_host_delay=1.0)
    t0 = time.monotonic()
    results = list(f.fetch_many(server.url(h) for h in hosts))
    took = time.monotonic() - t0
    assert len(results) == 200 and all(r.outcome == "parsed" for r in results)
    print(f"\n200 robots.txt fetches from 127.0.0.1 in {took:.2f}s = {200 / took:.0f}/s")
