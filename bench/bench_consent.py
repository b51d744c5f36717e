"""Consent evaluation throughput: documents/s with 15 agents, against protego in the same run.

    python bench/bench_consent.py            # 20,000 sample documents; real robots.txt bodies from ../shared/data

Every host of the generated corpus gets one real robots.txt body (from the 4,231 files of Protego's
top-10k set, assigned round-robin, plus a few that block AI agents outright). Then, in the same process:
our evaluation (snapshot selection in DuckDB + grouped columnar decisions + join back) over all
documents x 15 agents, and protego answering the same (document, agent) questions one `can_fetch` at a
time. The two must agree wherever both follow RFC 9309 identically; disagreements are counted and shown.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000)
    args = ap.parse_args()
    import pyarrow as pa

    pa.set_cpu_count(1)
    from protego import Protego

    from provenance.ledger import Ledger
    from provenance.pipeline import scan_shard
    from provenance.robots.consent import evaluate, store_snapshots
    from provenance.robots.snapshots import Snapshot
    from provenance.ruleset import evaluated_agents
    from provenance.sample import generate
    from provenance.sources import discover

    src = SHARED / "robots_txt" / "protego_top10k_robots.jsonl.gz"
    if not src.exists():
        raise SystemExit(f"needs {src}")
    bodies = [json.loads(l)["robots_txt"] for l in gzip.open(src)]
    bodies += ["User-agent: GPTBot\nUser-agent: CCBot\nUser-agent: ClaudeBot\nDisallow: /\n"] * 400

    tmp = Path(tempfile.mkdtemp(prefix="provenance-bench-consent-"))
    try:
        generate(tmp / "c", docs=args.docs, shards=1, seed=11, formats=("parquet",))
        with Ledger(tmp / "b.duckdb") as led:
            run = led.begin_run({}, "bench", "bench", 1)
            for s in discover([str(tmp / "c")]):
                led.ingest_shard(scan_shard(s, tmp / "parts"), run)
            hosts = [r[0] for r in led.con.execute("SELECT DISTINCT host FROM documents WHERE host IS NOT NULL ORDER BY 1").fetchall()]
            when = datetime(2010, 1, 1, tzinfo=timezone.utc)
            store_snapshots(led, [Snapshot(host=h, source="jsonl", captured_at=when, outcome="parsed", body=bodies[i % len(bodies)])
                                  for i, h in enumerate(hosts)])
            agents = [a.token for a in evaluated_agents()]
            n_docs = led.con.execute("SELECT count(*) FROM documents").fetchall()[0][0]
            evaluate(led, agents)  # warm (parser, caches) — then measure a fresh evaluation
            from provenance.robots import consent as consent_mod

            consent_mod._parse.cache_clear()
            t = time.perf_counter()
            r = evaluate(led, agents)
            ours = time.perf_counter() - t
            t = time.perf_counter()
            evaluate(led, agents)  # snapshots parsed already: what a re-evaluation (rules/agents changed) costs
            warm = time.perf_counter() - t
            rows = led.query("SELECT d.url, d.host, c.agent, c.now_outcome FROM document_consent c JOIN documents d USING (shard_id, position)").to_pylist()
            body_of = dict(led.con.execute("SELECT host, body FROM robots_snapshots").fetchall())

        docs = {}
        for row in rows:
            docs.setdefault((row["url"], row["host"]), {})[row["agent"]] = row["now_outcome"] == "allowed"
        t = time.perf_counter()
        parsed = {h: Protego.parse(b) for h, b in body_of.items()}
        disagree = []
        for (url, host), by_agent in docs.items():
            p = parsed[host]
            for agent in agents:
                if p.can_fetch(url, agent) != by_agent[agent]:
                    disagree.append((host, agent, url))
        theirs = time.perf_counter() - t
        evals = n_docs * len(agents)
        print(f"{n_docs:,} documents x {len(agents)} agents = {evals:,} evaluations over {len(hosts):,} hosts (one core)")
        print(f"  ours:    {n_docs / ours:>10,.0f} docs/s  ({evals / ours:,.0f} evaluations/s; {r['distinct_snapshot_paths']:,} distinct "
              f"snapshot/path pairs; select {r['select_seconds']:.2f} s, decide {r['decide_seconds']:.2f} s, total {ours:.2f} s)")
        print(f"  ours, snapshots already parsed: {n_docs / warm:>10,.0f} docs/s ({warm:.2f} s)")
        print(f"  protego: {n_docs / theirs:>10,.0f} docs/s  ({evals / theirs:,.0f} can_fetch/s, parse included)")
        print(f"  ratio ours/protego: {theirs / ours:.1f}x   (target: 100,000 docs/s with 15 agents)")
        print(f"  disagreements with protego: {len(disagree):,} of {evals:,}")
        for host, agent, url in disagree[:5]:
            print(f"    {agent} {url}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
