"""The scan flow: one Prefect task per shard, one writer into the DuckDB ledger.

Tasks read and scan shards and write per-shard Parquet; the flow ingests each result into the ledger as it
completes, one transaction per shard. Shards already in the ledger with the same fingerprint and
configuration are skipped, so an interrupted run resumes where it stopped.

Tasks run on threads by default. ``cluster="tcp://HOST:8786"`` (an existing Dask scheduler) or
``cluster="local:N"`` (a Dask LocalCluster of N worker processes, started for the run) runs them on Dask
through prefect-dask's ``DaskTaskRunner``; ``scan_corpus.with_options(task_runner=...)`` works for any other
Prefect task runner. Either way only this flow's process opens the ledger: workers write Parquet into the
work dir, which must therefore be a path every worker sees (a shared file system).
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from provenance import __version__
from provenance.dedup import match_takedowns
from provenance import errors
from provenance.errors import ProvenanceError
from provenance.ledger import Ledger, ShardResult
from provenance.pii import load_config as load_pii_config
from provenance.pipeline import config_hash, failed_result, forget_shard, scan_shard
from provenance.progress import Progress
from provenance.readers import ReadOptions
from provenance.ruleset import apply_to_ledger
from provenance.pii_key import key_for_scan
from provenance.settings import settle
from provenance.verdict import evaluate as evaluate_verdicts
from provenance.scanners import default_scanners
from provenance.sources import Shard, discover


def default_work_dir(ledger: str) -> str:
    """Per-shard Parquet results live beside the ledger: ``<ledger>.parts/``."""
    return str(Path(ledger).with_name(Path(ledger).name + ".parts"))


_LOCAL = re.compile(r"local(?::(\d+))?")
_ADDRESS = re.compile(r"(?:(tcp|tls|ucx|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+)(?::\d+)?")


def dask_task_runner(cluster: str):
    """Prefect's Dask task runner for ``cluster``: ``local:N`` starts a LocalCluster of N single-threaded
    worker processes for the run (``local``: one per core); anything else is the address of a running
    Dask scheduler (``tcp://HOST:8786``; a bare ``HOST:PORT`` means tcp)."""
    check_cluster(cluster, probe=False)
    from prefect_dask import DaskTaskRunner

    m = _LOCAL.fullmatch(cluster)
    if m:
        n = int(m.group(1)) if m.group(1) else (os.cpu_count() or 2)
        return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                              cluster_kwargs={"n_workers": n, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    return DaskTaskRunner(address=cluster if "://" in cluster else f"tcp://{cluster}")


def check_cluster(cluster: str, probe: bool = True) -> None:
    """Raise a one-line ProvenanceError for a malformed ``--cluster``, a missing prefect-dask, or (``probe``)
    a scheduler address where nothing listens (else Dask retries for 30 s, then the flow fails with a long
    traceback)."""
    m = _LOCAL.fullmatch(cluster)
    a = _ADDRESS.fullmatch(cluster)
    if (m and m.group(1) is not None and int(m.group(1)) < 1) or not (m or a):
        raise ProvenanceError(f"--cluster {cluster!r}: expected tcp://HOST:PORT (a running Dask scheduler) or local:N")
    try:
        import prefect_dask  # noqa: F401
    except ImportError as exc:
        raise ProvenanceError(f"--cluster needs Prefect's Dask integration: pip install prefect-dask ({exc})") from exc
    if probe and not m and (a.group(1) or "tcp") in ("tcp", "tls"):
        import socket

        hostport = cluster.split("://", 1)[-1]
        host, _, port = hostport.rpartition(":") if re.search(r":\d+$", hostport) else (hostport, "", "8786")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        except OSError as exc:
            raise ProvenanceError(f"no Dask scheduler answers at {cluster} ({exc.strerror or exc}); start one with "
                                  f"`dask scheduler`, or use --cluster local:N") from exc


@contextmanager
def _api_for_workers():
    """Tasks on Dask workers report to the Prefect API named in the settings shipped with each task. With no
    PREFECT_API_URL (ephemeral mode) that names nothing, and every worker would boot a temporary server of
    its own (~10 s each; its task runs recorded where nobody looks). Name this process's temporary server
    instead: workers on this host reach it. Workers on other hosts need a real server: ``prefect server
    start`` and PREFECT_API_URL."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client:
        url = str(client.api_url).rstrip("/")
    with temporary_settings({PREFECT_API_URL: url}):
        yield


def _on_dask() -> bool:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx is not None and type(ctx.task_runner).__module__.startswith("prefect_dask")


class ShardReadError(ProvenanceError, OSError):
    """A read that failed (a remote file that timed out, a full disk): retried by the task. Its message is
    ``errors.safe_message`` of the original, so Prefect's logs never hold record bytes."""


# Bad input never raises here (it is quarantined inside scan_shard); retries are for transient failures
# such as a remote read that times out. Anything else is a bug on some input: the shard is recorded as
# failed with a message that names the error's type and place, never its text (which may quote a record),
# so that neither the ledger nor Prefect's log database ever holds document content.
@task(name="scan-shard", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def scan_shard_task(shard: Shard, work_dir: str, options: ReadOptions, chash: str, scanners: list | None = None) -> ShardResult:
    try:
        return scan_shard(shard, work_dir, options=options, chash=chash, scanners=scanners)
    except OSError as exc:
        raise ShardReadError(errors.safe_message(exc)) from None
    except Exception as exc:  # noqa: BLE001
        return failed_result(shard, chash, exc)


def _ingest(led: Ledger, res: ShardResult, shard: Shard, run_id: str, work_dir: str, options: ReadOptions,
            chash: str, scanners: list) -> ShardResult:
    """Ingest a shard's result. A result the ledger refuses is never reused: its cached files are deleted and
    the shard is scanned once more here; if that fails too, the shard is recorded as failed (and its cache
    stays deleted, so the next run tries again)."""
    if res.status == "failed" and res.error_reason == errors.FAILED:
        forget_shard(shard, work_dir, chash)
    try:
        led.ingest_shard(res, run_id)
        return res
    except Exception as exc:  # noqa: BLE001 - DuckDB refusing a sink: a bug or a damaged cache file
        first = errors.safe_message(exc)
    forget_shard(shard, work_dir, chash)
    try:
        res = scan_shard(shard, work_dir, options=options, chash=chash, scanners=scanners)
        led.ingest_shard(res, run_id)
        return res
    except Exception as exc:  # noqa: BLE001
        forget_shard(shard, work_dir, chash)
        failed = failed_result(shard, chash, exc)
        failed.error = f"the ledger could not ingest this shard's result ({first}), nor a fresh scan of it ({failed.error})"
        led.ingest_shard(failed, run_id)
        return failed


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
    cluster: str | None = None,
    extra_scanners: list | None = None,
    documents_store: str | None = None,
    pii_key_path: str | None = None,
) -> dict:
    """Scan shards into the ledger and return the run's totals.

    ``cluster`` runs the shard tasks on Dask (see the module docstring); ``extra_scanners`` are scanner
    objects run after the default ones (they must pickle when the tasks run on a cluster);
    ``documents_store`` (``table`` or ``parquet``) is chosen when the ledger is created: ``parquet`` keeps
    the per-document rows in a Parquet dataset beside the ledger (``<ledger>.documents/``) that the ledger
    reads as the ``documents`` view."""
    if cluster and not _on_dask():
        # One flow has one task runner; Prefect's way to use another for part of a run is a subflow with
        # that runner. The scan runs there, the ledger is opened there, in this same process.
        check_cluster(cluster)
        runner = dask_task_runner(cluster)
        with _api_for_workers():
            return scan_corpus.with_options(task_runner=runner)(
                inputs=inputs, ledger=ledger, work_dir=work_dir, format=format, column_map=column_map,
                max_doc_bytes=max_doc_bytes, force=force, quiet=quiet, rules=rules, policy=policy,
                keep_pii_values=keep_pii_values, code_indexes=code_indexes, cluster=cluster,
                extra_scanners=extra_scanners, documents_store=documents_store, pii_key_path=pii_key_path)
    t0 = time.perf_counter()
    options = ReadOptions(column_map=column_map or {})
    if max_doc_bytes:
        options.max_doc_bytes = int(max_doc_bytes)
    # absolute: tasks may run in other processes and on other hosts, with another working directory
    work_dir = os.path.abspath(work_dir or default_work_dir(ledger))
    shards = discover(inputs, format=format)
    totals = {"rows_read": 0, "documents": 0, "quarantined": 0, "shards_failed": 0, "shards_partial": 0}
    with Ledger(ledger, documents_store=documents_store) as led:
        # the ledger's rules, policy and code indexes unless new ones are given (changes are recorded)
        st = settle(led, rules=rules, policy=policy, code_indexes=code_indexes)
        rules, policy, code_indexes = st.rules, st.policy, st.code_indexes
        rhash = st.rules_hash
        pii_config = load_pii_config(rules)
        pii_key, pii_scheme, key_notes = key_for_scan(led, pii_key_path)
        scanners = default_scanners(pii_config, pii_key, keep_pii_values, code_indexes, pii_scheme) + list(extra_scanners or [])
        chash = config_hash(scanners, options)
        config = {"inputs": inputs, "format": format, "column_map": options.column_map,
                  "max_doc_bytes": options.max_doc_bytes, "scanners": [s.name for s in scanners], "work_dir": work_dir,
                  "rules": rules or [], "keep_pii_values": keep_pii_values,
                  "code_indexes": code_indexes or [], "cluster": cluster}
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
                res = _ingest(led, res, shard, run_id, work_dir, options, chash, scanners)
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
    return {"run_id": run_id, "ledger": ledger, "settings": st.changes, "notes": key_notes,
            "shards": len(shards), "scanned": len(todo), "skipped": skipped,
            "seconds": seconds, "version": __version__, **totals,
            "verdicts": {"policy": ev.policy, "include": ev.included, "exclude": ev.excluded, "review": ev.review,
                         "warnings": ev.warnings}}
