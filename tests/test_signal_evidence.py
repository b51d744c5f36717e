"""Which protocol decided (issue 18, item 4): ``document_signal_evidence`` lists every consent signal that applied to
a document, per use and moment, and marks the one that decided; ``document_signal_deciders`` (what the reports
count) gives the same decider without expanding documents x agents. Hand-built ledgers: page signals in
``documents.page_signals``, robots.txt snapshots through ``store_snapshots`` (Content-Usage lines parsed from the
body), a consent evaluation, tdmrep.json through ``store_tdmrep``, RSL terms as the rows they make."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from provenance.ledger import Ledger
from provenance.reports import render_all
from provenance.reports.about import load_about
from provenance.reports.facts import collect
from provenance.robots.consent import evaluate, store_snapshots, store_tdmrep
from provenance.robots.snapshots import Snapshot

AGENTS = ["GPTBot", "OAI-SearchBot", "ChatGPT-User", "Amazonbot"]  # training, search, user-triggered, mixed
HOSTILE_RULE = "/z/<script>alert(1)</script>|**bold**[x](javascript:alert(1))"

S1 = """User-agent: GPTBot
Disallow: /articles/

User-agent: *
Disallow: /private/
Content-Usage: /articles/*.html$ train-ai=n, search=y
Content-Usage: / train-ai=y
"""
S2 = """User-agent: GPTBot
Allow: /

User-agent: *
Disallow: /private/
Content-Usage: / train-ai=y
"""
HOSTILE = f"""User-agent: GPTBot
Disallow: {HOSTILE_RULE}
"""
TDMREP = b'[{"location": "/articles/*", "tdm-reservation": 1, "tdm-policy": "https://news.example/tdm.json"},' \
         b' {"location": "/", "tdm-reservation": 0}]'


def _t(y, m, d):
    return datetime(y, m, d, tzinfo=timezone.utc)


def _doc(con, pos: int, url: str, crawl: datetime, signals: list[dict] | None = None) -> None:
    host = url.split("/")[2]
    con.execute("INSERT INTO documents (shard_id, position, doc_id, url, host, registered_domain, crawl_date, bytes, words, "
                "run_id, page_signals) VALUES ('s', ?, ?, ?, ?, ?, ?, 10, ?, 'r', ?)",
                [pos, f"d{pos}", url, host, host, crawl, 100 + pos, signals or []])


def _sig(source, use, allowed=False, agent="*", scope=None, evidence="e"):
    return {"source": source, "use": use, "allowed": allowed, "agent": agent, "scope": scope, "evidence": evidence}


def _snap(host, when, body):
    return Snapshot(host=host, source="folder", captured_at=when, outcome="parsed", body=body,
                    url=f"https://{host}/robots.txt", http_status=200)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    path = tmp_path_factory.mktemp("evidence") / "l.duckdb"
    with Ledger(path) as led:
        con = led.con
        noai = _sig("x-robots-tag", "train-ai", evidence="X-Robots-Tag: noai")
        _doc(con, 1, "https://news.example/articles/one.html", _t(2026, 3, 1), [noai])
        _doc(con, 2, "https://news.example/about", _t(2026, 3, 1))
        # `$`: the Content-Usage pattern ends the path; `.html` with a query is another path
        _doc(con, 3, "https://news.example/articles/one.html?page=2", _t(2026, 3, 1))
        _doc(con, 4, f"https://hostile.example{HOSTILE_RULE}/p", _t(2026, 3, 1))
        # crawled before any snapshot: nothing from robots.txt at crawl time
        _doc(con, 5, "https://news.example/articles/old.html", _t(2025, 6, 1),
             [_sig("meta-robots", "train-ai", evidence='<meta name="robots" content="noai">'),
              _sig("meta-robots", "train-ai", scope="images", evidence="noimageai")])
        store_snapshots(led, [_snap("news.example", _t(2026, 1, 1), S1), _snap("news.example", _t(2026, 6, 1), S2),
                              _snap("hostile.example", _t(2026, 1, 1), HOSTILE)])
        evaluate(led, AGENTS)
        store_tdmrep(led, [SimpleNamespace(host="news.example", outcome="parsed", body=TDMREP,
                                          fetched_at=_t(2026, 6, 2))])
        # RSL terms of the latest snapshot (as provenance.rsl stores them): training refused under /articles/
        s2 = _snap("news.example", _t(2026, 6, 1), S2).snapshot_id
        con.execute("INSERT INTO robots_signals VALUES (?, 'news.example', 'rsl', 'train-ai', false, '*', '/articles/', "
                    "'https://news.example/license.xml: prohibits usage ai-train')", [s2])
    return path


def _evidence(path, position):
    with Ledger(path, read_only=True) as led:
        rows = led.query(f"""SELECT "use", moment, protocol, source, agent, allowed, scope, evidence, observed_at, decides
                             FROM document_signal_evidence WHERE position = {position}
                             ORDER BY "use", moment, protocol, source, agent""").to_pylist()
    return rows


def _key(r):
    return (r["use"], r["moment"], r["protocol"], r["source"], r["agent"], r["allowed"], r["scope"])


def test_every_applied_signal_with_its_moment(ledger):
    rows = _evidence(ledger, 1)
    got = {_key(r) for r in rows}
    assert got == {
        # crawl time: the page, and the snapshot of 2026-01-01
        ("train-ai", "crawl", "x-robots-tag/meta noai", "x-robots-tag", "*", False, None),
        ("train-ai", "crawl", "robots.txt", "robots-txt-group", "gptbot", False, "/articles/"),
        # Amazonbot (mixed) falls into `*`, whose rules do not match: an implicit allow is no signal
        # Content-Usage: the longest matching path decides its statement; `/ train-ai=y` does not apply
        ("train-ai", "crawl", "aipref", "content-usage-robots", "*", False, "/articles/*.html$"),
        ("search", "crawl", "aipref", "content-usage-robots", "*", True, "/articles/*.html$"),
        # now: the snapshot of 2026-06-01, its RSL terms, and tdmrep.json
        ("train-ai", "now", "robots.txt", "robots-txt-group", "gptbot", True, "/"),
        ("train-ai", "now", "aipref", "content-usage-robots", "*", True, "/"),
        ("train-ai", "now", "rsl", "rsl", "*", False, "/articles/"),
        ("tdm", "now", "tdmrep", "tdmrep-json", "*", False, "/articles/*"),  # the first matching rule only
    }
    by = {_key(r): r for r in rows}
    gpt = by[("train-ai", "crawl", "robots.txt", "robots-txt-group", "gptbot", False, "/articles/")]
    assert gpt["evidence"] == "robots.txt:2: Disallow: /articles/"
    assert gpt["observed_at"] == _t(2026, 1, 1)
    assert by[("train-ai", "now", "robots.txt", "robots-txt-group", "gptbot", True, "/")]["observed_at"] == _t(2026, 6, 1)
    assert by[("train-ai", "crawl", "x-robots-tag/meta noai", "x-robots-tag", "*", False, None)]["observed_at"] == _t(2026, 3, 1)
    tdm = by[("tdm", "now", "tdmrep", "tdmrep-json", "*", False, "/articles/*")]
    assert "tdm-policy" in tdm["evidence"] and tdm["observed_at"] is None


def test_exactly_one_decides_per_use_and_moment(ledger):
    deciders = {(r["use"], r["moment"]): _key(r) for r in _evidence(ledger, 1) if r["decides"]}
    assert deciders == {
        # refusals everywhere: the page's own header outranks robots.txt and Content-Usage
        ("train-ai", "crawl"): ("train-ai", "crawl", "x-robots-tag/meta noai", "x-robots-tag", "*", False, None),
        # a permission (robots.txt Allow for GPTBot, Content-Usage y) overridden by a refusal of lower rank (RSL)
        ("train-ai", "now"): ("train-ai", "now", "rsl", "rsl", "*", False, "/articles/"),
        ("search", "crawl"): ("search", "crawl", "aipref", "content-usage-robots", "*", True, "/articles/*.html$"),
        ("tdm", "now"): ("tdm", "now", "tdmrep", "tdmrep-json", "*", False, "/articles/*"),
    }
    with Ledger(ledger, read_only=True) as led:
        per = led.query("""SELECT shard_id, position, "use", moment, count(*) FILTER (decides) AS n
                           FROM document_signal_evidence GROUP BY ALL""").to_pylist()
        assert per and all(r["n"] == 1 for r in per)
        # the compact deciders agree with the per-agent view, row for row
        a = led.query("""SELECT shard_id, position, "use", moment, protocol, source, agent, allowed, scope, evidence
                         FROM document_signal_evidence WHERE decides ORDER BY ALL""").to_pylist()
        b = led.query("""SELECT shard_id, position, "use", moment, protocol, source, agent, allowed, scope, evidence
                         FROM document_signal_deciders ORDER BY ALL""").to_pylist()
        assert a == b


def test_a_document_outside_the_scopes(ledger):
    rows = _evidence(ledger, 2)  # /about
    assert {_key(r) for r in rows} == {
        ("train-ai", "crawl", "aipref", "content-usage-robots", "*", True, "/"),
        ("train-ai", "now", "robots.txt", "robots-txt-group", "gptbot", True, "/"),
        ("train-ai", "now", "aipref", "content-usage-robots", "*", True, "/"),
        ("tdm", "now", "tdmrep", "tdmrep-json", "*", True, "/"),
    }
    deciders = {(r["use"], r["moment"]): r["protocol"] for r in rows if r["decides"]}
    # permissions only: the precedence decides (robots.txt groups before Content-Usage)
    assert deciders == {("train-ai", "crawl"): "aipref", ("train-ai", "now"): "robots.txt", ("tdm", "now"): "tdmrep"}


def test_path_patterns_follow_robots_txt_rules(ledger):
    rows = _evidence(ledger, 3)  # /articles/one.html?page=2: `/articles/*.html$` does not match, `/` does
    cu = {(r["moment"], r["scope"]) for r in rows if r["source"] == "content-usage-robots"}
    assert cu == {("crawl", "/"), ("now", "/")}
    assert ("train-ai", "crawl", "robots.txt", "robots-txt-group", "gptbot", False, "/articles/") in {_key(r) for r in rows}
    # the hostile rule's path is matched literally (regex characters escaped)
    rows = _evidence(ledger, 4)
    assert [(r["use"], r["moment"], r["protocol"], r["decides"]) for r in rows] == [
        ("train-ai", "crawl", "robots.txt", True), ("train-ai", "now", "robots.txt", True)]
    assert rows[0]["evidence"] == f"robots.txt:2: Disallow: {HOSTILE_RULE}"


def test_page_only_before_any_snapshot_and_images_scope_left_out(ledger):
    rows = _evidence(ledger, 5)
    crawl = [_key(r) for r in rows if r["moment"] == "crawl"]
    assert crawl == [("train-ai", "crawl", "x-robots-tag/meta noai", "meta-robots", "*", False, None)]
    assert {r["moment"] for r in rows} == {"crawl", "now"}


def test_agent_purposes_are_stored_with_the_evaluation(ledger):
    with Ledger(ledger, read_only=True) as led:
        assert dict(led.con.execute("SELECT agent, purpose FROM consent_agent_purposes").fetchall()) == {
            "GPTBot": "training", "OAI-SearchBot": "search", "ChatGPT-User": "user-triggered", "Amazonbot": "mixed"}


def test_a_mixed_agent_counts_for_every_use(tmp_path):
    with Ledger(tmp_path / "m.duckdb") as led:
        _doc(led.con, 1, "https://shop.example/cart", _t(2026, 3, 1))
        store_snapshots(led, [_snap("shop.example", _t(2026, 1, 1), "User-agent: Amazonbot\nDisallow: /cart\n")])
        evaluate(led, ["Amazonbot", "GPTBot"])
        rows = led.query("SELECT \"use\", moment, agent, allowed, decides FROM document_signal_evidence "
                         "ORDER BY ALL").to_pylist()
    assert [(r["use"], r["moment"], r["agent"], r["allowed"], r["decides"]) for r in rows] == [
        (u, m, "amazonbot", False, True) for u in ("ai-input", "search", "train-ai") for m in ("crawl", "now")]


def test_reports_count_deciders_and_escape_evidence(ledger):
    with Ledger(ledger, read_only=True) as led:
        f = collect(led)
    rows = {(r["use"], r["moment"], r["protocol"], r["allowed"]): r for r in f["signal_deciders"]["rows"]}
    assert {k: r["documents"] for k, r in rows.items()} == {
        ("tdm", "now", "tdmrep", False): 3,                  # docs 1, 3, 5 under /articles/
        ("tdm", "now", "tdmrep", True): 1,                   # /about
        ("train-ai", "crawl", "x-robots-tag/meta noai", False): 2,   # docs 1 and 5
        ("train-ai", "crawl", "robots.txt", False): 2,       # doc 3 (GPTBot), doc 4 (hostile)
        ("train-ai", "crawl", "aipref", True): 1,            # /about
        ("train-ai", "now", "rsl", False): 3,                # docs 1, 3, 5
        ("train-ai", "now", "robots.txt", False): 1,         # doc 4
        ("train-ai", "now", "robots.txt", True): 1,          # /about
        ("search", "crawl", "aipref", True): 1,              # doc 1
    }
    assert [r["use"] for r in f["signal_deciders"]["rows"]][:2] == ["tdm", "tdm"]  # signals.USES order
    assert rows[("train-ai", "now", "robots.txt", False)]["example"] == f"robots.txt:2: Disallow: {HOSTILE_RULE}"

    out = render_all(f, load_about(None), with_html=True)
    md, eu, html = out["datasheet.md"], out["eu-training-summary.md"], out["datasheet.html"]
    assert "### Which protocol decided" in md and "Which protocol decided, per use" in eu
    assert "| train-ai | now | rsl | refused | 3 |" in md and "| train-ai | now | rsl | refused | 3 |" in eu
    assert "| tdm | now | tdmrep | permitted | 1 |" in md
    for text in (md, eu):
        assert "<script>" not in text and "**bold**" not in text
    section = html.split('id="datasheet"', 1)[1]  # the rendered page shows the line as text, no markup from it
    assert "<script>" not in section and "<strong>bold" not in section and 'href="javascript' not in section
    assert "&lt;script>alert(1)&lt;/script>" in md and r"\*\*bold\*\*\[x\](javascript:" in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


PATTERNS = ["/", "", "/a", "/a$", "/a*", "*", "*.php$", "/fish*.php", "/$", "$", "/a$b", "/a.b", "/a+b", "/(x)", "/[x]",
            "/a\\b", "/a?b", "/a|b", "/{1}", "/^x", "/**", "/a*$", "/.*", "/x$$", "/é"]
PATHS = ["/", "/a", "/a/", "/ab", "/a$b", "/a.b", "/axb", "/a+b", "/aab", "/(x)", "/[x]", "/x", "/a\\b", "/a?b", "/a|b",
         "/{1}", "/^x", "/index.php", "/fish.php", "/fishy.php?x", "/x$", "/é", "/.*"]


def test_path_scopes_match_as_signals_location_matches(tmp_path):
    """The view's SQL regex against signals.location_matches, pattern x path (regex metacharacters, `*`, `$` at the
    end and elsewhere); documents consent was never evaluated for take the latest snapshot of their host."""
    from provenance.signals import location_matches

    with Ledger(tmp_path / "p.duckdb") as led:
        con = led.con
        for i, path in enumerate(PATHS):
            _doc(con, i, "https://p.example" + path, _t(2026, 3, 1))
        con.execute("INSERT INTO robots_snapshots (snapshot_id, host, source, captured_at, outcome, imported_at) "
                    "VALUES ('sp', 'p.example', 'folder', ?, 'parsed', ?)", [_t(2026, 1, 1), _t(2026, 1, 1)])
        for j, pat in enumerate(PATTERNS):
            con.execute("INSERT INTO robots_signals VALUES ('sp', 'p.example', 'content-signal-robots', 'search', true, "
                        "'*', ?, ?)", [pat, f"pattern {j}"])
        got = {}
        for pos, moment, ev in con.execute("SELECT position, moment, evidence FROM document_signal_evidence").fetchall():
            got.setdefault((pos, moment), set()).add(PATTERNS[int(ev.split()[1])])
    for i, path in enumerate(PATHS):
        want = {p for p in PATTERNS if location_matches(p, path)}
        assert got.get((i, "crawl"), set()) == want == got.get((i, "now"), set()), path
