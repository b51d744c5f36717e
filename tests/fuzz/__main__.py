"""``python -m tests.fuzz --budget SECONDS --seed N [--formats jsonl,parquet,warc] [--out DIR] [--replay CASE_ID]``

Runs the known hostile cases, then random mutations until the budget is spent; prints a summary, writes
failing case files and report.json to --out, and exits 1 on any failure. ``--python`` / ``--product`` run
the worker with another interpreter and checkout (e.g. a baseline worktree and its venv).
"""

from __future__ import annotations

import argparse
import sys

from .harness import Config, failed, format_summary, run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=150.0, help="seconds for the whole run (known cases always run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--formats", default="jsonl,parquet,warc")
    ap.add_argument("--out", default=None, help="folder for report.json and failing case files")
    ap.add_argument("--replay", default=None, help="run one case by id (e.g. k-gzip-member-damage, r0-17)")
    ap.add_argument("--python", default=None, help="interpreter for the worker (default: this one)")
    ap.add_argument("--product", default=None, help="checkout the worker runs in (default: this repository)")
    ap.add_argument("--no-shared", action="store_true", help="do not use ../shared/data seeds")
    ap.add_argument("--no-known", action="store_true", help="skip the known cases")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-case timeout in seconds")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per case on stderr, and cases per mutator")
    a = ap.parse_args(argv)
    cfg = Config(budget=a.budget, seed=a.seed, formats=tuple(f.strip() for f in a.formats.split(",") if f.strip()),
                 out=a.out, replay=a.replay, use_shared=not a.no_shared, known=not a.no_known, timeout=a.timeout,
                 verbose=a.verbose)
    if a.python:
        cfg.python = a.python
    if a.product:
        cfg.product = a.product
    s = run(cfg)
    print(format_summary(s, detailed=a.verbose))
    return 1 if failed(s) else 0


if __name__ == "__main__":
    sys.exit(main())
