"""The ledger and the scan flow: migrations, idempotent rescans, resume after SIGKILL, composition views,
and the CLI a user runs."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import run_cli
from provenance.ledger import Ledger, LedgerBusy

DOC_COLUMNS = "shard_id, position, doc_id, url, host, registered_domain, suffix, crawl_date, crawl, language, bytes, words"


def rows(ledger, sql):
    with Ledger(ledger, read_only=True) as led:
        return led.query(sql).to_pylist()


def test_migrations_are_versioned_and_idempotent(tmp_path):
    p = tmp_path / "l.duckdb"
    with Ledger(p) as led:
        v = led.schema_version()
        assert v >= 1
        assert led.migrate() == []  # nothing left to apply
    with Ledger(p) as led:
        assert led.schema_version() == v
        tables = {r["table_name"] for r in led.query("SELECT table_name FROM information_schema.tables").to_pylist()}
    assert {"runs", "shards", "documents", "quarantine", "schema_migrations", "composition_by_domain",
            "composition_by_suffix"} <= tables


def test_second_writer_gets_a_clear_message(tmp_path):
    p = tmp_path / "busy.duckdb"
    Ledger(p).close()
    code = "import time, duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(p)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(LedgerBusy, match="in use by another process"):
            Ledger(p)
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(scope="module")
def sample_ledger(small_sample, prefect_api, tmp_path_factory):
    from provenance.pipelines.scan import scan_corpus

    ledger = tmp_path_factory.mktemp("l") / "sample.duckdb"
    first = scan_corpus(inputs=[str(small_sample / "*.json.gz")], ledger=str(ledger), quiet=True)
    return ledger, first


def test_scan_flow_on_the_sample(sample_ledger, small_sample):
    ledger, first = sample_ledger
    manifest = json.loads((small_sample / "MANIFEST.json").read_text())
    assert first["shards"] == 3 and first["documents"] == manifest["docs"] == 3000
    assert first["rows_read"] == first["documents"] + first["quarantined"]
    (run,) = rows(ledger, "SELECT * FROM runs")
    assert run["status"] == "done" and run["documents"] == 3000 and len(run["rules_hash"]) == 16
    # sizes: bytes and words of every document equal what Python computes from the text
    texts = {}
    for f in sorted(small_sample.glob("*.json.gz")):
        for i, line in enumerate(gzip.open(f), start=1):
            texts[(f.name, i)] = json.loads(line)["text"]
    got = rows(ledger, "SELECT split_part(s.uri, '/', -1) AS name, d.position, d.bytes, d.words FROM documents d JOIN shards s USING (shard_id)")
    assert len(got) == 3000
    for g in got:
        t = texts[(g["name"], g["position"])]
        assert g["bytes"] == len(t.encode()) and g["words"] == len(t.split())


def test_rerun_skips_unchanged_and_force_replaces_without_duplicates(sample_ledger, small_sample):
    from provenance.pipelines.scan import scan_corpus

    ledger, _ = sample_ledger
    before = rows(ledger, f"SELECT {DOC_COLUMNS} FROM documents ORDER BY shard_id, position")
    again = scan_corpus(inputs=[str(small_sample / "*.json.gz")], ledger=str(ledger), quiet=True)
    assert (again["scanned"], again["skipped"]) == (0, 3)
    forced = scan_corpus(inputs=[str(small_sample / "*.json.gz")], ledger=str(ledger), quiet=True, force=True)
    assert forced["scanned"] == 3
    after = rows(ledger, f"SELECT {DOC_COLUMNS} FROM documents ORDER BY shard_id, position")
    assert after == before  # replaced, never duplicated
    assert rows(ledger, "SELECT count(*) n FROM runs")[0]["n"] == 3


def test_changed_shard_is_rescanned_and_replaced(tmp_path, prefect_api):
    from provenance.pipelines.scan import scan_corpus

    f = tmp_path / "c.jsonl"
    f.write_text("".join(json.dumps({"url": f"https://a{i}.com/", "text": "one two"}) + "\n" for i in range(5)))
    led = str(tmp_path / "c.duckdb")
    scan_corpus(inputs=[str(f)], ledger=led, quiet=True)
    time.sleep(0.01)
    f.write_text("".join(json.dumps({"url": f"https://b{i}.com/", "text": "one two three"}) + "\n" for i in range(3)))
    os.utime(f, None)
    r = scan_corpus(inputs=[str(f)], ledger=led, quiet=True)
    assert r["scanned"] == 1
    assert [x["url"] for x in rows(led, "SELECT url FROM documents ORDER BY position")] == [f"https://b{i}.com/" for i in range(3)]


def test_composition_views_have_the_c4_table_shape(sample_ledger):
    ledger, _ = sample_ledger
    top = rows(ledger, "SELECT * FROM composition_by_domain ORDER BY rank")
    assert [r["rank"] for r in top] == list(range(1, len(top) + 1))
    assert abs(sum(r["share_words"] for r in top) - 1) < 1e-9 and abs(sum(r["share_documents"] for r in top) - 1) < 1e-9
    assert all(a["words"] >= b["words"] for a, b in zip(top, top[1:]))
    # Zipf: the top domain carries far more than the median one
    assert top[0]["documents"] > 10 * top[len(top) // 2]["documents"]
    suffixes = {r["suffix"] for r in rows(ledger, "SELECT suffix FROM composition_by_suffix")}
    assert {"com", "co.uk", "com.au", "github.io"} <= suffixes
    # the query from the README works and agrees with the view
    q = rows(ledger, "select registered_domain, sum(words) w from documents group by 1 order by w desc limit 30")
    assert [r["registered_domain"] for r in q[:5]] == [r["registered_domain"] for r in top[:5]]


def _start_scan(args, cwd, api_url):
    env = dict(os.environ, PREFECT_API_URL=api_url)
    exe = Path(sys.executable).with_name("provenance")
    return subprocess.Popen([str(exe)] + args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_run_then_resume_equals_a_clean_run(tmp_path, prefect_api):
    """Kill a real `provenance scan` with SIGKILL while shards are in flight; the next run ends with
    exactly the rows a clean run gives (no duplicates, nothing missing)."""
    from provenance.sample import generate

    corpus = tmp_path / "corpus"
    generate(corpus, docs=24000, shards=8, seed=3, formats=("jsonl.gz",))
    args = ["scan", str(corpus), "--top", "0"]
    clean = run_cli(args + ["--ledger", str(tmp_path / "clean.duckdb")], cwd=tmp_path, api_url=prefect_api)
    assert clean.returncode == 0, clean.stderr

    killed_ledger = str(tmp_path / "killed.duckdb")
    proc = _start_scan(args + ["--ledger", killed_ledger], tmp_path, prefect_api)
    seen = []
    for line in proc.stderr:  # progress lines: kill once the first shard has been ingested
        seen.append(line)
        if line.startswith("[1/"):
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    with Ledger(killed_ledger, read_only=True) as led:
        partial_docs = led.query("SELECT count(*) n FROM documents").to_pylist()[0]["n"]
    assert 0 < partial_docs < 24000  # killed mid-run

    resumed = run_cli(args + ["--ledger", killed_ledger, "--json"], cwd=tmp_path, api_url=prefect_api)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["skipped"] >= 1 and summary["scanned"] + summary["skipped"] == 8

    def snapshot(p):
        con = duckdb.connect(str(p), read_only=True)
        try:
            docs = con.sql(f"SELECT {DOC_COLUMNS} FROM documents ORDER BY shard_id, position").fetchall()
            quar = con.sql("SELECT shard_id, position, reason FROM quarantine ORDER BY ALL").fetchall()
            shards = con.sql("SELECT shard_id, status, rows_read, documents, quarantined FROM shards ORDER BY 1").fetchall()
        finally:
            con.close()
        return docs, quar, shards

    assert snapshot(killed_ledger) == snapshot(tmp_path / "clean.duckdb")


def test_cli_scan_prints_the_top_domains_table_and_query_answers(small_sample, prefect_api, tmp_path):
    res = run_cli(["scan", str(small_sample / "*.json.gz"), "--ledger", "s.duckdb", "--top", "5"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "3,000 rows read = 3,000 documents + 0 quarantined" in out
    table = out.split("Top 5 registered domains", 1)[1].splitlines()
    assert table[1].split() == ["rank", "registered_domain", "documents", "words", "share_documents", "share_words"]
    assert [line.split()[0] for line in table[3:8]] == ["1", "2", "3", "4", "5"]
    assert "[3/3]" in res.stderr and "docs/s" in res.stderr
    q = run_cli(["query", "select registered_domain, sum(words) w from documents group by 1 order by w desc limit 3",
                 "--ledger", "s.duckdb", "--format", "json"], cwd=tmp_path)
    assert q.returncode == 0, q.stderr
    got = json.loads(q.stdout)
    assert len(got) == 3 and got[0]["w"] >= got[1]["w"] >= got[2]["w"]
    assert table[3].split()[1] == got[0]["registered_domain"]
    bad = run_cli(["query", "select nope from documents", "--ledger", "s.duckdb"], cwd=tmp_path)
    assert bad.returncode == 2 and "provenance: query failed" in bad.stderr and "nope" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = run_cli(["query", "select 1", "--ledger", "absent.duckdb"], cwd=tmp_path)
    assert missing.returncode == 2 and "no ledger at absent.duckdb" in missing.stderr


def test_sample_parquet_and_jsonl_give_the_same_documents(sample_ledger, small_sample, tmp_path):
    """The generated corpus in its two formats: the same URLs, crawl dates, sizes and domains."""
    from provenance.pipelines.scan import scan_corpus

    ledger, _ = sample_ledger
    pq_ledger = tmp_path / "pq.duckdb"
    r = scan_corpus(inputs=[str(small_sample / "*.parquet")], ledger=str(pq_ledger), quiet=True)
    assert r["documents"] == 3000
    cols = "url, crawl_date, bytes, words, host, registered_domain, suffix"
    assert rows(pq_ledger, f"SELECT {cols} FROM documents ORDER BY url") == rows(ledger, f"SELECT {cols} FROM documents ORDER BY url")
