"""Benchmark the scan: the spine (read + domains + sizes + page signals + ledger) and the full scan (every
scanner, licenses included), against a raw pyarrow read of the same files; and the verdict evaluation.

    python bench/bench_scan.py                 # ~110 MB generated corpus, all measures (a few minutes)
    python bench/bench_scan.py --docs 8000     # quicker

Every figure is measured in this run; ratios compare against anchors measured in this run on the same
files. "Per core" figures pin Arrow, DuckDB and our code to one thread. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from common import best_of  # noqa: E402  (bench/ is the script's folder)


def raw_parquet_read(files):
    n = 0
    for f in files:
        for b in pq.ParquetFile(f).iter_batches(batch_size=8192, columns=["text", "url", "timestamp"], use_threads=False):
            n += b.num_rows
    return n


def raw_jsonl_read(files):
    import gzip

    import pyarrow.json as pj

    n = 0
    for f in files:
        with gzip.open(f) as fh:
            t = pj.read_json(fh, read_options=pj.ReadOptions(use_threads=False, block_size=8 << 20))
            n += t.num_rows
    return n


def our_read(shards, options):
    from provenance.readers import read_shard

    n = 0
    for s in shards:
        for ch in read_shard(s, options):
            n += ch.batch.num_rows if ch.batch is not None else 0
    return n


def collect_batches(shards, options):
    from provenance.readers import read_shard

    return [ch.batch for s in shards for ch in read_shard(s, options) if ch.batch is not None]


def spine_scanners():
    """The spine's scanners (domain, size, page signals): the set the 0.30x target was set for."""
    from provenance.scanners import default_scanners

    return [s for s in default_scanners() if s.name in ("domain", "size", "page_signals")]


def library_scan(shards, ledger_path, work_dir, options, scanners=None):
    """Scan without Prefect: scan_shard per shard, then ledger ingest (one thread). Default: the spine."""
    from provenance.ledger import Ledger
    from provenance.pipeline import config_hash, scan_shard

    scanners = scanners if scanners is not None else spine_scanners()
    chash = config_hash(scanners, options)
    shutil.rmtree(work_dir, ignore_errors=True)
    if os.path.exists(ledger_path):
        os.remove(ledger_path)
    t_scan = t_ingest = 0.0
    docs = 0
    with Ledger(ledger_path) as led:
        led.con.execute("SET threads = 1")
        run = led.begin_run({}, "bench", chash, len(shards))
        for s in shards:
            t = time.perf_counter()
            r = scan_shard(s, work_dir, options=options, scanners=scanners, chash=chash)
            t_scan += time.perf_counter() - t
            t = time.perf_counter()
            led.ingest_shard(r, run)
            t_ingest += time.perf_counter() - t
            docs += r.documents
    return docs, t_scan, t_ingest


def peak_rss_of(cmd, env) -> tuple[float, int, str]:
    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return wall, max(before, after), res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=32000, help="documents to generate (~3.5 KB each; default ~110 MB)")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--out", help="work directory (default: a temporary one, removed afterwards)")
    ap.add_argument("--skip-flow", action="store_true", help="skip the Prefect measurements")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    from provenance.readers import ReadOptions
    from provenance.sample import generate
    from provenance.scanners import ScanContext
    from provenance.scanners.domain import DomainScanner
    from provenance.scanners.size import SizeScanner
    from provenance.sources import discover

    tmp = Path(args.out or tempfile.mkdtemp(prefix="provenance-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict = {"cores": os.cpu_count(), "docs_requested": args.docs}
    try:
        corpus = tmp / "corpus"
        t = time.perf_counter()
        info = generate(corpus, docs=args.docs, shards=args.shards, seed=1)
        results["generate_seconds"] = time.perf_counter() - t
        results["docs"] = info.docs
        results["text_mb"] = info.bytes / 1e6
        pq_files = sorted(str(p) for p in corpus.glob("*.parquet"))
        js_files = sorted(str(p) for p in corpus.glob("*.json.gz"))
        results["parquet_mb_on_disk"] = sum(os.path.getsize(p) for p in pq_files) / 1e6
        results["jsonl_gz_mb_on_disk"] = sum(os.path.getsize(p) for p in js_files) / 1e6
        print(f"corpus: {info.docs:,} docs, {info.bytes / 1e6:,.1f} MB of text, {len(pq_files)} Parquet + {len(js_files)} JSONL.gz files")

        # --- one core from here on -----------------------------------------------------------------
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
        options = ReadOptions()
        pq_shards = discover(pq_files)
        js_shards = discover(js_files)
        n = info.docs

        anchor_pq = best_of(lambda: raw_parquet_read(pq_files))
        anchor_js = best_of(lambda: raw_jsonl_read(js_files), repeat=2)
        read_pq = best_of(lambda: our_read(pq_shards, options))
        read_js = best_of(lambda: our_read(js_shards, options), repeat=2)

        batches = collect_batches(pq_shards, options)
        ctx = ScanContext()
        dom = DomainScanner()
        size = SizeScanner()
        from provenance.domains import clear_cache

        def run_domain():
            clear_cache()
            for b in batches:
                dom.scan(b, ctx)

        t_dom = best_of(run_domain)
        t_size = best_of(lambda: [size.scan(b, ctx) for b in batches])
        from provenance.scanners.signals import PageSignalsScanner

        sig = PageSignalsScanner()
        t_sig = best_of(lambda: [sig.scan(b, ctx) for b in batches])
        from provenance.scanners.license import LicenseScanner

        lic = LicenseScanner()
        t_lic = best_of(lambda: [lic.scan(b, ctx) for b in batches], repeat=2)
        from provenance.scanners.minhash import MinHashScanner
        from provenance.scanners.pii import PiiScanner

        pii_s, mh_s = PiiScanner(salt=b"bench"), MinHashScanner()
        t_pii = best_of(lambda: [pii_s.scan(b, ctx) for b in batches], repeat=2)
        mh_s.scan(batches[0], ctx)  # numba compile / cache load outside the timing
        t_mh = best_of(lambda: [mh_s.scan(b, ctx) for b in batches], repeat=2)
        mb = info.bytes / 1e6

        ledger = str(tmp / "bench.duckdb")
        docs_pq, scan_pq, ingest_pq = library_scan(pq_shards, ledger, str(tmp / "parts"), options)
        docs_js, scan_js, ingest_js = library_scan(js_shards, ledger, str(tmp / "parts"), options)
        assert docs_pq == docs_js == n, (docs_pq, docs_js, n)
        from provenance.scanners import default_scanners

        full_ledger = str(tmp / "full.duckdb")
        docs_full, scan_full, ingest_full = library_scan(pq_shards, full_ledger, str(tmp / "parts-full"), options,
                                                         default_scanners())
        assert docs_full == n
        from provenance.ledger import Ledger
        from provenance.verdict import evaluate

        with Ledger(full_ledger) as led:
            led.con.execute("SET threads = 1")
            t = time.perf_counter()
            evaluate(led)
            t_verdict = time.perf_counter() - t

        per_core = {
            "raw pyarrow Parquet read (anchor)": n / anchor_pq,
            "raw gzip + pyarrow JSON read (anchor)": n / anchor_js,
            "our Parquet reader (core schema, checks)": n / read_pq,
            "our JSONL.gz reader (core schema, checks)": n / read_js,
            "domain scanner (cold host cache)": n / t_dom,
            "size scanner (bytes + words)": n / t_size,
            "page-signals scanner (no headers/HTML: C4-style)": n / t_sig,
            "license scanner (RE2 prefilter + matchers)": n / t_lic,
            "PII scanner (RE2 prefilter + validators + hashes)": n / t_pii,
            "MinHash scanner (128 perms, word 5-grams)": n / t_mh,
            "full spine, Parquet -> ledger": n / (scan_pq + ingest_pq),
            "full scan (every scanner), Parquet -> ledger": n / (scan_full + ingest_full),
            "verdict evaluation from the ledger (no consent)": n / t_verdict,
            "full spine, JSONL.gz -> ledger": n / (scan_js + ingest_js),
            "ledger ingest from Parquet sinks (rows/s)": n / ingest_pq,
        }
        results["per_core_docs_per_s"] = per_core
        results["size_scanner_mb_per_s"] = mb / t_size
        results["ratio_spine_to_raw_parquet_read"] = (n / (scan_pq + ingest_pq)) / (n / anchor_pq)
        results["ratio_spine_to_raw_jsonl_read"] = (n / (scan_js + ingest_js)) / (n / anchor_js)
        results["ratio_full_scan_to_raw_parquet_read"] = (n / (scan_full + ingest_full)) / (n / anchor_pq)
        results["license_scanner_mb_per_s"] = mb / t_lic

        print("\nper core (one thread), same files, same run:")
        for k, v in per_core.items():
            print(f"  {k:<45} {v:>12,.0f} docs/s")
        print(f"  size scanner throughput                        {mb / t_size:>12,.0f} MB/s")
        print(f"\nratio full spine / raw Parquet read: {results['ratio_spine_to_raw_parquet_read']:.2f}  (target >= 0.30)")
        print(f"ratio full spine / raw JSONL.gz read: {results['ratio_spine_to_raw_jsonl_read']:.2f}")
        print(f"ratio full scan (every scanner) / raw Parquet read: {results['ratio_full_scan_to_raw_parquet_read']:.2f}"
              f"  (budget: full scan >= 10,000 docs/s per core; license scanner {mb / t_lic:,.0f} MB/s)")

        if not args.skip_flow:
            exe = str(Path(sys.executable).with_name("provenance"))
            env = dict(os.environ, PREFECT_HOME=str(tmp / "prefect-home"))
            env.pop("PREFECT_API_URL", None)
            # the whole CLI + Prefect flow, all cores, ephemeral Prefect server (what a user gets by default)
            wall, rss, out = peak_rss_of([exe, "scan", *pq_files, "--ledger", str(tmp / "flow.duckdb"), "--top", "0",
                                          "--quiet", "--json"], env)
            s = json.loads(out)
            results["flow_parquet"] = {"wall_s": wall, "flow_s": s["seconds"], "docs_per_s_in_flow": n / s["seconds"],
                                       "docs_per_s_wall": n / wall, "peak_rss_mb": rss / 1024}
            # fixed cost of one tiny scan: ephemeral server vs a standing one
            tiny = tmp / "tiny.jsonl"
            tiny.write_text('{"url": "https://example.com/", "text": "hello world"}\n')
            eph = [peak_rss_of([exe, "scan", str(tiny), "--ledger", str(tmp / f"tiny{i}.duckdb"), "--top", "0", "--quiet"], env)[0]
                   for i in range(2)]
            from prefect.server.api.server import SubprocessASGIServer

            server = SubprocessASGIServer()
            server.start(timeout=90)
            try:
                env2 = dict(env, PREFECT_API_URL=server.api_url)
                standing = [peak_rss_of([exe, "scan", str(tiny), "--ledger", str(tmp / f"tinys{i}.duckdb"), "--top", "0",
                                         "--quiet"], env2)[0] for i in range(2)]
            finally:
                server.stop()
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import provenance.pipelines.scan"], check=True)
            import_s = time.perf_counter() - t
            results["tiny_scan_seconds"] = {"ephemeral_server": min(eph), "standing_server": min(standing),
                                            "python_imports": import_s}
            f = results["flow_parquet"]
            print(f"\nCLI + Prefect flow on the Parquet corpus ({os.cpu_count()} cores, ephemeral server): "
                  f"{f['docs_per_s_in_flow']:,.0f} docs/s inside the flow, {f['docs_per_s_wall']:,.0f} docs/s wall "
                  f"({f['wall_s']:.1f} s), peak RSS {f['peak_rss_mb']:,.0f} MB")
            ts = results["tiny_scan_seconds"]
            print(f"fixed cost of `provenance scan` on one tiny file: {ts['ephemeral_server']:.1f} s with Prefect's "
                  f"ephemeral server, {ts['standing_server']:.1f} s with a standing server (PREFECT_API_URL); "
                  f"imports alone {ts['python_imports']:.1f} s")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        if not args.out:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
