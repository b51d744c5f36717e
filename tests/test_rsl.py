"""RSL (Really Simple Licensing 1.0): robots.txt ``License:`` lines -> license documents (live through the
guarded fetcher on 127.0.0.1, or an offline folder) -> rsl_licenses / rsl_terms / robots_signals -> verdicts.
Hostile documents (XXE, billion laughs, external DTD, huge, invalid, wrong namespace, a redirect to an
internal address) are refused without being resolved, and nothing of them reaches the ledger."""

from __future__ import annotations

import gzip
import json
import os
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from provenance import rsl
from provenance.ledger import Ledger
from provenance.netguard import Resolver
from provenance.robots.consent import store_snapshots
from provenance.robots.fetch import RobotsFetcher
from provenance.robots.matcher import RobotsTxt
from provenance.robots.snapshots import Snapshot, from_fetch

from conftest import run_cli

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("no_dns")]  # no_dns: conftest

NS = "https://rslstandard.org/rsl"
LICENSE = f"""<?xml version="1.0" encoding="UTF-8"?>
<rsl xmlns="{NS}">
  <content url="/articles/*" server="https://rslcollective.org/api">
    <license>
      <permits type="usage">search</permits>
      <prohibits type="usage">ai-train</prohibits>
      <permits type="user">non-commercial, education</permits>
      <prohibits type="geo">XX</prohibits>
      <payment type="purchase"><amount currency="USD">10</amount></payment>
    </license>
  </content>
  <content url="/open/">
    <license>
      <permits type="usage">all</permits>
      <payment type="free"/>
    </license>
  </content>
  <content url="https://elsewhere.example/x/*">
    <license><prohibits type="usage">ai-all</prohibits></license>
  </content>
</rsl>
""".encode()


def _sigs(signals) -> set[tuple[str, bool, str]]:
    return {(use, allowed, scope) for use, allowed, scope, _ev in signals}


# --------------------------------------------------------------------------------------- parsing


def test_parse_terms_payment_scope_and_signals():
    p = rsl.parse(LICENSE, "news.test")
    assert p.status == "parsed" and p.reason is None and p.contents == 3
    rows = {(t.content_no, t.kind, t.type, t.value) for t in p.terms}
    assert {(1, "permits", "usage", "search"), (1, "prohibits", "usage", "ai-train"), (1, "permits", "user", "non-commercial"),
            (1, "permits", "user", "education"), (1, "prohibits", "geo", "xx"), (1, "payment", "purchase", None),
            (2, "permits", "usage", "all"), (3, "prohibits", "usage", "ai-all")} <= rows
    pay = next(t for t in p.terms if t.kind == "payment" and t.content_no == 1)
    assert (pay.amount, pay.currency, pay.server) == ("10", "USD", "https://rslcollective.org/api")
    other = [t for t in p.terms if t.content_no == 3]
    assert other and all(not t.applies and t.scope is None for t in other)   # another host: recorded only
    sigs = rsl.signals("https://news.test/license.xml", p.terms)
    assert _sigs(sigs) == {
        ("search", True, "/articles/*"), ("train-ai", False, "/articles/*"),
        # permits usage search only: the other specific uses are not permitted (never the umbrella tdm)
        ("ai-input", False, "/articles/*"), ("ai-index", False, "/articles/*"),
        # permits all: the umbrella and each specific use
        ("tdm", True, "/open/"), ("train-ai", True, "/open/"), ("ai-input", True, "/open/"),
        ("ai-index", True, "/open/"), ("search", True, "/open/"),
    }
    ev = {(u, a): e for u, a, s, e in sigs if s == "/articles/*"}
    assert ev[("train-ai", False)] == ('License: https://news.test/license.xml <content url="/articles/*"> '
                                       'prohibits usage ai-train')
    assert "payment: purchase 10 USD" in ev[("search", True)] and "license server" in ev[("search", True)]
    assert ev[("ai-input", False)].endswith("permits usage search only: ai-input not permitted")


def test_ai_all_all_alternatives_and_unknown_tokens():
    doc = f"""<rsl xmlns="{NS}">
      <content url="/a/"><license><prohibits type="usage">ai-all, frobnicate</prohibits></license></content>
      <content url="/b/"><license><prohibits type="usage">all</prohibits></license></content>
      <content url="/c/"><license><permits type="usage">search</permits></license>
                         <license><permits type="usage">ai-all</permits>
                                  <payment type="training"><amount currency="EUR">0.5</amount></payment></license></content>
      <content url="/d/"><license><payment type="free"/></license></content>
    </rsl>""".encode()
    p = rsl.parse(doc, "h.test")
    assert p.status == "parsed"
    assert any(t.value == "frobnicate" for t in p.terms)          # kept in rsl_terms, no signal
    got = _sigs(rsl.signals("https://h.test/l.xml", p.terms))
    assert {u for u, a, s in got if s == "/a/" and not a} == {"train-ai", "ai-input", "ai-index"}
    assert {(u, a) for u, a, s in got if s == "/b/"} == {("tdm", False)}   # the umbrella, not expanded
    # /c/: two licenses are alternatives: search under one, every AI use (paid) under the other -> nothing refused
    assert {(u, a) for u, a, s in got if s == "/c/"} == {("search", True), ("train-ai", True), ("ai-input", True),
                                                         ("ai-index", True)}
    assert not [s for s in got if s[2] == "/d/"]                  # no usage terms: nothing implied


def test_missing_namespace_is_read_leniently_wrong_namespace_is_invalid():
    p = rsl.parse(b'<rsl><content url="/"><license><prohibits type="usage">ai-train</prohibits></license></content></rsl>', "h.test")
    assert p.status == "parsed" and "no xmlns" in p.reason
    assert _sigs(rsl.signals("https://h.test/l", p.terms)) == {("train-ai", False, "/")}
    p = rsl.parse(b'<rsl xmlns="https://example.com/not-rsl"><content url="/"/></rsl>', "h.test")
    assert p.status == "invalid" and "not-rsl" in p.reason and not p.terms
    p = rsl.parse(f'<license xmlns="{NS}"/>'.encode(), "h.test")
    assert p.status == "invalid" and "not rsl" in p.reason


@pytest.mark.parametrize("body, status, words", [
    (b"", "invalid", "empty"),
    (b"<rsl><content url='/'>", "invalid", "not well-formed"),
    (b"\x00\xff garbage", "invalid", "not well-formed"),
    (f'<rsl xmlns="{NS}">'.encode() + b"<x/>" * 20_000 + b"</rsl>", "refused", "elements"),
    (b"<a>" * 200 + b"</a>" * 200, "refused", "deeper"),
    (b"<rsl>" + b" " * (rsl.MAX_BYTES + 1) + b"</rsl>", "refused", "larger than 512 KiB"),
])
def test_bad_documents_get_a_status_never_an_exception(body, status, words):
    p = rsl.parse(body, "h.test")
    assert p.status == status and words in p.reason and not p.terms


def _laughs() -> bytes:
    ents = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10}">' for i in range(1, 10))
    return f'<?xml version="1.0"?><!DOCTYPE rsl [<!ENTITY l0 "ha">{ents}]><rsl xmlns="{NS}">&l9;</rsl>'.encode()


def test_entities_and_dtds_are_refused_unresolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-4f1c2a")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE rsl [<!ENTITY s SYSTEM "file://{secret}">]>'
           f'<rsl xmlns="{NS}"><content url="/&s;"><license><prohibits type="usage">&s;</prohibits></license>'
           f'</content></rsl>').encode()
    ext_dtd = f'<?xml version="1.0"?><!DOCTYPE rsl SYSTEM "file://{secret}"><rsl xmlns="{NS}"/>'.encode()
    param = (f'<?xml version="1.0"?><!DOCTYPE rsl [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>'
             f'<rsl xmlns="{NS}"/>').encode()
    for body in (xxe, ext_dtd, param, _laughs()):
        p = rsl.parse(body, "h.test")
        assert p.status == "refused" and "nothing was resolved" in p.reason and not p.terms
        assert "TOPSECRET" not in repr(p)


def test_license_lines_are_site_wide_in_the_matcher():
    rt = RobotsTxt.parse("User-agent: GPTBot\nDisallow: /x\nLicense: /license.xml\nContent-Signal: ai-train=no\n"
                         "license: https://cdn.test/l.xml\n")
    ext = [(n, f, v, a) for n, f, v, a in rt.extensions]
    assert (3, "license", "/license.xml", None) in ext and (5, "license", "https://cdn.test/l.xml", None) in ext
    assert (4, "content-signal", "ai-train=no", ("gptbot",)) in ext
    assert rsl.license_lines("User-agent: *\nLicense: /l.xml\n") == [(2, "/l.xml")]


def test_folder_keys_and_escapes(tmp_path):
    assert rsl.folder_key("https://Example.com/legal/license.xml") == "example.com/legal/license.xml"
    assert rsl.folder_key("http://example.com:8080/") == "example.com:8080/index.xml"
    assert rsl.folder_key("https://example.com/l.xml?v=2") == "example.com/l.xml?v=2"
    assert rsl.folder_key("https://example.com/a/../../etc/passwd") is None
    assert rsl.folder_key("ftp://example.com/l.xml") is None
    root = tmp_path / "dir"
    (root / "h.test").mkdir(parents=True)
    outside = tmp_path / "outside.xml"
    outside.write_bytes(LICENSE)
    os.symlink(outside, root / "h.test" / "link.xml")
    src = rsl.LicenseSource(folder=root)
    got = src.get("https://h.test/link.xml")
    assert got.status == "refused" and "outside" in got.reason
    got = src.get("https://h.test/none.xml")
    assert got.status == "not_fetched" and "h.test/none.xml" in got.reason


# --------------------------------------------------------------------------------------- live, on 127.0.0.1


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):                      # no reverse DNS lookup of the address
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


@pytest.fixture
def site():
    """One 127.0.0.1 server for every test host name; routes[(host, path)] = (status, headers, body)."""
    routes: dict = {}
    log: list[tuple[str, str]] = []

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            log.append((host, self.path))
            status, headers, body = routes.get((host, self.path), (404, {}, b"not found"))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

    httpd = _Quiet(("127.0.0.1", 0), H)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield routes, log, httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()



HOSTS = ("news.test", "other.test")


def _factory(hosts=HOSTS, internal: str | None = None):
    """The fetcher factory the CLI builds: test hosts pinned to 127.0.0.1 and allowed to be internal by name
    only; every other host (redirect targets included, ``internal.test`` -> ``internal``) stays guarded."""
    resolver = Resolver({**{h: "127.0.0.1" for h in hosts}, **({"internal.test": internal} if internal else {})})
    return lambda path: RobotsFetcher(resolver=resolver, allow_internal_hosts=hosts, per_host_delay=0.0,
                                      timeout=(2, 2), path=path)


def _dump(ledger: Path) -> str:
    with Ledger(ledger, read_only=True) as led:
        parts = []
        for t in ("rsl_licenses", "rsl_terms", "robots_signals", "robots_snapshots"):
            parts.append(json.dumps(led.query(f"SELECT * FROM {t}").to_pylist(), default=str))
    return "\n".join(parts)


def test_live_licenses_hostile_ones_refused_and_nothing_leaks(site, tmp_path):
    routes, log, port = site
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-77aa")
    hostile = {
        "/ok.xml": (200, {"Content-Type": "application/rsl+xml"}, LICENSE),
        "/big.xml": (200, {}, b"<rsl>" + b"<!-- pad -->" * 60_000 + b"</rsl>"),
        "/invalid.xml": (200, {}, b"<rsl><content url='/'><license>"),
        "/xxe.xml": (200, {}, f'<?xml version="1.0"?><!DOCTYPE rsl [<!ENTITY s SYSTEM "file://{secret}">]>'
                              f'<rsl xmlns="{NS}"><content url="/"><license><prohibits type="usage">&s;'
                              f'</prohibits></license></content></rsl>'.encode()),
        "/laughs.xml": (200, {}, _laughs()),
        "/dtd.xml": (200, {}, f'<?xml version="1.0"?><!DOCTYPE rsl SYSTEM "http://news.test:{port}/evil.dtd">'
                              f'<rsl xmlns="{NS}"/>'.encode()),
        "/ns.xml": (200, {}, b'<rsl xmlns="urn:other"><content url="/"/></rsl>'),
        "/redirect.xml": (302, {"Location": f"http://internal.test:{port}/ok.xml"}, b""),
        "/gone.xml": (404, {}, b""),
        "/down.xml": (503, {}, b""),
    }
    routes[("news.test", "/evil.dtd")] = (200, {}, b'<!ENTITY x "y">')
    for path, resp in hostile.items():
        routes[("news.test", path)] = resp
    robots = "User-agent: *\nAllow: /\n" + "".join(f"License: {p}\n" for p in hostile)
    routes[("news.test", "/robots.txt")] = (200, {}, robots.encode())
    factory = _factory(internal="10.0.0.5")        # internal.test resolves to a private address: guarded
    results = [factory("/robots.txt").fetch(f"http://news.test:{port}")]
    assert results[0].outcome == "parsed"
    ledger = tmp_path / "l.duckdb"
    source = rsl.LicenseSource(fetcher_for=factory)
    with Ledger(ledger) as led:
        store_snapshots(led, from_fetch(results), rsl=source)
        st = {r["license_url"].rsplit("/", 1)[1]: (r["status"], r["reason"] or "", r["origin"])
              for r in led.query("SELECT * FROM rsl_licenses").to_pylist()}
    assert st["ok.xml"][:1] == ("parsed",) and st["ok.xml"][2] == "live"
    assert st["big.xml"][0] == "refused" and "larger than" in st["big.xml"][1]
    assert st["invalid.xml"][0] == "invalid"
    for name in ("xxe.xml", "laughs.xml", "dtd.xml"):
        assert st[name][0] == "refused" and "nothing was resolved" in st[name][1]
    assert st["ns.xml"][0] == "invalid" and "urn:other" in st["ns.xml"][1]
    assert st["redirect.xml"][0] == "blocked" and "SSRF" in st["redirect.xml"][1]
    assert st["gone.xml"][:2] == ("unavailable", "HTTP 404")
    assert st["down.xml"][:2] == ("unreachable", "HTTP 503")
    assert ("news.test", "/evil.dtd") not in log                     # the external DTD was never asked for
    dump = _dump(ledger)
    assert "TOPSECRET" not in dump and "ENTITY" not in dump and "pad" not in dump
    with Ledger(ledger, read_only=True) as led:
        sig = {(r["use"], r["allowed"], r["scope"]) for r in
               led.query("SELECT * FROM robots_signals WHERE source = 'rsl'").to_pylist()}
        assert ("train-ai", False, "/articles/*") in sig and ("search", True, "/articles/*") in sig
        assert {r["agent"] for r in led.query("SELECT agent FROM robots_signals").to_pylist()} == {"*"}
        terms = led.query("SELECT kind, type, value, amount, currency FROM rsl_terms WHERE kind = 'payment'").to_pylist()
        assert {"kind": "payment", "type": "purchase", "value": None, "amount": "10", "currency": "USD"} in terms


def test_a_license_url_to_an_internal_host_is_blocked(site, tmp_path):
    routes, log, port = site
    routes[("news.test", "/robots.txt")] = (200, {}, f"License: http://127.0.0.1:{port}/ok.xml\n".encode())
    routes[("127.0.0.1", "/ok.xml")] = (200, {}, LICENSE)
    snap = Snapshot(host="news.test", source="live", captured_at=datetime.now(timezone.utc), outcome="parsed",
                    body=f"License: http://127.0.0.1:{port}/ok.xml\n", url=f"http://news.test:{port}/robots.txt")
    with Ledger(tmp_path / "l.duckdb") as led:
        store_snapshots(led, [snap], rsl=rsl.LicenseSource(fetcher_for=_factory()))
        row = led.query("SELECT status, reason FROM rsl_licenses").to_pylist()[0]
    assert row["status"] == "blocked" and not [p for h, p in log if p == "/ok.xml"]


# --------------------------------------------------------------------------------------- offline, CLI, verdicts


def _robots_jsonl(path: Path, body: str, host: str = "news.test") -> None:
    rec = {"host": host, "captured_at": "2024-01-01T00:00:00Z", "status": 200, "robots_txt": body}
    path.write_bytes(gzip.compress((json.dumps(rec) + "\n").encode()))


def test_offline_import_not_fetched_then_rsl_dir_then_kept(tmp_path):
    robots = tmp_path / "robots.jsonl.gz"
    _robots_jsonl(robots, "User-agent: *\nDisallow: /private/\nLicense: /legal/license.xml\n")
    ledger = tmp_path / "l.duckdb"
    with Ledger(ledger):
        pass
    res = run_cli(["robots", "import", str(robots), "--ledger", str(ledger), "--no-evaluate"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "1 not_fetched" in res.stdout
    with Ledger(ledger, read_only=True) as led:
        r = led.query("SELECT * FROM rsl_licenses").to_pylist()
        assert [(x["license_url"], x["status"], x["origin"]) for x in r] == [
            ("https://news.test/legal/license.xml", "not_fetched", "none")]
        assert "--rsl-dir" in r[0]["reason"]
    folder = tmp_path / "licenses"
    (folder / "news.test" / "legal").mkdir(parents=True)
    (folder / "news.test" / "legal" / "license.xml").write_bytes(LICENSE)
    res = run_cli(["robots", "import", str(robots), "--ledger", str(ledger), "--no-evaluate", "--rsl-dir", str(folder)],
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "1 parsed" in res.stdout
    # and once more without the folder: what was read stays
    res = run_cli(["robots", "import", str(robots), "--ledger", str(ledger), "--no-evaluate"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with Ledger(ledger, read_only=True) as led:
        r = led.query("SELECT status, origin, sha256, n_bytes, contents FROM rsl_licenses").to_pylist()
        assert r == [{"status": "parsed", "origin": "folder", "sha256": __import__("hashlib").sha256(LICENSE).hexdigest(),
                      "n_bytes": len(LICENSE), "contents": 3}]
        n = led.query("SELECT count(*) AS n FROM robots_signals WHERE source = 'rsl'").to_pylist()[0]["n"]
        assert n == 9   # /articles/*: 4 (search, train-ai, ai-input, ai-index); /open/: 5 (tdm and each use)
        scopes = {x["scope"] for x in led.query("SELECT DISTINCT scope FROM rsl_terms WHERE applies").to_pylist()}
        assert scopes == {"/articles/*", "/open/"}


def _scanned_with_license(tmp_path: Path, docs: list[tuple[str, str]]) -> tuple[Path, Path]:
    """A ledger of ``docs`` (url, text), scanned, and a --rsl-dir folder holding LICENSE as news.test/license.xml."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "docs.jsonl").write_text("".join(json.dumps({"url": u, "text": f"{t} " * 20,
                                                           "timestamp": "2024-06-01T00:00:00Z"}) + "\n" for u, t in docs))
    ledger = tmp_path / "e.duckdb"
    res = run_cli(["scan", str(corpus), "--ledger", str(ledger), "--top", "0", "--quiet"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    folder = tmp_path / "licenses"
    (folder / "news.test").mkdir(parents=True)
    (folder / "news.test" / "license.xml").write_bytes(LICENSE)
    return ledger, folder


def test_end_to_end_verdicts_follow_the_content_scope(tmp_path):
    ledger, folder = _scanned_with_license(tmp_path, [
        ("https://news.test/articles/2024/a.html", "an article"), ("https://news.test/about", "about us"),
        ("https://news.test/open/free.html", "free to use")])
    # a second license: the whole site refuses ai-train except /open/, whose more specific pattern permits all
    (folder / "news.test" / "site.xml").write_bytes(f"""<rsl xmlns="{NS}">
      <content url="/"><license><prohibits type="usage">ai-train</prohibits></license></content>
      <content url="/open/*"><license><permits type="usage">all</permits></license></content></rsl>""".encode())
    robots = tmp_path / "robots.jsonl.gz"
    _robots_jsonl(robots, "User-agent: GPTBot\nAllow: /\nLicense: https://news.test/license.xml\nLicense: /site.xml\n")
    res = run_cli(["robots", "import", str(robots), "--ledger", str(ledger), "--rsl-dir", str(folder),
                   "--agents", "GPTBot"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli(["verdicts", "--ledger", str(ledger)], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with Ledger(ledger, read_only=True) as led:
        got = {r["url"]: (r["verdict"], list(r["reasons"])) for r in led.query(
            "SELECT d.url, v.verdict, v.reasons FROM document_verdicts v JOIN documents d USING (shard_id, position)").to_pylist()}
    verdict, reasons = got["https://news.test/articles/2024/a.html"]
    assert "signal:rsl:train-ai" in reasons and verdict == "exclude"
    assert not [r for r in got["https://news.test/open/free.html"][1] if r.startswith("signal:rsl")]
    assert [r for r in got["https://news.test/about"][1] if r.startswith("signal:rsl")] == ["signal:rsl:train-ai"]
    # the evidence view reads RSL as the verdicts do: per use, the longest matching <content url> decides
    with Ledger(ledger, read_only=True) as led:
        ev = led.query("""SELECT d.url, e.allowed, e.scope, e.decides FROM document_signal_evidence e
                          JOIN documents d USING (shard_id, position)
                          WHERE e.protocol = 'rsl' AND e."use" = 'train-ai'""").to_pylist()
        refused = {r["url"] for r in led.query("""SELECT d.url FROM document_signal_deciders x JOIN documents d
                          USING (shard_id, position) WHERE x.protocol = 'rsl' AND x."use" = 'train-ai'
                          AND NOT x.allowed""").to_pylist()}
    assert {(r["allowed"], r["scope"]) for r in ev if r["url"] == "https://news.test/open/free.html"} == {(True, "/open/*")}
    assert refused == {u for u, (_v, rs) in got.items() if "signal:rsl:train-ai" in rs}


def test_end_to_end_scope_is_the_content_pattern(tmp_path):
    """One license, one scope: a document under it is refused training, one outside it is not."""
    ledger, folder = _scanned_with_license(tmp_path, [("https://news.test/articles/a.html", "an article"),
                                                      ("https://news.test/about", "about us")])
    robots = tmp_path / "robots.jsonl.gz"
    _robots_jsonl(robots, "User-agent: *\nAllow: /\nLicense: /license.xml\n")
    res = run_cli(["robots", "import", str(robots), "--ledger", str(ledger), "--rsl-dir", str(folder), "--no-evaluate"],
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli(["verdicts", "--ledger", str(ledger)], cwd=tmp_path)      # evaluates with the default policy
    assert res.returncode == 0, res.stderr
    res = run_cli(["verdicts", "--show", "--ledger", str(ledger), "--format", "csv"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert '"signal:rsl:train-ai","exclude",1,' in res.stdout
    with Ledger(ledger, read_only=True) as led:
        got = {r["url"]: list(r["reasons"]) for r in led.query(
            "SELECT d.url, v.reasons FROM document_verdicts v JOIN documents d USING (shard_id, position)").to_pylist()}
    assert "signal:rsl:train-ai" in got["https://news.test/articles/a.html"]
    assert not [r for r in got["https://news.test/about"] if r.startswith("signal:rsl")]


def test_cli_robots_fetch_reads_licenses_live_through_the_same_fetcher(site, tmp_path):
    routes, log, port = site
    routes[("news.test", "/robots.txt")] = (200, {}, b"User-agent: *\nAllow: /\nLicense: /ok.xml\nLicense: /missing.xml\n")
    routes[("news.test", "/ok.xml")] = (200, {"Content-Type": "application/rsl+xml"}, LICENSE)
    ledger = tmp_path / "f.duckdb"
    with Ledger(ledger):
        pass
    res = run_cli(["robots", "fetch", f"http://news.test:{port}", "--ledger", str(ledger), "--no-evaluate",
                   "--resolve", "news.test=127.0.0.1", "--allow-internal", "--delay", "0"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "1 parsed, 1 unavailable" in res.stdout
    assert sorted(p for h, p in log if h == "news.test") == ["/missing.xml", "/ok.xml", "/robots.txt"]
    with Ledger(ledger, read_only=True) as led:
        got = {r["license_url"]: (r["status"], r["origin"], r["http_status"])
               for r in led.query("SELECT * FROM rsl_licenses").to_pylist()}
        assert got == {f"http://news.test:{port}/ok.xml": ("parsed", "live", 200),
                       f"http://news.test:{port}/missing.xml": ("unavailable", "live", 404)}
        uses = {(r["use"], r["allowed"]) for r in led.query(
            "SELECT * FROM robots_signals WHERE source = 'rsl' AND scope = '/articles/*'").to_pylist()}
        assert ("train-ai", False) in uses


def test_license_lines_bounded_and_non_http_urls_never_read(tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_bytes(LICENSE)
    body = f"License: file://{secret}\nLicense: ftp://news.test/l.xml\n" + "".join(
        f"License: /l{i}.xml\n" for i in range(30))
    snap = {"snapshot_id": "s1", "host": "news.test", "url": "https://news.test/robots.txt", "body": body}
    src = rsl.LicenseSource(folder=tmp_path)
    lic, terms, sigs = rsl.collect([snap], src)
    assert [r["status"] for r in lic[:2]] == ["invalid", "invalid"] and "not an http(s) URL" in lic[0]["reason"]
    assert len(lic) == rsl.MAX_LICENSE_LINES + 1
    assert lic[-1]["status"] == "refused" and "more than 16 License lines" in lic[-1]["reason"]
    assert lic[2]["license_url"] == "https://news.test/l0.xml" and lic[2]["status"] == "not_fetched"
    assert not terms and not sigs
    assert src.counts == {"invalid": 2, "not_fetched": rsl.MAX_LICENSE_LINES - 2, "refused": 1}


def test_common_crawl_capture_license_from_the_folder(tmp_path):
    """A robots.txt captured by Common Crawl names a license: read from --rsl-dir (an import never fetches)."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    warc = tmp_path / "robotstxt.warc.gz"
    with open(warc, "wb") as f:
        w = WARCWriter(f, gzip=True)
        w.write_record(w.create_warc_record(
            "http://news.test/robots.txt", "response",
            payload=io.BytesIO(b"User-agent: *\nDisallow: /private/\nLicense: /license.xml\n"),
            http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], protocol="HTTP/1.1"),
            warc_headers_dict={"WARC-Date": "2025-11-20T10:00:00Z"}))
    folder = tmp_path / "licenses"
    (folder / "news.test").mkdir(parents=True)
    (folder / "news.test" / "license.xml").write_bytes(LICENSE)
    ledger = tmp_path / "c.duckdb"
    with Ledger(ledger):
        pass
    res = run_cli(["robots", "import", str(warc), "--ledger", str(ledger), "--no-evaluate", "--rsl-dir", str(folder)],
                  cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with Ledger(ledger, read_only=True) as led:
        lic = led.query("SELECT l.license_url, l.status, l.origin, s.source FROM rsl_licenses l "
                        "JOIN robots_snapshots s USING (snapshot_id)").to_pylist()
        assert lic == [{"license_url": "http://news.test/license.xml", "status": "parsed", "origin": "folder",
                        "source": "cc-warc"}]
        sig = led.query("SELECT evidence FROM robots_signals WHERE source = 'rsl' AND \"use\" = 'train-ai' "
                        "AND NOT allowed").to_pylist()
        assert sig == [{"evidence": 'License: http://news.test/license.xml <content url="/articles/*"> '
                                    'prohibits usage ai-train'}]
