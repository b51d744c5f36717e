"""Bad input: the run goes on, every bad record or shard is quarantined with shard, position and reason,
and rows read = documents + quarantined for every shard."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import run_cli
from provenance.ledger import Ledger


def good(i: int) -> bytes:
    return json.dumps({"url": f"https://site{i % 3}.example.com/p/{i}", "text": f"document number {i} has words",
                       "timestamp": "2020-01-02T03:04:05Z"}).encode()


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    # 1. truncated gzip: 2,000 lines, cut in the middle of the compressed stream
    full = gzip.compress(b"\n".join(good(i) for i in range(2000)) + b"\n")
    (d / "truncated.jsonl.gz").write_bytes(full[: len(full) // 2])
    # 2. corrupt gzip: a flipped byte in the middle
    corrupt = bytearray(full)
    corrupt[len(full) // 2] ^= 0xFF
    (d / "corrupt.jsonl.gz").write_bytes(bytes(corrupt))
    # 3. bad JSON, no URL, no text, invalid UTF-8, a JSON array, blank line: one each among good lines
    lines = [good(0), b'{"url": "https://a.com/x", "text": "unterminated', good(2),
             json.dumps({"text": "no url here"}).encode(), json.dumps({"url": "https://b.com/"}).encode(),
             b'{"url": "https://c.com/", "text": "bad \xff\xfe bytes"}', b"[1, 2, 3]", b"", good(8)]
    (d / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    # 4. a 100 MB document between two good ones
    with open(d / "huge.jsonl", "wb") as f:
        f.write(good(0) + b"\n")
        f.write(b'{"url": "https://huge.com/", "text": "' + b"x" * (100 * 1024 * 1024) + b'"}\n')
        f.write(good(2) + b"\n")
    # 5. a Parquet file whose footer is cut off
    pq.write_table(pa.table({"url": ["https://p.com/1"], "text": ["t"]}), d / "broken.parquet")
    data = (d / "broken.parquet").read_bytes()
    (d / "broken.parquet").write_bytes(data[:-12])
    # 6. a Parquet file with invalid UTF-8 in a binary text column
    pq.write_table(pa.table({"url": ["https://q.com/1", "https://q.com/2"], "text": pa.array([b"fine", b"bad \xc3\x28"], pa.binary())}),
                   d / "badutf8.parquet")
    # 7. a file that is listed but cannot be opened when it is read (a link to a file that is gone): a named
    # path that does not exist stops the scan before it starts (tests/test_input_validation.py), but one found
    # in a folder is a shard, quarantined as missing
    (d / "missing.jsonl.gz").symlink_to(d / "gone.jsonl.gz")
    return d


@pytest.fixture(scope="module")
def scanned(bad_corpus, prefect_api, tmp_path_factory):
    from provenance.pipelines.scan import scan_corpus

    ledger = tmp_path_factory.mktemp("ledger") / "bad.duckdb"
    summary = scan_corpus(inputs=[str(bad_corpus)], ledger=str(ledger), quiet=True)
    return summary, ledger


def q(ledger, sql):
    with Ledger(ledger, read_only=True) as led:
        return led.query(sql).to_pylist()


def by_shard(ledger, name):
    return q(ledger, f"SELECT * FROM shards WHERE uri LIKE '%/{name}'")[0]


def quarantined(ledger, name):
    return q(ledger, f"SELECT position, kind, reason, detail FROM quarantine WHERE uri LIKE '%/{name}' ORDER BY position NULLS LAST")


def test_run_completes_and_every_shard_reconciles(scanned):
    summary, ledger = scanned
    assert summary["shards"] == 7
    rows = q(ledger, "SELECT * FROM shard_reconciliation")
    assert len(rows) == 7
    for r in rows:
        assert r["reconciles"], r
        assert r["documents_present"] == r["documents"] and r["quarantined_present"] == r["quarantined"], r
    totals = q(ledger, "SELECT sum(rows_read) r, sum(documents) d, sum(quarantined) q FROM shards")[0]
    assert totals["r"] == totals["d"] + totals["q"] == summary["rows_read"]


def test_truncated_gzip_keeps_every_whole_line_before_the_cut(scanned):
    _, ledger = scanned
    s = by_shard(ledger, "truncated.jsonl.gz")
    assert s["status"] == "partial" and s["error"] == "the file ends inside the gzip member that starts at byte 0"
    # every document that was kept is one of the originals, in order, with no gap
    pos = [r["position"] for r in q(ledger, f"SELECT position FROM documents WHERE shard_id = '{s['shard_id']}' ORDER BY 1")]
    assert pos == list(range(1, len(pos) + 1)) and 500 < len(pos) < 2000
    # the line the cut went through is a row (bad JSON), and a range row says where the file ends
    qq = quarantined(ledger, "truncated.jsonl.gz")
    assert sorted((r["position"], r["kind"], r["reason"]) for r in qq) == [
        (len(pos) + 1, "range", "truncated"), (len(pos) + 1, "record", "bad_json")]
    assert s["rows_read"] == len(pos) + 1


def test_corrupt_gzip(scanned):
    """A flipped byte inside deflate data: every line decoded before the damage is kept, the garbage after it
    is quarantined line by line, and a range row says which member was damaged and that nothing intact
    follows it (this file is one member)."""
    _, ledger = scanned
    s = by_shard(ledger, "corrupt.jsonl.gz")
    assert s["status"] == "partial" and s["documents"] > 0
    qq = quarantined(ledger, "corrupt.jsonl.gz")
    ranges = [r for r in qq if r["kind"] == "range"]
    assert [r["reason"] for r in ranges] == ["corrupt"] and "gzip member at byte 0" in ranges[0]["detail"]
    records = [r for r in qq if r["kind"] == "record"]
    assert {r["reason"] for r in records} <= {"bad_json", "bad_utf8", "no_url", "no_text", "wrong_type"}
    first_bad = min([r["position"] for r in records] + [ranges[0]["position"]])
    docs = q(ledger, f"SELECT position, url FROM documents WHERE shard_id = '{s['shard_id']}' AND position < {first_bad} ORDER BY 1")
    assert [d["position"] for d in docs] == list(range(1, first_bad))
    assert all(d["url"] == json.loads(good(d["position"] - 1))["url"] for d in docs)


def test_each_bad_record_quarantined_with_its_line(scanned):
    _, ledger = scanned
    s = by_shard(ledger, "mixed.jsonl")
    # 9 lines: 3 good (1, 3, 9), 5 bad (2, 4, 5, 6, 7), 1 blank (8, not a row)
    assert (s["rows_read"], s["documents"], s["quarantined"]) == (8, 3, 5)
    got = [(r["position"], r["kind"], r["reason"]) for r in quarantined(ledger, "mixed.jsonl")]
    assert got == [(2, "record", "bad_json"), (4, "record", "no_url"), (5, "record", "no_text"),
                   (6, "record", "bad_utf8"), (7, "record", "bad_json")]
    docs = q(ledger, f"SELECT position, url FROM documents WHERE shard_id = '{s['shard_id']}' ORDER BY 1")
    assert [d["position"] for d in docs] == [1, 3, 9]
    assert [d["url"] for d in docs] == ["https://site0.example.com/p/0", "https://site2.example.com/p/2", "https://site2.example.com/p/8"]


def test_huge_document_is_quarantined_not_loaded(scanned):
    _, ledger = scanned
    s = by_shard(ledger, "huge.jsonl")
    assert (s["rows_read"], s["documents"], s["quarantined"]) == (3, 2, 1)
    (r,) = quarantined(ledger, "huge.jsonl")
    assert r["position"] == 2 and r["reason"] == "too_large"


def test_missing_file_and_broken_parquet(scanned):
    _, ledger = scanned
    m = by_shard(ledger, "missing.jsonl.gz")
    assert m["status"] == "failed" and m["rows_read"] == 0
    assert [r["reason"] for r in quarantined(ledger, "missing.jsonl.gz")] == ["missing"]
    b = by_shard(ledger, "broken.parquet")
    assert b["status"] == "failed"
    (r,) = quarantined(ledger, "broken.parquet")
    assert r["reason"] == "unreadable" and r["kind"] == "shard" and "Parquet" in r["detail"]


def test_invalid_utf8_in_parquet(scanned):
    _, ledger = scanned
    s = by_shard(ledger, "badutf8.parquet")
    assert (s["documents"], s["quarantined"]) == (1, 1)
    assert [(r["position"], r["reason"]) for r in quarantined(ledger, "badutf8.parquet")] == [(1, "bad_utf8")]


def test_every_reason_is_a_documented_code(scanned):
    from provenance import errors

    _, ledger = scanned
    got = q(ledger, "SELECT DISTINCT kind, reason FROM quarantine")
    assert {r["reason"] for r in got if r["kind"] == "record"} <= errors.RECORD_REASONS
    assert {r["reason"] for r in got if r["kind"] == "range"} <= errors.RANGE_REASONS
    assert {r["reason"] for r in got if r["kind"] == "shard"} <= errors.SHARD_REASONS
    assert {r["kind"] for r in got} == {"record", "range", "shard"}
    assert len(got) >= 8  # bad_json, no_url, no_text, bad_utf8, too_large, truncated, corrupt, missing, unreadable


def test_quarantine_never_stores_raw_record_text(scanned):
    _, ledger = scanned
    details = " ".join(r["detail"] or "" for r in q(ledger, "SELECT detail FROM quarantine"))
    assert "unterminated" not in details and "no url here" not in details and "xxxx" not in details


def test_cli_says_what_happened_one_line_each(bad_corpus, prefect_api, tmp_path):
    res = run_cli(["scan", str(bad_corpus), "--ledger", str(tmp_path / "l.duckdb"), "--top", "0"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 3, res.stderr  # finished and recorded, but shards failed or are partial
    err = res.stderr
    for needle in ("mixed.jsonl position 2: bad_json", "mixed.jsonl position 4: no_url", "mixed.jsonl position 5: no_text",
                   "mixed.jsonl position 6: bad_utf8", "huge.jsonl position 2: too_large",
                   "truncated.jsonl.gz (partial): truncated", "corrupt.jsonl.gz (partial): corrupt",
                   "damaged truncated.jsonl.gz position", "damaged corrupt.jsonl.gz position",
                   "broken.parquet (failed): unreadable", "missing.jsonl.gz (failed): missing"):
        assert sum(needle in line for line in err.splitlines()) == 1, (needle, err)
    assert "rows read =" in res.stdout


def test_missing_robots_source_is_one_clear_line(tmp_path, capsys):
    from provenance.cli import main

    Ledger(tmp_path / "l.duckdb").close()
    assert main(["robots", "import", str(tmp_path / "nothere.jsonl.gz"), "--ledger", str(tmp_path / "l.duckdb")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"provenance: error: {tmp_path / 'nothere.jsonl.gz'}: no such file or folder"


def test_a_cached_result_the_ledger_refuses_is_rebuilt_not_reused(tmp_path, prefect_api):
    """A per-shard result that cannot be ingested (here: its cached Parquet file was damaged) used to fail
    the ledger writer on every rerun. It is thrown away and the shard scanned again."""
    from provenance.pipelines.scan import scan_corpus

    src = tmp_path / "s.jsonl"
    src.write_bytes(b"\n".join(good(i) for i in range(50)) + b"\n")
    work = tmp_path / "work"
    first = scan_corpus(inputs=[str(src)], ledger=str(tmp_path / "a.duckdb"), work_dir=str(work), quiet=True)
    assert first["documents"] == 50
    (ann,) = list((work / "shards").glob("*.annotations.parquet"))
    ann.write_bytes(ann.read_bytes()[:100])  # the cache is damaged; its done marker still says "finished"
    with Ledger(tmp_path / "a.duckdb") as led:  # the ledger forgets the shard: the next scan takes the cache
        led.con.execute("DELETE FROM shards")
    again = scan_corpus(inputs=[str(src)], ledger=str(tmp_path / "a.duckdb"), work_dir=str(work), quiet=True)
    assert (again["documents"], again["shards_failed"]) == (50, 0)
    assert q(tmp_path / "a.duckdb", "SELECT count(*) n FROM documents")[0]["n"] == 50
    assert len(ann.read_bytes()) > 100  # rebuilt


def test_no_record_content_reaches_stderr_the_ledger_or_prefect_logs(tmp_path, prefect_api):
    """Hostile records whose bytes end up in library error messages (an int() of a chunk-size line, a JSON
    error, a URL with invalid UTF-8, a date parser): only shard, position, reason and our own words are
    printed, stored or logged."""
    from prefect.client.orchestration import get_client

    mark = "LEAKMARK-7f3a mary.major@example.org"
    d = tmp_path / "hostile"
    d.mkdir()
    bad_lines = [
        json.dumps({"url": "https://a.com/1", "text": "fine " + mark, "timestamp": mark}).encode(),
        b'{"url": "https://a.com/2", "text": "' + mark.encode() + b'", ',
        b'{"url": "https://a.com/3\xff' + mark.encode() + b'", "text": "x"}',
        json.dumps({"url": ["https://a.com/4", mark], "text": mark}).encode(),
    ]
    (d / "h.jsonl").write_bytes(b"\n".join(bad_lines) + b"\n")
    body = mark.encode() + b"\r\nnot a chunk\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    rec = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://w.com/\xfe" + mark.encode() +
           b"\r\nContent-Length: " + str(len(resp)).encode() + b"\r\n\r\n" + resp + b"\r\n\r\n")
    rec2 = rec.replace(b"/\xfe", b"/ok")
    (d / "h.warc").write_bytes(rec + rec2)
    ledger = tmp_path / "l.duckdb"
    res = run_cli(["scan", str(d), "--ledger", str(ledger), "--top", "0"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    assert "position 2: bad_json" in res.stderr and "position 3: bad_utf8" in res.stderr
    assert "position 4: wrong_type" in res.stderr
    for needle in ("LEAKMARK", "mary.major"):
        assert needle not in res.stderr and needle not in res.stdout
        rows = q(ledger, "SELECT detail FROM quarantine UNION ALL SELECT error FROM shards")
        assert not any(needle in (r["detail"] or "") for r in rows)
    with get_client(sync_client=True) as client:
        logs = client.read_logs()
    assert not any("LEAKMARK" in (log.message or "") for log in logs)
