"""Clusters that hold together (provenance.dedup.cluster): pair precision and recall of the clusters on
edit chains of real pages, the previous dedup.py (from git) and the current one in the same run.

    python bench/bench_dedup.py                   # 1,000 real C4 pages x 5 chained variants (~1-2 minutes)
    python bench/bench_dedup.py --chain 8 --before <git rev>

Corpus: each real C4 page (../shared/data/web_text/c4) of at least ``--min-words`` words starts a chain of
``--chain`` variants, each one the previous one with a further fraction of its words edited (replaced by a
corpus word, deleted or inserted, equally likely); the step is drawn per chain from STEPS, so some chains
stay above the threshold end to end and some cross it. The documents are shuffled into 4 JSON Lines shards
under random URLs (a chain's representative is wherever the URI order puts it), scanned into a real
ledger, and clustered by both versions of ``cluster``.

Truth: the exact Jaccard of word 5-grams (the signatures' shingles) of every pair inside a chain, and of
every pair of documents from different chains that either version puts in one cluster (other cross-chain
pairs are taken to be below the threshold: distinct C4 pages). Reported per version: pair precision of
the clusters (pairs in one cluster whose exact J >= t), recall (pairs with exact J >= t that are in one
cluster), redundant documents and how many of them are below t to their representative (exact J), and the
seconds each took (a ratio in this run; nothing asserts a time).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_minhash import C4, load_c4, make_variant  # noqa: E402

from provenance import minhash as mh  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
STEPS = (0.002, 0.004, 0.007, 0.01, 0.015)  # fraction of words edited per link of a chain
BEFORE = "e3467c80083ee6bb2b69d37df31be2d689b3e517"  # the last dedup.py that clustered by connected components


def build_chains(pages: list[str], chain: int, seed: int):
    rng = np.random.default_rng(seed)
    pool = [w for t in pages[:50] for w in t.split()][:20000]
    docs = []  # (family, index in the chain, text, step)
    for f, page in enumerate(pages):
        step = STEPS[int(rng.integers(len(STEPS)))]
        text = page
        docs.append((f, 0, text, step))
        for i in range(1, chain + 1):
            text = make_variant(text, step, rng, pool)
            docs.append((f, i, text, step))
    return docs


def write_shards(docs, out: Path, shards: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    order = list(range(len(docs)))
    rnd.shuffle(order)
    files = [out / f"chains-{s:02d}.jsonl" for s in range(shards)]
    urls = {}
    handles = [open(f, "w") for f in files]
    for n, i in enumerate(order):
        url = f"https://site{rnd.randrange(200)}.example/{rnd.getrandbits(40):010x}"
        urls[url] = i
        handles[n % shards].write(json.dumps({"url": url, "text": docs[i][2], "timestamp": "2024-01-01T00:00:00Z"}) + "\n")
    for h in handles:
        h.close()
    return [str(f) for f in files], urls


def load_before(rev: str):
    src = subprocess.run(["git", "show", f"{rev}:src/provenance/dedup.py"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp(prefix="dedup-before-")) / "_dedup_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("provenance._dedup_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def clusters_of(ledger: str, urls: dict) -> dict[int, list[int]]:
    from provenance.ledger import Ledger

    with Ledger(ledger, read_only=True) as led:
        rows = led.con.execute("SELECT d.url, g.cluster_id, g.representative FROM document_duplicates g "
                               "JOIN documents d USING (shard_id, position)").fetchall()
    out: dict[int, list[int]] = {}
    rep: dict[int, int] = {}
    for url, cid, is_rep in rows:
        out.setdefault(cid, []).append(urls[url])
        if is_rep:
            rep[cid] = urls[url]
    return {rep[c]: sorted(m) for c, m in out.items()}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--chain", type=int, default=5, help="variants per page, each an edit of the previous one")
    ap.add_argument("--min-words", type=int, default=50)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--before", default=BEFORE, help="git revision of the dedup.py to compare with")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not C4.exists():
        print(f"C4 sample absent ({C4}): nothing to measure")
        return
    from provenance.dedup import cluster
    from provenance.ledger import Ledger
    from provenance.runs import scan_corpus

    t = args.threshold
    pages = [p for p in load_c4() if len(p.split()) >= args.min_words][: args.pages]
    docs = build_chains(pages, args.chain, args.seed)
    chain_steps = [(f, st) for f, i, _, st in docs if i == 0]
    sets = [frozenset(mh.shingles(d[2])) for d in docs]

    def jac(a, b):
        return len(sets[a] & sets[b]) / len(sets[a] | sets[b]) if sets[a] and sets[b] else 0.0

    per = args.chain + 1
    truth = {}
    for f in range(len(pages)):
        for a, b in combinations(range(f * per, (f + 1) * per), 2):
            truth[(a, b)] = jac(a, b)
    js = np.array(list(truth.values()))
    print(f"{len(pages)} real C4 pages (>= {args.min_words} words) x {args.chain} chained variants = {len(docs)} documents; "
          f"{len(truth)} in-chain pairs, {int((js >= t).sum())} with exact J >= {t}; "
          f"chains whose last variant is below {t} to the page: "
          f"{sum(1 for f in range(len(pages)) if truth[(f * per, f * per + per - 1)] < t)}")

    tmp = Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    try:
        files, urls = write_shards(docs, tmp, 4, args.seed)
        ledger = str(tmp / "chains.duckdb")
        scan_corpus(files, ledger=ledger, quiet=True)
        before_ledger = str(tmp / "before.duckdb")
        before = load_before(args.before)
        results = {}
        for name, fn, path in (("before (" + args.before[:8] + ")", before.cluster, before_ledger), ("after", cluster, ledger)):
            if path == before_ledger:
                shutil.copy(ledger, before_ledger)
                with Ledger(before_ledger) as led:  # the previous version writes the previous columns
                    for col in ("similarity", "similarity_by"):
                        led.con.execute(f"ALTER TABLE document_duplicates DROP COLUMN IF EXISTS {col}")
                    for col in ("split_off", "split_rounds"):
                        led.con.execute(f"ALTER TABLE dedup_runs DROP COLUMN IF EXISTS {col}")
            with Ledger(path) as led:
                t0 = time.perf_counter()
                s = fn(led, threshold=t)
                secs = time.perf_counter() - t0
            results[name] = (clusters_of(path, urls), s, secs)
        # cross-chain pairs either version put together
        for cl, _, _ in results.values():
            for members in cl.values():
                for a, b in combinations(members, 2):
                    if (a, b) not in truth:
                        truth[(a, b)] = jac(a, b)
        positives = {p for p, j in truth.items() if j >= t}
        print(f"\nthreshold {t}: {len(positives)} true pairs (exact J >= {t})")
        print(f"{'version':<20} {'clusters':>8} {'redundant':>9} {'below t to rep':>14} {'min J to rep':>12} "
              f"{'cluster pairs':>13} {'pair P':>7} {'pair R':>7} {'seconds':>8}")
        for name, (cl, s, secs) in results.items():
            pairs = {p for members in cl.values() for p in combinations(members, 2)}
            tp = len(pairs & positives)
            to_rep = [jac(min(r, m), max(r, m)) for r, members in cl.items() for m in members if m != r]
            below = sum(1 for j in to_rep if j < t)
            print(f"{name:<20} {len(cl):>8,} {len(to_rep):>9,} {below:>14,} {min(to_rep, default=1):>12.3f} "
                  f"{len(pairs):>13,} {tp / max(1, len(pairs)):>7.3f} {tp / max(1, len(positives)):>7.3f} {secs:>8.2f}")
            extra = {k: s[k] for k in ("candidate_pairs", "verified_pairs", "exact_checked_pairs", "split_off", "split_rounds") if k in s}
            print(f"{'':<20} {extra}")
            # by the chains' step: chains that stay above t end to end, and those that cross it
            for step in STEPS:
                fams = {f for f, (_, st) in enumerate(chain_steps) if st == step}
                mine = lambda p: docs[p[0]][0] in fams and docs[p[1]][0] in fams  # noqa: E731
                sp = {p for p in pairs if mine(p)}
                spos = {p for p in positives if mine(p)}
                last = np.mean([truth[(f * per, f * per + per - 1)] for f in fams]) if fams else 0
                print(f"{'':<4} step {step:<6} {len(fams):>4} chains (page to last variant J {last:.2f}): "
                      f"pair P {len(sp & spos) / max(1, len(sp)):.3f} R {len(sp & spos) / max(1, len(spos)):.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
