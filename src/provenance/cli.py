"""The ``provenance`` command line. Each command mirrors a Python API call (see README)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from decimal import Decimal
from pathlib import Path

from . import budget
from .errors import (EXIT_INCOMPLETE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_PIPE, EXIT_USAGE, ConfigError,
                     ProvenanceError, safe_message)

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
        import pyarrow as pa
        import pyarrow.csv as pcsv

        # written by Python, not by Arrow: a closed pipe is then a BrokenPipeError (quiet, exit 141), where
        # Arrow writing to the stream itself would turn it into an ArrowInvalid
        sink = pa.BufferOutputStream()
        # CSV has no lists or structs (verdict reasons, consent evidence): such a cell is written as JSON
        cols = [pa.array([None if v is None else json.dumps(v, default=str) for v in c.to_pylist()], pa.string())
                if pa.types.is_nested(c.type) else c for c in table.columns]
        pcsv.write_csv(pa.table(cols, names=table.column_names), sink)
        sys.stdout.flush()
        sys.stdout.buffer.write(sink.getvalue().to_pybytes())
    else:
        print(format_table(table))


TOP_DOMAINS_SQL = """
SELECT rank, coalesce(registered_domain, '(no registered domain)') AS registered_domain, documents, words,
       share_documents, share_words
FROM composition_by_domain ORDER BY rank LIMIT ?
"""
TOP_CATEGORIES_SQL = """
SELECT rank, category, domains, documents, words, share_documents, share_words
FROM composition_by_category ORDER BY rank LIMIT ?
"""
TOP_LICENSES_SQL = """
SELECT rank, family, licenses, documents, words, found_in_document, from_domain, share_documents, share_words
FROM composition_by_license_family ORDER BY rank LIMIT ?
"""
TOP_TOS_SQL = """
SELECT rank, tos_class, domains, documents, words, non_commercial_docs, no_redistribution_docs, share_documents, share_words
FROM composition_by_tos_class ORDER BY rank LIMIT ?
"""
VERDICT_COUNTS_SQL = """
SELECT verdict, documents, words, share_documents, share_words FROM verdict_counts
ORDER BY array_position(['include', 'review', 'exclude'], verdict)
"""
VERDICT_REASONS_SQL = """
SELECT reason, verdict, documents, words, domains FROM verdict_reasons ORDER BY words DESC, reason, verdict LIMIT ?
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
    if "jsonl.gz" in info.manifest.get("formats", []):  # hosts are read from the JSON Lines files
        from .robots.sample import write_sample_robots

        path, n = write_sample_robots(args.out, seed=args.seed)
        print(f"  {path}  (robots.txt of its {n:,} hosts, captured 2019, 2024 and for some 2026: "
              f"`provenance robots import` it)")
        if (Path(args.out) / "rsl").is_dir():
            print(f"  {Path(args.out) / 'rsl'}/  (the RSL licenses its robots.txt name: `--rsl-dir` for the import)")
    return 0


def _prefect_env() -> None:
    # Quiet, offline-friendly defaults for a local run; a user's own settings win.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not os.environ.get("PROVENANCE_DEBUG"):
        # the API keeps every log line of a tracked run; on the terminal the command says what went wrong in
        # one line of its own, not after Prefect's copy of the traceback
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _tracked(args) -> str | None:
    """Why this command runs as a Prefect flow (--track, PROVENANCE_TRACK, a configured Prefect API, or
    --cluster); None: in this process, no Prefect (see provenance.runs)."""
    from .runs import check_api, tracking

    # scan's --cluster runs its flow's tasks on Dask through Prefect; the corpus stages' --cluster needs no Prefect
    why = "--cluster" if args.command == "scan" and args.cluster else tracking(getattr(args, "track", False))
    if why:
        check_api()
    return why


def _incomplete(failed: int, partial: int) -> int:
    from .errors import EXIT_INCOMPLETE, EXIT_OK

    return EXIT_INCOMPLETE if failed or partial else EXIT_OK


def cmd_scan(args) -> int:
    from .readers.mapping import parse_map_args
    from .sources import discover

    colmap = parse_map_args(args.map)
    # missing inputs and globs that match nothing stop here, before the ledger is created or opened
    shards = discover(args.inputs, format=args.format)
    if colmap:
        from .readers import ReadOptions, check_column_map

        # a --map path that no record has would quarantine every record (and, with --force, replace what the
        # ledger holds): refused here, from the first batch of the first shard
        check_column_map([s for s in shards if s.error is None], ReadOptions(column_map=colmap))
    for idx in args.code_index or []:  # an index of another format: one line before the ledger is created
        meta = Path(idx) / "meta.json"
        if meta.is_file():
            from .codeindex import check_meta

            try:
                check_meta(idx, json.loads(meta.read_text(encoding="utf-8")))
            except ValueError as exc:
                raise ProvenanceError(f"--code-index {idx}: meta.json is not JSON ({exc.__class__.__name__})") from None
    if args.pii_key and not Path(args.pii_key).parent.is_dir():
        raise ProvenanceError(f"--pii-key {args.pii_key}: no such folder {str(Path(args.pii_key).parent)!r}")
    from .ledger import Ledger

    tracked = _tracked(args)
    if args.cluster:
        _prefect_env()
        from .pipelines.scan import check_cluster

        # no Dask INFO lines between the progress lines (read when distributed is first imported, also by workers)
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        check_cluster(args.cluster)
    # Take the ledger before the run starts and hold it to the end: a second scan of the same ledger stops
    # here with one line (LedgerBusy, exit 2), and nothing can take the file between this check and the run
    # opening it (this process's connections share one DuckDB instance).
    guard = Ledger(args.ledger, documents_store=args.documents_store)
    try:
        # what the run would refuse (a recorded rules layer or code index gone, another PII key): one line
        # here, before anything is scanned
        from .pii_key import key_for_scan
        from .settings import settle

        settle(guard, rules=rules_arg(args), policy=args.policy,
               code_indexes=[] if args.no_code_index else args.code_index, write=False)
        _, _, said = key_for_scan(guard, args.pii_key)
    except BaseException:
        guard.close()
        raise
    # every check passed: from here on the run is recorded in the ledger
    if guard.created:
        print(f"created ledger {args.ledger}", file=sys.stderr)
    for line in said:
        print(f"note: {line}", file=sys.stderr)
    from .sources import format_twins

    for line in format_twins(shards):
        print(line, file=sys.stderr)
    if not args.quiet:
        size = sum(s.size or 0 for s in shards)
        print(f"found {len(shards):,} shard(s)" + (f", {size / 1e6:,.1f} MB" if size else ""), file=sys.stderr, flush=True)
    params = dict(inputs=args.inputs, ledger=args.ledger, work_dir=args.work_dir, format=args.format, column_map=colmap,
                  max_doc_bytes=args.max_doc_bytes, force=args.force, quiet=args.quiet, rules=rules_arg(args),
                  policy=args.policy, keep_pii_values=args.keep_pii_values,
                  code_indexes=[] if args.no_code_index else args.code_index, pii_key_path=args.pii_key,
                  cluster=args.cluster, documents_store=args.documents_store)
    try:
        if tracked:
            _prefect_env()
            from .pipelines.scan import scan_corpus

            if not args.quiet:
                print(f"running the scan-corpus Prefect flow ({tracked})", file=sys.stderr)
            summary = scan_corpus(**params)
        else:
            from .runs import scan_corpus

            summary = scan_corpus(**params, shards=shards)
    finally:
        guard.close()
    for line in summary.get("settings", []):
        print(f"settings: {line}", file=sys.stderr)
    for line in summary.get("notes", []):
        if line not in said:
            print(f"note: {line}", file=sys.stderr)
    code = _incomplete(summary["shards_failed"], summary["shards_partial"])
    if args.json:
        print(json.dumps(summary))
        return code
    s = summary
    rate = s["documents"] / s["seconds"] if s["seconds"] else 0
    print(
        f"run {s['run_id']}: {s['shards']} shard(s) ({s['scanned']} scanned, {s['skipped']} unchanged), "
        f"{s['rows_read']:,} rows read = {s['documents']:,} documents + {s['quarantined']:,} quarantined; "
        f"{s['shards_failed']} shard(s) failed, {s['shards_partial']} partial; {s['seconds']:.1f} s ({rate:,.0f} docs/s) "
        f"-> {s['ledger']}"
    )
    v = s["verdicts"]
    print(f"verdicts (policy {v['policy']}): include {v['include']:,}, exclude {v['exclude']:,}, review {v['review']:,}"
          " -- reasons: `provenance verdicts --ledger ...`")
    for w in v["warnings"]:
        print(f"  note: {w}")
    if args.top:
        from .ledger import Ledger

        with Ledger(args.ledger, create=False) as led:
            print()
            print(f"Top {args.top} registered domains by share of all tokens (words):")
            print(format_table(led.query(TOP_DOMAINS_SQL, [args.top])))
    if code:
        print(f"provenance: {s['shards_failed']} shard(s) failed and {s['shards_partial']} partial: see "
              f"`provenance query \"SELECT uri, status, error FROM shards WHERE status <> 'done'\"` (exit {code})",
              file=sys.stderr)
    return code


def cmd_ledger_info(args) -> int:
    from .ledger import Ledger, ledger_info, storage_info

    storage = storage_info(args.ledger) if Path(args.ledger).is_file() else {}
    with Ledger(args.ledger, read_only=True) as led:
        info = ledger_info(led, storage)
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    st = info["settings"]
    lines = [
        f"ledger {info['path']}: {info['file_bytes']:,} bytes",
        f"  schema version {info['schema_version']} (this provenance: {info['schema_latest']}); DuckDB storage version "
        f"{info['storage'].get('storage_version', '?')}, written by DuckDB {info['storage'].get('written_by') or '?'} "
        f"(this one: {info['duckdb']})",
        f"  documents store: {info['documents_store']}",
        f"  rules: {', '.join(st['rules']) if st['rules'] else 'the shipped rules only'} (rules hash "
        f"{st['rules_hash'] or 'not recorded'})",
        f"  policy: {st['policy'] or 'not recorded'}; agents: {', '.join(st['agents']) if st['agents'] else 'those of the rules'}; "
        f"code indexes: {', '.join(st['code_indexes']) if st['code_indexes'] else 'none'}",
        f"  PII hashes: {info['pii']['scheme']}" + (f", key fingerprint {info['pii']['key_fingerprint']}"
                                                    if info['pii'].get('key_fingerprint') else ""),
        "  rows: " + ", ".join(f"{k} {v:,}" for k, v in info["rows"].items()),
    ]
    r = info["runs"]
    lines.append(f"  runs: {r['count']:,}" + (f", first {r['first']}, last {r['last']} ({r['last_status']})" if r["count"] else ""))
    print("\n".join(lines))
    return 0


def cmd_query(args) -> int:
    from .ledger import Ledger

    import duckdb

    sql = args.sql if args.sql != "-" else sys.stdin.read()
    with Ledger(args.ledger, read_only=True) as led:
        try:
            rows = led.user_query(sql)
        except duckdb.Error as exc:  # the user's SQL: say what DuckDB said, no traceback
            print(f"provenance: query failed: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        _emit(rows, args.format)
    return 0


def cmd_composition(args) -> int:
    from .ledger import Ledger

    with Ledger(args.ledger, read_only=True) as led:
        sql = {"domain": TOP_DOMAINS_SQL, "suffix": TOP_SUFFIXES_SQL, "category": TOP_CATEGORIES_SQL,
               "license": TOP_LICENSES_SQL, "tos": TOP_TOS_SQL}[args.by]
        _emit(led.query(sql, [args.limit]), args.format)
    return 0


def _parse_when(value: str | None):
    if not value:
        return None
    from .readers.base import _parse_one

    d = _parse_one(value)
    if d is None:
        raise ProvenanceError(f"--captured-at {value!r}: not a date (e.g. 2019-07-01 or 2019-07-01T00:00:00Z)")
    return d


def _agents_arg(args) -> list[str] | None:
    """--agents as a list (None when not given; ["rules"] goes back to the rules' evaluate: true agents)."""
    only = [a.strip() for a in (getattr(args, "agents", None) or "").split(",") if a.strip()]
    return only or None


def _settle(led, args, **given):
    """The ledger's settings with what this command was given; changes are printed (stderr), never silent."""
    from .settings import settle

    st = settle(led, rules=rules_arg(args), **given)
    for line in st.changes:
        print(f"settings: {line}", file=sys.stderr)
    return st


def _agent_tokens(st) -> list[str]:
    from .ruleset import evaluated_agents, load_agents

    if st.agents:  # a token no agents.yaml describes is evaluated as written: say so, it may be a typo
        known = {a.token.lower() for a in load_agents(st.rules)}
        unknown = [t for t in st.agents if t.lower() not in known]
        if unknown:
            print(f"note: agent(s) {', '.join(unknown)} not described in any agents.yaml of the rules: evaluated as "
                  f"written (operator unknown, purpose mixed); check the spelling", file=sys.stderr)
    return [a.token for a in evaluated_agents(st.rules, st.agents)]


def _check_cluster(args) -> None:
    """A corpus stage's --cluster, checked before the ledger is opened: one line (exit 2) when malformed or
    when no scheduler answers."""
    if getattr(args, "cluster", None):
        from .distribute import check_cluster

        check_cluster(args.cluster)


def _evaluate_and_report(led, args) -> None:
    from .robots.consent import evaluate
    from .settings import agents_note

    st = _settle(led, args, agents=_agents_arg(args))
    tokens = _agent_tokens(st)
    note = agents_note(tokens)
    if note:
        print(f"note: {note}")
    r = evaluate(led, tokens, cluster=getattr(args, "cluster", None), rules=st.rules)
    print(f"consent evaluated: {r['documents']:,} documents x {r['agents']} agents "
          f"({r['distinct_snapshot_paths']:,} distinct snapshot/path pairs) in {r['seconds']:.1f} s; "
          f"{r['changes']:,} host/agent change(s) since the previous evaluation")
    if r.get("blocked", {}).get("note"):
        print(f"note: {r['blocked']['note']}")
    from .verdict import reevaluate

    ev = reevaluate(led, st.rules, policy=st.policy)
    print("verdicts re-evaluated: " + ev.summary())


def cmd_robots_import(args) -> int:
    from .ledger import Ledger
    from .robots.consent import store_snapshots
    from .robots.snapshots import import_any

    when = _parse_when(args.captured_at)
    if not args.no_evaluate:
        _check_cluster(args)
    rsl = _rsl_source(args, live=False)
    with Ledger(args.ledger, create=False) as led:
        for src in args.sources:
            new, dup = store_snapshots(led, import_any(src, when), rsl=rsl)
            print(f"{src}: {new:,} new snapshot(s), {dup:,} already in the ledger")
        _rsl_report(rsl)
        if not args.no_evaluate:
            _evaluate_and_report(led, args)
    return 0


def _fetcher(args, path: str = "/robots.txt"):
    from .netguard import Resolver
    from .robots.fetch import RobotsFetcher

    overrides = {}
    for item in args.resolve or []:
        host, _, ip = item.partition("=")
        if not ip:
            raise ProvenanceError(f"--resolve {item!r}: expected HOST=IP")
        overrides[host.strip().lower()] = ip.strip()
    proxies = {"http": args.proxy, "https": args.proxy} if args.proxy else None
    return RobotsFetcher(allow_internal=args.allow_internal, resolver=Resolver(overrides), proxies=proxies,
                         max_workers=args.workers, per_host_delay=args.delay, path=path)


def _rsl_source(args, live: bool):
    """Where RSL license documents come from: ``--rsl-dir`` (the offline folder), and for commands that fetch
    live the same guarded fetcher as robots.txt (one per license path: ``_fetcher(args, path)``)."""
    from .rsl import LicenseSource

    return LicenseSource(folder=getattr(args, "rsl_dir", None),
                         fetcher_for=(lambda path: _fetcher(args, path)) if live else None)


def _rsl_report(rsl) -> None:
    """One line on the RSL licenses this command read, when robots.txt named any: a result, on stdout with the
    snapshot counts (stderr is for warnings and errors)."""
    if rsl.counts:
        print("RSL licenses (robots.txt License: lines): " + ", ".join(f"{n:,} {st}" for st, n in sorted(rsl.counts.items()))
              + " (rsl_licenses, rsl_terms; their signals in robots_signals, source rsl)")


def cmd_robots_fetch(args) -> int:
    from .ledger import Ledger
    from .robots.consent import fetch_targets, store_snapshots
    from .robots.snapshots import from_fetch

    fetcher = _fetcher(args)
    if not args.no_evaluate:
        _check_cluster(args)
    with Ledger(args.ledger, create=False) as led:
        hosts = args.hosts or fetch_targets(led)
        results = []
        for r in fetcher.fetch_many(hosts):
            results.append(r)
            print(f"{r.host}: {r.outcome}" + (f" (HTTP {r.status})" if r.status else "") + (f": {r.error}" if r.error else ""),
                  file=sys.stderr)
        rsl = _rsl_source(args, live=True)
        new, dup = store_snapshots(led, from_fetch(results), rsl=rsl)
        print(f"fetched {len(results):,} robots.txt: {new:,} new snapshot(s), {dup:,} unchanged")
        _rsl_report(rsl)
        if args.tdmrep:
            from .robots.consent import store_tdmrep

            n = store_tdmrep(led, _fetcher(args, "/.well-known/tdmrep.json").fetch_many(hosts))
            print(f"fetched /.well-known/tdmrep.json: {n:,} TDMRep rule(s) stored in robots_signals")
        if not args.no_evaluate:
            _evaluate_and_report(led, args)
    return 0


def cmd_robots_refresh(args) -> int:
    from .ledger import Ledger
    from .settings import agents_note

    _check_cluster(args)
    with Ledger(args.ledger, create=False) as led:
        tokens = _agent_tokens(_settle(led, args, agents=_agents_arg(args)))
    if agents_note(tokens):
        print(f"note: {agents_note(tokens)}")
    kw = dict(ledger=args.ledger, allow_internal=args.allow_internal, proxy=args.proxy,
              resolve=dict(i.split("=", 1) for i in (args.resolve or [])), agents=tokens,
              max_workers=args.workers, per_host_delay=args.delay, cluster=args.cluster)
    if _tracked(args):
        _prefect_env()
        from .pipelines.robots import refresh_robots

        s = refresh_robots(**kw)
    else:
        from .runs import refresh_robots

        s = refresh_robots(**kw)
    print(f"refreshed {s['hosts']:,} host(s): {s['new_snapshots']:,} new snapshot(s); {s['changes']:,} host/agent change(s)")
    return 0


def cmd_robots_agents_import(args) -> int:
    from .ruleset import import_ai_robots_json, load_agents, write_agents_yaml

    known = {a.token.lower() for a in load_agents(rules_arg(args))}
    try:
        agents = import_ai_robots_json(args.source, known=known)
    except UnicodeDecodeError:
        raise ConfigError(f"{args.source}: not UTF-8 text (expected the ai.robots.txt project's robots.json)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{args.source}: not JSON (line {exc.lineno}, column {exc.colno}; expected the ai.robots.txt "
                          f"project's robots.json)") from None
    write_agents_yaml(agents, args.out)
    new = sum(a.token.lower() not in known for a in agents)
    print(f"wrote {len(agents)} agents to {args.out}: {new} new ones with evaluate: false (set it to true for the "
          f"ones to evaluate), {len(agents) - new} already known, described but left as the rules have them; pass "
          f"the folder with --rules")
    return 0


CONSENT_AGENT_SQL = """
SELECT agent, documents, share_docs_disallowed_crawl, share_docs_disallowed_now,
       share_words_disallowed_crawl, share_words_disallowed_now, unknown_docs_crawl, unknown_docs_now
FROM consent_by_agent ORDER BY share_words_disallowed_now DESC, agent
"""
CONSENT_DOMAIN_SQL = """
SELECT registered_domain, agent, documents, disallowed_docs_crawl, disallowed_docs_now, share_words_disallowed_now
FROM consent_by_domain WHERE disallowed_docs_now > 0 OR disallowed_docs_crawl > 0
ORDER BY words DESC, agent LIMIT ?
"""


def cmd_consent(args) -> int:
    from .ledger import Ledger

    if args.evaluate:
        _check_cluster(args)
        with Ledger(args.ledger, create=False) as led:
            _evaluate_and_report(led, args)
    with Ledger(args.ledger, read_only=True) as led:
        n = led.query("SELECT count(*) n FROM consent_documents").to_pylist()[0]["n"]
        if n == 0:
            raise ProvenanceError("no consent evaluated yet: import or fetch robots.txt snapshots first "
                                  "(`provenance robots import ...` / `provenance robots fetch`), or pass --evaluate")
        if args.by == "agent":
            _emit(led.query(CONSENT_AGENT_SQL), args.format)
        else:
            _emit(led.query(CONSENT_DOMAIN_SQL, [args.limit]), args.format)
        from .robots.consent import blocked_summary

        blocked = blocked_summary(led)["note"]
        if blocked:
            print(f"note: {blocked}", file=sys.stderr)
    return 0


def cmd_verdicts(args) -> int:
    from .ledger import Ledger
    from .verdict import evaluate

    if not args.show:
        with Ledger(args.ledger, create=False) as led:
            st = _settle(led, args, policy=args.policy)
            ev = evaluate(led, st.rules, st.policy)
        print(ev.summary())
        print(f"  purpose: {ev.purpose}")
        for w in ev.warnings:
            print(f"  note: {w}")
    with Ledger(args.ledger, read_only=True) as led:
        last = led.query("SELECT policy, evaluated_at, rules_hash FROM verdict_runs ORDER BY evaluated_at DESC LIMIT 1").to_pylist()
        if not last:
            raise ProvenanceError("no verdicts yet: run `provenance verdicts` without --show")
        if args.format == "table":
            print()
        _emit(led.query(VERDICT_COUNTS_SQL), args.format)
        if args.format == "table":
            print()
            print(f"Reasons (a document counts under each of its reasons), top {args.limit} by words:")
        _emit(led.query(VERDICT_REASONS_SQL, [args.limit]), args.format)
    return 0


def cmd_export(args) -> int:
    from .export import export

    def progress(f: dict) -> None:
        if args.quiet:
            return
        if f.get("skipped"):
            print(f"skipped {f.get('source_uri') or f.get('uri')}: {f.get('reason') or 'changed'}", file=sys.stderr)
        else:
            miss = f" ({f['missing_rows']:,} missing)" if f.get("missing_rows") else ""
            print(f"wrote {f['name']}: {f['rows']:,} rows{miss}", file=sys.stderr)

    verdicts = args.verdict or ["include"]
    r = export(args.ledger, args.out, verdict=verdicts, overwrite=args.overwrite, skip_changed=args.skip_changed,
               progress=progress, memory_limit=args.memory_limit, redact_pii=args.redact_pii)
    # skipped shards (--skip-changed) or rows not found again: the export finished, but it is not all of it
    code = EXIT_INCOMPLETE if r.get("skipped_shards") or r.get("missing") else EXIT_OK
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "manifest"}, default=str))
        return code
    print(f"exported {r['exported']:,} of {r['selected']:,} selected documents ({', '.join(verdicts)}; the ledger holds "
          f"{r['documents']:,}: include {r['include']:,}, exclude {r['exclude']:,}, review {r['review']:,}) in "
          f"{len(r['files']):,} file(s), {r['docs_per_s']:,.0f} docs/s; manifest: {r['manifest']}")
    if r.get("skipped_shards"):
        print(f"  {len(r['skipped_shards'])} shard(s) skipped (changed or missing since the scan; {r['skipped']:,} rows): see the manifest")
    if r.get("missing"):
        print(f"  {r['missing']:,} row(s) the ledger lists were not found when re-reading (missing_rows in the manifest)")
    return code


PII_TYPE_SQL = """
SELECT type, findings, documents, distinct_values, domains, share_documents FROM pii_by_type ORDER BY findings DESC, type
"""
PII_DOMAIN_SQL = """
SELECT registered_domain, documents, documents_with_pii, findings, share_documents_with_pii FROM pii_by_domain
WHERE findings > 0 ORDER BY findings DESC, registered_domain LIMIT ?
"""


def cmd_pii(args) -> int:
    from .ledger import Ledger

    with Ledger(args.ledger, read_only=True) as led:
        s = led.query("SELECT * FROM pii_summary").to_pylist()[0]
        if args.format == "table":
            print(f"{s['documents_with_pii']:,} of {s['documents']:,} documents ({(s['share_documents_with_pii'] or 0):.2%}) "
                  f"carry PII or secrets: {s['findings']:,} findings"
                  + (f"; {s['documents_not_scanned_for_pii']:,} documents were scanned before PII detection"
                     if s["documents_not_scanned_for_pii"] else ""))
            print()
        if args.by == "type":
            _emit(led.query(PII_TYPE_SQL), args.format)
        else:
            _emit(led.query(PII_DOMAIN_SQL, [args.limit]), args.format)
    return 0


def cmd_redact(args) -> int:
    from .settings import shown
    from .pii import load_config
    from .redact import redact_files
    from .sources import discover

    # inputs that are not there or match nothing stop here, before --out is made (exit 2)
    shards = discover(args.inputs)
    gone = [s for s in shards if getattr(s, "error", None)]
    if gone:
        raise ConfigError(f"{gone[0].error}" + (f" (and {len(gone) - 1} more input(s))" if len(gone) > 1 else ""))
    if not shards:
        raise ConfigError(f"no shard in {', '.join(args.inputs)} (files named *.jsonl[.gz|.zst], *.json.gz, *.parquet, "
                          f"*.warc[.gz], *.wet.gz or *.wat.gz)")

    def progress(r: dict) -> None:
        if not args.quiet:
            print(f"{shown(r['uri'])}: {r['documents']:,} documents, {r['findings']:,} findings"
                  + (f" -> {r['file']}" if r["file"] else ""), file=sys.stderr)

    t = redact_files(args.inputs, args.out, style=args.style, config=load_config(rules_arg(args)), progress=progress)
    print(f"redacted {t['documents']:,} documents in {t['shards']:,} shard(s): {t['findings']:,} findings in "
          f"{t['documents_with_pii']:,} documents -> {args.out}")
    if t["by_type"]:
        print("  " + ", ".join(f"{k} {v:,}" for k, v in t["by_type"].items()))
    for f in t["failed_shards"]:
        print(f"  could not read {shown(f['uri'])}: {f['reason']}: {f['detail']}")
    for f in t.get("partial_shards", []):
        print(f"  read only in part {shown(f['uri'])}: {f['reason']}: {f['detail']}")
    if t.get("quarantined"):
        print(f"  {t['quarantined']:,} record(s) could not be read as documents and are not in the output")
    # finished, but some shard could not be read (or only in part): exit 3
    return EXIT_INCOMPLETE if t["failed_shards"] or t.get("partial_shards") else EXIT_OK


def need_ledger(path: str) -> None:
    """Commands other than `scan` never create a ledger: a missing or foreign file is one line, exit 2."""
    from .ledger import Ledger

    Ledger(path, read_only=True).close()


def cmd_dedup(args) -> int:
    _check_cluster(args)
    need_ledger(args.ledger)
    kw = dict(ledger=args.ledger, threshold=args.threshold, memory_limit=args.memory_limit, rules=rules_arg(args),
              cluster=args.cluster)
    if _tracked(args):
        _prefect_env()
        from .pipelines.dedup import cluster_duplicates

        s = cluster_duplicates(**kw)
    else:
        from .runs import cluster_duplicates

        s = cluster_duplicates(**kw)
    for line in s.get("settings", []):
        print(f"settings: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(s, default=str))
        return 0
    n = max(s["documents"], 1)
    print(f"{s['documents']:,} documents in {s['shards']:,} shard(s), threshold {args.threshold} ({s['bands']} bands x "
          f"{s['rows']} rows): {s['candidate_pairs']:,} candidate pairs, {s['verified_pairs']:,} verified; "
          f"{s['clusters']:,} clusters hold {s['in_clusters']:,} documents, {s['duplicates']:,} redundant copies "
          f"({s['duplicates'] / n:.2%}) in {s['seconds']:.1f} s")
    v = s["verdicts"]
    print(f"takedown matches: {s['takedown_matches']:,}; verdicts (policy {v['policy']}): include {v['include']:,}, "
          f"exclude {v['exclude']:,}, review {v['review']:,}")
    return 0


def cmd_datasheet(args) -> int:
    if args.about_template:
        from .reports.about import template_text

        sys.stdout.write(template_text())
        return 0
    if not args.out:
        raise ProvenanceError("datasheet needs --out DIR (or --about-template to print a starter about file)")
    from .ledger import Ledger
    from .reports.about import load_about
    from .reports.facts import require_current_schema

    # a bad about file, a missing, foreign or older ledger fails here in one line, before the flow starts
    try:
        load_about(args.about)
    except UnicodeDecodeError:
        raise ConfigError(f"--about {args.about}: not UTF-8 text (expected YAML; --about-template prints a starter "
                          f"file)") from None
    with Ledger(args.ledger, read_only=True) as led:
        require_current_schema(led)
    kw = dict(ledger=args.ledger, out_dir=args.out, about=args.about, top=args.top, sme=True if args.sme else None)
    if _tracked(args):
        _prefect_env()
        from .pipelines.datasheet import datasheet

        r = datasheet(**kw)
    else:
        from .runs import write_datasheet

        r = write_datasheet(**kw)
    print(f"datasheet for {r['documents']:,} documents written to {r['out_dir']}:")
    for name, path in r["files"].items():
        print(f"  {path}")
    return 0


def cmd_diff(args) -> int:
    from .reports.diff import diff_ledgers, render_diff

    d = diff_ledgers(args.ledger_a, args.ledger_b, top=args.top)
    if args.format == "json":
        print(json.dumps(d, default=str, indent=1))
    else:
        print(render_diff(d, args.format), end="")
    return 1 if args.exit_code and d["changed"] else 0


def cmd_takedown_add(args) -> int:
    from .dedup import takedown_add
    from .ledger import Ledger
    from .verdict import reevaluate

    texts = [Path(f).read_text(encoding="utf-8", errors="replace") for f in args.text or []]
    urls = []
    for f in args.urls or []:
        try:
            lines = Path(f).read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise ConfigError(f"--urls {f}: not UTF-8 text (expected one URL a line)") from None
        urls += [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    with Ledger(args.ledger, create=False) as led:
        st = _settle(led, args)
        r = takedown_add(led, args.request_id, texts=texts or None, urls=urls or None, documents=args.document or None,
                         threshold=args.threshold, note=args.note,
                         source=", ".join((args.text or []) + (args.urls or []) + (args.document or [])))
        ev = reevaluate(led, st.rules, policy=st.policy)
    print(f"takedown {r['request_id']}: {r['urls']} URL(s) and {r['signatures']} text signature(s) to match; {r['matches']:,} document(s) covered now "
          f"(reason takedown:{r['request_id']}); verdicts: {ev.summary()}")
    return 0


def cmd_takedown_list(args) -> int:
    from .ledger import Ledger

    with Ledger(args.ledger, read_only=True) as led:
        _emit(led.query("""SELECT r.request_id, r.kind, r.added_at, r.threshold, count(m.position) AS documents, r.note
                           FROM takedown_requests r LEFT JOIN takedown_matches m USING (request_id)
                           GROUP BY ALL ORDER BY r.added_at"""), args.format)
    return 0


def cmd_index_build(args) -> int:
    from .safeio import safe_name

    out = args.out or str(Path("indexes") / safe_name(args.name))  # the name becomes one plain folder name
    kw = dict(name=args.name, sources=args.sources, out_dir=out, license=args.license)
    if _tracked(args):
        _prefect_env()
        from .pipelines.index import build_code_index

        m = build_code_index(**kw)
    else:
        from .runs import build_code_index

        m = build_code_index(**kw)
    files = m.get("files", m.get("refs", "?"))
    print(f"index {args.name}: {files} file(s) -> {out} " + json.dumps({k: v for k, v in m.items() if isinstance(v, (int, float, str)) and k not in ("name",)}))
    print(f"use it: provenance scan ... --code-index {out}")
    return 0


def cmd_excluded(args) -> int:
    from .export import list_excluded, write_excluded

    verdict = None if args.verdict == "all" else args.verdict
    if args.out:
        w = write_excluded(args.ledger, args.out, verdict=verdict)
        print(f"wrote {w['rows']:,} {'/'.join(w['verdicts'])} rows to {w['path']} ({w['format']})")
        return 0
    t = list_excluded(args.ledger, verdict=verdict)
    if args.limit and args.format == "table":
        t = t.slice(0, args.limit)
    _emit(t.select([c for c in ("url", "verdict", "reasons", "words") if c in t.column_names]) if args.format == "table" else t,
          args.format)
    return 0


def cmd_rules_check(args) -> int:
    from .ruleset import check, layers

    counts = check(args.rules)
    print("rules OK: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    for d in layers(args.rules):
        print(f"  layer {d}")
    return 0


def cmd_rules_apply(args) -> int:
    from .ledger import Ledger
    from .ruleset import apply_to_ledger

    from .verdict import reevaluate

    with Ledger(args.ledger, create=False) as led:
        st = _settle(led, args)
        counts = apply_to_ledger(led, st.rules)
        print("applied: " + ", ".join(f"{v:,} rows in {k}" for k, v in counts.items()))
        print("verdicts re-evaluated: " + reevaluate(led, st.rules, policy=st.policy).summary())
    return 0


def cmd_rules_import_categories(args) -> int:
    import yaml

    from .ruleset import import_dpi_categories, load_categories

    import csv

    try:
        mapping = import_dpi_categories(args.source)
    except (UnicodeDecodeError, csv.Error) as exc:
        what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "not a readable CSV file"
        raise ConfigError(f"{args.source}: {what} (expected the DPI annotated C4 domains CSV)") from None
    vocab, _ = load_categories()
    from .safeio import write_text  # an exclusively created temporary file renamed over --out

    write_text(args.out, "# imported from the Data Provenance Initiative's annotated C4 domains\n"
               + yaml.safe_dump({"categories": vocab, "domains": dict(sorted(mapping.items()))},
                                sort_keys=False, allow_unicode=True))
    print(f"wrote {len(mapping):,} domain categories to {args.out} (pass its folder with --rules)")
    return 0


def rules_arg(args) -> list[str] | None:
    """--rules as given (None: the ledger's layers; [] with --no-rules: the shipped rules only)."""
    return [] if getattr(args, "no_rules", False) else getattr(args, "rules", None)


def track_opt(sp) -> None:
    sp.add_argument("--track", action="store_true",
                    help="run as a Prefect flow, tracked by the Prefect API (PREFECT_API_URL, else a temporary local "
                         "server: ~10 s more); default: in this process, unless a Prefect API is configured or "
                         "PROVENANCE_TRACK=1")


def rules_opt(sp) -> None:
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--no-rules", action="store_true",
                   help="use the shipped rules only (forget the layers the ledger recorded)")
    g.add_argument("--rules", action="append", metavar="DIR", type=_input("folder"),
                   help="a rules folder layered over the shipped rules (repeatable; recorded in the ledger, which later "
                        "commands use unless given others; checked as `provenance rules check` does)")


# -- arguments: every usage mistake is one line on stderr and exit 2, found before any work ----------------
class CliParser(argparse.ArgumentParser):
    """argparse with one line per usage error, naming the command and where its help is:
    ``provenance scan: error: argument --top: expected a whole number >= 0, got '-1' (see provenance scan --help)``,
    exit 2 (no usage block). Subcommand parsers are of this class too (add_subparsers passes it on)."""

    def error(self, message: str):
        message = " ".join(str(message).split())
        for action in self._actions:
            if not isinstance(action, argparse._SubParsersAction):
                continue
            required = "the following arguments are required: "
            if message.startswith(required) and action.dest in message[len(required):].split(", "):
                message = f"a command is required: one of {', '.join(action.choices)}"
            elif message.startswith(f"argument {action.dest}: invalid choice: "):
                message = "unknown command " + message.split("invalid choice: ", 1)[1]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        ns, extras = self.parse_known_args(args, namespace)
        if extras:  # said by the subcommand they were given to, not by `provenance`
            self._chosen(ns).error(f"unrecognized arguments: {' '.join(extras)}")
        return ns

    def _chosen(self, ns) -> argparse.ArgumentParser:
        parser = self
        while True:
            subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            name = getattr(ns, subs[0].dest, None) if subs else None
            if name not in (subs[0].choices if subs else {}):
                return parser
            parser = subs[0].choices[name]


def _whole(minimum: int):
    """An argparse type: a whole number >= minimum."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value
    return parse


def _number(low: float, high: float | None = None, *, above: bool = False, what: str = "a number"):
    """An argparse type: a finite number >= low (> low with ``above``) and <= high."""
    import math

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if above else value >= low) and (high is None or value <= high)):
            bounds = (f"in {'(' if above else '['}{low:g}, {high:g}]" if high is not None
                      else f"{'>' if above else '>='} {low:g}")
            raise argparse.ArgumentTypeError(f"expected {what} {bounds}, got {text!r}")
        return value
    return parse


def _memory_limit(text: str) -> str:
    """A size for --memory-limit, checked by the budget's own parser (one set of rules for the flag and
    $PROVENANCE_MEMORY_LIMIT), as a DuckDB size string."""
    from .budget import parse_size

    try:
        n = parse_size(text)
    except ProvenanceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return f"{n // 1024}KiB"


def _host_ip(text: str) -> str:
    """--resolve HOST=IP, the address checked as the fetcher's resolver reads it."""
    from .netguard import ip_literal

    host, sep, ip = text.partition("=")
    host, ip = host.strip().lower().rstrip("."), ip.strip().strip("[]")
    if not sep or not host or not re.fullmatch(r"[a-z0-9_.\-]+", host) or ip_literal(ip) is None:
        raise argparse.ArgumentTypeError(f"expected HOST=IP with an IPv4 or IPv6 address, e.g. "
                                         f"example.com=93.184.215.14; got {text!r}")
    return f"{host}={ip}"


_PRODUCT_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")  # what ruleset.Agent accepts, not starting with '-'


def _agents_list(text: str) -> str:
    items = [t.strip() for t in text.split(",")]
    bad = [t for t in items if not _PRODUCT_TOKEN.fullmatch(t)]
    if bad or (len(items) > 1 and any(t.lower() == "rules" for t in items)):
        raise argparse.ArgumentTypeError(f"expected comma-separated robots.txt product tokens (a letter or digit, then "
                                         f"letters, digits, '_', '-', '.'), e.g. GPTBot,CCBot, or `rules` alone; got {text!r}")
    return ",".join(items)


def _sample_formats(text: str) -> str:
    from .sample import FORMATS

    items = [f.strip() for f in text.split(",") if f.strip()]
    if not items or any(f not in FORMATS for f in items):
        raise argparse.ArgumentTypeError(f"expected comma-separated formats of {', '.join(FORMATS)}; got {text!r}")
    return ",".join(items)


def _input(kind: str):
    """The argparse type of an argument that names something a command reads: a ``file``, a ``folder``, a
    ``path`` (either) or a ``spec`` (shards: files, folders, globs, fsspec URLs). ``main`` checks them all
    before the command starts (``_check_inputs``; a spec is checked by ``sources.discover``, which the
    command calls first): one that is not there is one line, exit 2, before any work. ``names_input`` also lets
    the tests find every argument that names an input."""
    def parse(text: str) -> str:
        return text

    parse.names_input = kind
    return parse


def _new_file(text: str) -> str:
    """The argparse type of a file a command writes (made, or replaced): its folder must be there (checked
    with the inputs, before any work)."""
    return text


_new_file.names_output = True


def _input_problem(text: str, kind: str) -> str | None:
    p = Path(text)
    if not p.exists():
        return "no such " + {"file": "file", "folder": "folder"}.get(kind, "file or folder")
    if kind == "file" and p.is_dir():
        return "a folder, not a file"
    if kind == "folder" and not p.is_dir():
        return "not a folder"
    if not os.access(p, os.R_OK):
        return "permission denied"
    return None


def _check_inputs(parser: argparse.ArgumentParser, args) -> None:
    """Every file and folder the command was told to read is there, and the folder of every file it writes,
    before it starts."""
    for action in parser._actions:
        kind = getattr(action.type, "names_input", None)
        values = getattr(args, action.dest, None)
        if getattr(action.type, "names_output", False) and values:
            folder = os.path.dirname(os.path.abspath(values))
            if not os.path.isdir(folder):
                raise ConfigError(f"{os.path.dirname(values) or folder}: no such folder (for {action.option_strings[0]} "
                                  f"{values})")
        if kind in (None, "spec") or values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            problem = _input_problem(value, kind)
            if problem:
                given = f" ({action.option_strings[0]})" if action.option_strings else ""
                raise ConfigError(f"{value}: {problem}{given}")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = CliParser(prog="provenance", description=__doc__)
    p.add_argument("--version", action="version", version=f"provenance {__version__}")
    p.add_argument("--memory-limit", dest="memory_budget", type=_memory_limit, metavar="SIZE",
                   help="peak memory the command aims to stay within (default 1GB, or $PROVENANCE_MEMORY_LIMIT); "
                        "DuckDB gets 40%% of it and spills beyond that to <ledger>.tmp")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="generate the embedded default corpus (deterministic, C4-style)")
    s.add_argument("--out", default="sample", help="output directory (default: sample/)")
    s.add_argument("--docs", type=_whole(1), default=20000, help="number of documents (default 20000)")
    s.add_argument("--shards", type=_whole(1), default=4, help="files per format (default 4)")
    s.add_argument("--seed", type=_whole(0), default=0)
    s.add_argument("--formats", type=_sample_formats, default="jsonl.gz,parquet", help="comma-separated: jsonl.gz, parquet")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("scan", help="scan shards into the ledger (runs the Prefect scan flow)")
    s.add_argument("inputs", nargs="+", type=_input("spec"), metavar="INPUT", help="files, globs, directories or fsspec URLs (s3://, gs://, https://, ...)")
    s.add_argument("--ledger", default=DEFAULT_LEDGER, type=_new_file, help=f"DuckDB ledger file (default {DEFAULT_LEDGER})")
    s.add_argument("--work-dir", help="where per-shard Parquet results go (default: <ledger>.parts/)")
    s.add_argument("--format", choices=["jsonl", "parquet", "warc", "wet", "wat"], help="force the input format")
    s.add_argument("--map", action="append", metavar="FIELD=PATH[,PATH]",
                   help="where a field lives, e.g. --map url=metadata.link (fields: text url crawl_date doc_id language crawl)")
    s.add_argument("--max-doc-bytes", type=_whole(1), help="quarantine documents larger than this (default 16 MiB)")
    s.add_argument("--force", action="store_true", help="rescan shards even when unchanged")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.add_argument("--json", action="store_true", help="print the run summary as JSON")
    s.add_argument("--top", type=_whole(0), default=30, help="print the top-N domains table after the scan (0: no)")
    s.add_argument("--keep-pii-values", action="store_true",
                   help="store the raw PII / secret values in the ledger (default: type, offsets and a keyed hash only)")
    s.add_argument("--code-index", action="append", metavar="DIR", type=_input("folder"),
                   help="match pages against a code reference index (repeatable; recorded in the ledger: later scans "
                        "use it unless given others)")
    s.add_argument("--no-code-index", action="store_true", help="drop the code indexes the ledger recorded")
    s.add_argument("--pii-key", metavar="FILE",
                   help="the key PII values are hashed with (default: $PROVENANCE_PII_KEY, else <ledger>.pii-key, "
                        "created on the first scan; keep it private, share the ledger without it)")
    s.add_argument("--policy", help="verdict policy of policy.yaml evaluated after the scan (default: the ledger's, "
                                    "else policy.yaml's default_policy)")
    s.add_argument("--documents-store", choices=["table", "parquet"],
                   help="where a new ledger keeps its per-document rows: the DuckDB table (default) or a Parquet "
                        "dataset beside it (<ledger>.documents/, read as the documents view); fixed at creation")
    s.add_argument("--cluster", metavar="tcp://HOST:PORT|local:N",
                   help="run the shard tasks on Dask: a running scheduler's address, or local:N worker processes "
                        "(the work dir must be a path every worker sees; only this process writes the ledger)")
    rules_opt(s)
    track_opt(s)
    s.set_defaults(func=cmd_scan)

    lg = sub.add_parser("ledger", help="the ledger itself: what it is and what it holds")
    lsub = lg.add_subparsers(dest="ledger_command", required=True)
    s = lsub.add_parser("info", help="schema and storage versions, settings, sizes and runs of a ledger")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--json", action="store_true", help="one JSON object instead of the text")
    s.set_defaults(func=cmd_ledger_info)

    s = sub.add_parser("query", help="run SQL against the ledger")
    s.add_argument("sql", help="a SQL query, or - to read it from stdin")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.set_defaults(func=cmd_query)

    def net_opts(sp):
        sp.add_argument("--allow-internal", action="store_true",
                        help="allow hosts that resolve to loopback/private/link-local addresses (refused by default)")
        sp.add_argument("--proxy", help="HTTP(S) proxy URL for all fetches")
        sp.add_argument("--resolve", action="append", metavar="HOST=IP", type=_host_ip, help="pin a host to an address (no DNS)")
        sp.add_argument("--workers", type=_whole(1), default=8, help="global concurrency (default 8)")
        sp.add_argument("--delay", type=_number(0, what="a number of seconds"), default=1.0, help="seconds between requests to one host (default 1)")

    def cluster_opt(sp, what: str):
        sp.add_argument("--cluster", metavar="tcp://HOST:PORT|local:N",
                        help=f"run {what} on Dask: a running scheduler's address, or local:N worker processes (the "
                             f"ledger's folder must be a path every worker sees; only this process writes the ledger)")

    def agent_opts(sp):
        sp.add_argument("--agents", type=_agents_list, help="comma-separated product tokens (recorded in the ledger; default: the ledger's, "
                                         "else agents.yaml entries with evaluate: true; `rules` goes back to those)")
        rules_opt(sp)

    rb = sub.add_parser("robots", help="robots.txt snapshots: import, fetch, refresh, agents")
    rsub = rb.add_subparsers(dest="robots_command", required=True)
    s = rsub.add_parser("import", help="import snapshots: a folder, JSON Lines of bodies, or Common Crawl robots.txt WARCs")
    s.add_argument("sources", nargs="+", type=_input("path"), metavar="SOURCE")
    s.add_argument("--captured-at", help="capture date for bodies without one (default: the file's modification time)")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--no-evaluate", action="store_true", help="do not re-evaluate consent afterwards")
    s.add_argument("--rsl-dir", type=_input("folder"), metavar="DIR",
                   help="RSL license documents named by robots.txt License: lines, mirrored as DIR/<host>/<path> "
                        "(as wget -x saves them; see provenance.rsl); without it they are recorded as not fetched")
    agent_opts(s)
    cluster_opt(s, "the consent decisions (partitioned by host)")
    s.set_defaults(func=cmd_robots_import)
    s = rsub.add_parser("fetch", help="fetch robots.txt live (RFC 9309) for the given hosts, or every host in the ledger")
    s.add_argument("hosts", nargs="*")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--no-evaluate", action="store_true")
    s.add_argument("--tdmrep", action="store_true", help="also fetch each host's /.well-known/tdmrep.json (TDMRep)")
    s.add_argument("--rsl-dir", type=_input("folder"), metavar="DIR",
                   help="read RSL license documents (robots.txt License: lines) from DIR/<host>/<path> first; "
                        "the others are fetched live with the same guard as robots.txt")
    net_opts(s)
    agent_opts(s)
    cluster_opt(s, "the consent decisions (partitioned by host)")
    s.set_defaults(func=cmd_robots_fetch)
    s = rsub.add_parser("refresh", help="the refresh flow: fetch every host in the ledger, evaluate, record changes")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    net_opts(s)
    agent_opts(s)
    cluster_opt(s, "the consent decisions (partitioned by host)")
    track_opt(s)
    s.set_defaults(func=cmd_robots_refresh)
    s = rsub.add_parser("agents-import", help="convert the ai.robots.txt project's robots.json into an agents.yaml")
    s.add_argument("source", type=_input("file"), metavar="FILE")
    s.add_argument("--out", required=True, type=_new_file)
    rules_opt(s)  # the layers whose agents count as known (the shipped ones, always)
    s.set_defaults(func=cmd_robots_agents_import)

    s = sub.add_parser("consent", help="per-agent consent: share of documents and words disallowed, crawl time and now")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--by", choices=["agent", "domain"], default="agent")
    s.add_argument("--limit", type=_whole(0), default=30)
    s.add_argument("--evaluate", action="store_true", help="re-evaluate from the stored snapshots first")
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    agent_opts(s)
    cluster_opt(s, "the consent decisions of --evaluate (partitioned by host)")
    s.set_defaults(func=cmd_consent)

    ru = sub.add_parser("rules", help="validate, apply and import rules (rules/*.yaml, layered with --rules DIR)")
    rusub = ru.add_subparsers(dest="rules_command", required=True)
    s = rusub.add_parser("check", help="validate every rules file of every layer (errors name file and line)")
    rules_opt(s)
    s.set_defaults(func=cmd_rules_check)
    s = rusub.add_parser("apply", help="load categories, licenses and ToS clauses into the ledger and re-evaluate verdicts (no shard is read)")
    rules_opt(s)
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.set_defaults(func=cmd_rules_apply)
    s = rusub.add_parser("import-categories", help="convert the DPI annotated top-2000 C4 domains CSV into a categories.yaml")
    s.add_argument("source", type=_input("file"), metavar="FILE")
    s.add_argument("--out", required=True, type=_new_file)
    s.set_defaults(func=cmd_rules_import_categories)

    s = sub.add_parser("verdicts", help="evaluate one verdict per document (include/exclude/review) under a policy, from the ledger alone")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--policy", help="a policy of policy.yaml (default: its default_policy)")
    s.add_argument("--show", action="store_true", help="show the last evaluation without evaluating again")
    s.add_argument("--limit", type=_whole(0), default=20, help="reasons to list (default 20)")
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    rules_opt(s)
    s.set_defaults(func=cmd_verdicts)

    s = sub.add_parser("export", help="write the documents of a verdict (default: include) as Parquet with text and provenance, plus a manifest")
    s.add_argument("--out", required=True, help="output folder (must be empty or hold an earlier export)")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--verdict", action="append", choices=["include", "exclude", "review"],
                   help="verdict(s) to export (repeatable; default include)")
    s.add_argument("--overwrite", action="store_true", help="replace the files of an earlier export in --out")
    s.add_argument("--skip-changed", action="store_true", help="skip source shards that changed since the scan instead of stopping")
    s.add_argument("--memory-limit", type=_memory_limit, help="DuckDB memory limit for the selection (default: DuckDB's share of the budget, see provenance --memory-limit)")
    s.add_argument("--redact-pii", nargs="?", const="placeholder", choices=["placeholder", "fake"],
                   help="replace PII and secrets in the text: <EMAIL>, <PHONE>, ... (default) or format-preserving fakes")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("pii", help="personal data and secrets found by the scan: by type or by domain")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--by", choices=["type", "domain"], default="type")
    s.add_argument("--limit", type=_whole(0), default=30)
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.set_defaults(func=cmd_pii)

    s = sub.add_parser("redact", help="write shards with PII and secrets replaced (<EMAIL>, <PHONE>, ... or fakes), no ledger needed")
    s.add_argument("inputs", nargs="+", type=_input("spec"), metavar="INPUT")
    s.add_argument("--out", required=True, help="an empty or new folder")
    s.add_argument("--style", choices=["placeholder", "fake"], default="placeholder")
    s.add_argument("--quiet", action="store_true")
    rules_opt(s)
    s.set_defaults(func=cmd_redact)

    s = sub.add_parser("dedup", help="cluster near-duplicate documents (MinHash LSH over the scan's signatures, out of core)")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--threshold", type=_number(0, 1, above=True), default=0.8, help="estimated Jaccard of word 5-grams (default 0.8)")
    s.add_argument("--memory-limit", type=_memory_limit, help="DuckDB memory limit while grouping band hashes, e.g. 2GB (spills to disk)")
    s.add_argument("--json", action="store_true")
    cluster_opt(s, "the band hashing (per shard) and the candidate pairs (per band partition)")
    rules_opt(s)
    track_opt(s)
    s.set_defaults(func=cmd_dedup)

    td = sub.add_parser("takedown", help="erasure / copyright requests: every near-duplicate is excluded, now and in future scans")
    tdsub = td.add_subparsers(dest="takedown_command", required=True)
    s = tdsub.add_parser("add", help="add a request: texts, a URL list or ledger documents")
    s.add_argument("request_id")
    s.add_argument("--text", action="append", metavar="FILE", type=_input("file"), help="a file with the text to take down (repeatable)")
    s.add_argument("--urls", action="append", metavar="FILE", type=_input("file"), help="a file of URLs, one per line (repeatable)")
    s.add_argument("--document", action="append", metavar="SHARD_ID:POSITION|DOC_ID", help="a document of the ledger (repeatable)")
    s.add_argument("--threshold", type=_number(0, 1, above=True), default=0.8)
    s.add_argument("--note")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    rules_opt(s)
    s.set_defaults(func=cmd_takedown_add)
    s = tdsub.add_parser("list", help="requests and how many documents each covers")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.set_defaults(func=cmd_takedown_list)

    ix = sub.add_parser("index", help="reference indexes of code (copyrighted, licensed) that scans match pages against")
    ixsub = ix.add_subparsers(dest="index_command", required=True)
    s = ixsub.add_parser("build", help="build an index from folders of code or JSON Lines of files")
    s.add_argument("name")
    s.add_argument("sources", nargs="+", type=_input("path"), metavar="SOURCE")
    s.add_argument("--license", help="SPDX id for every file (default: the file's own tag / the record's license)")
    s.add_argument("--out", help="index folder (default indexes/NAME)")
    track_opt(s)
    s.set_defaults(func=cmd_index_build)

    s = sub.add_parser("datasheet", help="datasheet, dataset card, EU training-content summary and HTML page from the ledger")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--out", help="folder for datasheet.md, README.md (dataset card), eu-training-summary.md, datasheet.html, facts.json")
    s.add_argument("--about", type=_input("file"), help="YAML with what only a person can say (motivation, uses, maintenance, provider)")
    s.add_argument("--about-template", action="store_true", help="print a starter about file and exit")
    s.add_argument("--top", type=_whole(0), default=30, help="registered domains in the top table (default 30)")
    s.add_argument("--sme", action="store_true",
                   help="EU summary lists the top 5%% of domains (at most 1,000) instead of 10%% (or provider.sme in the about file)")
    track_opt(s)
    s.set_defaults(func=cmd_datasheet)

    s = sub.add_parser("diff", help="what changed between two audits: composition, consent, verdicts (per document), PII, licenses")
    s.add_argument("ledger_a", help="the earlier ledger")
    s.add_argument("ledger_b", help="the later ledger")
    s.add_argument("--top", type=_whole(0), default=30, help="top-N domains compared for entering / leaving (default 30)")
    s.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    s.add_argument("--exit-code", action="store_true", help="exit 1 when anything changed (as git diff --exit-code)")
    s.set_defaults(func=cmd_diff)

    s = sub.add_parser("excluded", help="list the documents left out (or held for review) and why")
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--verdict", choices=["exclude", "review", "all"], default="exclude")
    s.add_argument("--out", type=_new_file, help="write the whole list to .csv, .parquet or .jsonl")
    s.add_argument("--limit", type=_whole(0), default=30, help="rows to print as a table (default 30; 0: all)")
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.set_defaults(func=cmd_excluded)

    s = sub.add_parser("composition", help="the top registered domains (or suffixes) by share of words")
    s.add_argument("--by", choices=["domain", "suffix", "category", "license", "tos"], default="domain",
                   help="registered domain, public suffix, category, license family or ToS class")
    s.add_argument("--limit", type=_whole(0), default=30)
    s.add_argument("--ledger", default=DEFAULT_LEDGER)
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.set_defaults(func=cmd_composition)
    return p


def _debug() -> bool:
    return os.environ.get("PROVENANCE_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):  # stderr closed too: nothing left to tell
        pass


def _check_rules(args) -> None:
    """The --rules layers given, checked as `provenance rules check` checks them, before any work: a file that
    check refuses stops every command the same way (file:line, exit 2)."""
    given = getattr(args, "rules", None)
    if given and getattr(args, "func", None) is not cmd_rules_check:
        from .ruleset import check

        try:
            check(given)
        except UnicodeDecodeError:
            raise ConfigError(f"a rules file in {', '.join(given)} is not UTF-8 text (see provenance rules check)") from None


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a usage error (one line, said), --help or --version: a code, not an exception
        sys.stdout.flush()
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
    if getattr(args, "memory_budget", None):
        os.environ[budget.ENV] = args.memory_budget
    budget.budget_bytes()  # a bad $PROVENANCE_MEMORY_LIMIT is one line before any work
    _check_inputs(parser._chosen(args), args)
    _check_rules(args)
    code = args.func(args)
    sys.stdout.flush()  # a closed pipe shows here (BrokenPipeError), not in the interpreter's last flush
    return code


def main(argv: list[str] | None = None) -> int:
    """Exit codes (docs/exit-codes.md): 0 done, 1 unexpected error, 2 usage or configuration error (one line
    each), 3 finished but incomplete, 130 interrupted, 141 stdout closed early. Never a traceback, unless
    PROVENANCE_DEBUG=1."""
    import errno

    budget.tune_allocators()
    try:
        return _run(argv)
    except ProvenanceError as exc:
        lines = [" ".join(ln.split()) for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
        for line in lines:  # one line per mistake (a rules file may hold several)
            _say(f"provenance: error: {line}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _say("provenance: interrupted; rerun the same command to resume (finished shards are kept)")
        return EXIT_INTERRUPTED
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
            # stdout closed early (`provenance ... | head`): stop quietly, as a C tool killed by SIGPIPE; stdout
            # goes to devnull so the interpreter's final flush cannot fail again (Python docs, "Note on SIGPIPE")
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            return EXIT_PIPE
        if _debug():
            raise
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)) and exc.filename:
            # a file the user named (or a folder to write in) that is not there or not theirs
            path, why = str(exc.filename), exc.strerror or type(exc).__name__
            parent = os.path.dirname(path)
            if isinstance(exc, FileNotFoundError) and parent and not os.path.isdir(parent):
                path, why = parent, "no such folder"  # not the temporary file written there
            _say(f"provenance: error: {path}: {why}")
            return EXIT_USAGE
        _say(f"provenance: error: {safe_message(exc)}")  # the system failing under us: disk full, I/O error
        return EXIT_INTERNAL
    except Exception as exc:  # noqa: BLE001 - a bug: one line, never a traceback (nor a record's bytes)
        from .runs import is_interrupt

        if is_interrupt(exc):  # Ctrl-C inside a DuckDB query of any command
            _say("provenance: interrupted; rerun the same command to resume (finished shards are kept)")
            return EXIT_INTERRUPTED
        if _debug():
            raise
        _say(f"provenance: internal error: {safe_message(exc)} (a bug: please report it; PROVENANCE_DEBUG=1 shows "
             f"the traceback)")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
