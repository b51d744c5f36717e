"""Growth of every corpus stage with the corpus: time and peak RSS at several sizes, the growth exponents, and a
projection to 10^8 and 10^9 documents.

    python bench/scale.py                                  # 100k and 1M documents (~25 minutes on 2 cores)
    python bench/scale.py --sizes 100000,1000000,5000000   # 5M needs ~20 GB of disk and ~2 hours
    python bench/scale.py --sizes 20000,80000 --stages scan,consent   # a quick look
    python bench/scale.py ... --markdown docs/scale.md     # also write the results table

Each size gets a generated corpus (`provenance sample --docs N`, JSON Lines shards of at most 250k documents and
at least one per core; the
generator is not a measured stage) and a fresh ledger; each stage is the CLI command a user runs, in its own
process, timed by wall clock with the peak RSS of that process (os.wait4's ru_maxrss: the process and the
children it waited for). The budget is 1 GB of peak RSS per stage by default (PROVENANCE_MEMORY_LIMIT or
--memory-limit change DuckDB's share).

Growth exponent of a stage between two sizes n1 < n2: log(v2 / v1) / log(n2 / n1) (1 = linear; 0 = flat).
The projection extends the stage's time from the largest size with the exponent between the two largest, and
divides the partitioned stages (scan; consent, verdicts and dedup partitioned on a Dask cluster) by the number
of nodes of 2 cores like this one; memory at 10^8 / 10^9 is the largest size's peak times (n / n_max)^k for k
the memory exponent (flat when k <= 0.05). Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

EXE = Path(sys.executable).with_name("provenance")
TAKEDOWN_TEXT = "the quick brown fox jumps over the lazy dog " * 20

# stage name -> (arguments, partitioned on a cluster?)
STAGES = {
    "scan": (["scan", "{corpus}/*.json.gz", "--ledger", "{ledger}", "--top", "0", "--quiet"], True),
    "consent": (["robots", "import", "{corpus}/robots.jsonl.gz", "--ledger", "{ledger}"], True),
    # a second evaluation over a ledger that holds one (what a scheduled refresh does): the flips join both
    "consent evaluate": (["consent", "--evaluate", "--ledger", "{ledger}"], True),
    "verdicts": (["verdicts", "--ledger", "{ledger}", "--limit", "0"], True),
    "rules apply": (["rules", "apply", "--ledger", "{ledger}"], True),
    "dedup": (["dedup", "--ledger", "{ledger}"], True),
    "takedown": (["takedown", "add", "{request}", "--text", "{work}/takedown.txt", "--ledger", "{ledger}"], True),
    "datasheet": (["datasheet", "--ledger", "{ledger}", "--out", "{work}/datasheet"], False),
    "diff": (["diff", "{ledger}", "{ledger}", "--format", "json"], False),
    "export": (["export", "--ledger", "{ledger}", "--out", "{work}/export", "--quiet"], True),
    "redact": (["redact", "{corpus}/c4-sample.00000-of-{shards:05d}.json.gz", "--out", "{work}/redact", "--quiet"], True),
}


def _spilled(cwd: Path) -> int:
    """Bytes in DuckDB's spill folders under ``cwd`` now (``<ledger>.tmp``, dedup's ``duckdb.tmp``)."""
    total = 0
    for root, dirs, files in os.walk(cwd):
        if Path(root).name.endswith(".tmp"):
            for f in files:
                try:
                    total += os.stat(os.path.join(root, f)).st_size
                except OSError:
                    pass
        dirs[:] = [d for d in dirs if d not in ("corpus", "export", "redact", "datasheet")]
    return total


def run(args: list[str], cwd: Path, env: dict) -> tuple[float, float, int, str]:
    """(seconds, peak RSS in MB, exit code, last line of output) of one command in its own process; the most
    DuckDB had spilled to disk meanwhile (sampled every 0.5 s) is in ``SPILL["mb"]``."""
    import threading

    t0 = time.perf_counter()
    p = subprocess.Popen([str(EXE), *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    SPILL["mb"] = 0.0
    done = threading.Event()

    def watch():
        while not done.wait(0.5):
            SPILL["mb"] = max(SPILL["mb"], _spilled(cwd) / 1e6)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    done.set()
    w.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    dt = time.perf_counter() - t0
    last = [ln for ln in out.strip().splitlines() if ln.strip()][-1:] or [""]
    return dt, ru.ru_maxrss / 1024, p.returncode, last[0][:160]


SPILL = {"mb": 0.0}


def exponent(n1, v1, n2, v2) -> float | None:
    if not (v1 and v2 and n2 > n1):
        return None
    return math.log(v2 / v1) / math.log(n2 / n1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--work", default="/tmp/provenance-scale")
    ap.add_argument("--docs-per-shard", type=int, default=250_000)
    ap.add_argument("--memory-limit", help="passed as PROVENANCE_MEMORY_LIMIT")
    ap.add_argument("--keep", action="store_true", help="keep the corpora and ledgers")
    ap.add_argument("--reuse", action="store_true",
                    help="measure the stages on the ledgers a --keep run left in --work/n<size> (no sample, no "
                         "corpus: for the stages after the scan)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each stage this many times: the fastest time and the highest peak are kept (this "
                         "machine's times of one command varied by up to 30%% between runs)")
    ap.add_argument("--nodes", default="1,10,100")
    ap.add_argument("--json", help="write the measurements here")
    ap.add_argument("--markdown", help="write the results table and projection here")
    ap.add_argument("--merge", action="append", default=[], metavar="JSON",
                    help="measurements of an earlier run (its --json) to report with this run's; repeatable "
                         "(with --sizes none: only report them)")
    args = ap.parse_args(argv)
    sizes = [] if args.sizes.strip().lower() in ("", "none") else [int(float(s)) for s in args.sizes.split(",")]
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        ap.error(f"unknown stage(s) {unknown}; known: {list(STAGES)}")
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    if args.memory_limit:
        env["PROVENANCE_MEMORY_LIMIT"] = args.memory_limit
    root = Path(args.work)
    results: dict[str, dict[int, dict]] = {s: {} for s in stages}
    for n in sizes:
        work = root / f"n{n}"
        # at least one shard per core (the scan is parallel by shard), at most --docs-per-shard documents each
        shards = max(os.cpu_count() or 1, math.ceil(n / args.docs_per_shard))
        if args.reuse:
            if not (work / "ledger.duckdb").is_file():
                print(f"--reuse: no ledger at {work / 'ledger.duckdb'} (made by a run with --keep)")
                return 1
            (work / "takedown.txt").write_text(TAKEDOWN_TEXT)
            print(f"\n== {n:,} documents: the kept ledger {work / 'ledger.duckdb'}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            (work / "takedown.txt").write_text(TAKEDOWN_TEXT)
            t, rss, rc, last = run(["sample", "--out", "corpus", "--docs", str(n), "--shards", str(shards),
                                    "--formats", "jsonl.gz"], work, env)
            if rc != 0:
                print(f"sample of {n:,} documents failed ({rc}): {last}")
                return 1
            corpus_mb = sum(f.stat().st_size for f in (work / "corpus").glob("*.json.gz")) / 1e6
            print(f"\n== {n:,} documents: {shards} shard(s), {corpus_mb:,.0f} MB gzip JSON Lines (generated in {t:.0f} s)")
        print(f"   {'stage':<12} {'seconds':>9} {'docs/s':>10} {'peak RSS MB':>12} {'spill MB':>8}  exit  last line")
        for st in stages:
            best = None
            for rep in range(max(args.repeat, 1)):
                request = f"REQ-SCALE-{time.strftime('%Y%m%dT%H%M%S')}-{rep}"  # takedown add refuses a known id
                cmd = [a.format(corpus="corpus", ledger="ledger.duckdb", work=str(work), shards=shards, request=request)
                       for a in STAGES[st][0]]
                t, rss, rc, last = run(cmd, work, env)
                m = {"seconds": t, "rss_mb": rss, "exit": rc, "spilled_mb": SPILL["mb"]}
                if best is None:
                    best = dict(m, runs=[])
                else:
                    best.update(seconds=min(best["seconds"], t), rss_mb=max(best["rss_mb"], rss),
                                exit=best["exit"] or rc, spilled_mb=max(best["spilled_mb"], SPILL["mb"]))
                best["runs"].append(round(t, 1))
                print(f"   {st:<12} {t:>9.1f} {n / t:>10,.0f} {rss:>12,.0f} {SPILL['mb']:>8,.0f}  {rc:>4}  {last}", flush=True)
            results[st][n] = best
        if not args.keep and not args.reuse:
            for p in ("corpus", "export", "redact", "datasheet"):
                shutil.rmtree(work / p, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"sizes": sizes, "results": results}, indent=1))
    for f in args.merge:  # this run's measurements win where both have a stage at a size
        old = json.loads(Path(f).read_text())
        for st, by_n in old["results"].items():
            if st in STAGES:
                for n, m in by_n.items():
                    results.setdefault(st, {}).setdefault(int(n), m)
        sizes = sorted(set(sizes) | {int(n) for n in old["sizes"]})
    lines = report(results, sizes, [int(x) for x in args.nodes.split(",")])
    print("\n" + "\n".join(lines))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


def report(results: dict, sizes: list[int], nodes: list[int]) -> list[str]:
    sizes = sorted(sizes)
    pairs = " / ".join(f"{_short(a)}-{_short(b)}" for a, b in zip(sizes, sizes[1:]))
    head = "| stage | " + " | ".join(f"{n:,}: s / MB" for n in sizes) + f" | spilled at {sizes[-1]:,} (MB) | time exp. {pairs} | memory exp. {pairs} | " + \
        " | ".join(f"10^{e} docs on {k} node(s)" for e in (8, 9) for k in nodes) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for st, by_n in results.items():
        have = [n for n in sizes if n in by_n]
        if not have:  # not measured in any run reported
            continue
        cells = [f"{by_n[n]['seconds']:,.1f} / {by_n[n]['rss_mb']:,.0f}" if n in by_n else "" for n in sizes]
        kt = km = None
        kts, kms = [], []
        for a, b in zip(sizes, sizes[1:]):
            ok = a in by_n and b in by_n
            kts.append(_f(exponent(a, by_n[a]["seconds"], b, by_n[b]["seconds"])) if ok else "")
            kms.append(_f(exponent(a, by_n[a]["rss_mb"], b, by_n[b]["rss_mb"])) if ok else "")
        if len(have) >= 2:
            a, b = have[-2], have[-1]
            kt = exponent(a, by_n[a]["seconds"], b, by_n[b]["seconds"])
            km = exponent(a, by_n[a]["rss_mb"], b, by_n[b]["rss_mb"])
        proj = []
        for e in (8, 9):
            for k in nodes:
                if kt is None:
                    proj.append("")
                    continue
                big = have[-1]
                secs = by_n[big]["seconds"] * (10 ** e / big) ** max(kt, 1.0)
                secs /= k if STAGES[st][1] else 1
                mem = by_n[big]["rss_mb"] * ((10 ** e / big) ** km if km and km > 0.05 else 1)
                proj.append(f"{_dur(secs)}, {mem / 1024:,.1f} GB")
        spill = by_n.get(sizes[-1], {}).get("spilled_mb")
        lines.append(f"| {st} | " + " | ".join(cells) + f" | {'' if spill is None else f'{spill:,.0f}'} | {' / '.join(kts)} | {' / '.join(kms)} | "
                     + " | ".join(proj) + " |")
    return lines


def _short(n: int) -> str:
    return f"{n // 10**6}M" if n >= 10**6 and n % 10**6 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _f(x):
    return "" if x is None else f"{x:.2f}"


def _dur(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


if __name__ == "__main__":
    sys.exit(main())
