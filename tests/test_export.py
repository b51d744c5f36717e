"""Exporting the compliant subset: the rows of a verdict with their text, re-read from the source shards,
checked against the ledger, written byte-stably with a manifest; and the refusals a user relies on."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from provenance.export import ExportError, export, list_excluded, write_excluded
from provenance.ledger import Ledger

EXCLUDE_REASON = "robots:GPTBot:crawl-time:disallow"
REVIEW_REASON = "license:CC-BY-NC-4.0"


def rows(ledger, sql, params=None):
    with Ledger(ledger, read_only=True) as led:
        return led.query(sql, params).to_pylist()


def scan(inputs, ledger, column_map=None) -> int:
    """A real scan into a real ledger: the scan flow's steps (discover, scan_shard, one writer ingesting each
    shard, the run and its read options recorded in runs.config) without Prefect, whose test server costs
    more than all of these tests; the flow itself is tested in test_ledger_flow.py."""
    from provenance.pipeline import config_hash, scan_shard
    from provenance.readers import ReadOptions
    from provenance.ruleset import apply_to_ledger, rules_hash
    from provenance.scanners import default_scanners
    from provenance.sources import discover

    options = ReadOptions(column_map=column_map or {})
    shards = discover([str(i) for i in inputs])
    scanners = default_scanners()
    chash = config_hash(scanners, options)
    work = Path(str(ledger) + ".parts")
    config = {"inputs": [str(i) for i in inputs], "format": None, "column_map": options.column_map,
              "max_doc_bytes": options.max_doc_bytes, "scanners": [s.name for s in scanners], "work_dir": str(work),
              "rules": []}
    docs = 0
    with Ledger(ledger) as led:
        apply_to_ledger(led, None)
        run_id = led.begin_run(config, rules_hash(None), chash, len(shards))
        for shard in shards:
            r = scan_shard(shard, work, options=options, scanners=scanners, chash=chash)
            led.ingest_shard(r, run_id)
            docs += r.documents
        led.finish_run(run_id, status="done", shards_scanned=len(shards), shards_skipped=0, rows_read=docs,
                       documents=docs, quarantined=0, seconds=0.0, timings={})
    return docs


def fill_verdicts(ledger, evaluation_id="eval-0001"):
    """What `provenance verdicts` will do, by hand: a deterministic tenth excluded, a tenth held for review."""
    with Ledger(ledger) as led:
        led.con.execute("DELETE FROM document_verdicts")
        led.con.execute(f"""
            INSERT INTO document_verdicts
            SELECT shard_id, position,
                   CASE hash(url) % 10 WHEN 0 THEN 'exclude' WHEN 1 THEN 'exclude' WHEN 2 THEN 'review' ELSE 'include' END,
                   CASE hash(url) % 10 WHEN 0 THEN ['{EXCLUDE_REASON}']
                                       WHEN 1 THEN ['{REVIEW_REASON}', '{EXCLUDE_REASON}']
                                       WHEN 2 THEN ['{REVIEW_REASON}'] ELSE []::VARCHAR[] END,
                   registered_domain, words
            FROM documents""")
        (n, inc, exc, rev), = led.con.execute(
            "SELECT count(*), count(*) FILTER (verdict = 'include'), count(*) FILTER (verdict = 'exclude'), "
            "count(*) FILTER (verdict = 'review') FROM document_verdicts").fetchall()
        led.con.execute("INSERT INTO verdict_runs VALUES (?, now(), 'default', 'train-genai', '{}', 'rules-hash-x', ?, ?, ?, ?, 0.1)",
                        [evaluation_id, n, inc, exc, rev])


def include_all(ledger):
    with Ledger(ledger) as led:
        led.con.execute("DELETE FROM document_verdicts")
        led.con.execute("INSERT INTO document_verdicts SELECT shard_id, position, 'include', []::VARCHAR[], "
                        "registered_domain, words FROM documents")
        n = led.con.execute("SELECT count(*) FROM document_verdicts").fetchall()[0][0]
        k = led.con.execute("SELECT count(*) FROM verdict_runs").fetchall()[0][0]
        led.con.execute("INSERT INTO verdict_runs VALUES (?, now(), 'p', 'train-genai', '{}', 'h', ?, ?, 0, 0, 0)",
                        [f"e{k + 1}", n, n])


def source_texts(files) -> dict:
    """(absolute uri, position) -> text, read straight from the source files (JSONL: 1-based line, Parquet: row)."""
    out = {}
    for f in files:
        uri = os.path.abspath(f)
        if str(f).endswith(".parquet"):
            for i, t in enumerate(pq.read_table(f, columns=["text"]).column("text").to_pylist()):
                out[(uri, i)] = t
        else:
            opener = gzip.open if str(f).endswith(".gz") else open
            with opener(f, "rb") as fh:
                for i, line in enumerate(fh, start=1):
                    out[(uri, i)] = json.loads(line)["text"]
    return out


def read_export(out: Path):
    manifest = json.loads((out / "manifest.json").read_text())
    tables = [pq.read_table(out / f["name"]) for f in manifest["files"]]
    return manifest, tables


@pytest.fixture(scope="module")
def corpus(small_sample, tmp_path_factory):
    """A copy of the small sample (3 JSONL.gz + 3 Parquet shards, the same 3,000 documents in each)."""
    d = tmp_path_factory.mktemp("corpus")
    for f in sorted(small_sample.glob("c4-sample.*")):
        shutil.copy2(f, d / f.name)
    return d


@pytest.fixture(scope="module")
def ledger(corpus, tmp_path_factory):
    led = tmp_path_factory.mktemp("ledger") / "corpus.duckdb"
    assert scan([corpus / "*.json.gz", corpus / "*.parquet"], led) == 6000
    fill_verdicts(led)
    return led


@pytest.fixture(scope="module")
def exported(ledger, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "include"
    return out, export(ledger, out)


def test_export_reproduces_the_included_rows_with_their_source_text(ledger, corpus, exported):
    out, result = exported
    manifest, tables = read_export(out)
    want = rows(ledger, """SELECT s.uri, d.position, d.doc_id, d.url, d.registered_domain, l.license
                            FROM documents d JOIN document_verdicts v USING (shard_id, position)
                            JOIN shards s USING (shard_id) JOIN document_licenses l USING (shard_id, position)
                            WHERE v.verdict = 'include'""")
    assert 4000 < len(want) < 6000
    got = [r for t in tables for r in t.to_pylist()]
    assert len(got) == len(want) == result["exported"] == manifest["totals"]["exported"]
    assert {r["doc_id"] for r in got} == {w["doc_id"] for w in want}
    # provenance columns are the ledger's, row for row
    by_key = {(w["uri"], w["position"]): w for w in want}
    for r in got:
        w = by_key[(r["source_uri"], r["source_position"])]
        assert (r["doc_id"], r["url"], r["registered_domain"], r["license"]) == (w["doc_id"], w["url"], w["registered_domain"], w["license"])
        assert r["verdict"] == "include" and r["reasons"] == []
    # the text is what the source shard holds at that position, for both formats
    texts = source_texts(sorted(corpus.glob("c4-sample.*")))
    assert all(r["text"] == texts[(r["source_uri"], r["source_position"])] for r in got)
    assert {Path(r["source_uri"]).suffix for r in got} == {".gz", ".parquet"}
    # one file per source shard, rows in position order, counts per shard equal the ledger's
    per_shard = {x["uri"]: x["n"] for x in rows(ledger, "SELECT s.uri, count(*) n FROM document_verdicts v JOIN shards s USING (shard_id) WHERE verdict = 'include' GROUP BY 1")}
    assert {f["source_uri"]: f["rows"] for f in manifest["files"]} == per_shard
    for f, t in zip(manifest["files"], tables):
        pos = t.column("source_position").to_pylist()
        assert pos == sorted(pos) and f["rows"] == f["expected_rows"] == t.num_rows and f["missing_rows"] == 0
        assert f["sha256"] == hashlib.sha256((out / f["name"]).read_bytes()).hexdigest()
        assert pq.ParquetFile(out / f["name"]).metadata.row_group(0).column(0).compression == "ZSTD"
    counts = {r["verdict"]: r["n"] for r in rows(ledger, "SELECT verdict, count(*) n FROM document_verdicts GROUP BY 1")}
    tot = manifest["totals"]
    assert (tot["documents"], tot["include"], tot["exclude"], tot["review"]) == (6000, counts["include"], counts["exclude"], counts["review"])
    assert tot["complete"] and tot["missing"] == 0 and manifest["skipped_shards"] == []
    assert manifest["evaluation"]["evaluation_id"] == "eval-0001" and manifest["evaluation"]["policy"] == "default"
    assert manifest["verdicts"] == ["include"]
    run_ids = {r["run_id"] for r in rows(ledger, "SELECT DISTINCT run_id FROM shards")}
    assert {r["run_id"] for r in manifest["scan_runs"]} == run_ids
    assert sorted(os.listdir(out)) == sorted([f["name"] for f in manifest["files"]] + ["manifest.json"])


def test_reexport_is_byte_identical(ledger, exported, tmp_path):
    out, _ = exported
    again = tmp_path / "again"
    export(ledger, again)
    assert sorted(os.listdir(again)) == sorted(os.listdir(out))
    for name in os.listdir(out):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_excluded_and_review_export_carry_their_reasons(ledger, tmp_path):
    out = tmp_path / "held"
    result = export(ledger, out, verdict=["review", "exclude"])
    manifest, tables = read_export(out)
    got = [r for t in tables for r in t.to_pylist()]
    n = rows(ledger, "SELECT count(*) n FROM document_verdicts WHERE verdict <> 'include'")[0]["n"]
    assert len(got) == n == result["exported"] and manifest["verdicts"] == ["exclude", "review"]
    assert {r["verdict"] for r in got} == {"exclude", "review"}
    assert all(r["reasons"] for r in got)
    assert {tuple(r["reasons"]) for r in got if r["verdict"] == "exclude"} == {(EXCLUDE_REASON,), (REVIEW_REASON, EXCLUDE_REASON)}


def test_list_and_write_excluded(ledger, tmp_path):
    t = list_excluded(ledger)
    assert t.column_names[:4] == ["url", "registered_domain", "verdict", "reasons"]
    want = rows(ledger, "SELECT url, reasons FROM excluded_documents WHERE verdict = 'exclude'")
    assert sorted((r["url"], tuple(r["reasons"])) for r in t.to_pylist()) == sorted((w["url"], tuple(w["reasons"])) for w in want)
    both = list_excluded(ledger, verdict=None)
    assert set(both.column("verdict").to_pylist()) == {"exclude", "review"}
    info = write_excluded(ledger, tmp_path / "excluded.csv")
    csv = pcsv.read_csv(tmp_path / "excluded.csv").to_pylist()
    assert info["rows"] == len(csv) == t.num_rows
    assert {r["reasons"] for r in csv} == {EXCLUDE_REASON, f"{REVIEW_REASON};{EXCLUDE_REASON}"}
    write_excluded(ledger, tmp_path / "excluded.parquet")
    assert pq.read_table(tmp_path / "excluded.parquet").equals(t)


def test_out_dir_must_be_empty_and_overwrite_replaces_only_its_own_files(ledger, tmp_path):
    out = tmp_path / "o"
    first = export(ledger, out, verdict="review")
    with pytest.raises(ExportError, match="not empty"):
        export(ledger, out, verdict="review")
    (out / "notes.txt").write_text("mine")
    stale = json.loads((out / "manifest.json").read_text())
    again = export(ledger, out, verdict="review", overwrite=True)
    assert again["exported"] == first["exported"]
    assert (out / "notes.txt").read_text() == "mine"  # not listed in the old manifest: left alone
    assert json.loads((out / "manifest.json").read_text()) == stale
    # a folder that is not an export is never overwritten
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.parquet").write_bytes(b"x")
    with pytest.raises(ExportError, match="no readable manifest.json"):
        export(ledger, other, overwrite=True)
    assert os.listdir(other) == ["data.parquet"]


def test_no_verdicts_is_a_clear_error(corpus, tmp_path):
    led = tmp_path / "nov.duckdb"
    scan([corpus / "c4-sample.00000-of-00003.parquet"], led)
    with pytest.raises(ExportError, match=r"no verdicts yet: run `provenance verdicts"):
        export(led, tmp_path / "out")
    with pytest.raises(ExportError, match="no verdicts yet"):
        list_excluded(led)
    assert not (tmp_path / "out").exists()


def _write_jsonl(path: Path, n: int, tag: str) -> None:
    path.write_text("".join(json.dumps({"url": f"https://{tag}{i}.example.com/p", "text": f"document {i} of {tag} " * 5})
                            + "\n" for i in range(n)))


def _same_size_edit(path: Path, old: bytes, new: bytes) -> None:
    """Change bytes in place, keeping the size and the modification time (so the fingerprint stays)."""
    st = path.stat()
    data = path.read_bytes()
    assert len(old) == len(new) and old in data
    path.write_bytes(data.replace(old, new, 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_changed_and_missing_sources_are_refused_or_skipped_and_listed(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    names = ["a", "b", "c", "d", "e"]
    for tag in names:
        _write_jsonl(src / f"{tag}.jsonl", 20, tag)
    led = tmp_path / "small.duckdb"
    scan([src / f"{t}.jsonl" for t in names], led)
    include_all(led)  # the sources decide what happens
    with (src / "b.jsonl").open("a") as f:  # b: grew since the scan
        f.write(json.dumps({"url": "https://new.example.com/", "text": "new"}) + "\n")
    (src / "c.jsonl").unlink()  # c: gone
    _same_size_edit(src / "d.jsonl", b"https://d3.", b"https://x3.")  # d: same size and mtime, other content
    _same_size_edit(src / "e.jsonl", b'{"url": "https://e5.', b'["url": "https://e5.')  # e: one line no longer JSON

    out = tmp_path / "out"
    with pytest.raises(ExportError) as err:
        export(led, out)
    msg = str(err.value)
    assert "changed: " + str(src / "b.jsonl") in msg and "missing: " + str(src / "c.jsonl") in msg and "--skip-changed" in msg
    assert not out.exists() or not os.listdir(out)

    result = export(led, out, skip_changed=True)
    manifest = json.loads((out / "manifest.json").read_text())
    skipped = {Path(p["source_uri"]).name: p["problem"] for p in manifest["skipped_shards"]}
    assert skipped == {"b.jsonl": "changed", "c.jsonl": "missing", "d.jsonl": "content_changed"}
    files = {Path(f["source_uri"]).name: f for f in manifest["files"]}
    assert set(files) == {"a.jsonl", "e.jsonl"}
    assert files["a.jsonl"]["rows"] == 20 and files["a.jsonl"]["missing_rows"] == 0
    # e: the re-read finds one row fewer than the ledger counts; reported, not hidden
    assert (files["e.jsonl"]["rows"], files["e.jsonl"]["missing_rows"], files["e.jsonl"]["missing_positions_sample"]) == (19, 1, [6])
    tot = manifest["totals"]
    assert (tot["exported"], tot["missing"], tot["skipped"], tot["complete"]) == (39, 1, 60, False)
    assert result["missing"] == 1 and len(result["skipped_shards"]) == 3
    texts = [r["text"] for r in pq.read_table(out / files["e.jsonl"]["name"]).to_pylist()]
    assert "document 5 of e " * 5 not in texts and len(set(texts)) == 19


def test_content_change_under_an_unchanged_fingerprint_fails_and_writes_nothing(tmp_path):
    src = tmp_path / "x.jsonl"
    _write_jsonl(src, 30, "x")
    led = tmp_path / "x.duckdb"
    scan([src], led)
    include_all(led)
    _same_size_edit(src, b"https://x7.", b"https://y7.")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError, match="differs from the ledger"):
        export(led, out)
    assert os.listdir(out) == []


def test_parquet_corpus_with_its_own_column_names_uses_the_scans_column_map(tmp_path):
    src = tmp_path / "own.parquet"
    n = 2500
    pq.write_table(pa.table({"link": [f"https://site{i % 7}.example.org/{i}" for i in range(n)],
                             "body": [f"body of document {i} " * (1 + i % 5) for i in range(n)],
                             "uid": [f"own-{i:05d}" for i in range(n)]}), src, row_group_size=600)
    led = tmp_path / "own.duckdb"
    assert scan([src], led, column_map={"text": ["body"], "url": ["link"], "doc_id": ["uid"]}) == n
    fill_verdicts(led)
    result = export(led, tmp_path / "out")
    manifest, (t,) = read_export(tmp_path / "out")
    inc = rows(led, "SELECT d.position, d.doc_id FROM documents d JOIN document_verdicts v USING (shard_id, position) "
                    "WHERE verdict = 'include' ORDER BY position")
    assert t.column("source_position").to_pylist() == [r["position"] for r in inc]
    assert t.column("doc_id").to_pylist() == [r["doc_id"] for r in inc] == [f"own-{r['position']:05d}" for r in inc]
    body = pq.read_table(src).column("body").to_pylist()
    assert t.column("text").to_pylist() == [body[r["position"]] for r in inc]
    assert result["exported"] == len(inc) and manifest["files"][0]["source_format"] == "parquet"


def test_a_shard_rescanned_after_the_verdicts_is_refused(tmp_path):
    src = tmp_path / "r.jsonl"
    _write_jsonl(src, 10, "r")
    led = tmp_path / "r.duckdb"
    scan([src], led)
    include_all(led)
    scan([src], led)  # the shard's rows are replaced after the evaluation: its verdicts may not fit them
    with pytest.raises(ExportError, match="rescanned: .*run `provenance verdicts` again"):
        export(led, tmp_path / "out")
    include_all(led)
    assert export(led, tmp_path / "out")["exported"] == 10


def test_output_names_are_plain_deterministic_file_names():
    from provenance.export import output_name

    assert output_name("/data/c4/c4-train.00001-of-01024.json.gz", "0123456789abcdef") == \
        "c4-train.00001-of-01024-0123456789abcdef.parquet"
    assert output_name("s3://bucket/x/../we ird\nname.warc.gz", "ab") == "we_ird_name-ab.parquet"
    assert output_name("/data/..", "ab") == "shard-ab.parquet"
