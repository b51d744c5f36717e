"""Readers on real files of every format: the real samples in ../shared/data and files made here."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import shared_path
from provenance.readers import ReadOptions, read_shard
from provenance.readers.base import parse_dates
from provenance.sources import discover
from provenance.errors import ConfigError
from provenance.schema import CORE


def read_all(path, options=None, **kw):
    shards = discover([str(path)], **kw)
    assert len(shards) == 1
    batches, quarantine, rows = [], [], 0
    for ch in read_shard(shards[0], options or ReadOptions()):
        rows += ch.rows_read
        quarantine += ch.quarantine
        if ch.batch is not None:
            batches.append(ch.batch)
    table = pa.Table.from_batches(batches) if batches else None
    return table, quarantine, rows


def test_c4_jsonl_gz_real(shared):
    path = shared_path("web_text/c4/c4-sample.00000-of-00001.json.gz")
    table, q, rows = read_all(path)
    assert rows == 1000 and table.num_rows == 1000 and q == []
    assert table.schema.names[: len(CORE)] == CORE.names
    first = json.loads(gzip.open(path).readline())
    row = table.slice(0, 1).to_pylist()[0]
    assert row["url"] == first["url"] and row["text"] == first["text"]
    assert row["position"] == 1
    # the wimbd copy names the date `date`, not `timestamp`: the default map finds it
    assert str(row["crawl_date"]).startswith(first["date"][:10])
    assert table.column("crawl_date").null_count == 0


def test_c4_parquet_matches_jsonl(shared):
    """The derived Parquet holds the same 1,000 records (with `timestamp`): same URLs, texts and dates."""
    tj, _, _ = read_all(shared_path("web_text/c4/c4-sample.00000-of-00001.json.gz"))
    tp, q, rows = read_all(shared_path("web_text/parquet_derived/c4-sample.00000-of-00001.parquet"))
    assert rows == 1000 and q == []
    assert tp.column("url").to_pylist() == tj.column("url").to_pylist()
    assert tp.column("text").to_pylist() == tj.column("text").to_pylist()
    assert tp.column("crawl_date").to_pylist() == tj.column("crawl_date").to_pylist()
    assert tp.column("position").to_pylist() == list(range(1000))


def test_ccnet_dolma_metadata_fields(shared):
    table, q, rows = read_all(shared_path("web_text/ccnet_dolma/dolma_documents_000.json.gz"))
    assert rows == 10 and table.num_rows == 10
    raw = [json.loads(l) for l in gzip.open(shared_path("web_text/ccnet_dolma/dolma_documents_000.json.gz"))]
    # the URL is metadata.url (which the origin edited to differ from `id`), the id is `id`
    assert table.column("url").to_pylist() == [r["metadata"]["url"] for r in raw]
    assert table.column("doc_id").to_pylist() == [r["id"] for r in raw]
    assert set(table.column("crawl").to_pylist()) == {"CC-MAIN-2023-06"}
    assert set(table.column("language").to_pylist()) == {"en"}


def test_fineweb_schema_parquet(shared):
    table, q, rows = read_all(shared_path("web_text/parquet_derived/ccnet_docs_fineweb_schema.parquet"))
    src = pq.read_table(shared_path("web_text/parquet_derived/ccnet_docs_fineweb_schema.parquet"))
    assert rows == 30 and table.num_rows == 30
    assert table.column("doc_id").to_pylist() == src.column("id").to_pylist()
    assert table.column("url").to_pylist() == src.column("url").to_pylist()
    assert all(c.startswith("CC-MAIN-") for c in table.column("crawl").to_pylist())


def test_llms_txt_parquet_with_warc_column_names(shared):
    """Real CC rows named like WARC headers (content, WARC-Target-URI, WARC-Date); empty bodies are
    quarantined as no_text, and every row is accounted for."""
    path = shared_path("web_text/parquet_real/cc-llms-txt_CC-MAIN-2026-30_fixture.parquet")
    table, q, rows = read_all(path)
    src = pq.read_table(path)
    empty = sum(1 for c in src.column("content").to_pylist() if not c)
    assert rows == 147 == table.num_rows + len(q)
    assert len(q) == empty and {r["reason"] for r in q} == {"no_text"}
    assert table.column("http_headers").null_count == 0


def test_warc_responses_real(shared):
    table, q, rows = read_all(shared_path("web_text/warc/cc-main-2020-34_resiliparse_sample.warc.gz"))
    assert rows == 16 and table.num_rows + len(q) == 16
    assert set(table.column("crawl").to_pylist()) == {"CC-MAIN-2020-34"}
    headers = json.loads(table.column("http_headers")[0].as_py())
    assert "content-type" in headers
    assert table.column("html").null_count == 0 and all("<html" in h.lower() for h in table.column("html").to_pylist())
    assert table.column("text").null_count == 0 and min(len(t) for t in table.column("text").to_pylist()) > 0


def test_warc_decodes_gzip_and_chunked_bodies(shared):
    """wget and webrecorder WARCs keep bodies as sent: chunked and gzip content-encoding are decoded."""
    t1, q1, _ = read_all(shared_path("web_text/warc/warcio_example.warc.gz"))
    assert t1.num_rows == 1 and t1.column("text")[0].as_py().startswith("Example Domain")
    t2, q2, rows = read_all(shared_path("web_text/warc/dolma_wget_sample-0001.warc.gz"))
    assert rows == 15 and q2 == []
    cc = [r for r in t2.to_pylist() if r["url"] == "https://creativecommons.org/"][0]
    assert "Creative Commons" in cc["text"] and not cc["html"].startswith("7d72")


def test_wet_and_wat(shared):
    t, q, rows = read_all(shared_path("web_text/warc/cc-main-2024-22_whirlwind.warc.wet.gz"))
    assert rows == 1 and t.column("url")[0].as_py() == "https://an.wikipedia.org/wiki/Escopete"
    assert t.column("text")[0].as_py().startswith("Escopete")
    assert t.column("crawl")[0].as_py() == "CC-MAIN-2024-22"
    # This WAT excerpt describes only the request: it holds no response, so no documents, nothing lost.
    t, q, rows = read_all(shared_path("web_text/warc/cc-main-2024-22_whirlwind.warc.wat.gz"))
    assert t is None and q == [] and rows == 0


def test_nested_fields_survive_the_line_by_line_path(tmp_path, shared):
    """A Dolma shard with one broken line: only that line is quarantined, and the URL, date and crawl of
    the others still come from `metadata`, exactly as in the intact shard."""
    src = shared_path("web_text/ccnet_dolma/dolma_documents_000.json.gz")
    good_table, _, _ = read_all(src)
    lines = gzip.open(src).read().splitlines()
    broken = lines[:5] + [b'{"id": "x", "text": "cut'] + lines[5:]
    p = tmp_path / "dolma_broken.jsonl"
    p.write_bytes(b"\n".join(broken) + b"\n")
    t, q, rows = read_all(p)
    assert rows == 11 and [(r["position"], r["reason"]) for r in q] == [(6, "bad_json")]
    for col in ("url", "doc_id", "crawl_date", "crawl", "language", "text"):
        assert t.column(col).to_pylist() == good_table.column(col).to_pylist(), col


def test_plain_and_zstd_jsonl_read_same_rows(tmp_path, shared):
    import zstandard

    raw = gzip.open(shared_path("web_text/c4/c4-sample.00000-of-00001.json.gz")).read()
    (tmp_path / "c4.jsonl").write_bytes(raw)
    (tmp_path / "c4.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(raw))
    a, _, _ = read_all(tmp_path / "c4.jsonl")
    b, _, _ = read_all(tmp_path / "c4.jsonl.zst")
    assert a.num_rows == b.num_rows == 1000
    assert a.column("text").to_pylist() == b.column("text").to_pylist()


def test_streams_in_bounded_batches(tmp_path):
    """A shard is never loaded whole: with a 64 KiB batch target, 2,000 docs of ~1 KiB arrive in many
    batches of bounded size, and the line numbers stay exact across batch boundaries."""
    lines = [json.dumps({"url": f"https://e{i % 7}.com/{i}", "text": "word " * 200}) for i in range(2000)]
    p = tmp_path / "x.jsonl.gz"
    p.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    shard = discover([str(p)])[0]
    sizes, positions = [], []
    for ch in read_shard(shard, ReadOptions(batch_bytes=64 * 1024)):
        sizes.append(ch.batch.num_rows)
        positions += ch.batch.column("position").to_pylist()
    assert len(sizes) > 20 and max(sizes) <= 70
    assert positions == list(range(1, 2001))


def test_parse_dates_shapes():
    arr = pa.array(["2019-04-21T18:54:04Z", "2023-04-07T15:24:38.743534+00:00", "Thu, 25 Apr 2024 16:27:48 GMT", "garbage", None])
    out = parse_dates(arr).to_pylist()
    assert [d.isoformat() if d else None for d in out] == [
        "2019-04-21T18:54:04+00:00", "2023-04-07T15:24:38.743534+00:00", "2024-04-25T16:27:48+00:00", None, None]
    assert parse_dates(pa.array([1555872844])).to_pylist()[0].isoformat() == "2019-04-21T18:54:04+00:00"


def test_column_map_override(tmp_path):
    p = tmp_path / "custom.jsonl"
    p.write_text(json.dumps({"body": "hello there", "meta": {"link": "https://x.org/a"}, "url": "https://wrong.com/"}) + "\n")
    t, q, _ = read_all(p, ReadOptions(column_map={"text": ["body"], "url": ["meta.link"]}))
    assert t.column("url")[0].as_py() == "https://x.org/a" and t.column("text")[0].as_py() == "hello there"


def test_discover_globs_dirs_and_fsspec_urls(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("a/1.jsonl.gz", "a/2.parquet", "a/notes.txt", "a/MANIFEST.json", "a/_SUCCESS", "a/.x.jsonl",
                 "a/robots.jsonl.gz", "3.json.gz"):
        (tmp_path / name).write_bytes(b"")
    found = discover([str(tmp_path / "a"), str(tmp_path / "*.json.gz"), f"file://{tmp_path}/a/2.parquet"])
    names = sorted(s.name for s in found)
    # de-duplicated; in directories, unknown files, hidden/marker files, plain .json manifests and robots.txt
    # captures (what `provenance sample` writes beside its shards) are ignored
    assert names == ["1.jsonl.gz", "2.parquet", "3.json.gz"]
    assert [s.name for s in discover([str(tmp_path / "a" / "MANIFEST.json")])] == ["MANIFEST.json"]  # named: taken
    assert [s.name for s in discover([str(tmp_path / "a" / "robots.jsonl.gz")])] == ["robots.jsonl.gz"]
    formats = {s.name: s.format for s in found}
    assert formats == {"1.jsonl.gz": "jsonl", "2.parquet": "parquet", "3.json.gz": "jsonl"}
    # a named path that does not exist is a usage error (tests/test_input_validation.py has the rest)
    with pytest.raises(ConfigError, match=r"nope\.jsonl: no such file or folder$"):
        discover([str(tmp_path / "nope.jsonl")])


def test_fsspec_memory_filesystem():
    """Any fsspec URL is a source: here the in-memory filesystem, through the same reader."""
    import fsspec

    fs = fsspec.filesystem("memory")
    body = "".join(json.dumps({"url": f"https://m.net/{i}", "text": f"doc {i}"}) + "\n" for i in range(5))
    with fs.open("/corpus/part-0.jsonl.gz", "wb") as f:
        f.write(gzip.compress(body.encode()))
    shards = discover(["memory://corpus/*.jsonl.gz"])
    assert [s.uri for s in shards] == ["memory:///corpus/part-0.jsonl.gz"]
    rows = [r for ch in read_shard(shards[0]) for r in ch.batch.to_pylist()]
    assert [r["url"] for r in rows] == [f"https://m.net/{i}" for i in range(5)]
