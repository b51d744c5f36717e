"""Code reference index (provenance.codeindex): build cost, matching speed, quality on constructed cases.

    python bench/bench_codeindex.py             # ~1 minute
    python bench/bench_codeindex.py --cases 300 --copies 5
    python bench/bench_codeindex.py --layouts-only --repos /work/.mirror/madler+zlib/repo \
        /work/.mirror/pallets+itsdangerous/repo /work/.mirror/jashkenas+underscore/repo

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
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

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


# --------------------------------------------------------------------------------------------------
# 4. Code in Markdown-ish page text: layouts, line numbers, numeric tables; against the previous code


def _source_folder(path: str, tmp: Path) -> Path:
    """A folder of files; a bare git directory (a fetched mirror) is exported (HEAD) into ``tmp`` first."""
    p = Path(path)
    if (p / "HEAD").is_file() and (p / "objects").is_dir():
        out = tmp / p.parent.name.replace("+", "__")
        out.mkdir(parents=True, exist_ok=True)
        import subprocess

        arch = subprocess.run(["git", f"--git-dir={p}", "archive", "HEAD"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=arch, check=True)
        return out
    return p


def _anchor_module(rev: str, tmp: Path):
    """The code index module as of ``rev`` (the previous code), importable next to the current one."""
    import importlib.util
    import subprocess

    src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:src/provenance/codeindex.py"], check=True,
                         capture_output=True, text=True).stdout
    src = src.replace("from .", "from provenance.")
    f = tmp / "codeindex_anchor.py"
    f.write_text(src)
    spec = importlib.util.spec_from_file_location("codeindex_anchor", f)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["codeindex_anchor"] = mod
    spec.loader.exec_module(mod)
    return mod


_BLOCKS = re.compile(r'/\*.*?\*/|"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'', re.S)


def _snippets(folders, rng, n, mod):
    """Windows of 6-40 whole lines of indexed code files (not cut inside a block comment or docstring) with 50..400 tokens (current tokenizer) that are code:
    at least a quarter of the tokens are words (numeric tables are not what this looks for)."""
    from provenance.codeindex import CODE_EXTENSIONS, TOK_ID, KW_BASE

    files = []
    for folder in folders:
        for f in sorted(x for x in folder.rglob("*") if x.is_file()):
            if f.suffix.lstrip(".").lower() in CODE_EXTENSIONS and not f.name.endswith((".min.js", "-min.js")):
                try:
                    files.append((f"{folder.name}/{f.relative_to(folder).as_posix()}", f.read_text("utf-8")))
                except UnicodeDecodeError:
                    pass
    out, tables, tries = [], 0, 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        name, text = rng.choice(files)
        lines = text.split("\n")
        if len(lines) < 8:
            continue
        a = rng.randrange(0, len(lines) - 6)
        b = min(len(lines), a + rng.randint(6, 40))
        # whole lines that neither start nor end inside a block comment / docstring (a copied snippet is code)
        ca = sum(len(x) + 1 for x in lines[:a])
        cb = ca + sum(len(x) + 1 for x in lines[a:b]) - 1
        if any(m.start() < ca < m.end() or m.start() < cb < m.end() for m in _BLOCKS.finditer(text)):
            continue
        sn = "\n".join(lines[a:b]).strip("\n")
        if len(sn) > 4000 or "```" in sn or "~~~" in sn:
            continue
        tok = tokenize(pa.array([sn]))[0]
        if not 50 <= len(tok) <= 400:
            continue
        if ((tok == TOK_ID) | (tok >= KW_BASE)).mean() < 0.25:
            tables += 1
            continue
        out.append((name, sn))
    return out, tables, files


def _numbered(sn: str, rng) -> str:
    n0 = rng.randint(1, 900)
    style = rng.choice(["{n}. ", "{n:>4} | ", "  {n}  ", "{n}\t", "{n}: "])
    return "\n".join(style.format(n=n0 + i) + ln for i, ln in enumerate(sn.split("\n")))


LAYOUTS = ("plain", "fence+lang", "fence", "tilde fence", "inline/stray backtick", "line-numbered")


def _layout(kind: str, sn: str, lang: str, rng) -> tuple[str, str, str]:
    """(before, snippet as pasted, after) for one layout."""
    if kind == "plain":
        return "", sn, ""
    if kind == "fence+lang":
        return f"```{lang}\n", sn, "\n```"
    if kind == "fence":
        return "```\n", sn, "\n```"
    if kind == "tilde fence":
        return f"~~~{rng.choice(['', ' ' + lang])}\n", sn, "\n~~~"
    if kind == "inline/stray backtick":
        word = rng.choice(re.findall(r"[A-Za-z_]\w{2,}", sn) or ["foo"])
        pre = rng.choice([f"This doesn`t work unless `{word}` is set:\n", f"I can`t get it to build, here is my code:\n",
                          f"Call `{word}()` first, then:\n"])
        return pre, sn, ""
    if kind == "line-numbered":
        return "", _numbered(sn, rng), ""
    raise ValueError(kind)


_LANG = {"c": "c", "h": "c", "py": "python", "js": "javascript", "cjs": "js", "mjs": "js"}


def layouts(args, pages, tmp):
    import re as _re  # noqa: F401

    folders = [_source_folder(p, tmp / "src") for p in args.repos]
    from provenance import codeindex as cur

    old = _anchor_module(args.anchor, tmp)
    tokenize(pa.array(["int x;"]))
    old.tokenize(pa.array(["int x;"]))
    idx = {}
    for label, mod in (("previous", old), ("current", cur)):
        t = time.perf_counter()
        meta = mod.build_index([str(f) for f in folders], tmp / f"layout-{label}", name=label)
        dt = time.perf_counter() - t
        refs = pq.read_table(tmp / f"layout-{label}" / "refs.parquet", columns=["name", "license"]).to_pylist()
        lic = sum(1 for r in refs if r["license"])
        print(f"{label:8s} index of {', '.join(f.name for f in folders)}: files={meta['refs']} tokens={meta['tokens']} "
              f"fingerprints={meta['fingerprints']} build={dt:.2f}s; files with a license: {lic}/{len(refs)}")
        idx[label] = mod.load_index(tmp / f"layout-{label}")
    rng = random.Random(args.seed)
    snips, tables, files = _snippets(folders, rng, args.snippets, cur)
    texts_by_name = dict(files)
    print(f"snippets: {len(snips)} windows of 6-40 lines, 50-400 tokens ({tables} numeric-table windows skipped)")
    cases = {k: [] for k in LAYOUTS}
    for name, sn in snips:
        lang = _LANG.get(name.rsplit(".", 1)[-1], "")
        for kind in LAYOUTS:
            pre, body, post = _layout(kind, sn, lang, rng)
            page = rng.choice(pages)
            cuts = [0] + [m.end() for m in re.finditer(r"\n", page)] + [len(page)]
            pos = rng.choice(cuts)
            head = page[:pos] + ("\n" if pos and not page[:pos].endswith("\n") else "")
            text = head + pre + body + post + "\n" + page[pos:]
            s = len(head) + len(pre)
            cases[kind].append({"ref": name, "snippet": sn, "text": text, "start": s, "end": s + len(body)})

    def found(case, row):
        for m in row:
            if m["end"] <= case["start"] or m["start"] >= case["end"]:
                continue
            ref = m["ref"]
            if ref == case["ref"] or case["snippet"] in texts_by_name.get(ref, ""):
                return True
        return False

    print(f"{'layout':24s} {'previous':>10s} {'current':>10s}   (recall: right file reported over the snippet)")
    for kind in LAYOUTS:
        arr = pa.array([c["text"] for c in cases[kind]], pa.large_string())
        r = {}
        for label in ("previous", "current"):
            res = idx[label].match_batch(arr).to_pylist()
            r[label] = sum(found(c, row) for c, row in zip(cases[kind], res)) / max(len(cases[kind]), 1)
        print(f"{kind:24s} {r['previous']:10.3f} {r['current']:10.3f}   n={len(cases[kind])}")
    arr = pa.array(pages, pa.large_string())
    for label in ("previous", "current"):
        res = idx[label].match_batch(arr).to_pylist()
        print(f"{label:8s} false positives on the {len(pages)} plain C4 pages: {sum(1 for row in res if row)}")
    if FILES.exists():
        # unrelated real code (the six repositories of licensed_source_files) must not match these repositories
        other = [json.loads(l) for l in gzip.open(FILES, "rt", encoding="utf-8")]
        other = [r["content"] for r in other if r["kind"] == "source"]
        arr = pa.array(other, pa.large_string())
        for label in ("previous", "current"):
            res = idx[label].match_batch(arr).to_pylist()
            print(f"{label:8s} unrelated real code files flagged: {sum(1 for row in res if row)} of {len(other)} "
                  f"({sum(len(row) for row in res)} matches)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--repos", nargs="*", default=[], metavar="DIR",
                    help="section 4: source folders (or fetched bare git directories) to index; not in the shared data")
    ap.add_argument("--anchor", default="393d7d5", help="git revision of the previous codeindex.py (section 4)")
    ap.add_argument("--snippets", type=int, default=200, help="section 4: snippets per layout")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--layouts-only", action="store_true", help="only section 4")
    args = ap.parse_args()
    if not C4.exists() or (not FILES.exists() and not args.layouts_only):
        print(f"needs {FILES} and {C4}")
        return
    pages = [json.loads(l)["text"] for l in gzip.open(C4, "rt", encoding="utf-8")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-codeindex-"))
    if args.repos:
        print("== 4. code in page text by layout (previous code = the anchor revision, same run)")
        layouts(args, pages, tmp)
    if args.layouts_only:
        return
    recs = [json.loads(l) for l in gzip.open(FILES, "rt", encoding="utf-8")]
    src = [r for r in recs if r["kind"] == "source"]
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
