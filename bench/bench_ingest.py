"""Ledger ingest: rows/s from the workers' Parquet sinks into the ledger, per documents store, on one core.

    python bench/bench_ingest.py --ledger /path/to/scanned.duckdb      # its shards' sinks (e.g. bench/scale.py's)
    python bench/bench_ingest.py                                        # generates and scans 200k documents first

Each sink is ingested with ``Ledger.ingest_shard`` (what the scan does per shard) into a fresh ledger of each
store, DuckDB on one thread (``SET threads = 1``) and, for the table, also on every core. The parquet store
links each sink into its dataset (no rows copied); where it cannot (another file system) it copies the rows,
measured here by making the link fail. The anchor is DuckDB
itself on one thread copying the same columns from the same files into a plain table (``CREATE TABLE AS``): the
ratio is what the ledger's ingest costs over the bare copy. Rates are rows/s of wall time, best of ``--repeat``.
Two queries then run on each ingested ledger (the view reads a linked sink's row groups as the scan wrote them).
Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from provenance.ledger import Ledger, ShardResult


def sinks_of(ledger: str) -> list[tuple[str, str, int]]:
    con = duckdb.connect(ledger, read_only=True)
    rows = con.execute("SELECT shard_id, annotations_path, documents FROM shards WHERE annotations_path IS NOT NULL "
                       "AND documents > 0 ORDER BY uri").fetchall()
    con.close()
    return [(s, p, n) for s, p, n in rows if Path(p).exists()]


def ingest(sinks, work: Path, store: str, threads: int, link: bool = True) -> float:
    path = work / f"ing-{store}-{threads}-{link}.duckdb"
    for p in work.glob(path.name + "*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    led = Ledger(str(path), documents_store=store)
    led.con.execute(f"SET threads = {threads}")
    run = led.begin_run(rules_hash="bench", config_hash="bench", config={}, shards_total=len(sinks))
    real_link = os.link
    if not link:  # as on another file system than the sinks: the rows are copied
        def no_link(*a, **k):
            raise OSError(18, "Invalid cross-device link")
        os.link = no_link
    t0 = time.perf_counter()
    try:
        for sid, sink, n in sinks:
            led.ingest_shard(ShardResult(shard_id=sid, uri=f"/bench/{sid}", format="jsonl", fingerprint="f",
                                         config_hash="bench", status="done", rows_read=n, documents=n,
                                         annotations_path=sink), run)
        dt = time.perf_counter() - t0
    finally:
        os.link = real_link
    got = led.con.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert got == sum(n for _, _, n in sinks), (got, store)
    led.con.execute(f"SET threads = {os.cpu_count()}")
    for sql in QUERIES:
        best = min(_timed(led.con, sql) for _ in range(3))
        QUERY_MS.setdefault(f"{store}{'' if link or store == 'table' else ' (copied)'}", {})[sql] = best * 1000
    led.close()
    return dt


QUERIES = ("SELECT registered_domain, sum(words) FROM documents GROUP BY 1",
           "SELECT count(*) FROM documents WHERE pii_count > 0")
QUERY_MS: dict[str, dict[str, float]] = {}


def _timed(con, sql: str) -> float:
    t0 = time.perf_counter()
    con.execute(sql).fetchall()
    return time.perf_counter() - t0


def anchor(sinks, work: Path) -> float:
    path = work / "anchor.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("SET threads = 1")
    cols = [c for c in pq.read_schema(sinks[0][1]).names if c != "minhash"]
    sel = ", ".join(f'"{c}"' for c in cols)
    t0 = time.perf_counter()
    for i, (_, sink, _) in enumerate(sinks):
        if i == 0:
            con.execute(f"CREATE TABLE t AS SELECT {sel} FROM read_parquet(?)", [sink])
        else:
            con.execute(f"INSERT INTO t SELECT {sel} FROM read_parquet(?)", [sink])
    con.execute("CHECKPOINT")
    dt = time.perf_counter() - t0
    con.close()
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ledger", help="a scanned ledger whose shards' sinks are read (default: scan a generated corpus)")
    ap.add_argument("--docs", type=int, default=200_000, help="documents to generate without --ledger")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        ledger = a.ledger
        if not ledger:
            exe = Path(sys.executable).with_name("provenance")
            subprocess.run([str(exe), "sample", "--out", str(work / "c"), "--docs", str(a.docs), "--shards", "2",
                            "--formats", "jsonl.gz"], check=True, capture_output=True)
            ledger = str(work / "scanned.duckdb")
            subprocess.run([str(exe), "scan", str(work / "c" / "*.json.gz"), "--ledger", ledger, "--top", "0", "--quiet"],
                           check=True, capture_output=True)
        sinks = sinks_of(ledger)
        rows = sum(n for _, _, n in sinks)
        print(f"{len(sinks)} sink(s), {rows:,} rows, load {os.getloadavg()[0]:.1f}")
        res: dict[str, float] = {}
        for _ in range(a.repeat):
            for name, fn in (("anchor: DuckDB CREATE TABLE AS, 1 thread", lambda: anchor(sinks, work)),
                             ("table store, 1 thread", lambda: ingest(sinks, work, "table", 1)),
                             ("parquet store, sinks linked", lambda: ingest(sinks, work, "parquet", 1)),
                             ("parquet store, rows copied, 1 thread", lambda: ingest(sinks, work, "parquet", 1, link=False)),
                             (f"table store, {os.cpu_count()} threads", lambda: ingest(sinks, work, "table", os.cpu_count()))):
                res[name] = max(res.get(name, 0.0), rows / fn())
        base = res["anchor: DuckDB CREATE TABLE AS, 1 thread"]
        for name, v in res.items():
            print(f"  {name:<42} {v:>12,.0f} rows/s   {v / base:5.2f}x the anchor")
        print("queries on the ingested ledger (ms, best of 3, every core):")
        for store, times in QUERY_MS.items():
            for sql, ms in times.items():
                print(f"  {store:<18} {ms:8.0f}  {sql}")
        if a.json:
            Path(a.json).write_text(json.dumps({"rows": rows, "sinks": len(sinks), "rows_per_s": res,
                                                "query_ms": QUERY_MS}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
