"""Code reference index (provenance.codeindex): build cost, matching speed, quality on constructed cases.

    python bench/bench_codeindex.py             # ~1 minute
    python bench/bench_codeindex.py --cases 300 --copies 5

1. Build: index of all 602 source files of licensed_source_files.jsonl.gz, and of the four "indexed"
   repositories the quality cases use (htop, curl, requests, cJSON); time, files, tokens, fingerprints, bytes.
2. Matching speed, one core: the 1000 C4 pages (replicated ``--copies`` times) as they are, and with a
   lightly edited function pasted into every page.
3. Quality: ``--cases`` positives (a lightly edited 80+ token function of an indexed file pasted into a
   random C4 page) and as many negatives (a function of libusb / google-robotstxt, never indexed, pasted
   the same way; plus the plain pages). Recall = right reference reported; precision over all reported
   (doc, ref) pairs; span accuracy = IoU of the reported [start, end) with the pasted snippet.

Everything is measured in this run; nothing asserts a time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))  # the case construction helpers live with the tests
SHARED = Path(os.environ.get("PROVENANCE_SHARED_DATA", REPO.parent / "shared" / "data"))
FILES = SHARED / "licenses_code" / "licensed_source_files.jsonl.gz"
C4 = SHARED / "web_text" / "c4" / "c4-sample.00000-of-00001.json.gz"

from provenance.codeindex import build_index, load_index, tokenize  # noqa: E402
from test_codeindex import _indexed, embed, functions, light_edit  # noqa: E402


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.iterdir())


def make_cases(recs, pages, n, rng, edit=True):
    out = []
    pool = list(recs)
    while len(out) < n and pool:
        r = rng.choice(pool)
        fs = [f for f in functions(r["content"], r["language"]) if len(tokenize(pa.array([f]))[0]) >= 80]
        if not fs:
            pool.remove(r)
            continue
        f = rng.choice(fs)
        sn = light_edit(f, r["language"], rng) if edit else f
        text, s, e = embed(rng.choice(pages), sn, rng)
        out.append({"ref": f"{r['repo']}/{r['path']}", "text": text, "start": s, "end": e})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--copies", type=int, default=5)
    args = ap.parse_args()
    if not FILES.exists() or not C4.exists():
        print(f"needs {FILES} and {C4}")
        return
    recs = [json.loads(l) for l in gzip.open(FILES, "rt", encoding="utf-8")]
    src = [r for r in recs if r["kind"] == "source"]
    pages = [json.loads(l)["text"] for l in gzip.open(C4, "rt", encoding="utf-8")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-codeindex-"))
    # warm the compiled kernels (numba cache) so build timings do not include compilation
    tokenize(pa.array(["int x = 0;"]))

    print("== 1. build")
    part = tmp / "part.jsonl.gz"
    with gzip.open(part, "wt", encoding="utf-8") as fh:
        for r in src:
            if _indexed(r):
                fh.write(json.dumps(r) + "\n")
    for label, source in (("all 6 repos", FILES), ("4 indexed repos", part)):
        out = tmp / label.replace(" ", "_")
        t = time.perf_counter()
        meta = build_index([str(source)], out, name=label)
        dt = time.perf_counter() - t
        print(f"{label:16s} files={meta['refs']:4d} MB={meta['bytes'] / 1e6:5.2f} tokens={meta['tokens']:8d} "
              f"fingerprints={meta['fingerprints']:7d} (dropped common {meta['dropped_common_fingerprints']}) "
              f"build={dt:5.2f}s ({meta['bytes'] / 1e6 / dt:5.2f} MB/s) index size={dir_size(out) / 1e6:5.2f} MB "
              f"({dir_size(out) / meta['bytes']:.2f} x source)")
    t = time.perf_counter()
    idx = load_index(tmp / "4_indexed_repos")
    print(f"load: {time.perf_counter() - t:.3f}s")

    print("== 2. matching speed (one core)")
    rng = random.Random(3)
    plain = pa.array(pages * args.copies, pa.large_string())
    pos_texts = [c["text"] for c in make_cases([r for r in src if _indexed(r)], pages, len(pages), rng)]
    with_snip = pa.array(pos_texts * args.copies, pa.large_string())
    for label, arr in (("C4 pages", plain), ("C4 + snippet each", with_snip)):
        idx.match_batch(arr.slice(0, 50))
        best = 1e9
        for _ in range(3):
            t = time.perf_counter()
            res = idx.match_batch(arr)
            best = min(best, time.perf_counter() - t)
        mb = sum(len(x.encode()) for x in arr.to_pylist()) / 1e6
        flagged = sum(1 for r in res.to_pylist() if r)
        print(f"{label:18s} docs={len(arr):6d} MB={mb:6.2f} time={best:.3f}s -> {len(arr) / best:9.0f} docs/s "
              f"{mb / best:6.1f} MB/s; docs with a match: {flagged}")

    print("== 3. quality")
    rng = random.Random(17)
    for edit in (True, False):
        pos = make_cases([r for r in src if _indexed(r)], pages, args.cases, rng, edit=edit)
        neg = make_cases([r for r in src if not _indexed(r)], pages, args.cases, rng, edit=edit)
        texts = [c["text"] for c in pos + neg] + pages
        res = idx.match_batch(pa.array(texts, pa.large_string())).to_pylist()
        tp = fn = 0
        reported = correct = 0
        ious, conts = [], []
        for i, row in enumerate(res):
            case = (pos + neg)[i] if i < len(pos) + len(neg) else None
            is_pos = i < len(pos)
            for m in row:
                reported += 1
                if is_pos and m["ref"] == case["ref"]:
                    correct += 1
            if is_pos:
                hit = [m for m in row if m["ref"] == case["ref"]]
                if hit:
                    tp += 1
                    m = hit[0]
                    inter = max(0, min(m["end"], case["end"]) - max(m["start"], case["start"]))
                    ious.append(inter / (max(m["end"], case["end"]) - min(m["start"], case["start"])))
                    conts.append(m["containment"])
                else:
                    fn += 1
        neg_flag = sum(1 for row in res[len(pos) : len(pos) + len(neg)] if row)
        page_flag = sum(1 for row in res[len(pos) + len(neg) :] if row)
        print(f"{'edited' if edit else 'verbatim':8s} positives={len(pos)} recall={tp / max(len(pos), 1):.3f} "
              f"pair precision={correct / max(reported, 1):.3f} ({reported - correct} other pairs, incl. real shared code) "
              f"| negatives={len(neg)} flagged={neg_flag} | plain pages={len(pages)} flagged={page_flag}")
        if ious:
            print(f"         span IoU median={np.median(ious):.3f} p10={np.percentile(ious, 10):.3f}; "
                  f"containment median={np.median(conts):.3f} p10={np.percentile(conts, 10):.3f}")


if __name__ == "__main__":
    main()
