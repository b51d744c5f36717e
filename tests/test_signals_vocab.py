"""The 2025-2026 AI-preference vocabulary: every label of every AIPREF vocabulary revision and of Content
Signals mapped to today's uses, the policy's deprecated names, ledgers written before ``ai-use`` became
``ai-input``, robots.txt ``Content-Usage`` precedence (draft-ietf-aipref-attach-05: the crawler's group, then
the longest matching path) on real robots.txt text, and the ``Content-Usage`` header from WARC / WAT records."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from provenance.ledger import Ledger
from provenance.readers import ReadOptions, read_shard
from provenance.robots.consent import store_snapshots
from provenance.robots.snapshots import import_jsonl
from provenance.ruleset import Policy, load_policies
from provenance.signals import (
    AIPREF_LABELS,
    USES,
    from_headers,
    from_robots_extensions,
    scan_batch,
)
from provenance.sources import discover
from provenance.verdict import evaluate


def uses(sigs):
    return {(s.use, s.allowed) for s in sigs}


# ---------------------------------------------------------------- labels -> uses


@pytest.mark.parametrize("label, expected", [
    ("train-ai", {"train-ai"}),        # vocab -02 .. -07
    ("search", {"search"}),            # -01 .. -07
    ("train-genai", {"train-ai"}),     # -02/-03 "Generative AI Training" = today's train-ai
    ("genai", {"train-ai"}),           # -01
    ("ai", {"train-ai"}),              # -01 "AI Training"
    ("ai-use", {"ai-input"}),          # -02 "AI Use"
    ("inference", {"ai-input"}),       # -01 "AI Inference"
    ("ai-output", {"ai-input", "search"}),  # -04 "AI Output" covered search results
    ("tdm", {"tdm"}), ("all", {"tdm"}), ("bots", {"tdm"}),  # the umbrella of -01 .. -04
])
def test_every_aipref_label_maps_to_a_current_use(label, expected):
    assert uses(from_headers({"Content-Usage": f"{label}=n"})) == {(u, False) for u in expected}
    assert uses(from_headers({"Content-Usage": f"{label}=y"})) == {(u, True) for u in expected}
    assert set(AIPREF_LABELS[label]) == expected and expected <= set(USES)


def test_unadopted_proposals_and_unknown_labels_are_ignored():
    # rag-ground (May 2026), infer-user / infer-system (Aug 2026) are unmerged proposals: unknown labels
    s = from_headers({"Content-Usage": "rag-ground=n, infer-user=n, infer-system=n, train-ai=n"})
    assert uses(s) == {("train-ai", False)}


def test_content_signals_ai_input_is_its_own_use():
    s = from_robots_extensions([(3, "content-signal", "search=yes, ai-train=no, ai-input=no", ("*",))])
    assert uses(s) == {("search", True), ("train-ai", False), ("ai-input", False)}
    assert "ai-use" not in USES and "train-genai" not in USES and {"ai-input", "ai-index"} <= set(USES)


# ---------------------------------------------------------------- policy names


def test_policy_accepts_deprecated_names_with_a_warning():
    with pytest.warns(FutureWarning) as rec:
        p = Policy(purpose="old policy", signals={"ai-use": "exclude", "train-genai": "review"})
    assert p.signals == {"ai-input": "exclude", "train-ai": "review"}
    assert sorted(str(w.message) for w in rec) == [
        "policy signals: 'ai-use' is a deprecated name of the use 'ai-input'; write 'ai-input'",
        "policy signals: 'train-genai' is a deprecated name of the use 'train-ai'; write 'train-ai'"]
    with pytest.warns(FutureWarning):  # both spellings: the stricter action wins, whatever the order
        assert Policy(purpose="both", signals={"train-ai": "ignore", "train-genai": "exclude"}).signals == {"train-ai": "exclude"}
        assert Policy(purpose="both", signals={"train-genai": "review", "train-ai": "exclude"}).signals == {"train-ai": "exclude"}
    with pytest.raises(ValueError, match="ai-index"):  # unknown names still fail, listing the uses
        Policy(purpose="bad one", signals={"rag": "exclude"})


def test_shipped_policies_use_current_names_only():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation warning from the shipped rules
        _, pols = load_policies()
    for pol in pols.values():
        assert set(pol.signals) <= set(USES)
    assert pols["commercial"].signals["ai-input"] == "ignore"


def test_policy_file_with_ai_use_still_loads(tmp_path):
    (tmp_path / "policy.yaml").write_text("policies:\n  rag:\n    purpose: building a RAG index\n"
                                          "    signals: {ai-use: exclude, tdm: exclude}\n")
    with pytest.warns(FutureWarning):
        _, pols = load_policies([tmp_path])
    assert pols["rag"].signals == {"ai-input": "exclude", "tdm": "exclude"}


# ---------------------------------------------------------------- ledgers


def _doc(con, pos: int, url: str, signals: list[dict] | None = None) -> None:
    host = url.split("/")[2]
    con.execute("INSERT INTO documents (shard_id, position, doc_id, url, host, registered_domain, bytes, words, run_id, "
                "page_signals) VALUES ('s', ?, ?, ?, ?, ?, 10, 2, 'r', ?)",
                [pos, f"d{pos}", url, host, host, signals or []])


def _sig(source, use, allowed=False, agent="*", scope=None):
    return {"source": source, "use": use, "allowed": allowed, "agent": agent, "scope": scope, "evidence": "e"}


def _rules(tmp_path: Path, signals: str, agents: str = "[GPTBot]") -> Path:
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    (d / "policy.yaml").write_text(f"""default_policy: t
policies:
  t:
    purpose: the test's policy
    robots:
      - agents: {agents}
        disallowed: ignore
        unknown: ignore
    signals: {signals}
""")
    return d


def _reasons(led) -> dict[str, list[str]]:
    rows = led.query("SELECT d.url, v.reasons FROM document_verdicts v JOIN documents d USING (shard_id, position)").to_pylist()
    return {r["url"]: sorted(r["reasons"]) for r in rows}


def test_old_ledger_values_read_as_current_uses(tmp_path):
    """A ledger scanned before the rename holds ai-use / train-genai in page_signals (never rewritten: it may
    be a Parquet store) and, until migration 0014 ran, in robots_signals."""
    path = tmp_path / "old.duckdb"
    with Ledger(path) as led:
        con = led.con
        _doc(con, 1, "https://rag.example/a", [_sig("content-usage-header", "ai-use")])
        _doc(con, 2, "https://gen.example/b", [_sig("content-usage-header", "train-genai")])
        _doc(con, 3, "https://both.example/c", [_sig("content-usage-header", "ai-use"), _sig("content-signal-header", "ai-input")])
        _doc(con, 4, "https://robots-old.example/d")
        # an old robots_signals row, as a ledger before 0014 holds it
        con.execute("DELETE FROM schema_migrations WHERE version = 14")
        con.execute("INSERT INTO robots_signals VALUES ('snap1', 'robots-old.example', 'content-signal-robots', 'ai-use', "
                    "false, '*', '/', 'robots.txt:2: content-signal: ai-input=no')")
        con.execute("INSERT INTO robots_snapshots (snapshot_id, host, source, captured_at, outcome, body, imported_at) "
                    "VALUES ('snap1', 'robots-old.example', 'jsonl', now(), 'parsed', "
                    "'User-agent: *\nContent-Signal: ai-input=no\n', now())")
        # the view and the verdicts read the old names as new before the migration too
        assert sorted(led.query('SELECT DISTINCT "use" FROM page_signals').column(0).to_pylist()) == ["ai-input", "train-ai"]
        ev = evaluate(led, [_rules(tmp_path, "{ai-input: exclude, train-ai: review}")])
        assert (ev.excluded, ev.review) == (3, 1)
        assert _reasons(led) == {
            "https://rag.example/a": ["signal:content-usage-header:ai-input"],
            "https://gen.example/b": ["signal:content-usage-header:train-ai"],
            "https://both.example/c": ["signal:content-signal-header:ai-input", "signal:content-usage-header:ai-input"],
            "https://robots-old.example/d": ["signal:content-signal-robots:ai-input"],
        }
    with Ledger(path) as led:  # reopening applies 0014: robots_signals rewritten, page_signals left as stored
        assert 14 in {r[0] for r in led.con.execute("SELECT version FROM schema_migrations").fetchall()}
        assert led.con.execute('SELECT "use" FROM robots_signals').fetchall() == [("ai-input",)]
        raw = led.con.execute("SELECT page_signals[1].use FROM documents WHERE position = 1").fetchall()[0][0]
        assert raw == "ai-use"
        assert led.query("SELECT \"use\" FROM page_signals WHERE position = 1").column(0).to_pylist() == ["ai-input"]


def test_migration_0014_on_a_parquet_ledger(tmp_path):
    # 0014 touches robots_signals and a view only: a Parquet-store ledger takes it
    with Ledger(tmp_path / "pq.duckdb", documents_store="parquet") as led:
        assert led.schema_version() >= 14
        assert led.query("SELECT * FROM page_signals").num_rows == 0


# ---------------------------------------------------------------- robots.txt Content-Usage precedence

_EXAMPLE = "https://example.example"


def _robots_ledger(tmp_path: Path, body: str, paths: list[str], signals: str, agents: str) -> dict[str, list[str]]:
    src = tmp_path / "robots.jsonl"
    src.write_text(json.dumps({"host": "example.example", "body": body, "captured_at": "2026-01-01T00:00:00Z"}) + "\n")
    with Ledger(tmp_path / f"r{abs(hash((body, agents))) % 10**8}.duckdb") as led:
        for i, p in enumerate(paths):
            _doc(led.con, i, _EXAMPLE + p)
        store_snapshots(led, import_jsonl(src))
        evaluate(led, [_rules(tmp_path, signals, agents)])
        return {u[len(_EXAMPLE):]: r for u, r in _reasons(led).items()}


def test_more_specific_content_usage_path_overrides(tmp_path):
    body = ("User-agent: *\nAllow: /\n"
            "Content-Usage: / train-ai=n\n"
            "Content-Usage: /public/ train-ai=y   # the public part may be trained on\n")
    got = _robots_ledger(tmp_path, body, ["/", "/news/1", "/public/a", "/publicity"], "{train-ai: exclude}", "[GPTBot]")
    assert got == {"/": ["signal:content-usage-robots:train-ai"], "/news/1": ["signal:content-usage-robots:train-ai"],
                   "/public/a": [], "/publicity": ["signal:content-usage-robots:train-ai"]}


def test_the_attach_drafts_example(tmp_path):
    """draft-ietf-aipref-attach-05 section 4.4: ExampleBot uses its own group (train-ai=y everywhere); every
    other crawler the first group (train-ai=n, but y under /ai-ok/)."""
    body = ("User-Agent: *\nAllow: /\nDisallow: /never/\nContent-Usage: train-ai=n\nContent-Usage: /ai-ok/ train-ai=y\n\n"
            "User-Agent: ExampleBot\nAllow: /\nContent-Usage: train-ai=y\n")
    paths = ["/test", "/ai-ok/test"]
    example = _robots_ledger(tmp_path, body, paths, "{train-ai: exclude}", "[ExampleBot]")
    assert example == {"/test": [], "/ai-ok/test": []}
    other = _robots_ledger(tmp_path, body, paths, "{train-ai: exclude}", "[GPTBot]")
    assert other == {"/test": ["signal:content-usage-robots:train-ai"], "/ai-ok/test": []}
    both = _robots_ledger(tmp_path, body, paths, "{train-ai: exclude}", "[ExampleBot, GPTBot]")
    assert both == other  # a refusal for any crawler the policy honours is a reason


def test_own_group_without_content_usage_escapes_the_star_group(tmp_path):
    # RFC 9309: GPTBot obeys only its own group, which states no preference
    # (an Allow line ends the "*" group's user-agent run: our matcher, like Google's, does not count a
    # Content-Usage line as a rule there)
    body = "User-agent: *\nAllow: /\nContent-Usage: train-ai=n\n\nUser-agent: GPTBot\nAllow: /\n"
    assert _robots_ledger(tmp_path, body, ["/a"], "{train-ai: exclude}", "[GPTBot]") == {"/a": []}
    assert _robots_ledger(tmp_path, body, ["/a"], "{train-ai: exclude}", "[CCBot]") == {"/a": ["signal:content-usage-robots:train-ai"]}


def test_longest_match_decides_its_whole_statement_and_ties_combine(tmp_path):
    body = ("User-agent: *\n"
            "Content-Usage: train-ai=n, search=n\n"
            "Content-Usage: /docs/ search=y\n"        # under /docs/ train-ai is no longer stated: unknown
            "Content-Usage: /shop/ train-ai=y\n"
            "Content-Usage: /shop/ train-ai=n\n"      # same path, conflicting: the refusal wins
            "Content-Usage: /*.pdf$ train-ai=n\n")    # a pattern: 7 octets, longer than /docs/
    got = _robots_ledger(tmp_path, body, ["/x", "/docs/a", "/docs/a.pdf", "/shop/1"],
                         "{train-ai: exclude, search: review}", "[CCBot]")
    assert got == {
        "/x": ["signal:content-usage-robots:search", "signal:content-usage-robots:train-ai"],
        "/docs/a": [],
        "/docs/a.pdf": ["signal:content-usage-robots:train-ai"],
        "/shop/1": ["signal:content-usage-robots:train-ai"],
    }


# ---------------------------------------------------------------- Content-Usage header from WARC / WAT


def _warc_record(wtype: str, uri: str, ctype: str, payload: bytes) -> bytes:
    head = (f"WARC/1.0\r\nWARC-Type: {wtype}\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2026-03-01T00:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{abs(hash(uri)):032x}>\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    return head + payload + b"\r\n\r\n"


def _read(path: Path) -> pa.Table:
    shard = discover([str(path)])[0]
    return pa.Table.from_batches([ch.batch for ch in read_shard(shard, ReadOptions()) if ch.batch is not None])


def test_content_usage_header_reaches_page_signals_from_warc_and_wat(tmp_path):
    html = b"<html><head><title>t</title></head><body><p>Some text about gardens.</p></body></html>"
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Usage: train-ai=n, search=y\r\n"
            b"Content-Length: " + str(len(html)).encode() + b"\r\n\r\n" + html)
    warc = tmp_path / "x.warc"
    warc.write_bytes(_warc_record("response", "https://h.example/p", "application/http; msgtype=response", http))
    env = {"Envelope": {"Payload-Metadata": {"HTTP-Response-Metadata": {
        "Headers": {"Content-Type": "text/html", "Content-Usage": "train-ai=n"},
        "HTML-Metadata": {"Head": {"Metas": [{"name": "robots", "content": "index"}]}}}}}}
    wat = tmp_path / "x.warc.wat"
    wat.write_bytes(_warc_record("metadata", "https://h.example/q", "application/json", orjson.dumps(env)))
    for path, expected in ((warc, {("train-ai", False), ("search", True)}), (wat, {("train-ai", False)})):
        t = _read(path)
        assert t.num_rows == 1, path
        sig = scan_batch(t).to_pylist()[0]
        assert {(s["source"], s["use"], s["allowed"]) for s in sig} == {("content-usage-header", u, a) for u, a in expected}


def test_a_field_on_several_lines_of_a_warc_response_counts_whole(tmp_path):
    # RFC 9110 section 5.3: repeated field lines are one list; the reader joins them (it kept the last one)
    html = b"<html><head><title>t</title></head><body><p>Some text about gardens.</p></body></html>"
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Usage: train-ai=n\r\nX-Robots-Tag: noindex\r\n"
            b"Content-Usage: search=y\r\nX-Robots-Tag: GPTBot: noai\r\n\r\n" + html)
    warc = tmp_path / "y.warc"
    warc.write_bytes(_warc_record("response", "https://h.example/r", "application/http; msgtype=response", http))
    t = _read(warc)
    assert orjson.loads(t.column("http_headers")[0].as_py())["content-usage"] == "train-ai=n, search=y"
    sig = scan_batch(t).to_pylist()[0]
    assert {(s["source"], s["use"], s["allowed"], s["agent"]) for s in sig} == {
        ("content-usage-header", "train-ai", False, "*"), ("content-usage-header", "search", True, "*"),
        ("x-robots-tag", "search", False, "*"), ("x-robots-tag", "train-ai", False, "gptbot")}
