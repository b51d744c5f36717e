"""robots.txt records never confuse our side with the publisher's (issue 14, point 8).

Through the CLI (`provenance robots fetch|import`, `provenance consent`, `provenance verdicts`) against a real
HTTP server on 127.0.0.1 (and one on [::1]), checking the ledger rows (outcome, host, http_status) and consent:

- a fetch our SSRF guard refused is `blocked` (our refusal), never the publisher's `disallow_all`; consent
  treats it as unknown, and the consent/verdict notes say why;
- an IPv6 host with a port keeps its brackets (`[::1]:PORT`, not the other address `::1:PORT`);
- HTTP 429 is unreachable (`disallow_all`), never `allow_all`;
- UTF-16/UTF-32 bodies (BOM-marked) and a UTF-8 BOM are decoded before parsing;
- a Content-Encoding we did not ask for is decoded when we can (br, zstd, gzip; capped at 500 KiB), otherwise
  the fetch is unreachable: coded octets are never parsed. The same decoding applies to WARC captures.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import pytest
import zstandard

from conftest import run_cli, sql

pytestmark = pytest.mark.timeout(300)

AGENTS = "GPTBot,ClaudeBot"
BLOCK_GPTBOT = "User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
KIB500 = 500 * 1024


class _Server:
    """Serves /robots.txt per Host name: ``routes[name] = (status, body bytes, headers)``; counts requests."""

    def __init__(self, family: int = socket.AF_INET, address: str = "127.0.0.1"):
        self.routes: dict[str, tuple[int, bytes, dict]] = {}
        self.hits: list[tuple[str, str]] = []  # (Host header, path)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle(self):
                # A TLS ClientHello (the https attempt of a bare host:port target): hang up, like a plain server.
                try:
                    self.connection.settimeout(5)
                    if self.connection.recv(1, socket.MSG_PEEK) == b"\x16":
                        return
                except OSError:
                    return
                super().handle()

            def do_GET(self):  # noqa: N802
                host_header = self.headers.get("Host") or ""
                outer.hits.append((host_header, self.path))
                h = host_header.lower()
                name = h[1:h.index("]")] if h.startswith("[") else h.rsplit(":", 1)[0]
                status, body, headers = outer.routes.get(name, (404, b"", {})) if self.path == "/robots.txt" \
                    else (404, b"", {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *a):
                pass

        class Srv(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def server_bind(self):  # no reverse DNS lookup (HTTPServer's getfqdn)
                socketserver.TCPServer.server_bind(self)
                self.server_name, self.server_port = self.server_address[:2]

        self.httpd = Srv((address, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _ledger(tmp_path, urls: list[str]) -> str:
    """A scanned ledger whose documents come from ``urls`` (crawled 2024)."""
    from provenance.pipelines.scan import scan_corpus

    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"url": u, "text": f"words of {u} " * 3,
                                          "timestamp": "2024-01-01T00:00:00Z"}) + "\n" for u in urls))
    ledger = str(tmp_path / "r.duckdb")
    scan_corpus(inputs=[str(corpus)], ledger=ledger, quiet=True)
    return ledger


def _cli(args, tmp_path, prefect_api):
    res = run_cli(args, cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def _snapshots(ledger) -> dict[str, dict]:
    rows = sql(ledger, "SELECT host, source, outcome, http_status, url, body, truncated, n_bytes, error "
                       "FROM robots_snapshots ORDER BY captured_at")
    keys = ["host", "source", "outcome", "http_status", "url", "body", "truncated", "n_bytes", "error"]
    return {r[0]: dict(zip(keys, r)) for r in rows}  # the latest snapshot per host


def _consent(ledger, agent: str) -> dict[str, tuple]:
    rows = sql(ledger, "SELECT d.host, c.now_outcome, c.now_rule FROM document_consent c "
                       "JOIN documents d USING (shard_id, position) WHERE c.agent = ?", [agent])
    return {h: (o, rule) for h, o, rule in rows}


# --------------------------------------------------------------------------------------- blocked


def test_guard_refusal_is_blocked_never_the_publishers_disallow(tmp_path, prefect_api, server):
    """A host resolving to loopback, fetched without --allow-internal: no request, a `blocked` row (no HTTP
    status), consent unknown (not disallowed), and the notes of `robots fetch`, `consent` and `verdicts` say it
    was our refusal. A later fetch that is allowed replaces it; a blocked fetch after a real one flips nothing."""
    server.routes["pub.test"] = (200, BLOCK_GPTBOT.encode(), {"Content-Type": "text/plain"})
    ledger = _ledger(tmp_path, [f"http://pub.test:{server.port}/a", f"http://pub.test:{server.port}/b"])
    resolve = ["--resolve", "pub.test=127.0.0.1", "--delay", "0", "--agents", AGENTS]

    res = _cli(["robots", "fetch", "--ledger", ledger, *resolve], tmp_path, prefect_api)
    assert server.hits == []                                            # never contacted
    assert "pub.test: blocked" in res.stderr and "disallow_all" not in res.stderr
    snap = _snapshots(ledger)["pub.test"]
    assert (snap["source"], snap["outcome"], snap["http_status"], snap["body"]) == ("live", "blocked", None, None)
    assert "SSRF guard" in snap["error"] and "127.0.0.1 is an internal address" in snap["error"]
    for agent in ("GPTBot", "ClaudeBot"):
        outcome, rule = _consent(ledger, agent)["pub.test"]
        assert outcome == "unknown" and "SSRF guard" in rule and "not the publisher's" in rule
    assert "note: robots.txt of 1 host(s) (pub.test) was not fetched: our own SSRF guard refused it" in res.stdout
    assert sql(ledger, "SELECT disallowed_docs_now, unknown_docs_now FROM consent_by_agent WHERE agent = 'GPTBot'") \
        == [(0, 2)]

    res = _cli(["consent", "--ledger", ledger, "--format", "json"], tmp_path, prefect_api)
    table = {r["agent"]: r for r in json.loads(res.stdout)}
    assert table["GPTBot"]["unknown_docs_now"] == 2 and table["GPTBot"]["share_docs_disallowed_now"] == 0
    assert "not fetched: our own SSRF guard refused it" in res.stderr
    res = _cli(["verdicts", "--ledger", ledger], tmp_path, prefect_api)
    assert "note: robots.txt of 1 host(s) (pub.test) was not fetched" in res.stdout

    # Allowed now: the publisher's own answer (GPTBot disallowed) is recorded.
    _cli(["robots", "fetch", "--ledger", ledger, "--allow-internal", *resolve], tmp_path, prefect_api)
    snap = _snapshots(ledger)["pub.test"]
    assert (snap["outcome"], snap["http_status"]) == ("parsed", 200)
    assert _consent(ledger, "GPTBot")["pub.test"][0] == "disallowed"
    assert _consent(ledger, "ClaudeBot")["pub.test"][0] == "allowed"

    # Refused again: now unknown again; the earlier parsed snapshot stays, and no host "stopped disallowing".
    res = _cli(["robots", "fetch", "--ledger", ledger, *resolve], tmp_path, prefect_api)
    assert sql(ledger, "SELECT outcome FROM robots_snapshots ORDER BY captured_at") == [
        ("blocked",), ("parsed",), ("blocked",)]
    assert _consent(ledger, "GPTBot")["pub.test"][0] == "unknown"
    assert sql(ledger, "SELECT count(*) FROM consent_changes") == [(0,)]
    assert sql(ledger, "SELECT count(*) FROM robots_snapshots WHERE outcome = 'disallow_all'") == [(0,)]


# --------------------------------------------------------------------------------------- IPv6 brackets


def test_ipv6_host_with_a_port_keeps_its_brackets(tmp_path, prefect_api):
    """Documents from http://[::1]:PORT/: `robots fetch` (targets from the ledger) asks [::1]:PORT, not the
    address ::1:PORT; the snapshot is keyed by the documents' host (::1) and its URL keeps the brackets."""
    try:
        v6 = _Server(socket.AF_INET6, "::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    try:
        v6.routes["::1"] = (200, BLOCK_GPTBOT.encode(), {})
        ledger = _ledger(tmp_path, [f"http://[::1]:{v6.port}/page"])
        assert sql(ledger, "SELECT host FROM documents") == [("::1",)]
        from provenance.ledger import Ledger
        from provenance.robots.consent import fetch_targets

        with Ledger(ledger, read_only=True) as led:
            assert fetch_targets(led) == [f"[::1]:{v6.port}"]
        res = _cli(["robots", "fetch", "--ledger", ledger, "--allow-internal", "--delay", "0", "--agents", AGENTS],
                   tmp_path, prefect_api)
        assert f"::1:{v6.port}" not in res.stderr.replace(f"[::1]:{v6.port}", "")
        assert ("[::1]:%d" % v6.port, "/robots.txt") in v6.hits         # the Host header keeps the brackets too
        (row,) = sql(ledger, "SELECT host, outcome, http_status, url FROM robots_snapshots")
        assert row == ("::1", "parsed", 200, f"http://[::1]:{v6.port}/robots.txt")
        assert _consent(ledger, "GPTBot")["::1"][0] == "disallowed"
        assert _consent(ledger, "ClaudeBot")["::1"][0] == "allowed"
    finally:
        v6.close()


def test_imported_ipv6_hosts_keep_brackets_in_urls(tmp_path, prefect_api):
    ledger = _ledger(tmp_path, ["http://[2001:db8::1]:8080/x"])
    src = tmp_path / "bodies.jsonl"
    src.write_text(json.dumps({"host": "[2001:DB8::1]:8080", "robots_txt": BLOCK_GPTBOT,
                               "captured_at": "2023-01-01T00:00:00Z"}) + "\n")
    _cli(["robots", "import", str(src), "--ledger", ledger, "--agents", AGENTS], tmp_path, prefect_api)
    (row,) = sql(ledger, "SELECT host, outcome, url FROM robots_snapshots")
    assert row == ("2001:db8::1", "parsed", "https://[2001:db8::1]/robots.txt")
    assert _consent(ledger, "GPTBot")["2001:db8::1"][0] == "disallowed"


# --------------------------------------------------------------------------------------- 429


def test_429_is_unreachable_never_allow_all(tmp_path, prefect_api, server):
    """Rate-limiting the auditor must not turn consent into "allowed": 429 is disallow_all, live and imported."""
    server.routes["busy.test"] = (429, b"slow down", {"Retry-After": "3600"})
    ledger = _ledger(tmp_path, [f"http://busy.test:{server.port}/a", "https://old.test/a"])
    res = _cli(["robots", "fetch", f"http://busy.test:{server.port}", "--ledger", ledger, "--allow-internal",
                "--resolve", "busy.test=127.0.0.1", "--delay", "0", "--agents", AGENTS], tmp_path, prefect_api)
    assert "busy.test: disallow_all (HTTP 429)" in res.stderr
    snap = _snapshots(ledger)["busy.test"]
    assert (snap["outcome"], snap["http_status"], snap["body"]) == ("disallow_all", 429, None)
    assert "rate limited" in snap["error"]
    for agent in ("GPTBot", "ClaudeBot"):
        outcome, rule = _consent(ledger, agent)["busy.test"]
        assert outcome == "disallowed" and "429" in rule and "rate limited" in rule

    src = tmp_path / "bodies.jsonl"
    src.write_text(json.dumps({"host": "old.test", "status": 429, "robots_txt": "",
                               "captured_at": "2023-06-01T00:00:00Z"}) + "\n")
    _cli(["robots", "import", str(src), "--ledger", ledger, "--agents", AGENTS], tmp_path, prefect_api)
    snap = _snapshots(ledger)["old.test"]
    assert (snap["source"], snap["outcome"], snap["http_status"]) == ("jsonl", "disallow_all", 429)
    assert _consent(ledger, "ClaudeBot")["old.test"][0] == "disallowed"


# --------------------------------------------------------------------------------------- UTF-16/32


BOMS = {
    "u16le.test": b"\xff\xfe" + BLOCK_GPTBOT.encode("utf-16-le"),
    "u16be.test": b"\xfe\xff" + BLOCK_GPTBOT.encode("utf-16-be"),
    "u32le.test": b"\xff\xfe\x00\x00" + BLOCK_GPTBOT.encode("utf-32-le"),
    "u32be.test": b"\x00\x00\xfe\xff" + BLOCK_GPTBOT.encode("utf-32-be"),
    "u8bom.test": b"\xef\xbb\xbf" + BLOCK_GPTBOT.encode(),
}


def test_utf16_and_utf32_bodies_are_decoded_before_parsing(tmp_path, prefect_api, server):
    """Read as UTF-8, a UTF-16 file matches no directive and would allow GPTBot: decoded, it disallows it."""
    for host, body in BOMS.items():
        server.routes[host] = (200, body, {"Content-Type": "text/plain; charset=utf-16"})
    ledger = _ledger(tmp_path, [f"http://{h}:{server.port}/page" for h in BOMS] + ["http://folder16.test/x"])
    args = ["robots", "fetch", *[f"http://{h}:{server.port}" for h in BOMS], "--ledger", ledger, "--allow-internal",
            "--delay", "0", "--agents", AGENTS]
    for h in BOMS:
        args += ["--resolve", f"{h}=127.0.0.1"]
    _cli(args, tmp_path, prefect_api)
    snaps = _snapshots(ledger)
    for host in BOMS:
        assert (snaps[host]["outcome"], snaps[host]["http_status"]) == ("parsed", 200), host
        assert snaps[host]["body"] == BLOCK_GPTBOT, host                  # stored decoded, BOM dropped
        assert _consent(ledger, "GPTBot")[host] == ("disallowed", "Disallow: /"), host
        assert _consent(ledger, "ClaudeBot")[host][0] == "allowed", host

    folder = tmp_path / "robots"
    folder.mkdir()
    (folder / "folder16.test.txt").write_bytes(BOMS["u16le.test"])
    _cli(["robots", "import", str(folder), "--captured-at", "2023-01-01", "--ledger", ledger, "--agents", AGENTS],
         tmp_path, prefect_api)
    assert _snapshots(ledger)["folder16.test"]["body"] == BLOCK_GPTBOT
    assert _consent(ledger, "GPTBot")["folder16.test"][0] == "disallowed"


# --------------------------------------------------------------------------------------- Content-Encoding


def test_content_encodings_we_did_not_ask_for(tmp_path, prefect_api, server):
    """We ask for gzip/deflate; servers send br, zstd, stacked codings or unknown ones. Decodable ones are
    decoded (and capped at 500 KiB); anything else is unreachable, and its raw octets (here: a plain file
    that would allow everyone) are never parsed."""
    rules = BLOCK_GPTBOT.encode()
    big = rules + b"# padding\n" * 300_000                               # ~3 MB decoded, well past 500 KiB
    server.routes.update({
        "br.test": (200, brotli.compress(rules), {"Content-Encoding": "br"}),
        "zstd.test": (200, zstandard.ZstdCompressor().compress(rules), {"Content-Encoding": "zstd"}),
        "stacked.test": (200, brotli.compress(gzip.compress(rules)), {"Content-Encoding": "gzip, br"}),
        "bigbr.test": (200, brotli.compress(big, quality=5), {"Content-Encoding": "br"}),
        "xz.test": (200, b"User-agent: *\nAllow: /\n", {"Content-Encoding": "xz"}),
        "broken.test": (200, b"User-agent: *\nAllow: /\n", {"Content-Encoding": "gzip"}),
    })
    hosts = list(server.routes)
    ledger = _ledger(tmp_path, [f"http://{h}:{server.port}/page" for h in hosts])
    args = ["robots", "fetch", "--ledger", ledger, "--allow-internal", "--delay", "0", "--agents", AGENTS]
    for h in hosts:
        args += ["--resolve", f"{h}=127.0.0.1"]
    _cli(args, tmp_path, prefect_api)
    snaps = _snapshots(ledger)
    gpt, claude = _consent(ledger, "GPTBot"), _consent(ledger, "ClaudeBot")
    for host in ("br.test", "zstd.test", "stacked.test", "bigbr.test"):
        assert (snaps[host]["outcome"], snaps[host]["http_status"]) == ("parsed", 200), host
        assert snaps[host]["body"].startswith(BLOCK_GPTBOT), host
        assert gpt[host][0] == "disallowed" and claude[host][0] == "allowed", host
    assert snaps["br.test"]["truncated"] is False
    assert snaps["bigbr.test"]["truncated"] is True and snaps["bigbr.test"]["n_bytes"] == KIB500
    for host, why in (("xz.test", "Content-Encoding 'xz' cannot be decoded"), ("broken.test", "damaged gzip data")):
        s = snaps[host]
        assert (s["outcome"], s["http_status"], s["body"]) == ("disallow_all", 200, None), host
        assert why in s["error"], host
        assert gpt[host][0] == claude[host][0] == "disallowed", host       # unreachable, never the raw "Allow: /"
        assert "cannot be decoded" in claude[host][1]


def test_warc_captures_are_decoded_the_same_way(tmp_path, prefect_api):
    """`robots import` of WARC captures whose HTTP headers keep the server's coding: br and zstd decoded (the
    output capped at 500 KiB: cut, not refused), UTF-16 decoded; an unknown coding is unknown, never parsed."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rules = BLOCK_GPTBOT.encode()
    big = rules + b"# padding\n" * 300_000
    captures = [
        ("w-br.test", brotli.compress(rules), [("Content-Encoding", "br")]),
        ("w-zstd.test", zstandard.ZstdCompressor().compress(rules), [("Content-Encoding", "zstd")]),
        ("w-big.test", zstandard.ZstdCompressor().compress(big), [("Content-Encoding", "zstd")]),
        ("w-u16.test", BOMS["u16be.test"], []),
        ("w-xz.test", b"User-agent: *\nAllow: /\n", [("Content-Encoding", "xz")]),
    ]
    p = tmp_path / "robotstxt.warc.gz"
    with open(p, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for host, payload, headers in captures:
            w.write_record(w.create_warc_record(
                f"https://{host}/robots.txt", "response", payload=io.BytesIO(payload),
                http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/plain"), *headers], protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": "2023-05-01T00:00:00Z"}))
    ledger = _ledger(tmp_path, [f"https://{h}/page" for h, _, _ in captures])
    _cli(["robots", "import", str(p), "--ledger", ledger, "--agents", AGENTS], tmp_path, prefect_api)
    snaps = _snapshots(ledger)
    gpt = _consent(ledger, "GPTBot")
    for host in ("w-br.test", "w-zstd.test", "w-big.test", "w-u16.test"):
        assert (snaps[host]["source"], snaps[host]["outcome"], snaps[host]["http_status"]) == ("cc-warc", "parsed", 200)
        assert snaps[host]["body"].startswith(BLOCK_GPTBOT), host
        assert gpt[host][0] == "disallowed", host
    assert snaps["w-big.test"]["truncated"] is True and snaps["w-big.test"]["n_bytes"] == KIB500
    s = snaps["w-xz.test"]
    assert (s["outcome"], s["http_status"], s["body"]) == ("unknown", 200, None)
    assert "Content-Encoding 'xz' cannot be decoded" in s["error"]
    assert gpt["w-xz.test"][0] == "unknown"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd", "gzip, br"])
def test_decoders_cut_at_the_limit_and_refuse_broken_data(coding):
    """The decoders behind both paths: the first 500 KiB exactly (a bomb is never inflated further), a
    stream that breaks off or is not what its coding says is refused, never returned half-decoded or raw."""
    import zlib

    from provenance.robots.content import UndecodableBody, decode
    from provenance.robots.matcher import RobotsTxt

    def code(data: bytes, c: str) -> bytes:
        return {"gzip": gzip.compress, "deflate": zlib.compress, "br": lambda b: brotli.compress(b, quality=4),
                "zstd": zstandard.ZstdCompressor().compress}[c](data)

    body = BLOCK_GPTBOT.encode() + b"".join(b"Disallow: /p%d\n" % i for i in range(200_000))
    coded = body
    for c in [x.strip() for x in coding.split(",")]:
        coded = code(coded, c)
    out, cut = decode(coded, coding, KIB500)
    assert out == body[:KIB500] and cut is True
    assert decode(coded, coding, len(body)) == (body, False)
    for broken in (coded[: len(coded) // 2], b"User-agent: *\nAllow: /\n"):
        with pytest.raises(UndecodableBody):
            decode(broken, coding, len(body))                           # (a cut past the limit is not read)
    with pytest.raises(UndecodableBody, match="'compress' cannot be decoded"):
        decode(coded, coding + ", compress", KIB500)
    # and what the parser makes of decoded UTF-16: the rules, not "allow everything"
    assert RobotsTxt.parse(BOMS["u16le.test"]).allowed("GPTBot", "/x") is False
