"""Benchmark the robots.txt matcher against protego 0.7 on the same real files, in the same run.

    python bench/bench_robots.py                # all 4,231 files of ../shared/data (a few minutes: protego)
    python bench/bench_robots.py --files 500    # quicker
    python bench/bench_robots.py --scalar       # also time our scalar decide() per (agent, path)

Measures, on the same inputs:
  * parse throughput (files/s): RobotsTxt.parse vs Protego.parse, best of 3 passes;
  * evaluation throughput (evaluations/s, one evaluation = one (agent, path)): per file, 200 paths x the 15
    agents of rules/agents.yaml that have `evaluate: true`, via decide_many (one call per agent; agents
    whose group_key is equal share one evaluation, which decide_many also notices by itself) vs protego's
    can_fetch per (agent, url). Our timing includes building each merged group's evaluation plan (done
    lazily on first use) but not parsing; protego's includes its lazy per-agent rule-set lookup.
  * the same with 5 paths per file (the scanner's usual batch per host is small: fixed per-call costs).
Paths are drawn deterministically per file: generic ones plus variations of the file's own patterns.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from provenance.robots.matcher import RobotsTxt  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "robots_txt" / "protego_top10k_robots.jsonl.gz"
# the `evaluate: true` tokens of rules/agents.yaml
AGENTS = ["GPTBot", "ChatGPT-User", "OAI-SearchBot", "ClaudeBot", "anthropic-ai", "Claude-Web", "Google-Extended",
          "CCBot", "Applebot-Extended", "meta-externalagent", "Bytespider", "PerplexityBot", "Amazonbot",
          "cohere-ai", "AI2Bot"]
GENERIC = ["/", "/index.html", "/about", "/search?q=x", "/admin/", "/wp-admin/admin-ajax.php", "/private/x.pdf",
           "/%7Euser/", "/caf%C3%A9", "/tag/x/page/2/", "/images/a.jpg", "/api/v1/items?id=3", "/login",
           "/user/12/edit", "/cgi-bin/x", "/blog/2024/01/post-title", "/product/123?ref=home", "/robots.txt"]

from common import best_of  # noqa: E402  (bench/ is the script's folder)


def make_paths(body: str, seed: str, k: int) -> list[str]:
    r = RobotsTxt.parse(body)
    patterns = sorted({x.pattern for a in AGENTS + ["*"] for x in r.rules_of(a)})
    rng = random.Random(seed)
    out = GENERIC[:k]
    while len(out) < k:
        if patterns and rng.random() < 0.8:
            p = rng.choice(patterns).rstrip("$").replace("*", rng.choice(["", "abc", "/x/", "?q="]))
            p += rng.choice(["", "x", "/", "/y.html", "?a=1", ".pdf", "/index.html"])
        else:
            p = f"/page/{rng.randrange(10**6)}"
        out.append(p if p.startswith("/") else "/" + p)
    return out


def evaluate_ours(bodies, arrays, per_group):
    objs = [RobotsTxt.parse(b) for b in bodies]  # fresh objects: plans are built inside the timing
    results = []
    t = time.perf_counter()
    for r, arr in zip(objs, arrays):
        if per_group:
            seen = {}
            for a in AGENTS:
                k = r.group_key(a)
                if k not in seen:
                    seen[k] = r.decide_many(a, arr)[0]
                results.append(seen[k])
        else:
            for a in AGENTS:
                results.append(r.decide_many(a, arr)[0])
    return time.perf_counter() - t, results


def evaluate_protego(bodies, urls):
    from protego import Protego

    objs = [Protego.parse(b) for b in bodies]
    results = []
    t = time.perf_counter()
    for p, us in zip(objs, urls):
        can_fetch = p.can_fetch
        for a in AGENTS:
            results.append([can_fetch(u, a) for u in us])
    return time.perf_counter() - t, results


def evaluate_scalar(bodies, paths):
    objs = [RobotsTxt.parse(b) for b in bodies]
    t = time.perf_counter()
    for r, ps in zip(objs, paths):
        for a in AGENTS:
            decide = r.decide
            [decide(a, p).allowed for p in ps]
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=0, help="use the first N files (default: all)")
    ap.add_argument("--paths", type=int, default=200, help="paths per file (default 200)")
    ap.add_argument("--small", type=int, default=5, help="paths per file for the small-batch run (0: skip)")
    ap.add_argument("--scalar", action="store_true", help="also time decide() per (agent, path)")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} is not present (../shared/data)")
        return 0
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    if args.files:
        records = records[: args.files]
    bodies = [r["robots_txt"] for r in records]
    size = sum(len(b.encode("utf-8", "replace")) for b in bodies)
    print(f"robots.txt bench: {len(bodies)} real files ({size / 1e6:.1f} MB), {len(AGENTS)} agents, "
          f"pyarrow {pa.__version__}, protego {version('protego')}, python {sys.version.split()[0]}")

    # ---- parse
    from protego import Protego

    t_ours = best_of(lambda: [RobotsTxt.parse(b) for b in bodies])
    t_prot = best_of(lambda: [Protego.parse(b) for b in bodies])
    print(f"parse        ours {len(bodies) / t_ours:8,.0f} files/s   protego {len(bodies) / t_prot:8,.0f} files/s"
          f"   ours/protego {t_prot / t_ours:.1f}x")

    # ---- evaluate
    for k in [args.paths] + ([args.small] if args.small else []):
        paths = [make_paths(b, r["host"], k) for b, r in zip(bodies, records)]
        arrays = [pa.array(p) for p in paths]
        urls = [["https://example.com" + p for p in ps] for ps in paths]
        n = len(bodies) * len(AGENTS) * k
        t_many, res_many = evaluate_ours(bodies, arrays, per_group=False)
        t_group, _ = evaluate_ours(bodies, arrays, per_group=True)
        t_prot, res_prot = evaluate_protego(bodies, urls)
        print(f"evaluate {k:3d} paths x {len(AGENTS)} agents per file ({n:,} evaluations)")
        print(f"   decide_many, one call per agent     {n / t_many / 1e6:7.3f} M evals/s")
        print(f"   decide_many, one call per group_key {n / t_group / 1e6:7.3f} M evals/s")
        print(f"   protego can_fetch per (agent, url)  {n / t_prot / 1e6:7.3f} M evals/s"
              f"   decide_many/protego {t_prot / t_many:.1f}x")
        if args.scalar:
            t_scalar = evaluate_scalar(bodies, paths)
            print(f"   our decide() per (agent, path)      {n / t_scalar / 1e6:7.3f} M evals/s")
        diff = 0
        diff_files = set()
        examples = []
        for i, (ours, theirs) in enumerate(zip(res_many, res_prot)):
            f, a = divmod(i, len(AGENTS))
            for j, (x, y) in enumerate(zip(ours.to_pylist(), theirs)):
                if x != y:
                    diff += 1
                    diff_files.add(f)
                    if len(examples) < 5 and records[f]["host"] not in {e[0] for e in examples}:
                        examples.append((records[f]["host"], AGENTS[a], paths[f][j], x, y))
        print(f"   answers differing from protego: {diff:,} of {n:,} ({100 * diff / n:.2f}%) in {len(diff_files)} files")
        print("      (each class of difference, with the side RFC 9309 takes: docs/robots-differences.md)")
        for host, agent, path, x, y in examples:
            print(f"      e.g. {host} {agent} {path[:60]!r}: ours {'allow' if x else 'disallow'}, "
                  f"protego {'allow' if y else 'disallow'}")
    groups = [len({r.group_key(a) for a in AGENTS}) for r in (RobotsTxt.parse(b) for b in bodies)]
    print(f"distinct merged groups per file for the {len(AGENTS)} agents: mean {statistics.mean(groups):.2f}, "
          f"max {max(groups)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
