"""The scan flow: one Prefect task per shard, one writer into the DuckDB ledger.

Tasks read and scan shards (threads by default; any Prefect task runner, e.g. Dask, with
``scan_corpus.with_options(task_runner=...)``) and write per-shard Parquet; the flow ingests each result
into the ledger as it completes, one transaction per shard. Shards already in the ledger with the same
fingerprint and configuration are skipped, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from provenance import __version__
from provenance.dedup import match_takedowns
from provenance.ledger import Ledger, ShardResult
from provenance.pii import load_config as load_pii_config
from provenance.pipeline import config_hash, failed_result, scan_shard
from provenance.progress import Progress
from provenance.readers import ReadOptions
from provenance.ruleset import apply_to_ledger, rules_hash
from provenance.verdict import evaluate as evaluate_verdicts
from provenance.scanners import default_scanners
from provenance.sources import Shard, discover


def default_work_dir(ledger: str) -> str:
    """Per-shard Parquet results live beside the ledger: ``<ledger>.parts/``."""
    return str(Path(ledger).with_name(Path(ledger).name + ".parts"))


# Bad input never raises here (it is quarantined inside scan_shard); retries are for transient failures
# such as a remote read that times out.
@task(name="scan-shard", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def scan_shard_task(shard: Shard, work_dir: str, options: ReadOptions, chash: str, scanners: list | None = None) -> ShardResult:
    return scan_shard(shard, work_dir, options=options, chash=chash, scanners=scanners)


@flow(name="scan-corpus", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2))
def scan_corpus(
    inputs: list[str],
    ledger: str = "provenance.duckdb",
    work_dir: str | None = None,
    format: str | None = None,
    column_map: dict[str, list[str]] | None = None,
    max_doc_bytes: int | None = None,
    force: bool = False,
    quiet: bool = False,
    rules: list[str] | None = None,
    policy: str | None = None,
    keep_pii_values: bool = False,
    code_indexes: list[str] | None = None,
) -> dict:
    """Scan shards into the ledger and return the run's totals."""
    t0 = time.perf_counter()
    options = ReadOptions(column_map=column_map or {})
    if max_doc_bytes:
        options.max_doc_bytes = int(max_doc_bytes)
    work_dir = work_dir or default_work_dir(ledger)
    shards = discover(inputs, format=format)
    rhash = rules_hash(rules)
    pii_config = load_pii_config(rules)
    totals = {"rows_read": 0, "documents": 0, "quarantined": 0, "shards_failed": 0, "shards_partial": 0}
    with Ledger(ledger) as led:
        scanners = default_scanners(pii_config, led.pii_salt(), keep_pii_values, code_indexes)
        chash = config_hash(scanners, options)
        config = {"inputs": inputs, "format": format, "column_map": options.column_map,
                  "max_doc_bytes": options.max_doc_bytes, "scanners": [s.name for s in scanners], "work_dir": work_dir,
                  "rules": rules or [], "keep_pii_values": keep_pii_values,
                  "code_indexes": code_indexes or []}
        apply_to_ledger(led, rules)  # categories and domain licenses, for the views
        finished = {} if force else led.finished_shards(chash)
        todo = [s for s in shards if s.error is not None or finished.get(s.shard_id) != s.fingerprint]
        skipped = len(shards) - len(todo)
        run_id = led.begin_run(config, rhash, chash, len(shards))
        progress = Progress(len(shards), skipped=skipped, quiet=quiet)
        progress.start(len(todo))
        by_future = {scan_shard_task.submit(s, work_dir, options, chash, scanners): s for s in todo}
        status = "done"
        try:
            for fut in as_completed(list(by_future)):
                shard = by_future[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - a task that failed after its retries
                    res = failed_result(shard, chash, exc)
                led.ingest_shard(res, run_id)
                progress.shard_done(res)
                totals["rows_read"] += res.rows_read
                totals["documents"] += res.documents
                totals["quarantined"] += res.quarantined
                totals["shards_failed"] += res.status == "failed"
                totals["shards_partial"] += res.status == "partial"
        except BaseException:
            status = "failed"
            raise
        finally:
            seconds = time.perf_counter() - t0
            led.finish_run(run_id, status=status, shards_scanned=len(todo), shards_skipped=skipped,
                           rows_read=totals["rows_read"], documents=totals["documents"],
                           quarantined=totals["quarantined"], seconds=seconds, timings={"flow_seconds": seconds})
        # takedown requests cover future scans too: match the shards scanned now against them
        scanned_ids = [s.shard_id for s in todo]
        if scanned_ids and led.con.execute("SELECT count(*) FROM takedown_requests").fetchone()[0]:
            match_takedowns(led, shard_ids=scanned_ids)
        # verdicts from the ledger alone (consent, rules, findings): cheap next to the scan, and kept current
        ev = evaluate_verdicts(led, rules, policy, apply_rules=False)
    return {"run_id": run_id, "ledger": ledger, "shards": len(shards), "scanned": len(todo), "skipped": skipped,
            "seconds": seconds, "version": __version__, **totals,
            "verdicts": {"policy": ev.policy, "include": ev.included, "exclude": ev.excluded, "review": ev.review,
                         "warnings": ev.warnings}}
