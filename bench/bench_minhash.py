"""Quality and speed of batch MinHash signatures (provenance.minhash).

    python bench/bench_minhash.py                 # all measures (~1-2 minutes)
    python bench/bench_minhash.py --docs 5000     # smaller speed corpus
    python bench/bench_minhash.py --skip-speed    # quality only

Quality: near-duplicate pairs at known similarities. For each base document (real C4 text from
../shared/data/web_text/c4, and the generated corpus) we make variants with a controlled fraction of
words edited (each edit a replacement by a random corpus word, a deletion or an insertion, equally
likely) and compute the exact Jaccard of the 5-word shingle sets for every pair inside a family.
All families go into one pool; candidates = pairs sharing at least one band (b, r from ``lsh_params``
for the threshold). Ground truth: in-family pairs with exact J >= t, plus any cross-family candidate
whose exact J >= t (cross-family pairs that are not candidates are assumed < t; for t >= 0.5 that is
safe unless the base documents themselves are near duplicates). Reported: raw LSH precision/recall,
and after verifying candidates with the signature estimate (estimate >= t, and >= t - 0.05).

Speed: texts -> signatures, one core, documents from the generated corpus (~3.5 KB each): ours
(affine32 and legacy schemes) vs datasketch ``MinHash.update_batch`` with its default sha1 hashfunc on
pre-encoded shingles (shingling not timed for datasketch) vs numpy-vectorised permutations over the
whole batch (shingle hashes precomputed, not timed) vs datatrove's MinhashDedupSignature (writes its bucket
files too, as in a real run; spaCy's tokenizer loaded before timing). datatrove's stage needs spaCy, HF
``tokenizers`` and ``xxhash<4``: ``pip install -e '.[bench]'`` brings them; without them it is skipped.
Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of  # noqa: E402

from provenance import minhash as mh  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROVENANCE_SHARED_DATA", REPO.parent / "shared" / "data"))
C4 = SHARED / "web_text" / "c4" / "c4-sample.00000-of-00001.json.gz"
EDIT_FRACTIONS = (0.0, 0.003, 0.006, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08, 0.12, 0.2)
THRESHOLDS = (0.5, 0.7, 0.8, 0.9)


def load_c4(path: Path = C4) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def load_generated(docs: int, out: Path | None = None) -> list[str]:
    from provenance.sample import generate

    out = Path(out or tempfile.mkdtemp(prefix="bench-minhash-"))
    if not list(out.glob("*.parquet")):
        generate(out, docs=docs, shards=1, seed=3, formats=("parquet",))
    return pq.read_table(sorted(out.glob("*.parquet"))[0], columns=["text"]).column("text").to_pylist()


def make_variant(text: str, frac: float, rng: np.random.Generator, pool: list[str]) -> str:
    """``text`` with round(frac * words) edits at random positions: replace / delete / insert."""
    words = text.split()
    k = int(round(frac * len(words)))
    if k == 0:
        return " ".join(words)
    pos = set(rng.choice(len(words), size=min(k, len(words)), replace=False).tolist())
    ops = rng.integers(0, 3, size=len(words))
    out = []
    for i, w in enumerate(words):
        if i not in pos:
            out.append(w)
        elif ops[i] == 0:
            out.append(pool[int(rng.integers(len(pool)))])
        elif ops[i] == 2:
            out.append(w)
            out.append(pool[int(rng.integers(len(pool)))])
        # ops == 1: deletion
    return " ".join(out)


def build_families(bases: list[str], seed: int = 0, fractions=EDIT_FRACTIONS):
    """(texts, family id per text, in-family pairs (i, j, exact J))."""
    rng = np.random.default_rng(seed)
    pool = [w for t in bases[:50] for w in t.split()][:20000]
    texts, fam = [], []
    for f_id, base in enumerate(bases):
        for frac in fractions:
            texts.append(base if frac == 0.0 else make_variant(base, frac, rng, pool))
            fam.append(f_id)
    sets = [set(mh.shingles(t)) for t in texts]
    pairs = []
    per = len(fractions)
    for f_id in range(len(bases)):
        idx = range(f_id * per, (f_id + 1) * per)
        for a in idx:
            for b in idx:
                if a < b:
                    pairs.append((a, b, len(sets[a] & sets[b]) / len(sets[a] | sets[b])))
    return texts, np.array(fam), pairs, sets


def evaluate(texts, fam, pairs, sets, thresholds=THRESHOLDS, num_perm=128, scheme="affine32"):
    """One dict per threshold: b, r, candidates, positives, precision/recall raw and verified."""
    sigs = mh.signatures(pa.array(texts), num_perm=num_perm, scheme=scheme)
    known = {(a, b): j for a, b, j in pairs}
    rows = []
    for t in thresholds:
        b, r = mh.lsh_params(t, num_perm)
        cand = mh.candidate_pairs(mh.band_hashes(sigs, b, r))
        cj = []
        for a, c in cand.tolist():
            j = known.get((a, c))
            if j is None:  # cross-family candidate: exact J
                j = len(sets[a] & sets[c]) / max(1, len(sets[a] | sets[c]))
            cj.append(j)
        cj = np.array(cj)
        cand_set = {(a, c) for a, c in cand.tolist()}
        pos = {p for p, j in known.items() if j >= t} | {tuple(p) for p, j in zip(cand.tolist(), cj) if j >= t}
        est = mh.estimate(sigs[cand[:, 0]], sigs[cand[:, 1]]) if len(cand) else np.zeros(0)
        row = {"t": t, "b": b, "r": r, "pairs": len(known), "cand": len(cand), "pos": len(pos)}
        for name, keep in (("raw", np.ones(len(cand), bool)), ("est>=t", est >= t), ("est>=t-.05", est >= t - 0.05)):
            tp = int(np.count_nonzero(keep & (cj >= t)))
            kept = int(np.count_nonzero(keep))
            row[name] = (tp / kept if kept else 1.0, tp / len(pos) if pos else 1.0)
        # what `provenance dedup` does (provenance.dedup.cluster defaults): recall-weighted bands
        # (false_negative_weight 0.9); candidates with estimate >= t + 0.06 kept, those within 0.06 of t
        # settled on the exact Jaccard of their texts
        b9, r9 = mh.lsh_params(t, num_perm, 0.1, 0.9)
        cand9 = mh.candidate_pairs(mh.band_hashes(sigs, b9, r9))
        cj9 = np.array([known.get((a, c)) if (a, c) in known else
                        len(sets[a] & sets[c]) / max(1, len(sets[a] | sets[c])) for a, c in cand9.tolist()])
        est9 = mh.estimate(sigs[cand9[:, 0]], sigs[cand9[:, 1]]) if len(cand9) else np.zeros(0)
        keep9 = (est9 >= t + 0.06) | ((np.abs(est9 - t) < 0.06) & (cj9 >= t)) if len(cand9) else np.zeros(0, bool)
        pos9 = {p for p, j in known.items() if j >= t} | {tuple(p) for p, j in zip(cand9.tolist(), cj9) if j >= t}
        tp9 = int(np.count_nonzero(keep9 & (cj9 >= t))) if len(cand9) else 0
        row["dedup"] = (b9, r9, tp9 / max(1, int(keep9.sum())), tp9 / len(pos9) if pos9 else 1.0)
        # recall of pairs clearly above the threshold (J >= t + 0.05)
        hi = {p for p in pos if known.get(p, 1.0) >= t + 0.05}
        row["recall(J>=t+.05)"] = len(hi & cand_set) / len(hi) if hi else 1.0
        rows.append(row)
    return rows


def print_quality(title, rows, pairs):
    js = np.array([j for _, _, j in pairs])
    hist = np.histogram(js, bins=[0, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0 + 1e-9])[0]
    print(f"\n## {title}: {len(pairs)} in-family pairs; exact J histogram "
          f"[0,.3)={hist[0]} [.3,.5)={hist[1]} [.5,.7)={hist[2]} [.7,.8)={hist[3]} [.8,.9)={hist[4]} [.9,1]={hist[5]}")
    print(f"{'t':>4} {'b':>3} {'r':>3} {'cand':>6} {'pos':>6} | {'raw P':>6} {'raw R':>6} | "
          f"{'est>=t P':>8} {'R':>6} | {'est>=t-.05 P':>12} {'R':>6} | {'raw R(J>=t+.05)':>15}")
    for r in rows:
        print(f"{r['t']:>4} {r['b']:>3} {r['r']:>3} {r['cand']:>6} {r['pos']:>6} | {r['raw'][0]:6.3f} {r['raw'][1]:6.3f} | "
              f"{r['est>=t'][0]:8.3f} {r['est>=t'][1]:6.3f} | {r['est>=t-.05'][0]:12.3f} {r['est>=t-.05'][1]:6.3f} | "
              f"{r['recall(J>=t+.05)']:15.3f} | {str(r['dedup'][0]) + 'x' + str(r['dedup'][1]):>9} {r['dedup'][2]:6.3f} {r['dedup'][3]:6.3f}")


def quality(gen_texts: list[str], n_bases: int):
    sources = []
    if C4.exists():
        c4 = [t for t in load_c4() if len(t.split()) >= 150][:n_bases]
        sources.append(("C4 (real)", c4))
    else:
        print(f"C4 sample absent ({C4}): real-text quality skipped")
    sources.append(("generated corpus", [t for t in gen_texts if len(t.split()) >= 150][:n_bases]))
    for name, bases in sources:
        texts, fam, pairs, sets = build_families(bases)
        rows = evaluate(texts, fam, pairs, sets)
        print_quality(f"{name}, {len(bases)} bases x {len(EDIT_FRACTIONS)} variants (edit fractions "
                      f"{', '.join(str(f) for f in EDIT_FRACTIONS)})", rows, pairs)


def numpy_minhash(hashes: list[np.ndarray], num_perm=128, seed=1, chunk=200_000):
    """Legacy-scheme MinHash of a whole batch in numpy: concatenated shingle hashes, one (S, P) block
    at a time, np.minimum.reduceat per document."""
    a, b = mh.permutations(num_perm, seed, "legacy")
    lens = np.array([len(h) for h in hashes])
    allh = np.concatenate(hashes).astype(np.uint64)
    out = np.full((len(hashes), num_perm), mh.MAX_HASH, np.uint64)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    p = np.uint64(mh.MERSENNE_PRIME)
    m = np.uint64(mh.MAX_HASH)
    doc = 0
    while doc < len(hashes):
        end = doc
        while end < len(hashes) and (starts[end] + lens[end] - starts[doc]) <= chunk:
            end += 1
        end = max(end, doc + 1)
        s0, s1 = starts[doc], starts[end - 1] + lens[end - 1]
        phv = ((allh[s0:s1, None] * a + b) % p) & m
        sel = [k for k in range(doc, end) if lens[k] > 0]
        if sel:
            out[sel] = np.minimum.reduceat(phv, starts[sel] - s0, axis=0)
        doc = end
    return out


def speed(texts: list[str]):
    n = len(texts)
    arr = pa.array(texts, pa.string())
    mb = arr.nbytes / 1e6
    print(f"\n## speed, one core: {n} docs, {mb / n * 1000:.2f} KB/doc, 128 perms, 5-word shingles")
    res = []
    for scheme in ("affine32", "legacy"):
        mh.signatures(arr[:10], scheme=scheme)  # compile / load cache
        t = best_of(lambda: mh.signatures(arr, scheme=scheme))
        res.append((f"provenance.minhash.signatures scheme={scheme}", n / t))
    # datasketch: default sha1_hash32 on encoded shingles (shingles built beforehand, not timed)
    from datasketch import MinHash

    m = min(n, 1000)
    shs = [mh.shingles(x) for x in texts[:m]]

    def ds():
        for s in shs:
            h = MinHash(num_perm=128, seed=1)
            h.update_batch(s)

    t = best_of(ds, repeat=1)
    res.append(("datasketch MinHash.update_batch, sha1 (affine32 default)", m / t))
    hashes = [mh.shingle_hashes(x) for x in texts]
    t = best_of(lambda: numpy_minhash(hashes), repeat=1)
    res.append(("numpy legacy permutations, whole batch (hashes given)", n / t))
    assert (numpy_minhash(hashes[:50]) == mh.signatures(arr[:50], scheme="legacy")).all()
    try:
        res.append(datatrove_speed(texts[: min(n, 300)]))
    except Exception as e:  # noqa: BLE001
        print(f"datatrove MinhashDedupSignature skipped: {type(e).__name__}: {e}")
    base = res[0][1]
    print(f"{'implementation':<62} {'docs/s':>10} {'ours affine32 x':>16}")
    for name, dps in res:
        print(f"{name:<62} {dps:>10,.0f} {base / dps:>16.1f}")


def datatrove_speed(texts):
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    MinhashDedupSignature(output_folder=tempfile.mkdtemp(prefix="dt-warm-"), config=MinhashConfig()).run(
        iter([Document(text=t, id=str(i)) for i, t in enumerate(texts[:20])]), rank=0, world_size=1
    )  # loads spaCy's tokenizer once, outside the timing
    out = tempfile.mkdtemp(prefix="dt-minhash-")
    step = MinhashDedupSignature(output_folder=out, config=MinhashConfig())
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    step.run(iter(docs), rank=0, world_size=1)
    return ("datatrove MinhashDedupSignature", len(texts) / (time.perf_counter() - t0))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20000, help="generated documents for the speed test")
    ap.add_argument("--bases", type=int, default=150, help="base documents per quality source")
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args(argv)
    gen = load_generated(max(args.docs, args.bases * 2))
    quality(gen, args.bases)
    if not args.skip_speed:
        speed(gen[: args.docs])


if __name__ == "__main__":
    main()
