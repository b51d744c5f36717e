"""Consent per document and per agent: snapshots from every source, crawl time vs now, rule lines,
views, the refresh flow against a real HTTP server on 127.0.0.1, and the CLI."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import run_cli, shared_path
from provenance.ledger import Ledger

DOCS = [
    # host, path, crawl date
    ("a.test", "/news/1", "2019-06-01T00:00:00Z"),
    ("a.test", "/private/x", "2019-06-01T00:00:00Z"),
    ("a.test", "/news/2", "2024-03-01T00:00:00Z"),
    ("b.test", "/", "2021-01-01T00:00:00Z"),
    ("c.test", "/page", "2021-01-01T00:00:00Z"),
    ("d.test", "/page", "2021-01-01T00:00:00Z"),
    ("a.test", "/news/3", None),
]

SNAPSHOTS = [
    # a.test in 2019: GPTBot may not read /private/; everyone else anything
    {"host": "a.test", "captured_at": "2019-01-01T00:00:00Z", "status": 200,
     "robots_txt": "User-agent: GPTBot\nDisallow: /private/\n\nUser-agent: *\nAllow: /\n"},
    # a.test since 2023: GPTBot and CCBot blocked entirely
    {"host": "a.test", "captured_at": "2023-01-01T00:00:00Z", "status": 200,
     "robots_txt": "User-agent: GPTBot\nUser-agent: CCBot\nDisallow: /\n\nUser-agent: *\nDisallow: /private/\n"},
    {"host": "b.test", "captured_at": "2020-01-01T00:00:00Z", "status": 503, "robots_txt": ""},
    {"host": "d.test", "captured_at": "2020-01-01T00:00:00Z", "status": 404, "robots_txt": ""},
    # c.test: no snapshot at all -> unknown
]


@pytest.fixture(scope="module")
def consent_ledger(tmp_path_factory, prefect_api):
    from provenance.pipelines.scan import scan_corpus

    d = tmp_path_factory.mktemp("consent")
    corpus = d / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"url": f"https://{h}{p}", "text": f"words of {h}{p} " * 3,
                                          **({"timestamp": t} if t else {})}) + "\n" for h, p, t in DOCS))
    snaps = d / "robots.jsonl.gz"
    snaps.write_bytes(gzip.compress("".join(json.dumps(s) + "\n" for s in SNAPSHOTS).encode()))
    ledger = d / "c.duckdb"
    scan_corpus(inputs=[str(corpus)], ledger=str(ledger), quiet=True)
    res = run_cli(["robots", "import", str(snaps), "--ledger", str(ledger), "--agents", "GPTBot,CCBot,ClaudeBot"], cwd=d)
    assert res.returncode == 0, res.stderr
    assert "5 new snapshot(s)" not in res.stdout  # 4 snapshots in the file
    assert "4 new snapshot(s)" in res.stdout and "consent evaluated: 7 documents x 3 agents" in res.stdout
    return ledger, d


def outcomes(ledger, agent):
    with Ledger(ledger, read_only=True) as led:
        rows = led.query(
            "SELECT d.url, c.crawl_outcome, c.crawl_rule, c.crawl_rule_line, c.now_outcome, c.now_rule "
            "FROM document_consent c JOIN documents d USING (shard_id, position) WHERE agent = ? ORDER BY d.position",
            [agent]).to_pylist()
    return {r["url"].split("://", 1)[1]: r for r in rows}


def test_crawl_time_uses_the_snapshot_in_force_then(consent_ledger):
    ledger, _ = consent_ledger
    g = outcomes(ledger, "GPTBot")
    # crawled 2019: the 2019 file; GPTBot blocked from /private/ only, by line 2
    assert (g["a.test/news/1"]["crawl_outcome"], g["a.test/private/x"]["crawl_outcome"]) == ("allowed", "disallowed")
    assert g["a.test/private/x"]["crawl_rule"] == "Disallow: /private/" and g["a.test/private/x"]["crawl_rule_line"] == 2
    # crawled 2024: the 2023 file; now: the 2023 file for all
    assert g["a.test/news/2"]["crawl_outcome"] == "disallowed" and g["a.test/news/2"]["crawl_rule"] == "Disallow: /"
    assert all(g[k]["now_outcome"] == "disallowed" for k in ("a.test/news/1", "a.test/private/x", "a.test/news/2"))
    # no crawl date: crawl-time unknown, now known
    assert (g["a.test/news/3"]["crawl_outcome"], g["a.test/news/3"]["now_outcome"]) == ("unknown", "disallowed")


def test_agents_in_the_star_group_and_status_outcomes(consent_ledger):
    ledger, _ = consent_ledger
    c = outcomes(ledger, "ClaudeBot")  # not named: the * group
    assert c["a.test/news/1"]["crawl_outcome"] == "allowed" and c["a.test/news/1"]["now_outcome"] == "allowed"
    assert c["a.test/private/x"]["now_outcome"] == "disallowed" and c["a.test/private/x"]["now_rule"] == "Disallow: /private/"
    # b.test answered 503: disallow all (RFC 9309 §2.3.1.4); d.test 404: allow all (§2.3.1.3); c.test: unknown
    assert c["b.test/"]["now_outcome"] == "disallowed" and "503" in c["b.test/"]["now_rule"]
    assert c["d.test/page"]["now_outcome"] == "allowed" and "404" in c["d.test/page"]["now_rule"]
    assert c["c.test/page"]["crawl_outcome"] == c["c.test/page"]["now_outcome"] == "unknown"
    # b.test's snapshot is from 2020, the page crawled 2021: known at crawl time too
    assert c["b.test/"]["crawl_outcome"] == "disallowed"


def test_views(consent_ledger):
    ledger, _ = consent_ledger
    with Ledger(ledger, read_only=True) as led:
        by_agent = {r["agent"]: r for r in led.query("SELECT * FROM consent_by_agent").to_pylist()}
        changed = led.query("SELECT url, agent, crawl_outcome, now_outcome FROM consent_changed_documents ORDER BY url, agent").to_pylist()
        words = {r["url"].split("://")[1]: r["words"] for r in led.query("SELECT url, words FROM documents").to_pylist()}
    g = by_agent["GPTBot"]
    assert g["documents"] == 7
    # now: all 4 a.test docs + b.test (503) disallowed
    assert g["disallowed_docs_now"] == 5
    assert g["disallowed_docs_crawl"] == 3  # private/x (2019 rules), news/2 (2023 rules), b.test
    total = sum(words.values())
    dis_now = sum(words[k] for k in ("a.test/news/1", "a.test/private/x", "a.test/news/2", "a.test/news/3", "b.test/"))
    assert g["share_words_disallowed_now"] == pytest.approx(dis_now / total)
    assert g["unknown_docs_crawl"] == 2 and g["unknown_docs_now"] == 1
    assert {"url": "https://a.test/news/1", "agent": "GPTBot", "crawl_outcome": "allowed", "now_outcome": "disallowed"} in changed
    assert all(r["crawl_outcome"] != r["now_outcome"] for r in changed)


def test_reimport_is_idempotent_and_consent_cli_prints_the_table(consent_ledger):
    ledger, d = consent_ledger
    res = run_cli(["robots", "import", str(d / "robots.jsonl.gz"), "--ledger", str(ledger), "--agents", "GPTBot,CCBot,ClaudeBot"], cwd=d)
    assert res.returncode == 0 and "0 new snapshot(s), 4 already in the ledger" in res.stdout
    res = run_cli(["consent", "--ledger", str(ledger), "--format", "json"], cwd=d)
    assert res.returncode == 0, res.stderr
    rows = {r["agent"]: r for r in json.loads(res.stdout)}
    assert set(rows) == {"GPTBot", "CCBot", "ClaudeBot"}
    assert rows["GPTBot"]["share_docs_disallowed_now"] == pytest.approx(5 / 7)
    table = run_cli(["consent", "--ledger", str(ledger)], cwd=d).stdout
    assert table.splitlines()[0].split()[:2] == ["agent", "documents"] and "71.43%" in table


def test_path_sql_agrees_with_the_matcher(shared, tmp_path):
    """The SQL that cuts the matched path out of a URL gives what matcher.path_of gives, on real URLs."""
    import duckdb

    from provenance.robots.consent import PATH_SQL
    from provenance.robots.matcher import path_of

    urls = [json.loads(l)["url"] for l in gzip.open(shared_path("web_text/c4/c4-sample.00000-of-00001.json.gz"))]
    urls += ["https://a.test", "https://a.test?x=1", "https://a.test/p?q=1#frag", "http://u:p@a.test:8080/x%20y", "https://a.test/#top"]
    con = duckdb.connect()
    got = [r[0] for r in con.execute(f"SELECT {PATH_SQL} FROM (SELECT unnest(?::VARCHAR[]) AS url)", [urls]).fetchall()]
    assert got == [path_of(u) for u in urls]


def test_cc_warc_robots_captures_keep_their_dates(tmp_path):
    """Common Crawl robots.txt captures: WARC-Date is the capture time; 404 -> allow all, 503 -> disallow all."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from provenance.robots.snapshots import import_cc_warc

    p = tmp_path / "robotstxt.warc.gz"
    with open(p, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for url, status, body, date in [("https://x.test/robots.txt", "200 OK", b"User-agent: CCBot\nDisallow: /\n", "2020-08-01T10:00:00Z"),
                                        ("https://y.test/robots.txt", "404 Not Found", b"nope", "2020-08-02T10:00:00Z"),
                                        ("https://z.test/robots.txt", "503 Service Unavailable", b"", "2020-08-03T10:00:00Z"),
                                        ("https://x.test/index.html", "200 OK", b"<html></html>", "2020-08-01T10:00:00Z")]:
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                http_headers=StatusAndHeaders(status, [("Content-Type", "text/plain")], protocol="HTTP/1.1"),
                                                warc_headers_dict={"WARC-Date": date}))
    snaps = list(import_cc_warc(p))
    assert [(s.host, s.outcome, s.http_status, s.captured_at.isoformat()) for s in snaps] == [
        ("x.test", "parsed", 200, "2020-08-01T10:00:00+00:00"),
        ("y.test", "allow_all", 404, "2020-08-02T10:00:00+00:00"),
        ("z.test", "disallow_all", 503, "2020-08-03T10:00:00+00:00")]
    assert snaps[0].body == "User-agent: CCBot\nDisallow: /\n"


def test_folder_import_and_real_protego_bodies(tmp_path, shared):
    from provenance.robots.snapshots import import_folder, import_jsonl

    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "Example.COM.robots.txt").write_text("User-agent: *\nDisallow: /x\n")
    (tmp_path / "r" / "b.test").mkdir()
    (tmp_path / "r" / "b.test" / "robots.txt").write_bytes(b"\xef\xbb\xbfUser-agent: *\nAllow: /\n")
    snaps = sorted(import_folder(tmp_path / "r"), key=lambda s: s.host)
    assert [s.host for s in snaps] == ["b.test", "example.com"] and snaps[0].body.startswith("User-agent")  # BOM dropped
    real = list(import_jsonl(shared_path("robots_txt/protego_top10k_robots.jsonl.gz")))
    assert len(real) == 4231 and all(s.outcome == "parsed" for s in real)
    assert max(s.n_bytes for s in real) > 0 and all(len(s.body.encode()) <= 500 * 1024 * 3 for s in real)


class _RobotsServer:
    """Serves /robots.txt per Host header from a dict the test can change."""

    def __init__(self):
        self.bodies: dict[str, tuple[int, str]] = {}  # host -> /robots.txt
        self.files: dict[tuple[str, str], tuple[int, str]] = {}  # (host, path) -> any other path
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                host = (self.headers.get("Host") or "").split(":")[0]
                if self.path == "/robots.txt":
                    status, body = outer.bodies.get(host, (404, ""))
                else:
                    status, body = outer.files.get((host, self.path), (404, ""))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_refresh_flow_records_hosts_that_changed(tmp_path, prefect_api):
    """The refresh flow against a real HTTP server: a host that starts blocking GPTBot shows up in
    consent_changes with the documents and words affected; one that stops, too."""
    from provenance.pipelines.robots import refresh_robots
    from provenance.pipelines.scan import scan_corpus

    server = _RobotsServer()
    try:
        corpus = tmp_path / "docs.jsonl"
        corpus.write_text("".join(json.dumps({"url": f"http://{h}:{server.port}/p{i}", "text": "one two three",
                                              "timestamp": "2024-01-01T00:00:00Z"}) + "\n"
                                  for i, h in enumerate(["news.test", "news.test", "blog.test"])))
        ledger = str(tmp_path / "r.duckdb")
        scan_corpus(inputs=[str(corpus)], ledger=ledger, quiet=True)
        resolve = {"news.test": "127.0.0.1", "blog.test": "127.0.0.1"}
        server.bodies = {"news.test": (200, "User-agent: *\nAllow: /\n"), "blog.test": (200, "User-agent: GPTBot\nDisallow: /\n")}
        kw = dict(ledger=ledger, allow_internal=True, resolve=resolve, agents=["GPTBot"], per_host_delay=0.0)
        first = refresh_robots(**kw)
        assert first["hosts"] == 2 and first["new_snapshots"] == 2 and first["changes"] == 0
        server.bodies = {"news.test": (200, "User-agent: GPTBot\nDisallow: /\n"), "blog.test": (200, "User-agent: *\nAllow: /\n")}
        second = refresh_robots(**kw)
        assert second["new_snapshots"] == 2 and second["changes"] == 2
        with Ledger(ledger, read_only=True) as led:
            ch = led.query("SELECT host, agent, change, documents, words FROM consent_changes ORDER BY host").to_pylist()
        assert ch == [{"host": "blog.test", "agent": "GPTBot", "change": "stopped_disallowing", "documents": 1, "words": 3},
                      {"host": "news.test", "agent": "GPTBot", "change": "started_disallowing", "documents": 2, "words": 6}]
    finally:
        server.close()


def test_fetch_refuses_internal_addresses_by_default(tmp_path, prefect_api):
    """Without --allow-internal, a host that resolves to loopback is never fetched: recorded as `blocked` (our
    refusal, never the publisher's disallow_all), with why; consent for it is unknown."""
    from provenance.pipelines.scan import scan_corpus

    corpus = tmp_path / "d.jsonl"
    corpus.write_text(json.dumps({"url": "http://internal.test/x", "text": "a b"}) + "\n")
    ledger = str(tmp_path / "i.duckdb")
    scan_corpus(inputs=[str(corpus)], ledger=ledger, quiet=True)
    res = run_cli(["robots", "fetch", "internal.test", "--resolve", "internal.test=127.0.0.1", "--ledger", ledger,
                   "--agents", "GPTBot"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "internal.test: blocked" in res.stderr
    with Ledger(ledger, read_only=True) as led:
        (snap,) = led.query("SELECT outcome, error FROM robots_snapshots").to_pylist()
        (c,) = led.query("SELECT now_outcome, now_rule FROM document_consent").to_pylist()
    assert snap["outcome"] == "blocked" and "127.0.0.1" in snap["error"]
    assert c["now_outcome"] == "unknown" and "SSRF guard" in c["now_rule"]


def test_agents_rules_and_ai_robots_import(tmp_path, shared):
    from provenance.ruleset import RulesError, evaluated_agents, import_ai_robots_json, load_agents

    tokens = [a.token for a in evaluated_agents()]
    assert len(tokens) == 15 and {"GPTBot", "ClaudeBot", "CCBot", "Google-Extended", "Applebot-Extended"} <= set(tokens)
    res = run_cli(["robots", "agents-import", str(shared_path("robots_txt/ai_robots_txt_robots.json")), "--out",
                   str(tmp_path / "agents.yaml")], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    layered = {a.token.lower(): a for a in load_agents([tmp_path])}
    # the imported layer adds what is new (not evaluated) and never turns a curated agent off: it names only
    # fields it knows, and a later layer overrides only the fields it names
    assert len(layered) > 150 and layered["gptbot"].evaluate is True and layered["gptbot"].purpose == "training"
    assert [a.token for a in evaluated_agents([tmp_path])] == tokens
    assert len(import_ai_robots_json(shared_path("robots_txt/ai_robots_txt_robots.json"))) == len(
        [a for a in layered.values() if a.source == "ai.robots.txt robots.json"])
    assert all(not a.evaluate for a in layered.values() if a.source == "ai.robots.txt robots.json"
               and a.token not in tokens)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "agents.yaml").write_text("agents:\n  - token: GPTBot\n    purpose: trainin\n")
    with pytest.raises(RulesError, match=r"agents.yaml:3: agents.0.purpose"):
        load_agents([tmp_path / "bad"])


def test_page_signals_from_a_real_warc_land_in_the_ledger(tmp_path, prefect_api, shared):
    """A real CC WARC page carries <meta name="robots" content="noindex, nofollow">: the scan records it
    per document, in the signals vocabulary, and the page_signals view lists it."""
    from provenance.pipelines.scan import scan_corpus

    warc = shared_path("web_text/warc/cc-main-2020-34_resiliparse_sample.warc.gz")
    ledger = str(tmp_path / "w.duckdb")
    scan_corpus(inputs=[str(warc)], ledger=ledger, quiet=True)
    with Ledger(ledger, read_only=True) as led:
        rows = led.query("SELECT url, source, \"use\", allowed, agent, evidence FROM page_signals").to_pylist()
        n_docs = led.query("SELECT count(*) n FROM documents").to_pylist()[0]["n"]
    assert n_docs == 16
    assert rows == [{"url": "http://035.psb556.com/24/i/u_1090813/article.html", "source": "meta-robots", "use": "search",
                     "allowed": False, "agent": "*", "evidence": rows[0]["evidence"]}]
    assert "noindex" in rows[0]["evidence"]


def test_tdmrep_well_known_file_is_fetched_into_robots_signals(tmp_path, prefect_api):
    from provenance.pipelines.scan import scan_corpus

    server = _RobotsServer()
    try:
        corpus = tmp_path / "d.jsonl"
        corpus.write_text(json.dumps({"url": f"http://pub.test:{server.port}/a", "text": "a b"}) + "\n")
        ledger = str(tmp_path / "t.duckdb")
        scan_corpus(inputs=[str(corpus)], ledger=ledger, quiet=True)
        server.bodies = {"pub.test": (200, "User-agent: *\nAllow: /\n")}
        server.files = {("pub.test", "/.well-known/tdmrep.json"): (200, json.dumps(
            [{"location": "/books/*", "tdm-reservation": 1, "tdm-policy": "https://pub.test/policy.json"},
             {"location": "/*", "tdm-reservation": 0}]))}
        res = run_cli(["robots", "fetch", "--tdmrep", "--allow-internal", "--resolve", "pub.test=127.0.0.1", "--delay", "0",
                       "--ledger", ledger, "--agents", "GPTBot"], cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert "2 TDMRep rule(s)" in res.stdout
        with Ledger(ledger, read_only=True) as led:
            rows = led.query("SELECT source, \"use\", allowed, scope FROM robots_signals ORDER BY scope").to_pylist()
        assert rows == [{"source": "tdmrep-json", "use": "tdm", "allowed": True, "scope": "/*"},
                        {"source": "tdmrep-json", "use": "tdm", "allowed": False, "scope": "/books/*"}]
    finally:
        server.close()


def test_sample_robots_snapshots_tell_a_consistent_story(small_sample, tmp_path, prefect_api):
    """`provenance sample` writes dated robots.txt captures for its hosts: importing them gives a known
    crawl/now picture (more AI blocking now than in 2019), deterministically."""
    from provenance.pipelines.scan import scan_corpus
    from provenance.robots.sample import write_sample_robots

    path, n_hosts = write_sample_robots(small_sample, seed=7)
    first = path.read_bytes()
    assert write_sample_robots(small_sample, seed=7)[0].read_bytes() == first
    ledger = str(tmp_path / "s.duckdb")
    scan_corpus(inputs=[str(small_sample / "*.json.gz")], ledger=ledger, quiet=True)
    res = run_cli(["robots", "import", str(path), "--ledger", ledger], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with gzip.open(path) as f:
        captures = [json.loads(line) for line in f]
    assert f"{len(captures):,} new snapshot(s)" in res.stdout
    # two captures per host (2019, 2024), a third (2026) for the hosts with RSL or AIPREF signals; every RSL
    # license its robots.txt names is written under rsl/ (the --rsl-dir layout)
    by_host = {}
    for c in captures:
        by_host.setdefault(c["host"], []).append(c)
    assert len(by_host) == n_hosts and {len(v) for v in by_host.values()} == {2, 3}
    licensed = {c["host"] for c in captures if "License: " in c["robots_txt"]}
    assert licensed and all((path.parent / "rsl" / h / "license.xml").is_file() for h in licensed)
    assert any("Content-Usage: /blog/ train-ai=y" in c["robots_txt"] for c in captures)
    with Ledger(ledger, read_only=True) as led:
        g = led.query("SELECT * FROM consent_by_agent WHERE agent = 'GPTBot'").to_pylist()[0]
        hosts_known = led.query("SELECT count(DISTINCT host) n FROM document_consent c JOIN documents USING (shard_id, position) "
                                "WHERE now_outcome <> 'unknown'").to_pylist()[0]["n"]
    assert g["documents"] == 3000 and g["unknown_docs_now"] == 0 and hosts_known == n_hosts
    assert 0 < g["share_words_disallowed_crawl"] < g["share_words_disallowed_now"] < 0.5
