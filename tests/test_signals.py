"""AI-usage signals: every source and its mapping to the one vocabulary, garbage inputs, the columnar
scan (row alignment, nulls), the real WARC / WAT samples and the real llms.txt Parquet, and throughput."""

from __future__ import annotations

import collections
import random
import time
import zlib

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import shared_path
from provenance.signals import (
    SIGNAL_TYPE,
    USES,
    Signal,
    from_headers,
    from_html,
    from_robots_extensions,
    from_tdmrep_json,
    location_matches,
    parse_sf_dictionary,
    scan_batch,
)


def key(sigs):
    """The signals without evidence, as a set of (source, use, allowed, agent, scope)."""
    return {(s.source, s.use, s.allowed, s.agent, s.scope) for s in sigs}


def page(head: str, body: str = "<p>hello</p>") -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title>{head}</head><body>{body}</body></html>"


# ---------------------------------------------------------------- X-Robots-Tag


def test_x_robots_tag_noai_noimageai_and_search_directives():
    s = from_headers({"x-robots-tag": "noai, noimageai"})
    assert key(s) == {
        ("x-robots-tag", "train-ai", False, "*", None),
        ("x-robots-tag", "train-ai", False, "*", "images"),
    }
    assert all(x.evidence == "X-Robots-Tag: noai, noimageai" for x in s)
    assert key(from_headers({"x-robots-tag": "noindex, nofollow"})) == {("x-robots-tag", "search", False, "*", None)}
    assert key(from_headers({"x-robots-tag": "none"})) == {("x-robots-tag", "search", False, "*", None)}
    # directives that are no AI / search refusal make nothing
    assert from_headers({"x-robots-tag": "index, follow, noarchive, nosnippet, all"}) == []


def test_x_robots_tag_per_agent_and_valued_directives():
    v = "noindex, GPTBot: noai, noimageai, unavailable_after: Fri, 25 Jun 2010 15:00:00 GMT, max-image-preview: none"
    assert key(from_headers({"X-Robots-Tag": v})) == {
        ("x-robots-tag", "search", False, "*", None),
        ("x-robots-tag", "train-ai", False, "gptbot", None),
        ("x-robots-tag", "train-ai", False, "gptbot", "images"),
    }
    # "googlebot: unavailable_after: <date>" is neither an agent change to a directive nor a signal
    assert from_headers({"x-robots-tag": "googlebot: unavailable_after: 25 Jun 2010 15:00:00 PST"}) == []
    assert key(from_headers({"x-robots-tag": "CCBot: none"})) == {("x-robots-tag", "search", False, "ccbot", None)}
    # a date split by its commas does not make "15" an agent
    assert key(from_headers({"x-robots-tag": "unavailable_after: Fri, 25 Jun 2010, 15:00:00 GMT, noai"})) == {
        ("x-robots-tag", "train-ai", False, "*", None)}
    # max-image-preview:none (no space) is not "none"
    assert from_headers({"x-robots-tag": "max-image-preview:none"}) == []


def test_headers_case_insensitive_names_lists_and_json_string():
    assert key(from_headers({"X-ROBOTS-TAG": "NOAI"})) == {("x-robots-tag", "train-ai", False, "*", None)}
    # repeated headers as a list: each value is read on its own (agent prefixes do not leak)
    s = from_headers({"x-robots-tag": ["GPTBot: noai", "noindex"]})
    assert key(s) == {("x-robots-tag", "train-ai", False, "gptbot", None), ("x-robots-tag", "search", False, "*", None)}
    js = orjson.dumps({"Content-Type": "text/html", "X-Robots-Tag": "noimageai"}).decode()
    assert key(from_headers(js)) == {("x-robots-tag", "train-ai", False, "*", "images")}


# ---------------------------------------------------------------- <meta>


def test_meta_robots_and_bot_names():
    html = page(
        '<meta name="robots" content="noai, noimageai">'
        '<meta NAME=GPTBot CONTENT=noindex>'
        "<meta name='Google-Extended' content='noai'>"
        '<meta name="googlebot-news" content="none">'
        '<meta name="description" content="none of that, noindex here">'
        '<meta name="keywords" content="noai">'
        '<meta name="viewport" content="width=device-width">'
    )
    assert key(from_html(html)) == {
        ("meta-robots", "train-ai", False, "*", None),
        ("meta-robots", "train-ai", False, "*", "images"),
        ("meta-robots", "search", False, "gptbot", None),
        ("meta-robots", "train-ai", False, "google-extended", None),
        ("meta-robots", "search", False, "googlebot-news", None),
    }
    ev = {s.agent: s.evidence for s in from_html(html)}
    assert ev["gptbot"] == "<meta NAME=GPTBot CONTENT=noindex>"


def test_meta_only_in_head_and_not_css():
    assert from_html(page("", '<meta name="robots" content="noai">')) == []
    # display:none in a <style> and in a non-robots meta are not "none"
    assert from_html(page('<style>.x{display:none}</style><meta name="theme" content="none">')) == []
    # no </head> and no <body>: the start of the document is read
    assert key(from_html('<html><meta name="robots" content="noindex">')) == {("meta-robots", "search", False, "*", None)}
    # entities and attribute order
    assert key(from_html(page('<meta content="noai&#44; noimageai" name="robots"/>'))) == {
        ("meta-robots", "train-ai", False, "*", None),
        ("meta-robots", "train-ai", False, "*", "images"),
    }
    # http-equiv X-Robots-Tag reads like the header (agent prefix allowed)
    assert key(from_html(page('<meta http-equiv="X-Robots-Tag" content="GPTBot: noai">'))) == {
        ("meta-robots", "train-ai", False, "gptbot", None)
    }


def test_meta_in_comments_ignored_and_semicolon_lists():
    assert from_html(page('<!-- <meta name="robots" content="noai"> -->')) == []
    html = page('<meta name="robots" content="noarchive;none">')
    assert key(from_html(html)) == {("meta-robots", "search", False, "*", None)}
    assert _rows_as_keys(scan_batch(pa.RecordBatch.from_pydict({"html": [html]}))) == [{("meta-robots", "search", False, "*", None)}]


def test_headers_as_pairs_keep_repeated_fields_apart():
    pairs = [("X-Robots-Tag", "GPTBot: noindex"), ("X-Robots-Tag", "noai"), ("Content-Type", "text/html")]
    assert key(from_headers(pairs)) == {("x-robots-tag", "search", False, "gptbot", None), ("x-robots-tag", "train-ai", False, "*", None)}
    # joined into one value (how a dict keeps them), the agent prefix covers the later item too
    assert key(from_headers({"x-robots-tag": "GPTBot: noindex, noai"})) == {
        ("x-robots-tag", "search", False, "gptbot", None), ("x-robots-tag", "train-ai", False, "gptbot", None)}


def test_meta_plain_pages_have_no_signal():
    assert from_html(page('<meta name="robots" content="index, follow, max-image-preview:large">')) == []
    assert from_html("") == []
    assert from_html(None) == []


# ---------------------------------------------------------------- TDMRep


def test_tdmrep_header_reserved_allowed_and_errors():
    s = from_headers({"tdm-reservation": "1", "tdm-policy": "https://example.com/policy.json"})
    assert key(s) == {("tdmrep-header", "tdm", False, "*", None)}
    assert s[0].evidence == "tdm-reservation: 1; tdm-policy: https://example.com/policy.json"
    assert key(from_headers({"TDM-Reservation": " 0 "})) == {("tdmrep-header", "tdm", True, "*", None)}
    assert from_headers({"tdm-reservation": "yes"}) == []
    assert from_headers({"tdm-reservation": "2"}) == []
    assert from_headers({"tdm-policy": "https://example.com/p"}) == []


def test_tdmrep_meta():
    s = from_html(page('<meta name="tdm-reservation" content="1"><meta name="tdm-policy" content="https://e.x/p">'))
    assert key(s) == {("tdmrep-meta", "tdm", False, "*", None)}
    assert "tdm-policy" in s[0].evidence
    assert key(from_html(page('<meta name="tdm-reservation" content="0">'))) == {("tdmrep-meta", "tdm", True, "*", None)}
    assert from_html(page('<meta name="tdm-reservation" content="maybe">')) == []


def test_tdmrep_json_rules_and_matching():
    body = orjson.dumps(
        [
            {"location": "/premium/*", "tdm-reservation": 1, "tdm-policy": "https://e.x/policy"},
            {"location": "/img/*.jpg$", "tdm-reservation": 1},
            {"location": "/", "tdm-reservation": 0},
        ]
    )
    assert key(from_tdmrep_json(body, "/premium/a")) == {("tdmrep-json", "tdm", False, "*", "/premium/*")}
    assert key(from_tdmrep_json(body, "/img/x/y.jpg")) == {("tdmrep-json", "tdm", False, "*", "/img/*.jpg$")}
    assert key(from_tdmrep_json(body, "/img/x/y.jpg?s=1")) == {("tdmrep-json", "tdm", True, "*", "/")}
    assert key(from_tdmrep_json(body)) == {("tdmrep-json", "tdm", True, "*", "/")}  # default path "/"
    everything = from_tdmrep_json(body.decode(), path=None)
    assert [s.scope for s in everything] == ["/premium/*", "/img/*.jpg$", "/"]
    assert "https://e.x/policy" in everything[0].evidence
    # first match wins, even when a later rule is more specific
    body2 = '[{"location": "/", "tdm-reservation": 1}, {"location": "/open/", "tdm-reservation": 0}]'
    assert key(from_tdmrep_json(body2, "/open/x")) == {("tdmrep-json", "tdm", False, "*", "/")}
    assert location_matches("/a*b$", "/axxb") and not location_matches("/a*b$", "/axxbc")
    assert location_matches("/Docs", "/Docs/x") and not location_matches("/Docs", "/docs/x")


def test_tdmrep_json_garbage():
    assert from_tdmrep_json(b"") == []
    assert from_tdmrep_json(b"<html>404</html>") == []
    assert from_tdmrep_json(b'"just a string"') == []
    assert from_tdmrep_json(b"\xff\xfe\x00garbage") == []
    assert from_tdmrep_json(None) == []  # type: ignore[arg-type]
    assert from_tdmrep_json('[{"location": 5, "tdm-reservation": 1}, {"tdm-reservation": 1}, 7, null]', None) == []
    assert from_tdmrep_json('[{"location": "/", "tdm-reservation": true}, {"location": "/", "tdm-reservation": 3}]', None) == []
    # a lone object, a BOM and a string reservation are read
    assert key(from_tdmrep_json('\ufeff{"location": "/", "tdm-reservation": "1"}')) == {("tdmrep-json", "tdm", False, "*", "/")}


# ---------------------------------------------------------------- AIPREF Content-Usage


def test_content_usage_header():
    s = from_headers({"content-usage": "train-ai=n, search=y"})
    assert key(s) == {
        ("content-usage-header", "train-ai", False, "*", None),
        ("content-usage-header", "search", True, "*", None),
    }
    # labels of earlier vocabulary drafts map to today's uses (ai-use -> ai-input, train-genai -> train-ai)
    assert key(from_headers({"Content-Usage": "ai-use=n, train-genai=y, bots=n"})) == {
        ("content-usage-header", "ai-input", False, "*", None),
        ("content-usage-header", "train-ai", True, "*", None),
        ("content-usage-header", "tdm", False, "*", None),
    }
    # not tokens y / n, unknown labels, parameters: ignored; duplicate keys: the last one applies
    assert key(from_headers({"content-usage": 'train-ai="n", search=?1, foo=n, ai-use=n;why="x", search=n, search=y'})) == {
        ("content-usage-header", "ai-input", False, "*", None),
        ("content-usage-header", "search", True, "*", None),
    }
    # RFC 9651 parse failure -> every preference unknown
    assert from_headers({"content-usage": "Train-AI=n"}) == []
    assert from_headers({"content-usage": "train-ai = n"}) == []
    assert from_headers({"content-usage": "train-ai=n,"}) == []
    assert from_headers({"content-usage": "train-ai=n, search=y ; x"}) == []


def test_sf_dictionary_parser():
    d = parse_sf_dictionary('a=1, b="x\\"y", c=?0, d=:aGk=:, e=(t1 t2);p, f, g=@1659578233, h=tok;q=2.5, i=-3.125')
    assert d is not None
    assert d["a"] == ("num", "1") and d["b"] == ("str", 'x"y') and d["c"] == ("bool", "?0")
    assert d["d"][0] == "bytes" and d["e"][0] == "list" and d["f"] == ("bool", "?1")
    assert d["g"][0] == "date" and d["h"] == ("tok", "tok") and d["i"] == ("num", "-3.125")
    for bad in ["a=", "A=1", "a=1,,b=2", 'a="unterminated', "a=(x", "a=1 b=2", "a=é", "a=1.2345", "=1"]:
        assert parse_sf_dictionary(bad) is None, bad
    assert parse_sf_dictionary("") == {}


# ---------------------------------------------------------------- robots.txt extensions


def test_robots_content_signal_and_content_usage():
    ext = [
        (2, "content-signal", "search=yes, ai-train=no, ai-input=no", ("*",)),
        (5, "content-signal", "ai-train=YES,search = no , bogus=no, ai-input=maybe", ("GPTBot", "ClaudeBot")),
        (9, "content-usage", "/ train-ai=n  # comment", ("*",)),
        (10, "content-usage", "/ai-ok/ train-ai=y", ("*",)),
        (14, "content-usage", "search=y", None),  # outside a group, no path
        (15, "content-usage", "/x Train-AI=n", None),  # invalid dictionary
        (16, "disallow", "/private", ("*",)),
        (17, "content-signal", "", ("*",)),
    ]
    s = from_robots_extensions(ext)
    assert key(s) == {
        ("content-signal-robots", "search", True, "*", "/"),
        ("content-signal-robots", "train-ai", False, "*", "/"),
        ("content-signal-robots", "ai-input", False, "*", "/"),
        ("content-signal-robots", "train-ai", True, "gptbot", "/"),
        ("content-signal-robots", "search", False, "gptbot", "/"),
        ("content-signal-robots", "train-ai", True, "claudebot", "/"),
        ("content-signal-robots", "search", False, "claudebot", "/"),
        ("content-usage-robots", "train-ai", False, "*", "/"),
        ("content-usage-robots", "train-ai", True, "*", "/ai-ok/"),
        ("content-usage-robots", "search", True, "*", "/"),
    }
    ev = {(x.agent, x.scope, x.use): x.evidence for x in s}
    assert ev[("*", "/", "train-ai")].startswith("robots.txt:")
    assert "# comment" not in ev[("*", "/ai-ok/", "train-ai")]


def test_robots_extensions_garbage():
    assert from_robots_extensions([]) == []
    assert from_robots_extensions(None) == []  # type: ignore[arg-type]
    assert from_robots_extensions([(1, None, None, None), ("x",), 5, (1, "content-signal", 3, None)]) == []  # type: ignore[list-item]


# ---------------------------------------------------------------- robustness


def test_garbage_never_raises():
    rng = random.Random(3)
    alphabet = "<>=\"',;:# \t\n/*?()@%-_aAeEnNoOyYiImetaMETArobots noai tdm-reservation content-usage 01\\\x00é"
    headers_keys = ["x-robots-tag", "tdm-reservation", "tdm-policy", "content-usage", "content-signal", "headers"]
    for _ in range(3000):
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert isinstance(from_html(junk), list)
        assert isinstance(from_html("<head><meta " + junk), list)
        assert isinstance(from_headers({rng.choice(headers_keys): junk}), list)
        assert isinstance(from_headers(junk), list)
        assert isinstance(from_tdmrep_json(junk, rng.choice(["/", "/a", None])), list)
        assert isinstance(from_robots_extensions([(1, rng.choice(["content-usage", "content-signal"]), junk, ("*",))]), list)
    for bad in [None, 5, b"\xff", [], {"x-robots-tag": 5}, {"x-robots-tag": None}, {5: "noai"}, '{"headers": 5}', "[1,2]"]:
        assert from_headers(bad) == []  # type: ignore[arg-type]
    for bad in [5, b"<meta name=robots content=noai>", ["x"]]:
        assert from_html(bad) == []  # type: ignore[arg-type]


def test_signal_values_stay_in_vocabulary():
    sigs = (
        from_headers({"x-robots-tag": "noai, noimageai, none", "content-usage": "train-ai=n, train-genai=n, ai-use=y, search=y, all=n",
                      "tdm-reservation": "1", "content-signal": "search=yes, ai-train=no, ai-input=no"})
        + from_html(page('<meta name="robots" content="noai"><meta name="tdm-reservation" content="1">'
                         '<meta name="content-usage" content="train-ai=n">'))
    )
    # every use but ai-index, which only RSL licenses express (provenance.rsl)
    assert {s.use for s in sigs} == set(USES) - {"ai-index"}
    assert all(isinstance(s, Signal) and len(s.evidence) <= 300 for s in sigs)
    assert {s.source for s in sigs} >= {"x-robots-tag", "content-usage-header", "tdmrep-header", "content-signal-header",
                                        "meta-robots", "tdmrep-meta", "content-usage-meta"}
    long = from_headers({"x-robots-tag": "noai, " + "x" * 1000})
    assert len(long[0].evidence) == 300


# ---------------------------------------------------------------- WAT form of http_headers


def test_wat_form_headers_and_metas():
    js = orjson.dumps(
        {
            "headers": {"X-Robots-Tag": "noindex", "Content-Type": "text/html"},
            "html_metas": [{"name": "robots", "content": "noai"}, {"property": "og:title", "content": "x"},
                           {"name": "tdm-reservation", "content": "1"}, "junk"],
        }
    ).decode()
    assert key(from_headers(js)) == {
        ("x-robots-tag", "search", False, "*", None),
        ("meta-robots", "train-ai", False, "*", None),
        ("tdmrep-meta", "tdm", False, "*", None),
    }
    plain = orjson.dumps({"headers": {"Server": "x"}, "html_metas": [{"name": "robots", "content": "index"}]}).decode()
    out = scan_batch(pa.RecordBatch.from_pydict({"http_headers": [plain, None, js]}))
    assert _rows_as_keys(out) == [set(), set(), key(from_headers(js))]


# ---------------------------------------------------------------- scan_batch


def _rows_as_keys(arr: pa.Array):
    return [{(d["source"], d["use"], d["allowed"], d["agent"], d["scope"]) for d in row} for row in arr.to_pylist()]


def test_scan_batch_alignment_nulls_and_types():
    plain = page('<meta name="robots" content="index, follow"><style>.a{display:none}</style>', "<p>noai in the body</p>")
    html = [None, plain, page('<meta name="robots" content="noai">'), None, plain,
            page('<meta name="GPTBot" content="noindex">'), "", plain]
    hdrs = [None, '{"content-type": "text/html"}', None, orjson.dumps({"X-Robots-Tag": "noimageai"}).decode(), "not json",
            orjson.dumps({"tdm-reservation": "1"}).decode(), None, '{"x-robots-tag": "all"}']
    batch = pa.RecordBatch.from_pydict({"url": [f"u{i}" for i in range(8)], "html": html, "http_headers": hdrs})
    out = scan_batch(batch)
    assert out.type == SIGNAL_TYPE and len(out) == 8 and out.null_count == 0
    assert _rows_as_keys(out) == [
        set(),
        set(),
        {("meta-robots", "train-ai", False, "*", None)},
        {("x-robots-tag", "train-ai", False, "*", "images")},
        set(),
        {("meta-robots", "search", False, "gptbot", None), ("tdmrep-header", "tdm", False, "*", None)},
        set(),
        set(),
    ]
    # the same as the row-wise functions
    for i, row in enumerate(_rows_as_keys(out)):
        assert row == key(from_html(html[i]) + from_headers(hdrs[i]))
    # other string layouts and a Table give the same answer
    big = pa.RecordBatch.from_pydict({"html": pa.array(html, pa.large_string()), "http_headers": pa.array(hdrs, pa.large_string())})
    assert scan_batch(big).equals(out)
    view = pa.RecordBatch.from_pydict({"html": pa.array(html, pa.string_view()), "http_headers": pa.array(hdrs, pa.string())})
    assert scan_batch(view).equals(out)
    table = pa.Table.from_batches([batch.slice(0, 3), batch.slice(3)])
    assert scan_batch(table).equals(out)


def test_scan_batch_without_signal_columns_or_rows():
    b = pa.RecordBatch.from_pydict({"url": ["a", "b"]})
    out = scan_batch(b)
    assert out.type == SIGNAL_TYPE and out.to_pylist() == [[], []]
    b = pa.RecordBatch.from_pydict({"html": pa.array([None, None], pa.string()), "http_headers": pa.nulls(2)})
    assert scan_batch(b).to_pylist() == [[], []]
    empty = pa.RecordBatch.from_pydict({"html": pa.array([], pa.string())})
    assert len(scan_batch(empty)) == 0


# ---------------------------------------------------------------- real data


def _decode_body(body: bytes, headers: dict[str, str]) -> bytes:
    """Undo chunked transfer coding and gzip / deflate content coding, as wget WARCs store bodies as sent."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out, i = bytearray(), 0
        while True:
            nl = body.find(b"\r\n", i)
            size = int(body[i:nl].split(b";")[0].strip() or b"0", 16) if nl >= 0 else 0
            if size == 0:
                break
            out += body[nl + 2 : nl + 2 + size]
            i = nl + 2 + size + 2
        body = bytes(out)
    enc = headers.get("content-encoding", "").lower()
    if "gzip" in enc:
        body = zlib.decompress(body, 47)
    elif "deflate" in enc:
        body = zlib.decompress(body, -15)
    return body


def test_real_warc_samples():
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    warcs = sorted(shared_path("web_text/warc").glob("*.warc.gz"))
    assert warcs
    found = collections.Counter()
    rows_html, rows_hdr, rows_expected = [], [], []
    n = 0
    for path in warcs:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                if not rec.is_http:
                    continue
                n += 1
                headers = {k.lower(): v for k, v in rec.http_headers.items()}
                try:
                    html = _decode_body(rec.reader.read(), headers).decode("utf-8", "replace")
                except Exception:  # noqa: BLE001 - undecodable body: headers only
                    html = None
                sigs = from_headers(headers) + from_html(html)
                for s in sigs:
                    found[(path.name, rec.headers.get("WARC-Target-URI"), s.source, s.use, s.allowed, s.evidence)] += 1
                rows_html.append(html)
                rows_hdr.append(orjson.dumps(headers).decode())
                rows_expected.append(key(sigs))
    assert n > 40
    # the one real signal in these samples: <meta name="robots" content="noindex, nofollow"> (a search refusal)
    assert (
        "cc-main-2020-34_resiliparse_sample.warc.gz",
        "http://035.psb556.com/24/i/u_1090813/article.html",
        "meta-robots",
        "search",
        False,
        '<meta name="robots" content="noindex, nofollow" />',
    ) in found
    # plain robots metas in the samples ("all", "INDEX,FOLLOW", "max-image-preview:large", ...) are no signal
    assert all(k[3] == "search" for k in found)
    # the columnar scan agrees row by row
    out = scan_batch(pa.RecordBatch.from_pydict({"html": pa.array(rows_html, pa.string()), "http_headers": rows_hdr}))
    assert _rows_as_keys(out) == rows_expected


def test_real_wat_sample():
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    path = shared_path("web_text/warc/cc-main-2024-22_whirlwind.warc.wat.gz")
    rows, records = [], 0
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.metadata, parse_http=False):
            records += 1
            env = orjson.loads(rec.reader.read())
            resp = env.get("Envelope", {}).get("Payload-Metadata", {}).get("HTTP-Response-Metadata")
            if resp is None:
                continue
            metas = (resp.get("HTML-Metadata") or {}).get("Head", {}).get("Metas")
            rows.append(orjson.dumps({"headers": resp.get("Headers") or {}, "html_metas": metas}).decode())
    assert records  # this small sample holds only a request record; any response rows must read cleanly
    for r in rows:
        assert isinstance(from_headers(r), list)
    assert len(scan_batch(pa.RecordBatch.from_pydict({"http_headers": rows}))) == len(rows)


def test_real_llms_txt_parquet_headers():
    path = shared_path("web_text/parquet_real/cc-llms-txt_CC-MAIN-2026-30_fixture.parquet")
    t = pq.read_table(path, columns=["http_headers", "WARC-Target-URI"])
    batch = t.combine_chunks().to_batches()[0]
    out = scan_batch(batch)
    assert len(out) == t.num_rows == 147
    evidence = collections.Counter()
    rows_with = 0
    for hdr, sigs in zip(batch.column("http_headers").to_pylist(), out.to_pylist()):
        assert {(s["source"], s["use"], s["allowed"], s["agent"], s["scope"]) for s in sigs} == key(from_headers(hdr))
        if sigs:
            rows_with += 1
        for s in sigs:
            evidence[(s["source"], s["use"], s["allowed"], s["evidence"])] += 1
    # X-Robots-Tag values seen in this crawl of llms.txt files: noindex / noindex, nofollow / noindex, follow
    assert rows_with == 8
    assert evidence == {
        ("x-robots-tag", "search", False, "X-Robots-Tag: noindex, nofollow"): 5,
        ("x-robots-tag", "search", False, "X-Robots-Tag: noindex"): 2,
        ("x-robots-tag", "search", False, "X-Robots-Tag: noindex, follow"): 1,
    }


# ---------------------------------------------------------------- throughput


def _synthetic(n: int, rate: float, seed: int = 1):
    rng = random.Random(seed)
    words = "the of and to in is for on with as by at from that this are was be it an or we our you data page news".split()
    signals = ['<meta name="robots" content="noai, noimageai">', '<meta name="tdm-reservation" content="1">',
               '<meta name="GPTBot" content="noindex">', '<meta name="robots" content="noindex, nofollow">']
    flagged = set(rng.sample(range(n), int(n * rate)))
    html, hdrs = [], []
    for i in range(n):
        head = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Page %d</title>'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                '<meta name="description" content="%s"><meta name="robots" content="index, follow, max-image-preview:large">'
                '<link rel="stylesheet" href="/s.css"><style>.hidden{display:none}</style><script>var x=1;</script>%s</head><body>'
                % (i, " ".join(rng.choices(words, k=20)), rng.choice(signals) if i in flagged else ""))
        parts = [head]
        size = len(head)
        while size < 3500:
            p = "<p>" + " ".join(rng.choices(words, k=25)) + "</p>"
            parts.append(p)
            size += len(p)
        html.append("".join(parts) + "</body></html>")
        hdrs.append('{"content-type": "text/html; charset=utf-8", "server": "nginx", "cache-control": "max-age=0"}')
    return pa.RecordBatch.from_pydict({"html": pa.array(html, pa.string()), "http_headers": hdrs}), flagged


def test_scan_batch_prefilter_finds_exactly_the_signalling_rows():
    """20,000 realistic pages, 2% with a signal: exactly those rows come back with signals, aligned
    (throughput is measured in bench/bench_scan.py, not asserted here)."""
    n = 20_000
    batch, flagged = _synthetic(n, 0.02)
    out = scan_batch(batch)
    assert len(out) == n
    assert {i for i, row in enumerate(out.to_pylist()) if row} == flagged
