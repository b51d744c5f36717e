"""Document languages in one code system (provenance.lang): BCP 47 with the two-letter code where one
exists, from every source (HTTP Content-Language, WARC-Identified-Content-Language, <html lang>, <meta
http-equiv>, corpus columns)."""

from __future__ import annotations

import gzip
import json
import uuid

import pyarrow as pa
import pytest

from conftest import shared_path
from provenance.lang import html_language, normalize_array, normalize_tag
from provenance.readers import ReadOptions, read_shard
from provenance.sources import discover


@pytest.mark.parametrize("value,tag", [
    ("spa,eng", "es"), ("eng", "en"), ("deu", "de"), ("ger", "de"), ("zho", "zh"), ("fil", "fil"),
    ("en", "en"), ("EN", "en"), ("en-us", "en-US"), ("EN_us", "en-US"), ("en-GB", "en-GB"),
    ("zh-hant-tw", "zh-Hant-TW"), ("sr-latn", "sr-Latn"), ("iw", "he"), ("de, en", "de"), ("en;q=0.8", "en"),
    (" fr ", "fr"), ("pt-br", "pt-BR"),
])
def test_tags_are_normalised(value, tag):
    assert normalize_tag(value) == tag


@pytest.mark.parametrize("value", ["english", "xx", "123", "*", "", "   ", "und", "zxx", "en-", "<script>",
                                   "en us", "en\n## Consent", "de\r\nX-Injected: 1",
                                   "a" * 100, None])
def test_values_that_are_not_language_tags_are_null(value):
    assert normalize_tag(value) is None


def test_array_maps_each_distinct_value_once_and_keeps_nulls():
    arr = pa.array(["spa,eng", None, "eng", "spa,eng", "junk-value-xyzzy", "en-us"] * 1000)
    out = normalize_array(arr)
    assert out.to_pylist()[:6] == ["es", None, "en", "es", None, "en-US"] and len(out) == len(arr)
    canonical = pa.array(["en", "de", None])
    assert normalize_array(canonical) is canonical  # nothing to do: the same array back
    assert normalize_array(pa.chunked_array([["eng"], ["spa"]])).to_pylist() == ["en", "es"]


def test_html_language():
    assert html_language('<!doctype html><HTML class="x" LANG="pt-br"><head>') == "pt-br"
    assert html_language("<html xml:lang='fr'><body>") == "fr"
    assert html_language('<html><head><meta content="de" http-equiv="Content-Language"></head>') == "de"
    assert html_language('<html lang="es"><head><meta http-equiv="content-language" content="de">') == "es"
    assert html_language("<html><body><p lang=en>x</p></body></html>") is None
    assert html_language('<html lang=""><meta http-equiv=content-language content=it>') == "it"
    assert html_language("") is None and html_language(None) is None


def _record(uri: str, block: bytes, rtype: str = "response", extra: bytes = b"") -> bytes:
    ctype = b"application/http; msgtype=response" if rtype == "response" else b"text/plain"
    head = (b"WARC/1.0\r\nWARC-Type: " + rtype.encode() + b"\r\nWARC-Target-URI: " + uri.encode() +
            b"\r\nWARC-Date: 2024-05-01T10:00:00Z\r\nWARC-Record-ID: <urn:uuid:" + str(uuid.uuid4()).encode() +
            b">\r\nContent-Type: " + ctype + b"\r\n" + extra + b"Content-Length: " + str(len(block)).encode() +
            b"\r\n\r\n")
    return head + block + b"\r\n\r\n"


def _http(body: str, headers: str = "") -> bytes:
    return ("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n" + headers + "\r\n" + body).encode()


def _languages(path) -> list:
    shards = discover([str(path)])
    out = []
    for ch in read_shard(shards[0], ReadOptions()):
        if ch.batch is not None:
            out += ch.batch.column("language").to_pylist()
    return out


def test_warc_header_then_html_declaration(tmp_path):
    recs = [
        _record("https://a.example/1", _http("<html lang='fr'><p>un</p></html>", "Content-Language: en-us\r\n")),
        _record("https://a.example/2", _http("<html lang='FR-ca'><p>deux</p></html>")),
        _record("https://a.example/3", _http('<html><head><meta http-equiv="content-language" content="deu">'
                                            "</head><p>drei</p></html>")),
        _record("https://a.example/4", _http("<html><p>none</p></html>")),
        _record("https://a.example/5", _http("<html lang='klingonish'><p>junk</p></html>")),
    ]
    path = tmp_path / "x.warc.gz"
    path.write_bytes(gzip.compress(b"".join(recs)))
    assert _languages(path) == ["en-US", "fr-CA", "de", None, None]


def test_wet_identified_language_is_two_letter(tmp_path):
    recs = [_record("https://b.example/", "texto".encode(), rtype="conversion",
                    extra=b"WARC-Identified-Content-Language: spa,eng\r\n")]
    path = tmp_path / "x.warc.wet.gz"
    path.write_bytes(gzip.compress(b"".join(recs)))
    assert _languages(path) == ["es"]


def test_corpus_column(tmp_path):
    path = tmp_path / "c.jsonl"
    rows = [{"text": "t", "url": f"https://c.example/{i}", "language": v}
            for i, v in enumerate(["en", "eng", "EN-gb", "unknown", None])]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert _languages(path) == ["en", "en", "en-GB", None, None]


def test_real_wet_and_warc(shared):
    # Common Crawl's WET header says ISO 639-3 ("spa"), stored as "es"
    assert _languages(shared_path("web_text/warc/cc-main-2024-22_whirlwind.warc.wet.gz")) == ["es"]
    langs = _languages(shared_path("web_text/warc/dolma_wget_sample-0001.warc.gz"))
    assert all(v is None or normalize_tag(v) == v for v in langs) and "en" in langs


def test_fast_path_codes_are_their_own_normal_form():
    from provenance.lang import _canonical_two_letter

    codes = sorted(_canonical_two_letter())
    assert len(codes) > 150
    assert [c for c in codes if normalize_tag(c) != c] == []
    assert normalize_tag("tl") == "fil" and normalize_array(pa.array(["tl", "en"])).to_pylist() == ["fil", "en"]


def test_real_warc_pages_without_the_header_take_html_lang(shared):
    # these CC-MAIN-2020-34 responses send no Content-Language: the tags come from <html lang="zh-CN"> / "nl"
    path = shared_path("web_text/warc/cc-main-2020-34_resiliparse_sample.warc.gz")
    shards = discover([str(path)])
    rows = []
    for ch in read_shard(shards[0], ReadOptions()):
        if ch.batch is not None:
            rows += ch.batch.select(["language", "http_headers"]).to_pylist()
    from_html = [r["language"] for r in rows if r["language"] and "content-language" not in json.loads(r["http_headers"])]
    assert "zh-CN" in from_html and "nl" in from_html
