"""Clusters that hold together (provenance.dedup.cluster) on edited real pages: the previous dedup.py (from
git) and the current one in the same run.

    python bench/bench_dedup.py                   # both corpora below, 887 real C4 pages (~1 minute)
    python bench/bench_dedup.py --corpus chains --chain 8 --before <git rev>

Corpora, from each real C4 page (../shared/data/web_text/c4) of at least ``--min-words`` words:
- copies: the page and 1-6 edited copies, each an edit of the page (or, one time in five, of an earlier
  copy) with a fraction of its words edited drawn uniformly from [0, 3%] (replaced by a corpus word,
  deleted or inserted, equally likely): exact Jaccard to the source from 1.0 down to ~0.74, so some copies
  fall below the threshold and must stand alone;
- chains: the page and ``--chain`` variants, each the previous one with a further fraction of its words
  edited; the step is drawn per chain from STEPS, so some chains stay above the threshold end to end and
  some cross it.
The documents are shuffled into 4 JSON Lines shards under random URLs, scanned into a real ledger, and
clustered by both versions of ``cluster``.

Truth: the exact Jaccard of word 5-grams (the signatures' shingles) of every pair inside a family, and of
every pair of documents from different families that either version puts in one cluster (other pairs are
taken to be below the threshold: distinct C4 pages). Reported per version:
- pair P / R: pairs in one cluster whose exact J >= t, over all pairs in one cluster / over all pairs with
  exact J >= t. Near-duplication is not transitive (two copies 0.88 from their page are ~0.78 from each
  other), so no partition reaches 1 / 1: the best partition of each family (brute force, the ceiling of any
  clustering) is printed with them;
- drop P / R, what dedup does with the clusters (keep the representative, drop the rest): the members whose
  exact J to their representative reaches t, over the members / over the most documents that can go, each
  with a kept document at J >= t (each family's size less its domination number, brute force);
- redundant documents, how many are below t to their representative, the lowest J to a representative,
  and the seconds each took (a ratio in this run; nothing asserts a time).
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


def build_copies(pages: list[str], seed: int, max_copies: int = 6, max_frac: float = 0.03, of_copy: float = 0.2):
    """Pages and their edited copies as they spread: each page gets 1..max_copies copies, each one an edit
    of the page (or, with probability ``of_copy``, of an earlier copy) with a fraction of its words edited
    drawn uniformly from [0, max_frac] (exact Jaccard to its source from 1.0 down to ~0.74: some copies
    fall below the threshold and must stand alone)."""
    rng = np.random.default_rng(seed)
    pool = [w for t in pages[:50] for w in t.split()][:20000]
    docs = []  # (family, index in the family, text, fraction)
    for f, page in enumerate(pages):
        fam = [page]
        docs.append((f, 0, page, 0.0))
        for i in range(1, 1 + int(rng.integers(1, max_copies + 1))):
            src = fam[int(rng.integers(1, len(fam)))] if len(fam) > 1 and rng.random() < of_copy else fam[0]
            frac = float(rng.uniform(0, max_frac))
            fam.append(make_variant(src, frac, rng, pool))
            docs.append((f, i, fam[-1], frac))
    return docs


def set_partitions(items: list[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]
        yield [[first]] + part


def best_partition(members: list[int], truth: dict) -> tuple[int, int]:
    """(true pairs, pairs) of the partition of one family with the best F1 against its true pairs (ties:
    the more precise): the ceiling any clustering can reach on it (families of up to 8 documents)."""
    pos = sum(1 for a, b in combinations(members, 2) if truth[(a, b)])
    if pos == 0 or len(members) > 8:
        return 0, 0
    best = (-1.0, 0.0, 0, 0)
    for part in set_partitions(members):
        pairs = tp = 0
        for block in part:
            for a, b in combinations(sorted(block), 2):
                pairs += 1
                tp += truth[(a, b)]
        f1 = 2 * tp / (pairs + pos)
        prec = tp / pairs if pairs else 1.0
        if (f1, prec) > best[:2]:
            best = (f1, prec, tp, pairs)
    return best[2], best[3]


def most_removable(members: list[int], truth: dict) -> int:
    """How many documents of one family can go at most, each with a kept document at J >= t: the family's
    size less its domination number (brute force, families of up to 12 documents)."""
    n = len(members)
    near = {a: {a} for a in members}
    for (a, b), ok in truth.items():
        if ok:
            near[a].add(b)
            near[b].add(a)
    for k in range(1, n + 1):
        for kept in combinations(members, k):
            if set().union(*(near[x] for x in kept)) >= set(members):
                return n - k
    return 0


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


def run_corpus(kind: str, docs, pages, args, before) -> None:
    from provenance.dedup import cluster
    from provenance.ledger import Ledger
    from provenance.runs import scan_corpus

    t = args.threshold
    sets = [frozenset(mh.shingles(d[2])) for d in docs]

    def jac(a, b):
        return len(sets[a] & sets[b]) / len(sets[a] | sets[b]) if sets[a] and sets[b] else 0.0

    fam_members: dict[int, list[int]] = {}
    for i, d in enumerate(docs):
        fam_members.setdefault(d[0], []).append(i)
    truth = {}
    for members in fam_members.values():
        for a, b in combinations(members, 2):
            truth[(a, b)] = jac(a, b)
    js = np.array(list(truth.values()))
    print(f"\n== {kind}: {len(pages)} real C4 pages (>= {args.min_words} words) -> {len(docs)} documents; "
          f"{len(truth)} in-family pairs, {int((js >= t).sum())} with exact J >= {t}")
    if kind == "chains":
        print(f"   chains whose last variant is below {t} to the page: "
              f"{sum(1 for m in fam_members.values() if truth[(m[0], m[-1])] < t)}")
    else:
        alone = sum(1 for m in fam_members.values() for x in m[1:] if all(truth[tuple(sorted((x, y)))] < t for y in m if y != x))
        print(f"   copies with no other family member at J >= {t} (must stand alone): {alone}")
    ceil_tp = ceil_pairs = removable = 0
    for members in fam_members.values():
        ft = {k: v >= t for k, v in truth.items() if k[0] in members}
        tp, pairs = best_partition(members, ft)
        ceil_tp += tp
        ceil_pairs += pairs
        removable += most_removable(members, ft)

    tmp = Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    try:
        files, urls = write_shards(docs, tmp, 4, args.seed)
        ledger = str(tmp / "docs.duckdb")
        scan_corpus(files, ledger=ledger, quiet=True)
        before_ledger = str(tmp / "before.duckdb")
        results = {}
        for name, fn, path in (("before (" + args.before[:8] + ")", before.cluster, before_ledger), ("after", cluster, ledger)):
            if path == before_ledger:
                shutil.copy(ledger, before_ledger)
                with Ledger(before_ledger) as led:  # the previous version writes the previous columns
                    if args.before == BEFORE:
                        for col in ("similarity", "similarity_by"):
                            led.con.execute(f"ALTER TABLE document_duplicates DROP COLUMN IF EXISTS {col}")
                        for col in ("split_off", "split_rounds"):
                            led.con.execute(f"ALTER TABLE dedup_runs DROP COLUMN IF EXISTS {col}")
            with Ledger(path) as led:
                t0 = time.perf_counter()
                s = fn(led, threshold=t)
                secs = time.perf_counter() - t0
            results[name] = (clusters_of(path, urls), s, secs)
        # cross-family pairs either version put together
        for cl, _, _ in results.values():
            for members in cl.values():
                for a, b in combinations(members, 2):
                    if (a, b) not in truth:
                        truth[(a, b)] = jac(a, b)
        positives = {p for p, j in truth.items() if j >= t}
        print(f"   threshold {t}: {len(positives)} true pairs (exact J >= {t}); best partition of each family "
              f"(the ceiling of any clustering): pair P {ceil_tp / max(1, ceil_pairs):.3f} R {ceil_tp / max(1, len(positives)):.3f}; "
              f"at most {removable:,} documents can go with a kept near-duplicate at J >= {t}")
        print(f"   {'version':<20} {'clusters':>8} {'redundant':>9} {'below t to rep':>14} {'min J to rep':>12} "
              f"{'cluster pairs':>13} {'pair P':>7} {'pair R':>7} {'drop P':>7} {'drop R':>7} {'seconds':>8}")
        for name, (cl, s, secs) in results.items():
            pairs = {p for members in cl.values() for p in combinations(members, 2)}
            tp = len(pairs & positives)
            to_rep = [jac(min(r, m), max(r, m)) for r, members in cl.items() for m in members if m != r]
            below = sum(1 for j in to_rep if j < t)
            print(f"   {name:<20} {len(cl):>8,} {len(to_rep):>9,} {below:>14,} {min(to_rep, default=1):>12.3f} "
                  f"{len(pairs):>13,} {tp / max(1, len(pairs)):>7.3f} {tp / max(1, len(positives)):>7.3f} "
                  f"{(len(to_rep) - below) / max(1, len(to_rep)):>7.3f} {(len(to_rep) - below) / max(1, removable):>7.3f} {secs:>8.2f}")
            extra = {k: s[k] for k in ("candidate_pairs", "verified_pairs", "exact_checked_pairs", "split_off", "split_rounds") if k in s}
            print(f"   {'':<20} {extra}")
            if kind != "chains":
                continue
            # by the chains' step: chains that stay above t end to end, and those that cross it
            for step in STEPS:
                fams = {f for f, m in fam_members.items() if docs[m[0]][3] == step}
                mine = lambda p: docs[p[0]][0] in fams and docs[p[1]][0] in fams  # noqa: E731
                sp = {p for p in pairs if mine(p)}
                spos = {p for p in positives if mine(p)}
                last = np.mean([truth[(fam_members[f][0], fam_members[f][-1])] for f in fams]) if fams else 0
                print(f"       step {step:<6} {len(fams):>4} chains (page to last variant J {last:.2f}): "
                      f"pair P {len(sp & spos) / max(1, len(sp)):.3f} R {len(sp & spos) / max(1, len(spos)):.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--corpus", choices=("copies", "chains", "both"), default="both")
    ap.add_argument("--chain", type=int, default=5, help="variants per page, each an edit of the previous one")
    ap.add_argument("--min-words", type=int, default=50)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--before", default=BEFORE, help="git revision of the dedup.py to compare with")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not C4.exists():
        print(f"C4 sample absent ({C4}): nothing to measure")
        return
    pages = [p for p in load_c4() if len(p.split()) >= args.min_words][: args.pages]
    before = load_before(args.before)
    if args.corpus in ("copies", "both"):
        run_corpus("copies", build_copies(pages, args.seed), pages, args, before)
    if args.corpus in ("chains", "both"):
        run_corpus("chains", build_chains(pages, args.chain, args.seed), pages, args, before)


if __name__ == "__main__":
    main()
