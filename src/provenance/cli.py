"""The ``provenance`` command line. Each command mirrors a Python API call (see README)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal

from .errors import ProvenanceError

DEFAULT_LEDGER = os.environ.get("PROVENANCE_LEDGER", "provenance.duckdb")


# -- output -------------------------------------------------------------------------------------------
def _plain(v):
    """DuckDB's HUGEINT sums arrive as Decimal: show integral ones as integers."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def _cell(v, name: str) -> str:
    if v is None:
        return "∅"
    if isinstance(v, float):
        if name.startswith("share"):
            return f"{100 * v:.2f}%"
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}" if name not in ("rank", "position", "version") else str(v)
    return str(v)


def format_table(table, max_width: int = 60) -> str:
    """A plain aligned text table of an Arrow table (numbers right-aligned)."""
    names = table.column_names
    rows = [{k: _plain(v) for k, v in r.items()} for r in table.to_pylist()]
    cells = [[_cell(r[n], n) for n in names] for r in rows]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in cells]
    widths = [max([len(n)] + [len(row[i]) for row in cells]) for i, n in enumerate(names)]
    numeric = [all(isinstance(r[n], (int, float)) or r[n] is None for r in rows) and rows for n in names]
    def line(vals):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric)).rstrip()
    out = [line(names), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def _emit(table, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(table.to_pylist(), default=str, indent=None))
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, sys.stdout.buffer)
    else:
        print(format_table(table))


TOP_DOMAINS_SQL = """
SELECT rank, coalesce(registered_domain, '(no registered domain)') AS registered_domain, documents, words,
       share_documents, share_words
FROM composition_by_domain ORDER BY rank LIMIT ?
"""
TOP_SUFFIXES_SQL = """
SELECT rank, coalesce(suffix, '(none)') AS suffix, domains, documents, words, share_documents, share_words
FROM composition_by_suffix ORDER BY rank LIMIT ?
"""


# -- commands -----------------------------------------------------------------------------------------
def cmd_sample(args) -> int:
    from .sample import generate

    info = generate(args.out, docs=args.docs, shards=args.shards, seed=args.seed,
                    formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()))
    print(f"wrote {info.docs:,} documents ({info.bytes / 1e6:,.1f} MB of text) in {len(info.files)} files to {args.out}")
    for f in info.files:
        print(f"  {f}")
    return 0


def _prefect_env() -> None:
    # Quiet, offline-friendly defaults for a local run; a user's own settings win.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


def cmd_scan(args) -> int:
    from .readers.mapping import parse_map_args

    colmap = parse_map_args(args.map)
    _prefect_env()
    from .pipelines.scan import scan_corpus

    summary = scan_corpus(
        inputs=args.inputs, ledger=args.ledger, work_dir=args.work_dir, format=args.format, column_map=colmap,
        max_doc_bytes=args.max_doc_bytes, force=args.force, quiet=args.quiet,
    )
    if args.json:
        print(json.dumps(summary))
        return 0
    s = summary
    rate = s["documents"] / s["seconds"] if s["seconds"] else 0
    print(
        f"run {s['run_id']}: {s['shards']} shard(s) ({s['scanned']} scanned, {s['skipped']} unchanged), "
        f"{s['rows_read']:,} rows read = {s['documents']:,} documents + {s['quarantined']:,} quarantined; "
        f"{s['shards_failed']} shard(s) failed, {s['shards_partial']} partial; {s['seconds']:.1f} s ({rate:,.0f} docs/s) "
        f"-> {s['ledger']}"
    )
    if args.top:
        from .ledger import Ledger

        with Ledger(args.ledger, read_only=False) as led:
            print()
            print(f"Top {args.top} registered domains by share of all tokens (words):")
            print(format_table(led.query(TOP_DOMAINS_SQL, [args.top])))
    return 0


def cmd_query(args) -> int:
    from .ledger import Ledger

    sql = args.sql if args.sql != "-" else sys.stdin.read()
    with Ledger(args.ledger, read_only=True) as led:
        _emit(led.query(sql), args.format)
    return 0


def cmd_composition(args) -> int:
    from .ledger import Ledger

    with Ledger(args.ledger, read_only=True) as led:
        sql = TOP_DOMAINS_SQL if args.by == "domain" else TOP_SUFFIXES_SQL
        _emit(led.query(sql, [args.limit]), args.format)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="provenance", description=__doc__)
    p.add_argument("--version", action="version", version=f"provenance {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="generate the embedded default corpus (deterministic, C4-style)")
    s.add_argument("--out", default="sample", help="output directory (default: sample/)")
    s.add_argument("--docs", type=int, default=20000, help="number of documents (default 20000)")
    s.add_argument("--shards", type=int, default=4, help="files per format (default 4)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--formats", default="jsonl.gz,parquet", help="comma-separated: jsonl.gz, parquet")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("scan", help="scan shards into the ledger (runs the Prefect scan flow)")
    s.add_argument("inputs", nargs="+", help="files, globs, directories or fsspec URLs (s3://, gs://, https://, ...)")
    s.add_argument("--ledger", default=DEFAULT_LEDGER, help=f"DuckDB ledger file (default {DEFAULT_LEDGER})")
    s.add_argument("--work-dir", help="where per-shard Parquet results go (default: <ledger>.parts/)")
    s.add_argument("--format", choices=["jsonl", "parquet", "warc", "wet", "wat"], help="force the input format")
    s.add_argument("--map", action="append", metavar="FIELD=PATH[,PATH]",
                   help="where a field lives, e.g. --map url=metadata.link (fields: text url crawl_date doc_id language crawl)")
    s.add_argument("--max-doc-bytes", type=int, help="quarantine documents larger than this (default 16 MiB)")
    s.add_argument("--force", action="store_true", help="rescan shards even when unchanged")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.add_argument("--json", action="store_true", help="print the run summary as JSON")
    s.add_argument("--top", type=int, default=30, help="print the top-N domains table after the scan (0: no)")
    s.set_defaults(func=cmd_scan)

    s = sub.add_parser("query", help="run SQL against the ledger")
    s.add_argument("sql", help="a SQL query, or - to read it from stdin")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.set_defaults(func=cmd_query)

    s = sub.add_parser("composition", help="the top registered domains (or suffixes) by share of words")
    s.add_argument("--by", choices=["domain", "suffix"], default="domain")
    s.add_argument("--limit", type=int, default=30)
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.set_defaults(func=cmd_composition)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ProvenanceError as exc:
        print(f"provenance: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("provenance: interrupted; rerun the same command to resume (finished shards are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
